#pragma once
/// @file softmax.hpp
/// Causal softmax over attention score rows, in place. Row i of a T x T block (row stride ld) keeps keys
/// j <= i: P[i][j] = exp(scale*S[i][j] - m_i) / sum_{j'<=i} exp(scale*S[i][j'] - m_i), m_i the row max;
/// entries j > i are set to exactly 0. Row 0 is therefore [1, 0, ..., 0].
/// PLACEHOLDER scalar version: to be replaced by an xsimd kernel with the same contract.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <xsimd/xsimd.hpp>

namespace sinkcore::kernels {

template <class Arch = xsimd::default_arch>
void causal_softmax(float* S, std::size_t T, std::size_t ld, float scale) {
  for (std::size_t i = 0; i < T; ++i) {
    float* r = S + i * ld;
    float m = -INFINITY;
    for (std::size_t j = 0; j <= i; ++j) m = std::max(m, scale * r[j]);
    float s = 0.f;
    for (std::size_t j = 0; j <= i; ++j) s += (r[j] = std::exp(scale * r[j] - m));
    const float inv = 1.f / s;
    for (std::size_t j = 0; j <= i; ++j) r[j] *= inv;
    for (std::size_t j = i + 1; j < T; ++j) r[j] = 0.f;
  }
}

/// Backward of causal_softmax: dS[i][j] = scale * P[i][j] * (dP[i][j] - sum_{k<=i} P[i][k] dP[i][k]) for
/// j <= i, 0 for j > i. dS is overwritten; it may alias dP.
template <class Arch = xsimd::default_arch>
void causal_softmax_backward(const float* P, const float* dP, float* dS, std::size_t T, std::size_t ld,
                             float scale) {
  for (std::size_t i = 0; i < T; ++i) {
    const float* p = P + i * ld;
    const float* dp = dP + i * ld;
    float* ds = dS + i * ld;
    float dot = 0.f;
    for (std::size_t j = 0; j <= i; ++j) dot += p[j] * dp[j];
    for (std::size_t j = 0; j <= i; ++j) ds[j] = scale * p[j] * (dp[j] - dot);
    for (std::size_t j = i + 1; j < T; ++j) ds[j] = 0.f;
  }
}

}  // namespace sinkcore::kernels
