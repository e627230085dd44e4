#pragma once
/// @file gelu.hpp
/// GPT-2's tanh GELU: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). y may alias x.
/// xsimd kernel (xsimd::tanh); tails go through a padded vector so every element uses the same code.
#include <cmath>
#include <cstddef>
#include <xsimd/xsimd.hpp>

#include "../config.hpp"
#include "../profile.hpp"

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when xsimd's
// AVX-512 exp / tanh are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace sinkcore::kernels {

inline constexpr float gelu_k = 0.7978845608028654f;  // sqrt(2/pi)

namespace gelu_detail {

template <class Arch>
inline xsimd::batch<float, Arch> gelu_fwd(const xsimd::batch<float, Arch>& v) {
  using b = xsimd::batch<float, Arch>;
  const b k(gelu_k), c(0.044715f), half(0.5f), one(1.f);
  const b u = k * xsimd::fma(c * v * v, v, v);
  return half * v * (one + xsimd::tanh(u));
}

template <class Arch>
inline xsimd::batch<float, Arch> gelu_grad(const xsimd::batch<float, Arch>& v) {
  using b = xsimd::batch<float, Arch>;
  const b k(gelu_k), c(0.044715f), c3(3.f * 0.044715f), half(0.5f), one(1.f);
  const b v2 = v * v;
  const b t = xsimd::tanh(k * xsimd::fma(c * v2, v, v));
  const b du = k * xsimd::fma(c3, v2, one);
  return half * (one + t) + half * v * xsimd::fnma(t, t, one) * du;
}

}  // namespace gelu_detail

template <class Arch = xsimd::default_arch>
void gelu(const float* x, float* y, std::size_t n) {
  const profile::zone pz(profile::part::gelu);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) gelu_detail::gelu_fwd<Arch>(b::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float t[W] = {};
    const std::size_t rem = n - i;
    for (std::size_t q = 0; q < rem; ++q) t[q] = x[i + q];
    gelu_detail::gelu_fwd<Arch>(b::load_aligned(t)).store_aligned(t);
    for (std::size_t q = 0; q < rem; ++q) y[i + q] = t[q];
  }
}

/// dx = dy * gelu'(x); dx is overwritten and may alias dy.
template <class Arch = xsimd::default_arch>
void gelu_backward(const float* x, const float* dy, float* dx, std::size_t n) {
  const profile::zone pz(profile::part::gelu);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    (b::load_unaligned(dy + i) * gelu_detail::gelu_grad<Arch>(b::load_unaligned(x + i))).store_unaligned(dx + i);
  if (i < n) {
    alignas(64) float t[W] = {};
    const std::size_t rem = n - i;
    for (std::size_t q = 0; q < rem; ++q) t[q] = x[i + q];
    gelu_detail::gelu_grad<Arch>(b::load_aligned(t)).store_aligned(t);
    for (std::size_t q = 0; q < rem; ++q) dx[i + q] = dy[i + q] * t[q];
  }
}

}  // namespace sinkcore::kernels

// This header's default-ISA instances: extern under separate compilation, compiled once (impl/kernels.ipp).
#define SINKCORE_KERNELS_GELU_INSTANCES(X) \
  X void sinkcore::kernels::gelu<xsimd::default_arch>(const float*, float*, std::size_t); \
  X void sinkcore::kernels::gelu_backward<xsimd::default_arch>(const float*, const float*, float*, std::size_t); \
  static_assert(true)
#if defined(SINKCORE_SEPARATE_COMPILATION)
SINKCORE_KERNELS_GELU_INSTANCES(extern template);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
