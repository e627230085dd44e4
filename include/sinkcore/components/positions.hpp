#pragma once
/// @file positions.hpp
/// How position enters the model (slot `positions`).
///  - learned:      GPT-2's absolute embedding, x_t = wte[token_t] + wpe[t] (Radford et al. 2019).
///  - rotary<Base>: RoPE on q and k (Su et al. 2021), half-split pairing, theta_i = Base^(-2i/d_head);
///                  no absolute embedding, so no `wpe` tensor exists.
///  - none:         NoPE: the causal mask is the only source of position (Kazemnejad et al. 2023).
#include <string_view>

#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::positions {

struct learned {
  using slot = slots::positions;
  static constexpr std::string_view name = "learned";
  static constexpr bool absolute = true;
  static constexpr bool rotary_qk = false;
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) add(param_spec{role::wpe, -1, S::context, S::d_model, true, false, init_kind::normal});
  }
};

template <int Base = 10000>
struct rotary {
  static_assert(Base > 1, "positions::rotary: Base must be > 1");
  using slot = slots::positions;
  static constexpr std::string_view name = "rotary";
  static constexpr bool absolute = false;
  static constexpr bool rotary_qk = true;
  static constexpr float base = float(Base);
  template <class S>
  static constexpr void declare(auto&&, int) {
    static_assert(S::d_head % 2 == 0,
                  "positions::rotary needs an even head size (d_model / heads): RoPE rotates coordinate pairs");
  }
};

struct none {
  using slot = slots::positions;
  static constexpr std::string_view name = "nope";
  static constexpr bool absolute = false;
  static constexpr bool rotary_qk = false;
  template <class S>
  static constexpr void declare(auto&&, int) {}
};

}  // namespace sinkcore::positions
