#pragma once
/// @file first_mlp.hpp
/// Whether block 0 has an MLP (slot `first_mlp`). The paper's effective positional embedding,
/// EPE = p + MLP0(p), exists only when it does (Ran-Milo et al. 2026, Sec. 4). The MLP itself, in every
/// block that has one, is mlp.hpp's.
///
/// ## The contract of a first_mlp component (concept `first_mlp_component`)
///   `has_mlp0`   whether block 0 has an MLP; the architecture's has_mlp(l) is `l > 0 || has_mlp0`, and a
///                block without one declares no MLP parameters or activations and leaves with its resid_mid.
/// Worked example: `absent` removes h.0.ln_2.*, h.0.mlp.* (4 d^2 + ... parameters) and the MLP slabs of
/// block 0; interventions that need EPE say they do not apply.
#include <concepts>
#include <string_view>

#include "slots.hpp"

namespace sinkcore::first_mlp {

struct present {
  using slot = slots::first_mlp;
  static constexpr std::string_view name = "first-mlp";
  static constexpr bool has_mlp0 = true;
  static constexpr bool hf_gpt2_layout = true;
  template <class A> static constexpr void activations(auto&&, int) {}  // the MLP's own: mlp.hpp
};
struct absent {
  using slot = slots::first_mlp;
  static constexpr std::string_view name = "no-first-mlp";
  static constexpr bool has_mlp0 = false;
  static constexpr bool hf_gpt2_layout = false;
  template <class A> static constexpr void activations(auto&&, int) {}
};

template <class C>
concept first_mlp_component = requires {
  { C::has_mlp0 } -> std::convertible_to<bool>;
};

}  // namespace sinkcore::first_mlp

namespace sinkcore::slots {
struct first_mlp {
  static constexpr std::string_view name = "first_mlp";
  using default_component = sinkcore::first_mlp::present;
  template <class C>
  static constexpr bool accepts = sinkcore::first_mlp::first_mlp_component<C>;
};
}  // namespace sinkcore::slots
