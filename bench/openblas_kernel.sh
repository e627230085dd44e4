# Sourced by run_gemm.sh and run_train.sh. OpenBLAS 0.3.21 falls back to its generic SSE3 kernel
# ("Prescott") on CPUs it does not know (seen on a virtualised Xeon with AVX-512); a reference running on
# it is 5-15x too slow. openblas_kernel BUILD WHO sets the array `openblas_force` to the OPENBLAS_CORETYPE
# the CPU supports (SkylakeX with AVX-512, Haswell with AVX2) when that happens, and says so on stderr;
# otherwise it leaves the array empty and OpenBLAS chooses. BUILD/bench/bench_gemm tells which kernel
# OpenBLAS picks; without it nothing is forced.
openblas_kernel() {
  local build=$1 who=$2 core arch
  openblas_force=()
  [ -x "$build/bench/bench_gemm" ] || return 0
  # A build of sinkcore's AVX2 path (-march=haswell) on an AVX-512 CPU is compared with OpenBLAS's AVX2
  # kernel: Zen on AMD, Haswell on Intel (scripts/bootstrap.sh bench builds both paths there).
  arch=$("$build/bench/bench_gemm" --sinkcore-arch)
  if grep -qw avx512f /proc/cpuinfo && [[ "$arch" != avx512* ]] && grep -qw avx2 /proc/cpuinfo; then
    if grep -q AuthenticAMD /proc/cpuinfo; then openblas_force=(OPENBLAS_CORETYPE=Zen)
    else openblas_force=(OPENBLAS_CORETYPE=Haswell)
    fi
    echo "$who: sinkcore's $arch path on an AVX-512 CPU; OpenBLAS's AVX2 kernel: ${openblas_force[0]}" >&2
    return 0
  fi
  core=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$build/bench/bench_gemm" --openblas-core)
  case "$core" in Prescott|Core2|Nehalem) ;; *) return 0 ;; esac
  if grep -qw avx512f /proc/cpuinfo; then openblas_force=(OPENBLAS_CORETYPE=SkylakeX)
  elif grep -qw avx2 /proc/cpuinfo; then openblas_force=(OPENBLAS_CORETYPE=Haswell)
  else return 0
  fi
  echo "$who: OpenBLAS picked $core for this CPU; using ${openblas_force[0]}" >&2
}
