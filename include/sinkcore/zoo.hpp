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
using tiny_alibi = with<gpt2_tiny, positions::alibi>;
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

/// The dispensability study's variants on a shape: the baseline, each of the paper's components removed or
/// replaced, all three at once, and ALiBi positions (the study's --zoo picks the shape).
template <class Shape>
using zoo_on_shape =
    arch_list<architecture<Shape>, architecture<Shape, query::unbiased>, architecture<Shape, positions::rotary<>>,
              architecture<Shape, positions::none>, architecture<Shape, first_mlp::absent>,
              architecture<Shape, keys::frozen_random>, architecture<Shape, keys::normalized>,
              architecture<Shape, keys::low_rank<8>>, architecture<Shape, keys::unbiased>,
              architecture<Shape, query::unbiased, positions::rotary<>, keys::frozen_random>,
              architecture<Shape, positions::alibi>>;

using tiny_zoo = zoo_on_shape<tiny_shape>;
static_assert(std::is_same_v<tiny_zoo::tuple,
                             std::tuple<gpt2_tiny, tiny_no_qbias, tiny_rotary, tiny_nope, tiny_no_first_mlp, tiny_frozen_keys,
                                        tiny_normalized_keys, tiny_low_rank_keys, tiny_no_kbias, tiny_none_of_three, tiny_alibi>>,
              "the tiny zoo is zoo_on_shape<tiny_shape>, and its aliases name its members");
using gpt2_family = arch_list<gpt2_small, gpt2_medium, gpt2_large, gpt2_xl, distilgpt2>;
/// The mitigation study's zoo (`sinklab mitigations`): the baseline first.
using mitigation_zoo = arch_list<gpt2_tiny, tiny_softmax1, tiny_sigmoid, tiny_sigmoid_fixed, tiny_sink_token, tiny_kv_bias,
                                 tiny_no_qbias, tiny_no_qbias_sink_token, tiny_no_qbias_kv_bias, tiny_rotary,
                                 tiny_rotary_softmax1, tiny_softmax1_kv_bias>;
/// The mitigation zoo's architectures that are not in the tiny zoo.
using mitigation_variants = arch_list<tiny_softmax1, tiny_sigmoid, tiny_sigmoid_fixed, tiny_sink_token, tiny_kv_bias,
                                      tiny_no_qbias_sink_token, tiny_no_qbias_kv_bias, tiny_rotary_softmax1,
                                      tiny_softmax1_kv_bias>;

/// 4 layers, d_model 128, 16 heads of 8, context 128, bytes: more, narrower heads (more chances for a head
/// with nothing to do, the situation in which sinks are thought to form). `--zoo tiny-h16`.
struct tiny_h16_shape : shape<4, 128, 16, 128, 256> {
  static constexpr std::string_view name = "tiny-h16";
};
using tiny_h16 = architecture<tiny_h16_shape>;
using tiny_h16_zoo = zoo_on_shape<tiny_h16_shape>;

/// 4 layers, d_model 128, 4 heads of 32, context 512, bytes: the tiny model at the context length where
/// language models are known to grow sinks (Gu et al. 2025: not below 256; Barbero et al. 2025: rising with
/// the context from 128). `--zoo tiny-512`.
struct tiny_512_shape : shape<4, 128, 4, 512, 256> {
  static constexpr std::string_view name = "tiny-512";
};
using tiny_512 = architecture<tiny_512_shape>;
using tiny_512_zoo = zoo_on_shape<tiny_512_shape>;

/// The mitigation study's variants on a shape (the tiny mitigation zoo's, in its order).
template <class Shape>
using mitigation_zoo_on_shape =
    arch_list<architecture<Shape>, architecture<Shape, attention::softmax_plus_one>, architecture<Shape, attention::sigmoid<>>,
              architecture<Shape, attention::sigmoid<false>>, architecture<Shape, extra_slot::sink_token>,
              architecture<Shape, extra_slot::key_value_bias>, architecture<Shape, query::unbiased>,
              architecture<Shape, query::unbiased, extra_slot::sink_token>,
              architecture<Shape, query::unbiased, extra_slot::key_value_bias>, architecture<Shape, positions::rotary<>>,
              architecture<Shape, positions::rotary<>, attention::softmax_plus_one>,
              architecture<Shape, attention::softmax_plus_one, extra_slot::key_value_bias>>;
static_assert(std::is_same_v<mitigation_zoo_on_shape<tiny_shape>::tuple, mitigation_zoo::tuple>);
/// The 512-context mitigation variants that are not in tiny_512_zoo.
using tiny_512_mitigation_variants =
    arch_list<architecture<tiny_512_shape, attention::softmax_plus_one>, architecture<tiny_512_shape, attention::sigmoid<>>,
              architecture<tiny_512_shape, attention::sigmoid<false>>, architecture<tiny_512_shape, extra_slot::sink_token>,
              architecture<tiny_512_shape, extra_slot::key_value_bias>,
              architecture<tiny_512_shape, query::unbiased, extra_slot::sink_token>,
              architecture<tiny_512_shape, query::unbiased, extra_slot::key_value_bias>,
              architecture<tiny_512_shape, positions::rotary<>, attention::softmax_plus_one>,
              architecture<tiny_512_shape, attention::softmax_plus_one, extra_slot::key_value_bias>>;

/// The registry in groups of related architectures (a program may compile its per-architecture work one group
/// per translation unit, as sinklab does): the tiny zoo, the mitigations, the GPT-2 family, the 16-head zoo,
/// the 512-context zoo and its mitigations.
inline constexpr auto architecture_groups =
    hana::make_tuple(tiny_zoo::types, mitigation_variants::types, gpt2_family::types, tiny_h16_zoo::types,
                     tiny_512_zoo::types, tiny_512_mitigation_variants::types);

/// Every named architecture, in group order. Every architecture a sinklab command can train is here, so every
/// command can load what another wrote.
inline constexpr auto all_architectures = hana::flatten(architecture_groups);

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
