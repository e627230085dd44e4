#pragma once
// in_group<Work, G, K>::run (works.hpp): Work::run<A> for the architecture of slice K of group G with the given
// name. The generated translation units arch_group_<G>_<K>_<part>.cpp include this and the works' bodies and
// instantiate in_group for their slice, so each architecture's work is compiled exactly once.
#include <string_view>

#include <sinkcore/zoo.hpp>

#include "works.hpp"

namespace sinklab {

template <class Work, std::size_t G, std::size_t K>
bool in_group<Work, G, K>::run(std::string_view arch, typename Work::args& a) {
  constexpr std::size_t n = decltype(sinkcore::hana::length(sinkcore::hana::at_c<G>(sinkcore::architecture_groups)))::value;
  bool found = false;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    auto one = [&]<std::size_t i>(std::integral_constant<std::size_t, i>) {
      if constexpr (i % group_slices == K) {
        using A = typename decltype(+sinkcore::hana::at_c<i>(sinkcore::hana::at_c<G>(sinkcore::architecture_groups)))::type;
        if (!found && A::name() == arch) {
          found = true;
          Work::template run<A>(a);
        }
      }
    };
    (one(std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<n>{});
  return found;
}

}  // namespace sinklab
