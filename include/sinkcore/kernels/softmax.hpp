#pragma once
/// @file softmax.hpp
/// Causal softmax over attention score rows, in place. Row i of a T x T block (row stride ld) keeps keys
/// j <= i: P[i][j] = exp(scale*S[i][j] - m_i) / sum_{j'<=i} exp(scale*S[i][j'] - m_i), m_i the row max;
/// entries j > i are set to exactly 0. Row 0 is therefore [1, 0, ..., 0].
/// xsimd kernel (xsimd::exp); runs on the calling thread (callers parallelise over heads / rows).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <xsimd/xsimd.hpp>

#include "../config.hpp"

#include <sinkcore/kernels/simd.hpp>
#include "../profile.hpp"

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when xsimd's
// AVX-512 exp / tanh are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace sinkcore::kernels {

namespace softmax_detail {

/// R consecutive causal rows in place, row q at r0 + q ld with keys [0, n0 + q): r[j] = exp(scale r[j] - m) / s
/// for j < n, 0 for n <= j < T, with m = max(m0, max_j scale r[j]) and s = add(m, sum_j exp(scale r[j] - m))
/// (`add`: the extra terms of softmax + 1 and of an extra slot; the identity for GPT-2's softmax). Stores 1 / s
/// of row q in inv_s[q].
/// No branch depends on n: the partial last vector is read with a masked load (lanes beyond n never read),
/// its lanes beyond n hold -inf (exp gives 0), and it is written back with the zeros after it. The values
/// are those of the scalar-tailed loops this replaced (the same FMAs, exponentials and sums, in the same
/// order: test_kernels compares them bit for bit). 64 heads of 64 rows, one thread, Zen 5: AVX-512
/// 155-180 -> 68-78 us, AVX2 140-150 -> 95-100 us; the old loops' time went mostly to branches on tails
/// whose length changes with every row.
/// The rows go phase by phase (the maxima, their horizontal reductions, the exponentials, the sums'
/// reductions and reciprocals, the weights): each row's chain of dependent steps (about 90 cycles at
/// T = 64) runs beside the others' instead of after them. Four rows at a time, the same values: 64 heads,
/// Zen 5, AVX-512 T = 64 67 -> 48 us, T = 128 187 -> 147 us; AVX2 87 -> 66 and 279 -> 245 us.
template <class Arch, std::size_t R, class Add>
inline void causal_rows(float* r0, std::size_t ld, std::size_t n0, std::size_t T, float scale, float m0, Add&& add,
                        float (&inv_s)[R]) {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  const b vs(scale), ninf(-std::numeric_limits<float>::infinity()), zero(0.f);
  std::size_t nf[R], rem[R];
  b xt[R], vmax[R], et[R], acc[R];
  float m[R];
  decltype(simd::first_lanes<Arch>(0)) tail[R];
  // m = max_j scale * r[j] (scale may be negative, so scale first); the partial vector [nf, n) (rem may be
  // 0: nothing read) with -inf in the lanes beyond n.
#pragma GCC unroll 4
  for (std::size_t q = 0; q < R; ++q) {
    const float* r = r0 + q * ld;
    nf[q] = (n0 + q) / W * W;
    rem[q] = n0 + q - nf[q];
    tail[q] = simd::first_lanes<Arch>(rem[q]);
    xt[q] = simd::load_partial<Arch>(r + nf[q], rem[q]);
    vmax[q] = xsimd::select(tail[q], vs * xt[q], ninf);
    for (std::size_t j = 0; j < nf[q]; j += W) vmax[q] = xsimd::max(vmax[q], vs * b::load_unaligned(r + j));
  }
#pragma GCC unroll 4
  for (std::size_t q = 0; q < R; ++q) m[q] = std::max(m0, simd::hmax<Arch>(vmax[q]));
#pragma GCC unroll 4
  for (std::size_t q = 0; q < R; ++q) {
    float* r = r0 + q * ld;
    const b vm(m[q]);
    acc[q] = b(0.f);
    for (std::size_t j = 0; j < nf[q]; j += W) {
      const b e = xsimd::exp(simd::fms<Arch>(vs, b::load_unaligned(r + j), vm));
      e.store_unaligned(r + j);
      acc[q] += e;
    }
    // Every argument scale * r[j] - m rounded once, as the scalar tail's was (GCC contracted it into an FMA).
    // simd::fms, not xsimd::fms: on AVX-512 the latter is a product and a difference that GCC fuses only
    // where the product has no other use, and vs * xt is also the max's.
    et[q] = xsimd::exp(xsimd::select(tail[q], simd::fms<Arch>(vs, xt[q], vm), ninf));  // 0 beyond n
    acc[q] += et[q];
  }
#pragma GCC unroll 4
  for (std::size_t q = 0; q < R; ++q) inv_s[q] = 1.f / add(m[q], xsimd::hadd(acc[q]));
#pragma GCC unroll 4
  for (std::size_t q = 0; q < R; ++q) {
    float* r = r0 + q * ld;
    const b inv(inv_s[q]);
    for (std::size_t j = 0; j < nf[q]; j += W) (inv * b::load_unaligned(r + j)).store_unaligned(r + j);
    // [nf, T): the partial vector's weights, then zeros.
    std::size_t j = nf[q];
    if (j < T) {
      const b last = xsimd::select(tail[q], inv * et[q], zero);
      if (j + W <= T) last.store_unaligned(r + j);
      else simd::store_partial<Arch>(r + j, last, T - j);
      for (j += W; j + W <= T; j += W) zero.store_unaligned(r + j);
      if (j < T) simd::store_partial<Arch>(r + j, zero, T - j);
    }
  }
}

/// One causal row r[0, T) in place, keys [0, n) (causal_rows); returns 1 / s.
template <class Arch, class Add>
inline float causal_row(float* r, std::size_t n, std::size_t T, float scale, float m0, Add&& add) {
  float inv_s[1];
  causal_rows<Arch, 1>(r, 0, n, T, scale, m0, add, inv_s);
  return inv_s[0];
}

}  // namespace softmax_detail

/// Row i keeps keys j <= i (softmax_detail::causal_rows, four rows at a time).
template <class Arch = xsimd::default_arch>
void causal_softmax(float* S, std::size_t T, std::size_t ld, float scale) {
  const profile::zone pz(profile::part::softmax);
  constexpr float m0 = -std::numeric_limits<float>::infinity();
  auto sum = [](float, float s) { return s; };
  constexpr std::size_t R = 4;
  float inv_s[R];
  std::size_t i = 0;
  for (; i + R <= T; i += R) softmax_detail::causal_rows<Arch, R>(S + i * ld, ld, i + 1, T, scale, m0, sum, inv_s);
  for (; i < T; ++i) softmax_detail::causal_row<Arch>(S + i * ld, i + 1, T, scale, m0, sum);
}

/// Backward of causal_softmax: dS[i][j] = scale * P[i][j] * (dP[i][j] - sum_{k<=i} P[i][k] dP[i][k]) for
/// j <= i, 0 for j > i. dS is overwritten; it may alias dP.
template <class Arch = xsimd::default_arch>
void causal_softmax_backward(const float* P, const float* dP, float* dS, std::size_t T, std::size_t ld,
                             float scale) {
  const profile::zone pz(profile::part::softmax);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  for (std::size_t i = 0; i < T; ++i) {
    const float* p = P + i * ld;
    const float* dp = dP + i * ld;
    float* ds = dS + i * ld;
    const std::size_t n = i + 1;
    const float dot = simd::dot<Arch>(p, dp, n);
    const b vs(scale), vd(dot);
    std::size_t j = 0;
    for (; j + W <= n; j += W) {
      const b pv = b::load_unaligned(p + j);
      (vs * pv * (b::load_unaligned(dp + j) - vd)).store_unaligned(ds + j);
    }
    for (; j < n; ++j) ds[j] = scale * p[j] * (dp[j] - dot);
    std::fill(ds + n, ds + T, 0.f);
  }
}

}  // namespace sinkcore::kernels

// This header's default-ISA instances: extern under separate compilation, compiled once (impl/kernels.ipp).
#define SINKCORE_KERNELS_SOFTMAX_INSTANCES(X) \
  X void sinkcore::kernels::causal_softmax<xsimd::default_arch>(float*, std::size_t, std::size_t, float); \
  X void sinkcore::kernels::causal_softmax_backward<xsimd::default_arch>(const float*, const float*, float*, \
      std::size_t, std::size_t, float); \
  static_assert(true)
#if defined(SINKCORE_SEPARATE_COMPILATION)
SINKCORE_KERNELS_SOFTMAX_INSTANCES(extern template);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
