#pragma once
/// @file layernorm.hpp
/// LayerNorm over rows of width d (population variance, GPT-2's eps 1e-5):
///   y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps).
/// gamma and beta may be null (no affine: the per-head key normalisation). mean and rstd (one per row)
/// are stored for the backward pass when non-null. y may alias x.
/// xsimd kernel: two-pass mean / variance per row (vector accumulators), runs on the calling thread.
#include <cmath>
#include <cstddef>
#include <xsimd/xsimd.hpp>

#include "../config.hpp"

#include <sinkcore/kernels/simd.hpp>
#include "../profile.hpp"

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when xsimd's
// AVX-512 operations are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace sinkcore::kernels {

template <class Arch = xsimd::default_arch>
void layernorm(const float* x, std::size_t ldx, const float* gamma, const float* beta, float* y,
               std::size_t ldy, float* mean, float* rstd, std::size_t rows, std::size_t d,
               float eps = 1e-5f) {
  const profile::zone pz(profile::part::layernorm);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  if (d == 0) return;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    const float mf = simd::sum<Arch>(xr, d) / float(d);
    // Sum of squared deviations.
    const b vm(mf);
    b a0(0.f), a1(0.f);
    std::size_t i = 0;
    for (; i + 2 * W <= d; i += 2 * W) {
      const b u0 = b::load_unaligned(xr + i) - vm, u1 = b::load_unaligned(xr + i + W) - vm;
      a0 = xsimd::fma(u0, u0, a0);
      a1 = xsimd::fma(u1, u1, a1);
    }
    for (; i + W <= d; i += W) {
      const b u = b::load_unaligned(xr + i) - vm;
      a0 = xsimd::fma(u, u, a0);
    }
    float ss = xsimd::hadd(a0 + a1);
    for (; i < d; ++i) ss += (xr[i] - mf) * (xr[i] - mf);
    const float rs = 1.f / std::sqrt(ss / float(d) + eps);
    const b vr(rs);
    i = 0;
    if (gamma && beta) {
      for (; i + W <= d; i += W)
        xsimd::fma((b::load_unaligned(xr + i) - vm) * vr, b::load_unaligned(gamma + i), b::load_unaligned(beta + i))
            .store_unaligned(yr + i);
      for (; i < d; ++i) yr[i] = (xr[i] - mf) * rs * gamma[i] + beta[i];
    } else if (gamma) {
      for (; i + W <= d; i += W)
        ((b::load_unaligned(xr + i) - vm) * vr * b::load_unaligned(gamma + i)).store_unaligned(yr + i);
      for (; i < d; ++i) yr[i] = (xr[i] - mf) * rs * gamma[i];
    } else if (beta) {
      // beta without gamma: y = n + beta.
      for (; i + W <= d; i += W)
        xsimd::fma(b::load_unaligned(xr + i) - vm, vr, b::load_unaligned(beta + i)).store_unaligned(yr + i);
      for (; i < d; ++i) yr[i] = (xr[i] - mf) * rs + beta[i];
    } else {
      for (; i + W <= d; i += W) ((b::load_unaligned(xr + i) - vm) * vr).store_unaligned(yr + i);
      for (; i < d; ++i) yr[i] = (xr[i] - mf) * rs;
    }
    if (mean) mean[r] = mf;
    if (rstd) rstd[r] = rs;
  }
}

/// Backward of layernorm. dx is ACCUMULATED (+=), as the residual stream's gradient flows through it;
/// dgamma and dbeta are accumulated too (may be null when gamma is null).
template <class Arch = xsimd::default_arch>
void layernorm_backward(const float* dy, std::size_t lddy, const float* x, std::size_t ldx,
                        const float* gamma, const float* mean, const float* rstd, float* dx,
                        std::size_t lddx, float* dgamma, float* dbeta, std::size_t rows, std::size_t d) {
  const profile::zone pz(profile::part::layernorm);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  if (d == 0) return;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * lddy;
    const float* xr = x + r * ldx;
    float* dxr = dx + r * lddx;
    const float mu = mean[r], rs = rstd[r];
    const b vm(mu), vr(rs);
    // Pass 1: sum dn, sum dn*n; accumulate dgamma / dbeta.
    b s1(0.f), s2(0.f);
    float t1 = 0.f, t2 = 0.f;
    std::size_t i = 0;
    for (; i + W <= d; i += W) {
      const b n = (b::load_unaligned(xr + i) - vm) * vr;
      const b g = b::load_unaligned(dyr + i);
      const b dn = gamma ? g * b::load_unaligned(gamma + i) : g;
      s1 += dn;
      s2 = xsimd::fma(dn, n, s2);
      if (dgamma) xsimd::fma(g, n, b::load_unaligned(dgamma + i)).store_unaligned(dgamma + i);
      if (dbeta) (b::load_unaligned(dbeta + i) + g).store_unaligned(dbeta + i);
    }
    for (; i < d; ++i) {
      const float n = (xr[i] - mu) * rs;
      const float dn = gamma ? dyr[i] * gamma[i] : dyr[i];
      t1 += dn;
      t2 += dn * n;
      if (dgamma) dgamma[i] += dyr[i] * n;
      if (dbeta) dbeta[i] += dyr[i];
    }
    const float mean_dn = (xsimd::hadd(s1) + t1) / float(d);
    const float mean_dn_n = (xsimd::hadd(s2) + t2) / float(d);
    // Pass 2: dx += rstd * (dn - mean(dn) - n * mean(dn n)).
    const b va(mean_dn), vb(mean_dn_n);
    i = 0;
    for (; i + W <= d; i += W) {
      const b n = (b::load_unaligned(xr + i) - vm) * vr;
      const b g = b::load_unaligned(dyr + i);
      const b dn = gamma ? g * b::load_unaligned(gamma + i) : g;
      xsimd::fma(vr, xsimd::fnma(n, vb, dn - va), b::load_unaligned(dxr + i)).store_unaligned(dxr + i);
    }
    for (; i < d; ++i) {
      const float n = (xr[i] - mu) * rs;
      const float dn = gamma ? dyr[i] * gamma[i] : dyr[i];
      dxr[i] += rs * (dn - mean_dn - n * mean_dn_n);
    }
  }
}

}  // namespace sinkcore::kernels

// This header's default-ISA instances: extern under separate compilation, compiled once (impl/kernels.ipp).
#define SINKCORE_KERNELS_LAYERNORM_INSTANCES(X) \
  X void sinkcore::kernels::layernorm<xsimd::default_arch>(const float*, std::size_t, const float*, const float*, \
      float*, std::size_t, float*, float*, std::size_t, std::size_t, float); \
  X void sinkcore::kernels::layernorm_backward<xsimd::default_arch>(const float*, std::size_t, const float*, \
      std::size_t, const float*, const float*, const float*, float*, std::size_t, float*, float*, std::size_t, \
      std::size_t); \
  static_assert(true)
#if defined(SINKCORE_SEPARATE_COMPILATION)
SINKCORE_KERNELS_LAYERNORM_INSTANCES(extern template);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
