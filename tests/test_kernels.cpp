// Kernel tests: every kernel against a plain scalar double-precision reference, on awkward sizes, for
// every xsimd architecture this translation unit can compile (sse2 always; AVX2+FMA and AVX-512 when the
// compiler flags allow them). No timings here: see bench/ (the profile zones' test below checks how time is
// attributed, not how much there is).
#define SINKCORE_PROFILE  // profile.hpp's zones compiled in (they measure only while enabled)
#include <sinkcore/components/attention.hpp>
#include <sinkcore/kernels/kernels.hpp>
#include <sinkcore/profile.hpp>

#include <catch2/catch.hpp>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace k = sinkcore::kernels;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

using arch_list = std::tuple<xsimd::sse2
#if defined(__AVX2__) && defined(__FMA__)
                             ,
                             xsimd::fma3<xsimd::avx2>
#endif
#if defined(__AVX512BW__)
                             ,
                             xsimd::avx512bw
#endif
                             >;

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> U(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = U(rng);
  return v;
}

const float NaN = std::numeric_limits<float>::quiet_NaN();

// ---------------------------------------------------------------------------------------------- GEMM

struct gemm_case {
  bool ta, tb;
  std::size_t M, N, K;
  float alpha, beta;
  std::size_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra row-stride
};

/// Operands laid out as the case says, with C prefilled (NaN when beta == 0).
struct gemm_data {
  gemm_case c;
  std::size_t lda, ldb, ldc;
  std::vector<float> A, B, C0;
  explicit gemm_data(const gemm_case& cs, unsigned seed) : c(cs) {
    const std::size_t ar = c.ta ? c.K : c.M, ac = c.ta ? c.M : c.K;
    const std::size_t br = c.tb ? c.N : c.K, bc = c.tb ? c.K : c.N;
    lda = ac + c.pad_a;
    ldb = bc + c.pad_b;
    ldc = c.N + c.pad_c;
    A = random_vec(std::max<std::size_t>(ar * lda, 1), seed);
    B = random_vec(std::max<std::size_t>(br * ldb, 1), seed + 1);
    C0 = random_vec(std::max<std::size_t>(c.M * ldc, 1), seed + 2);
    if (c.beta == 0.f) std::fill(C0.begin(), C0.end(), NaN);
  }
  float a(std::size_t i, std::size_t kk) const { return c.ta ? A[kk * lda + i] : A[i * lda + kk]; }
  float b(std::size_t kk, std::size_t j) const { return c.tb ? B[j * ldb + kk] : B[kk * ldb + j]; }
  /// Reference value and error scale for entry (i, j).
  std::pair<double, double> ref(std::size_t i, std::size_t j) const {
    double s = 0, sa = 0;
    for (std::size_t kk = 0; kk < c.K; ++kk) {
      const double p = double(a(i, kk)) * double(b(kk, j));
      s += p;
      sa += std::fabs(p);
    }
    double v = double(c.alpha) * s, scale = std::fabs(c.alpha) * sa;
    if (c.beta != 0.f) {
      v += double(c.beta) * double(C0[i * ldc + j]);
      scale += std::fabs(c.beta * C0[i * ldc + j]);
    }
    return {v, scale};
  }
};

template <class Arch>
std::vector<float> run_gemm(const gemm_data& d) {
  std::vector<float> C = d.C0;
  k::gemm<Arch>(d.c.ta, d.c.tb, d.c.M, d.c.N, d.c.K, d.c.alpha, d.A.data(), d.lda, d.B.data(), d.ldb, d.c.beta,
                C.data(), d.ldc);
  return C;
}

/// Checks all entries (or, when `sample` > 0, `sample` random entries plus the first / last rows and
/// columns) against the double reference; the padding between rows of C must be untouched.
void check_gemm(const gemm_data& d, const std::vector<float>& C, std::size_t sample = 0) {
  const auto& c = d.c;
  INFO("ta=" << c.ta << " tb=" << c.tb << " M=" << c.M << " N=" << c.N << " K=" << c.K << " alpha=" << c.alpha
             << " beta=" << c.beta << " lda=" << d.lda << " ldb=" << d.ldb << " ldc=" << d.ldc);
  std::size_t bad = 0;
  auto check = [&](std::size_t i, std::size_t j) {
    const auto [v, scale] = d.ref(i, j);
    const double got = C[i * d.ldc + j];
    const double tol = 1e-5 * scale + 1e-6;
    if (!(std::fabs(got - v) <= tol)) {
      if (bad < 5) {
        INFO("i=" << i << " j=" << j << " got " << got << " want " << v << " tol " << tol);
        CHECK(std::fabs(got - v) <= tol);
      }
      ++bad;
    }
  };
  if (sample == 0) {
    for (std::size_t i = 0; i < c.M; ++i)
      for (std::size_t j = 0; j < c.N; ++j) check(i, j);
  } else {
    std::mt19937 rng(7);
    for (std::size_t s = 0; s < sample; ++s) check(rng() % c.M, rng() % c.N);
    for (std::size_t j = 0; j < c.N; j += 7) {
      check(0, j);
      check(c.M - 1, j);
    }
    for (std::size_t i = 0; i < c.M; i += 7) {
      check(i, 0);
      check(i, c.N - 1);
    }
  }
  CHECK(bad == 0);
  // Row padding of C is not written.
  for (std::size_t i = 0; i < c.M; ++i)
    for (std::size_t j = c.N; j < d.ldc; ++j) {
      const float before = d.C0[i * d.ldc + j], after = C[i * d.ldc + j];
      if (!(before == after || (std::isnan(before) && std::isnan(after)))) {
        FAIL("padding of C modified at i=" << i << " j=" << j);
      }
    }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("gemm matches the double reference on awkward shapes", "[gemm]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  const std::size_t sizes[][3] = {{1, 1, 1},   {1, 7, 5},    {7, 1, 5},   {7, 17, 1},    {17, 7, 33},
                                  {33, 33, 33}, {13, 129, 17}, {129, 5, 3}, {3, 200, 129}, {257, 33, 7},
                                  {40, 40, 32}, {64, 64, 64},  {2, 2, 300}, {31, 47, 400}, {100, 3, 900}};
  const float ab[][2] = {{1.f, 0.f}, {0.5f, 1.f}, {-2.f, 0.25f}, {1.f, 1.f}};
  unsigned seed = 1;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const auto& s : sizes) {
        const auto& al = ab[seed % 4];
        const std::size_t pad = (seed % 3 == 0) ? 0 : 3 + seed % 5;
        gemm_case c{bool(ta), bool(tb), s[0], s[1], s[2], al[0], al[1], pad, pad + 1, pad + 2};
        gemm_data d(c, seed++);
        check_gemm(d, run_gemm<Arch>(d));
      }
}

TEMPLATE_LIST_TEST_CASE("gemm reads A^T in place, or packs it when its row stride aliases in the cache",
                        "[gemm]", arch_list) {
  // Row strides of op(A) = A^T: 37 and 1000 floats are read in place, 1024 and 2048 (4 and 8 KiB) packed
  // first; 256 and 768 (1 and 3 KiB: four of an L1's 64 sets) read in place at N = 70 and packed at N = 400
  // (>= 128), 128 (512 B: eight sets) in place at N = 70 and packed at N = 400 (>= 256), where the L1 has 64
  // sets (pack_a_trans, checked below for L1s of 12 and 8 ways), whatever this machine's L1. Both paths, with
  // edge rows (37 = 4 x 8 + 5 = 6 x 6 + 1) and two depth blocks (K = 700).
  using Arch = TestType;
  INFO("arch " << Arch::name());
  unsigned seed = 40;
  const std::pair<std::size_t, std::size_t> strides_and_n[] = {{37, 70},  {1000, 70}, {1024, 70}, {2048, 70},
                                                               {256, 70}, {256, 400}, {768, 70},  {768, 400},
                                                               {128, 70}, {128, 400}};
  for (const std::size_t ways : {12, 8})
    for (const auto& [lda, N] : strides_and_n) {
      INFO("lda " << lda << " N " << N << " ways " << ways);
      const k::gemm_detail::l1_geometry l1{64, ways};
      CHECK(k::gemm_detail::pack_a_trans(lda, N, 350, l1) == (lda % 128 == 0 && (lda % 1024 == 0 || N == 400)));
      // A depth whose lines fit the sets they fall into is read in place: kc 32 at 1 KiB (4 sets), 8 at 4 KiB.
      CHECK_FALSE(k::gemm_detail::pack_a_trans(lda, N, lda % 1024 == 0 ? 8 : 32, l1));
    }
  for (const auto& [lda, N] : strides_and_n)
    for (float beta : {0.f, 0.5f}) {
      gemm_case c{true, false, 37, N, 700, 1.f, beta, lda - 37, 2, 1};
      gemm_data d(c, seed++);
      REQUIRE(d.lda == lda);
      check_gemm(d, run_gemm<Arch>(d));
    }
}

TEMPLATE_LIST_TEST_CASE("gemm packs an aliasing A^T once for all blocks of columns: the bits of column slices",
                        "[gemm]", arch_list) {
  // N = 6000 is more columns than half of any L2 holds at kc = 350 (up to 16 MiB: 5991), so the product
  // runs in several blocks of columns, and A^T (row stride 1 KiB) is packed on the first and kept: two
  // blocks of rows (200 = 192 + 8) and two of depth (700 = 2 x 350) at their own places in the buffer.
  // Slices of 96 columns read it in place (packed from 128 columns at this stride, pack_a_trans); every
  // entry is the same chain of FMAs either way.
  using Arch = TestType;
  INFO("arch " << Arch::name());
  gemm_case c{true, false, 200, 6000, 700, 1.f, 0.5f, 56, 0, 0};
  gemm_data d(c, 77);
  REQUIRE(d.lda == 256);
  const int threads_before = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> whole = run_gemm<Arch>(d);
  std::vector<float> sliced = d.C0;
  for (std::size_t j = 0; j < c.N; j += 96)
    k::gemm<Arch>(true, false, c.M, std::min<std::size_t>(96, c.N - j), c.K, c.alpha, d.A.data(), d.lda,
                  d.B.data() + j, d.ldb, c.beta, sliced.data() + j, d.ldc);
  omp_set_num_threads(threads_before);
  check_gemm(d, whole, 400);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < whole.size(); ++i)
    differ += std::bit_cast<std::uint32_t>(whole[i]) != std::bit_cast<std::uint32_t>(sliced[i]);
  CHECK(differ == 0);
}

TEMPLATE_LIST_TEST_CASE("gemm reads a small op(B) in place: the values of the packed path, bit for bit", "[gemm]",
                        arch_list) {
  // A row-major op(B) of whole vectors per row (N % W == 0, N <= 64) in a product of M <= 128 rows and
  // K <= 256 is read in place (with AVX-512 and op(A) = A^T, up to M = 256 at any N and K); with M > 256 the
  // same op(B) is packed. Rows of C do not depend on M, so
  // the first M rows of the taller product must equal the small one's to the bit (and the reference).
  using Arch = TestType;
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
  INFO("arch " << Arch::name());
  unsigned seed = 90;
  for (std::size_t N : {W, 2 * W, 64 / W * W})
    for (std::size_t M : {std::size_t(1), std::size_t(5), std::size_t(64), std::size_t(128)})
      for (std::size_t K : {1, 37, 256})
        for (int ta = 0; ta < 2; ++ta)
          for (float beta : {0.f, 1.f}) {
            const std::size_t Mbig = 300;  // > 256: packed, with A or with A^T
            gemm_case big{bool(ta), false, Mbig, N, K, 0.5f, beta, 3, seed % 2 ? std::size_t(0) : std::size_t(5), 2};
            gemm_data d(big, seed++);
            const auto Cbig = run_gemm<Arch>(d);
            // The small product: the first M rows of op(A) (A^T: its first M columns, same stride).
            std::vector<float> C(d.C0.begin(), d.C0.begin() + std::ptrdiff_t(M * d.ldc));
            k::gemm<Arch>(bool(ta), false, M, N, K, 0.5f, d.A.data(), d.lda, d.B.data(), d.ldb, beta, C.data(), d.ldc);
            INFO("M " << M << " N " << N << " K " << K << " ta " << ta << " beta " << beta);
            std::size_t diff = 0;
            for (std::size_t i = 0; i < M; ++i)
              for (std::size_t j = 0; j < N; ++j) diff += !(C[i * d.ldc + j] == Cbig[i * d.ldc + j]);
            CHECK(diff == 0);
            if (M == 64 && K == 37) check_gemm(d, Cbig);
          }
}

TEMPLATE_LIST_TEST_CASE("gemm reads op(B) in place under an A^T of few rows: the packed path's values, bit for bit",
                        "[gemm]", arch_list) {
  // op(A) = A^T with M <= 256 and a row-major op(B) of whole vectors per row (a weight gradient X^T dY): with
  // AVX-512, op(B) is read in place at any N and K (several blocks of depth and of columns, partial tiles,
  // the A^T packed at an aliasing stride), unless its row stride is a multiple of 4 KiB; other
  // architectures pack it (the test then checks the packed path alone). The first M rows of a taller
  // product (M = 300, packed) must equal it to the bit, and both the reference.
  using Arch = TestType;
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
  INFO("arch " << Arch::name());
  const int threads_before = omp_get_max_threads();
  unsigned seed = 300;
  for (std::size_t N : {3 * W, 512 / W * W, 1024 / W * W})
    for (std::size_t M : {std::size_t(8), std::size_t(37), std::size_t(256)})
      for (std::size_t K : {std::size_t(70), std::size_t(1000)})
        for (std::size_t pad_a : {std::size_t(0), std::size_t(1024 - 300)})  // lda 300 or 1024 (A^T packed)
          for (float beta : {0.f, 1.f}) {
            gemm_case big{true, false, 300, N, K, 1.f, beta, pad_a, std::size_t(N == 1024 ? 0 : 3), 1};  // ldb 4 KiB: packed
            gemm_data d(big, seed++);
            for (int threads : {1, 2}) {
              omp_set_num_threads(threads);
              const auto Cbig = run_gemm<Arch>(d);
              std::vector<float> C(d.C0.begin(), d.C0.begin() + std::ptrdiff_t(M * d.ldc));
              k::gemm<Arch>(true, false, M, N, K, 1.f, d.A.data(), d.lda, d.B.data(), d.ldb, beta, C.data(), d.ldc);
              INFO("M " << M << " N " << N << " K " << K << " lda " << d.lda << " beta " << beta << " threads "
                        << threads);
              std::size_t diff = 0;
              for (std::size_t i = 0; i < M; ++i)
                for (std::size_t j = 0; j < N; ++j) diff += !(C[i * d.ldc + j] == Cbig[i * d.ldc + j]);
              CHECK(diff == 0);
              if (threads == 1 && M == 37 && K == 70) check_gemm(d, Cbig);
            }
          }
  omp_set_num_threads(threads_before);
}

TEMPLATE_LIST_TEST_CASE("gemm alpha/beta semantics", "[gemm]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  for (float alpha : {1.f, -0.5f, 0.f})
    for (float beta : {0.f, 1.f, 0.3f}) {
      gemm_case c{false, true, 45, 37, 19, alpha, beta, 2, 1, 5};
      gemm_data d(c, 11);
      const auto C = run_gemm<Arch>(d);
      check_gemm(d, C);
      if (beta == 0.f)
        for (std::size_t i = 0; i < c.M; ++i)
          for (std::size_t j = 0; j < c.N; ++j) REQUIRE_FALSE(std::isnan(C[i * d.ldc + j]));
    }
  // K == 0: C = beta * C.
  gemm_case c{false, false, 9, 11, 0, 1.f, 0.5f, 0, 0, 3};
  gemm_data d(c, 3);
  check_gemm(d, run_gemm<Arch>(d));
  gemm_case c0{false, false, 9, 11, 0, 1.f, 0.f, 0, 0, 3};
  gemm_data d0(c0, 3);
  const auto C0 = run_gemm<Arch>(d0);
  for (std::size_t i = 0; i < 9; ++i)
    for (std::size_t j = 0; j < 11; ++j) REQUIRE(C0[i * d0.ldc + j] == 0.f);
}

TEMPLATE_LIST_TEST_CASE("gemm with a bias row equals a bias-filled C with beta = 1, bit for bit", "[gemm]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  struct shape { std::size_t M, N, K; bool ta, tb; int threads; };
  // Partial tiles in both directions, several depth blocks (K > KC), the matrix-vector paths (M or N = 1),
  // K = 0, and 2 threads (each thread's columns start from their part of the bias).
  for (const shape sh : {shape{45, 37, 19, false, false, 1}, shape{64, 128, 128, false, false, 1},
                         shape{17, 100, 1000, false, true, 1}, shape{1, 70, 33, false, false, 1},
                         shape{40, 1, 33, true, false, 1}, shape{9, 11, 0, false, false, 1},
                         shape{300, 200, 129, false, false, 2}, shape{130, 515, 64, true, true, 2}}) {
    INFO("M " << sh.M << " N " << sh.N << " K " << sh.K << " threads " << sh.threads);
    const std::size_t lda = sh.ta ? sh.M + 3 : sh.K + 3, ldb = sh.tb ? sh.K + 1 : sh.N + 1, ldc = sh.N + 2;
    const auto A = random_vec(lda * std::max(sh.ta ? sh.K : sh.M, std::size_t{1}), 5);
    const auto B = random_vec(ldb * std::max(sh.tb ? sh.N : sh.K, std::size_t{1}), 6);
    auto bias = random_vec(sh.N, 7, -2.f, 2.f);
    bias[0] = -0.f;
    std::vector<float> filled(sh.M * ldc, 9.f), direct(sh.M * ldc, std::numeric_limits<float>::quiet_NaN());
    for (std::size_t i = 0; i < sh.M; ++i)
      std::copy(bias.begin(), bias.end(), filled.begin() + std::ptrdiff_t(i * ldc));
    const int threads_before = omp_get_max_threads();
    omp_set_num_threads(sh.threads);
    k::gemm<Arch>(sh.ta, sh.tb, sh.M, sh.N, sh.K, 0.75f, A.data(), lda, B.data(), ldb, 1.f, filled.data(), ldc);
    // beta is ignored with a bias: C's old contents (NaN here) are never read.
    k::gemm<Arch>(sh.ta, sh.tb, sh.M, sh.N, sh.K, 0.75f, A.data(), lda, B.data(), ldb, 0.3f, direct.data(), ldc,
                  bias.data());
    omp_set_num_threads(threads_before);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < sh.M; ++i)
      for (std::size_t j = 0; j < sh.N; ++j)
        differ += std::bit_cast<std::uint32_t>(filled[i * ldc + j]) !=
                  std::bit_cast<std::uint32_t>(direct[i * ldc + j]);
    CHECK(differ == 0);
    for (std::size_t i = 0; i + 1 < sh.M; ++i)  // the padding between rows is left alone
      CHECK(std::isnan(direct[i * ldc + sh.N]));
  }
}

TEMPLATE_LIST_TEST_CASE("gemm's epilogue sees every element of C once, with its final value", "[gemm]", arch_list) {
  // The epilogue copies its block of C aside and counts each element it is given: after the call, every
  // element was given exactly once and the copy is C to the bit, so no block was handed over before its
  // last depth block (K > KC: partial sums then), twice, or not at all. Several blocks of rows (M > MC),
  // of depth and of columns (N beyond a packed block: 1500 columns at K = 1000), partial tiles, the
  // matrix-vector paths, K = 0, a bias, and 2 threads cut along M and along N (each thread's blocks in
  // the whole C's indices).
  using Arch = TestType;
  INFO("arch " << Arch::name());
  struct shape { std::size_t M, N, K; bool ta, tb; int threads; bool bias; };
  for (const shape sh : {shape{45, 37, 19, false, false, 1, false}, shape{500, 130, 1000, false, true, 1, true},
                         shape{70, 1500, 1000, true, false, 1, false}, shape{1, 70, 33, false, false, 1, true},
                         shape{40, 1, 33, true, false, 1, false}, shape{9, 11, 0, false, false, 1, false},
                         shape{1030, 130, 300, false, false, 2, true}, shape{96, 515, 900, true, false, 2, false},
                         shape{200, 400, 500, false, true, 2, false}}) {
    INFO("M " << sh.M << " N " << sh.N << " K " << sh.K << " threads " << sh.threads);
    const std::size_t lda = sh.ta ? sh.M + 3 : sh.K + 3, ldb = sh.tb ? sh.K + 1 : sh.N + 1, ldc = sh.N + 2;
    const auto A = random_vec(lda * std::max(sh.ta ? sh.K : sh.M, std::size_t{1}), 15);
    const auto B = random_vec(ldb * std::max(sh.tb ? sh.N : sh.K, std::size_t{1}), 16);
    const auto bias = random_vec(sh.N, 17);
    auto C = random_vec(sh.M * ldc, 18);
    struct seen {
      const float* C;
      std::size_t ldc, M, N;
      std::vector<float> copy;
      std::vector<int> count;
      bool inside = true;
      static void run(const void* ctx, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) {
        auto& s = *const_cast<seen*>(static_cast<const seen*>(ctx));
        // Atomic, relaxed: a wrong gemm may hand two threads the same block, and the test must then report it
        // (count 2), not race on it.
        if (r0 >= r1 || c0 >= c1 || r1 > s.M || c1 > s.N)
          std::atomic_ref<bool>(s.inside).store(false, std::memory_order_relaxed);
        for (std::size_t i = r0; i < std::min(r1, s.M); ++i)
          for (std::size_t j = c0; j < std::min(c1, s.N); ++j) {
            std::atomic_ref<float>(s.copy[i * s.N + j]).store(s.C[i * s.ldc + j], std::memory_order_relaxed);
            std::atomic_ref<int>(s.count[i * s.N + j]).fetch_add(1, std::memory_order_relaxed);
          }
      }
    } s{C.data(), ldc, sh.M, sh.N, std::vector<float>(sh.M * sh.N, std::numeric_limits<float>::quiet_NaN()),
        std::vector<int>(sh.M * sh.N, 0)};
    const int threads_before = omp_get_max_threads();
    omp_set_num_threads(sh.threads);
    k::gemm<Arch>(sh.ta, sh.tb, sh.M, sh.N, sh.K, 0.75f, A.data(), lda, B.data(), ldb, 0.5f, C.data(), ldc,
                  sh.bias ? bias.data() : nullptr, {&seen::run, &s});
    omp_set_num_threads(threads_before);
    CHECK(s.inside);
    std::size_t miscounted = 0, differ = 0;
    for (std::size_t i = 0; i < sh.M; ++i)
      for (std::size_t j = 0; j < sh.N; ++j) {
        miscounted += s.count[i * sh.N + j] != 1;
        differ += std::bit_cast<std::uint32_t>(s.copy[i * sh.N + j]) != std::bit_cast<std::uint32_t>(C[i * ldc + j]);
      }
    CHECK(miscounted == 0);
    CHECK(differ == 0);
  }
}

TEMPLATE_LIST_TEST_CASE("gemm gives the same bits on 1 and 2 threads, cut along N or along M", "[gemm]",
                        arch_list) {
  // 2 threads cut a product in two: along N, or along M when M > 2 N (tall products, and the tiny model's
  // dW of the MLP projection with its A^T at a 2 KiB stride). Every entry is the same chain of FMAs either
  // way. The 1-thread results are also checked against the double reference (sampled).
  using Arch = TestType;
  INFO("arch " << Arch::name());
  struct shape { bool ta, tb; std::size_t M, N, K; };
  unsigned seed = 90;
  for (const shape sh : {shape{false, false, 1030, 130, 300}, shape{true, false, 512, 128, 700},
                         shape{true, false, 96, 515, 900}, shape{false, true, 200, 400, 500}}) {
    gemm_case c{sh.ta, sh.tb, sh.M, sh.N, sh.K, 1.f, 0.5f, 0, 1, 2};
    gemm_data d(c, seed++);
    const int threads_before = omp_get_max_threads();
    omp_set_num_threads(1);
    const std::vector<float> one = run_gemm<Arch>(d);
    omp_set_num_threads(2);
    const std::vector<float> two = run_gemm<Arch>(d);
    omp_set_num_threads(threads_before);
    check_gemm(d, one, 400);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < one.size(); ++i)
      differ += std::bit_cast<std::uint32_t>(one[i]) != std::bit_cast<std::uint32_t>(two[i]);
    INFO("M " << sh.M << " N " << sh.N << " K " << sh.K);
    CHECK(differ == 0);
  }
}

TEST_CASE("gemm accepts 4-byte aligned user pointers", "[gemm]") {
  // Offset every operand by one float from any vector alignment.
  const std::size_t M = 37, N = 70, K = 45;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      gemm_case c{bool(ta), bool(tb), M, N, K, 1.f, 0.5f, 1, 1, 1};
      gemm_data d(c, 21);
      // Shift the storage by one element.
      gemm_data s = d;
      s.A.insert(s.A.begin(), 0.f);
      s.B.insert(s.B.begin(), 0.f);
      std::vector<float> C = d.C0;
      C.insert(C.begin(), 0.f);
      k::gemm(c.ta, c.tb, M, N, K, c.alpha, s.A.data() + 1, d.lda, s.B.data() + 1, d.ldb, c.beta, C.data() + 1, d.ldc);
      C.erase(C.begin());
      check_gemm(d, C);
    }
}

TEST_CASE("gemm tall-skinny, K = 1 and wide shapes, all transposes", "[gemm]") {
  // N = 9000 spans three column blocks (NC ~ 4096, like GPT-2's 50257-wide logits): the packing buffer
  // must hold a whole block's panels (an overflow there is what the sanitizer build catches).
  const std::size_t sizes[][3] = {{1000, 3, 17}, {3, 1000, 17}, {500, 500, 1}, {1, 1000, 64},
                                  {1000, 1, 64}, {2, 513, 65},  {9, 9000, 40}};
  unsigned seed = 100;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const auto& s : sizes) {
        gemm_case c{bool(ta), bool(tb), s[0], s[1], s[2], 1.f, (seed % 2) ? 0.f : 1.f, 0, 2, 1};
        gemm_data d(c, seed++);
        check_gemm(d, run_gemm<xsimd::default_arch>(d));
      }
}

TEST_CASE("gemm on the model's shapes (sampled check)", "[gemm]") {
  struct shp {
    std::size_t M, K, N;
  };
  // GPT-2 small with 1024 rows; tiny model (d_model 128, batch 16 x context 128 = 2048 rows, vocab 256).
  const shp shapes[] = {{1024, 768, 2304}, {1024, 768, 3072}, {1024, 3072, 768}, {2048, 128, 384},
                        {2048, 128, 512},  {2048, 512, 128},  {2048, 128, 256}};
  unsigned seed = 200;
  for (const auto& s : shapes) {
    // Forward (X W), and the backward forms dX = dY W^T and dW = X^T dY.
    const gemm_case cases[] = {{false, false, s.M, s.N, s.K, 1.f, 0.f},
                               {false, true, s.M, s.K, s.N, 1.f, 1.f},
                               {true, false, s.K, s.N, s.M, 1.f, 1.f}};
    for (const auto& c : cases) {
      gemm_data d(c, seed++);
      check_gemm(d, run_gemm<xsimd::default_arch>(d), 1500);
    }
  }
}

TEST_CASE("gemm attention-head shapes", "[gemm]") {
  // S = Q K^T (T x T, hd), O = P V, dP = dO V^T, dV = P^T dO.
  for (std::size_t T : {40, 129, 300})
    for (std::size_t hd : {32, 64}) {
      const gemm_case cases[] = {{false, true, T, T, hd, 0.125f, 0.f, 2 * hd, 2 * hd, 0},
                                 {false, false, T, hd, T, 1.f, 0.f, 0, 2 * hd, 2 * hd},
                                 {false, true, T, T, hd, 1.f, 0.f, 2 * hd, 2 * hd, 0},
                                 {true, false, T, hd, T, 1.f, 1.f, 0, 2 * hd, 2 * hd}};
      for (const auto& c : cases) {
        gemm_data d(c, unsigned(T + hd));
        check_gemm(d, run_gemm<xsimd::default_arch>(d));
      }
    }
}

TEMPLATE_LIST_TEST_CASE("gemm_causal equals gemm bit for bit wherever a causal product needs it", "[gemm]",
                        arch_list) {
  // Attention's six products per (sequence, head), over causal blocks of rows [r0, r1) as model/forward.hpp
  // and backward.hpp cut them: one block (cb = T) and blocks of 32 rows, T across tile edges, and
  // T = 500 whose a_lower depth (K = r1 up to 500) spans two depth blocks. P has exact zeros beyond its
  // diagonal and random values on and below it; gemm's result is the reference, compared with ==.
  using Arch = TestType;
  using k::triangle;
  INFO("arch " << Arch::name());
  const std::size_t dh = 24, ld = 3 * dh + 5;  // head columns of a wider row, as q, k, v are
  for (std::size_t T : {1, 7, 40, 64, 65, 129, 500})
    for (std::size_t cb : {T, std::size_t(32)}) {
      if (cb > T) continue;
      INFO("T " << T << " block " << cb);
      const auto q = random_vec(T * ld, unsigned(T)), kk = random_vec(T * ld, unsigned(T) + 1),
                 g = random_vec(T * ld, unsigned(T) + 2);
      auto P = random_vec(T * T, unsigned(T) + 3);
      for (std::size_t i = 0; i < T; ++i) std::fill(P.begin() + std::ptrdiff_t(i * T + i + 1), P.begin() + std::ptrdiff_t((i + 1) * T), 0.f);
      const auto C0 = random_vec(T * ld, unsigned(T) + 4);
      std::size_t mismatches = 0, compared = 0;
      auto same = [&](float x, float y) {
        ++compared;
        mismatches += !(x == y);
      };
      for (std::size_t r0 = 0; r0 < T; r0 += cb) {
        const std::size_t r1 = std::min(T, r0 + cb), m = r1 - r0;
        // scores: S[r0:r1, 0:r1] = q k^T; entries j <= r0 + i are needed (the rest may stay NaN).
        std::vector<float> S_ref(m * T, NaN), S(m * T, NaN);
        k::gemm<Arch>(false, true, m, r1, dh, 1.f, q.data() + r0 * ld, ld, kk.data(), ld, 0.f, S_ref.data(), T);
        k::gemm_causal<Arch>(triangle::c_lower, r0, false, true, m, r1, dh, 1.f, q.data() + r0 * ld, ld, kk.data(), ld,
                             0.f, S.data(), T);
        for (std::size_t i = 0; i < m; ++i)
          for (std::size_t j = 0; j <= r0 + i; ++j) same(S[i * T + j], S_ref[i * T + j]);
        // mix: z[r0:r1] = P[r0:r1, 0:r1] v (a_lower), beta 0
        for (float beta : {0.f, 1.f}) {
          std::vector<float> z_ref = C0, z = C0;
          k::gemm<Arch>(false, false, m, dh, r1, 1.f, P.data() + r0 * T, T, g.data(), ld, beta, z_ref.data() + r0 * ld, ld);
          k::gemm_causal<Arch>(triangle::a_lower, r0, false, false, m, dh, r1, 1.f, P.data() + r0 * T, T, g.data(), ld,
                               beta, z.data() + r0 * ld, ld);
          for (std::size_t i = 0; i < T * ld; ++i) same(z[i], z_ref[i]);
          // dv[0:r1] (+)= P[r0:r1, 0:r1]^T dz[r0:r1] (a_upper)
          std::vector<float> v_ref = C0, v = C0;
          k::gemm<Arch>(true, false, r1, dh, m, 1.f, P.data() + r0 * T, T, g.data() + r0 * ld, ld, beta, v_ref.data(), ld);
          k::gemm_causal<Arch>(triangle::a_upper, r0, true, false, r1, dh, m, 1.f, P.data() + r0 * T, T,
                               g.data() + r0 * ld, ld, beta, v.data(), ld);
          for (std::size_t i = 0; i < T * ld; ++i) same(v[i], v_ref[i]);
        }
      }
      CHECK(compared > 0);
      CHECK(mismatches == 0);
    }
}

TEMPLATE_LIST_TEST_CASE("causal_query_sum equals attention's per-block a_upper products bit for bit", "[gemm]",
                        arch_list) {
  // dv = P^T dz and dk = dS^T q as model/backward.hpp computed them before: C zeroed when T > cb, then one
  // gemm_causal(a_upper) per block of cb queries, added up (beta 1; beta 0 for a single block). The one-pass
  // kernel must give every bit of every row, with blocks that do not divide T, tiles straddling a block edge
  // (cb 20), column counts of one, two and three vectors and one that is no multiple of a vector (the
  // per-block calls then), and leave the columns beyond N alone.
  using Arch = TestType;
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
  INFO("arch " << Arch::name());
  for (std::size_t N : {W, 2 * W, 3 * W, std::size_t(24), std::size_t(5)})
    for (std::size_t T : {1, 7, 40, 64, 65, 100, 129, 300})
      for (std::size_t cb : {T, std::size_t(32), std::size_t(20)}) {
        if (cb > T) continue;
        INFO("N " << N << " T " << T << " block " << cb);
        const std::size_t ld = 3 * N + 5;
        auto A = random_vec(T * T, unsigned(T * 7 + N));
        for (std::size_t i = 0; i < T; ++i)
          std::fill(A.begin() + std::ptrdiff_t(i * T + i + 1), A.begin() + std::ptrdiff_t((i + 1) * T), 0.f);
        const auto Bm = random_vec(T * ld, unsigned(T * 7 + N + 1));
        const auto C0 = random_vec(T * ld, unsigned(T * 7 + N + 2));
        std::vector<float> ref = C0, out = C0;
        if (T > cb)
          for (std::size_t r = 0; r < T; ++r) std::fill(ref.begin() + std::ptrdiff_t(r * ld), ref.begin() + std::ptrdiff_t(r * ld + N), 0.f);
        for (std::size_t r0 = 0; r0 < T; r0 += cb) {
          const std::size_t r1 = std::min(T, r0 + cb);
          k::gemm_causal<Arch>(k::triangle::a_upper, r0, true, false, r1, N, r1 - r0, 1.f, A.data() + r0 * T, T,
                               Bm.data() + r0 * ld, ld, T > cb ? 1.f : 0.f, ref.data(), ld);
        }
        k::causal_query_sum<Arch>(T, cb, N, A.data(), T, Bm.data(), ld, out.data(), ld);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < T * ld; ++i) differ += std::memcmp(&ref[i], &out[i], sizeof(float)) != 0;
        CHECK(differ == 0);
      }
}

TEST_CASE("gemm inside an omp parallel region runs serially per thread", "[gemm]") {
  const int nt = 4;
  std::vector<gemm_data> data;
  for (int t = 0; t < nt; ++t)
    data.emplace_back(gemm_case{t % 2 == 0, t / 2 == 1, 150 + std::size_t(t) * 13, 97, 70, 1.f, 0.5f * float(t % 2), 1, 0, 3},
                      unsigned(300 + t));
  std::vector<std::vector<float>> out(nt);
  for (int t = 0; t < nt; ++t) out[t] = data[t].C0;
  int inside = 0;
#pragma omp parallel for num_threads(2) schedule(static, 1) reduction(+ : inside)
  for (int t = 0; t < nt; ++t) {
    inside += omp_in_parallel() ? 1 : 0;
    const auto& d = data[t];
    k::gemm(d.c.ta, d.c.tb, d.c.M, d.c.N, d.c.K, d.c.alpha, d.A.data(), d.lda, d.B.data(), d.ldb, d.c.beta, out[t].data(),
            d.ldc);
  }
  for (int t = 0; t < nt; ++t) check_gemm(data[t], out[t]);
  // Also the threaded path (outside any region) with an explicit thread count.
  gemm_data d(gemm_case{false, false, 300, 260, 90, 1.f, 0.f, 0, 0, 0}, 9);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  check_gemm(d, run_gemm<xsimd::default_arch>(d));
  omp_set_num_threads(saved);
}

// ------------------------------------------------------------------------------------------- softmax

namespace {

std::vector<double> ref_softmax(const std::vector<float>& S, std::size_t T, std::size_t ld, double scale) {
  std::vector<double> P(T * ld, 0.0);
  for (std::size_t i = 0; i < T; ++i) {
    double m = -INFINITY;
    for (std::size_t j = 0; j <= i; ++j) m = std::max(m, scale * S[i * ld + j]);
    double s = 0;
    for (std::size_t j = 0; j <= i; ++j) s += std::exp(scale * S[i * ld + j] - m);
    for (std::size_t j = 0; j <= i; ++j) P[i * ld + j] = std::exp(scale * S[i * ld + j] - m) / s;
  }
  return P;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("causal softmax forward", "[softmax]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  for (std::size_t T : {1, 2, 7, 17, 33, 129}) {
    const std::size_t ld = T + 3;
    auto S = random_vec(T * ld, unsigned(T), -8.f, 8.f);
    // Masked entries (and row padding) hold garbage that must be ignored.
    for (std::size_t i = 0; i < T; ++i)
      for (std::size_t j = i + 1; j < ld; ++j) S[i * ld + j] = (j < T) ? NaN : 12345.f;
    const float scale = 0.37f;
    const auto R = ref_softmax(S, T, ld, scale);
    auto P = S;
    k::causal_softmax<Arch>(P.data(), T, ld, scale);
    REQUIRE(P[0] == 1.f);
    for (std::size_t i = 0; i < T; ++i) {
      double sum = 0;
      for (std::size_t j = 0; j <= i; ++j) {
        REQUIRE_THAT(P[i * ld + j], WithinAbs(R[i * ld + j], 1e-6) || WithinRel(R[i * ld + j], 1e-5));
        sum += P[i * ld + j];
      }
      REQUIRE_THAT(sum, WithinAbs(1.0, 1e-5));
      for (std::size_t j = i + 1; j < T; ++j) REQUIRE(P[i * ld + j] == 0.f);  // exactly 0 (not NaN)
      for (std::size_t j = T; j < ld; ++j) REQUIRE(P[i * ld + j] == 12345.f);  // padding untouched
    }
  }
  // Large scores (overflow without the max shift) and a negative scale.
  {
    const std::size_t T = 20;
    auto S = random_vec(T * T, 5, 500.f, 1000.f);
    auto P = S;
    k::causal_softmax<Arch>(P.data(), T, T, -1.f);
    const auto R = ref_softmax(S, T, T, -1.0);
    for (std::size_t i = 0; i < T * T; ++i) REQUIRE_THAT(P[i], WithinAbs(R[i], 1e-6));
  }
}

TEMPLATE_LIST_TEST_CASE("causal softmax backward: formula and finite differences", "[softmax]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  for (std::size_t T : {1, 5, 17, 33}) {
    const std::size_t ld = T + 1;
    const double scale = 0.5;
    auto S = random_vec(T * ld, unsigned(10 + T), -3.f, 3.f);
    auto G = random_vec(T * ld, unsigned(20 + T));  // dL/dP, L = sum G .* P
    auto P = S;
    k::causal_softmax<Arch>(P.data(), T, ld, float(scale));
    std::vector<float> dS(T * ld, NaN);
    k::causal_softmax_backward<Arch>(P.data(), G.data(), dS.data(), T, ld, float(scale));
    // In-place variant (dS aliases dP).
    auto dS2 = G;
    k::causal_softmax_backward<Arch>(P.data(), dS2.data(), dS2.data(), T, ld, float(scale));
    auto loss = [&](const std::vector<float>& s) {
      const auto R = ref_softmax(s, T, ld, scale);
      double L = 0;
      for (std::size_t i = 0; i < T; ++i)
        for (std::size_t j = 0; j <= i; ++j) L += double(G[i * ld + j]) * R[i * ld + j];
      return L;
    };
    for (std::size_t i = 0; i < T; ++i) {
      for (std::size_t j = 0; j <= i; ++j) {
        auto sp = S, sm = S;
        const float h = 1e-2f;
        sp[i * ld + j] += h;
        sm[i * ld + j] -= h;
        const double fd = (loss(sp) - loss(sm)) / (double(sp[i * ld + j]) - double(sm[i * ld + j]));
        REQUIRE_THAT(dS[i * ld + j], WithinAbs(fd, 2e-4));
        REQUIRE(dS2[i * ld + j] == dS[i * ld + j]);
      }
      for (std::size_t j = i + 1; j < T; ++j) {
        REQUIRE(dS[i * ld + j] == 0.f);
        REQUIRE(dS2[i * ld + j] == 0.f);
      }
    }
  }
}

namespace {

/// The former causal-softmax row loops' exponentials want[j] = exp(scale r[j] - m), j < n (the argument
/// rounded once), and their sum: vector by vector in order, the partial vector last with zeros beyond n,
/// xsimd::hadd.
template <class Arch>
float former_exps(const float* r, std::size_t n, float scale, float m, std::vector<float>& want) {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  alignas(64) float t[W], e[W];
  b acc(0.f);
  want.assign(n, 0.f);
  for (std::size_t j = 0; j < n; j += W) {
    for (std::size_t q = 0; q < W; ++q) t[q] = j + q < n ? std::fma(scale, r[j + q], -m) : -INFINITY;
    const b ev = xsimd::exp(b::load_aligned(t));
    ev.store_aligned(e);
    acc += ev;
    for (std::size_t q = 0; q < W && j + q < n; ++q) want[j + q] = e[q];
  }
  return xsimd::hadd(acc);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("causal softmax keeps its values: the scalar-tailed row loops of before, to the bit",
                        "[softmax]", arch_list) {
  // The kernel reads a row's partial last vector with a masked load; before, it built that vector lane by
  // lane and finished the max and the weights in scalar loops. Same operations, so the same bits: the max
  // of scale * s, exp(scale * s - m) rounded once (fused), the exponentials summed vector by vector in
  // order (the partial one last, zeros beyond the row), xsimd::hadd, one reciprocal, one product each.
  using Arch = TestType;
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
  INFO("arch " << Arch::name());
  const std::size_t rows[] = {1, 3, W, W + 1, 31, 64, 70};
  for (const std::size_t T : rows) {
    for (const float scale : {0.17677669f, -0.5f, 1.f}) {
      const std::size_t ld = T + 2;
      auto S = random_vec(T * ld, unsigned(T * 7 + (scale < 0)), -20.f, 20.f);
      for (std::size_t i = 0; i < T; ++i)
        for (std::size_t j = i + 1; j < ld; ++j) S[i * ld + j] = (j < T) ? NaN : 12345.f;
      auto got = S;
      k::causal_softmax<Arch>(got.data(), T, ld, scale);
      for (std::size_t i = 0; i < T; ++i) {
        const float* r = S.data() + i * ld;
        const std::size_t n = i + 1, nf = n / W * W;
        float m = -INFINITY;
        for (std::size_t j = 0; j < n; ++j) m = std::max(m, scale * r[j]);
        std::vector<float> want;
        const float inv = 1.f / former_exps<Arch>(r, n, scale, m, want);
        for (std::size_t j = 0; j < n; ++j) {
          INFO("T " << T << " scale " << scale << " row " << i << " column " << j << " (whole vectors " << nf << ")");
          REQUIRE(std::bit_cast<std::uint32_t>(got[i * ld + j]) == std::bit_cast<std::uint32_t>(inv * want[j]));
        }
        for (std::size_t j = n; j < T; ++j) REQUIRE(std::bit_cast<std::uint32_t>(got[i * ld + j]) == 0u);  // +0
        for (std::size_t j = T; j < ld; ++j) REQUIRE(got[i * ld + j] == 12345.f);
      }
    }
  }
}

TEST_CASE("softmax + 1 and an extra slot's rows keep their values: the former formula, to the bit", "[softmax]") {
  // attention::normalisation::forward_rows shares the causal row kernel; its max takes in the slot's logit
  // c_i and, for softmax + 1, a logit 0; its sum adds exp(c_i - m) and exp(-m) after the row's own.
  using Arch = xsimd::default_arch;
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
  auto check = [](auto component, bool with_slot) {
    constexpr bool plus_one = decltype(component)::plus_one;
    for (const std::size_t T : {std::size_t(1), std::size_t(5), W + 3, std::size_t(64)}) {
      const float scale = 0.25f;
      auto S = random_vec(T * T, unsigned(T * 3 + with_slot + 2 * plus_one), -30.f, 30.f);
      for (std::size_t i = 0; i < T; ++i)
        for (std::size_t j = i + 1; j < T; ++j) S[i * T + j] = NaN;
      auto slot = random_vec(T, unsigned(T + 77), -8.f, 8.f);
      auto got = S;
      auto got_slot = slot;
      decltype(component)::forward_rows(got.data(), T, scale, with_slot ? got_slot.data() : nullptr, 0.f);
      for (std::size_t i = 0; i < T; ++i) {
        const float* r = S.data() + i * T;
        const std::size_t n = i + 1;
        float m = plus_one ? 0.f : -INFINITY;
        for (std::size_t j = 0; j < n; ++j) m = std::max(m, scale * r[j]);
        if (with_slot) m = std::max(m, slot[i]);
        std::vector<float> want;
        float sum = former_exps<Arch>(r, n, scale, m, want);
        const float e_slot = with_slot ? std::exp(slot[i] - m) : 0.f;
        sum += e_slot;
        if (plus_one) sum += std::exp(-m);
        const float inv = 1.f / sum;
        INFO("T " << T << " row " << i << (plus_one ? " softmax + 1" : " softmax") << (with_slot ? ", slot" : ""));
        for (std::size_t j = 0; j < n; ++j)
          REQUIRE(std::bit_cast<std::uint32_t>(got[i * T + j]) == std::bit_cast<std::uint32_t>(inv * want[j]));
        for (std::size_t j = n; j < T; ++j) REQUIRE(got[i * T + j] == 0.f);
        if (with_slot) REQUIRE(std::bit_cast<std::uint32_t>(got_slot[i]) == std::bit_cast<std::uint32_t>(e_slot * inv));
      }
    }
  };
  check(sinkcore::attention::softmax_plus_one{}, false);
  check(sinkcore::attention::softmax_plus_one{}, true);
  check(sinkcore::attention::softmax{}, true);
}

TEMPLATE_LIST_TEST_CASE("simd helpers: hmax, a fused fms and fma, masked lanes and partial stores", "[softmax]", arch_list) {
  using Arch = TestType;
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  INFO("arch " << Arch::name());
  alignas(64) float x[W];
  for (unsigned seed = 0; seed < 20; ++seed) {
    const auto v = random_vec(W, seed, -100.f, -1.f);  // all negative: a max that ignored a lane, or read 0, fails
    std::copy(v.begin(), v.end(), x);
    REQUIRE(k::simd::hmax<Arch>(b::load_aligned(x)) == *std::max_element(v.begin(), v.end()));
  }
  // (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24: rounded once that is exact; rounding the product first loses 2^-24.
  // simd::fms rounds once wherever the CPU has FMA (AVX-512 always; otherwise where the build enables FMA).
#if defined(__FMA__)
  constexpr bool fused = true;
#else
  constexpr bool fused = W == 16;
#endif
  const float a = 1.f + std::ldexp(1.f, -12);
  const float want = fused ? std::ldexp(1.f, -11) + std::ldexp(1.f, -24) : std::ldexp(1.f, -11);
  const b f = k::simd::fms<Arch>(b(a), b(a), b(1.f));
  for (std::size_t q = 0; q < W; ++q) REQUIRE(f.get(q) == want);
  // simd::fma (the GEMM's accumulation) likewise, and simd::fma1, the scalar rounded as its lanes are:
  // a * a + (-1) is the same single rounding.
  const b g = k::simd::fma<Arch>(b(a), b(a), b(-1.f));
  for (std::size_t q = 0; q < W; ++q) REQUIRE(g.get(q) == want);
#if defined(__FMA__) || defined(__AVX512F__)
  REQUIRE(k::simd::fma1(a, a, -1.f) == std::ldexp(1.f, -11) + std::ldexp(1.f, -24));
#else
  REQUIRE(k::simd::fma1(a, a, -1.f) == std::ldexp(1.f, -11));
#endif
  for (std::size_t n = 0; n < W; ++n) {
    const auto lanes = k::simd::first_lanes<Arch>(n);
    std::vector<float> buf(W + 2, -7.f);
    const b y = xsimd::select(lanes, b(3.f), b(5.f));
    k::simd::store_partial<Arch>(buf.data() + 1, y, n);
    for (std::size_t q = 0; q < W + 2; ++q) {
      INFO("n " << n << " lane " << q);
      REQUIRE(buf[q] == (q >= 1 && q <= n ? 3.f : -7.f));  // lanes [0, n) written (all true), nothing else
    }
    std::vector<float> src(W, 2.f);
    const b l = k::simd::load_partial<Arch>(src.data(), n);
    for (std::size_t q = 0; q < W; ++q) REQUIRE(l.get(q) == (q < n ? 2.f : 0.f));
  }
}

// ----------------------------------------------------------------------------------------- layernorm

namespace {

void ref_layernorm(const std::vector<double>& x, std::size_t rows, std::size_t d, std::size_t ldx, const float* gamma,
                   const float* beta, std::vector<double>& y, double eps = 1e-5) {
  y.assign(rows * d, 0.0);
  for (std::size_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (std::size_t i = 0; i < d; ++i) m += x[r * ldx + i];
    m /= double(d);
    for (std::size_t i = 0; i < d; ++i) v += (x[r * ldx + i] - m) * (x[r * ldx + i] - m);
    v /= double(d);
    const double rs = 1.0 / std::sqrt(v + eps);
    for (std::size_t i = 0; i < d; ++i) {
      const double n = (x[r * ldx + i] - m) * rs;
      y[r * d + i] = (gamma ? n * gamma[i] : n) + (beta ? beta[i] : 0.0);
    }
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("layernorm forward", "[layernorm]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  for (std::size_t d : {1, 7, 17, 33, 129, 768})
    for (int affine = 0; affine < 3; ++affine) {  // 0: none, 1: gamma only, 2: gamma and beta
      const std::size_t rows = 5, ldx = d + 2, ldy = d + 1;
      auto x = random_vec(rows * ldx, unsigned(d), -2.f, 3.f);
      for (std::size_t i = 0; i < d; ++i) x[ldx + i] += 100.f;  // a row with a large mean
      const auto g = random_vec(d, 1, 0.5f, 1.5f), be = random_vec(d, 2);
      const float* gp = affine >= 1 ? g.data() : nullptr;
      const float* bp = affine >= 2 ? be.data() : nullptr;
      std::vector<float> y(rows * ldy, -7.f), mean(rows), rstd(rows);
      k::layernorm<Arch>(x.data(), ldx, gp, bp, y.data(), ldy, mean.data(), rstd.data(), rows, d);
      std::vector<double> xd(x.begin(), x.end()), yr;
      ref_layernorm(xd, rows, d, ldx, gp, bp, yr);
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t i = 0; i < d; ++i) REQUIRE_THAT(y[r * ldy + i], WithinAbs(yr[r * d + i], 2e-4));
        REQUIRE(y[r * ldy + d] == -7.f);
      }
      // Null mean/rstd and in-place (y aliases x).
      auto xi = x;
      k::layernorm<Arch>(xi.data(), ldx, gp, bp, xi.data(), ldx, nullptr, nullptr, rows, d);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < d; ++i) REQUIRE_THAT(xi[r * ldx + i], WithinAbs(y[r * ldy + i], 1e-6));
    }
}

TEMPLATE_LIST_TEST_CASE("layernorm backward accumulates and matches finite differences", "[layernorm]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  for (std::size_t d : {1, 3, 17, 40})
    for (int with_gamma = 0; with_gamma < 2; ++with_gamma) {
      const std::size_t rows = 3, ld = d + 1;
      auto x = random_vec(rows * ld, unsigned(d + 50), -2.f, 2.f);
      const auto g = random_vec(d, 3, 0.5f, 1.5f), be = random_vec(d, 4);
      const float* gp = with_gamma ? g.data() : nullptr;
      const float* bp = with_gamma ? be.data() : nullptr;
      const auto G = random_vec(rows * ld, unsigned(d + 60));  // dL/dy, L = sum G .* y
      std::vector<float> y(rows * ld), mean(rows), rstd(rows);
      k::layernorm<Arch>(x.data(), ld, gp, bp, y.data(), ld, mean.data(), rstd.data(), rows, d);
      // Prefilled accumulators.
      const auto dx0 = random_vec(rows * ld, 5), dg0 = random_vec(d, 6), db0 = random_vec(d, 7);
      auto dx = dx0, dg = dg0, db = db0;
      k::layernorm_backward<Arch>(G.data(), ld, x.data(), ld, gp, mean.data(), rstd.data(), dx.data(), ld,
                                  with_gamma ? dg.data() : nullptr, with_gamma ? db.data() : nullptr, rows, d);
      auto loss = [&](const std::vector<double>& xx, const float* gg, const float* bb) {
        std::vector<double> yy;
        ref_layernorm(xx, rows, d, ld, gg, bb, yy);
        double L = 0;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t i = 0; i < d; ++i) L += double(G[r * ld + i]) * yy[r * d + i];
        return L;
      };
      const std::vector<double> xd(x.begin(), x.end());
      const double h = 1e-4;
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < d; ++i) {
          auto xp = xd, xm = xd;
          xp[r * ld + i] += h;
          xm[r * ld + i] -= h;
          const double fd = (loss(xp, gp, bp) - loss(xm, gp, bp)) / (2 * h);
          // d = 1: output is beta (or 0) whatever x is, so the gradient is ~0 but eps makes it tiny.
          REQUIRE_THAT(double(dx[r * ld + i]) - double(dx0[r * ld + i]), WithinAbs(fd, 1e-3));
        }
      if (with_gamma) {
        for (std::size_t i = 0; i < d; ++i) {
          // L is linear in gamma and beta: exact derivatives from the reference.
          auto gp1 = g, gm1 = g;
          gp1[i] += 0.5f;
          gm1[i] -= 0.5f;
          const double fdg = (loss(xd, gp1.data(), bp) - loss(xd, gm1.data(), bp)) / 1.0;
          REQUIRE_THAT(double(dg[i]) - double(dg0[i]), WithinAbs(fdg, 1e-4));
          double fdb = 0;
          for (std::size_t r = 0; r < rows; ++r) fdb += G[r * ld + i];
          REQUIRE_THAT(double(db[i]) - double(db0[i]), WithinAbs(fdb, 1e-5));
        }
      }
    }
}

// ---------------------------------------------------------------------------------------------- GELU

namespace {
double ref_gelu(double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
}  // namespace

TEMPLATE_LIST_TEST_CASE("gelu forward and backward", "[gelu]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  for (std::size_t n : {1, 7, 17, 33, 129, 1000}) {
    auto x = random_vec(n, unsigned(n), -6.f, 6.f);
    if (n > 10) {
      x[0] = 0.f;
      x[1] = -20.f;
      x[2] = 20.f;
      x[3] = 1e-4f;
    }
    std::vector<float> y(n);
    k::gelu<Arch>(x.data(), y.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      INFO("x = " << x[i]);
      REQUIRE_THAT(y[i], WithinAbs(ref_gelu(x[i]), 2e-6) || WithinRel(ref_gelu(x[i]), 1e-5));
    }
    // In place.
    auto yi = x;
    k::gelu<Arch>(yi.data(), yi.data(), n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(yi[i] == y[i]);
    // Backward against central differences of the double reference: gelu_backward, and the same gradient from
    // the forward pass's output; each in place too.
    const auto dy = random_vec(n, unsigned(n + 1));
    const auto matches_differences = [&](const std::vector<float>& dx) {
      for (std::size_t i = 0; i < n; ++i) {
        const double h = 1e-5;
        const double fd = (ref_gelu(double(x[i]) + h) - ref_gelu(double(x[i]) - h)) / (2 * h);
        INFO("x = " << x[i]);
        REQUIRE_THAT(dx[i], WithinAbs(double(dy[i]) * fd, 1e-5));
      }
    };
    std::vector<float> dx(n);
    k::gelu_backward<Arch>(x.data(), dy.data(), dx.data(), n);
    matches_differences(dx);
    auto dxi = dy;
    k::gelu_backward<Arch>(x.data(), dxi.data(), dxi.data(), n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(dxi[i] == dx[i]);
    std::vector<float> dxo(n);
    k::gelu_backward_from_output<Arch>(x.data(), y.data(), dy.data(), dxo.data(), n);
    matches_differences(dxo);
    auto dxoi = dy;
    k::gelu_backward_from_output<Arch>(x.data(), y.data(), dxoi.data(), dxoi.data(), n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(dxoi[i] == dxo[i]);
  }
}

TEMPLATE_LIST_TEST_CASE("gelu's gradient from its output is the derivative, over the whole line", "[gelu]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  // Every 1/1024 over [-20, 20], then zero, tiny, subnormal and huge inputs.
  std::vector<float> x;
  for (int i = -20 * 1024; i <= 20 * 1024; ++i) x.push_back(float(i) / 1024.f + 1e-4f * float(i % 7));
  for (const float v : {0.f, -0.f, 1e-35f, -1e-38f, 1e-42f, 1e-20f, -1e-20f, 1e10f, -1e10f, 3e18f, -3e18f})
    x.push_back(v);
  const std::size_t n = x.size();
  std::vector<float> y(n), one(n, 1.f), want(n), got(n);
  k::gelu<Arch>(x.data(), y.data(), n);
  k::gelu_backward<Arch>(x.data(), one.data(), want.data(), n);
  k::gelu_backward_from_output<Arch>(x.data(), y.data(), one.data(), got.data(), n);
  const double kk = 0.7978845608028654, c = 0.044715;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = x[i], t = std::tanh(kk * (v + c * v * v * v));
    const double exact =
        std::abs(v) > 1e6 ? (v > 0 ? 1.0 : 0.0) : 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * kk * (1 + 3 * c * v * v);
    INFO("x = " << x[i] << ", from output " << got[i] << ", gelu_backward " << want[i] << ", exact " << exact);
    // y = gelu(x) holds 1 + tanh only to its rounding: 1 - tanh near x = 5 to about 1e-7, times x^2 / 10.
    REQUIRE(std::isfinite(got[i]));
    REQUIRE_THAT(got[i], WithinAbs(exact, 4e-6));
    REQUIRE_THAT(got[i], WithinAbs(want[i], 4e-6));
  }
}

// GCC 12 false positive inside avx512fintrin.h when xsimd's AVX-512 exp / tanh are inlined (PR 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
TEMPLATE_LIST_TEST_CASE("xsimd exp and tanh are accurate against std::", "[gelu][softmax]", arch_list) {
  using Arch = TestType;
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  alignas(64) float in[W], out[W];
  double worst_exp = 0, worst_tanh = 0;
  for (int s = -8000; s < 8000; s += int(W)) {
    for (std::size_t q = 0; q < W; ++q) in[q] = float(s + int(q)) * 0.01f;
    xsimd::exp(b::load_aligned(in)).store_aligned(out);
    for (std::size_t q = 0; q < W; ++q) {
      const double r = std::exp(double(in[q]));
      worst_exp = std::max(worst_exp, std::fabs(out[q] - r) / r);
    }
    xsimd::tanh(b::load_aligned(in)).store_aligned(out);
    for (std::size_t q = 0; q < W; ++q) {
      const double r = std::tanh(double(in[q]));
      worst_tanh = std::max(worst_tanh, std::fabs(out[q] - r) / std::max(std::fabs(r), 1e-30));
    }
  }
  CHECK(worst_exp < 4e-7);
  CHECK(worst_tanh < 4e-7);
  // exp(-inf) = 0 (used for softmax tail padding).
  xsimd::exp(b(-std::numeric_limits<float>::infinity())).store_aligned(out);
  CHECK(out[0] == 0.f);
}

TEMPLATE_LIST_TEST_CASE("gelu's tanh is xsimd::tanh to the bit, and gelu_backward keeps its values", "[gelu]", arch_list) {
  using Arch = TestType;
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t W = b::size;
  INFO("arch " << Arch::name());
  // Every 997th float bit pattern (both signs, every exponent, NaNs and infinities among them), the
  // polynomial's bound 0.625 and its neighbours, exp's overflow near 2|x| = 88.7, and vectors that mix
  // the two paths (the branches the kernel leaves out).
  std::vector<float> x;
  for (std::uint64_t u = 0; u < (std::uint64_t{1} << 32); u += 997) x.push_back(std::bit_cast<float>(std::uint32_t(u)));
  for (float v : {0.f, -0.f, 0.625f, -0.625f, std::nextafter(0.625f, 0.f), std::nextafter(0.625f, 1.f), 44.3f, 44.4f,
                  -44.4f, 1e-30f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN()})
    x.push_back(v);
  while (x.size() % W) x.push_back(0.1f);
  alignas(64) float in[W], want[W], got[W];
  auto fbits = [](float f) { return std::bit_cast<std::uint32_t>(f); };
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); i += W) {
    std::copy_n(x.data() + i, W, in);
    const b v = b::load_aligned(in);
    xsimd::tanh(v).store_aligned(want);
    k::gelu_detail::tanh<false, Arch>(v).store_aligned(got);
    const bool all_small = xsimd::all(xsimd::abs(v) < b(0.625f));
    if (all_small) k::gelu_detail::tanh<true, Arch>(v).store_aligned(got);  // the polynomial alone
    for (std::size_t q = 0; q < W; ++q)
      if (fbits(got[q]) != fbits(want[q]) && !(std::isnan(got[q]) && std::isnan(want[q])) && ++bad <= 5)
        WARN("tanh(" << in[q] << ") = " << got[q] << ", xsimd::tanh " << want[q] << (all_small ? " (small)" : ""));
  }
  CHECK(bad == 0);
  CHECK(x.size() > 4'000'000);
  // gelu_backward: the formula of before (with xsimd::tanh), to the bit. Groups of four vectors
  // whose arguments are all small take the polynomial alone: inputs in [-0.78, 0.78] (the bound 0.625 is
  // at |x| = 0.765: some groups all small, the others mixed), [-0.5, 0.5] (all), [-8, 8] (none), the last
  // part ending in vectors after the last whole group (taken one at a time, both paths) and a tail shorter
  // than a vector.
  auto xs = random_vec(512, 7, -0.78f, 0.78f);
  for (const auto& part : {random_vec(512, 10, -0.5f, 0.5f), random_vec(512 + 3 * W + 5, 9, -8.f, 8.f)})
    xs.insert(xs.end(), part.begin(), part.end());
  const auto dy = random_vec(xs.size(), 8);
  std::vector<float> dx(xs.size());
  k::gelu_backward<Arch>(xs.data(), dy.data(), dx.data(), xs.size());
  const b kk(k::gelu_k), c(0.044715f), c3(3.f * 0.044715f), half(0.5f), one(1.f);
  for (std::size_t i = 0; i < xs.size(); i += W) {
    const std::size_t m = std::min(W, xs.size() - i);  // the tail: a zero-padded vector
    std::fill_n(in, W, 0.f);
    std::copy_n(xs.data() + i, m, in);
    const b v = b::load_aligned(in);
    const b v2 = v * v;
    const b t = xsimd::tanh(kk * xsimd::fma(c * v2, v, v));
    const b du = kk * xsimd::fma(c3, v2, one);
    const b g = half * (one + t) + half * v * xsimd::fnma(t, t, one) * du;
    g.store_aligned(got);
    for (std::size_t q = 0; q < m; ++q) {
      INFO("x = " << xs[i + q]);
      REQUIRE(fbits(dx[i + q]) == fbits(dy[i + q] * got[q]));
    }
  }
}

TEMPLATE_LIST_TEST_CASE("gelu is the exact GELU to a few roundings, tails included", "[gelu]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  // Every 211th float in [-12, 20] (tiny and subnormal inputs included), against x / (1 + exp(-2u)) in double
  // (0.5 (1 + tanh(u)) written without the cancellation): within 6e-7 absolutely, within 1.5e-6 relatively
  // where |y| > 1e-3 and within 2e-5 relatively where the exact value is at least 1e-30 (u's rounding,
  // magnified by the exp: 2|u| is about 71 there). GPT-2's formula in float, 0.5 x (1 + tanh(u)), is 5e-5 off
  // at x = -3.4 and 0 from x = -5.16 on; an error in the cubic's coefficient or a lost factor fails too.
  std::vector<float> x;
  for (std::uint32_t u = 0; u < 0x41a00000u; u += 211) x.push_back(std::bit_cast<float>(u));           // [0, 20)
  for (std::uint32_t u = 0x80000000u; u < 0xc1400000u; u += 211) x.push_back(std::bit_cast<float>(u));  // (-12, -0]
  std::vector<float> y(x.size());
  k::gelu<Arch>(x.data(), y.data(), x.size());
  std::size_t bad = 0;
  double worst_rel = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], u = 0.7978845608028654 * (v + 0.044715 * v * v * v), want = v / (1 + std::exp(-2 * u));
    const double err = std::fabs(double(y[i]) - want), mag = std::fabs(want);
    const bool ok = err <= 6e-7 && (mag <= 1e-3 || err <= 1.5e-6 * mag) && (mag < 1e-30 || err <= 2e-5 * mag);
    if (mag > 1e-3) worst_rel = std::max(worst_rel, err / mag);
    if (!ok && ++bad <= 5) WARN("gelu(" << x[i] << ") = " << y[i] << ", exact " << want);
  }
  CHECK(bad == 0);
  CHECK(x.size() > 10'000'000);
  INFO("worst relative error where |y| > 1e-3: " << worst_rel);
  CHECK(worst_rel > 0);  // the comparison ran on values that differ somewhere
  // Infinities and NaN: gelu(+inf) = +inf, gelu(NaN) is NaN; below the exp's overflow the value is -0.
  std::vector<float> e = {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(), -11.f, -1e30f};
  std::vector<float> ye(e.size());
  k::gelu<Arch>(e.data(), ye.data(), e.size());
  CHECK(ye[0] == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(ye[1]));
  CHECK(ye[2] == 0.f);
  CHECK(ye[3] == 0.f);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// ---------------------------------------------------------------------------------------------- RoPE

TEMPLATE_LIST_TEST_CASE("rope", "[rope]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  const float base = 10000.f;
  for (std::size_t hd : {2, 6, 16, 34, 64})
    for (std::size_t heads : {1, 3}) {
      const std::size_t T = 37, ld = heads * hd + 5;
      const auto x0 = random_vec(T * ld, unsigned(hd * 10 + heads));
      auto x = x0;
      k::rope<Arch>(x.data(), T, ld, heads, hd, base);
      const std::size_t half = hd / 2;
      for (std::size_t t = 0; t < T; ++t) {
        for (std::size_t h = 0; h < heads; ++h)
          for (std::size_t i = 0; i < half; ++i) {
            const std::size_t p = t * ld + h * hd + i;
            const double th = std::pow(double(base), -2.0 * double(i) / double(hd)), ang = double(t) * th;
            const double a = x0[p], q = x0[p + half];
            const double ra = a * std::cos(ang) - q * std::sin(ang), rq = a * std::sin(ang) + q * std::cos(ang);
            REQUIRE_THAT(x[p], WithinAbs(ra, 1e-6));
            REQUIRE_THAT(x[p + half], WithinAbs(rq, 1e-6));
            // Norm of each rotated pair preserved.
            REQUIRE_THAT(double(x[p]) * x[p] + double(x[p + half]) * x[p + half], WithinAbs(a * a + q * q, 1e-6));
          }
        for (std::size_t j = heads * hd; j < ld; ++j) REQUIRE(x[t * ld + j] == x0[t * ld + j]);
      }
      // Position 0 is exactly the identity.
      for (std::size_t j = 0; j < ld; ++j) REQUIRE(x[j] == x0[j]);
      // Inverse undoes forward.
      k::rope<Arch>(x.data(), T, ld, heads, hd, base, true);
      for (std::size_t i = 0; i < T * ld; ++i) REQUIRE_THAT(x[i], WithinAbs(x0[i], 2e-6));
    }
  // A longer sequence after a shorter one, and another base (per-thread table cache).
  for (float b2 : {10000.f, 500.f}) {
    const std::size_t T = 300, hd = 32, ld = 64;
    const auto x0 = random_vec(T * ld, 77);
    auto x = x0;
    k::rope<Arch>(x.data(), T, ld, 2, hd, b2);
    const std::size_t t = T - 1, i = 5;
    const double th = std::pow(double(b2), -2.0 * double(i) / double(hd)), ang = double(t) * th;
    const double a = x0[t * ld + i], q = x0[t * ld + i + hd / 2];
    REQUIRE_THAT(x[t * ld + i], WithinAbs(a * std::cos(ang) - q * std::sin(ang), 1e-5));
  }
}

// ------------------------------------------------------------------------------------- simd helpers

// ---------------------------------------------------------------------------------- exp of the loss

// Bit patterns of doubles, for comparisons that tell -0 from +0 and one NaN from another.
std::uint64_t bits_of(double x) { return std::bit_cast<std::uint64_t>(x); }

TEMPLATE_LIST_TEST_CASE("exp_inplace returns std::exp's value bit for bit", "[exp]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name() << (k::exp_detail::vector_path<Arch> ? " (vector path)" : " (std::exp)"));
  // Every 997th float of magnitude below 1024, both signs (2.3 million arguments: every exponent, every
  // table index, both sides of glibc's thresholds 2^-54 and 512), and the special values.
  std::vector<double> x;
  for (std::uint32_t u = 0; u < 0x44800000u; u += 997) {
    x.push_back(double(std::bit_cast<float>(u)));
    x.push_back(double(std::bit_cast<float>(u | 0x80000000u)));
  }
  const double inf = std::numeric_limits<double>::infinity();
  for (double v : {0.0, -0.0, 0x1p-54, -0x1p-54, 0x1.fffffffffffffp-55, 0x1p-1074, 511.99999999999994, 512.0,
                   -512.0, -511.99999999999994, 709.782712893384, 709.79, -708.4, -745.1332191019411, -745.2, 1e300,
                   -1e300, inf, -inf, std::numeric_limits<double>::quiet_NaN(), 1.0, -1.0, 0.5 * std::log(2.0) / 128})
    x.push_back(v);
  std::vector<double> y = x;
  k::exp_inplace<Arch>(y.data(), y.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(x[i]);
#if defined(__GLIBC__)
    const bool same = std::isnan(want) ? std::isnan(y[i]) : bits_of(y[i]) == bits_of(want);
#else  // another libm: the same algorithm's accuracy, not its bits
    const bool same = std::isnan(want) ? std::isnan(y[i]) : std::fabs(y[i] - want) <= 1e-15 * want;
#endif
    if (!same && ++bad <= 5) WARN("exp(" << x[i] << ") = " << y[i] << ", std::exp " << want);
  }
  CHECK(bad == 0);
  CHECK(x.size() > 2'000'000);
}

TEST_CASE("exp table: 2^(k/128) = H_k (1 + T_k)", "[exp]") {
  for (std::size_t k = 0; k < 128; ++k) {
    INFO("k " << k);
    const long double e = std::exp2l(static_cast<long double>(k) / 128);
    const double h = std::bit_cast<double>(k::exp_detail::scale_bits[k] + (std::uint64_t(k) << 45));
    CHECK(h == double(e));                                                           // H_k: 2^(k/128) rounded
    CHECK(std::fabs(static_cast<long double>(k::exp_detail::tails[k]) - (e - h) / h) < 0x1p-62L);  // T_k
  }
}

TEMPLATE_LIST_TEST_CASE("row_max and exp_shifted: a row of logits", "[exp]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  for (std::size_t n : {1, 2, 7, 8, 15, 16, 17, 31, 33, 50, 64, 65, 256, 257}) {
    INFO("n " << n);
    auto z = random_vec(n, unsigned(n), -30.f, 30.f);
    z[n * 7 / 9] = 31.5f;  // one clear maximum, at a position that moves with n
    CHECK(k::row_max<Arch>(z.data(), n) == *std::max_element(z.begin(), z.end()));
    auto tail = z;
    tail[n - 1] = 32.f;  // the last entry: in the scalar tail whenever n is not a whole number of vectors
    CHECK(k::row_max<Arch>(tail.data(), n) == 32.f);
    const float m = *std::max_element(z.begin(), z.end());
    std::vector<double> e(n);
    const double s = k::exp_shifted<Arch>(z.data(), n, m, e.data());
    double want = 0;  // the denominator, summed in order
    for (std::size_t c = 0; c < n; ++c) {
      CHECK(bits_of(e[c]) == bits_of(std::exp(double(z[c] - m))));
      want += std::exp(double(z[c] - m));
    }
    CHECK(bits_of(s) == bits_of(want));
  }
  const float neg[] = {-3.f, -1.f, -2.f};  // all negative: the max is not 0
  CHECK(k::row_max<Arch>(neg, 3) == -1.f);
}

TEMPLATE_LIST_TEST_CASE("exp_shifted_rows: a group of rows, each as exp_shifted alone", "[exp]", arch_list) {
  using Arch = TestType;
  INFO("arch " << Arch::name());
  constexpr std::size_t G = k::exp_group;
  for (std::size_t n : {1, 7, 8, 17, 64, 256, 257}) {
    INFO("n " << n);
    const std::size_t ldz = n + 3;  // rows apart by more than n: the stride is used, not n
    auto z = random_vec(G * ldz, unsigned(n + 100), -40.f, 40.f);
    for (std::size_t g = 0; g < G; ++g) z[g * ldz + (g * 5) % n] = 41.f + float(g);  // a different maximum per row
    std::vector<float> m(G);
    std::vector<double> e(G * n), s(G);
    k::exp_shifted_rows<Arch>(z.data(), ldz, n, m.data(), e.data(), s.data());
    for (std::size_t g = 0; g < G; ++g) {
      INFO("row " << g);
      const float* zr = z.data() + g * ldz;
      const float mg = k::row_max<Arch>(zr, n);
      CHECK(m[g] == mg);
      std::vector<double> want(n);
      const double sw = k::exp_shifted<Arch>(zr, n, mg, want.data());
      CHECK(bits_of(s[g]) == bits_of(sw));
      std::size_t bad = 0;
      for (std::size_t c = 0; c < n; ++c) bad += bits_of(e[g * n + c]) != bits_of(want[c]);
      CHECK(bad == 0);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("simd helpers", "[simd]", arch_list) {
  using Arch = TestType;
  for (std::size_t n : {1, 7, 17, 33, 129}) {
    const auto x = random_vec(n, unsigned(n)), y = random_vec(n, unsigned(n + 1));
    double s = 0, dt = 0, mx = -1e30;
    for (std::size_t i = 0; i < n; ++i) {
      s += x[i];
      dt += double(x[i]) * y[i];
      mx = std::max(mx, double(x[i]));
    }
    REQUIRE_THAT(k::simd::sum<Arch>(x.data(), n), WithinAbs(s, 1e-5));
    REQUIRE_THAT(k::simd::dot<Arch>(x.data(), y.data(), n), WithinAbs(dt, 1e-5));
    if (n < xsimd::batch<float, Arch>::size) {
      // No whole vector: the chain of single roundings (fma1) from 0, in every build (an unfused x * y + z,
      // as GCC leaves it at -O0 or under AddressSanitizer, rounds twice).
      float chain = 0.f;
      for (std::size_t i = 0; i < n; ++i) chain = k::simd::fma1(x[i], y[i], chain);
      REQUIRE(k::simd::dot<Arch>(x.data(), y.data(), n) == chain);
    }
    REQUIRE(k::simd::max<Arch>(x.data(), n) == float(mx));
    auto z = y;
    k::simd::axpy<Arch>(0.5f, x.data(), z.data(), n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE_THAT(z[i], WithinAbs(y[i] + 0.5 * x[i], 1e-6));
    auto w = y;  // a * x not exact (0.5 x is): one rounding or two tell apart
    k::simd::axpy<Arch>(0.3f, x.data(), w.data(), n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(w[i] == k::simd::fma1(0.3f, x[i], y[i]));
    k::simd::scale<Arch>(2.f, z.data(), n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE_THAT(z[i], WithinAbs(2 * (y[i] + 0.5 * x[i]), 2e-6));
  }
}

TEMPLATE_LIST_TEST_CASE("add_column_sums adds each column's rows in order, to the bit", "[simd]", arch_list) {
  using Arch = TestType;
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
  // Column counts through every block (8, 4, 2, 1 vectors) and the scalar tail; the last two take the row-by-row
  // path (wider than eight vectors, beyond 128 Ki floats). Row strides wider than the columns.
  const std::size_t shapes[][2] = {{5, 1},     {3, W - 1},     {7, W},          {9, 3 * W + 2},
                                   {33, 4 * W + 1}, {17, 8 * W}, {64, 13 * W + 5}, {1, 21 * W + 3},
                                   {0, 9},     {1100, 16 * W + 7}, {300, 512}};
  for (const auto& sh : shapes) {
    const std::size_t rows = sh[0], cols = sh[1], ldx = cols + 3;
    const auto x = random_vec(std::max<std::size_t>(rows * ldx, 1), unsigned(rows + 7 * cols));
    const auto init = random_vec(cols, unsigned(cols + 1));
    std::vector<float> want = init, got = init;
    for (std::size_t c = 0; c < cols; ++c)
      for (std::size_t r = 0; r < rows; ++r) want[c] += x[r * ldx + c];
    k::simd::add_column_sums<Arch>(x.data(), ldx, rows, cols, got.data());
    INFO("rows " << rows << ", cols " << cols);
    std::size_t bad = 0;
    for (std::size_t c = 0; c < cols; ++c) bad += std::memcmp(&want[c], &got[c], sizeof(float)) != 0;
    CHECK(bad == 0);
  }
}

// ---- profile.hpp: exclusive attribution of wall time to parts -------------------------------------------

namespace {
void spin_for(double seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
  }
}
}  // namespace

TEST_CASE("profile zones charge time exclusively to the innermost part", "[profile]") {
  namespace p = sinkcore::profile;
  using pt = p::part;
  p::reset();
  p::enable(true);
  {
    const p::zone outer(pt::gelu);
    spin_for(0.02);
    {
      const p::zone inner(pt::layernorm);  // takes over for its scope
      spin_for(0.03);
    }
    spin_for(0.01);
  }
  p::enable(false);
  {
    const p::zone ignored(pt::adamw);  // not enabled: measures nothing
    spin_for(0.01);
  }
  const auto& s = p::seconds();
  CHECK(s[std::size_t(pt::gelu)] >= 0.03);
  CHECK(s[std::size_t(pt::gelu)] < 0.03 + 0.02);  // the inner 0.03 s is not also counted here
  CHECK(s[std::size_t(pt::layernorm)] >= 0.03);
  CHECK(s[std::size_t(pt::layernorm)] < 0.03 + 0.02);
  CHECK(s[std::size_t(pt::adamw)] == 0.0);
  p::reset();
  CHECK(p::seconds()[std::size_t(pt::gelu)] == 0.0);
}

TEST_CASE("profile: a GEMM inside attention counts as attention, outside as gemm, and kernels open their zones",
          "[profile]") {
  namespace p = sinkcore::profile;
  using pt = p::part;
  const std::size_t n = 96;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n), g(n * n), y(n * n), mean(n), rstd(n), gamma(n, 1.f),
      beta(n, 0.f);
  p::reset();
  p::enable(true);
  for (int i = 0; i < 20; ++i) k::gemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
  const double gemm_alone = p::seconds()[std::size_t(pt::gemm)];
  {
    const p::zone heads(pt::attention);
    for (int i = 0; i < 20; ++i) k::gemm(false, true, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    k::causal_softmax(c.data(), n, n, 0.125f);  // softmax inside attention is its own part
  }
  k::layernorm(a.data(), n, gamma.data(), beta.data(), y.data(), n, mean.data(), rstd.data(), n, n);
  k::gelu(a.data(), g.data(), n * n);
  p::enable(false);
  const auto& s = p::seconds();
  CHECK(gemm_alone > 0.0);
  CHECK(s[std::size_t(pt::gemm)] == gemm_alone);  // the products inside the attention zone did not count here
  CHECK(s[std::size_t(pt::attention)] > 0.0);
  CHECK(s[std::size_t(pt::softmax)] > 0.0);
  CHECK(s[std::size_t(pt::layernorm)] > 0.0);
  CHECK(s[std::size_t(pt::gelu)] > 0.0);
  CHECK(s[std::size_t(pt::adamw)] == 0.0);
}
