#pragma once
/// @file circuit.hpp
/// The circuit statistics of Ran-Milo et al. 2026 (Sec. 3-5, Figs. 1-5).
///
/// **Source-agnostic shift** (Sec. 3). With x_j the ln_1 output of layer l (a row vector) the score of
/// query i on key j in head h is, before the 1/sqrt(d_head) scale,
///   s(i, j) = x_i W_Q W_K^T x_j^T + x_i W_Q b_K^T + b_Q W_K^T x_j^T + b_Q b_K^T      (head-h slices)
/// and the third term Delta_j = b_Q,h . (W_K,h x_j) depends on the key position only. In sinkcore's
/// (in, out) storage, W_K,h x_j is x_j W_K[:, h*dh:(h+1)*dh], so
///   Delta_j = x_j . g_h,   g_h[c] = sum_o W_K[c, h*dh + o] b_Q[h*dh + o]      (query_bias_key_direction)
/// and gamma_h[c] = |g_h[c]| is the paper's |b_Q,h . W_K,h[:, c]| (Sec. 5, Fig. 4): how strongly residual
/// coordinate c feeds the shift. Reported unscaled; each (input, layer, head) row is shifted so its
/// minimum over j is 0 before histogramming (Fig. 1).
///
/// Delta is defined when the architecture has b_Q, a linear key projection (not per-head normalised) and
/// no rotary positions (RoPE makes the term depend on the query position too): has_source_agnostic_shift.
///
/// **EPE** (epe.hpp) and its checks: cos(b_Q,h, W_K,h EPE_j), with W_K,h EPE_j the head-h slice of the
/// key projection applied to the raw EPE_j (no LayerNorm, no b_K) (Fig. 2); the validation cosines
/// cos(N_i, EPE_i) with N_i = R_i - O_i (Fig. 3): MLP-only R = x + MLP0(x), x = e + p, O = e + MLP0(e)
/// (MLP0 without LayerNorm, as in EPE); full block: R and O are block 0's outputs with and without p.
/// **Massive coordinates** of EPE_0: |EPE_0[c]| > mean(|EPE_0|) + 3 sd(|EPE_0|) (sample sd, N-1); the
/// top 2 by |EPE_0| if none qualify (GPT-2 small: {138, 378, 447}).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../model/forward.hpp"
#include "../model/model.hpp"
#include "../model/workspace.hpp"
#include "epe.hpp"
#include "interventions.hpp"
#include "metrics.hpp"
#include "stats.hpp"

namespace sinkcore {

/// Whether A has the source-agnostic shift Delta (b_Q, linear keys, no RoPE).
template <architecture_type A>
inline constexpr bool has_source_agnostic_shift =
    A::query::has_bias && !A::positions::rotary_qk && !A::keys::per_head_norm && A::keys::has_input_matrix;

/// Why the circuit statistics (Delta, gamma, Fig. 2) do or do not apply to A.
template <architecture_type A>
applicability circuit_applicability() {
  if constexpr (!A::query::has_bias) return detail::need_query_bias<A>();
  else if constexpr (A::positions::rotary_qk)
    return applicability::no("rotary-positions", A::name() + " rotates q and k: b_Q's term depends on the query position too");
  else if constexpr (A::keys::per_head_norm)
    return applicability::no("normalized-keys", A::name() + " normalises keys per head: the score does not decompose");
  else if constexpr (!A::keys::has_input_matrix)
    return applicability::no("needs-key-input-matrix", A::name() + " has no key input matrix W_K");
  else return applicability::yes();
}

/// The key projection of block l without its bias, applied to x: x W_K (or (x A) B for low-rank keys):
/// the keys component's own map (keys.hpp without_bias).
template <architecture_type A>
  requires(A::keys::has_input_matrix)
std::vector<double> key_projection_without_bias(const model<A>& m, int l, std::span<const double> x) {
  return A::keys::template without_bias<layout<A>>(m.data(), l, x);
}

/// g_h with Delta_j = x_j . g_h: g_h[c] = sum_o W_K[c, h*dh + o] b_Q[h*dh + o] (d_model values), the keys
/// component's head_input_gain of b_Q,h.
template <architecture_type A>
  requires(has_source_agnostic_shift<A>)
std::vector<double> query_bias_key_direction(const model<A>& m, int l, std::size_t h) {
  using L = layout<A>;
  const float* bq = A::query::template bias_of<L>(m.data(), l) + h * A::d_head;
  return A::keys::template head_input_gain<L>(m.data(), l, h, bq);
}

/// gamma_h[c] = |b_Q,h . W_K,h[:, c]| = |g_h[c]| (d_model values).
template <architecture_type A>
  requires(has_source_agnostic_shift<A>)
std::vector<double> key_coordinate_gain(const model<A>& m, int l, std::size_t h) {
  auto g = query_bias_key_direction(m, l, h);
  for (double& x : g) x = std::abs(x);
  return g;
}

/// Delta_j for j = 0..T-1 of sequence b, layer l, head h, from the ln_1 output in `ws` (unscaled,
/// unshifted).
template <architecture_type A>
  requires(has_source_agnostic_shift<A>)
std::vector<double> source_agnostic_shift(const model<A>& m, const workspace<A>& ws, std::size_t b, int l, std::size_t h) {
  constexpr std::size_t d = A::d_model;
  const auto g = query_bias_key_direction(m, l, h);
  const std::size_t T = ws.length();
  const float* x = ws.block(std::size_t(l)).ln1 + b * T * d;
  std::vector<double> out(T, 0.0);
  for (std::size_t j = 0; j < T; ++j)
    for (std::size_t c = 0; c < d; ++c) out[j] += double(x[j * d + c]) * g[c];
  return out;
}

/// The same Delta_j from the keys the forward pass computed: b_Q,h . (k_j,h - b_K,h) (a second route,
/// for checking).
template <architecture_type A>
  requires(has_source_agnostic_shift<A>)
std::vector<double> source_agnostic_shift_from_keys(const model<A>& m, const workspace<A>& ws, std::size_t b, int l,
                                                    std::size_t h) {
  using L = layout<A>;
  constexpr std::size_t d = A::d_model, dh = A::d_head;
  const float* bq = A::query::template bias_of<L>(m.data(), l) + h * dh;
  const float* bk = A::keys::template bias_of<L>(m.data(), l);
  if (bk) bk += h * dh;
  const std::size_t T = ws.length();
  const float* k = ws.block(std::size_t(l)).k + b * T * d + h * dh;
  std::vector<double> out(T, 0.0);
  for (std::size_t j = 0; j < T; ++j)
    for (std::size_t o = 0; o < dh; ++o) out[j] += double(bq[o]) * (double(k[j * d + o]) - (bk ? bk[o] : 0.0));
  return out;
}

/// v - min(v): each row's minimum over key positions becomes 0 (the paper's normalisation for Fig. 1).
inline std::vector<double> shift_to_min_zero(std::vector<double> v) {
  if (v.empty()) return v;
  const double mn = *std::min_element(v.begin(), v.end());
  for (double& x : v) x -= mn;
  return v;
}

/// The distribution of the min-shifted Delta over (input, head), per layer and key position (Fig. 1).
template <architecture_type A>
  requires(has_source_agnostic_shift<A>)
class shift_distribution {
 public:
  /// values(l, j): every min-shifted Delta_j of layer l seen so far (one per input and head).
  const std::vector<double>& values(std::size_t l, std::size_t j) const { return v_.at(l).at(j); }
  std::size_t length() const { return T_; }

  /// Adds every sequence of the batch in `ws` (a forward pass of `m`).
  void add(const model<A>& m, const workspace<A>& ws) {
    if (T_ == 0) {
      T_ = ws.length();
      v_.assign(A::layers, std::vector<std::vector<double>>(T_));
    } else if (ws.length() != T_) {
      throw error("shift_distribution: sequences of " + std::to_string(ws.length()) + " tokens after " + std::to_string(T_));
    }
    constexpr std::size_t d = A::d_model;
    for (std::size_t l = 0; l < A::layers; ++l)
      for (std::size_t h = 0; h < A::heads; ++h) {
        const auto g = query_bias_key_direction(m, int(l), h);
        for (std::size_t b = 0; b < ws.batch(); ++b) {
          const float* x = ws.block(l).ln1 + b * T_ * d;
          std::vector<double> delta(T_, 0.0);
          for (std::size_t j = 0; j < T_; ++j)
            for (std::size_t c = 0; c < d; ++c) delta[j] += double(x[j * d + c]) * g[c];
          delta = shift_to_min_zero(std::move(delta));
          for (std::size_t j = 0; j < T_; ++j) v_[l][j].push_back(delta[j]);
        }
      }
  }
  /// table[l][j][k]: percentile ps[k] of the min-shifted Delta_j in layer l.
  std::vector<std::vector<std::vector<double>>> percentile_table(std::span<const double> ps) const {
    std::vector<std::vector<std::vector<double>>> out(A::layers, std::vector<std::vector<double>>(T_));
    for (std::size_t l = 0; l < A::layers; ++l)
      for (std::size_t j = 0; j < T_; ++j) out[l][j] = stats::percentiles(v_[l][j], ps);
    return out;
  }
  /// Percentiles per key position, pooled over the layers of r.
  std::vector<std::vector<double>> pooled_percentiles(layer_range r, std::span<const double> ps) const {
    r.check(A::layers);
    std::vector<std::vector<double>> out(T_);
    for (std::size_t j = 0; j < T_; ++j) {
      std::vector<double> pool;
      for (std::size_t l = r.first; l < r.last; ++l) pool.insert(pool.end(), v_[l][j].begin(), v_[l][j].end());
      out[j] = stats::percentiles(std::move(pool), ps);
    }
    return out;
  }

 private:
  std::size_t T_ = 0;
  std::vector<std::vector<std::vector<double>>> v_;  // [layer][j] -> values
};

/// cos(b_Q,h, W_K,h EPE_j) for j = 0..positions-1: out[l][h][j] (Fig. 2; pool the layers you need).
template <architecture_type A>
  requires(has_source_agnostic_shift<A> && has_effective_positional_embedding<A>)
std::vector<std::vector<std::vector<double>>> query_bias_epe_key_cosines(const model<A>& m, std::size_t positions) {
  constexpr std::size_t dh = A::d_head;
  positions = std::min(positions, A::context);
  std::vector<std::vector<double>> epe(positions);
  for (std::size_t j = 0; j < positions; ++j) epe[j] = effective_positional_embedding(m, j);
  std::vector<std::vector<std::vector<double>>> out(A::layers,
                                                    std::vector<std::vector<double>>(A::heads, std::vector<double>(positions)));
  for (std::size_t l = 0; l < A::layers; ++l) {
    const float* bq = A::query::template bias_of<layout<A>>(m.data(), int(l));
    for (std::size_t j = 0; j < positions; ++j) {
      const auto k = key_projection_without_bias(m, int(l), epe[j]);
      for (std::size_t h = 0; h < A::heads; ++h) out[l][h][j] = stats::cosine(bq + h * dh, k.data() + h * dh, dh);
    }
  }
  return out;
}

/// Fig. 3, MLP-only: cos(N_i, EPE_i) per position of one sequence, N_i = (x + MLP0(x)) - (e + MLP0(e)),
/// x = e + p_i, e = wte[token_i], MLP0 without LayerNorm.
/// `epe[i]` (optional) holds precomputed EPE_i for i < epe.size().
template <architecture_type A>
  requires(has_effective_positional_embedding<A>)
std::vector<double> epe_validation_mlp_only(const model<A>& m, std::span<const int> tokens,
                                            const std::vector<std::vector<double>>& epes = {}) {
  constexpr std::size_t d = A::d_model;
  check_tokens<A>(tokens);
  std::vector<double> out;
  for (std::size_t i = 0; i < tokens.size() && i < A::context; ++i) {
    const float* e = m.data() + layout<A>::offset(role::wte) + std::size_t(tokens[i]) * d;
    const auto p = positional_embedding(m, i);
    std::vector<double> x(d), ev(e, e + d);
    for (std::size_t c = 0; c < d; ++c) x[c] = ev[c] + p[c];
    const auto fx = mlp_without_layernorm(m, x), fe = mlp_without_layernorm(m, ev);
    std::vector<double> n(d);
    for (std::size_t c = 0; c < d; ++c) n[c] = (x[c] + fx[c]) - (ev[c] + fe[c]);
    const auto epe = i < epes.size() ? epes[i] : effective_positional_embedding(m, i);
    out.push_back(stats::cosine(n.data(), epe.data(), d));
  }
  return out;
}

/// Fig. 3, full block: cos(N_i, EPE_i) per (sequence, position), N = block 0's output with p minus its
/// output without p (the whole first block, attention included). out[b][i].
template <architecture_type A>
  requires(has_effective_positional_embedding<A>)
std::vector<std::vector<double>> epe_validation_full_block(const model<A>& m, std::span<const int> tokens,
                                                           std::size_t B, std::size_t T) {
  constexpr std::size_t d = A::d_model;
  workspace<A> with_p, without_p;
  forward(m, with_p, tokens, B, T);
  no_positional_embedding h;
  forward(m, without_p, tokens, B, T, any_hooks(h));
  std::vector<double> epe;
  std::vector<std::vector<double>> out(B, std::vector<double>(T));
  for (std::size_t i = 0; i < T; ++i) {
    epe = effective_positional_embedding(m, i);
    for (std::size_t b = 0; b < B; ++b) {
      const float* r = with_p.block(0).resid_post + (b * T + i) * d;
      const float* o = without_p.block(0).resid_post + (b * T + i) * d;
      std::vector<double> n(d);
      for (std::size_t c = 0; c < d; ++c) n[c] = double(r[c]) - double(o[c]);
      out[b][i] = stats::cosine(n.data(), epe.data(), d);
    }
  }
  return out;
}

/// The massive coordinates of v (EPE_0): |v[c]| > mean(|v|) + 3 sd(|v|) (sample sd, N-1), in increasing
/// order; the top 2 by |v| (increasing order) if none qualify.
inline std::vector<std::size_t> massive_coordinates(std::span<const double> v) {
  std::vector<double> a(v.size());
  for (std::size_t c = 0; c < v.size(); ++c) a[c] = std::abs(v[c]);
  const double threshold = stats::mean(a) + 3 * stats::sample_std(a);
  std::vector<std::size_t> out;
  for (std::size_t c = 0; c < a.size(); ++c)
    if (a[c] > threshold) out.push_back(c);
  if (out.empty()) {
    out = zero_key_inputs::top_abs(v, 2);
    std::sort(out.begin(), out.end());
  }
  return out;
}

/// Mean gamma over (layer in r, head, coordinate) for the coordinates in `massive` and for the others
/// (Fig. 4; the paper: 1.370 vs 0.176 over layers 3..10 of GPT-2 small).
struct gamma_split {
  double massive = 0, other = 0;
};
template <architecture_type A>
  requires(has_source_agnostic_shift<A>)
gamma_split mean_gamma(const model<A>& m, std::span<const std::size_t> massive, layer_range r) {
  r.check(A::layers);
  std::vector<char> is(A::d_model, 0);
  for (std::size_t c : massive) is.at(c) = 1;
  double sm = 0, so = 0;
  std::size_t nm = 0, no = 0;
  for (std::size_t l = r.first; l < r.last; ++l)
    for (std::size_t h = 0; h < A::heads; ++h) {
      const auto g = key_coordinate_gain(m, int(l), h);
      for (std::size_t c = 0; c < A::d_model; ++c) {
        if (is[c]) sm += g[c], ++nm;
        else so += g[c], ++no;
      }
    }
  return {nm ? sm / double(nm) : 0.0, no ? so / double(no) : 0.0};
}

/// The attention pattern of sequence b averaged over the heads of the layers in r: T x T row-major
/// (Fig. 5's maps).
template <architecture_type A>
std::vector<double> mean_pattern(const workspace<A>& ws, std::size_t b, layer_range r) {
  r.check(A::layers);
  const std::size_t T = ws.length();
  std::vector<double> out(T * T, 0.0);
  const double w = 1.0 / double(r.size() * A::heads);
  for (std::size_t l = r.first; l < r.last; ++l)
    for (std::size_t h = 0; h < A::heads; ++h) {
      const float* p = ws.pattern(l, b, h);
      for (std::size_t i = 0; i < T * T; ++i) out[i] += w * p[i];
    }
  return out;
}

}  // namespace sinkcore
