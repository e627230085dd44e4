#pragma once
/// @file gelu.hpp
/// GPT-2's tanh GELU: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). y may alias x.
/// PLACEHOLDER scalar version: to be replaced by an xsimd kernel with the same contract.
#include <cmath>
#include <cstddef>
#include <xsimd/xsimd.hpp>

namespace sinkcore::kernels {

inline constexpr float gelu_k = 0.7978845608028654f;  // sqrt(2/pi)

template <class Arch = xsimd::default_arch>
void gelu(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.f + std::tanh(gelu_k * (v + 0.044715f * v * v * v)));
  }
}

/// dx = dy * gelu'(x); dx is overwritten and may alias dy.
template <class Arch = xsimd::default_arch>
void gelu_backward(const float* x, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = gelu_k * (v + 0.044715f * v * v * v);
    const float t = std::tanh(u);
    const float du = gelu_k * (1.f + 3.f * 0.044715f * v * v);
    dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du);
  }
}

}  // namespace sinkcore::kernels
