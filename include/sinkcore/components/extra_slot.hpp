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
///
/// ## The contract of an extra_slot component (concept `extra_slot_component`)
///   `has_slot`                   whether there is a slot at all (`none`: every step below is a no-op)
///   forward_kv(b)                the block's k_s, v_s (act::slot_k, act::slot_v), once per forward pass
///   logits(b, s, h)              c_i = scale q_i . k_s for the queries of (sequence s, head h), written where
///                                the weights will go (act::slot_pattern); returns that row (null: no slot)
///   mix(b, s, h)                 z_i += a_i v_s
///   weights(b, bh)               the slot's weights a_i of (sequence, head) bh (null: no slot)
///   backward_mix(b, s, h)        da_i = dz_i . v_s and this head's share of d v_s; returns da (null: no slot)
///   backward_logits(b, s, h)     d q_i += scale da_i k_s and this head's share of d k_s
///   backward_kv(b)               the partial d k_s, d v_s summed over sequences, back into the parameters
/// Worked example: key_value_bias makes k_s, v_s the parameters k*, v* themselves (forward_kv copies them;
/// backward_kv adds the summed partials to their gradients); sink_token computes them from its vector
/// through the block's ln_1, its key component (keys.hpp project, on one row) and W_V.
#include <algorithm>
#include <cstddef>
#include <string_view>
#include <vector>

#include "../kernels/layernorm.hpp"
#include "../model/activation_spec.hpp"
#include "../model/linear.hpp"
#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::extra_slot {

struct none {
  using slot = slots::extra_slot;
  static constexpr std::string_view name = "no-slot";
  static constexpr bool has_slot = false;
  static constexpr bool projected = false;
  static constexpr bool hf_gpt2_layout = true;
  template <class S> static constexpr void declare(auto&&, int) {}
  template <class A> static constexpr void activations(auto&&, int) {}
  template <class V> static void forward_kv(const V&) {}
  template <class V> static float* logits(const V&, std::size_t, std::size_t) { return nullptr; }
  template <class V> static const float* weights(const V&, std::size_t) { return nullptr; }
  template <class V> static void mix(const V&, std::size_t, std::size_t) {}
  template <class V> static float* backward_mix(const V&, std::size_t, std::size_t) { return nullptr; }
  template <class V> static void backward_logits(const V&, std::size_t, std::size_t) {}
  template <class V> static void backward_kv(const V&) {}
};

/// What both slots share: the slot's logits, its share of z, and the backward of those.
template <class Derived>
struct slot_common {
  using slot = slots::extra_slot;
  static constexpr bool has_slot = true;
  static constexpr bool hf_gpt2_layout = false;

  /// The weights per query, k_s and v_s; backward scratch d a, and per (sequence, head) d k_s, d v_s.
  template <class A>
  static constexpr void activations(auto&& add, int layer) {
    if (layer < 0) {
      add(backward_scratch(act::d_slot, extent::head_rows, 1));
      add(backward_scratch(act::d_slot_k, extent::head_seqs, A::d_head));
      add(backward_scratch(act::d_slot_v, extent::head_seqs, A::d_head));
      return;
    }
    add(activation_spec{act::slot_pattern, layer, extent::head_rows, 1});
    add(activation_spec{act::slot_k, layer, extent::once, A::d_model});
    add(activation_spec{act::slot_v, layer, extent::once, A::d_model});
    Derived::template more_activations<A>(add, layer);
  }

  template <class V>
  static float* logits(const V& b, std::size_t s, std::size_t h) {
    constexpr std::size_t d = V::d, dh = V::dh;
    const std::size_t T = b.T, off = s * T * d + h * dh;
    const float* q = b.act(act::q);
    const float* ks = b.act(act::slot_k);
    float* slot = b.act(act::slot_pattern) + (s * V::H + h) * T;
    for (std::size_t i = 0; i < T; ++i) {
      float c = 0;
      for (std::size_t e = 0; e < dh; ++e) c += q[off + i * d + e] * ks[h * dh + e];
      slot[i] = b.scale * c;
    }
    return slot;
  }
  /// The slot's weights for the queries of (sequence, head) bh = s * heads + h.
  template <class V>
  static const float* weights(const V& b, std::size_t bh) { return b.act(act::slot_pattern) + bh * b.T; }
  template <class V>
  static void mix(const V& b, std::size_t s, std::size_t h) {
    constexpr std::size_t d = V::d, dh = V::dh;
    const std::size_t T = b.T, off = s * T * d + h * dh;
    const float* slot = b.act(act::slot_pattern) + (s * V::H + h) * T;
    const float* vs = b.act(act::slot_v);
    float* z = b.act(act::z);
    for (std::size_t i = 0; i < T; ++i)
      for (std::size_t e = 0; e < dh; ++e) z[off + i * d + e] += slot[i] * vs[h * dh + e];
  }
  /// z_i += a_i v_s: da_i = dz_i . v_s, d v_s += a_i dz_i.
  template <class V>
  static float* backward_mix(const V& b, std::size_t s, std::size_t h) {
    constexpr std::size_t d = V::d, dh = V::dh;
    const std::size_t T = b.T, off = s * T * d + h * dh, bh = s * V::H + h;
    const float* sw = b.act(act::slot_pattern) + bh * T;
    const float* vs = b.act(act::slot_v);
    const float* dz = b.act(act::d_z);
    float* da = b.act(act::d_slot) + bh * T;
    float* gv = b.act(act::d_slot_v) + bh * dh;
    std::fill(gv, gv + dh, 0.f);
    for (std::size_t i = 0; i < T; ++i) {
      float g = 0;
      for (std::size_t e = 0; e < dh; ++e) {
        g += dz[off + i * d + e] * vs[h * dh + e];
        gv[e] += sw[i] * dz[off + i * d + e];
      }
      da[i] = g;
    }
    return da;
  }
  /// c_i = scale q_i . k_s (da now holds d loss / d c_i).
  template <class V>
  static void backward_logits(const V& b, std::size_t s, std::size_t h) {
    constexpr std::size_t d = V::d, dh = V::dh;
    const std::size_t T = b.T, off = s * T * d + h * dh, bh = s * V::H + h;
    const float* da = b.act(act::d_slot) + bh * T;
    const float* ks = b.act(act::slot_k);
    const float* q = b.act(act::q);
    float* dq = b.act(act::d_q);
    float* gk = b.act(act::d_slot_k) + bh * dh;
    std::fill(gk, gk + dh, 0.f);
    for (std::size_t i = 0; i < T; ++i) {
      const float g = b.scale * da[i];
      for (std::size_t e = 0; e < dh; ++e) {
        dq[off + i * d + e] += g * ks[h * dh + e];
        gk[e] += g * q[off + i * d + e];
      }
    }
  }
  /// Sums the per-(sequence, head) partials into d k_s, d v_s [d], then Derived takes them on.
  template <class V>
  static void backward_kv(const V& b) {
    constexpr std::size_t d = V::d, dh = V::dh, H = V::H;
    std::vector<float> gk(d, 0.f), gv(d, 0.f);
    const float* dks = b.act(act::d_slot_k);
    const float* dvs = b.act(act::d_slot_v);
    for (std::size_t s = 0; s < b.B; ++s)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t e = 0; e < dh; ++e) {
          gk[h * dh + e] += dks[(s * H + h) * dh + e];
          gv[h * dh + e] += dvs[(s * H + h) * dh + e];
        }
    Derived::backward_slot(b, gk, gv);
  }
};

struct sink_token : slot_common<sink_token> {
  static constexpr std::string_view name = "sink-token";
  static constexpr bool projected = true;  ///< k_s, v_s come through ln_1, the key component and W_V
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer >= 0) add(param_spec{role::sink_token, layer, S::d_model, 0, true, false, init_kind::normal});
  }
  /// ln_1 of the sink vector, its mean and rstd, and the key component's scratch for that one row.
  template <class A>
  static constexpr void more_activations(auto&& add, int layer) {
    constexpr std::size_t key_scratch = A::keys::template scratch_per_row<typename A::shape>;
    add(activation_spec{act::slot_ln, layer, extent::once, A::d_model});
    add(activation_spec{act::slot_ln_stats, layer, extent::once, 2});
    if constexpr (key_scratch > 0) add(activation_spec{act::slot_key_scratch, layer, extent::once, key_scratch});
  }
  template <class V>
  static void forward_kv(const V& b) {
    using Keys = typename V::arch::keys;
    constexpr std::size_t d = V::d;
    float* ln = b.act(act::slot_ln);
    float* stats = b.act(act::slot_ln_stats);
    kernels::layernorm(b.param(role::sink_token), d, b.param(role::ln_1_weight), b.param(role::ln_1_bias), ln, d, stats,
                       stats + 1, 1, d);
    Keys::template project<typename V::shape, typename V::layout_type>(b.W, b.layer, ln, 1, b.act(act::slot_k),
                                                                        key_scratch(b));
    detail::linear_forward(ln, d, 1, d, d, b.param(role::v_weight), b.param(role::v_bias), b.act(act::slot_v), d);
  }
  /// k_s = keys(ln_1(s)), v_s = ln_1(s) W_V + b_V.
  template <class V>
  static void backward_slot(const V& b, std::vector<float>& gk, std::vector<float>& gv) {
    using Keys = typename V::arch::keys;
    constexpr std::size_t d = V::d;
    const float* ln = b.act(act::slot_ln);
    const float* stats = b.act(act::slot_ln_stats);
    std::vector<float> dln(d, 0.f);
    Keys::template backward_rows<typename V::shape, typename V::layout_type>(b.W, b.G, b.layer, ln, 1, gk.data(),
                                                                              dln.data(), key_scratch(b));
    detail::linear_backward(ln, d, 1, d, d, b.param(role::v_weight), gv.data(), d, dln.data(), d,
                            b.grad(role::v_weight), b.grad(role::v_bias));
    kernels::layernorm_backward(dln.data(), d, b.param(role::sink_token), d, b.param(role::ln_1_weight), stats,
                                stats + 1, b.grad(role::sink_token), d, b.grad(role::ln_1_weight),
                                b.grad(role::ln_1_bias), 1, d);
  }

 private:
  template <class V>
  static float* key_scratch(const V& b) {
    using Keys = typename V::arch::keys;
    if constexpr (Keys::template scratch_per_row<typename V::shape> > 0) return b.act(act::slot_key_scratch);
    else return nullptr;
  }
};

struct key_value_bias : slot_common<key_value_bias> {
  static constexpr std::string_view name = "kv-bias";
  static constexpr bool projected = false;  ///< k_s = k*, v_s = v*: parameters themselves
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) return;
    add(bias(role::slot_k_bias, layer, S::d_model));
    add(bias(role::slot_v_bias, layer, S::d_model));
  }
  template <class A> static constexpr void more_activations(auto&&, int) {}
  template <class V>
  static void forward_kv(const V& b) {
    std::copy_n(b.param(role::slot_k_bias), V::d, b.act(act::slot_k));
    std::copy_n(b.param(role::slot_v_bias), V::d, b.act(act::slot_v));
  }
  template <class V>
  static void backward_slot(const V& b, std::vector<float>& gk, std::vector<float>& gv) {
    float* gks = b.grad(role::slot_k_bias);
    float* gvs = b.grad(role::slot_v_bias);
    for (std::size_t e = 0; e < V::d; ++e) gks[e] += gk[e], gvs[e] += gv[e];
  }
};

template <class C>
concept extra_slot_component = requires {
  { C::has_slot } -> std::convertible_to<bool>;
  { C::projected } -> std::convertible_to<bool>;
};

}  // namespace sinkcore::extra_slot

namespace sinkcore::slots {
struct extra_slot {
  static constexpr std::string_view name = "extra_slot";
  using default_component = sinkcore::extra_slot::none;
  template <class C>
  static constexpr bool accepts = sinkcore::extra_slot::extra_slot_component<C>;
};
}  // namespace sinkcore::slots
