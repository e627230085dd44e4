#pragma once
/// @file query.hpp
/// The query projection (slot `query`): q = x W_Q + b_Q (biased, GPT-2) or q = x W_Q (unbiased).
/// The paper's mechanism runs through b_Q: its term b_Q W_K^T x_j^T of the attention score depends on
/// the key position only (the source-agnostic shift, Ran-Milo et al. 2026, Sec. 3).
#include <string_view>

#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::query {

template <bool Bias>
struct projection {
  using slot = slots::query;
  static constexpr std::string_view name = Bias ? "qbias" : "no-qbias";
  static constexpr bool has_bias = Bias;
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) return;
    add(matrix(role::q_weight, layer, S::d_model, S::d_model));
    if constexpr (Bias) add(bias(role::q_bias, layer, S::d_model));
  }
};

using biased = projection<true>;
using unbiased = projection<false>;

}  // namespace sinkcore::query
