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
/// Every architecture is normalised to `arch<Shape, C...>` with one component per slot in `slot_list`
/// order, so the same model spelled two ways is the same C++ type. `slot_list` is the one place the slots
/// are listed: `with`, `name()`, the static checks below and the `architecture_type` concept fold over it,
/// and so does io::hf_gpt2_compatible. Adding a slot is its header (tag, default, concept; slots.hpp),
/// one entry here, and the steps the forward and backward passes call (model/forward.hpp, backward.hpp).
#include <string>
#include <type_traits>

#include <boost/hana.hpp>

#include "components/attention.hpp"
#include "components/extra_slot.hpp"
#include "components/first_mlp.hpp"
#include "components/keys.hpp"
#include "components/mlp.hpp"
#include "components/positions.hpp"
#include "components/query.hpp"
#include "components/slots.hpp"
#include "model/activation_spec.hpp"
#include "model/param_spec.hpp"
#include "shape.hpp"

namespace sinkcore {

namespace hana = boost::hana;

/// The slots of a block, in the order of arch's parameters.
inline constexpr auto slot_list = hana::tuple_t<slots::positions, slots::query, slots::keys, slots::first_mlp,
                                                 slots::attention, slots::extra_slot>;

namespace detail {
/// The component of `Slot` among Cs (its default if none).
template <class Slot, class... Cs>
struct pick {
  using type = typename Slot::default_component;
};
template <class Slot, class C, class... Cs>
struct pick<Slot, C, Cs...> {
  using type = std::conditional_t<std::is_same_v<typename C::slot, Slot>, C, typename pick<Slot, Cs...>::type>;
};
template <class Slot, class... Cs>
constexpr int count_slot = (0 + ... + int(std::is_same_v<typename Cs::slot, Slot>));

/// arch<Shape, (the component of each slot in slot_list)...>.
template <template <class...> class Arch, class Shape, class... Cs>
struct normalise {
  static constexpr auto compute() {
    return hana::unpack(slot_list, [](auto... s) {
      return hana::type_c<Arch<Shape, typename pick<typename decltype(s)::type, Cs...>::type...>>;
    });
  }
  using type = typename decltype(compute())::type;
};
template <template <class...> class Arch, class Shape, class... Cs>
using normalised = typename normalise<Arch, Shape, Cs...>::type;
}  // namespace detail

template <class Shape, class... Components>
struct arch {
  static_assert(sizeof...(Components) == hana::length(slot_list), "sinkcore::arch: one component per slot");
  using shape = Shape;
  /// The component filling Slot.
  template <class Slot>
  using in_slot = typename detail::pick<Slot, Components...>::type;
  // Named access to the slots (conveniences; everything generic folds over slot_list).
  using positions = in_slot<slots::positions>;
  using query = in_slot<slots::query>;
  using keys = in_slot<slots::keys>;
  using first_mlp = in_slot<slots::first_mlp>;
  using attention = in_slot<slots::attention>;
  using extra_slot = in_slot<slots::extra_slot>;
  using mlp = sinkcore::mlp::gpt2;  ///< the MLP of every block that has one

  static constexpr std::size_t layers = Shape::layers, d_model = Shape::d_model, heads = Shape::heads,
                               d_head = Shape::d_head, d_mlp = Shape::d_mlp, context = Shape::context,
                               vocab = Shape::vocab;

  /// Does block `l` have an MLP?
  static constexpr bool has_mlp(std::size_t l) { return l > 0 || first_mlp::has_mlp0; }

  /// The same components on another shape (e.g. a micro shape for tests).
  template <class OtherShape>
  using with_shape = arch<OtherShape, Components...>;

  /// Replace the component of C's slot.
  template <component C>
  using with = detail::normalised<sinkcore::arch, Shape, C, Components...>;

  /// Visit every parameter tensor in buffer order: model-wide tensors, then block 0, 1, ...
  /// (the order of Hugging Face GPT-2's state dict).
  static constexpr void declare(auto&& add) {
    constexpr std::size_t d = d_model;
    add(param_spec{role::wte, -1, vocab, d, true, false, init_kind::normal});
    positions::template declare<Shape>(add, -1);
    for (int l = 0; l < int(layers); ++l) {
      add(gain(role::ln_1_weight, l, d));
      add(bias(role::ln_1_bias, l, d));
      query::template declare<Shape>(add, l);
      keys::template declare<Shape>(add, l);
      add(matrix(role::v_weight, l, d, d));
      add(bias(role::v_bias, l, d));
      add(matrix(role::attn_proj_weight, l, d, d, init_kind::normal_residual));
      add(bias(role::attn_proj_bias, l, d));
      attention::template declare<Shape>(add, l);
      extra_slot::template declare<Shape>(add, l);
      if (has_mlp(std::size_t(l))) mlp::template declare<Shape>(add, l);
    }
    add(gain(role::ln_f_weight, -1, d));
    add(bias(role::ln_f_bias, -1, d));
  }

  /// Visit every activation slab of a forward pass and the backward pass's scratch: the model's own
  /// (embedding, per block ln_1 .. resid_mid, ln_f, logits) and what each component declares
  /// (model/activation_spec.hpp). The residual stream entering block l + 1 is the one leaving block l.
  static constexpr void declare_activations(auto&& add) {
    constexpr std::size_t d = d_model;
    add(per_token(act::embed, -1, d));
    add(per_token(act::resid_pre, 0, d));
    for (int l = -1; l < int(layers); ++l) {
      if (l >= 0) {
        if (l > 0) add(activation_spec{act::resid_pre, l, extent::tokens, d, phase::forward, act::resid_post, l - 1});
        add(per_token(act::ln1, l, d));
        add(per_token(act::ln1_mean, l, 1));
        add(per_token(act::ln1_rstd, l, 1));
        add(per_token(act::q, l, d));
        add(per_token(act::k, l, d));
        add(per_token(act::v, l, d));
        add(activation_spec{act::pattern, l, extent::head_squares, 0});
        add(per_token(act::z, l, d));
        add(per_token(act::attn_out, l, d));
        add(per_token(act::resid_mid, l, d));
      }
      // components: per block (l >= 0) and model-wide / backward scratch (l = -1)
      hana::for_each(slot_list, [&](auto s) {
        using C = in_slot<typename decltype(s)::type>;
        C::template activations<arch>(add, l);
      });
      if (l >= 0) {
        if (has_mlp(std::size_t(l))) mlp::template activations<arch>(add, l);
        else add(activation_spec{act::resid_post, l, extent::tokens, d, phase::forward, act::resid_mid, l});
      }
    }
    add(per_token(act::ln_f, -1, d));
    add(per_token(act::ln_f_mean, -1, 1));
    add(per_token(act::ln_f_rstd, -1, 1));
    add(per_token(act::logits, -1, vocab));
    // backward scratch, shared by every block
    add(backward_scratch(act::d_logits, extent::tokens, vocab));
    for (act a : {act::d_resid, act::d_ln, act::d_q, act::d_k, act::d_v, act::d_z}) add(backward_scratch(a, extent::tokens, d));
    if (has_mlp(0) || layers > 1) mlp::template backward_scratch<arch>(add);
  }

  /// e.g. "tiny", "tiny.no-qbias", "gpt2-small.rotary.frozen-keys": the shape's name, then the name of
  /// every component that differs from its slot's default, in slot order.
  static std::string name() {
    std::string s(Shape::name);
    hana::for_each(slot_list, [&](auto slot) {
      using Slot = typename decltype(slot)::type;
      using C = in_slot<Slot>;
      if constexpr (!std::is_same_v<C, typename Slot::default_component>) (s += '.') += C::name;
    });
    return s;
  }
};

namespace detail {
template <class Shape, class... Cs>
struct make_arch {
  static_assert((component<Cs> && ...),
                "sinkcore::architecture: every argument after the shape must be a component "
                "(a type with `using slot`, a `name` and `hf_gpt2_layout`, e.g. query::unbiased)");
  static_assert(hana::all_of(slot_list, [](auto s) { return hana::bool_c<(count_slot<typename decltype(s)::type, Cs...> <= 1)>; }),
                "sinkcore::architecture: two components fill the same slot (e.g. two key "
                "parametrisations); use with<Arch, C> to replace one");
  static_assert(((hana::count_if(slot_list, [](auto s) {
                   return hana::bool_c<std::is_same_v<typename Cs::slot, typename decltype(s)::type>>;
                 }) == hana::size_c<1>) && ...),
                "sinkcore::architecture: a component names a slot this architecture does not have");
  static_assert(hana::all_of(slot_list, [](auto s) {
                  using Slot = typename decltype(s)::type;
                  return hana::bool_c<Slot::template accepts<typename pick<Slot, Cs...>::type>>;
                }),
                "sinkcore::architecture: a component does not satisfy its slot's concept (see the slot's header)");
  using type = normalised<arch, Shape, Cs...>;
};
}  // namespace detail

/// An architecture: Shape plus components; unfilled slots take GPT-2's (learned positions, biased
/// query, standard keys, first MLP present, softmax attention, no extra slot).
template <class Shape, class... Components>
using architecture = typename detail::make_arch<Shape, Components...>::type;

/// Arch with the component of C's kind replaced by C.
template <class Arch, class C>
using with = typename Arch::template with<C>;

namespace detail {
template <class A>
constexpr bool components_accepted() {
  return hana::all_of(slot_list, [](auto s) {
    using Slot = typename decltype(s)::type;
    return hana::bool_c<Slot::template accepts<typename A::template in_slot<Slot>>>;
  });
}
}  // namespace detail

/// Any instantiation of arch<...>: a shape and, for every slot, a component its slot accepts.
template <class A>
concept architecture_type = requires {
  typename A::shape;
  { A::name() } -> std::convertible_to<std::string>;
} && detail::components_accepted<A>();

// GPT-2 family and the tiny default.
using gpt2_small = architecture<gpt2_small_shape>;
using gpt2_medium = architecture<gpt2_medium_shape>;
using gpt2_large = architecture<gpt2_large_shape>;
using gpt2_xl = architecture<gpt2_xl_shape>;
using distilgpt2 = architecture<distilgpt2_shape>;
using gpt2_tiny = architecture<tiny_shape>;
using gpt2_no_qbias = with<gpt2_small, query::unbiased>;

}  // namespace sinkcore
