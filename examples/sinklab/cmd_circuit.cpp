
// sinklab circuit: the paper's study (Ran-Milo et al. 2026) on a checkpoint and a set of inputs: the ten
// interventions of Table 1 (BOS attention per dataset, mid and all layers, cross-entropy, Sink^eps) and
// the circuit statistics of Figures 1-5, as CSV + SVG + report.md (sinkcore/report/circuit_report.hpp). The
// per-architecture work is works_analysis.hpp's.
//
//   sinklab circuit --weights gpt2/model.safetensors --inputs sample_manifest.csv --vocab-dir gpt2/ --out out/
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <sinkcore/io/checkpoint.hpp>
#include <sinkcore/report/circuit_report.hpp>

#include "commands.hpp"
#include "cli.hpp"
#include "works.hpp"

namespace sinklab {

void register_circuit(CLI::App& app) {
  static circuit_cli o;
  auto* cmd = app.add_subcommand(
      "circuit",
      "The paper's interventions a-j and circuit statistics (Figs. 1-5) on a checkpoint: CSV, SVG and report.md");
  cmd->add_option("--weights", o.weights, "safetensors checkpoint (Hugging Face GPT-2 or sinklab)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--inputs", o.inputs, "CSV with a 'dataset' column and a 'text' or 'tokens' column")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o.out, "output directory (created if needed)")->required();
  cmd->add_option("--vocab-dir", o.vocab_dir, "GPT-2 BPE files (encoder.json + vocab.bpe, or vocab.json + merges.txt)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--length", o.length, "tokens per input (shorter inputs are dropped)")
      ->check(CLI::Range(std::size_t(2), std::size_t(1 << 20)))
      ->capture_default_str();
  cmd->add_option("--batch", o.batch, "inputs per forward pass")->check(CLI::Range(std::size_t(1), std::size_t(1) << 40))->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of intervention j's random coordinates")->capture_default_str();
  cmd->add_option("--published", o.published, "the paper's published numbers (JSON; reports show them beside ours)")
      ->check(CLI::ExistingFile)
      ->capture_default_str();
  add_threads_option(cmd, o.threads);
  cmd->callback([] {
    apply_threads(o.threads);
    const std::string arch = sinkcore::io::detect_architecture(o.weights);
    circuit_work::args a{o};
    for_architecture<circuit_work>(arch, a);
  });
}

}  // namespace sinklab
