#pragma once
/// @file activation_spec.hpp
/// What the model skeleton and each component declare about the activations a forward pass keeps (and the
/// scratch a backward pass needs): a named slab per (kind, layer), sized from the batch at run time. The
/// workspace (workspace.hpp) is carved from these declarations, as the parameter buffer is from
/// param_spec (params.hpp), so a removed component costs no activation memory either.
///
///   // keys::normalized keeps its pre-normalisation keys and the per-head statistics:
///   template <class S> static constexpr void activations(auto&& add, int layer) {
///     if (layer < 0) return;
///     add(activation_spec{act::key_pre_norm, layer, extent::tokens, S::d_model});
///     add(activation_spec{act::key_norm_stats, layer, extent::tokens, 2 * S::heads});
///   }
///
/// Sizes, for a batch of B sequences of T tokens (n = B T rows) and H heads:
/// | extent        | floats          | e.g.                                   |
/// |---------------|-----------------|----------------------------------------|
/// | tokens        | n x width       | q, k, ln_1 output, MLP activations     |
/// | head_rows     | B H T x width   | an extra slot's weight per query        |
/// | head_squares  | B H T T         | attention patterns                      |
/// | head_seqs     | B H x width     | per (sequence, head) gradient partials  |
/// | once          | width           | an extra slot's key and value           |
/// `layer` -1 is model-wide (embeddings, ln_f, logits) or, for backward scratch, one slab every layer
/// reuses. `alias` makes a slab another slab's memory (the residual stream entering block l + 1 is the
/// one leaving block l; a block without an MLP leaves with its resid_mid).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sinkcore {

/// Every kind of activation slab. Hook points (hooks.hpp) name some of them.
enum class act : std::uint8_t {
  // the model skeleton (model/forward.hpp), forward
  embed, pos_embed, resid_pre, ln1, ln1_mean, ln1_rstd, q, k, v, pattern, z, attn_out, resid_mid,
  ln2, ln2_mean, ln2_rstd, mlp_pre, mlp_post, mlp_out, resid_post, ln_f, ln_f_mean, ln_f_rstd, logits,
  // components, forward
  key_scratch,                                    ///< a key component's per-row scratch (keys.hpp)
  slot_pattern, slot_k, slot_v,                   ///< an extra slot (extra_slot.hpp)
  slot_ln, slot_ln_stats, slot_key_scratch,       ///< a sink token's ln_1 output, its mean/rstd, key scratch
  // backward scratch (shared by every layer)
  d_logits, d_resid, d_ln, d_q, d_k, d_v, d_z, d_mlp,
  d_slot, d_slot_k, d_slot_v, d_attn_bias,
  count
};

/// How a slab's size follows the batch (table above).
enum class extent : std::uint8_t { tokens, head_rows, head_squares, head_seqs, once };

/// When a slab is needed: kept by the forward pass (hooks and backward read it) or backward scratch only
/// (allocated on the first backward pass).
enum class phase : std::uint8_t { forward, backward };

struct activation_spec {
  act what{};
  int layer = -1;
  extent per = extent::tokens;
  std::size_t width = 0;               ///< floats per unit of `per` (ignored for head_squares)
  phase when = phase::forward;
  act alias = act::count;              ///< act::count: own memory; else the memory of (alias, alias_layer)
  int alias_layer = -1;

  /// Floats for a batch of B sequences of T tokens and H heads.
  constexpr std::size_t floats(std::size_t B, std::size_t T, std::size_t H) const {
    switch (per) {
      case extent::tokens: return B * T * width;
      case extent::head_rows: return B * H * T * width;
      case extent::head_squares: return B * H * T * T;
      case extent::head_seqs: return B * H * width;
      case extent::once: return width;
    }
    return 0;
  }
};

/// Shorthands: a per-token slab, and backward scratch.
constexpr activation_spec per_token(act a, int layer, std::size_t width) { return {a, layer, extent::tokens, width}; }
constexpr activation_spec backward_scratch(act a, extent per, std::size_t width) {
  return {a, -1, per, width, phase::backward};
}

}  // namespace sinkcore
