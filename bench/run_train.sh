#!/usr/bin/env bash
# Training throughput: sinkcore next to PyTorch (Debian's python3-torch, for /usr/bin/python3) on the same
# tiny model, batch, context and threads, in one run. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for
# the PyTorch reference only, so it uses its best kernels. Usage: bench/run_train.sh [build-dir] [steps]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build-bench}"
steps="${2:-20}"
out=$(mktemp)
# PyTorch (Debian's build) computes with OpenBLAS: give it the kernel the CPU supports (openblas_kernel.sh).
. "$here/openblas_kernel.sh"
openblas_kernel "$build" run_train.sh
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${openblas_force[@]}" /usr/bin/python3 "$here/torch_train.py" "$steps" | tee "$out"
OMP_NUM_THREADS=2 "$build/bench/bench_train" --steps "$steps" | tee -a "$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [r for r in (json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")) if not r.get("breakdown")]
torch_best = max((r for r in rows if r["impl"].startswith("pytorch")), key=lambda r: r["tokens_per_s"])
ours = max((r for r in rows if r["impl"] == "sinkcore"), key=lambda r: r["tokens_per_s"])
print(f"PyTorch best: {torch_best['tokens_per_s']} tok/s ({torch_best['precision']}, {torch_best['threads']} threads)")
print(f"sinkcore best: {ours['tokens_per_s']} tok/s ({ours['threads']} threads), MFU {100 * ours['mfu']:.1f}% of "
      f"{ours['peak_gflops']:.0f} GFLOP/s")
print(f"ratio sinkcore / PyTorch best: {ours['tokens_per_s'] / torch_best['tokens_per_s']:.2f}x")
PY
