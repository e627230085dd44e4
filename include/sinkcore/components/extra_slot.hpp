#pragma once
/// @file extra_slot.hpp
/// An extra key/value slot that every query of a block can attend to besides the real tokens (slot
/// `extra_slot`): a place for attention to go that is not position 0. Per block l and head h the slot has
/// one key k_s and one value v_s; its logit for query i is c_i = q_i . k_s / sqrt(d_head) (q_i after
/// RoPE; k_s is not rotated, i.e. the slot sits at position 0 for rotary models), and it adds a_i v_s to
/// z_i, a_i its weight under the block's normalisation (attention.hpp).
///  - none (GPT-2).
///  - sink_token: a learnable sink token (Xiao et al., ICLR 2024, "Efficient streaming language models with
///    attention sinks", StreamingLLM, Sec. 3.3): a learnable residual-stream vector s_l per block, seen
///    through the block's own ln_1, key component and value projection like every token:
///    k_s = keys(ln_1(s_l)), v_s = ln_1(s_l) W_V + b_V. (StreamingLLM prepends one embedding and lets it
///    flow through the network; here each block has its own s_l, the hidden state of a token that attends
///    only to itself, so no extra position exists and the real positions keep their embeddings.)
///  - key_value_bias: learnable key and value vectors k* and v* per block, directly in key/value space
///    (Gu et al., ICLR 2025, "When attention sink emerges in language models", Sec. 7: softmax attention
///    with learnable k*, v* biases), initialised to 0 (so at initialisation the slot is a "+1" with a zero
///    value).
/// The slot's weights are kept per (layer, sequence, head, query) in the workspace
/// (`blocks.{l}.attn.hook_slot_pattern`, [B, H, T]); hook_pattern keeps the real positions only.
#include <cstddef>
#include <string_view>

#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::extra_slot {

struct none {
  using slot = slots::extra_slot;
  static constexpr std::string_view name = "no-slot";
  static constexpr bool has_slot = false;
  static constexpr bool projected = false;
  template <class S>
  static constexpr void declare(auto&&, int) {}
};

struct sink_token {
  using slot = slots::extra_slot;
  static constexpr std::string_view name = "sink-token";
  static constexpr bool has_slot = true;
  static constexpr bool projected = true;  ///< k_s, v_s come through ln_1, the key component and W_V
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer >= 0) add(param_spec{role::sink_token, layer, S::d_model, 0, true, false, init_kind::normal});
  }
};

struct key_value_bias {
  using slot = slots::extra_slot;
  static constexpr std::string_view name = "kv-bias";
  static constexpr bool has_slot = true;
  static constexpr bool projected = false;  ///< k_s = k*, v_s = v*: parameters themselves
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) return;
    add(bias(role::slot_k_bias, layer, S::d_model));
    add(bias(role::slot_v_bias, layer, S::d_model));
  }
};

}  // namespace sinkcore::extra_slot
