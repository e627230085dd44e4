// Training throughput of the tiny default (4 layers, d_model 128, 4 heads, context 128, batch 16, byte
// vocabulary): one full optimizer step (forward, backward, clipping, AdamW) per iteration, 1 and 2
// threads, with model FLOP utilisation against the FMA peak measured in the same run. Prints one JSON line
// per measurement; bench/run_train.sh runs the PyTorch reference beside it and compares.
//   bench_train [--steps N] [--threads-max T]
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sinkcore/sinkcore.hpp>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  using namespace sinkcore;
  using A = gpt2_tiny;
  int steps = 30, max_threads = 2;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads-max") && i + 1 < argc) max_threads = std::atoi(argv[++i]);
  }
  const std::size_t B = 16, T = 128;
  // Model FLOPs per trained token: 6 per parameter (forward 2 + backward 4) plus attention's
  // q k^T and P v: 2 matmuls x 2 FLOP x T x d per layer forward, x3 with backward (PaLM appendix B).
  const double flops_per_token = 6.0 * double(layout<A>::trainable_parameters) + 12.0 * A::layers * T * A::d_model;
  // Synthetic but realistic data: generated arithmetic text.
  train::corpus_options co;
  co.math_bytes = 2'000'000;
  const auto data = train::load_corpus("math", co);
  for (int threads = 1; threads <= max_threads; ++threads) {
    omp_set_num_threads(threads);
    const double peak = bench::measure_peak(threads);
    train::train_options o;
    o.steps = std::size_t(steps) + 10;
    o.batch = B;
    o.context = T;
    train::trainer<A> t(data, o);
    for (int i = 0; i < 3; ++i) t.step();  // warm-up: page faults, packing buffers, thread pools
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
        "{\"impl\": \"sinkcore\", \"precision\": \"fp32\", \"threads\": %d, \"tokens_per_s\": %.0f, "
        "\"tokens_per_s_best_step\": %.0f, \"mflop_per_token\": %.2f, \"peak_gflops\": %.1f, \"mfu\": %.3f}\n",
        threads, tps, tps_best, flops_per_token * 1e-6, peak,
        bench::percent_of_peak(tps * flops_per_token * 1e-9, peak, "the training step") / 100);
    std::fflush(stdout);
  }
}
