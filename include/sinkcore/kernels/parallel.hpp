#pragma once
/// @file parallel.hpp
/// Row-parallel helpers for the forward and backward passes: one contiguous chunk of rows per OpenMP
/// thread, serial for small work or inside a parallel region (the study's runs are one thread each).
#include <algorithm>
#include <cstddef>
#include <vector>

#include <omp.h>

#include "layernorm.hpp"

#ifndef SINKCORE_CAUSAL_BLOCK
#define SINKCORE_CAUSAL_BLOCK 32
#endif

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
  const profile::zone pz(profile::part::layernorm);  // the whole parallel region, on the calling thread
  parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
    kernels::layernorm(x + r0 * d, d, g, b, y + r0 * d, d, mean + r0, rstd + r0, r1 - r0, d);
  });
}

/// out[i] = a[i] + b[i] for i in [i0, i1), on the calling thread; out may alias a or b.
inline void add_span(const float* a, const float* b, float* out, std::size_t i0, std::size_t i1) {
#pragma omp simd
  for (std::size_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
}

/// out = a + b elementwise (count floats), split over the threads; out may alias a or b.
inline void add_rows(const float* a, const float* b, float* out, std::size_t count) {
  parallel_rows(count, [&](std::size_t i0, std::size_t i1) { add_span(a, b, out, i0, i1); });
}

/// Rows per causal block of attention at context T (model/forward.hpp, backward.hpp): query rows
/// [r0, r0 + block) multiply only keys [0, r0 + block), which skips about half of the T x T work at long
/// contexts. Up to T = 64 one block, the plain T x T products (as fast there, and the study's numbers at
/// context 64 stay bit for bit what they were); beyond, blocks of 32 rows (measured best at T = 512,
/// docs/performance.md).
inline constexpr std::size_t causal_rows(std::size_t T) { return T <= 64 ? T : SINKCORE_CAUSAL_BLOCK; }

/// Rows per gemm_causal call of attention's products that sum over keys without a pattern hook (P v, and
/// dP k in the backward pass): all T rows in one call up to T = 256, where the keys lie in one depth block
/// of the GEMM (KC = 384), so every row's sum is the one chain of FMAs that blocks of rows compute too;
/// blocks of causal_rows(T) beyond.
inline constexpr std::size_t key_sum_rows(std::size_t T) { return T > 256 ? causal_rows(T) : T; }

/// A grow-only scratch buffer of at least `floats` floats, one per thread (attention's d loss / d pattern
/// of the head a thread is working on). Valid until the calling thread's next call with a larger size.
inline float* head_scratch(std::size_t floats) {
  static thread_local std::vector<float> buffer;
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

}  // namespace sinkcore::detail
