
// sinklab inspect: a forward pass of freshly initialised tiny models on embedded text: loss and the
// attention each layer pays to position 0, against chance.
#include <cmath>

#include "commands.hpp"
#include "common.hpp"

namespace sinklab {

struct inspect_options {
  std::string arch = "all";
  std::uint64_t seed = 1;
  std::size_t batch = 4;
  std::size_t length = 128;
  int threads = 0;
};

template <class A>
void inspect_one(const inspect_options& o) {
  const std::size_t T = std::min(o.length, A::context);
  const auto bytes = byte_tokens(embedded_text);
  std::vector<int> tokens(o.batch * T);
  // Sequence b is the text from offset 37*b (wrapping): different windows, as in training.
  for (std::size_t b = 0; b < o.batch; ++b)
    for (std::size_t t = 0; t < T; ++t) tokens[b * T + t] = bytes[(37 * b + t) % bytes.size()] % int(A::vocab);
  const sinkcore::model<A> m(o.seed);
  sinkcore::workspace<A> ws;
  const double loss = sinkcore::forward_loss(m, ws, tokens, o.batch, T);
  const auto bos = sinkcore::bos_attention_by_layer(ws);
  std::printf("%-36s %10s  %.4f  %.4f ", A::name().c_str(), thousands(sinkcore::layout<A>::trainable_parameters).c_str(),
              loss, std::log(double(A::vocab)));
  for (double v : bos) std::printf(" %.4f", v);
  std::printf("\n");
}

void register_inspect(CLI::App& app) {
  static inspect_options o;
  auto* cmd = app.add_subcommand(
      "inspect",
      "Forward pass of freshly initialised models on embedded text: loss and per-layer attention to position 0");
  cmd->add_option("--arch", o.arch, "architecture name (see `sinklab archs`), or 'all' for the tiny zoo")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "initialisation seed")->capture_default_str();
  cmd->add_option("--batch", o.batch, "sequences")->check(CLI::Range(std::size_t(1), std::size_t(1) << 40))->capture_default_str();
  cmd->add_option("--length", o.length, "tokens per sequence (capped at the context)")
      ->check(CLI::Range(std::size_t(2), std::size_t(1024)))
      ->capture_default_str();
  add_threads_option(cmd, o.threads);
  cmd->callback([] {
    apply_threads(o.threads);
    std::printf("Freshly initialised models (seed %llu), %zu windows of embedded English text as bytes.\n",
                static_cast<unsigned long long>(o.seed), o.batch);
    std::printf("BOS attention: mean attention of the second-half queries to position 0, per layer; chance at T=%zu "
                "is %.4f.\n\n",
                o.length, sinkcore::bos_attention_chance(o.length));
    std::printf("%-36s %10s  %-6s  %-6s  %s\n", "architecture", "params", "loss", "ln(V)", "BOS attention, layer 0..L-1");
    if (o.arch == "all") {
      sinkcore::hana::for_each(sinkcore::tiny_zoo::types, [](auto t) { inspect_one<typename decltype(t)::type>(o); });
    } else {
      sinkcore::with_architecture(o.arch, [](auto t) { inspect_one<typename decltype(t)::type>(o); });
    }
  });
}

}  // namespace sinklab
