#pragma once
/// @file forward.hpp
/// The forward pass, written once for every architecture: components decide, at compile time, what
/// each step does (GPT-2: Radford et al. 2019; pre-LN blocks x += attn(ln_1(x)); x += mlp(ln_2(x))).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>

#include <omp.h>

#include "../error.hpp"
#include "../kernels/gelu.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/layernorm.hpp"
#include "../kernels/rope.hpp"
#include "../kernels/softmax.hpp"
#include "hooks.hpp"
#include "linear.hpp"
#include "model.hpp"
#include "workspace.hpp"

namespace sinkcore {

namespace detail {
/// Run f(begin, end) over [0, n) split into one contiguous chunk per OpenMP thread.
template <class F>
void parallel_rows(std::size_t n, F&& f) {
  if (n < 64 || omp_in_parallel()) {
    f(std::size_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const std::size_t t = std::size_t(omp_get_thread_num()), nt = std::size_t(omp_get_num_threads());
    const std::size_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) f(begin, end);
  }
}

inline void layernorm_rows(const float* x, const float* g, const float* b, float* y, float* mean, float* rstd,
                           std::size_t n, std::size_t d) {
  parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
    kernels::layernorm(x + r0 * d, d, g, b, y + r0 * d, d, mean + r0, rstd + r0, r1 - r0, d);
  });
}

inline void add_rows(const float* a, const float* b, float* out, std::size_t count) {
  parallel_rows(count, [&](std::size_t i0, std::size_t i1) {
#pragma omp simd
    for (std::size_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
  });
}
}  // namespace detail

/// Check tokens against the vocabulary; throws sinkcore::error naming the first bad one.
template <architecture_type A>
void check_tokens(std::span<const int> tokens) {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || std::size_t(tokens[i]) >= A::vocab)
      throw error("token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                  " is outside the vocabulary [0, " + std::to_string(A::vocab) + ") of " + A::name());
}

/// Forward pass: tokens [B, T] (row-major) -> every activation in `ws`, logits included. `hooks` (see
/// hooks.hpp) is called at the points it handles; the default hooks nothing and costs nothing.
/// @pre tokens.size() == B * T, 1 <= T <= context, every token < vocab (checked: throws sinkcore::error)
template <architecture_type A, class Hooks = no_hooks>
void forward(const model<A>& m, workspace<A>& ws, std::span<const int> tokens, std::size_t B, std::size_t T,
             Hooks&& hooks = {}) {
  using HK = std::remove_reference_t<Hooks>;
  using hp = hook_point;
  auto hook = [&]<hook_point Pt>(float* data, std::size_t width, int layer) {
    detail::run_hook<Pt>(hooks, data, B, T, width, layer);
  };
  using L = layout<A>;
  using S = typename A::shape;
  constexpr std::size_t d = A::d_model, H = A::heads, dh = A::d_head, dm = A::d_mlp, V = A::vocab;
  if (tokens.size() != B * T)
    throw error("forward: " + std::to_string(tokens.size()) + " tokens given for a batch of " + std::to_string(B) +
                " x " + std::to_string(T));
  check_tokens<A>(tokens);
  ws.resize(B, T);
  std::copy(tokens.begin(), tokens.end(), ws.tokens().begin());
  const std::size_t n = B * T;
  const float* W = m.data();
  auto P = [W](role r, int l = -1) { return W + L::offset(r, l); };

  // Embedding: x = wte[token] (+ wpe[t] for learned positions).
  float* x = ws.block(0).resid_pre;
  {
    const float* wte = P(role::wte);
    float* emb = ws.embed();
    float* pos = ws.pos_embed();
    detail::parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        std::memcpy(emb + r * d, wte + std::size_t(tokens[r]) * d, d * sizeof(float));
        if constexpr (A::positions::absolute) std::memcpy(pos + r * d, P(role::wpe) + (r % T) * d, d * sizeof(float));
      }
    });
    hook.template operator()<hp::embed>(emb, d, -1);
    if constexpr (A::positions::absolute) {
      hook.template operator()<hp::pos_embed>(pos, d, -1);
      detail::add_rows(emb, pos, x, n * d);
    } else {
      std::memcpy(x, emb, n * d * sizeof(float));
    }
  }

  const float scale = 1.f / std::sqrt(float(dh));
  for (std::size_t li = 0; li < A::layers; ++li) {
    const int l = int(li);
    auto& a = ws.block(li);
    hook.template operator()<hp::resid_pre>(a.resid_pre, d, l);
    detail::layernorm_rows(a.resid_pre, P(role::ln_1_weight, l), P(role::ln_1_bias, l), a.ln1, a.ln1_mean,
                           a.ln1_rstd, n, d);
    hook.template operator()<hp::ln1>(a.ln1, d, l);
    // q, k, v
    detail::linear_forward(a.ln1, d, n, d, d, P(role::q_weight, l),
                           A::query::has_bias ? P(role::q_bias, l) : nullptr, a.q, d);
    A::keys::template forward<S, L>(W, l, a.ln1, n, a.k, a.key_extra);
    detail::linear_forward(a.ln1, d, n, d, d, P(role::v_weight, l), P(role::v_bias, l), a.v, d);
    if constexpr (A::positions::rotary_qk) {
      for (std::size_t b = 0; b < B; ++b) {
        kernels::rope(a.q + b * T * d, T, d, H, dh, A::positions::base);
        kernels::rope(a.k + b * T * d, T, d, H, dh, A::positions::base);
      }
    }
    hook.template operator()<hp::q>(a.q, d, l);
    hook.template operator()<hp::k>(a.k, d, l);
    hook.template operator()<hp::v>(a.v, d, l);
    // The extra slot's key and value (extra_slot.hpp): one per block, shared by every sequence.
    if constexpr (A::extra_slot::projected) {
      kernels::layernorm(P(role::sink_token, l), d, P(role::ln_1_weight, l), P(role::ln_1_bias, l), a.slot_ln, d,
                         a.slot_mean, a.slot_rstd, 1, d);
      A::keys::template forward<S, L>(W, l, a.slot_ln, 1, a.slot_k, a.slot_key_extra);
      detail::linear_forward(a.slot_ln, d, 1, d, d, P(role::v_weight, l), P(role::v_bias, l), a.slot_v, d);
    } else if constexpr (A::extra_slot::has_slot) {
      std::copy_n(P(role::slot_k_bias, l), d, a.slot_k);
      std::copy_n(P(role::slot_v_bias, l), d, a.slot_v);
    }
    // Attention per (sequence, head): P = softmax_causal(q k^T / sqrt(dh)); z = P v.
    // A pattern hook sees all patterns of the layer between the two halves.
    constexpr bool split = detail::hooked<hp::pattern, HK>;
    auto scores = [&](std::size_t b, std::size_t h) {
      float* pat = a.pattern + (b * H + h) * T * T;
      const std::size_t off = b * T * d + h * dh;
      kernels::gemm(false, true, T, T, dh, 1.f, a.q + off, d, a.k + off, d, 0.f, pat, T);
      if constexpr (A::plain_attention) {
        kernels::causal_softmax(pat, T, T, scale);
      } else {
        float* slot = nullptr;
        if constexpr (A::extra_slot::has_slot) {  // slot logits c_i = q_i . k_s * scale, then weights
          slot = a.slot_pattern + (b * H + h) * T;
          for (std::size_t i = 0; i < T; ++i) {
            float c = 0;
            for (std::size_t e = 0; e < dh; ++e) c += a.q[off + i * d + e] * a.slot_k[h * dh + e];
            slot[i] = scale * c;
          }
        }
        A::attention::forward_rows(pat, T, scale, slot, A::attention::template bias<S, L>(W, l, h));
      }
    };
    auto mix = [&](std::size_t b, std::size_t h) {
      const std::size_t off = b * T * d + h * dh;
      kernels::gemm(false, false, T, dh, T, 1.f, a.pattern + (b * H + h) * T * T, T, a.v + off, d, 0.f, a.z + off, d);
      if constexpr (A::extra_slot::has_slot) {  // z_i += a_i v_s
        const float* slot = a.slot_pattern + (b * H + h) * T;
        for (std::size_t i = 0; i < T; ++i)
          for (std::size_t e = 0; e < dh; ++e) a.z[off + i * d + e] += slot[i] * a.slot_v[h * dh + e];
      }
    };
#pragma omp parallel for schedule(dynamic) collapse(2)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        scores(b, h);
        if constexpr (!split) mix(b, h);
      }
    if constexpr (split) {
      detail::run_hook<hp::pattern>(hooks, a.pattern, B * H, T, T, l);
#pragma omp parallel for schedule(dynamic) collapse(2)
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t h = 0; h < H; ++h) mix(b, h);
    }
    hook.template operator()<hp::z>(a.z, d, l);
    detail::linear_forward(a.z, d, n, d, d, P(role::attn_proj_weight, l), P(role::attn_proj_bias, l), a.attn_out, d);
    hook.template operator()<hp::attn_out>(a.attn_out, d, l);
    detail::add_rows(a.resid_pre, a.attn_out, a.resid_mid, n * d);
    hook.template operator()<hp::resid_mid>(a.resid_mid, d, l);
    if (A::has_mlp(li)) {
      detail::layernorm_rows(a.resid_mid, P(role::ln_2_weight, l), P(role::ln_2_bias, l), a.ln2, a.ln2_mean,
                             a.ln2_rstd, n, d);
      hook.template operator()<hp::ln2>(a.ln2, d, l);
      detail::linear_forward(a.ln2, d, n, d, dm, P(role::mlp_fc_weight, l), P(role::mlp_fc_bias, l), a.mlp_pre, dm);
      hook.template operator()<hp::mlp_pre>(a.mlp_pre, dm, l);
      detail::parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
        kernels::gelu(a.mlp_pre + r0 * dm, a.mlp_post + r0 * dm, (r1 - r0) * dm);
      });
      hook.template operator()<hp::mlp_post>(a.mlp_post, dm, l);
      detail::linear_forward(a.mlp_post, dm, n, dm, d, P(role::mlp_proj_weight, l), P(role::mlp_proj_bias, l),
                             a.mlp_out, d);
      hook.template operator()<hp::mlp_out>(a.mlp_out, d, l);
      detail::add_rows(a.resid_mid, a.mlp_out, a.resid_post, n * d);
      hook.template operator()<hp::resid_post>(a.resid_post, d, l);
    } else {
      hook.template operator()<hp::resid_post>(a.resid_post, d, l);  // the same memory as resid_mid
    }
  }
  detail::layernorm_rows(ws.resid_final(), P(role::ln_f_weight), P(role::ln_f_bias), ws.ln_f(), ws.ln_f_mean(),
                         ws.ln_f_rstd(), n, d);
  hook.template operator()<hp::ln_final>(ws.ln_f(), d, -1);
  // Tied unembedding: logits = ln_f(x) wte^T.
  kernels::gemm(false, true, n, V, d, 1.f, ws.ln_f(), d, P(role::wte), d, 0.f, ws.logits(), V);
  hook.template operator()<hp::logits>(ws.logits(), V, -1);
}

/// Mean cross-entropy of the logits in `ws` against `targets` (one per row; negative = ignored), in nats.
template <architecture_type A>
double cross_entropy(const workspace<A>& ws, std::span<const int> targets) {
  constexpr std::size_t V = A::vocab;
  const std::size_t n = ws.rows();
  if (targets.size() != n) throw error("cross_entropy: expected " + std::to_string(n) + " targets");
  double total = 0;
  std::size_t count = 0;
#pragma omp parallel for reduction(+ : total, count)
  for (std::size_t r = 0; r < n; ++r) {
    if (targets[r] < 0) continue;
    const float* z = ws.logits() + r * V;
    const float mx = *std::max_element(z, z + V);
    double s = 0;
    for (std::size_t c = 0; c < V; ++c) s += std::exp(double(z[c] - mx));
    total += std::log(s) + mx - z[targets[r]];
    ++count;
  }
  return count ? total / double(count) : 0.0;
}

/// Next-token targets for a batch: targets[b, t] = tokens[b, t+1], -1 at t = T-1.
inline std::vector<int> next_token_targets(std::span<const int> tokens, std::size_t B, std::size_t T) {
  std::vector<int> t(B * T, -1);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t i = 0; i + 1 < T; ++i) t[b * T + i] = tokens[b * T + i + 1];
  return t;
}

/// Forward pass and the mean next-token cross-entropy over the batch.
template <architecture_type A, class Hooks = no_hooks>
double forward_loss(const model<A>& m, workspace<A>& ws, std::span<const int> tokens, std::size_t B, std::size_t T,
                    Hooks&& hooks = {}) {
  forward(m, ws, tokens, B, T, std::forward<Hooks>(hooks));
  return cross_entropy(ws, next_token_targets(tokens, B, T));
}

}  // namespace sinkcore
