#pragma once
/// @file simd.hpp
/// Small shared xsimd helpers for the kernels (templated on the xsimd architecture, unaligned user
/// memory, scalar tails). xsimd 8.1 has no reduce_add / reduce_max: horizontal sums use xsimd::hadd.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <xsimd/xsimd.hpp>

#if defined(__AVX__)
#include <immintrin.h>
#endif

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when xsimd's
// AVX-512 operations are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace sinkcore::kernels::simd {

template <class Arch = xsimd::default_arch>
using fbatch = xsimd::batch<float, Arch>;

/// Horizontal sum of a batch.
template <class Arch>
inline float hsum(const xsimd::batch<float, Arch>& b) {
  return xsimd::hadd(b);
}

/// Horizontal maximum of a batch: halves folded onto each other (log2 W steps; a maximum is the same in
/// any order, the sign of a zero maximum aside). A NaN lane may or may not win.
template <class Arch>
inline float hmax(const xsimd::batch<float, Arch>& b) {
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
#if defined(__AVX512F__)
  if constexpr (W == 16) {
    const __m512 v = b;
    const __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v),  // the upper half with AVX512F alone (no DQ)
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 q = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 e = _mm_max_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_max_ss(e, _mm_shuffle_ps(e, e, 1)));
  }
#endif
#if defined(__AVX__)
  if constexpr (W == 8) {
    const __m256 v = b;
    const __m128 q = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 e = _mm_max_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_max_ss(e, _mm_shuffle_ps(e, e, 1)));
  }
#endif
  alignas(64) float t[W];
  b.store_aligned(t);
  float m = t[0];
  for (std::size_t i = 1; i < W; ++i) m = std::max(m, t[i]);
  return m;
}

/// x * y + z rounded once wherever the CPU has FMA, whatever the compiler's contraction setting (xsimd
/// 8.1's fma is x * y + z on AVX-512 and on the plain avx2 / sse architectures, fused only where GCC
/// contracts it, which -ffp-contract=off and instrumented builds do not do everywhere). Without FMA:
/// xsimd::fma (two roundings). The GEMM accumulates with it, so its paths agree in every build.
template <class Arch>
inline xsimd::batch<float, Arch> fma(const xsimd::batch<float, Arch>& x, const xsimd::batch<float, Arch>& y,
                                     const xsimd::batch<float, Arch>& z) {
  [[maybe_unused]] constexpr std::size_t W = xsimd::batch<float, Arch>::size;  // unused without FMA
#if defined(__AVX512F__)
  if constexpr (W == 16) return _mm512_fmadd_ps(x, y, z);
#endif
#if defined(__FMA__)
  if constexpr (W == 8) return _mm256_fmadd_ps(x, y, z);
  if constexpr (W == 4) return _mm_fmadd_ps(x, y, z);
#endif
  return xsimd::fma(x, y, z);
}

/// x * y - z, rounded as simd::fma rounds: fma(x, y, -z) (negating z is exact, and so is x * y + (-z) ==
/// x * y - z without FMA). The causal softmax's exponents use it: xsimd 8.1's fms is a product and a
/// difference that GCC does not fuse where the product is also used elsewhere.
template <class Arch>
inline xsimd::batch<float, Arch> fms(const xsimd::batch<float, Arch>& x, const xsimd::batch<float, Arch>& y,
                                     const xsimd::batch<float, Arch>& z) {
  return simd::fma<Arch>(x, y, -z);
}

/// The scalar x * y + z rounded as simd::fma rounds each lane: once where the build has FMA (std::fma is
/// then one instruction), twice otherwise.
inline float fma1(float x, float y, float z) {
#if defined(__FMA__) || defined(__AVX512F__)
  return std::fma(x, y, z);
#else
  const float p = x * y;  // two roundings, as xsimd::fma without FMA
  return p + z;
#endif
}

/// Lanes [0, n) true, the others false (n <= W).
template <class Arch = xsimd::default_arch>
inline xsimd::batch_bool<float, Arch> first_lanes(std::size_t n) {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  alignas(64) static constexpr float lane[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  static_assert(W <= 16);
  return b::load_aligned(lane) < b(float(n));
}

/// Stores lanes [0, n) of x at p (unaligned, n < W); memory from p[n] on is neither read nor written.
template <class Arch = xsimd::default_arch>
inline void store_partial(float* p, const xsimd::batch<float, Arch>& x, std::size_t n) {
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
#if defined(__AVX512F__)
  if constexpr (W == 16) {
    _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1u), x);
    return;
  }
#endif
#if defined(__AVX2__)
  if constexpr (W == 8) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane), x);
    return;
  }
#endif
  alignas(64) float t[W];
  x.store_aligned(t);
  for (std::size_t i = 0; i < n; ++i) p[i] = t[i];
}

/// The first n < W floats at p (unaligned), zeros in the other lanes; memory beyond p[n - 1] is not read.
/// AVX-512 and AVX read with a masked load (a masked-off lane never faults), others lane by lane. A short
/// copy loop would become a call to memcpy (GCC), which costs more than the copy for a few floats.
template <class Arch = xsimd::default_arch>
inline xsimd::batch<float, Arch> load_partial(const float* p, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
#if defined(__AVX512F__)
  if constexpr (W == 16) return b(_mm512_maskz_loadu_ps(__mmask16((1u << n) - 1u), p));
#endif
#if defined(__AVX__)
  if constexpr (W == 8) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return b(_mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane)));
  }
#endif
  alignas(64) float t[W];
  for (std::size_t i = 0; i < W; ++i) t[i] = i < n ? p[i] : 0.f;
  return b::load_aligned(t);
}

namespace detail {
/// add_column_sums on the columns [0, NV W) at x: NV running sums in registers.
template <class Arch, std::size_t NV>
inline void add_column_block(const float* x, std::size_t ldx, std::size_t rows, float* sums) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  b acc[NV];
#pragma GCC unroll 8
  for (std::size_t v = 0; v < NV; ++v) acc[v] = b::load_unaligned(sums + v * W);
  for (std::size_t r = 0; r < rows; ++r, x += ldx)
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) acc[v] += b::load_unaligned(x + v * W);
#pragma GCC unroll 8
  for (std::size_t v = 0; v < NV; ++v) acc[v].store_unaligned(sums + v * W);
}
}  // namespace detail

/// sums[c] += x[0][c] + x[1][c] + ... + x[rows - 1][c], added in that order (each column's own chain), c <
/// cols; row stride ldx. A linear layer's bias gradient (the rows of d loss / d y). The running sums stay in
/// registers, up to eight vectors of columns per pass over the rows (then blocks of 4, 2 and 1 vectors):
/// row by row into sums in memory, every vector of columns was a chain through a store and a load per row
/// (the tiny model's bias gradients of 128 columns, 1024 rows, Zen 5: AVX-512 8.7 -> 2.0 us, AVX2 9.2 ->
/// 3.5 us). Rows wider than eight vectors whose block is beyond 512 KiB are added row by row into sums, read
/// once in order: they come from the L3 at its bandwidth either way (512 columns: 19 us; 23 us in passes of
/// columns). The same values either way.
template <class Arch = xsimd::default_arch>
inline void add_column_sums(const float* x, std::size_t ldx, std::size_t rows, std::size_t cols, float* sums) {
  constexpr std::size_t W = fbatch<Arch>::size;
  if (cols > 8 * W && rows * cols > (std::size_t(128) << 10)) {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) sums[c] += x[r * ldx + c];
    return;
  }
  const std::size_t nv = cols / W;  // whole vectors of columns: blocks of 8, then at most one of 4, 2 and 1
  std::size_t v = 0;
  for (; v + 8 <= nv; v += 8) detail::add_column_block<Arch, 8>(x + v * W, ldx, rows, sums + v * W);
  if (v + 4 <= nv) {
    detail::add_column_block<Arch, 4>(x + v * W, ldx, rows, sums + v * W);
    v += 4;
  }
  if (v + 2 <= nv) {
    detail::add_column_block<Arch, 2>(x + v * W, ldx, rows, sums + v * W);
    v += 2;
  }
  if (v < nv) detail::add_column_block<Arch, 1>(x + v * W, ldx, rows, sums + v * W);
  for (std::size_t c = nv * W; c < cols; ++c) {
    float s = sums[c];
    for (std::size_t r = 0; r < rows; ++r) s += x[r * ldx + c];
    sums[c] = s;
  }
}

/// sum_i x[i]
template <class Arch = xsimd::default_arch>
inline float sum(const float* x, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  b a0(0.f), a1(0.f);
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a0 += b::load_unaligned(x + i);
    a1 += b::load_unaligned(x + i + W);
  }
  for (; i + W <= n; i += W) a0 += b::load_unaligned(x + i);
  float s = hsum(a0 + a1);
  for (; i < n; ++i) s += x[i];
  return s;
}

/// sum_i x[i] * y[i]: every product added with one rounding (simd::fma, fma1), in any build. Written as
/// x * y + z, its rounding was the compiler's: twice at -O0, under AddressSanitizer or with
/// -ffp-contract=off, and in an optimised build once or twice depending on whether GCC vectorised the
/// tail's products (so the causal softmax's backward pass, which calls it, differed between builds).
template <class Arch = xsimd::default_arch>
inline float dot(const float* x, const float* y, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  b a0(0.f), a1(0.f);
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a0 = simd::fma<Arch>(b::load_unaligned(x + i), b::load_unaligned(y + i), a0);
    a1 = simd::fma<Arch>(b::load_unaligned(x + i + W), b::load_unaligned(y + i + W), a1);
  }
  for (; i + W <= n; i += W) a0 = simd::fma<Arch>(b::load_unaligned(x + i), b::load_unaligned(y + i), a0);
  float s = hsum(a0 + a1);
  for (; i < n; ++i) s = fma1(x[i], y[i], s);
  return s;
}

/// max_i x[i] (n >= 1)
template <class Arch = xsimd::default_arch>
inline float max(const float* x, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  float m = x[0];
  std::size_t i = 0;
  if (n >= W) {
    b v = b::load_unaligned(x);
    for (i = W; i + W <= n; i += W) v = xsimd::max(v, b::load_unaligned(x + i));
    m = hmax(v);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

/// y[i] += a * x[i], rounded once (fma1) in any build, as dot.
template <class Arch = xsimd::default_arch>
inline void axpy(float a, const float* x, float* y, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  const b va(a);
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    simd::fma<Arch>(va, b::load_unaligned(x + i), b::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = fma1(a, x[i], y[i]);
}

/// x[i] *= a
template <class Arch = xsimd::default_arch>
inline void scale(float a, float* x, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  const b va(a);
  std::size_t i = 0;
  for (; i + W <= n; i += W) (va * b::load_unaligned(x + i)).store_unaligned(x + i);
  for (; i < n; ++i) x[i] *= a;
}

/// x[i] = 0
inline void zero(float* x, std::size_t n) { std::fill(x, x + n, 0.f); }

}  // namespace sinkcore::kernels::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
