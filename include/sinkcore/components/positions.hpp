#pragma once
/// @file positions.hpp
/// How position enters the model (slot `positions`).
///  - learned:      GPT-2's absolute embedding, x_t = wte[token_t] + wpe[t] (Radford et al. 2019).
///  - rotary<Base>: RoPE on q and k (Su et al. 2021), half-split pairing, theta_i = Base^(-2i/d_head);
///                  no absolute embedding, so no `wpe` tensor exists.
///  - alibi:        ALiBi (Press et al., ICLR 2022, "Train short, test long"): no embedding; head h adds
///                  -m_h (i - j) to the scaled score of query i on key j, m_h the geometric slopes of the
///                  paper (2^(-8/H), 2^(-16/H), ... for H a power of two). Gu et al. (ICLR 2025) found sinks
///                  with ALiBi too.
///  - none:         NoPE: the causal mask is the only source of position (Kazemnejad et al. 2023).
///
/// ## The contract of a positions component (concept `position_component`)
/// Besides `slot`, `name` and `hf_gpt2_layout` (slots.hpp), traits the analysis reads:
///   `absolute`   it adds a learned vector p_t to the residual stream (the paper's EPE exists);
///   `rotary_qk`  it rotates q and k (the score no longer splits into the paper's four terms).
/// and four steps of the forward pass with their backward beside them, each a no-op in `defaults`:
///
///   embed(b, x, hook)          x = hook_embed rows (+ the position's vector); `hook(at_point<P>, data, width)`
///   embed_backward(b, dx)      the parameter gradient of what embed added
///   rotate(b) / rotate_backward(b)          q and k after projection / the same on their gradients
///   bias_scores(b, h, S) / (no backward)    raw scores S (T x T, unscaled) of head h, before normalisation;
///                                           what is added must not depend on parameters
///
/// A worked example, ALiBi (below): it declares no parameter and no activation; bias_scores adds
/// -m_h (i - j) / scale to S so that the normalisation, which multiplies by scale, sees s_ij - m_h (i - j);
/// a constant added to a score has no gradient, so ALiBi has no backward at all.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <vector>

#include "../kernels/parallel.hpp"
#include "../kernels/rope.hpp"
#include "../model/activation_spec.hpp"
#include "../model/hooks.hpp"
#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::positions {

/// No-ops for every step: a component overrides what it does.
struct defaults {
  using slot = slots::positions;
  static constexpr bool absolute = false;
  static constexpr bool rotary_qk = false;
  static constexpr bool hf_gpt2_layout = false;
  template <class S> static constexpr void declare(auto&&, int) {}
  template <class A> static constexpr void activations(auto&&, int) {}
  template <class V, class Hook>
  static void embed(const V& b, float* x, Hook&&) {
    std::memcpy(x, b.act(act::embed), b.rows() * V::d * sizeof(float));
  }
  template <class V> static void embed_backward(const V&, const float*) {}
  template <class V> static void rotate(const V&) {}
  template <class V> static void rotate_backward(const V&) {}
  template <class V> static void bias_scores(const V&, std::size_t, float*) {}
};

struct learned : defaults {
  static constexpr std::string_view name = "learned";
  static constexpr bool absolute = true;
  static constexpr bool hf_gpt2_layout = true;
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) add(param_spec{role::wpe, -1, S::context, S::d_model, true, false, init_kind::normal});
  }
  template <class A>
  static constexpr void activations(auto&& add, int layer) {
    if (layer < 0) add(per_token(act::pos_embed, -1, A::d_model));
  }
  /// wpe[t] into hook_pos_embed (the hook may change it), then x = embed + pos.
  template <class V, class Hook>
  static void embed(const V& b, float* x, Hook&& hook) {
    constexpr std::size_t d = V::d;
    const std::size_t n = b.rows(), T = b.T;
    const float* wpe = b.param(role::wpe);
    float* pos = b.act(act::pos_embed);
    const float* emb = b.act(act::embed);
    sinkcore::detail::parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) std::memcpy(pos + r * d, wpe + (r % T) * d, d * sizeof(float));
    });
    hook(at_point<hook_point::pos_embed>, pos, d);
    sinkcore::detail::add_rows(emb, pos, x, n * d);
  }
  template <class V>
  static void embed_backward(const V& b, const float* dx) {
    constexpr std::size_t d = V::d;
    float* dwpe = b.grad(role::wpe);
    for (std::size_t r = 0; r < b.rows(); ++r) {
      float* g = dwpe + (r % b.T) * d;
      for (std::size_t c = 0; c < d; ++c) g[c] += dx[r * d + c];
    }
  }
  /// p_i, the learned vector of position i (the paper's p; interp/epe.hpp). @pre i < context
  template <class L>
  static const float* embedding(const float* W, std::size_t i, std::size_t d_model) {
    return W + L::offset(role::wpe) + i * d_model;
  }
  /// The whole table wpe [context, d_model], for interventions that edit positions.
  template <class L>
  static float* embedding_table(float* W) { return W + L::offset(role::wpe); }
};

template <int Base = 10000>
struct rotary : defaults {
  static_assert(Base > 1, "positions::rotary: Base must be > 1");
  static constexpr std::string_view name = "rotary";
  static constexpr bool rotary_qk = true;
  static constexpr float base = float(Base);
  template <class S>
  static constexpr void declare(auto&&, int) {
    static_assert(S::d_head % 2 == 0,
                  "positions::rotary needs an even head size (d_model / heads): RoPE rotates coordinate pairs");
  }
  template <class V>
  static void rotate(const V& b) { turn(b, act::q, act::k, false); }
  template <class V>
  static void rotate_backward(const V& b) { turn(b, act::d_q, act::d_k, true); }

 private:
  template <class V>
  static void turn(const V& b, act q, act k, bool inverse) {
    constexpr std::size_t d = V::d;
    float* qs = b.act(q);
    float* ks = b.act(k);
    for (std::size_t s = 0; s < b.B; ++s) {
      kernels::rope(qs + s * b.T * d, b.T, d, V::H, V::dh, base, inverse);
      kernels::rope(ks + s * b.T * d, b.T, d, V::H, V::dh, base, inverse);
    }
  }
};

/// ALiBi's slope of head h of H (Press et al. 2022, their reference `get_slopes`): for H a power of two
/// m_h = r^(h+1), r = 2^(-8/H); otherwise the slopes of the largest power of two p < H, followed by every
/// other slope of 2p heads until H slopes exist.
inline double alibi_slope(std::size_t h, std::size_t H) {
  std::size_t p = 1;
  while (p * 2 <= H) p *= 2;
  auto pow2_slope = [](std::size_t i, std::size_t n) { return std::pow(2.0, -8.0 * double(i + 1) / double(n)); };
  return h < p ? pow2_slope(h, p) : pow2_slope(2 * (h - p), 2 * p);
}

struct alibi : defaults {
  static constexpr std::string_view name = "alibi";
  /// S[i][j] += -m_h (i - j) / scale for keys j <= i (the normalisation multiplies by scale).
  template <class V>
  static void bias_scores(const V& b, std::size_t h, float* S) {
    const float slope = float(alibi_slope(h, V::H)) / b.scale;
    for (std::size_t i = 0; i < b.T; ++i) {
      float* r = S + i * b.T;
      for (std::size_t j = 0; j <= i; ++j) r[j] -= slope * float(i - j);
    }
  }
};

struct none : defaults {
  static constexpr std::string_view name = "nope";
};

/// The contract above, as a concept.
template <class C>
concept position_component = requires {
  { C::absolute } -> std::convertible_to<bool>;
  { C::rotary_qk } -> std::convertible_to<bool>;
} && std::derived_from<C, defaults>;

}  // namespace sinkcore::positions

namespace sinkcore::slots {
struct positions {
  static constexpr std::string_view name = "positions";
  using default_component = sinkcore::positions::learned;
  template <class C>
  static constexpr bool accepts = sinkcore::positions::position_component<C>;
};
}  // namespace sinkcore::slots
