#pragma once
/// @file exp.hpp
/// exp of doubles, 4 or 8 at a time, equal bit for bit to glibc's scalar exp; and the row helpers of the
/// cross-entropy built on it (row_max, exp_shifted, and exp_shifted_rows for eight rows at once).
///
/// The loss of a training step (model/backward.hpp) and of an evaluation (model/forward.hpp) takes
/// exp(z_c - max z) of every logit in double precision. One std::exp per logit costs ~25 cycles, about 5 %
/// of a tiny model's step. exp_shifted computes the same numbers on vectors: glibc's algorithm (since 2.28:
/// exp(x) = 2^(k/128) exp(r), |r| <= ln2/256, a 128-entry table of 2^(k/128) and a degree-5 polynomial),
/// with an FMA exactly where glibc's FMA build has one (the build that glibc runs on every CPU with FMA and
/// AVX2), so each value equals std::exp's to the last bit and no loss, gradient or study result changes.
/// The table comes from tools/gen_exp_table.py (80-digit decimal arithmetic).
///
/// The vector path runs for an xsimd architecture of AVX2 or AVX-512 in a build with FMA (-mfma, implied by
/// -march=haswell and newer); other builds call std::exp. Lanes that glibc treats apart keep its result:
/// |x| < 2^-54 gives 1 + x, and |x| >= 512, infinities and NaN go to std::exp. tests/test_kernels.cpp
/// compares the results bit for bit with std::exp's on every 997th float of magnitude below 1024, both
/// signs (2.3 million arguments), and on the values at glibc's thresholds.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <xsimd/xsimd.hpp>
#if defined(__FMA__) && defined(__AVX2__)
#include <immintrin.h>
#endif

#include "../config.hpp"

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when AVX-512 operations
// are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace sinkcore::kernels {

namespace exp_detail {

// 2^(k/128) ~= H_k (1 + T_k): tail_bits[k] = bits(T_k), scale_bits[k] = bits(H_k) - (k << 45).
inline constexpr std::uint64_t tail_bits[128] = {
    0x0000000000000000, 0x3c9b3b4f1a88bf6e, 0xbc7160139cd8dc5d, 0xbc905e7a108766d1,
    0x3c8cd2523567f613, 0xbc8bce8023f98efa, 0x3c60f74e61e6c861, 0x3c90a3e45b33d399,
    0x3c979aa65d837b6d, 0x3c8eb51a92fdeffc, 0x3c3ebe3d702f9cd1, 0xbc6a033489906e0b,
    0xbc9556522a2fbd0e, 0xbc5080ef8c4eea55, 0xbc91c923b9d5f416, 0x3c80d3e3e95c55af,
    0xbc801b15eaa59348, 0xbc8f1ff055de323d, 0x3c8b898c3f1353bf, 0xbc96d99c7611eb26,
    0x3c9aecf73e3a2f60, 0xbc8fe782cb86389d, 0x3c8a6f4144a6c38d, 0x3c807a05b0e4047d,
    0x3c968efde3a8a894, 0x3c875e18f274487d, 0x3c80472b981fe7f2, 0xbc96b87b3f71085e,
    0x3c82f7e16d09ab31, 0xbc3d219b1a6fbffa, 0x3c8b3782720c0ab4, 0x3c6e149289cecb8f,
    0x3c834d754db0abb6, 0x3c864201e2ac744c, 0x3c8fdd395dd3f84a, 0xbc86a3803b8e5b04,
    0xbc924aedcc4b5068, 0xbc9907f81b512d8e, 0xbc71d1e83e9436d2, 0xbc991919b3ce1b15,
    0x3c859f48a72a4c6d, 0xbc9312607a28698a, 0xbc58a78f4817895b, 0xbc7c2c9b67499a1b,
    0x3c4363ed60c2ac11, 0x3c9666093b0664ef, 0x3c6ecce1daa10379, 0x3c93ff8e3f0f1230,
    0x3c7690cebb7aafb0, 0x3c931dbdeb54e077, 0xbc8f94340071a38e, 0xbc87deccdc93a349,
    0xbc78dec6bd0f385f, 0xbc861246ec7b5cf6, 0x3c93350518fdd78e, 0x3c7b98b72f8a9b05,
    0x3c9063e1e21c5409, 0x3c34c7855019c6ea, 0x3c9432e62b64c035, 0xbc8ce44a6199769f,
    0xbc8c33c53bef4da8, 0xbc845378892be9ae, 0xbc93cedd78565858, 0x3c5710aa807e1964,
    0xbc93b3efbf5e2228, 0xbc6a12ad8734b982, 0xbc6367efb86da9ee, 0xbc80dc3d54e08851,
    0xbc781f647e5a3ecf, 0xbc86ee4ac08b7db0, 0xbc8619321e55e68a, 0x3c909ccb5e09d4d3,
    0xbc7b32dcb94da51d, 0x3c94ecfd5467c06b, 0x3c65ebe1abd66c55, 0xbc88a1c52fb3cf42,
    0xbc9369b6f13b3734, 0xbc805e843a19ff1e, 0xbc94d450d872576e, 0x3c90ad675b0e8a00,
    0x3c8db72fc1f0eab4, 0xbc65b6609cc5e7ff, 0x3c7bf68359f35f44, 0xbc93091fa71e3d83,
    0xbc5da9b88b6c1e29, 0xbc6c23f97c90b959, 0xbc92434322f4f9aa, 0xbc85ca6cd7668e4b,
    0x3c71affc2b91ce27, 0x3c6dd235e10a73bb, 0xbc87c50422622263, 0x3c8b1c86e3e231d5,
    0xbc91bbd1d3bcbb15, 0x3c90cc319cee31d2, 0x3c8469846e735ab3, 0xbc82dfcd978e9db4,
    0x3c8c1a7792cb3387, 0xbc907b8f4ad1d9fa, 0xbc55c3d956dcaeba, 0xbc90a40e3da6f640,
    0xbc68d6f438ad9334, 0xbc91eee26b588a35, 0x3c74ffd70a5fddcd, 0xbc91bdfbfa9298ac,
    0x3c736eae30af0cb3, 0x3c8ee3325c9ffd94, 0x3c84e08fd10959ac, 0x3c63cdaf384e1a67,
    0x3c676b2c6c921968, 0xbc808a1883ccb5d2, 0xbc8fad5d3ffffa6f, 0xbc900dae3875a949,
    0x3c74a385a63d07a7, 0xbc82919e2040220f, 0x3c8e5a50d5c192ac, 0x3c843a59ac016b4b,
    0xbc82d52107b43e1f, 0xbc892ab93b470dc9, 0x3c74b604603a88d3, 0x3c83c5ec519d7271,
    0xbc8ff7128fd391f0, 0xbc8dae98e223747d, 0x3c8ec3bc41aa2008, 0x3c842b94c3a9eb32,
    0x3c8a64a931d185ee, 0xbc8e37bae43be3ed, 0x3c77893b4d91cd9d, 0x3c5305c14160cc89,
};
inline constexpr std::uint64_t scale_bits[128] = {
    0x3ff0000000000000, 0x3feff63da9fb3335, 0x3fefec9a3e778061, 0x3fefe315e86e7f85,
    0x3fefd9b0d3158574, 0x3fefd06b29ddf6de, 0x3fefc74518759bc8, 0x3fefbe3ecac6f383,
    0x3fefb5586cf9890f, 0x3fefac922b7247f7, 0x3fefa3ec32d3d1a2, 0x3fef9b66affed31b,
    0x3fef9301d0125b51, 0x3fef8abdc06c31cc, 0x3fef829aaea92de0, 0x3fef7a98c8a58e51,
    0x3fef72b83c7d517b, 0x3fef6af9388c8dea, 0x3fef635beb6fcb75, 0x3fef5be084045cd4,
    0x3fef54873168b9aa, 0x3fef4d5022fcd91d, 0x3fef463b88628cd6, 0x3fef3f49917ddc96,
    0x3fef387a6e756238, 0x3fef31ce4fb2a63f, 0x3fef2b4565e27cdd, 0x3fef24dfe1f56381,
    0x3fef1e9df51fdee1, 0x3fef187fd0dad990, 0x3fef1285a6e4030b, 0x3fef0cafa93e2f56,
    0x3fef06fe0a31b715, 0x3fef0170fc4cd831, 0x3feefc08b26416ff, 0x3feef6c55f929ff1,
    0x3feef1a7373aa9cb, 0x3feeecae6d05d866, 0x3feee7db34e59ff7, 0x3feee32dc313a8e5,
    0x3feedea64c123422, 0x3feeda4504ac801c, 0x3feed60a21f72e2a, 0x3feed1f5d950a897,
    0x3feece086061892d, 0x3feeca41ed1d0057, 0x3feec6a2b5c13cd0, 0x3feec32af0d7d3de,
    0x3feebfdad5362a27, 0x3feebcb299fddd0d, 0x3feeb9b2769d2ca7, 0x3feeb6daa2cf6642,
    0x3feeb42b569d4f82, 0x3feeb1a4ca5d920f, 0x3feeaf4736b527da, 0x3feead12d497c7fd,
    0x3feeab07dd485429, 0x3feea9268a5946b7, 0x3feea76f15ad2148, 0x3feea5e1b976dc09,
    0x3feea47eb03a5585, 0x3feea34634ccc320, 0x3feea23882552225, 0x3feea155d44ca973,
    0x3feea09e667f3bcd, 0x3feea012750bdabf, 0x3fee9fb23c651a2f, 0x3fee9f7df9519484,
    0x3fee9f75e8ec5f74, 0x3fee9f9a48a58174, 0x3fee9feb564267c9, 0x3feea0694fde5d3f,
    0x3feea11473eb0187, 0x3feea1ed0130c132, 0x3feea2f336cf4e62, 0x3feea427543e1a12,
    0x3feea589994cce13, 0x3feea71a4623c7ad, 0x3feea8d99b4492ed, 0x3feeaac7d98a6699,
    0x3feeace5422aa0db, 0x3feeaf3216b5448c, 0x3feeb1ae99157736, 0x3feeb45b0b91ffc6,
    0x3feeb737b0cdc5e5, 0x3feeba44cbc8520f, 0x3feebd829fde4e50, 0x3feec0f170ca07ba,
    0x3feec49182a3f090, 0x3feec86319e32323, 0x3feecc667b5de565, 0x3feed09bec4a2d33,
    0x3feed503b23e255d, 0x3feed99e1330b358, 0x3feede6b5579fdbf, 0x3feee36bbfd3f37a,
    0x3feee89f995ad3ad, 0x3feeee07298db666, 0x3feef3a2b84f15fb, 0x3feef9728de5593a,
    0x3feeff76f2fb5e47, 0x3fef05b030a1064a, 0x3fef0c1e904bc1d2, 0x3fef12c25bd71e09,
    0x3fef199bdd85529c, 0x3fef20ab5fffd07a, 0x3fef27f12e57d14b, 0x3fef2f6d9406e7b5,
    0x3fef3720dcef9069, 0x3fef3f0b555dc3fa, 0x3fef472d4a07897c, 0x3fef4f87080d89f2,
    0x3fef5818dcfba487, 0x3fef60e316c98398, 0x3fef69e603db3285, 0x3fef7321f301b460,
    0x3fef7c97337b9b5f, 0x3fef864614f5a129, 0x3fef902ee78b3ff6, 0x3fef9a51fbc74c83,
    0x3fefa4afa2a490da, 0x3fefaf482d8e67f1, 0x3fefba1bee615a27, 0x3fefc52b376bba97,
    0x3fefd0765b6e4540, 0x3fefdbfdad9cbe14, 0x3fefe7c1819e90d8, 0x3feff3c22b8f71f1,
};

inline constexpr auto tails = [] {
  std::array<double, 128> t{};
  for (std::size_t k = 0; k < 128; ++k) t[k] = std::bit_cast<double>(tail_bits[k]);
  return t;
}();
inline constexpr auto scales = [] {
  std::array<std::int64_t, 128> s{};
  for (std::size_t k = 0; k < 128; ++k) s[k] = std::bit_cast<std::int64_t>(scale_bits[k]);
  return s;
}();

inline constexpr double inv_ln2_n = 0x1.71547652b82fep0 * 128;  // 128 / ln 2
inline constexpr double shift = 0x1.8p52;                        // rounds to an integer in the low bits
inline constexpr double neg_ln2_hi_n = -0x1.62e42fefa0000p-8;    // -ln 2 / 128, high part (exact k multiples)
inline constexpr double neg_ln2_lo_n = -0x1.cf79abc9e3b3ap-47;   // and the rest
inline constexpr double c2 = 0x1.ffffffffffdbdp-2, c3 = 0x1.555555555543cp-3, c4 = 0x1.55555cf172b91p-5,
                        c5 = 0x1.1111167a4d017p-7;

/// Whether Arch's double vectors take the bit-exact vector path: AVX2 or AVX-512, with a real FMA.
template <class Arch>
inline constexpr bool vector_path =
#if defined(__FMA__) && defined(__AVX2__)
    std::is_base_of_v<xsimd::avx2, Arch> || std::is_base_of_v<xsimd::avx512f, Arch>;
#else
    false;
#endif

#if defined(__FMA__) && defined(__AVX2__)
/// a * b + c rounded once. Spelled with the intrinsic: xsimd 8.1 maps its fma for AVX-512 to a * b + c
/// and leaves the fusing to the compiler, and the bit-exact result needs a fused operation every time.
template <class Arch>
inline xsimd::batch<double, Arch> fused(const xsimd::batch<double, Arch>& a, const xsimd::batch<double, Arch>& b,
                                        const xsimd::batch<double, Arch>& c) {
#if defined(__AVX512F__)
  if constexpr (xsimd::batch<double, Arch>::size == 8) return _mm512_fmadd_pd(a, b, c);
  else
#endif
    return _mm256_fmadd_pd(a, b, c);
}

/// x[0:W] <- exp(x[0:W]), one vector. Inlined into exp_inplace's loop: as a call (GCC did not inline it)
/// the vector went through the stack both ways and consecutive vectors' chains could not overlap.
template <class Arch>
__attribute__((always_inline)) inline xsimd::batch<double, Arch> exp_vector(const xsimd::batch<double, Arch>& x) {
  using bd = xsimd::batch<double, Arch>;
  using bi = xsimd::batch<std::int64_t, Arch>;
  // x = k ln2/128 + r: k = round(x 128/ln2) through the shift, r by two FMAs (glibc's order).
  bd kd = fused(x, bd(inv_ln2_n), bd(shift));
  const bi ki = xsimd::bitwise_cast<bi>(kd);
  kd = kd - bd(shift);
  bd r = fused(kd, bd(neg_ln2_hi_n), x);
  r = fused(kd, bd(neg_ln2_lo_n), r);
  // 2^(k/128) = scale (1 + tail); exp(x) = scale + scale (tail + exp(r) - 1).
  const bi idx = ki & bi(127);
  const bd tail = bd::gather(tails.data(), idx);
  const bi sbits = (ki << 45) + bi::gather(scales.data(), idx);
  const bd r2 = r * r;
  const bd tmp = fused(r2 * r2, fused(r, bd(c5), bd(c4)), fused(fused(r, bd(c3), bd(c2)), r2, r + tail));
  const bd scale = xsimd::bitwise_cast<bd>(sbits);
  return fused(scale, tmp, scale);
}
#endif

}  // namespace exp_detail

/// x[i] <- exp(x[i]) for i < n; each value equal to std::exp(x[i]) (see the file comment).
template <class Arch = xsimd::default_arch>
void exp_inplace(double* x, std::size_t n) {
  std::size_t i = 0;
#if defined(__FMA__) && defined(__AVX2__)
  if constexpr (exp_detail::vector_path<Arch>) {
    using bd = xsimd::batch<double, Arch>;
    constexpr std::size_t W = bd::size;
    for (; i + W <= n; i += W) {
      const bd v = bd::load_unaligned(x + i);
      const bd a = xsimd::abs(v);
      const bd e = xsimd::select(a < bd(0x1p-54), bd(1.0) + v, exp_detail::exp_vector<Arch>(v));
      e.store_unaligned(x + i);
      const auto apart = !(a < bd(512.0));  // |x| >= 512, inf, NaN: glibc's slow path
      if (xsimd::any(apart)) {
        alignas(64) double in[W];
        v.store_aligned(in);
        for (std::size_t j = 0; j < W; ++j)
          if (!(std::abs(in[j]) < 512.0)) x[i + j] = std::exp(in[j]);
      }
    }
  }
#endif
  for (; i < n; ++i) x[i] = std::exp(x[i]);
}

/// max_c z[c] for n >= 1 (the value std::max_element finds).
template <class Arch = xsimd::default_arch>
float row_max(const float* z, std::size_t n) {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  const std::size_t nv = n - n % W;
  float m = z[0];
  if (nv > 0) {
    b acc = b::load_unaligned(z);
    for (std::size_t c = W; c < nv; c += W) acc = xsimd::max(acc, b::load_unaligned(z + c));
    alignas(64) float t[W];
    acc.store_aligned(t);
    m = *std::max_element(t, t + W);
  }
  for (std::size_t c = nv; c < n; ++c) m = std::max(m, z[c]);
  return m;
}

/// e[c] = exp(double(z[c] - m)) for c < n: the numerators of the softmax of a row of logits, in double
/// precision, each equal to std::exp's value. Returns their sum, added in the order c = 0, 1, ..., n - 1
/// (the softmax's denominator; the training loss and the evaluation loss both take it from here).
template <class Arch = xsimd::default_arch>
double exp_shifted(const float* z, std::size_t n, float m, double* e) {
  for (std::size_t c = 0; c < n; ++c) e[c] = double(z[c] - m);
  exp_inplace<Arch>(e, n);
  double s = 0;
  for (std::size_t c = 0; c < n; ++c) s += e[c];
  return s;
}

/// Rows of the softmax at once: exp_shifted for the exp_group rows z + g * ldz (g < exp_group), each of n
/// logits: m[g] = row_max, e[g * n + c] = exp(double(z_g[c] - m[g])), s[g] = their sum in the order c = 0,
/// 1, ..., n - 1. The same values as exp_shifted row by row, to the bit. A row's sum is one chain of
/// dependent additions (256 of them for the tiny model's vocabulary, ~3 cycles each); the group's chains
/// run side by side. AMD EPYC Zen 5, 1024 rows of 256 (the tiny model's loss at batch 16, T = 64), with
/// exp_vector inlined: 0.39 -> 0.26 ms for the loss's exponentials, sums and gradients (AVX2 0.39 -> 0.30).
inline constexpr std::size_t exp_group = 8;
template <class Arch = xsimd::default_arch>
void exp_shifted_rows(const float* z, std::size_t ldz, std::size_t n, float* m, double* e, double* s) {
  constexpr std::size_t G = exp_group;
  for (std::size_t g = 0; g < G; ++g) {
    const float* zr = z + g * ldz;
    m[g] = row_max<Arch>(zr, n);
    for (std::size_t c = 0; c < n; ++c) e[g * n + c] = double(zr[c] - m[g]);
  }
  exp_inplace<Arch>(e, G * n);  // element by element: the same values as row by row
  double acc[G] = {};
  for (std::size_t c = 0; c < n; ++c)
#pragma GCC unroll 8
    for (std::size_t g = 0; g < G; ++g) acc[g] += e[g * n + c];
  for (std::size_t g = 0; g < G; ++g) s[g] = acc[g];
}

}  // namespace sinkcore::kernels

// This header's default-ISA instances: extern under separate compilation, compiled once (impl/kernels.ipp).
#define SINKCORE_KERNELS_EXP_INSTANCES(X) \
  X void sinkcore::kernels::exp_inplace<xsimd::default_arch>(double*, std::size_t); \
  X float sinkcore::kernels::row_max<xsimd::default_arch>(const float*, std::size_t); \
  X double sinkcore::kernels::exp_shifted<xsimd::default_arch>(const float*, std::size_t, float, double*); \
  static_assert(true)
#if defined(SINKCORE_SEPARATE_COMPILATION)
SINKCORE_KERNELS_EXP_INSTANCES(extern template);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
