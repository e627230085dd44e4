#pragma once
/// @file layernorm.hpp
/// LayerNorm over rows of width d (population variance, GPT-2's eps 1e-5):
///   y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps).
/// gamma and beta may be null (no affine: the per-head key normalisation). mean and rstd (one per row)
/// are stored for the backward pass when non-null. y may alias x.
/// PLACEHOLDER scalar version: to be replaced by an xsimd kernel with the same contract.
#include <cmath>
#include <cstddef>
#include <xsimd/xsimd.hpp>

namespace sinkcore::kernels {

template <class Arch = xsimd::default_arch>
void layernorm(const float* x, std::size_t ldx, const float* gamma, const float* beta, float* y,
               std::size_t ldy, float* mean, float* rstd, std::size_t rows, std::size_t d,
               float eps = 1e-5f) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    double m = 0;
    for (std::size_t i = 0; i < d; ++i) m += xr[i];
    m /= double(d);
    double v = 0;
    for (std::size_t i = 0; i < d; ++i) v += (xr[i] - m) * (xr[i] - m);
    v /= double(d);
    const float rs = float(1.0 / std::sqrt(v + eps));
    const float mf = float(m);
    for (std::size_t i = 0; i < d; ++i) {
      float n = (xr[i] - mf) * rs;
      yr[i] = gamma ? n * gamma[i] + (beta ? beta[i] : 0.f) : n;
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
  for (std::size_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * lddy;
    const float* xr = x + r * ldx;
    float* dxr = dx + r * lddx;
    float mean_dn = 0.f, mean_dn_n = 0.f;
    for (std::size_t i = 0; i < d; ++i) {
      const float n = (xr[i] - mean[r]) * rstd[r];
      const float dn = gamma ? dyr[i] * gamma[i] : dyr[i];
      mean_dn += dn;
      mean_dn_n += dn * n;
      if (dgamma) dgamma[i] += dyr[i] * n;
      if (dbeta) dbeta[i] += dyr[i];
    }
    mean_dn /= float(d);
    mean_dn_n /= float(d);
    for (std::size_t i = 0; i < d; ++i) {
      const float n = (xr[i] - mean[r]) * rstd[r];
      const float dn = gamma ? dyr[i] * gamma[i] : dyr[i];
      dxr[i] += rstd[r] * (dn - mean_dn - n * mean_dn_n);
    }
  }
}

}  // namespace sinkcore::kernels
