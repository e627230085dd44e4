#pragma once
/// @file linear.hpp
/// Conv1D-layout linear maps (Hugging Face GPT-2): W stored (in, out) row-major, y = x W + b.
#include <cstddef>

#include "../kernels/gemm.hpp"
#include "../kernels/parallel.hpp"
#include "../kernels/simd.hpp"

namespace sinkcore::detail {

/// y[n, out] = x[n, in] W[in, out] (+ b[out] when b is non-null). Row strides: x ldx, y ldy.
/// The bias goes in as gemm's starting value (no separate pass over y); `ep` runs on each finished block of
/// y (kernels::gemm_epilogue).
inline void linear_forward(const float* x, std::size_t ldx, std::size_t n, std::size_t in, std::size_t out,
                           const float* W, const float* b, float* y, std::size_t ldy, kernels::gemm_epilogue ep = {}) {
  kernels::gemm(false, false, n, out, in, 1.f, x, ldx, W, out, 0.f, y, ldy, b, ep);
}

/// Backward of linear_forward. Accumulates: dx += dy W^T (if dx), dW += x^T dy (if dW), db += sum_rows dy
/// (if db). With dx_beta = 0, dx = dy W^T instead (dx's old contents are not read): the same values as
/// accumulating into a dx of zeros (a sum that starts from +0 never ends at -0), without zeroing it first.
/// `dx_ep` runs on each finished block of dx (kernels::gemm_epilogue), before dW is computed.
inline void linear_backward(const float* x, std::size_t ldx, std::size_t n, std::size_t in, std::size_t out,
                            const float* W, const float* dy, std::size_t lddy, float* dx, std::size_t lddx,
                            float* dW, float* db, float dx_beta = 1.f, kernels::gemm_epilogue dx_ep = {}) {
  if (dx) kernels::gemm(false, true, n, in, out, 1.f, dy, lddy, W, out, dx_beta, dx, lddx, nullptr, dx_ep);
  if (dW) kernels::gemm(true, false, in, out, n, 1.f, x, ldx, dy, lddy, 1.f, dW, out);
  if (db) kernels::simd::add_column_sums(dy, lddy, n, out, db);
}

/// out = x + y on each finished block of a linear layer's output y (a kernels::gemm_epilogue; row stride
/// ld for all three): the residual stream's addition, add_rows's add_span on each row of the block, while
/// the block of y is still in the cache.
struct residual_add {
  const float* x;
  const float* y;
  float* out;
  std::size_t ld;
  static void run(const void* ctx, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) {
    const auto& a = *static_cast<const residual_add*>(ctx);
    for (std::size_t r = r0; r < r1; ++r) add_span(a.x + r * a.ld, a.y + r * a.ld, a.out + r * a.ld, c0, c1);
  }
};

}  // namespace sinkcore::detail
