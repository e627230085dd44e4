#pragma once
/// @file forward.hpp
/// The forward pass, written once for every architecture (GPT-2: Radford et al. 2019; pre-LN blocks
/// x += attn(ln_1(x)); x += mlp(ln_2(x))). The loop below names no component: each step asks the
/// architecture's component in that slot (components/*.hpp), which knows at compile time what it does
/// (a removed component's step compiles to nothing).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../kernels/exp.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/parallel.hpp"
#include "../profile.hpp"
#include "hooks.hpp"
#include "linear.hpp"
#include "model.hpp"
#include "workspace.hpp"

namespace sinkcore {

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
  using Pos = typename A::positions;
  using Query = typename A::query;
  using Keys = typename A::keys;
  using Att = typename A::attention;
  using Slot = typename A::extra_slot;
  constexpr std::size_t d = A::d_model, H = A::heads, dh = A::d_head, V = A::vocab;
  if (tokens.size() != B * T)
    throw error("forward: " + std::to_string(tokens.size()) + " tokens given for a batch of " + std::to_string(B) +
                " x " + std::to_string(T));
  check_tokens<A>(tokens);
  ws.resize(B, T);
  std::copy(tokens.begin(), tokens.end(), ws.tokens().begin());
  const std::size_t n = B * T;
  const float* W = m.data();
  // hook(at_point<P>, data, width) at the points of block `layer` (-1: model-wide)
  auto hooks_of = [&](int layer) { return detail::block_hook<HK>{hooks, B, T, layer}; };

  // Embedding: x = wte[token], then the positions component adds its part (learned: + wpe[t]).
  const auto top = ws.view(-1, W);
  float* x = ws.block(0).resid_pre;
  {
    const float* wte = top.param(role::wte);
    float* emb = ws.embed();
    detail::parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) std::memcpy(emb + r * d, wte + std::size_t(tokens[r]) * d, d * sizeof(float));
    });
    auto hook = hooks_of(-1);
    hook(at_point<hp::embed>, emb, d);
    Pos::embed(top, x, hook);
  }

  for (std::size_t li = 0; li < A::layers; ++li) {
    const int l = int(li);
    const auto b = ws.view(l, W);
    auto& a = ws.block(li);
    auto hook = hooks_of(l);
    hook(at_point<hp::resid_pre>, a.resid_pre, d);
    detail::layernorm_rows(a.resid_pre, b.param(role::ln_1_weight), b.param(role::ln_1_bias), a.ln1, a.ln1_mean,
                           a.ln1_rstd, n, d);
    hook(at_point<hp::ln1>, a.ln1, d);
    // q, k, v; positions turn q and k (RoPE); the extra slot's key and value
    Query::forward(b);
    Keys::forward(b);
    detail::linear_forward(a.ln1, d, n, d, d, b.param(role::v_weight), b.param(role::v_bias), a.v, d);
    Pos::rotate(b);
    hook(at_point<hp::q>, a.q, d);
    hook(at_point<hp::k>, a.k, d);
    hook(at_point<hp::v>, a.v, d);
    Slot::forward_kv(b);
    // Attention per (sequence, head): scores q k^T, the positions' bias (ALiBi), the normalisation (with the
    // extra slot's logits), z = P v (+ the slot's value). A pattern hook sees all patterns of the layer
    // between the two halves.
    // Causal products: gemm_causal skips, per micro-tile of rows, the keys beyond the tile's last row, so at
    // long contexts about half of the T x T work is skipped; entries beyond the diagonal are never read (the
    // normalisation zeroes every j > i). Where a product is cut into blocks of detail::causal_rows(T) rows,
    // rows [r0, r1) read keys [0, r1) only.
    constexpr bool split = detail::hooked<hp::pattern, HK>;
    const std::size_t cb = detail::causal_rows(T);
    auto scores = [&](std::size_t s, std::size_t h) {
      float* pat = a.pattern + (s * H + h) * T * T;
      const std::size_t off = s * T * d + h * dh;
      // One call: c_lower skips, per micro-tile of rows, the columns beyond its last row (the entries
      // a block of rows would not have computed either), and op(B) = k^T is packed once, not per block.
      kernels::gemm_causal(kernels::triangle::c_lower, 0, false, true, T, T, dh, 1.f, a.q + off, d, a.k + off, d, 0.f,
                           pat, T);
      Pos::bias_scores(b, h, pat);
      Att::forward(b, h, pat, Slot::logits(b, s, h));
    };
    auto mix = [&](std::size_t s, std::size_t h) {
      const std::size_t off = s * T * d + h * dh;
      const float* pat = a.pattern + (s * H + h) * T * T;
      // Without a pattern hook P is causal (zero beyond the diagonal) and a_lower skips, per micro-tile of
      // rows, the keys beyond its last row: one call up to T = 256 (one depth block; v read in place).
      // A hook may have written anything: rows [r0, r1) then read keys [0, r1).
      const std::size_t rows = split ? cb : detail::key_sum_rows(T);
      for (std::size_t r0 = 0; r0 < T; r0 += rows) {
        const std::size_t r1 = std::min(T, r0 + rows);
        kernels::gemm_causal(split ? kernels::triangle::none : kernels::triangle::a_lower, r0, false, false, r1 - r0,
                             dh, r1, 1.f, pat + r0 * T, T, a.v + off, d, 0.f, a.z + off + r0 * d, d);
      }
      Slot::mix(b, s, h);
    };
    {
      const profile::zone attention_zone(profile::part::attention);
#pragma omp parallel for schedule(dynamic) collapse(2)
      for (std::size_t s = 0; s < B; ++s)
        for (std::size_t h = 0; h < H; ++h) {
          scores(s, h);
          if constexpr (!split) mix(s, h);
        }
    }
    if constexpr (split) {
      detail::run_hook<hp::pattern>(hooks, a.pattern, B * H, T, T, l);
      const profile::zone attention_zone(profile::part::attention);
#pragma omp parallel for schedule(dynamic) collapse(2)
      for (std::size_t s = 0; s < B; ++s)
        for (std::size_t h = 0; h < H; ++h) mix(s, h);
    }
    hook(at_point<hp::z>, a.z, d);
    // Where nothing hooks attn_out, resid_mid = resid_pre + attn_out on each finished block of the projection's
    // output (residual_add); otherwise after the hook.
    constexpr bool add_inside = !detail::hooked<hp::attn_out, HK>;
    const detail::residual_add r{a.resid_pre, a.attn_out, a.resid_mid, d};
    detail::linear_forward(a.z, d, n, d, d, b.param(role::attn_proj_weight), b.param(role::attn_proj_bias), a.attn_out, d,
                           {add_inside ? &detail::residual_add::run : nullptr, &r});
    if constexpr (!add_inside) {
      hook(at_point<hp::attn_out>, a.attn_out, d);
      detail::add_rows(a.resid_pre, a.attn_out, a.resid_mid, n * d);
    }
    hook(at_point<hp::resid_mid>, a.resid_mid, d);
    if (A::has_mlp(li)) A::mlp::forward(b, hook);
    hook(at_point<hp::resid_post>, a.resid_post, d);  // resid_mid's memory in a block without an MLP
  }
  detail::layernorm_rows(ws.resid_final(), top.param(role::ln_f_weight), top.param(role::ln_f_bias), ws.ln_f(),
                         ws.ln_f_mean(), ws.ln_f_rstd(), n, d);
  auto hook = hooks_of(-1);
  hook(at_point<hp::ln_final>, ws.ln_f(), d);
  // Tied unembedding: logits = ln_f(x) wte^T.
  kernels::gemm(false, true, n, V, d, 1.f, ws.ln_f(), d, top.param(role::wte), d, 0.f, ws.logits(), V);
  hook(at_point<hp::logits>, ws.logits(), V);
}

namespace detail {

/// The softmax of every row of `logits` (n rows of V): fn(r, e, s, m) with the row's maximum m, its
/// exponentials e[c] = exp(double(z[c] - m)) (each equal to std::exp's) and their sum s in the order c = 0, 1,
/// .... Rows in groups of kernels::exp_group (exp_shifted_rows: their sums' chains of additions side by
/// side), the last few alone; fn runs on the thread that computed the row, each row once.
template <std::size_t V, class Fn>
void each_softmax_row(const float* logits, std::size_t n, Fn&& fn) {
  constexpr std::size_t G = kernels::exp_group;
#pragma omp parallel
  {
    std::vector<double> e(G * V);
    float m[G];
    double s[G];
#pragma omp for
    for (std::size_t r0 = 0; r0 < n; r0 += G) {
      const float* z = logits + r0 * V;
      if (r0 + G <= n) {
        kernels::exp_shifted_rows(z, V, V, m, e.data(), s);
        for (std::size_t g = 0; g < G; ++g) fn(r0 + g, e.data() + g * V, s[g], m[g]);
      } else {
        for (std::size_t r = r0; r < n; ++r, z += V) {
          const float mx = kernels::row_max(z, V);
          fn(r, e.data(), kernels::exp_shifted(z, V, mx, e.data()), mx);
        }
      }
    }
  }
}

/// How many rows have a target (targets[r] >= 0; negative = ignored).
inline std::size_t target_count(std::span<const int> targets) {
  std::size_t count = 0;
  for (int t : targets) count += t >= 0;
  return count;
}

/// sum over rows with targets[r] >= 0 of term[r], in row order on the calling thread: the same loss whatever
/// the thread count (an OpenMP reduction added each thread's share in turn, and the loss of 1 and 2 threads
/// differed in its last bits). One addition per row: B T of them, next to the V exponentials per row above.
inline double sum_target_rows(std::span<const int> targets, const std::vector<double>& term) {
  double total = 0;
  const std::size_t n = targets.size();
  for (std::size_t r = 0; r < n; ++r)
    if (targets[r] >= 0) total += term[r];
  return total;
}

}  // namespace detail

/// Mean cross-entropy of the logits in `ws` against `targets` (one per row; negative = ignored), in nats.
template <architecture_type A>
double cross_entropy(const workspace<A>& ws, std::span<const int> targets) {
  constexpr std::size_t V = A::vocab;
  const std::size_t n = ws.rows();
  if (targets.size() != n) throw error("cross_entropy: expected " + std::to_string(n) + " targets");
  const profile::zone pz(profile::part::loss);
  // Each row's -log softmax at its target (exp on vectors, the same values as std::exp: kernels/exp.hpp).
  std::vector<double> term(n);
  const float* logits = ws.logits();
  detail::each_softmax_row<V>(logits, n, [&](std::size_t r, const double*, double s, float mx) {
    if (targets[r] >= 0) term[r] = std::log(s) + mx - logits[r * V + std::size_t(targets[r])];
  });
  const std::size_t count = detail::target_count(targets);
  return count ? detail::sum_target_rows(targets, term) / double(count) : 0.0;
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
