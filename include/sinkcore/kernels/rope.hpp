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
/// xsimd kernel. cos / sin are computed in double and rounded to float (as the scalar reference), and
/// cached per thread for the last (hd, base) so repeated calls (every layer, every step) skip the trig.
#include <cmath>
#include <cstddef>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "../config.hpp"

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when xsimd's
// AVX-512 operations are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace sinkcore::kernels {

namespace rope_detail {

struct table {
  std::size_t hd = 0, T = 0;
  float base = 0.f;
  std::vector<float> cs, sn;  // T x hd/2
  void ensure(std::size_t T_, std::size_t hd_, float base_) {
    if (hd_ == hd && base_ == base && T_ <= T) return;
    if (hd_ != hd || base_ != base) T = 0;
    const std::size_t half = hd_ / 2;
    cs.resize(T_ * half);
    sn.resize(T_ * half);
    for (std::size_t i = 0; i < half; ++i) {
      const double theta = std::pow(double(base_), -2.0 * double(i) / double(hd_));
      for (std::size_t t = T; t < T_; ++t) {
        const double ang = double(t) * theta;
        cs[t * half + i] = float(std::cos(ang));
        sn[t * half + i] = float(std::sin(ang));
      }
    }
    hd = hd_;
    base = base_;
    T = T_;
  }
};

inline table& cache() {
  static thread_local table t;
  return t;
}

}  // namespace rope_detail

template <class Arch = xsimd::default_arch>
void rope(float* x, std::size_t T, std::size_t ld, std::size_t heads, std::size_t hd, float base,
          bool inverse = false) {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  const std::size_t half = hd / 2;
  if (T == 0 || half == 0) return;
  auto& tab = rope_detail::cache();
  tab.ensure(T, hd, base);
  const float sgn = inverse ? -1.f : 1.f;
  const b vsg(sgn);
  for (std::size_t t = 1; t < T; ++t) {  // t = 0 is the identity
    const float* c = tab.cs.data() + t * half;
    const float* s = tab.sn.data() + t * half;
    for (std::size_t h = 0; h < heads; ++h) {
      float* p = x + t * ld + h * hd;
      std::size_t i = 0;
      for (; i + W <= half; i += W) {
        const b a = b::load_unaligned(p + i), q = b::load_unaligned(p + half + i);
        const b cv = b::load_unaligned(c + i), sv = vsg * b::load_unaligned(s + i);
        xsimd::fnma(q, sv, a * cv).store_unaligned(p + i);
        xsimd::fma(a, sv, q * cv).store_unaligned(p + half + i);
      }
      for (; i < half; ++i) {
        const float a = p[i], q = p[i + half], cv = c[i], sv = sgn * s[i];
        p[i] = a * cv - q * sv;
        p[i + half] = a * sv + q * cv;
      }
    }
  }
}

}  // namespace sinkcore::kernels

// This header's default-ISA instances: extern under separate compilation, compiled once (impl/kernels.ipp).
#define SINKCORE_KERNELS_ROPE_INSTANCES(X) \
  X void sinkcore::kernels::rope<xsimd::default_arch>(float*, std::size_t, std::size_t, std::size_t, std::size_t, \
      float, bool); \
  static_assert(true)
#if defined(SINKCORE_SEPARATE_COMPILATION)
SINKCORE_KERNELS_ROPE_INSTANCES(extern template);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
