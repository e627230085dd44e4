#!/usr/bin/python3
"""PyTorch reference for bench_train: the same GPT-2-style tiny model (pre-LN, learned positions, tanh
GELU, tied embeddings, 4 layers, d_model 128, 4 heads, context 128, byte vocabulary), batch 16, AdamW,
gradient clipping; one JSON line per (precision, threads). Run through bench/run_train.sh.

"threads" is the number of cores the step may use, PyTorch's own threads and its BLAS's together. Debian's
PyTorch computes its products with OpenBLAS, which starts a thread per core whatever torch.set_num_threads
says: a "1-thread" run used both cores of a 2-core machine (CPU time 1.99 x the wall time), and a 2-thread
run had 2 OpenMP and 2 OpenBLAS threads waiting on each other (2.7 x slower than 1 thread). So the BLAS's
threads are set here too (openblas_set_num_threads, where the BLAS is OpenBLAS), and for T threads every
split of T cores between PyTorch's threads and the BLAS's is tried; each line reports the fastest, its
split, and the CPU time over the wall time."""
import ctypes, json, math, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

L, D, H, T, V, B = 4, 128, 4, 128, 256, 16


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (z.view(b, t, H, D // H).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, "scaled_dot_product_attention") else None
        if a is None:
            s = (q @ k.transpose(-2, -1)) / math.sqrt(D // H)
            s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
            a = s.softmax(-1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(D)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        logits = self.lnf(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def openblas():
    """openblas_set_num_threads of the OpenBLAS this process loaded with PyTorch, or None (another BLAS)."""
    maps = (l.split()[-1] for l in open("/proc/self/maps"))
    libs = {p for p in maps if p.startswith("/") and ".so" in p.rsplit("/", 1)[-1]}
    # The BLAS itself first (a library that links it would find its symbols too, through its dependencies).
    for path in sorted(libs, key=lambda p: ("blas" not in p.rsplit("/", 1)[-1], p)):
        try:
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_set_num_threads") and hasattr(lib, "openblas_get_num_threads"):
                return lib
        except OSError:
            pass
    return None


def run(precision, torch_threads, blas_threads, steps, blas):
    torch.set_num_threads(torch_threads)
    if blas is not None:
        blas.openblas_set_num_threads(blas_threads)
    torch.manual_seed(0)
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    data = torch.randint(0, V, (B, T + 1))
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=(precision == "bf16")):
            loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):
        step()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    n = sum(p.numel() for p in model.parameters())
    return {"tokens_per_s": round(B * T * steps / dt), "torch_threads": torch_threads,
            "blas_threads": blas_threads if blas is not None else None, "cpu_per_wall": round(cpu / dt, 2),
            "parameters": n}


def splits(threads, blas):
    """(PyTorch threads, BLAS threads) using `threads` cores: both the same, or one of them 1."""
    if blas is None:
        return [(threads, None)]
    return sorted({(threads, threads), (threads, 1), (1, threads)})


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    blas = openblas()
    for precision in ("fp32", "bf16"):
        for threads in (1, 2):
            tried = [run(precision, t, b, steps, blas) for t, b in splits(threads, blas)]
            best = max(tried, key=lambda r: r["tokens_per_s"])
            print(json.dumps({"impl": "pytorch " + torch.__version__, "precision": precision, "threads": threads,
                              **best, "tried": [{k: r[k] for k in ("torch_threads", "blas_threads", "tokens_per_s",
                                                                  "cpu_per_wall")} for r in tried]}), flush=True)
