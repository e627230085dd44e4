#pragma once
/// @file rope.hpp
/// Rotary position embedding (Su et al. 2021), "half-split" pairing as in GPT-NeoX / Llama:
/// within each head of size hd, coordinate i < hd/2 pairs with i + hd/2 and, at position t, the pair is
/// rotated by angle t * theta_i, theta_i = base^(-2i/hd):
///   x'[i]        = x[i] cos - x[i+hd/2] sin
///   x'[i+hd/2]   = x[i] sin + x[i+hd/2] cos
/// Rows are positions 0..T-1 (row stride ld), each row holds `heads` heads of hd contiguous floats.
/// inverse = true applies the transposed rotation (angle -t*theta_i): the backward pass. Position 0 is
/// the identity.
/// PLACEHOLDER scalar version: to be replaced by an xsimd kernel with the same contract.
#include <cmath>
#include <cstddef>
#include <xsimd/xsimd.hpp>

namespace sinkcore::kernels {

template <class Arch = xsimd::default_arch>
void rope(float* x, std::size_t T, std::size_t ld, std::size_t heads, std::size_t hd, float base,
          bool inverse = false) {
  const std::size_t half = hd / 2;
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t i = 0; i < half; ++i) {
      const double theta = std::pow(double(base), -2.0 * double(i) / double(hd));
      const double ang = double(t) * theta;
      const float c = float(std::cos(ang)), s = inverse ? -float(std::sin(ang)) : float(std::sin(ang));
      for (std::size_t h = 0; h < heads; ++h) {
        float* p = x + t * ld + h * hd;
        const float a = p[i], b = p[i + half];
        p[i] = a * c - b * s;
        p[i + half] = a * s + b * c;
      }
    }
}

}  // namespace sinkcore::kernels
