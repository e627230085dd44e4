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

/// Horizontal maximum of a batch.
template <class Arch>
inline float hmax(const xsimd::batch<float, Arch>& b) {
  alignas(64) float t[xsimd::batch<float, Arch>::size];
  b.store_aligned(t);
  float m = t[0];
  for (std::size_t i = 1; i < xsimd::batch<float, Arch>::size; ++i) m = std::max(m, t[i]);
  return m;
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

/// sum_i x[i] * y[i]
template <class Arch = xsimd::default_arch>
inline float dot(const float* x, const float* y, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  b a0(0.f), a1(0.f);
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a0 = xsimd::fma(b::load_unaligned(x + i), b::load_unaligned(y + i), a0);
    a1 = xsimd::fma(b::load_unaligned(x + i + W), b::load_unaligned(y + i + W), a1);
  }
  for (; i + W <= n; i += W) a0 = xsimd::fma(b::load_unaligned(x + i), b::load_unaligned(y + i), a0);
  float s = hsum(a0 + a1);
  for (; i < n; ++i) s += x[i] * y[i];
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

/// y[i] += a * x[i]
template <class Arch = xsimd::default_arch>
inline void axpy(float a, const float* x, float* y, std::size_t n) {
  using b = fbatch<Arch>;
  constexpr std::size_t W = b::size;
  const b va(a);
  std::size_t i = 0;
  for (; i + W <= n; i += W) xsimd::fma(va, b::load_unaligned(x + i), b::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += a * x[i];
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
