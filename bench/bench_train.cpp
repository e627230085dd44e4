// Training throughput of the tiny default (4 layers, d_model 128, 4 heads, context 128, batch 16, byte
// vocabulary): one full optimizer step (forward, backward, clipping, AdamW) per iteration, 1 and 2
// threads, with model FLOP utilisation against the FMA peak measured in the same run. Prints one JSON line
// per measurement, then one line with the step's time by part (profile.hpp: GEMMs of the linear layers,
// attention's per-head products, softmax, layer norm, GELU, the loss, AdamW, data, and the rest) measured on
// further steps; bench/run_train.sh runs the PyTorch reference beside it and compares.
//   bench_train [--steps N] [--threads-max T] [--context T]
#define SINKCORE_PROFILE  // profile::zone measures (only while profile::enable(true))
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sinkcore/sinkcore.hpp>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  using namespace sinkcore;
  using A = gpt2_tiny;
  int steps = 30, max_threads = 2;
  std::size_t T = 128;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads-max") && i + 1 < argc) max_threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--context") && i + 1 < argc) T = std::size_t(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_train [--steps N] [--threads-max T] [--context T (2..%zu)]\n", A::context);
      return 2;
    }
  }
  if (steps < 1 || max_threads < 1 || T < 2 || T > A::context) {
    std::fprintf(stderr, "bench_train: need --steps >= 1, --threads-max >= 1, 2 <= --context <= %zu\n", A::context);
    return 2;
  }
  const std::size_t B = 16;
  // Model FLOPs per trained token: 6 per parameter (forward 2 + backward 4) plus attention's
  // q k^T and P v: 2 matmuls x 2 FLOP x T x d per layer forward, x3 with backward (PaLM appendix B). The
  // position embeddings are not counted (a row is looked up, not multiplied; nanoGPT's MFU and
  // bench_forward leave them out too); the token embeddings are, as the unembedding's matrix.
  constexpr std::size_t wpe = layout<A>::has(role::wpe) ? layout<A>::spec(role::wpe).size() : 0;
  const double flops_per_token =
      6.0 * double(layout<A>::trainable_parameters - wpe) + 12.0 * A::layers * T * A::d_model;
  // Synthetic but realistic data: generated arithmetic text.
  train::corpus_options co;
  co.math_bytes = 2'000'000;
  const auto data = train::load_corpus("math", co);
  for (int threads = 1; threads <= max_threads; ++threads) {
    omp_set_num_threads(threads);
    const double peak = bench::measure_peak(threads);
    train::train_options o;
    o.steps = 1200;  // a run of the study's quick and standard budgets, with their warm-up
    o.warmup = 20;
    o.batch = B;
    o.context = T;
    train::trainer<A> t(data, o);
    // Warm-up: page faults, packing buffers, thread pools, and training past the learning rate's warm-up.
    // The step is measured where a run of the study spends it, past the warm-up's first 50 steps. (Through
    // tanh, GELU's cost depended on its inputs: small enough for tanh's polynomial alone in the first few
    // dozen steps, both of its paths after that: at T = 64 3 % of the step at step 10, 5.5 % from step 50
    // on. The training step's GELU passes, the quotient forward and the derivative from the output, now
    // have no branch on their inputs.)
    for (std::size_t i = 0; i < o.warmup + 30; ++i) t.step();
    double best = 1e30, total = 0;
    for (int i = 0; i < steps; ++i) {
      const auto t0 = bench::clk::now();
      t.step();
      const double s = bench::seconds_since(t0);
      best = std::min(best, s);
      total += s;
    }
    const double tps = double(B * T) * steps / total, tps_best = double(B * T) / best;
    std::printf(
        "{\"impl\": \"sinkcore\", \"precision\": \"fp32\", \"threads\": %d, \"context\": %zu, \"tokens_per_s\": %.0f, "
        "\"tokens_per_s_best_step\": %.0f, \"mflop_per_token\": %.2f, \"peak_gflops\": %.1f, \"mfu\": %.3f}\n",
        threads, T, tps, tps_best, flops_per_token * 1e-6, peak,
        bench::percent_of_peak(tps * flops_per_token * 1e-9, peak, "the training step") / 100);
    std::fflush(stdout);
    // The same number of steps again, measured part by part (a zone costs two clock reads).
    profile::reset();
    profile::enable(true);
    const auto p0 = bench::clk::now();
    for (int i = 0; i < steps; ++i) t.step();
    const double wall = bench::seconds_since(p0);
    profile::enable(false);
    std::printf("{\"impl\": \"sinkcore\", \"breakdown\": true, \"threads\": %d, \"context\": %zu, \"step_ms\": %.3f",
                threads, T, 1e3 * wall / steps);
    double parts = 0;
    for (std::size_t k = 0; k < profile::part_count; ++k) {
      parts += profile::seconds()[k];
      std::printf(", \"%s\": %.4f", profile::part_names[k].data(), profile::seconds()[k] / wall);
    }
    std::printf(", \"rest\": %.4f}\n", std::max(0.0, 1 - parts / wall));
    std::fflush(stdout);
  }
}
