#pragma once
/// @file gemm.hpp
/// Single-precision matrix multiply, row-major, BLAS-like:
///   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
/// op(A) = A (stored M x K, row stride lda) or A^T (stored K x M, row stride lda); likewise B.
/// beta == 0 overwrites C without reading it (NaNs in C do not propagate).
/// Threads: OpenMP inside, unless called from within an active parallel region, where it runs on the
/// calling thread (the attention loop calls it per head from its own parallel loop).
///
/// Implementation (GotoBLAS / BLIS structure):
///  - loops jc (columns: as many as keep the packed op(B) block in half the L2) -> pc (KC depth, split
///    into equal blocks) -> pack op(B) block into KC x NR panels -> ic (MC rows) -> [pack A^T block,
///    aliasing strides only] -> ir (MR) -> jr (NR) -> register-blocked micro-kernel: a micro-panel of
///    op(A) stays in the L1 across the op(B) block. B^T is packed with 8 x 8 in-register transposes (AVX).
///  - micro-kernel: MR x NR tile of accumulators, broadcast-A x vector-B FMAs. 8 x 48 (3 vectors) with
///    32 vector registers (AVX-512; measured best of 6/8/12/14 x 32/48/64 on Zen 4), 6 x 2 vectors with
///    16 (SSE2/AVX2). Edge tiles use the same code instantiated for fewer rows / vectors, and a small
///    staging tile for partial columns. With AVX-512 the store is inlined, so the tile never leaves the
///    registers (store_tile_inline).
///  - op(A) is read in place by the micro-kernel (its MR x KC panel stays in the L1 across the jr loop):
///    row-major A as MR row pointers, A^T as MR contiguous values per k. Only an A^T whose row stride is
///    a multiple of 512 bytes (every k on a few of the L1's sets), with enough columns to repay the copy
///    (pack_a_trans), is packed into MR x KC panels (once for all blocks of columns).
///  - packed buffers are 64-byte aligned and thread-local (reused across calls); user memory is only
///    accessed with unaligned loads/stores (4-byte alignment is enough).
///  - threads: the M x N iteration space is split into a tm x tn grid of independent sub-problems, one
///    per thread (balanced in MR/NR units), each running the serial blocked algorithm; on ties along N
///    (a thread packs only its own columns of op(B)), along M when M > 2 N (a column cut would read all of
///    op(A) once per thread). More, smaller chunks scheduled dynamically each packed their own copy of
///    what they share, and lost 0-13 % on an idle machine. No barriers.
///  - a row-major op(A) or an A^T read in place is read from beyond the L2 on the first pass over a
///    micro-panel (jr == 0), so the micro-kernel then prefetches the next micro-panel while the current one
///    runs (measured on a Zen 4 with cold operands: the tiny model's MLP-projection dW at T = 64,
///    512 x 128 x 1024, 1.45-1.50 -> 1.22-1.27 ms; for a row-major A, inside the tiny model's training
///    step on a Zen 5: the backward products dY W^T of q, k, v and the projection 150-152 -> 166-167
///    GFLOP/s, all products +1-2 %, the same products on warm operands unchanged). The tile of C is
///    prefetched for writing (see ukernel).
///  - a small row-major op(B) (N <= 64 and a whole number of vectors, M <= 128, K <= 256: attention's
///    per-head products P v, P^T dz, dP k, dP^T q) is read in place by the micro-kernel instead of packed:
///    the few row tiles that use a packed panel do not repay the copy. A layer's six products of every
///    head (tiny model, batch 16, one thread, Zen 5 AVX-512): T = 64 0.515 -> 0.46 ms, T = 128 2.02 ->
///    1.75-1.81 ms. Same FMAs in the same order: the same values to the bit. With AVX-512, so is a
///    row-major op(B) under an A^T of at most 256 rows (a weight gradient X^T dY of a narrow layer).
///  - every FMA is an explicit one (simd::fma), so the paths agree to the bit whatever the compiler's
///    contraction setting (an instrumented build contracts xsimd's x * y + z in some places only).
///  - tiny problems (M == 1 or N == 1) skip packing entirely (vectorised GEMV).
///  - gemm_causal: the same loops on the part of a causal product that matters (attention's per-head
///    products), skipping per micro-tile the columns or the depth that its rows do not need.
///  - blocking can be overridden for tuning with -DSINKCORE_GEMM_{MR,NV,KC,MCB} (MC = MR * MCB).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <numeric>
#include <utility>
#if __has_include(<unistd.h>)
#include <unistd.h>
#endif
#include <xsimd/xsimd.hpp>

#include "../config.hpp"
#include "simd.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif
#include "../profile.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif

// GCC 12 false positive (PR 105593): -W(maybe-)uninitialized inside avx512fintrin.h when xsimd's
// AVX-512 operations are inlined. Silenced for this header's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace sinkcore::kernels {

/// Causal structure a product may exploit (gemm_causal): row i of the product is row off + i of a causal
/// T x T matrix (a block of its rows starting at row off).
///  - c_lower: only C[i, j] with j <= off + i are needed (q k^T); others may be left unwritten.
///  - a_lower: op(A)[i, k] == 0 for k > off + i (P v, with P causal).
///  - a_upper: op(A)[i, k] == 0 for k < i - off (P^T dz: op(A) is the transpose of a causal block).
enum class triangle { none, c_lower, a_lower, a_upper };

/// Work on a finished block of C while it is still in the cache (gemm's argument `ep`): after the last depth
/// block of a block of C's rows [r0, r1) and columns [c0, c1) (indices into the whole C; blocks of up to MC
/// rows and as many columns as a packed block of op(B); with several threads each thread calls it on the
/// blocks of its own part), gemm calls fn(ctx, r0, r1, c0, c1) on the thread that computed the block. Every
/// element of C is in exactly one such block. The forward pass applies GELU there to c_fc's output and adds
/// the projections' outputs to the residual stream, the MLP's backward pass applies GELU's derivative to
/// d(post) (components/mlp.hpp, model/linear.hpp): a block of up to 192 x 512 floats (384 KiB) read back
/// from the L2 where a separate pass read 1-4 MiB from beyond it. The same values, to the bit. Intel Xeon
/// (family 6 model 167), tiny model, study configuration (two 1-thread runs at once), 4 pairs each: GELU's
/// part of the step at T = 128 5.8-6.1 -> 5.1-5.7 ms, the step +1.3, -0.1, +1.1, +0.2 % (T = 64: +1.2, -0.7,
/// +1.9, +0.2 %).
struct gemm_epilogue {
  void (*fn)(const void* ctx, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) = nullptr;
  const void* ctx = nullptr;
  std::size_t row0 = 0, col0 = 0;  ///< where the part a call of gemm_serial computes starts in C (gemm sets them)
  void operator()(std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) const {
    if (fn) fn(ctx, row0 + r0, row0 + r1, col0 + c0, col0 + c1);
  }
};

namespace gemm_detail {

/// Register/cache blocking for one architecture.
template <class Arch>
struct params {
  using batch = xsimd::batch<float, Arch>;
  static constexpr std::size_t W = batch::size;
#ifdef SINKCORE_GEMM_NV
  static constexpr std::size_t NV = SINKCORE_GEMM_NV;
#else
  // Vectors per micro-tile row: 8 x 48 (24 accumulators) with 32 registers, 6 x 2W (12) with 16.
  static constexpr std::size_t NV = (W >= 16) ? 3 : 2;
#endif
  static constexpr std::size_t NR = NV * W;
#ifdef SINKCORE_GEMM_MR
  static constexpr std::size_t MR = SINKCORE_GEMM_MR;
#else
  static constexpr std::size_t MR = (W >= 16) ? 8 : 6;
#endif
#ifdef SINKCORE_GEMM_KC
  static constexpr std::size_t KC = SINKCORE_GEMM_KC;
#else
  static constexpr std::size_t KC = 384;
#endif
#ifdef SINKCORE_GEMM_MCB
  static constexpr std::size_t MC = MR * SINKCORE_GEMM_MCB;
#else
  static constexpr std::size_t MC = MR * ((W >= 16) ? 24 : 32);
#endif
  // Most columns per packed block of op(B), a whole number of NR panels; gemm_serial takes fewer where
  // the block would not fit half the L2 (l2_bytes).
  static constexpr std::size_t NC = 4096 / NR * NR;
  static_assert(NC % NR == 0 && NC >= NR);
};

/// Grow-only, 64-byte aligned, per-thread scratch buffer.
struct scratch {
  float* ptr = nullptr;
  std::size_t cap = 0;
  float* get(std::size_t n) {
    if (n > cap) {
      std::free(ptr);
      const std::size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!ptr) {
        cap = 0;
        throw std::bad_alloc();
      }
      cap = n;
    }
    return ptr;
  }
  ~scratch() { std::free(ptr); }
};

/// Bytes of L2 cache per core (glibc reads them from cpuid), 1 MiB where the system does not say.
inline std::size_t l2_bytes() {
  static const std::size_t bytes = [] {
    long v = 0;
#if defined(_SC_LEVEL2_CACHE_SIZE)
    v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return v > 0 ? std::clamp(std::size_t(v), std::size_t(256) << 10, std::size_t(16) << 20) : std::size_t(1) << 20;
  }();
  return bytes;
}

/// The L1 data cache's sets and ways (glibc reads them from cpuid): 64 sets of 8 ways where the system
/// does not say (32 KiB; 48 KiB parts have 64 sets of 12).
struct l1_geometry {
  std::size_t sets, ways;
};
inline l1_geometry l1_cache() {
  static const l1_geometry g = [] {
    long size = 0, ways = 0, line = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL1_DCACHE_ASSOC) && defined(_SC_LEVEL1_DCACHE_LINESIZE)
    size = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    ways = sysconf(_SC_LEVEL1_DCACHE_ASSOC);
    line = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
#endif
    if (size <= 0 || ways <= 0 || line != 64 || size % (ways * line) != 0) return l1_geometry{64, 8};
    const std::size_t sets = std::size_t(size / (ways * line));
    return (sets & (sets - 1)) == 0 ? l1_geometry{sets, std::size_t(ways)} : l1_geometry{64, 8};
  }();
  return g;
}

/// Whether gemm packs an op(A) = A^T of row stride `lda` floats for a block of `n` columns at depth `kc`,
/// rather than have the micro-kernel read it in place. In place, a micro-panel touches one line per k at
/// the row stride; at a stride of a multiple of 512 bytes those lines fall into only a few of the L1's sets
/// (4 KiB: one; 2 KiB: two; 1 and 3 KiB: four; 512 B: eight of 64), the panel does not stay in the L1
/// across the column panels it meets, and each of them reads it from the L2 again. Packed, it is copied
/// once and read contiguously. The copy is repaid by enough columns, more of them the more sets the
/// lines spread over: packed from n >= 32 x sets (any n at 4 KiB), where the kc lines do not fit those sets.
/// Measured, one thread, sinkcore::kernels::gemm on warm operands, in place -> packed, GFLOP/s (Intel Xeon,
/// 48 KiB 12-way L1, family 6 model 167 as its VM reports it, AVX-512 8 x 48 / AVX2 6 x 16 tiles, K 1024):
/// 512 B (M = 128): n = 512 130-133 -> 141-142 / 92-96 -> 96-105, n = 256 142-145 -> 153-155 / 99-101 ->
/// 98-104, n = 128 155-160 -> 154-163 / 99-102 -> 97 (left in place), n = 32 146-166 -> 125-129 / 100 ->
/// 83-85 (in place); 2 KiB (M = 512): n = 128 144-152 -> 161-162 (AVX-512), n = 64 119-131 -> 145-147 /
/// 80-81 -> 95-98. Every entry is the same chain of FMAs either way (the values do not change).
inline bool pack_a_trans(std::size_t lda, std::size_t n, std::size_t kc, l1_geometry l1 = l1_cache()) {
  const std::size_t bytes = lda * sizeof(float);
  if (bytes % 512 != 0) return false;  // the lines spread over 16 or more sets
  const std::size_t step = bytes / 64 % l1.sets;
  const std::size_t sets = step == 0 ? 1 : l1.sets / std::gcd(step, l1.sets);
  if (sets > 8 || sets * l1.ways >= kc) return false;
  return sets == 1 || n >= 32 * sets;
}

inline scratch& buffer_a() {
  static thread_local scratch s;
  return s;
}
inline scratch& buffer_b() {
  static thread_local scratch s;
  return s;
}

/// Pack op(A)[i0:i0+mc, k0:k0+kc] into ceil(mc/MR) panels of MR x kc (k-major, MR contiguous),
/// zero-padding rows beyond mc.
template <std::size_t MR>
inline void pack_a(bool trans_a, const float* A, std::size_t lda, std::size_t mc, std::size_t kc,
                   float* __restrict dst) {
  if (trans_a) {
    // op(A)[i,k] = A[k*lda + i]: row k of A holds the block's MR values per panel for this k. k outer:
    // each row's mc values are read once, front to back, and dealt out to the panels (panel by panel, one
    // line per k at the row stride: AVX2 on an Intel Xeon, 512 x 128 x 1024 TN, 0.94 -> 0.98 x OpenBLAS).
    const std::size_t full = mc / MR * MR;
    for (std::size_t k = 0; k < kc; ++k) {
      const float* src = A + k * lda;
      float* d = dst + k * MR;
      for (std::size_t ip = 0; ip < full; ip += MR, d += MR * kc)
#pragma GCC unroll 16
        for (std::size_t i = 0; i < MR; ++i) d[i] = src[ip + i];
      if (full < mc) {
        std::size_t i = 0;
        for (; i < mc - full; ++i) d[i] = src[full + i];
        for (; i < MR; ++i) d[i] = 0.f;
      }
    }
    return;
  }
  for (std::size_t ip = 0; ip < mc; ip += MR) {
    const std::size_t mr = std::min(MR, mc - ip);
    // op(A)[i,k] = A[i*lda + k]: read each row contiguously, scatter with stride MR.
    for (std::size_t i = 0; i < mr; ++i) {
      const float* src = A + (ip + i) * lda;
      for (std::size_t k = 0; k < kc; ++k) dst[k * MR + i] = src[k];
    }
    for (std::size_t i = mr; i < MR; ++i)
      for (std::size_t k = 0; k < kc; ++k) dst[k * MR + i] = 0.f;
    dst += MR * kc;
  }
}

#if defined(__AVX__)
/// dst[k*ldd + i] = src[i*lds + k] for an 8 x 8 block (in-register transpose; unaligned memory).
inline void transpose8x8(const float* src, std::size_t lds, float* dst, std::size_t ldd) {
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
               r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds),
               r5 = _mm256_loadu_ps(src + 5 * lds), r6 = _mm256_loadu_ps(src + 6 * lds),
               r7 = _mm256_loadu_ps(src + 7 * lds);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#endif

/// Pack op(B)[k0:k0+kc, j0:j0+nc] into ceil(nc/NR) panels of kc x NR (NR contiguous), zero-padded.
template <class Arch>
inline void pack_b(bool trans_b, const float* B, std::size_t ldb, std::size_t kc, std::size_t nc,
                   float* __restrict dst) {
  using P = params<Arch>;
  using batch = typename P::batch;
  constexpr std::size_t NR = P::NR, W = P::W;
  // Row k of a panel from a row-major op(B), nr <= NR of its columns at src: whole vectors, a masked load for
  // the rest, zeros beyond (a partial panel: N % NR columns, e.g. attention's P v at d_head 32). Unrolled:
  // GCC turned a copy loop into a call to memmove per k, 192 bytes at NR = 48, 3 % of the tiny model's
  // training step on a Zen 5, a quarter of it the calls.
  auto panel_row = [](const float* src, std::size_t nr, float* d) {
    const std::size_t nv = nr / W, rem = nr % W;
#pragma GCC unroll 8
    for (std::size_t v = 0; v < P::NV; ++v) {
      const batch x = v < nv ? batch::load_unaligned(src + v * W)
                      : v == nv && rem ? simd::load_partial<Arch>(src + v * W, rem)
                                       : batch(0.f);
      x.store_aligned(d + v * W);
    }
  };
  if constexpr (NR * sizeof(float) <= 64) {
    // A panel row of one cache line (AVX2's 16 columns): row k of B is read front to back, once, and dealt
    // out to the panels. Panel by panel (below) met one line per row at the row stride, 342 of them per
    // panel in the tiny model's fc dW (128 x 512 x 2048, TN; op(B) beyond the L2), and the pack took 5.5 %
    // of that product. AMD EPYC Zen 5, AVX2 build, 1 thread: 124 -> 127-130 GFLOP/s (0.96-0.97 -> 1.00 x
    // OpenBLAS's Zen kernel), GPT-2 fc dW and fc +1-2 %. With AVX-512's panel rows of 3 lines the same
    // order was within noise or 1-3 % slower, so they keep the panel order.
    // Two rows at a time (two adjacent lines of each panel), each line of the rows 4 below fetched as the
    // pair passes its column: a block of GPT-2 fc dW's op(B) (342 x 368 of a 1024 x 3072 row-major, in the
    // L3), packed alone, 0.62 -> 0.39-0.42 ms on the Zen 5 (either change alone: within noise); inside the
    // product the pack's share 2.75 -> 2.25 %.
    if (!trans_b) {
      constexpr std::size_t ahead = 4;
      std::size_t k = 0;
      for (; k + 2 <= kc; k += 2) {
        const float* src = B + k * ldb;
        float* d = dst + k * NR;
        const bool fetch = k + ahead + 2 <= kc;
        for (std::size_t jp = 0; jp < nc; jp += NR, d += NR * kc) {
          if (fetch) {
            __builtin_prefetch(src + ahead * ldb + jp, 0, 3);
            __builtin_prefetch(src + (ahead + 1) * ldb + jp, 0, 3);
          }
          const std::size_t nr = std::min(NR, nc - jp);
          panel_row(src + jp, nr, d);
          panel_row(src + ldb + jp, nr, d + NR);
        }
      }
      if (k < kc) {
        float* d = dst + k * NR;
        for (std::size_t jp = 0; jp < nc; jp += NR, d += NR * kc) panel_row(B + k * ldb + jp, std::min(NR, nc - jp), d);
      }
      return;
    }
  }
  for (std::size_t jp = 0; jp < nc; jp += NR) {
    const std::size_t nr = std::min(NR, nc - jp);
    if (!trans_b) {
      // op(B)[k,j] = B[k*ldb + j]: contiguous rows, panel by panel.
      for (std::size_t k = 0; k < kc; ++k) panel_row(B + k * ldb + jp, nr, dst + k * NR);
    } else {
      // op(B)[k,j] = B[j*ldb + k]: read rows of B contiguously, scatter with stride NR, in k-blocks of
      // 16 so that the destination tile (16 x NR) stays in L1. With AVX (any Arch of >= 8 floats, so
      // the #if cannot differ between translation units instantiating it), full panels go through
      // 8 x 8 in-register transposes.
      std::size_t k0 = 0, nr8 = 0;  // region [0, k0) x [0, nr8) done by transposes
      if (nr < NR) {
        // A partial panel's padding, zeroed first with whole vectors from the vector holding column nr
        // (the copies below then overwrite the columns < nr of that vector): attention's K^T at T = 64
        // is a panel of 48 columns and one of 16, whose 32 zero columns were 1024 scalar stores.
        const std::size_t z0 = nr / W * W;
        for (std::size_t k = 0; k < kc; ++k)
          for (std::size_t v = z0; v < NR; v += W) batch(0.f).store_aligned(dst + k * NR + v);
      }
#if defined(__AVX__)
      if constexpr (W >= 8) {
        nr8 = nr / 8 * 8;
        k0 = kc / 8 * 8;
        for (std::size_t k = 0; k < k0; k += 8)
          for (std::size_t j = 0; j < nr8; j += 8) transpose8x8(B + (jp + j) * ldb + k, ldb, dst + k * NR + j, NR);
      }
#endif
      for (std::size_t kb = 0; kb < kc; kb += 16) {
        const std::size_t ke = std::min(kc, kb + 16);
        for (std::size_t j = 0; j < nr; ++j) {
          const float* src = B + (jp + j) * ldb;
          for (std::size_t k = (j < nr8 ? std::max(kb, k0) : kb); k < ke; ++k) dst[k * NR + j] = src[k];
        }
      }
    }
    dst += NR * kc;
  }
}

/// store_tile's whole tile (m == MM, n == NVV W): every accumulator read at a constant index.
template <class Arch, std::size_t MM, std::size_t NVV>
__attribute__((always_inline)) inline void store_full_tile(const xsimd::batch<float, Arch> (&c)[MM][NVV], float* C,
                                                           std::size_t ldc, float alpha, float beta, const float* in,
                                                           std::size_t ldin) {
  using batch = xsimd::batch<float, Arch>;
  constexpr std::size_t W = batch::size;
  const batch va(alpha);
  // alpha == 1 (every product of a training step): 1 * x and fma(1, x, y) are x and x + y exactly, so the
  // multiplies are left out (24 of them per AVX-512 tile, on the FMA pipes, beside 24 FMAs per k).
  if (beta == 0.f && alpha == 1.f) {
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MM; ++i)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVV; ++v) c[i][v].store_unaligned(C + i * ldc + v * W);
  } else if (beta == 0.f) {
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MM; ++i)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVV; ++v) (va * c[i][v]).store_unaligned(C + i * ldc + v * W);
  } else if (beta == 1.f && alpha == 1.f) {
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MM; ++i)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVV; ++v)
        (c[i][v] + batch::load_unaligned(in + i * ldin + v * W)).store_unaligned(C + i * ldc + v * W);
  } else {
    const batch vb(beta);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MM; ++i)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVV; ++v) {
        const batch r = simd::fma(va, c[i][v], vb * batch::load_unaligned(in + i * ldin + v * W));
        r.store_unaligned(C + i * ldc + v * W);
      }
  }
}

/// Write an accumulator tile to C: C = alpha*acc + beta*C (beta == 0: C not read). With a bias row
/// (non-null), C = alpha*acc + beta*bias in every row instead (the caller passes beta = 1): the same
/// arithmetic as on a C filled with the bias beforehand, without that fill.
template <class Arch, std::size_t MM, std::size_t NVV>
inline void store_tile(const xsimd::batch<float, Arch> (&c)[MM][NVV], float* C, std::size_t ldc,
                       std::size_t m, std::size_t n, float alpha, float beta, const float* bias = nullptr) {
  using batch = xsimd::batch<float, Arch>;
  constexpr std::size_t W = batch::size;
  const batch va(alpha);
  // Where the beta term is read: row i of C, or the bias row for every i.
  const float* in = bias ? bias : C;
  const std::size_t ldin = bias ? 0 : ldc;
  if (m == MM && n == NVV * W) {
    store_full_tile<Arch, MM, NVV>(c, C, ldc, alpha, beta, in, ldin);
    return;
  }
  // Partial tile: whole vectors directly, the last partial vector through a staging buffer.
  const std::size_t nfull = n / W, rem = n % W;
  alignas(64) float tmp[W];
  const batch vb(beta);
  for (std::size_t i = 0; i < m; ++i) {
    float* p = C + i * ldc;
    const float* pin = in + i * ldin;
    for (std::size_t v = 0; v < nfull && v < NVV; ++v) {
      const batch r = beta == 0.f ? va * c[i][v] : simd::fma(va, c[i][v], vb * batch::load_unaligned(pin + v * W));
      r.store_unaligned(p + v * W);
    }
    if (rem && nfull < NVV) {
      c[i][nfull].store_aligned(tmp);
      float* q = p + nfull * W;
      const float* qin = pin + nfull * W;
      if (beta == 0.f)
        for (std::size_t j = 0; j < rem; ++j) q[j] = alpha * tmp[j];
      else
        for (std::size_t j = 0; j < rem; ++j) q[j] = simd::fma1(alpha, tmp[j], beta * qin[j]);
    }
  }
}

/// store_tile inlined into the AVX-512 micro-kernel, whose tile then stays in registers from its zeroing
/// to its store. Called (store_tile takes the tile by reference, and reads it at run-time indices), the
/// tile went through the stack around every k loop: 24 zeroed accumulators stored, loaded before the loop,
/// stored after it and loaded again to be written to C, about 7 of the loop's k steps per tile. AMD EPYC
/// Zen 5, one thread, 1024 x 96 x K, medians of three runs: K = 32 220 -> 249 GFLOP/s, 64 244 -> 261, 128
/// 252-255 -> 261-264, 384 263-265 -> 263-269. A partial tile is staged in memory first and written from
/// there. The AVX2 micro-kernel (12 accumulators) keeps calling store_tile: this version lost 1-3 % in its
/// training step on the same CPU.
template <class Arch, std::size_t MM, std::size_t NVV>
__attribute__((always_inline)) inline void store_tile_inline(const xsimd::batch<float, Arch> (&c)[MM][NVV], float* C,
                                                             std::size_t ldc, std::size_t m, std::size_t n,
                                                             float alpha, float beta, const float* bias) {
  using batch = xsimd::batch<float, Arch>;
  constexpr std::size_t W = batch::size;
  const float* in = bias ? bias : C;
  const std::size_t ldin = bias ? 0 : ldc;
  if (m == MM && n == NVV * W) {
    store_full_tile<Arch, MM, NVV>(c, C, ldc, alpha, beta, in, ldin);
    return;
  }
  alignas(64) float t[MM][NVV * W];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < MM; ++i)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NVV; ++v) c[i][v].store_aligned(t[i] + v * W);
  const std::size_t nfull = n / W, rem = n % W;
  const batch va(alpha), vb(beta);
  for (std::size_t i = 0; i < m; ++i) {
    float* p = C + i * ldc;
    const float* pin = in + i * ldin;
    for (std::size_t v = 0; v < nfull && v < NVV; ++v) {
      const batch x = batch::load_aligned(t[i] + v * W);
      (beta == 0.f ? va * x : simd::fma(va, x, vb * batch::load_unaligned(pin + v * W))).store_unaligned(p + v * W);
    }
    if (rem && nfull < NVV) {
      const float* x = t[i] + nfull * W;
      float* q = p + nfull * W;
      const float* qin = pin + nfull * W;
      for (std::size_t j = 0; j < rem; ++j) q[j] = beta == 0.f ? alpha * x[j] : simd::fma1(alpha, x[j], beta * qin[j]);
    }
  }
}

/// Micro-kernel: C[0:m, 0:n] (= or +=) alpha * A(MM x kc) * Bp(kc x NVV*W packed panel, stride NRS).
/// NRS == 0: Bp is the user's row-major op(B) read in place, row stride `bks` (unaligned loads, whole
/// vectors only: the caller guarantees that NVV * W columns exist in every row).
/// Element (i, k) of A is at Ap[i * ars + k * aks]: a packed panel (ars 1, aks MR), the user's A^T read in
/// place (ars 1, aks lda: MR contiguous values per k) or the user's row-major op(A) read in place (ars lda,
/// aks 1). MM and NVV are compile-time, so the accumulators stay in registers.
/// `pf` (or null): the next micro-panel of the user's op(A), same layout, prefetched while this one runs
/// (its first pass over a micro-panel reads A from beyond the L2). `bias` (or null): store_tile's bias row.
template <class Arch, std::size_t NRS, std::size_t MM, std::size_t NVV>
inline void ukernel(std::size_t kc, const float* __restrict Ap, std::size_t ars, std::size_t aks,
                    const float* __restrict Bp, float* C, std::size_t ldc, std::size_t m, std::size_t n, float alpha,
                    float beta, const float* pf = nullptr, const float* bias = nullptr, std::size_t bks = 0) {
  using batch = xsimd::batch<float, Arch>;
  constexpr std::size_t W = batch::size;
  const std::size_t bstep = NRS ? NRS : bks;
  auto load_b = [](const float* p) {
    if constexpr (NRS != 0) return batch::load_aligned(p);
    else return batch::load_unaligned(p);
  };
  // What the store needs after the k loop, held in memory across it (AVX-512, where the store is inlined):
  // left to the register allocator, alpha and beta (and GPRs spilled into vector registers) took vector
  // registers through the loop, and a vector of op(B) was reloaded from the stack at every FMA that used it
  // (measured 0.92-0.96 x at every depth). The empty asm statements make the compiler assume `out` may have
  // been read and changed there: stored before the loop, reloaded after it.
  struct {
    float* C;
    std::size_t ldc, m, n;
    float alpha, beta;
    const float* bias;
  } out{C, ldc, m, n, alpha, beta, bias};
  if constexpr (W >= 16) __asm__("" : "+m"(out));
  batch c[MM][NVV];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < MM; ++i)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NVV; ++v) c[i][v] = batch(0.f);
  // The tile of C, for writing, whatever beta: its lines arrive while the FMAs run. In a training step C
  // is mostly an activation last written a step ago (beyond the L2), and a store that misses waits for
  // the line: without this, the tiny model's products ran at 75-80 % of their speed on warm operands.
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t v = 0; v < NVV; ++v) __builtin_prefetch(C + i * ldc + v * W, 1, 3);
  // One step of the depth: a row of op(B)'s panel times the MM values a(i) of op(A) at that depth.
  auto step = [&](auto&& a, const float* b_k) __attribute__((always_inline)) {
    batch b[NVV];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NVV; ++v) b[v] = load_b(b_k + v * W);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MM; ++i) {
      const batch ai(a(i));
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVV; ++v) c[i][v] = simd::fma(ai, b[v], c[i][v]);
    }
  };
  // Without a micro-panel to prefetch (every pass but a micro-panel's first), the depth loop is unrolled and
  // has no test in it: its counter, pointer and branch instructions compete with the FMAs for issue ports
  // on Intel cores. Intel Xeon (family 6 model 167), one thread, warm operands, medians of 5 alternated
  // runs, GFLOP/s one step per iteration -> unrolled: AVX-512 (by 2) 1024 x 384 x 128 167.8 -> 180.5,
  // 1024 x 128 x 512 162.4 -> 172.9, dX 1024 x 128 x 512 (NT) 158.2 -> 171.4, GPT-2 proj 156.8 -> 170.2,
  // the rest +0-5 %; AVX2 (by 4; by 2 gained nothing) +4-9 % on every shape (1024 x 384 x 128 101.1 -> 108.6,
  // GPT-2 proj 99.0 -> 107.9, GPT-2 fc dW 95.2 -> 100.7). The FMAs and their order are unchanged.
  auto run = [&](auto&& one) __attribute__((always_inline)) {
    if constexpr (W >= 16) {
#pragma GCC unroll 2
      for (std::size_t k = 0; k < kc; ++k) one(k);
    } else {
#pragma GCC unroll 4
      for (std::size_t k = 0; k < kc; ++k) one(k);
    }
  };
  if (ars == 1) {
    if (pf) {
      for (std::size_t k = 0; k < kc; ++k) {
        __builtin_prefetch(pf + k * aks, 0, 3);
        const float* a_k = Ap + k * aks;
        step([&](std::size_t i) { return a_k[i]; }, Bp + k * bstep);
      }
    } else {
      run([&](std::size_t k) {
        const float* a_k = Ap + k * aks;
        step([&](std::size_t i) { return a_k[i]; }, Bp + k * bstep);
      });
    }
  } else {
    const float* ar[MM];
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MM; ++i) ar[i] = Ap + i * ars;
    if (pf) {
      for (std::size_t k = 0; k < kc; ++k) {
        if (k % 16 == 0)
#pragma GCC unroll 16
          for (std::size_t i = 0; i < MM; ++i) __builtin_prefetch(pf + i * ars + k, 0, 3);
        step([&](std::size_t i) { return ar[i][k]; }, Bp + k * bstep);
      }
    } else {
      run([&](std::size_t k) { step([&](std::size_t i) { return ar[i][k]; }, Bp + k * bstep); });
    }
  }
  if constexpr (W >= 16) {
    __asm__("" : "+m"(out));
    store_tile_inline<Arch, MM, NVV>(c, out.C, out.ldc, out.m, out.n, out.alpha, out.beta, out.bias);
  } else {
    store_tile<Arch, MM, NVV>(c, C, ldc, m, n, alpha, beta, bias);
  }
}

template <class Arch, std::size_t NRS, std::size_t MM, std::size_t... V>
inline void dispatch_n(std::size_t kc, const float* Ap, std::size_t ars, std::size_t aks, const float* Bp,
                       std::size_t bks, float* C, std::size_t ldc, std::size_t m, std::size_t n, float alpha,
                       float beta, const float* bias, std::index_sequence<V...>) {
  using P = params<Arch>;
  // Fewest vectors covering n columns.
  const std::size_t nv = (n + P::W - 1) / P::W;
  (void)((nv == V + 1
              ? (ukernel<Arch, NRS, MM, V + 1>(kc, Ap, ars, aks, Bp, C, ldc, m, n, alpha, beta, nullptr, bias, bks),
                 true)
              : false) ||
         ...);
}

template <class Arch, std::size_t NRS, std::size_t... I>
inline void dispatch_m(std::size_t kc, const float* Ap, std::size_t ars, std::size_t aks, const float* Bp,
                       std::size_t bks, float* C, std::size_t ldc, std::size_t m, std::size_t n, float alpha,
                       float beta, const float* bias, std::index_sequence<I...>) {
  // m in [1, MR]: call the instantiation with exactly m rows.
  (void)((m == I + 1 ? (dispatch_n<Arch, NRS, I + 1>(kc, Ap, ars, aks, Bp, bks, C, ldc, m, n, alpha, beta, bias,
                                                         std::make_index_sequence<params<Arch>::NV>{}),
                            true) : false) ||
         ...);
}

/// C = beta*C (beta == 0: zero fill without reading).
inline void scale_c(std::size_t M, std::size_t N, float beta, float* C, std::size_t ldc) {
  for (std::size_t i = 0; i < M; ++i) {
    float* p = C + i * ldc;
    if (beta == 0.f)
      std::fill(p, p + N, 0.f);
    else if (beta != 1.f)
      for (std::size_t j = 0; j < N; ++j) p[j] *= beta;
  }
}

/// M == 1 or N == 1: matrix-vector products, no packing. Computes C = alpha*op(A)op(B) + beta*C.
template <class Arch>
inline void gemv_path(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
                      const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
                      std::size_t ldc) {
  using batch = xsimd::batch<float, Arch>;
  constexpr std::size_t W = batch::size;
  // Express as y[j] (j < L) = sum_k x[k] * Mat(k, j), y strided by ys; x strided by xs.
  // "Row" form: Mat(k, j) = base[k*rs + j] (contiguous in j) -> axpy over rows.
  // "Col" form: Mat(k, j) = base[j*cs + k] (contiguous in k) -> dot products.
  const float* x;
  std::size_t xs;
  const float* base;
  bool row_form;
  std::size_t st;  // stride between k (row form) or between j (col form)
  std::size_t L;
  float* y;
  std::size_t ys;
  if (M == 1) {
    // c[j] = sum_k a[k] op(B)[k,j]
    x = A;
    xs = trans_a ? lda : 1;
    base = B;
    row_form = !trans_b;
    st = ldb;
    L = N;
    y = C;
    ys = 1;
  } else {
    // N == 1: c[i] = sum_k op(A)[i,k] b[k]
    x = B;
    xs = trans_b ? 1 : ldb;
    base = A;
    row_form = trans_a;  // op(A)[i,k] = A[k*lda + i]: contiguous in i
    st = lda;
    L = M;
    y = C;
    ys = ldc;
  }
  if (row_form) {
    // y[j] = sum_k x[k] base[k*st + j]: blocks of 4 vectors of j, k inner.
    std::size_t j = 0;
    alignas(64) float tmp[4 * W];
    for (; j < L; j += 4 * W) {
      const std::size_t nb = std::min<std::size_t>(4 * W, L - j);
      batch acc[4] = {batch(0.f), batch(0.f), batch(0.f), batch(0.f)};
      if (nb == 4 * W) {
        for (std::size_t k = 0; k < K; ++k) {
          const batch xv(x[k * xs]);
          const float* r = base + k * st + j;
          for (std::size_t v = 0; v < 4; ++v) acc[v] = simd::fma(xv, batch::load_unaligned(r + v * W), acc[v]);
        }
        for (std::size_t v = 0; v < 4; ++v) acc[v].store_aligned(tmp + v * W);
      } else {
        float t2[4 * W] = {};
        for (std::size_t k = 0; k < K; ++k) {
          const float xv = x[k * xs];
          const float* r = base + k * st + j;
          for (std::size_t q = 0; q < nb; ++q) t2[q] = simd::fma1(xv, r[q], t2[q]);
        }
        std::copy(t2, t2 + 4 * W, tmp);
      }
      for (std::size_t q = 0; q < nb; ++q) {
        float* p = y + (j + q) * ys;
        *p = beta == 0.f ? alpha * tmp[q] : simd::fma1(alpha, tmp[q], beta * *p);
      }
    }
  } else {
    // y[j] = sum_k x[k] base[j*st + k]
    alignas(64) float xbuf_small[256];
    const float* xc = x;
    std::unique_ptr<float[]> xbig;
    if (xs != 1) {
      float* dst = xbuf_small;
      if (K > 256) {
        xbig.reset(new float[K]);
        dst = xbig.get();
      }
      for (std::size_t k = 0; k < K; ++k) dst[k] = x[k * xs];
      xc = dst;
    }
    for (std::size_t j = 0; j < L; ++j) {
      const float* r = base + j * st;
      batch a0(0.f), a1(0.f);
      std::size_t k = 0;
      for (; k + 2 * W <= K; k += 2 * W) {
        a0 = simd::fma(batch::load_unaligned(xc + k), batch::load_unaligned(r + k), a0);
        a1 = simd::fma(batch::load_unaligned(xc + k + W), batch::load_unaligned(r + k + W), a1);
      }
      float s = xsimd::hadd(a0 + a1);
      for (; k < K; ++k) s = simd::fma1(xc[k], r[k], s);
      float* p = y + j * ys;
      *p = beta == 0.f ? alpha * s : simd::fma1(alpha, s, beta * *p);
    }
  }
}

/// Serial blocked GEMM on one sub-problem (`tri`: the causal structure to exploit, gemm_causal below;
/// `bias`: gemm's bias row, null without).
template <class Arch>
inline void gemm_serial(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
                        const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
                        std::size_t ldc, triangle tri = triangle::none, std::size_t off = 0,
                        const float* bias = nullptr, const gemm_epilogue& ep = {}) {
  using P = params<Arch>;
  constexpr std::size_t MR = P::MR, NR = P::NR, KC = P::KC, MC = P::MC, NC = P::NC;
  if (M == 0 || N == 0) return;
  if (bias && (K == 0 || alpha == 0.f || M == 1 || N == 1)) {
    // No blocked pass to fold the bias into: fill C with it and accumulate, as gemm's bias means.
    for (std::size_t i = 0; i < M; ++i) std::copy(bias, bias + N, C + i * ldc);
    bias = nullptr;
    beta = 1.f;
  }
  if (K == 0 || alpha == 0.f) {
    scale_c(M, N, beta, C, ldc);
    ep(0, M, 0, N);
    return;
  }
  if (M == 1 || N == 1) {
    gemv_path<Arch>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    ep(0, M, 0, N);
    return;
  }
  // Split K into equal blocks of at most KC (avoids a short last block with a high C-update share).
  const std::size_t kblocks = (K + KC - 1) / KC;
  const std::size_t kc_max = (K + kblocks - 1) / kblocks;
  const std::size_t mc_max = std::min(((M + MR - 1) / MR) * MR, MC);
  // A block of op(B), kc x nc packed, is read once per micro-panel of op(A): it stays in the L2 where it
  // takes at most half of it (the other half for op(A) and C). 2 MiB of L2, kc 384: 672 columns. An Intel
  // Xeon (Emerald Rapids), 1 thread, GPT-2 qkv (1024 x 2304 x 768), with the loop order below: 2304
  // columns at once 0.87-0.92 x OpenBLAS (1152), 1.02-1.04 (480-768).
  const std::size_t nc_blk =
      std::max(NR, std::min(NC, l2_bytes() / 2 / (kc_max * sizeof(float)) / NR * NR));
  const std::size_t nc_max = std::min(((N + NR - 1) / NR) * NR, nc_blk);
  // A small op(B), row-major with whole vectors per row, is read in place instead of packed (attention's
  // per-head products: 6 per head, each packing its operand once for only a few row tiles). Its panels
  // stay in the L1 across the row tiles at this depth; the FMAs and their order are the same either way.
  const bool small_b = !trans_b && N % P::W == 0 && N <= 64 && M <= 128 && K <= 256;
  // With AVX-512, so is a row-major op(B) times an A^T of few rows (a weight gradient X^T dY of a layer
  // with few inputs: the tiny model's q, k, v, projection and fc dW, M = 128): its copy was read by only
  // M / MR row tiles, and packing it took 6-7 % of those products. The panels are then read at the row
  // stride, unless that is a multiple of 4 KiB (every row on the same cache sets). AMD EPYC Zen 5, one
  // thread: inside the tiny model's training step at T = 64, 128 x 128 x 1024 TN 139 -> 132-135 us per
  // call, 128 x 512 x 1024 551 -> 511-527 us (512 x 128 x 1024 in place: within noise, left packed);
  // M = 128 and 256, K = 2048, N = 128-768, 64-byte aligned or not: +1-15 % everywhere. The AVX2 path
  // (6 x 16 tiles, a panel row of one line) lost 0-18 % in place on the same CPU, so it packs.
  const bool tall_b = P::W >= 16 && trans_a && !trans_b && N % P::W == 0 && M <= 256 &&
                      (ldb * sizeof(float)) % 4096 != 0;
  const bool inplace_b = small_b || tall_b;
  float* Bp = inplace_b ? nullptr : buffer_b().get(kc_max * nc_max);
  // A^T read in place touches one line per k at stride lda: packed where those lines alias in the L1 and
  // enough columns repay the copy (pack_a_trans). Earlier measurements of the cases that rule keeps: at a
  // multiple of 4 KiB the in-place read ran at 0.70-0.73 x OpenBLAS (AVX2 on a Zen 5; M = 1024, 2048, 3072)
  // against 1.01-1.07 x for other strides; AVX2 on a Zen 4, GPT-2 fc dW (lda 768 floats, 3 KiB): 0.84-0.88
  // -> 0.98-1.00 x OpenBLAS packed; on an Intel Xeon (Emerald Rapids), tiny proj dW (512 x 128 x 1024-2048,
  // lda 2 KiB), 1 thread, AVX2 0.88 -> 0.97-0.99 x packed.
  const bool pack_at = trans_a && pack_a_trans(lda, N, kc_max);
  // With several blocks of columns (N > nc_blk) the packed A^T is kept for all of them: every block of rows
  // and depth at its own place, (ic, pc) at ic * K + pc * (its rows rounded up to MR), packed on the first
  // block of columns only (packing it again for each of GPT-2 fc dW's 5 blocks of 672 columns cost 1-3 %:
  // Intel Xeon, 1 thread, 147-149 -> 150-154 GFLOP/s with AVX-512, 78-79 -> 78-80 with AVX2). Otherwise one
  // block's worth, reused.
  const bool keep_at = pack_at && N > nc_blk;
  float* Ap = pack_at ? buffer_a().get(keep_at ? (M + MR - 1) / MR * MR * K : kc_max * mc_max) : nullptr;
  for (std::size_t jc = 0; jc < N; jc += nc_blk) {
    const std::size_t nc = std::min(nc_blk, N - jc);
    for (std::size_t pc = 0; pc < K; pc += kc_max) {
      const std::size_t kc = std::min(kc_max, K - pc);
      const float beta_eff = pc == 0 && !bias ? beta : 1.f;
      const float* Bsrc = trans_b ? B + jc * ldb + pc : B + pc * ldb + jc;
      if (!inplace_b) {
        pack_b<Arch>(trans_b, Bsrc, ldb, kc, nc, Bp);
      } else if (small_b) {
        // Read in place, a small block's rows are fetched at once (a head's q, k or v slice is cold in the
        // backward pass; the micro-kernel would meet its lines one by one).
        for (std::size_t k = 0; k < kc; ++k)
          for (std::size_t j = 0; j < nc; j += 64 / sizeof(float)) __builtin_prefetch(Bsrc + k * ldb + j, 0, 3);
      }
      for (std::size_t ic = 0; ic < M; ic += MC) {
        const std::size_t mc = std::min(MC, M - ic);
        const float* Asrc = trans_a ? A + pc * lda + ic : A + ic * lda + pc;
        // op(A) is read in place by the micro-kernel: row-major A as MR row pointers, A^T as MR contiguous
        // values per k (stride lda); its MR x kc panel stays in cache across the jr loop. A^T is packed
        // only at row strides that alias in the cache (see pack_at above).
        float* Ablk = keep_at ? Ap + ic * K + pc * ((mc + MR - 1) / MR * MR) : Ap;
        if (pack_at && (jc == 0 || !keep_at)) {
          pack_a<MR>(true, Asrc, lda, mc, kc, Ablk);
        } else if (small_b && trans_a) {
          // Likewise a small A^T read in place (attention's P^T: one line per k for every 16 rows of C).
          for (std::size_t k = 0; k < kc; ++k)
            for (std::size_t i = 0; i < mc; i += 64 / sizeof(float)) __builtin_prefetch(Asrc + k * lda + i, 0, 3);
        }
        // ir outer, jr inner: a micro-panel of op(A) (MR x kc, 9-12 KiB) stays in the L1 while it meets
        // every panel of the op(B) block, which streams from the L2. (jr outer kept a panel of op(B) for
        // all row tiles instead, but at kc 384 it is 72 KiB with AVX-512's 48 columns, more than an L1.)
        // Intel Xeon (Emerald Rapids), 1 thread, sinkcore / OpenBLAS (bench_gemm): GPT-2 qkv 0.97-0.98 ->
        // 1.04 with AVX-512, 0.95-0.96 -> 1.02 with AVX2; GPT-2 fc 0.95-0.98 -> 1.00 with either; the
        // tiny model's training step +1-2 %.
        for (std::size_t ir = 0; ir < mc; ir += MR) {
          const std::size_t mr = std::min(MR, mc - ir);
          for (std::size_t jr = 0; jr < nc; jr += NR) {
            const std::size_t nr = std::min(NR, nc - jr);
            const float* bpanel = inplace_b ? Bsrc + jr : Bp + jr * kc;
            const std::size_t bks = inplace_b ? ldb : NR;
            const float* apanel = pack_at ? Ablk + ir * kc : trans_a ? Asrc + ir : Asrc + ir * lda;
            const std::size_t ars = trans_a ? 1 : lda, aks = pack_at ? MR : trans_a ? lda : 1;
            float* Ct = C + (ic + ir) * ldc + jc + jr;
            // The tile's rows are rows [r, r + mr) of the causal matrix; its share of the block's depth
            // [k0, k1) and of its columns (n) follow from the structure. Skipped terms are exact zeros,
            // skipped columns are not needed: the kept FMAs run in the same order from the same zero.
            std::size_t k0 = 0, k1 = kc, n = nr;
            const std::size_t r = off + ic + ir;
            if (tri == triangle::c_lower) {
              const std::size_t lim = r + mr;  // columns [0, lim) needed
              if (jc + jr >= lim) continue;
              n = std::min(nr, (lim - (jc + jr) + P::W - 1) / P::W * P::W);
            } else if (tri == triangle::a_lower) {
              k1 = std::min(kc, r + mr > pc ? r + mr - pc : 0);  // op(A)[i, k] == 0 for k > r + i
            } else if (tri == triangle::a_upper) {
              const std::size_t lo = ic + ir > off ? ic + ir - off : 0;  // op(A)[i, k] == 0 for k < i - off
              k0 = std::min(kc, lo > pc ? lo - pc : 0);
            }
            k1 = std::max(k0, k1);
            apanel += k0 * aks;
            const float* bp = bpanel + k0 * bks;
            // First pass over this micro-panel (jr == 0): prefetch the next micro-panel of op(A) in place, or
            // of a packed A^T kept for several blocks of columns (3 MiB for GPT-2 fc dW: beyond the L2 from the
            // second block of columns on).
            const float* pf = jr == 0 && (!pack_at || keep_at) && ir + 2 * MR <= mc
                                  ? (pack_at ? apanel + MR * kc : trans_a ? apanel + MR : apanel + MR * lda)
                                  : nullptr;
            // The first block of the depth starts from the bias row (if any), later ones from C.
            const float* bt = bias && pc == 0 ? bias + jc + jr : nullptr;
            // tall_b's full tiles, prefetching op(A)'s next micro-panel. Compiled for AVX-512 only (tall_b is
            // false otherwise): one more micro-kernel instance in the AVX2 build cost other products 3-6 %.
            if constexpr (P::W >= 16) {
              if (tall_b && !small_b && mr == MR && n == NR) {
                ukernel<Arch, 0, MR, P::NV>(k1 - k0, apanel, ars, aks, bp, Ct, ldc, mr, n, alpha, beta_eff, pf, bt, bks);
                continue;
              }
            }
            if (inplace_b)
              dispatch_m<Arch, 0>(k1 - k0, apanel, ars, aks, bp, bks, Ct, ldc, mr, n, alpha, beta_eff, bt,
                                  std::make_index_sequence<MR>{});
            else if (mr == MR && n == NR)
              ukernel<Arch, NR, MR, P::NV>(k1 - k0, apanel, ars, aks, bp, Ct, ldc, mr, n, alpha, beta_eff, pf, bt);
            else
              dispatch_m<Arch, NR>(k1 - k0, apanel, ars, aks, bp, NR, Ct, ldc, mr, n, alpha, beta_eff, bt,
                                   std::make_index_sequence<MR>{});
          }
        }
        if (pc + kc >= K) ep(ic, ic + mc, jc, jc + nc);  // rows [ic, ic + mc), columns [jc, jc + nc) are final
      }
    }
  }
}

/// causal_query_sum's tile: rows [j0, j0 + MM) of C, NVC vectors of columns from column 0 of A, B and C (the
/// caller offsets them). Per block of queries [r0, r1) from the tile's own (j0 / cb * cb): a chain of FMAs
/// from zero over the queries from max(r0, j0) (gemm_causal's a_upper start for the tile), then added onto
/// the sum of the blocks before it (T <= cb: one block, stored as it is, gemm's beta = 0).
template <class Arch, std::size_t MM, std::size_t NVC>
inline void query_sum_tile(std::size_t T, std::size_t cb, std::size_t j0, const float* A, std::size_t lda,
                           const float* B, std::size_t ldb, float* C, std::size_t ldc) {
  using batch = xsimd::batch<float, Arch>;
  constexpr std::size_t W = batch::size;
  const bool single = T <= cb;
  // A is read down a strip of 16 columns (one line per query): the next strip's lines, columns [next,
  // next + 16), are fetched 8 queries ahead of this tile's walk, which the hardware does not follow.
  constexpr std::size_t L = 64 / sizeof(float);
  const std::size_t next = (j0 / L + 1) * L;
  batch sum[MM][NVC];
#pragma GCC unroll 16
  for (std::size_t m = 0; m < MM; ++m)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NVC; ++v) sum[m][v] = batch(0.f);
  for (std::size_t r0 = j0 / cb * cb; r0 < T; r0 += cb) {
    const std::size_t r1 = std::min(T, r0 + cb);
    batch acc[MM][NVC];
#pragma GCC unroll 16
    for (std::size_t m = 0; m < MM; ++m)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVC; ++v) acc[m][v] = batch(0.f);
    const float* a = A + std::max(r0, j0) * lda + j0;
    const float* b = B + std::max(r0, j0) * ldb;
    for (std::size_t i = std::max(r0, j0); i < r1; ++i, a += lda, b += ldb) {
      if (next < T && i + 8 < T) __builtin_prefetch(A + (i + 8) * lda + next, 0, 3);
      batch bv[NVC];
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVC; ++v) bv[v] = batch::load_unaligned(b + v * W);
#pragma GCC unroll 16
      for (std::size_t m = 0; m < MM; ++m) {
        const batch av(a[m]);
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NVC; ++v) acc[m][v] = simd::fma(av, bv[v], acc[m][v]);
      }
    }
#pragma GCC unroll 16
    for (std::size_t m = 0; m < MM; ++m)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NVC; ++v) sum[m][v] = single ? acc[m][v] : acc[m][v] + sum[m][v];
  }
#pragma GCC unroll 16
  for (std::size_t m = 0; m < MM; ++m)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NVC; ++v) sum[m][v].store_unaligned(C + (j0 + m) * ldc + v * W);
}

/// The rows [j0, j0 + m) of causal_query_sum, m in [1, MR]: the tile of exactly m rows.
template <class Arch, std::size_t NVC, std::size_t... I>
inline void query_sum_rows(std::size_t m, std::size_t T, std::size_t cb, std::size_t j0, const float* A,
                           std::size_t lda, const float* B, std::size_t ldb, float* C, std::size_t ldc,
                           std::index_sequence<I...>) {
  (void)((m == I + 1 ? (query_sum_tile<Arch, I + 1, NVC>(T, cb, j0, A, lda, B, ldb, C, ldc), true) : false) || ...);
}

}  // namespace gemm_detail

/// gemm restricted to the part of a causal product that matters (see triangle), on the calling thread
/// (attention calls it per head from its own parallel loop). Per micro-tile of MR rows it skips the
/// columns no row of the tile needs (c_lower), or the depth where every row of the tile has op(A) == 0
/// (a_lower, a_upper). The terms kept run in the same order from the same zero as in gemm, and the
/// skipped ones are exact zeros, so every needed entry equals gemm's bit for bit; the work at T = 64 falls
/// to about 55-65 % of the full products.
template <class Arch = xsimd::default_arch>
void gemm_causal(triangle tri, std::size_t off, bool trans_a, bool trans_b, std::size_t M, std::size_t N,
                 std::size_t K, float alpha, const float* A, std::size_t lda, const float* B, std::size_t ldb,
                 float beta, float* C, std::size_t ldc) {
  const profile::zone pz(profile::part::gemm);
  gemm_detail::gemm_serial<Arch>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, tri, off);
}

/// Attention's sums over queries in the backward pass, dv = P^T dz and dk = dP^T q of one head: C[j, 0:N] for
/// j < T is the sum over the queries i >= j of A[i, j] B[i, 0:N] (A: T x T, zero above the diagonal), the
/// queries taken in blocks of cb rows: each block's part a chain of FMAs from zero (over the block's queries
/// from the tile's first row on, as gemm_causal's a_upper), added onto the sum of the blocks before it, that
/// sum starting from zero when T > cb. The same values, bit for bit, as zeroing C (T > cb) and calling
/// gemm_causal(a_upper, r0, true, false, r1, N, r1 - r0, 1, A + r0 lda, lda, B + r0 ldb, ldb, T > cb ? 1 : 0,
/// C, ldc) per block [r0, r1), in one pass, each tile's sum kept in registers across the blocks instead of
/// written and read back by every block's call (a test compares the two). AMD EPYC Zen 5, AVX-512, one
/// head of the tiny model (N = 32): T = 128 4.2 -> 3.0 us warm, 8.4 -> 4.2 us with its operands evicted;
/// T = 64 1.0 -> 0.8 and 2.6 -> 1.4 us. N not a multiple of the vector width: the per-block calls.
template <class Arch = xsimd::default_arch>
void causal_query_sum(std::size_t T, std::size_t cb, std::size_t N, const float* A, std::size_t lda, const float* B,
                      std::size_t ldb, float* C, std::size_t ldc) {
  using P = gemm_detail::params<Arch>;
  constexpr std::size_t MR = P::MR, W = P::W;
  if (T == 0 || N == 0) return;
  if (cb == 0) cb = T;
  const profile::zone pz(profile::part::gemm);
  if (N % W != 0) {
    if (T > cb)
      for (std::size_t r = 0; r < T; ++r) std::fill(C + r * ldc, C + r * ldc + N, 0.f);
    for (std::size_t r0 = 0; r0 < T; r0 += cb) {
      const std::size_t r1 = std::min(T, r0 + cb);
      gemm_detail::gemm_serial<Arch>(true, false, r1, N, r1 - r0, 1.f, A + r0 * lda, lda, B + r0 * ldb, ldb,
                                     T > cb ? 1.f : 0.f, C, ldc, triangle::a_upper, r0);
    }
    return;
  }
  // Columns in chunks of two vectors (MR x 2 accumulators and as many sums: AVX-512's 8 x 32 columns),
  // rows in tiles of MR as gemm's (the tile's first row sets where each block's chain starts). A (P or dP,
  // the former last written in the forward pass) is read in strips of 16 columns; the tiles fetch the next
  // strip ahead, and the first is fetched here.
  for (std::size_t i = 0; i < T; ++i) __builtin_prefetch(A + i * lda, 0, 3);
  for (std::size_t c0 = 0; c0 < N; c0 += 2 * W) {
    const std::size_t nv = std::min<std::size_t>(2, (N - c0) / W);
    for (std::size_t j0 = 0; j0 < T; j0 += MR) {
      const std::size_t m = std::min(MR, T - j0);
      if (nv == 2)
        gemm_detail::query_sum_rows<Arch, 2>(m, T, cb, j0, A, lda, B + c0, ldb, C + c0, ldc,
                                             std::make_index_sequence<MR>{});
      else
        gemm_detail::query_sum_rows<Arch, 1>(m, T, cb, j0, A, lda, B + c0, ldb, C + c0, ldc,
                                             std::make_index_sequence<MR>{});
    }
  }
}

/// `bias` (optional, N floats): C starts from the bias in every row instead of beta*C (beta is ignored),
/// C = alpha*op(A)op(B) + bias: the same values, to the bit, as filling each row of C with the bias and
/// calling gemm with beta = 1, without the pass over C that the fill costs (a linear layer's y = x W + b).
/// `ep` (optional): called on each finished block of C (gemm_epilogue).
template <class Arch = xsimd::default_arch>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc, const float* bias = nullptr, gemm_epilogue ep = {}) {
  using P = gemm_detail::params<Arch>;
  if (M == 0 || N == 0) return;
  const profile::zone pz(profile::part::gemm);
  int nt = 1;
#ifdef _OPENMP
  // Threads only for problems big enough to amortise a parallel region (~ a few microseconds).
  if (!omp_in_parallel() && double(M) * double(N) * double(K) >= 128.0 * 128.0 * 64.0)
    nt = omp_get_max_threads();
#endif
  const std::size_t mu = (M + P::MR - 1) / P::MR, nu = (N + P::NR - 1) / P::NR;
  // Where the grid below has a choice, threads cut a product along N, or along M when it is more than twice
  // as tall as wide.
  const bool along_m = M > 2 * N;
  if (nt > 1 && (mu * nu) >= 2 && K > 0 && alpha != 0.f && M > 1 && N > 1) {
    // Row / column range of part p of q, in whole MR / NR units (the last one takes the remainder).
    auto range = [](std::size_t units, std::size_t unit, std::size_t total, std::size_t p, std::size_t q) {
      return std::pair<std::size_t, std::size_t>{std::min(total, (units * p / q) * unit),
                                                 std::min(total, (units * (p + 1) / q) * unit)};
    };
    // Pick the tm x tn grid (tm*tn == t <= nt) minimising the largest per-thread work, counted in
    // rows x columns rounded up to a whole vector (what the micro-kernels actually compute).
    std::size_t best_tm = 1, best_tn = 1, best_t = 1;
    double best_cost = double(M) * double(N);
    for (std::size_t t = 2; t <= std::size_t(nt); ++t)
      for (std::size_t tm = 1; tm <= t; ++tm) {
        if (t % tm) continue;
        const std::size_t tn = t / tm;
        if (tm > mu || tn > nu) continue;
        double cost = 0;
        for (std::size_t pm = 0; pm < tm; ++pm)
          for (std::size_t pn = 0; pn < tn; ++pn) {
            const auto [m0, m1] = range(mu, P::MR, M, pm, tm);
            const auto [n0, n1] = range(nu, P::NR, N, pn, tn);
            const double cols = double((n1 - n0 + P::W - 1) / P::W * P::W);
            cost = std::max(cost, double(m1 - m0) * cols);
          }
        // On ties: along N (each thread then packs only its slice of op(B); a cut along M packs all of it
        // once per thread), or along M when M > 2 N (a column cut reads all of op(A) once per thread, and
        // with N small each thread's panels of op(B) would be few). Cut into row chunks as soon as M > N,
        // GPT-2's proj and fc dX (1024 x 768 x 3072) lost 5-17 % (Intel Xeon, AVX-512, 4 chunks per thread
        // then), hence the factor; AVX2, tiny proj dW (512 x 128 x 2048): 0.96 -> 1.04 x OpenBLAS by rows.
        if (cost < best_cost * 0.98 ||
            (cost <= best_cost * 1.02 && t == best_t && (along_m ? tm > best_tm : tn > best_tn))) {
          best_cost = cost;
          best_tm = tm;
          best_tn = tn;
          best_t = t;
        }
      }
    if (best_t > 1) {
      // One chunk per thread. Up to 4 per thread, handed out dynamically (so that a thread slowed down by
      // other load does not hold the others back), lost 0-13 % on an idle machine: every chunk packs its
      // own copy of what the chunks share (a row chunk all of op(B), a column chunk a packed A^T) or reads
      // it again. AMD EPYC Zen 5, 2 threads, GFLOP/s with 4 -> 1 chunks per thread, the shapes of
      // bench_gemm: AVX-512 tiny proj dW (512 x 128 x 2048, TN) 394 -> 451-458, tiny fc dX 404-416 -> 466,
      // GPT-2 fc dW 426-432 -> 436-438, the tiny forward products +1-5 %; AVX2 GPT-2 fc dW 205-211 ->
      // 227-228, tiny proj dW 194-200 -> 219-223, GPT-2 qkv 233-242 -> 246-253; no shape slower.
      const std::size_t tm = best_tm, tn = best_tn;
#ifdef _OPENMP
#pragma omp parallel for num_threads(int(best_t)) schedule(static, 1)
#endif
      for (std::size_t id = 0; id < tm * tn; ++id) {
        const std::size_t pm = id / tn, pn = id % tn;
        const auto [m0, m1] = range(mu, P::MR, M, pm, tm);
        const auto [n0, n1] = range(nu, P::NR, N, pn, tn);
        if (m1 <= m0 || n1 <= n0) continue;
        const float* As = trans_a ? A + m0 : A + m0 * lda;
        const float* Bs = trans_b ? B + n0 * ldb : B + n0;
        gemm_epilogue part = ep;
        part.row0 += m0;
        part.col0 += n0;
        gemm_detail::gemm_serial<Arch>(trans_a, trans_b, m1 - m0, n1 - n0, K, alpha, As, lda, Bs, ldb, beta,
                                       C + m0 * ldc + n0, ldc, triangle::none, 0, bias ? bias + n0 : nullptr, part);
      }
      return;
    }
  }
  gemm_detail::gemm_serial<Arch>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, triangle::none, 0,
                                 bias, ep);
}

}  // namespace sinkcore::kernels

// This header's default-ISA instances: extern under separate compilation, compiled once (impl/kernels.ipp).
#define SINKCORE_KERNELS_GEMM_INSTANCES(X) \
  X void sinkcore::kernels::gemm<xsimd::default_arch>(bool, bool, std::size_t, std::size_t, std::size_t, float, \
      const float*, std::size_t, const float*, std::size_t, float, float*, std::size_t, const float*, \
      sinkcore::kernels::gemm_epilogue); \
  X void sinkcore::kernels::gemm_causal<xsimd::default_arch>(sinkcore::kernels::triangle, std::size_t, bool, bool, \
      std::size_t, std::size_t, std::size_t, float, const float*, std::size_t, const float*, std::size_t, float, \
      float*, std::size_t); \
  X void sinkcore::kernels::causal_query_sum<xsimd::default_arch>(std::size_t, std::size_t, std::size_t, \
      const float*, std::size_t, const float*, std::size_t, float*, std::size_t); \
  static_assert(true)
#if defined(SINKCORE_SEPARATE_COMPILATION)
SINKCORE_KERNELS_GEMM_INSTANCES(extern template);
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
