// Forward throughput of GPT-2 small (random weights) at T = 1024, 1 and 2 threads, and the cost of hooks:
// the plain forward, the forward with a hooks object that handles no point (must cost the same: hooks are
// compile-time), and one that reads every attention pattern.
//   bench_forward [--reps N]
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sinkcore/sinkcore.hpp>

#include "bench_common.hpp"

namespace {
struct unused_hooks {};  // handles nothing: compiles to the plain forward
struct pattern_reader {  // touches every pattern once
  double sum = 0;
  template <sinkcore::hook_point P>
  void on(const sinkcore::activation& a) {
    if constexpr (P == sinkcore::hook_point::pattern)
      for (std::size_t r = 0; r < a.batch * a.length; ++r) sum += a.data[r * a.width];
  }
};
}  // namespace

int main(int argc, char** argv) {
  using namespace sinkcore;
  using A = gpt2_small;
  int reps = 3;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
  const std::size_t T = 1024;
  const model<A> m(1);
  std::vector<int> tokens(T);
  for (std::size_t i = 0; i < T; ++i) tokens[i] = int((i * 7919) % A::vocab);
  workspace<A> ws(1, T);
  // 2 FLOP per parameter and token (less wpe), plus attention's two T x T x d matmuls per layer.
  const double flops = 2.0 * double(layout<A>::trainable_parameters - A::context * A::d_model) * T +
                       4.0 * A::layers * double(T) * T * A::d_model;
  for (int threads = 1; threads <= 2; ++threads) {
    omp_set_num_threads(threads);
    const double peak = bench::measure_peak(threads);
    auto run = [&](auto hooks) {
      return bench::best_time([&] { forward(m, ws, tokens, 1, T, hooks); }, reps, 0.0);
    };
    const double plain = bench::best_time([&] { forward(m, ws, tokens, 1, T); }, reps, 0.0);
    const double unused = run(unused_hooks{});
    const double reader = run(pattern_reader{});
    std::printf("{\"model\": \"gpt2-small\", \"T\": %zu, \"threads\": %d, \"tokens_per_s\": %.0f, \"gflops\": %.1f, "
                "\"peak_gflops\": %.1f, \"mfu\": %.3f, \"unused_hooks_time_ratio\": %.3f, "
                "\"pattern_hook_time_ratio\": %.3f}\n",
                T, threads, double(T) / plain, flops / plain * 1e-9, peak,
                bench::percent_of_peak(flops / plain * 1e-9, peak, "the GPT-2-small forward") / 100, unused / plain,
                reader / plain);
    std::fflush(stdout);
  }
}
