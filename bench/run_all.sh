#!/usr/bin/env bash
# Every benchmark, one after the other, as one markdown report for this CPU on stdout: the machine (CPU
# model, ISA, cores), the FMA peak, GEMM against OpenBLAS, a training step against PyTorch and in the
# study's configuration (two 1-thread runs at once), throughput against context length, and the GPT-2-small
# forward with hooks. Usage: bench/run_all.sh [build-dir] (scripts/bootstrap.sh bench installs what it
# needs, builds build-bench and runs this).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build-bench}"
steps="${SINKCORE_BENCH_STEPS:-20}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
isa=$(grep -o -w 'avx512f\|avx2\|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "# sinkcore benchmarks on $cpu"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, ISA flags: ${isa:-none of avx2/avx512f}; other load on the machine lowers every figure."
echo

# gemm_table BUILD: run_gemm.sh on that build, as a markdown table with its header lines as a list.
gemm_table() {
  "$here/run_gemm.sh" "$1" --trans > "$tmp/gemm.txt"
  grep -E '^(OpenBLAS core|sinkcore arch|FMA peak)' "$tmp/gemm.txt" | sed 's/^/- /'
  echo
  echo "| shape | M | N | K | op | threads | sinkcore | OpenBLAS | ratio | sinkcore % of peak | OpenBLAS % of peak |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  # A row: "<name words> M N K op threads | ours openblas ratio | ours% oblas% | max|d|"; the name has spaces.
  awk -F'|' 'NF >= 4 && $1 ~ /[0-9]/ {
    n = split($1, a, " "); name = a[1]; for (i = 2; i <= n - 5; ++i) name = name " " a[i];
    split($2, b, " "); split($3, c, " ");
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, a[n-4], a[n-3], a[n-2], a[n-1], a[n], b[1], b[2], b[3], c[1], c[2] }' "$tmp/gemm.txt"
  echo
}

echo "## GEMM: sinkcore against OpenBLAS (GFLOP/s, best of several trials)"
echo
gemm_table "$build"
# On an AVX-512 CPU scripts/bootstrap.sh bench also builds sinkcore's AVX2 path (BUILD-avx2, -march=haswell):
# both kernel paths side by side, each against OpenBLAS's kernel for the same ISA.
if [ -x "$build-avx2/bench/bench_gemm" ]; then
  echo "### The AVX2 path on the same CPU (a -march=haswell build, against OpenBLAS's AVX2 kernel)"
  echo
  gemm_table "$build-avx2"
fi

echo "## Training step: sinkcore against PyTorch (tiny default, B 16, T 128, fp32)"
echo
"$here/run_train.sh" "$build" "$steps" > "$tmp/train.txt"
/usr/bin/python3 - "$tmp/train.txt" <<'PY'
import json, sys
all_rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rows = [r for r in all_rows if not r.get("breakdown")]
print("| implementation | precision | threads (cores) | tokens/s | MFU (of the measured peak) |")
print("| --- | --- | --- | --- | --- |")
for r in rows:
    mfu = f"{100 * r['mfu']:.1f} % of {r['peak_gflops']:.0f} GFLOP/s" if "mfu" in r else "–"
    threads = str(r["threads"])
    if r.get("blas_threads") is not None:  # torch_train.py: the fastest split of the cores
        threads += f" ({r['torch_threads']} PyTorch + {r['blas_threads']} OpenBLAS)"
    print(f"| {r['impl']} | {r['precision']} | {threads} | {r['tokens_per_s']:.0f} | {mfu} |")
for t in (1, 2):
    ours = [r for r in rows if r["impl"] == "sinkcore" and r["threads"] == t]
    torch = [r for r in rows if r["impl"].startswith("pytorch") and r["precision"] == "fp32" and r["threads"] == t]
    if ours and torch:
        print(f"\nAt {t} thread(s): sinkcore / PyTorch fp32 = {ours[0]['tokens_per_s'] / torch[0]['tokens_per_s']:.2f}x", end="")
print("\n\nThreads count cores: a PyTorch row is the fastest split of them between PyTorch's threads and")
print("OpenBLAS's (bench/torch_train.py tries each; left alone, OpenBLAS starts a thread per core whatever")
print("torch.set_num_threads says).")
PY
echo
echo "### Where sinkcore's step goes (share of the step's wall time; bench_train, profile.hpp)"
echo
OMP_NUM_THREADS=2 "$build/bench/bench_train" --steps "$steps" --context 64 > "$tmp/train64.txt"
/usr/bin/python3 - "$tmp/train.txt" "$tmp/train64.txt" <<'PY'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.startswith("{")]
tput = {(r["context"], r["threads"]): r for r in rows if r.get("impl") == "sinkcore" and not r.get("breakdown")}
parts = ["gemm", "attention", "softmax", "layernorm", "gelu", "loss", "adamw", "data", "rest"]
print("| T | threads | tokens/s | MFU | step (ms, profiled) | " + " | ".join(parts) + " |")
print("| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in parts) + " |")
for r in sorted((r for r in rows if r.get("breakdown")), key=lambda r: (r["context"], r["threads"])):
    t = tput.get((r["context"], r["threads"]), {})
    mfu = f"{100 * t['mfu']:.1f} %" if t else "–"
    tps = f"{t['tokens_per_s']:.0f}" if t else "–"
    print(f"| {r['context']} | {r['threads']} | {tps} | {mfu} | {r['step_ms']:.1f} | " +
          " | ".join(f"{100 * r[p]:.1f} %" for p in parts) + " |")
print("\ngemm: the linear layers and the unembedding; attention: the heads' q k^T and P v products and their")
print("gradients (at 2 threads also the softmax inside attention's parallel loop); loss: the softmax over the")
print("vocabulary and its gradient; rest: residual adds, embeddings, bias and zero fills.")
PY
echo

echo "### The study's configuration: two 1-thread runs at once (tiny default, B 16)"
echo
# sinklab's studies train one model per core, so a step shares the L3 and the memory with a second run: both
# runs of each context start together, and each measures its own peak while the other one does.
study_steps=$((2 * steps))
for T in 64 128; do
  OMP_NUM_THREADS=1 "$build/bench/bench_train" --threads-max 1 --steps "$study_steps" --context "$T" > "$tmp/study$T-a.txt" &
  first=$!
  OMP_NUM_THREADS=1 "$build/bench/bench_train" --threads-max 1 --steps "$study_steps" --context "$T" > "$tmp/study$T-b.txt"
  wait "$first"
done
/usr/bin/python3 - "$tmp"/study64-?.txt "$tmp"/study128-?.txt <<'PY'
import json, sys
print("| T | run | tokens/s | MFU (of its own measured peak) |")
print("| --- | --- | --- | --- |")
for f in sys.argv[1:]:
    for r in (json.loads(l) for l in open(f) if l.startswith("{")):
        if r.get("breakdown"):
            continue
        run = f.rsplit("-", 1)[1][0]
        print(f"| {r['context']} | {run} | {r['tokens_per_s']:.0f} | {100 * r['mfu']:.1f} % of {r['peak_gflops']:.0f} GFLOP/s |")
print("\nsinklab's studies train one model per core: both runs of a context start together and share the L3 and")
print("the memory (bench_train --threads-max 1, twice at once).")
PY
echo

echo "## Throughput against context (tiny-512 shape, 8192 tokens per step, 1 thread)"
echo
"$build/bench/bench_context" --steps 8 > "$tmp/context.txt"
/usr/bin/python3 - "$tmp/context.txt" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("| T | B | tokens/s | ratio to T = 64 |")
print("| --- | --- | --- | --- |")
for r in rows:
    print(f"| {r['T']} | {r['B']} | {r['tokens_per_s']:.0f} | {r['ratio_to_T64']:.2f} |")
PY
echo

echo "## GPT-2 small forward (random weights), hook cost"
echo
"$build/bench/bench_forward" > "$tmp/forward.txt"
/usr/bin/python3 - "$tmp/forward.txt" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("| T | threads | tokens/s | GFLOP/s | MFU | time with unused hooks | with a pattern-reading hook |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    print(f"| {r['T']} | {r['threads']} | {r['tokens_per_s']:.0f} | {r['gflops']:.1f} | {100 * r['mfu']:.1f} % | "
          f"{r['unused_hooks_time_ratio']:.3f} x | {r['pattern_hook_time_ratio']:.3f} x |")
PY
