#pragma once
/// @file zoo.hpp
/// The architectures sinkcore knows by name: a Boost.Hana tuple of types. Experiments iterate it with
/// hana::for_each, the CLI builds its name -> type registry from it, tests run one body over it.
#include <string>
#include <string_view>
#include <tuple>

#include <boost/hana.hpp>

#include "architecture.hpp"
#include "error.hpp"

namespace sinkcore {

namespace hana = boost::hana;

/// The tiny default with each of the paper's components removed or replaced, one at a time, and all
/// three at once (Ran-Milo et al. 2026 claim each is individually dispensable).
using tiny_no_qbias = with<gpt2_tiny, query::unbiased>;
using tiny_rotary = with<gpt2_tiny, positions::rotary<>>;
using tiny_nope = with<gpt2_tiny, positions::none>;
using tiny_no_first_mlp = with<gpt2_tiny, first_mlp::absent>;
using tiny_frozen_keys = with<gpt2_tiny, keys::frozen_random>;
using tiny_normalized_keys = with<gpt2_tiny, keys::normalized>;
using tiny_low_rank_keys = with<gpt2_tiny, keys::low_rank<8>>;
using tiny_no_kbias = with<gpt2_tiny, keys::unbiased>;
using tiny_none_of_three = architecture<tiny_shape, query::unbiased, positions::rotary<>, keys::frozen_random>;

/// Sink mitigations (docs/mitigations.md): each alone on the tiny default, and combined with the paper's
/// ablations where the combination asks a question of its own (does the slot take over the sink's job once
/// b_Q is gone? does "+1" attention still need position 0 with rotary positions?).
using tiny_softmax1 = with<gpt2_tiny, attention::softmax_plus_one>;
using tiny_sigmoid = with<gpt2_tiny, attention::sigmoid<>>;
using tiny_sigmoid_fixed = with<gpt2_tiny, attention::sigmoid<false>>;
using tiny_sink_token = with<gpt2_tiny, extra_slot::sink_token>;
using tiny_kv_bias = with<gpt2_tiny, extra_slot::key_value_bias>;
using tiny_no_qbias_sink_token = with<tiny_no_qbias, extra_slot::sink_token>;
using tiny_no_qbias_kv_bias = with<tiny_no_qbias, extra_slot::key_value_bias>;
using tiny_rotary_softmax1 = with<tiny_rotary, attention::softmax_plus_one>;
using tiny_softmax1_kv_bias = architecture<tiny_shape, attention::softmax_plus_one, extra_slot::key_value_bias>;

/// A list of architectures, usable both as a Hana tuple of types and as a Catch2 type list.
template <class... As>
struct arch_list {
  static constexpr auto types = hana::tuple_t<As...>;
  using tuple = std::tuple<As...>;
};

using tiny_zoo = arch_list<gpt2_tiny, tiny_no_qbias, tiny_rotary, tiny_nope, tiny_no_first_mlp, tiny_frozen_keys,
                           tiny_normalized_keys, tiny_low_rank_keys, tiny_no_kbias, tiny_none_of_three>;
using gpt2_family = arch_list<gpt2_small, gpt2_medium, gpt2_large, gpt2_xl, distilgpt2>;
/// The mitigation study's zoo (`sinklab mitigations`): the baseline first.
using mitigation_zoo = arch_list<gpt2_tiny, tiny_softmax1, tiny_sigmoid, tiny_sigmoid_fixed, tiny_sink_token, tiny_kv_bias,
                                 tiny_no_qbias, tiny_no_qbias_sink_token, tiny_no_qbias_kv_bias, tiny_rotary,
                                 tiny_rotary_softmax1, tiny_softmax1_kv_bias>;
/// The mitigation zoo's architectures that are not in the tiny zoo.
using mitigation_variants = arch_list<tiny_softmax1, tiny_sigmoid, tiny_sigmoid_fixed, tiny_sink_token, tiny_kv_bias,
                                      tiny_no_qbias_sink_token, tiny_no_qbias_kv_bias, tiny_rotary_softmax1,
                                      tiny_softmax1_kv_bias>;

/// Every named architecture: the tiny zoo, the mitigations, then the GPT-2 family.
inline constexpr auto all_architectures =
    hana::concat(hana::concat(tiny_zoo::types, mitigation_variants::types), gpt2_family::types);

/// Call f(hana::type_c<A>) for the architecture named `name` (A::name()); throws sinkcore::error
/// listing the known names otherwise.
template <class F>
decltype(auto) with_architecture(std::string_view name, F&& f) {
  bool found = false;
  hana::for_each(all_architectures, [&](auto t) {
    using A = typename decltype(t)::type;
    if (!found && A::name() == name) {
      found = true;
      f(t);
    }
  });
  if (!found) {
    std::string known;
    hana::for_each(all_architectures, [&](auto t) { known += (known.empty() ? "" : ", ") + decltype(t)::type::name(); });
    throw error("unknown architecture '" + std::string(name) + "'; known: " + known);
  }
}

}  // namespace sinkcore
