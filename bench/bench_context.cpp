// Training throughput against context length: the tiny-512 shape (4 layers, d_model 128, 4 heads, context
// 512, byte vocabulary) trained at T = 64, 128, 256 and 512 with the same tokens per step (B x T = 8192), one
// thread (the study's configuration: one thread per run), side by side in one run. Prints one JSON line per
// context and the ratio of each to T = 64: attention's cost grows with T, the rest of the step does not.
//   bench_context [--steps N] [--threads N] [--tokens-per-step N]
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <sinkcore/sinkcore.hpp>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  using namespace sinkcore;
  using A = tiny_512;
  int steps = 12, threads = 1;
  std::size_t tokens = 8192;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tokens-per-step") && i + 1 < argc) tokens = std::size_t(std::atol(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_context [--steps N] [--threads N] [--tokens-per-step N]\n");
      return 2;
    }
  }
  omp_set_num_threads(threads);
  train::corpus_options co;
  co.math_bytes = 2'000'000;
  const auto data = train::load_corpus("math", co);
  double base = 0;
  for (std::size_t T : {64, 128, 256, 512}) {
    train::train_options o;
    o.steps = std::size_t(steps) + 10;
    o.batch = tokens / T;
    o.context = T;
    train::trainer<A> t(data, o);
    for (int i = 0; i < 2; ++i) t.step();  // warm-up: page faults, packing buffers
    double total = 0;
    for (int i = 0; i < steps; ++i) {
      const auto t0 = bench::clk::now();
      t.step();
      total += bench::seconds_since(t0);
    }
    const double tps = double(o.batch * T) * steps / total;
    if (T == 64) base = tps;
    std::printf("{\"impl\": \"sinkcore\", \"model\": \"tiny-512\", \"threads\": %d, \"T\": %zu, \"B\": %zu, "
                "\"tokens_per_s\": %.0f, \"ratio_to_T64\": %.3f}\n",
                threads, T, o.batch, tps, tps / base);
    std::fflush(stdout);
  }
}
