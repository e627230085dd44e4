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
# OpenBLAS 0.3.21 falls back to its generic SSE3 kernel ("Prescott") on CPUs it does not know (seen on a
# virtualised Xeon with AVX-512); then the reference would be 5-15x too slow. Give it the kernel family the
# CPU supports instead, and say so.
core=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$build/bench/bench_gemm" --openblas-core)
force=()
if [ "$core" = Prescott ] || [ "$core" = Core2 ] || [ "$core" = Nehalem ]; then
  if grep -qw avx512f /proc/cpuinfo; then force=(OPENBLAS_CORETYPE=SkylakeX)
  elif grep -qw avx2 /proc/cpuinfo; then force=(OPENBLAS_CORETYPE=Haswell); fi
  [ ${#force[@]} -gt 0 ] && echo "run_gemm.sh: OpenBLAS picked $core for this CPU; using ${force[0]}" >&2
fi
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${force[@]}" \
  OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
  "$build/bench/bench_gemm" "$@"
