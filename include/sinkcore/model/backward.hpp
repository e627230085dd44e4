#pragma once
/// @file backward.hpp
/// The backward pass, step for step the forward pass in reverse (forward.hpp), for every architecture:
/// gradients of the mean next-token cross-entropy with respect to every trainable parameter.
/// Frozen tensors (keys::frozen_random) get no gradient (their slots in `grads` stay 0).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "activation_spec.hpp"
#include "forward.hpp"
#include "../profile.hpp"

namespace sinkcore {

/// Gradients in the parameter layout of A: one float per parameter, same offsets as model<A>.
template <architecture_type A>
using gradients = aligned_vector<float>;

template <architecture_type A>
gradients<A> make_gradients() {
  return gradients<A>(layout<A>::size, 0.f);
}

/// Backward pass after forward(m, ws, ...): grads = d loss / d params with loss the mean cross-entropy
/// over rows whose target is >= 0. `grads` is overwritten (resized to the layout's size).
/// The steps are the forward pass's in reverse, each component's backward beside its forward in its
/// header; the loop names no component.
/// @returns the loss.
template <architecture_type A>
double backward(const model<A>& m, workspace<A>& ws, std::span<const int> targets, gradients<A>& grads) {
  using L = layout<A>;
  using Pos = typename A::positions;
  using Query = typename A::query;
  using Keys = typename A::keys;
  using Att = typename A::attention;
  using Slot = typename A::extra_slot;
  constexpr std::size_t d = A::d_model, H = A::heads, dh = A::d_head, V = A::vocab;
  const std::size_t B = ws.batch(), T = ws.length(), n = B * T;
  if (targets.size() != n) throw error("backward: expected " + std::to_string(n) + " targets");
  grads.assign(L::size, 0.f);
  ws.prepare_backward();
  const float* W = m.data();
  float* G = grads.data();
  const auto top = ws.view(-1, W, G);
  float* dlogits = top.act(act::d_logits);
  float* dx = top.act(act::d_resid);
  float* dln = top.act(act::d_ln);
  float* dq = top.act(act::d_q);
  float* dk = top.act(act::d_k);
  float* dv = top.act(act::d_v);
  float* dz = top.act(act::d_z);

  // d loss / d logits = (softmax(logits) - onehot(target)) / count
  const std::size_t count = detail::target_count(targets);
  const double inv = count ? 1.0 / double(count) : 0.0;
  std::optional<profile::zone> loss_zone(std::in_place, profile::part::loss);
  // Each exponential computed once, in double, on vectors (kernels/exp.hpp: the same values as std::exp).
  std::vector<double> term(n);
  const float* logits = ws.logits();
  detail::each_softmax_row<V>(logits, n, [&](std::size_t r, const double* e, double s, float mx) {
    float* g = dlogits + r * V;
    if (targets[r] < 0) {
      std::fill(g, g + V, 0.f);
      return;
    }
    term[r] = std::log(s) + mx - logits[r * V + std::size_t(targets[r])];
    const double norm = inv / s;
    for (std::size_t c = 0; c < V; ++c) g[c] = float(e[c] * norm);
    g[targets[r]] -= float(inv);
  });
  const double loss = detail::sum_target_rows(targets, term) * inv;
  loss_zone.reset();

  // logits = ln_f wte^T
  kernels::gemm(false, false, n, d, V, 1.f, dlogits, V, top.param(role::wte), d, 0.f, dln, d);
  kernels::gemm(true, false, V, d, n, 1.f, dlogits, V, ws.ln_f(), d, 1.f, top.grad(role::wte), d);
  std::fill(dx, dx + n * d, 0.f);
  kernels::layernorm_backward(dln, d, ws.resid_final(), d, top.param(role::ln_f_weight), ws.ln_f_mean(), ws.ln_f_rstd(),
                              dx, d, top.grad(role::ln_f_weight), top.grad(role::ln_f_bias), n, d);

  for (std::size_t li = A::layers; li-- > 0;) {
    const int l = int(li);
    const auto b = ws.view(l, W, G);
    auto& a = ws.block(li);
    if (A::has_mlp(li)) A::mlp::backward(b);
    // resid_mid = resid_pre + c_proj(z): dx flows on unchanged
    detail::linear_backward(a.z, d, n, d, d, b.param(role::attn_proj_weight), dx, d, dz, d,
                            b.grad(role::attn_proj_weight), b.grad(role::attn_proj_bias), 0.f);
    // z = P v (+ a v_s), P = normalise(q k^T (+ the positions' bias), slot logits)
    std::optional<profile::zone> attention_zone(std::in_place, profile::part::attention);
#pragma omp parallel for schedule(dynamic) collapse(2)
    for (std::size_t s = 0; s < B; ++s)
      for (std::size_t h = 0; h < H; ++h) {
        const std::size_t bh = s * H + h, off = s * T * d + h * dh;
        const float* pat = a.pattern + bh * T * T;
        // d loss / d pattern lives only within this iteration: one T x T scratch per thread, still in
        // cache for the next head (a slab of every head's, B H T T floats, was streamed to memory).
        float* dp = detail::head_scratch(T * T);
        // As in the forward pass, gemm_causal skips per micro-tile what lies beyond the diagonal (exact zeros,
        // unneeded entries). dv = P^T dz and dk = dP^T q sum over queries in blocks of
        // detail::causal_rows(T) rows (one block at T <= 64), their parts added up block by block:
        // causal_query_sum does all blocks of a tile of keys in one pass.
        using tri = kernels::triangle;
        const std::size_t cb = detail::causal_rows(T);
        // dP = dz v^T in one call, as the forward pass's scores.
        kernels::gemm_causal(tri::c_lower, 0, false, true, T, T, dh, 1.f, dz + off, d, a.v + off, d, 0.f, dp, T);
        kernels::causal_query_sum(T, cb, dh, pat, T, dz + off, d, dv + off, d);
        float* da = Slot::backward_mix(b, s, h);
        Att::backward(b, bh, pat, dp, Slot::weights(b, bh), da);
        // dq = dP k: one call up to T = 256, as the forward pass's P v.
        const std::size_t qrows = detail::key_sum_rows(T);
        for (std::size_t r0 = 0; r0 < T; r0 += qrows) {
          const std::size_t r1 = std::min(T, r0 + qrows);
          kernels::gemm_causal(tri::a_lower, r0, false, false, r1 - r0, dh, r1, 1.f, dp + r0 * T, T, a.k + off, d, 0.f,
                               dq + off + r0 * d, d);
        }
        kernels::causal_query_sum(T, cb, dh, dp, T, a.q + off, d, dk + off, d);
        Slot::backward_logits(b, s, h);
      }
    Att::accumulate(b);
    Slot::backward_kv(b);
    Pos::rotate_backward(b);
    attention_zone.reset();
    // ln_1 output -> q, k, v
    std::fill(dln, dln + n * d, 0.f);
    Query::backward(b);
    Keys::backward(b);
    detail::linear_backward(a.ln1, d, n, d, d, b.param(role::v_weight), dv, d, dln, d, b.grad(role::v_weight),
                            b.grad(role::v_bias));
    kernels::layernorm_backward(dln, d, a.resid_pre, d, b.param(role::ln_1_weight), a.ln1_mean, a.ln1_rstd, dx, d,
                                b.grad(role::ln_1_weight), b.grad(role::ln_1_bias), n, d);
  }
  // x0 = wte[token] (+ the positions component's part)
  const auto& tok = ws.tokens();
  float* dwte = top.grad(role::wte);
  for (std::size_t r = 0; r < n; ++r) {
    float* g = dwte + std::size_t(tok[r]) * d;
    for (std::size_t c = 0; c < d; ++c) g[c] += dx[r * d + c];
  }
  Pos::embed_backward(top, dx);
  return loss;
}

/// forward + backward for next-token prediction on a batch of B sequences of T tokens.
template <architecture_type A>
double forward_backward(const model<A>& m, workspace<A>& ws, std::span<const int> tokens, std::size_t B,
                        std::size_t T, gradients<A>& grads) {
  forward(m, ws, tokens, B, T);
  return backward(m, ws, next_token_targets(tokens, B, T), grads);
}

}  // namespace sinkcore
