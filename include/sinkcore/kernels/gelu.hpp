#pragma once
/// @file gelu.hpp
/// GPT-2's tanh GELU: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). y may alias x.
/// xsimd kernels; tails go through a padded vector so every element uses the same code.
///
/// The forward pass computes the same function as y = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3)
/// (0.5 (1 + tanh(u)) is the logistic sigmoid of 2u): one exp and one division per vector, where tanh costs an
/// exp, a division and an odd polynomial. The value is within 5.2e-7 of the exact one everywhere and within
/// 1.3e-6 relatively where |y| > 1e-3 (u's rounding, magnified by the exp), where GPT-2's formula in float is
/// within 5e-5 only (1 + tanh(u) cancels for negative u; it is 0 below x = -5.16). Every float in [-12, 20],
/// against the quotient in double. Zen 5, 512k floats of standard deviation 1, per float: AVX-512 0.37-0.39
/// -> 0.28 ns, AVX2 0.72-0.74 -> 0.49-0.50 ns. test_kernels holds the kernel to the exact value.
///
/// gelu_backward computes tanh as xsimd does (xsimd 8.1, float: an odd polynomial below |x| = 0.625,
/// 1 - 2 / (1 + exp(2|x|)) above, the sign put back), lane for lane with the same operations, so to the bit
/// the same values, with one branch per group of four vectors where xsimd has two per vector: a group whose
/// lanes are all below 0.625 takes the polynomial alone (as xsimd does; the first few dozen steps of
/// training), any other computes both paths and selects (xsimd skipped the polynomial where no lane needed
/// it). Inlined whole into the loop (xsimd's tanh was a call), the core overlaps consecutive vectors' chains
/// of dependent operations. Both paths cost about 19 cycles per vector on a Zen 5 (AVX-512 or AVX2 alike),
/// xsimd's exp half of them. The MLP's backward pass takes the derivative from the forward pass's output
/// instead (gelu_backward_from_output: a division, no tanh). test_kernels compares gelu_backward with
/// xsimd::tanh bit for bit.
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "../config.hpp"
#include "../profile.hpp"
#include "simd.hpp"

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when xsimd's
// AVX-512 exp / tanh are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// The kernels inline everything they call (xsimd's exp included), so the core sees whole loop bodies.
#if defined(__GNUC__)
#define SINKCORE_GELU_FLATTEN __attribute__((flatten))
#else
#define SINKCORE_GELU_FLATTEN
#endif

namespace sinkcore::kernels {

inline constexpr float gelu_k = 0.7978845608028654f;  // sqrt(2/pi)

namespace gelu_detail {

/// xsimd::tanh without branches (file comment): the same value in every lane, to the bit. AllSmall: the
/// caller knows every lane is below 0.625 in magnitude (xsimd's own early return: the polynomial alone).
template <bool AllSmall, class Arch>
inline xsimd::batch<float, Arch> tanh(const xsimd::batch<float, Arch>& self) {
  using b = xsimd::batch<float, Arch>;
  const b x = xsimd::abs(self);
  const b z = xsimd::kernel::detail::tanh_kernel<b>::tanh(x);
  if constexpr (AllSmall) {
    return z ^ xsimd::bitofsign(self);
  } else {
    const b one(1.f);
    const b r = xsimd::fma(b(-2.f), one / (one + xsimd::exp(x + x)), one);
    return xsimd::select(x < b(0.625f), z, r) ^ xsimd::bitofsign(self);
  }
}

/// tanh's argument in the gradient.
template <class Arch>
inline xsimd::batch<float, Arch> arg_grad(const xsimd::batch<float, Arch>& v) {
  using b = xsimd::batch<float, Arch>;
  return b(gelu_k) * xsimd::fma(b(0.044715f) * (v * v), v, v);
}

/// gelu'(v), u = arg_grad(v).
template <bool AllSmall, class Arch>
inline xsimd::batch<float, Arch> gelu_grad(const xsimd::batch<float, Arch>& v, const xsimd::batch<float, Arch>& u) {
  using b = xsimd::batch<float, Arch>;
  const b k(gelu_k), c3(3.f * 0.044715f), half(0.5f), one(1.f);
  const b t = gelu_detail::tanh<AllSmall, Arch>(u);
  const b du = k * xsimd::fma(c3, v * v, one);
  return half * (one + t) + half * v * xsimd::fnma(t, t, one) * du;
}

/// op(std::bool_constant<AllSmall>{}, i, v, u) for the vectors v = x[i..] at i = 0, W, ..., n - W (n a
/// multiple of W), u = arg(v), in groups of four vectors (the vectors after the last whole group one at a
/// time): AllSmall where every lane of the group's u is below 0.625 in magnitude (the polynomial alone, as
/// xsimd's early return), both paths otherwise; a NaN argument takes both paths. One branch per group where
/// xsimd had two per vector. Groups of 16 floats (one AVX-512 vector, two AVX2 ones) left the core one or
/// two vectors' work between branches; four vectors overlap better. Zen 5, 512k floats (2 MiB) of standard
/// deviation 1, the both-paths regime of a trained model, per float, forward / backward: AVX-512 0.36 /
/// 0.43 -> 0.28 / 0.36 ns, AVX2 0.63 / 0.74 -> 0.56 / 0.71 ns; the tiny model's step at T = 64 past its
/// warm-up, GELU's share 6.6 -> 5.5 % (AVX-512), 6.3-6.6 -> 5.8 % (AVX2). Where only a few groups need
/// both paths (standard deviation 0.3, a few dozen steps into training) the larger group needs them more
/// often: 0.17 / 0.24 -> 0.21 / 0.26 ns (AVX-512); all small (0.1): unchanged or faster.
template <class Arch, class Arg, class Op>
inline void each_vector(const float* x, std::size_t n, Arg&& arg, Op&& op) {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size, G = 4;
  const b lim(0.625f);
  std::size_t i = 0;
  for (; i + G * W <= n; i += G * W) {
    b v[G], u[G];
    auto small = xsimd::batch_bool<float, Arch>(true);
#pragma GCC unroll 4
    for (std::size_t g = 0; g < G; ++g) {
      v[g] = b::load_unaligned(x + i + g * W);
      u[g] = arg(v[g]);
      small = small & (xsimd::abs(u[g]) < lim);
    }
    if (xsimd::all(small)) {
#pragma GCC unroll 4
      for (std::size_t g = 0; g < G; ++g) op(std::true_type{}, i + g * W, v[g], u[g]);
    } else {
#pragma GCC unroll 4
      for (std::size_t g = 0; g < G; ++g) op(std::false_type{}, i + g * W, v[g], u[g]);
    }
  }
  for (; i < n; i += W) {
    const b v = b::load_unaligned(x + i);
    op(std::false_type{}, i, v, arg(v));
  }
}

}  // namespace gelu_detail

template <class Arch = xsimd::default_arch>
SINKCORE_GELU_FLATTEN void gelu(const float* x, float* y, std::size_t n) {
  const profile::zone pz(profile::part::gelu);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  // x / (1 + exp(-2u)) (file comment). Below x = -10.046 the exp overflows to infinity and the quotient is
  // -0 (the exact value is below 4.2e-38, the smallest nonzero output; none is subnormal); from x = 5 on,
  // 1 + exp(-2u) rounds to 1 and the quotient is x.
  const auto f = [](const b& v) {
    const b m2k(-2.f * gelu_k), c(0.044715f), one(1.f);
    return v / (one + xsimd::exp(m2k * xsimd::fma(c * v * v, v, v)));
  };
  const std::size_t nv = n / W * W;
  std::size_t i = 0;
#pragma GCC unroll 4
  for (; i < nv; i += W) f(b::load_unaligned(x + i)).store_unaligned(y + i);
  if (const std::size_t rem = n - nv)  // zeros in the lanes beyond n
    simd::store_partial<Arch>(y + nv, f(simd::load_partial<Arch>(x + nv, rem)), rem);
}

/// dx = dy * gelu'(x); dx is overwritten and may alias dy.
template <class Arch = xsimd::default_arch>
SINKCORE_GELU_FLATTEN void gelu_backward(const float* x, const float* dy, float* dx, std::size_t n) {
  const profile::zone pz(profile::part::gelu);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  const std::size_t nv = n / W * W;
  auto op = [&](auto small, std::size_t i, const b& v, const b& u) {
    (b::load_unaligned(dy + i) * gelu_detail::gelu_grad<decltype(small)::value, Arch>(v, u)).store_unaligned(dx + i);
  };
  gelu_detail::each_vector<Arch>(x, nv, gelu_detail::arg_grad<Arch>, op);
  if (const std::size_t rem = n - nv) {
    const b v = simd::load_partial<Arch>(x + nv, rem);
    const b g = gelu_detail::gelu_grad<false, Arch>(v, gelu_detail::arg_grad<Arch>(v));
    simd::store_partial<Arch>(dx + nv, simd::load_partial<Arch>(dy + nv, rem) * g, rem);
  }
}

/// dx = dy * gelu'(x) from x and its GELU y = gelu(x) (the forward pass's output), without a tanh: with
/// s = 1 + tanh(u) = 2 y / x, gelu'(x) = s / 2 + y (2 - s) k (1 + 3 c x^2). One division where gelu_backward
/// computes tanh again (both of its paths past the first steps of training): 512k floats, Zen 5, AVX-512
/// 0.40 -> 0.13 ns per float, AVX2 0.76 -> 0.17. y holds 1 + tanh(u) only to its rounding, so the value is
/// within 3e-6 of the exact derivative (gelu_backward: 6e-7), worst near x = 5 (test_kernels: within 4e-6 of
/// the double formula and of gelu_backward over |x| <= 20 and at zero, subnormal and huge inputs). Where
/// |x| < 1e-30, y is subnormal or zero and tanh(u) is below 1e-30: s = 1. y must be gelu(x) as this library
/// computes it (an activation a hook rewrote is not); dx is overwritten and may alias dy.
template <class Arch = xsimd::default_arch>
SINKCORE_GELU_FLATTEN void gelu_backward_from_output(const float* x, const float* y, const float* dy, float* dx,
                                                     std::size_t n) {
  const profile::zone pz(profile::part::gelu);
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  const b k(gelu_k), c3(3.f * 0.044715f), half(0.5f), one(1.f), two(2.f), tiny(1e-30f);
  const auto grad = [&](const b& v, const b& yv) {
    const b s = xsimd::select(xsimd::abs(v) < tiny, one, (yv + yv) / v);
    return xsimd::fma(half, s, yv * (two - s) * (k * xsimd::fma(c3, v * v, one)));
  };
  const std::size_t nv = n / W * W;
  std::size_t i = 0;
#pragma GCC unroll 4
  for (; i < nv; i += W)
    (b::load_unaligned(dy + i) * grad(b::load_unaligned(x + i), b::load_unaligned(y + i))).store_unaligned(dx + i);
  if (const std::size_t rem = n - nv) {
    const b g = grad(simd::load_partial<Arch>(x + nv, rem), simd::load_partial<Arch>(y + nv, rem));
    simd::store_partial<Arch>(dx + nv, simd::load_partial<Arch>(dy + nv, rem) * g, rem);
  }
}

}  // namespace sinkcore::kernels

// This header's default-ISA instances: extern under separate compilation, compiled once (impl/kernels.ipp).
#define SINKCORE_KERNELS_GELU_INSTANCES(X) \
  X void sinkcore::kernels::gelu<xsimd::default_arch>(const float*, float*, std::size_t); \
  X void sinkcore::kernels::gelu_backward<xsimd::default_arch>(const float*, const float*, float*, std::size_t); \
  X void sinkcore::kernels::gelu_backward_from_output<xsimd::default_arch>(const float*, const float*, \
                                                                          const float*, float*, std::size_t); \
  static_assert(true)
#if defined(SINKCORE_SEPARATE_COMPILATION)
SINKCORE_KERNELS_GELU_INSTANCES(extern template);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
