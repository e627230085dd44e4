#pragma once
/// @file gemm.hpp
/// Single-precision matrix multiply, row-major, BLAS-like:
///   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
/// op(A) = A (stored M x K, row stride lda) or A^T (stored K x M, row stride lda); likewise B.
/// beta == 0 overwrites C without reading it (NaNs in C do not propagate).
/// Threads: OpenMP inside, unless called from within an active parallel region, where it runs on the
/// calling thread (the attention loop calls it per head from its own parallel loop).
///
/// PLACEHOLDER: a correct but slow reference, to be replaced by the packed, cache-blocked xsimd kernel.
#include <cstddef>
#include <xsimd/xsimd.hpp>

namespace sinkcore::kernels {

template <class Arch = xsimd::default_arch>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc) {
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) {
      float s = 0.f;
      for (std::size_t k = 0; k < K; ++k)
        s += (trans_a ? A[k * lda + i] : A[i * lda + k]) * (trans_b ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = alpha * s + (beta == 0.f ? 0.f : beta * C[i * ldc + j]);
    }
}

}  // namespace sinkcore::kernels
