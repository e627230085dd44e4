#!/usr/bin/env bash
# Run the GEMM benchmark against OpenBLAS's own choice of kernel for this CPU:
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set in this environment) pin OpenBLAS to an old kernel, so they
# are removed for the reference. Threads (1 and 2) are set inside the benchmark per measurement; the
# thread pools are sized here. No thread binding: the reference (OpenBLAS pthreads) is unbound too.
# Usage: bench/run_gemm.sh [build-dir] [extra args for bench_gemm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build-kernels}"
shift || true
threads="${SINKCORE_BENCH_THREADS:-2}"
. "$here/openblas_kernel.sh"
openblas_kernel "$build" run_gemm.sh
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${openblas_force[@]}" \
  OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
  "$build/bench/bench_gemm" "$@"
