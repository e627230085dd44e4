#pragma once
/// @file architecture.hpp
/// An architecture is a type: a shape plus one component per slot. Unfilled slots take GPT-2's
/// component, so `architecture<tiny_shape>` is GPT-2 at tiny size and
/// `architecture<tiny_shape, query::unbiased>` is the same without the query bias.
///
///   using base = architecture<tiny_shape>;
///   using no_qbias = with<base, query::unbiased>;          // same type as architecture<tiny_shape, query::unbiased>
///   static_assert(std::is_same_v<no_qbias, architecture<tiny_shape, query::unbiased>>);
///
/// Every architecture is normalised to `arch<Shape, Positions, Query, Keys, FirstMlp, Attention, ExtraSlot>`
/// (the last two default to softmax and no extra slot, so `arch<S, P, Q, K, F>` names the same type), so
/// the same model spelled two ways is the same C++ type.
#include <string>
#include <type_traits>

#include "components/attention.hpp"
#include "components/extra_slot.hpp"
#include "components/first_mlp.hpp"
#include "components/keys.hpp"
#include "components/positions.hpp"
#include "components/query.hpp"
#include "components/slots.hpp"
#include "model/param_spec.hpp"
#include "shape.hpp"

namespace sinkcore {

template <class Shape, class Positions, class Query, class Keys, class FirstMlp,
          class Attention = sinkcore::attention::softmax, class ExtraSlot = sinkcore::extra_slot::none>
struct arch {
  using shape = Shape;
  using positions = Positions;
  using query = Query;
  using keys = Keys;
  using first_mlp = FirstMlp;
  using attention = Attention;
  using extra_slot = ExtraSlot;

  /// The plain GPT-2 attention (softmax, no extra slot): the forward and backward passes use the causal
  /// softmax kernels directly, exactly as before the mitigations existed.
  static constexpr bool plain_attention =
      std::is_same_v<Attention, sinkcore::attention::softmax> && !ExtraSlot::has_slot;

  static constexpr std::size_t layers = Shape::layers, d_model = Shape::d_model, heads = Shape::heads,
                               d_head = Shape::d_head, d_mlp = Shape::d_mlp, context = Shape::context,
                               vocab = Shape::vocab;

  /// Does block `l` have an MLP?
  static constexpr bool has_mlp(std::size_t l) { return l > 0 || FirstMlp::has_mlp0; }

  /// The same components on another shape (e.g. a micro shape for tests).
  template <class OtherShape>
  using with_shape = arch<OtherShape, Positions, Query, Keys, FirstMlp, Attention, ExtraSlot>;

  /// Replace the component of C's slot.
  template <component C>
  using with = arch<Shape,
                    std::conditional_t<std::is_same_v<typename C::slot, slots::positions>, C, Positions>,
                    std::conditional_t<std::is_same_v<typename C::slot, slots::query>, C, Query>,
                    std::conditional_t<std::is_same_v<typename C::slot, slots::keys>, C, Keys>,
                    std::conditional_t<std::is_same_v<typename C::slot, slots::first_mlp>, C, FirstMlp>,
                    std::conditional_t<std::is_same_v<typename C::slot, slots::attention>, C, Attention>,
                    std::conditional_t<std::is_same_v<typename C::slot, slots::extra_slot>, C, ExtraSlot>>;

  /// Visit every parameter tensor in buffer order: model-wide tensors, then block 0, 1, ...
  /// (the order of Hugging Face GPT-2's state dict).
  static constexpr void declare(auto&& add) {
    constexpr std::size_t d = d_model;
    add(param_spec{role::wte, -1, vocab, d, true, false, init_kind::normal});
    Positions::template declare<Shape>(add, -1);
    for (int l = 0; l < int(layers); ++l) {
      add(gain(role::ln_1_weight, l, d));
      add(bias(role::ln_1_bias, l, d));
      Query::template declare<Shape>(add, l);
      Keys::template declare<Shape>(add, l);
      add(matrix(role::v_weight, l, d, d));
      add(bias(role::v_bias, l, d));
      add(matrix(role::attn_proj_weight, l, d, d, init_kind::normal_residual));
      add(bias(role::attn_proj_bias, l, d));
      Attention::template declare<Shape>(add, l);
      ExtraSlot::template declare<Shape>(add, l);
      if (has_mlp(std::size_t(l))) {
        add(gain(role::ln_2_weight, l, d));
        add(bias(role::ln_2_bias, l, d));
        add(matrix(role::mlp_fc_weight, l, d, d_mlp));
        add(bias(role::mlp_fc_bias, l, d_mlp));
        add(matrix(role::mlp_proj_weight, l, d_mlp, d, init_kind::normal_residual));
        add(bias(role::mlp_proj_bias, l, d));
      }
    }
    add(gain(role::ln_f_weight, -1, d));
    add(bias(role::ln_f_bias, -1, d));
  }

  /// e.g. "tiny", "tiny.no-qbias", "gpt2-small.rotary.frozen-keys": the shape's name, then the name of
  /// every component that differs from GPT-2's.
  static std::string name() {
    std::string s(Shape::name);
    auto add = [&]<class C, class Default>() {
      if constexpr (!std::is_same_v<C, Default>) (s += '.') += C::name;
    };
    add.template operator()<Positions, sinkcore::positions::learned>();
    add.template operator()<Query, sinkcore::query::biased>();
    add.template operator()<Keys, sinkcore::keys::standard>();
    add.template operator()<FirstMlp, sinkcore::first_mlp::present>();
    add.template operator()<Attention, sinkcore::attention::softmax>();
    add.template operator()<ExtraSlot, sinkcore::extra_slot::none>();
    return s;
  }
};

namespace detail {
template <class Slot, class... Cs>
constexpr int count_slot = (0 + ... + int(std::is_same_v<typename Cs::slot, Slot>));

template <class Slot, class Default, class... Cs>
struct pick { using type = Default; };
template <class Slot, class Default, class C, class... Cs>
struct pick<Slot, Default, C, Cs...> {
  using type = std::conditional_t<std::is_same_v<typename C::slot, Slot>, C,
                                  typename pick<Slot, Default, Cs...>::type>;
};

template <class Shape, class... Cs>
struct make_arch {
  static_assert((component<Cs> && ...),
                "sinkcore::architecture: every argument after the shape must be a component "
                "(a type with `using slot` and a `name`, e.g. query::unbiased)");
  static_assert(((count_slot<slots::positions, Cs...> <= 1) && (count_slot<slots::query, Cs...> <= 1) &&
                 (count_slot<slots::keys, Cs...> <= 1) && (count_slot<slots::first_mlp, Cs...> <= 1) &&
                 (count_slot<slots::attention, Cs...> <= 1) && (count_slot<slots::extra_slot, Cs...> <= 1)),
                "sinkcore::architecture: two components fill the same slot (e.g. two key "
                "parametrisations); use with<Arch, C> to replace one");
  static_assert(((count_slot<slots::positions, Cs> + count_slot<slots::query, Cs> + count_slot<slots::keys, Cs> +
                  count_slot<slots::first_mlp, Cs> + count_slot<slots::attention, Cs> +
                  count_slot<slots::extra_slot, Cs> == 1) && ...),
                "sinkcore::architecture: a component names a slot this architecture does not have");
  using type = arch<Shape, typename pick<slots::positions, positions::learned, Cs...>::type,
                    typename pick<slots::query, query::biased, Cs...>::type,
                    typename pick<slots::keys, keys::standard, Cs...>::type,
                    typename pick<slots::first_mlp, first_mlp::present, Cs...>::type,
                    typename pick<slots::attention, attention::softmax, Cs...>::type,
                    typename pick<slots::extra_slot, extra_slot::none, Cs...>::type>;
};
}  // namespace detail

/// An architecture: Shape plus components; unfilled slots take GPT-2's (learned positions, biased
/// query, standard keys, first MLP present, softmax attention, no extra slot).
template <class Shape, class... Components>
using architecture = typename detail::make_arch<Shape, Components...>::type;

/// Arch with the component of C's kind replaced by C.
template <class Arch, class C>
using with = typename Arch::template with<C>;

/// Any instantiation of arch<...>.
template <class A>
concept architecture_type = requires {
  typename A::shape;
  typename A::positions;
  typename A::query;
  typename A::keys;
  typename A::first_mlp;
  typename A::attention;
  typename A::extra_slot;
  { A::name() } -> std::convertible_to<std::string>;
};

// GPT-2 family and the tiny default.
using gpt2_small = architecture<gpt2_small_shape>;
using gpt2_medium = architecture<gpt2_medium_shape>;
using gpt2_large = architecture<gpt2_large_shape>;
using gpt2_xl = architecture<gpt2_xl_shape>;
using distilgpt2 = architecture<distilgpt2_shape>;
using gpt2_tiny = architecture<tiny_shape>;
using gpt2_no_qbias = with<gpt2_small, query::unbiased>;

}  // namespace sinkcore
