#pragma once
/// @file parallel.hpp
/// Row-parallel helpers for the forward and backward passes: one contiguous chunk of rows per OpenMP
/// thread, serial for small work or inside a parallel region (the study's runs are one thread each).
#include <cstddef>

#include <omp.h>

#include "layernorm.hpp"

namespace sinkcore::detail {

/// Run f(begin, end) over [0, n) split into one contiguous chunk per OpenMP thread.
template <class F>
void parallel_rows(std::size_t n, F&& f) {
  if (n < 64 || omp_in_parallel()) {
    f(std::size_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const std::size_t t = std::size_t(omp_get_thread_num()), nt = std::size_t(omp_get_num_threads());
    const std::size_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) f(begin, end);
  }
}

/// LayerNorm of n rows of width d (kernels::layernorm), rows split over the threads.
inline void layernorm_rows(const float* x, const float* g, const float* b, float* y, float* mean, float* rstd,
                           std::size_t n, std::size_t d) {
  parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
    kernels::layernorm(x + r0 * d, d, g, b, y + r0 * d, d, mean + r0, rstd + r0, r1 - r0, d);
  });
}

/// out = a + b elementwise (count floats); out may alias a or b.
inline void add_rows(const float* a, const float* b, float* out, std::size_t count) {
  parallel_rows(count, [&](std::size_t i0, std::size_t i1) {
#pragma omp simd
    for (std::size_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
  });
}

}  // namespace sinkcore::detail
