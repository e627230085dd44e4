
// sinklab inspect: a forward pass of freshly initialised tiny models on embedded text: loss and the
// attention each layer pays to position 0, against chance.
#include <cmath>

#include <sinkcore/study/dispensability.hpp>  // zoo_names

#include "commands.hpp"
#include "cli.hpp"
#include "works.hpp"

namespace sinklab {

void register_inspect(CLI::App& app) {
  static inspect_cli o;
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
      for (const auto& name : sinkcore::study::zoo_names<sinkcore::tiny_zoo>()) {
        inspect_work::args a{o};
        for_architecture<inspect_work>(name, a);
      }
    } else {
      inspect_work::args a{o};
      for_architecture<inspect_work>(o.arch, a);
    }
  });
}

}  // namespace sinklab
