#pragma once
/// @file linear.hpp
/// Conv1D-layout linear maps (Hugging Face GPT-2): W stored (in, out) row-major, y = x W + b.
#include <cstddef>

#include "../kernels/gemm.hpp"
#include "../kernels/simd.hpp"

namespace sinkcore::detail {

/// y[n, out] = x[n, in] W[in, out] (+ b[out] when b is non-null). Row strides: x ldx, y ldy.
/// The bias goes in as gemm's starting value (no separate pass over y).
inline void linear_forward(const float* x, std::size_t ldx, std::size_t n, std::size_t in, std::size_t out,
                           const float* W, const float* b, float* y, std::size_t ldy) {
  kernels::gemm(false, false, n, out, in, 1.f, x, ldx, W, out, 0.f, y, ldy, b);
}

/// Backward of linear_forward. Accumulates: dx += dy W^T (if dx), dW += x^T dy (if dW), db += sum_rows dy
/// (if db). With dx_beta = 0, dx = dy W^T instead (dx's old contents are not read): the same values as
/// accumulating into a dx of zeros (a sum that starts from +0 never ends at -0), without zeroing it first.
inline void linear_backward(const float* x, std::size_t ldx, std::size_t n, std::size_t in, std::size_t out,
                            const float* W, const float* dy, std::size_t lddy, float* dx, std::size_t lddx,
                            float* dW, float* db, float dx_beta = 1.f) {
  if (dx) kernels::gemm(false, true, n, in, out, 1.f, dy, lddy, W, out, dx_beta, dx, lddx);
  if (dW) kernels::gemm(true, false, in, out, n, 1.f, x, ldx, dy, lddy, 1.f, dW, out);
  if (db) kernels::simd::add_column_sums(dy, lddy, n, out, db);
}

}  // namespace sinkcore::detail
