#pragma once
// Shared by the benchmarks: timing helpers and the machine's measured FMA peak.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace bench {

using clk = std::chrono::steady_clock;
using arch = xsimd::default_arch;

inline double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// Independent FMA chains on the default-arch batch: per-thread FMA throughput in GFLOP/s.
__attribute__((noinline)) inline double fma_chains(std::size_t iters, float* sink) {
  using b = xsimd::batch<float, arch>;
  constexpr int C = 16;  // > latency x throughput on any current core
  b acc[C];
  for (int i = 0; i < C; ++i) acc[i] = b(1.f + 1e-3f * float(i));
  const b x(0.999999f), y(1e-7f);
  for (std::size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < C; ++i) acc[i] = xsimd::fma(acc[i], x, y);
  }
  b s = acc[0];
  for (int i = 1; i < C; ++i) s += acc[i];
  *sink = xsimd::hadd(s);
  return 2.0 * double(b::size) * C * double(iters);
}

inline double measure_peak(int threads, int reps = 5, std::size_t iters = 20'000'000) {
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) {
    float sink[64];
    const auto t0 = clk::now();
    double flops = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    { flops += fma_chains(iters, &sink[omp_get_thread_num()]); }
    best = std::max(best, flops / seconds_since(t0) * 1e-9);
  }
  return best;
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
