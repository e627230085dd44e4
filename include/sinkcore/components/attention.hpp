#pragma once
/// @file attention.hpp
/// How attention scores become attention weights (slot `attention`). With s_ij = q_i . k_j / sqrt(d_head)
/// over the causal keys j <= i, and c_i the logit of an extra slot when the architecture has one
/// (extra_slot.hpp; absent terms drop out):
///  - softmax (GPT-2):   P_ij = exp(s_ij) / (exp(c_i) + sum_j' exp(s_ij')).
///  - softmax_plus_one:  P_ij = exp(s_ij) / (1 + exp(c_i) + sum_j' exp(s_ij')): "softmax off by one"
///                       (Miller 2023, "Attention is off by one"). The 1 acts as a slot with logit 0 and a
///                       zero value: 1 - sum_j P_ij - P_slot is the mass that went to "nothing".
///  - sigmoid<Learnable>: P_ij = sigma(s_ij + b_h), elementwise, no normalisation (Ramapuram et al. 2024,
///                       "Theory, analysis, and best practices for sigmoid self-attention"), with a per-head
///                       bias b_h initialised to -log(context) (their recommendation b = -log n), trained
///                       (Learnable) or fixed at that value. Rows do not sum to 1.
///
/// ## The contract of an attention component (concept `attention_component`)
///   forward(b, h, S, slot)           one (sequence, head) block of raw scores S (T x T, q . k unscaled) becomes
///                                    weights in place, masked entries exactly 0; `slot`: the extra slot's
///                                    scaled logit per query on input, its weight on output (null without one)
///   backward(b, bh, P, dP, slot, dslot)  dP (d loss / d weights) becomes d loss / d raw scores in place
///   accumulate(b)                    after every (sequence, head): the parameter gradients it collected
///   `is_sigmoid`, `plus_one`         what the analysis reads (rows need not sum to 1; mass on "nothing")
/// Worked example: softmax in an architecture without an extra slot is GPT-2's; its forward and backward
/// are the causal-softmax kernels themselves (kernels/softmax.hpp), so the default costs nothing more;
/// with a slot, or for softmax + 1 and sigmoid, forward_rows / backward_rows below do the work.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>

#include "../kernels/softmax.hpp"
#include "../model/activation_spec.hpp"
#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::attention {

enum class kind { softmax, softmax_plus_one, sigmoid };

/// Shared by the three normalisations. `rows`: T x T scores (row stride T, raw dot products q.k), turned
/// into weights in place, masked entries set to exactly 0. `slot`: per query, the scaled logit c_i of
/// the extra slot on input and its weight on output (null without a slot).
template <kind K, bool LearnableBias>
struct normalisation {
  using slot = slots::attention;
  static constexpr kind what = K;
  static constexpr bool plus_one = K == kind::softmax_plus_one;
  static constexpr bool is_sigmoid = K == kind::sigmoid;
  static constexpr bool learnable_bias = is_sigmoid && LearnableBias;
  static constexpr bool hf_gpt2_layout = K == kind::softmax;

  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if constexpr (learnable_bias)
      if (layer >= 0) add(param_spec{role::attn_sigmoid_bias, layer, S::heads, 0, true, false, init_kind::neg_log_context});
  }
  template <class A>
  static constexpr void activations(auto&& add, int layer) {
    if constexpr (learnable_bias)
      if (layer < 0) add(backward_scratch(act::d_attn_bias, extent::head_seqs, 1));  // d loss / d b_h per (sequence, head)
  }

  /// GPT-2's attention in architecture A: softmax and no extra slot, done by the causal-softmax kernels.
  template <class A>
  static constexpr bool plain = K == kind::softmax && !A::extra_slot::has_slot;

  template <class V>
  static void forward(const V& b, std::size_t h, float* S, float* slot) {
    const profile::zone pz(profile::part::softmax);
    if constexpr (plain<typename V::arch>) kernels::causal_softmax(S, b.T, b.T, b.scale);
    else forward_rows(S, b.T, b.scale, slot, bias<typename V::shape, typename V::layout_type>(b.W, b.layer, h));
  }
  /// `bh` = sequence * heads + head.
  template <class V>
  static void backward(const V& b, std::size_t bh, const float* P, float* dP, const float* slot, float* dslot) {
    const profile::zone pz(profile::part::softmax);
    if constexpr (plain<typename V::arch>) {
      kernels::causal_softmax_backward(P, dP, dP, b.T, b.T, b.scale);
    } else {
      const double db = backward_rows(P, dP, b.T, b.scale, slot, dslot);
      if constexpr (learnable_bias) b.act(act::d_attn_bias)[bh] = float(db);
    }
  }
  template <class V>
  static void accumulate(const V& b) {
    if constexpr (learnable_bias) {
      float* g = b.grad(role::attn_sigmoid_bias);
      const float* db = b.act(act::d_attn_bias);
      for (std::size_t s = 0; s < b.B; ++s)
        for (std::size_t h = 0; h < V::H; ++h) g[h] += db[s * V::H + h];
    }
  }

  /// The bias of head h in block l (sigmoid only).
  template <class S, class L>
  static float bias(const float* W, int l, std::size_t h) {
    if constexpr (learnable_bias) return W[L::offset(role::attn_sigmoid_bias, l) + h];
    else return float(-std::log(double(S::context)));
  }

  static void forward_rows(float* rows, std::size_t T, float scale, float* slot, float bias) {
    for (std::size_t i = 0; i < T; ++i) {
      float* r = rows + i * T;
      const std::size_t n = i + 1;
      if constexpr (is_sigmoid) {
        for (std::size_t j = 0; j < n; ++j) r[j] = sigmoid(scale * r[j] + bias);
        if (slot) slot[i] = sigmoid(slot[i] + bias);
        std::fill(r + n, r + T, 0.f);
      } else {
        // The row as GPT-2's (kernels/softmax.hpp), its max and sum joined by the slot's logit and the
        // "+1" (a logit 0): m = max(0 or -inf, c_i, scale s_ij), s = sum_j e_ij + e_slot (+ exp(-m)).
        float m0 = plus_one ? 0.f : -std::numeric_limits<float>::infinity();
        if (slot) m0 = std::max(m0, slot[i]);
        float e_slot = 0.f;
        auto extra = [&](float m, float s) {
          e_slot = slot ? std::exp(slot[i] - m) : 0.f;
          s += e_slot;
          if constexpr (plus_one) s += std::exp(-m);
          return s;
        };
        const float inv = kernels::softmax_detail::causal_row<xsimd::default_arch>(r, n, T, scale, m0, extra);
        if (slot) slot[i] = e_slot * inv;
      }
    }
  }

  /// Backward of forward_rows. dP (T x T, d loss / d weights) becomes d loss / d raw scores in place.
  /// `dslot` (if a slot): d loss / d slot weight in, d loss / d slot logit c_i (scaled) out.
  /// Returns d loss / d bias (sigmoid), 0 otherwise.
  ///   softmax family: D_i = sum_j P_ij dP_ij + a_i da_i; dS_ij = scale P_ij (dP_ij - D_i); dc_i = a_i (da_i - D_i)
  ///   (the "+1" has a zero value, so it adds nothing to D_i);
  ///   sigmoid: g = dP P (1 - P); dS_ij = scale g_ij; dc_i = da_i a_i (1 - a_i); db = sum g + sum dc.
  static double backward_rows(const float* P, float* dP, std::size_t T, float scale, const float* slot, float* dslot) {
    double db = 0;
    for (std::size_t i = 0; i < T; ++i) {
      const float* p = P + i * T;
      float* dp = dP + i * T;
      const std::size_t n = i + 1;
      if constexpr (is_sigmoid) {
        for (std::size_t j = 0; j < n; ++j) {
          const float g = dp[j] * p[j] * (1.f - p[j]);
          db += g;
          dp[j] = scale * g;
        }
        if (slot) {
          dslot[i] = dslot[i] * slot[i] * (1.f - slot[i]);
          db += dslot[i];
        }
      } else {
        double D = 0;
        for (std::size_t j = 0; j < n; ++j) D += double(p[j]) * dp[j];
        if (slot) D += double(slot[i]) * dslot[i];
        const float Df = float(D);
        for (std::size_t j = 0; j < n; ++j) dp[j] = scale * p[j] * (dp[j] - Df);
        if (slot) dslot[i] = slot[i] * (dslot[i] - Df);
      }
      std::fill(dp + n, dp + T, 0.f);
    }
    return db;
  }

 private:
  static float sigmoid(float x) { return x >= 0 ? 1.f / (1.f + std::exp(-x)) : std::exp(x) / (1.f + std::exp(x)); }
};

struct softmax : normalisation<kind::softmax, false> { static constexpr std::string_view name = "softmax"; };
struct softmax_plus_one : normalisation<kind::softmax_plus_one, false> {
  static constexpr std::string_view name = "softmax1";
};
template <bool Learnable = true>
struct sigmoid : normalisation<kind::sigmoid, Learnable> {
  static constexpr std::string_view name = Learnable ? "sigmoid" : "sigmoid-fixed";
};

template <class C>
concept attention_component = requires {
  { C::is_sigmoid } -> std::convertible_to<bool>;
  { C::plus_one } -> std::convertible_to<bool>;
};

}  // namespace sinkcore::attention

namespace sinkcore::slots {
struct attention {
  static constexpr std::string_view name = "attention";
  using default_component = sinkcore::attention::softmax;
  template <class C>
  static constexpr bool accepts = sinkcore::attention::attention_component<C>;
};
}  // namespace sinkcore::slots
