#pragma once
/// @file optimizer.hpp
/// AdamW over one contiguous float parameter buffer, and global gradient-norm clipping.
///
/// The buffer is described by ranges {offset, size, trainable, decay} (e.g. one per tensor of the model's
/// parameter layout): trainable ranges are updated, frozen ranges and elements in no range are never
/// touched, and decoupled weight decay applies only to ranges with decay = true (GPT-2 practice: matrices
/// decay, biases / LayerNorm gains / embeddings as chosen by the caller).
///
/// Update at step t = 1, 2, ... (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
/// Algorithm 2, with Adam's bias correction, Kingma & Ba 2015; identical to torch.optim.AdamW):
///   m_t = beta1 m_{t-1} + (1 - beta1) g
///   v_t = beta2 v_{t-1} + (1 - beta2) g^2
///   p  <- p (1 - lr wd)                                        (decayed ranges only)
///   p  <- p - lr (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)
/// The inner loop runs on xsimd::batch<float, Arch> with unaligned loads, OpenMP over fixed chunks.
///
/// Clipping (as torch.nn.utils.clip_grad_norm_): norm = sqrt(sum g^2) over trainable ranges, accumulated
/// in double per fixed chunk and the chunks summed in order, so the result does not depend on the number
/// of threads; when norm > max_norm every trainable gradient is scaled by max_norm / (norm + 1e-6).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "sinkcore/error.hpp"

namespace sinkcore::train {

/// A slice of the parameter buffer and how the optimizer treats it.
struct param_range {
  std::size_t offset = 0;
  std::size_t size = 0;
  bool trainable = true;  ///< false: frozen, never read or written by step() or clipping
  bool decay = true;      ///< decoupled weight decay (only meaningful when trainable)
};

/// AdamW hyper-parameters other than the learning rate (which comes from the schedule at each step).
/// Defaults: GPT-2 / nanoGPT practice (beta2 = 0.95, weight decay 0.1).
struct adamw_options {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

namespace detail {

// GCC 12 warns "'__Y' may be used uninitialized" inside avx512fintrin.h's _mm512_sqrt_ps (its
// _mm512_undefined_ps idiom; GCC bug 105593), a false positive: silenced for this one call.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class Arch>
inline xsimd::batch<float, Arch> batch_sqrt(const xsimd::batch<float, Arch>& x) noexcept {
  return xsimd::sqrt(x);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// A piece of one trainable range, at most `chunk_elements` long: the unit of OpenMP work.
struct param_chunk {
  std::size_t offset, size;
  bool decay;
};

inline constexpr std::size_t chunk_elements = std::size_t{1} << 15;

/// Validates ranges against a buffer of n floats and cuts the trainable ones into chunks.
/// Throws sinkcore::error when a range exceeds the buffer or two ranges overlap.
inline std::vector<param_chunk> plan_chunks(std::size_t n, std::span<const param_range> ranges) {
  std::vector<param_range> sorted(ranges.begin(), ranges.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& r = sorted[i];
    if (r.offset > n || r.size > n - r.offset)
      throw error("optimizer: parameter range [" + std::to_string(r.offset) + ", " + std::to_string(r.offset + r.size) +
                  ") exceeds the buffer of " + std::to_string(n) + " floats");
    if (i > 0 && sorted[i - 1].offset + sorted[i - 1].size > r.offset)
      throw error("optimizer: parameter ranges starting at " + std::to_string(sorted[i - 1].offset) + " and " +
                  std::to_string(r.offset) + " overlap");
  }
  std::vector<param_chunk> chunks;
  for (const auto& r : sorted) {
    if (!r.trainable) continue;
    for (std::size_t o = 0; o < r.size; o += chunk_elements)
      chunks.push_back({r.offset + o, std::min(chunk_elements, r.size - o), r.decay});
  }
  return chunks;
}

/// Sum of squares of g[0, n) in double: element i into chain i % 4 while a whole group of four remains, the
/// rest into chain 0, the chains summed as (0 + 1) + (2 + 3).
inline double sum_squares(const float* g, std::size_t n) noexcept {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (std::size_t k = 0; k < 4; ++k) acc[k] += static_cast<double>(g[i + k]) * static_cast<double>(g[i + k]);
  for (; i < n; ++i) acc[0] += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/// sum_squares of G slices at once, each to the bit what sum_squares returns for it: one slice's four
/// chains are a single dependent sequence of double additions (about one element per cycle, 188 us for the
/// tiny model's 0.84 M gradients on a Zen 5), G slices side by side are G such sequences in flight. Their
/// common length runs interleaved, a slice's four chains the lanes of one vector of four doubles (GCC's
/// vector extension: one register with AVX2; AVX-512 code that paired two slices per register was slower),
/// then each slice's remainder alone. A float squared in double is exact, so a contracted FMA rounds alike.
template <std::size_t G>
inline void sum_squares_group(const float* const (&g)[G], const std::size_t (&n)[G], double (&out)[G]) noexcept {
  typedef float f4 __attribute__((vector_size(16)));
  typedef double d4 __attribute__((vector_size(32)));
  d4 acc[G];
  for (std::size_t c = 0; c < G; ++c) acc[c] = d4{0.0, 0.0, 0.0, 0.0};
  std::size_t common = n[0] / 4 * 4;
  for (std::size_t c = 1; c < G; ++c) common = std::min(common, n[c] / 4 * 4);
  for (std::size_t i = 0; i < common; i += 4)
#pragma GCC unroll 8
    for (std::size_t c = 0; c < G; ++c) {
      f4 x;
      std::memcpy(&x, g[c] + i, sizeof x);
      const d4 y = __builtin_convertvector(x, d4);
      acc[c] += y * y;
    }
  for (std::size_t c = 0; c < G; ++c) {
    double a[4] = {acc[c][0], acc[c][1], acc[c][2], acc[c][3]};
    std::size_t i = common;
    for (; i + 4 <= n[c]; i += 4)
      for (std::size_t k = 0; k < 4; ++k) a[k] += static_cast<double>(g[c][i + k]) * static_cast<double>(g[c][i + k]);
    for (; i < n[c]; ++i) a[0] += static_cast<double>(g[c][i]) * static_cast<double>(g[c][i]);
    out[c] = (a[0] + a[1]) + (a[2] + a[3]);
  }
}

inline double grad_norm(const float* grads, const std::vector<param_chunk>& chunks) {
  // Each chunk's sum is sum_squares of it; the chunks are summed in their order, so neither the thread
  // count nor the grouping below changes the result. Groups of four chunks of similar size (sorted by size)
  // run their sums side by side (sum_squares_group).
  constexpr std::size_t G = 4;
  std::vector<double> partial(chunks.size());
  std::vector<std::size_t> order(chunks.size());
  for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return chunks[a].size > chunks[b].size; });
  const auto ng = static_cast<std::ptrdiff_t>(order.size() / G);
#pragma omp parallel for schedule(static) if (ng > 1)
  for (std::ptrdiff_t q = 0; q < ng; ++q) {
    const float* g[G];
    std::size_t n[G];
    double out[G];
    for (std::size_t c = 0; c < G; ++c) {
      const param_chunk& ch = chunks[order[std::size_t(q) * G + c]];
      g[c] = grads + ch.offset;
      n[c] = ch.size;
    }
    sum_squares_group(g, n, out);
    for (std::size_t c = 0; c < G; ++c) partial[order[std::size_t(q) * G + c]] = out[c];
  }
  for (std::size_t c = std::size_t(ng) * G; c < order.size(); ++c)
    partial[order[c]] = sum_squares(grads + chunks[order[c]].offset, chunks[order[c]].size);
  double s = 0.0;
  for (double p : partial) s += p;  // fixed order: independent of the thread count
  return std::sqrt(s);
}

inline double clip_grad_norm(float* grads, const std::vector<param_chunk>& chunks, double max_norm) {
  const double norm = grad_norm(grads, chunks);
  if (norm > max_norm) {
    const float scale = static_cast<float>(max_norm / (norm + 1e-6));
    const auto nc = static_cast<std::ptrdiff_t>(chunks.size());
#pragma omp parallel for schedule(static) if (nc > 1)
    for (std::ptrdiff_t c = 0; c < nc; ++c) {
      float* g = grads + chunks[c].offset;
      for (std::size_t i = 0; i < chunks[c].size; ++i) g[i] *= scale;
    }
  }
  return norm;
}

}  // namespace detail

/// Global L2 norm of the gradient over the trainable ranges (double accumulation, thread-count independent).
/// @pre grads has at least max(offset + size) floats; ranges do not overlap.
inline double grad_norm(const float* grads, std::size_t n, std::span<const param_range> ranges) {
  return detail::grad_norm(grads, detail::plan_chunks(n, ranges));
}

/// Clips the gradient in place to global norm max_norm (torch.nn.utils.clip_grad_norm_ semantics) and
/// returns the norm before clipping. Frozen ranges are not touched.
inline double clip_grad_norm(float* grads, std::size_t n, std::span<const param_range> ranges, double max_norm) {
  return detail::clip_grad_norm(grads, detail::plan_chunks(n, ranges), max_norm);
}

/// AdamW with its moment buffers, laid out like the parameter buffer.
/// @code
///   sinkcore::train::adamw<> opt(params.size(), layout_ranges, {.weight_decay = 0.1f});
///   double norm = opt.clip_grad_norm(grads.data(), 1.0);
///   opt.step(params.data(), grads.data(), schedule(opt.step_count()));
/// @endcode
template <class Arch = xsimd::default_arch>
class adamw {
 public:
  /// @pre ranges lie inside [0, n_params) and do not overlap (throws sinkcore::error otherwise).
  /// @post m and v are n_params zeros, step_count() == 0.
  adamw(std::size_t n_params, std::vector<param_range> ranges, adamw_options options = {})
      : n_(n_params), ranges_(std::move(ranges)), opt_(options), chunks_(detail::plan_chunks(n_, ranges_)),
        m_(n_params, 0.f), v_(n_params, 0.f) {}

  /// One AdamW step at learning rate lr; increments step_count() first (so the first step is t = 1).
  /// @pre params and grads hold n_params floats; grads are not modified.
  void step(float* params, const float* grads, float lr) {
    ++t_;
    const double bc1 = 1.0 - std::pow(static_cast<double>(opt_.beta1), static_cast<double>(t_));
    const double bc2 = 1.0 - std::pow(static_cast<double>(opt_.beta2), static_cast<double>(t_));
    // p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), the form torch uses.
    const float step_size = static_cast<float>(static_cast<double>(lr) / bc1);
    const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    const float decay_factor = static_cast<float>(1.0 - static_cast<double>(lr) * static_cast<double>(opt_.weight_decay));
    const auto nc = static_cast<std::ptrdiff_t>(chunks_.size());
#pragma omp parallel for schedule(static) if (nc > 1)
    for (std::ptrdiff_t c = 0; c < nc; ++c) {
      const auto& ch = chunks_[c];
      update(params + ch.offset, grads + ch.offset, m_.data() + ch.offset, v_.data() + ch.offset, ch.size,
             ch.decay ? decay_factor : 1.f, step_size, inv_sqrt_bc2);
    }
  }

  /// clip_grad_norm over this optimizer's trainable ranges; returns the norm before clipping.
  double clip_grad_norm(float* grads, double max_norm) const { return detail::clip_grad_norm(grads, chunks_, max_norm); }
  double grad_norm(const float* grads) const { return detail::grad_norm(grads, chunks_); }

  // State for checkpoints: m, v (same layout as the parameters) and the step count t.
  std::span<float> m() noexcept { return m_; }
  std::span<float> v() noexcept { return v_; }
  std::span<const float> m() const noexcept { return m_; }
  std::span<const float> v() const noexcept { return v_; }
  std::uint64_t step_count() const noexcept { return t_; }
  void set_step_count(std::uint64_t t) noexcept { t_ = t; }

  std::size_t size() const noexcept { return n_; }
  const std::vector<param_range>& ranges() const noexcept { return ranges_; }
  const adamw_options& options() const noexcept { return opt_; }

 private:
  void update(float* p, const float* g, float* m, float* v, std::size_t n, float decay, float step_size,
              float inv_sqrt_bc2) const noexcept {
    using b = xsimd::batch<float, Arch>;
    constexpr std::size_t W = b::size;
    const float b1 = opt_.beta1, b2 = opt_.beta2, eps = opt_.eps;
    const float one_b1 = 1.f - b1, one_b2 = 1.f - b2;
    const b vb1(b1), vb2(b2), v1b1(one_b1), v1b2(one_b2), veps(eps), vdecay(decay), vstep(step_size),
        vinv(inv_sqrt_bc2);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
      const b gi = b::load_unaligned(g + i);
      const b mi = vb1 * b::load_unaligned(m + i) + v1b1 * gi;
      const b vi = vb2 * b::load_unaligned(v + i) + v1b2 * gi * gi;
      const b pi = b::load_unaligned(p + i) * vdecay - vstep * mi / (detail::batch_sqrt(vi) * vinv + veps);
      mi.store_unaligned(m + i);
      vi.store_unaligned(v + i);
      pi.store_unaligned(p + i);
    }
    for (; i < n; ++i) {
      const float gi = g[i];
      m[i] = b1 * m[i] + one_b1 * gi;
      v[i] = b2 * v[i] + one_b2 * gi * gi;
      p[i] = p[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  }

  std::size_t n_;
  std::vector<param_range> ranges_;
  adamw_options opt_;
  std::vector<detail::param_chunk> chunks_;
  std::vector<float> m_, v_;
  std::uint64_t t_ = 0;
};

}  // namespace sinkcore::train
