#pragma once
// Shared by the benchmarks: timing helpers and the machine's measured FMA peak.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace bench {

using clk = std::chrono::steady_clock;
using arch = xsimd::default_arch;

inline double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// The vector registers of the default arch: 32 with AVX-512, 16 with AVX2/SSE (x86-64).
inline constexpr int vector_registers = std::is_base_of_v<xsimd::avx512f, arch> ? 32 : 16;

// C independent FMA chains on the default-arch batch: per-thread FLOPs done. The peak needs at least
// latency x pipes chains (4 x 2 on Skylake-X and Zen 3, 4 x 1 on one-FMA-unit parts), and no more than fit in
// registers with the two operands (a spilled chain measures the load/store ports instead).
template <int C>
__attribute__((noinline)) double fma_chains(std::size_t iters, float* sink) {
  static_assert(C + 2 <= vector_registers, "more chains than registers: the chains would spill");
  using b = xsimd::batch<float, arch>;
  b acc[C];
  for (int i = 0; i < C; ++i) acc[i] = b(1.f + 1e-3f * float(i));
  const b x(0.999999f), y(1e-7f);
  for (std::size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < C; ++i) acc[i] = xsimd::fma(acc[i], x, y);
  }
  b s = acc[0];
  for (int i = 1; i < C; ++i) s += acc[i];
  *sink = xsimd::hadd(s);
  return 2.0 * double(b::size) * C * double(iters);
}

// GFLOP/s of `threads` threads each running C chains, best of `reps` trials.
template <int C>
double peak_with_chains(int threads, int reps, std::size_t iters) {
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) {
    float sink[256];
    const auto t0 = clk::now();
    double flops = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    { flops += fma_chains<C>(iters, &sink[omp_get_thread_num() % 256]); }
    best = std::max(best, flops / seconds_since(t0) * 1e-9);
  }
  return best;
}

// The machine's FMA peak for `threads` threads (GFLOP/s): the best over chain counts from 6 up to what the
// registers hold (so enough chains for any FMA latency x pipe count) and over `reps` trials each.
inline double measure_peak(int threads, int reps = 5, std::size_t iters = 20'000'000) {
  constexpr int most = vector_registers - 2;
  double best = 0;
  best = std::max(best, peak_with_chains<6>(threads, reps, iters));
  best = std::max(best, peak_with_chains<8>(threads, reps, iters));
  best = std::max(best, peak_with_chains<10>(threads, reps, iters));
  best = std::max(best, peak_with_chains<12>(threads, reps, iters));
  best = std::max(best, peak_with_chains<most>(threads, reps, iters));
  if constexpr (most >= 20) {
    best = std::max(best, peak_with_chains<16>(threads, reps, iters));
    best = std::max(best, peak_with_chains<20>(threads, reps, iters));
    best = std::max(best, peak_with_chains<24>(threads, reps, iters));
  }
  return best;
}

// A rate as a percentage of the measured peak. A rate above the peak means the peak is wrong (or the
// rate's FLOP count is), so the benchmark refuses to print it: it says so on stderr and exits with 3.
inline double percent_of_peak(double gflops, double peak, const char* what) {
  const double p = 100 * gflops / peak;
  if (!(p <= 100.0)) {
    std::fprintf(stderr, "bench: %s runs at %.1f GFLOP/s, above the measured FMA peak %.1f GFLOP/s: the peak "
                         "measurement is wrong on this machine; refusing to print a %%-of-peak above 100\n",
                 what, gflops, peak);
    std::exit(3);
  }
  return p;
}

template <class F>
double best_time(F&& f, int reps, double min_total = 0.2) {
  f();  // warm-up (page faults, packing buffers, thread pools)
  f();
  double best = 1e30, total = 0;
  int n = 0;
  while (n < reps || total < min_total) {
    const auto t0 = clk::now();
    f();
    const double t = seconds_since(t0);
    best = std::min(best, t);
    total += t;
    ++n;
    if (n > 1000) break;
  }
  return best;
}

}  // namespace bench
