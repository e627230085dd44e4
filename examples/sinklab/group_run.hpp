#pragma once
// in_group<Work, G>::run (works.hpp): Work::run<A> for the architecture of group G with the given name. The
// generated translation units arch_group_<G>_<part>.cpp include this and the works' bodies and instantiate
// in_group for their group, so each architecture's work is compiled exactly once.
#include <string_view>

#include <sinkcore/zoo.hpp>

#include "works.hpp"

namespace sinklab {

template <class Work, std::size_t G>
bool in_group<Work, G>::run(std::string_view arch, typename Work::args& a) {
  bool found = false;
  sinkcore::hana::for_each(sinkcore::hana::at_c<G>(sinkcore::architecture_groups), [&](auto t) {
    using A = typename decltype(t)::type;
    if (!found && A::name() == arch) {
      found = true;
      Work::template run<A>(a);
    }
  });
  return found;
}

}  // namespace sinklab
