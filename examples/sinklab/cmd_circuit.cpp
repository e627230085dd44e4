
// sinklab circuit: the paper's study (Ran-Milo et al. 2026) on a checkpoint and a set of inputs: the ten
// interventions of Table 1 (BOS attention per dataset, mid and all layers, cross-entropy, Sink^eps) and
// the circuit statistics of Figures 1-5, as CSV + SVG + report.md (sinkcore/report/circuit_report.hpp).
//
//   sinklab circuit --weights gpt2/model.safetensors --inputs sample_manifest.csv --vocab-dir gpt2/ --out out/
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <sinkcore/io/bpe.hpp>
#include <sinkcore/io/checkpoint.hpp>
#include <sinkcore/report/circuit_report.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace sinklab {

struct circuit_options {
  std::string weights, inputs, out, vocab_dir;
  std::size_t length = 40;
  std::size_t batch = 16;
  std::uint64_t seed = 0;
  int threads = 0;
};

template <class A>
void circuit_one(const circuit_options& o) {
  namespace fs = std::filesystem;
  if (o.length > A::context)
    throw sinkcore::error("--length " + std::to_string(o.length) + " exceeds the context (" + std::to_string(A::context) +
                          ") of " + A::name());
  std::optional<sinkcore::io::bpe_tokenizer> bpe;
  if (!o.vocab_dir.empty()) bpe = sinkcore::io::bpe_tokenizer::load(o.vocab_dir);
  auto encode = [&](const std::string& text) -> std::vector<int> {
    if (bpe) return bpe->encode(text);
    if (A::vocab == 256) return byte_tokens(text);
    throw sinkcore::error(o.inputs + ": a 'text' column needs --vocab-dir (GPT-2 BPE) for " + A::name() +
                          " (vocabulary " + std::to_string(A::vocab) + "); or give a 'tokens' column");
  };
  const auto set = sinkcore::report::read_labelled_inputs(o.inputs, o.length, encode);
  if (set.inputs.empty())
    throw sinkcore::error(o.inputs + ": no input has " + std::to_string(o.length) + " tokens (" +
                          std::to_string(set.dropped) + " shorter ones dropped)");
  for (const auto& in : set.inputs) sinkcore::check_tokens<A>(in.tokens);
  std::fprintf(stderr, "sinklab circuit: %s (%s), %zu inputs of %zu tokens", o.weights.c_str(), A::name().c_str(),
               set.inputs.size(), o.length);
  if (set.dropped) std::fprintf(stderr, ", %zu shorter ones dropped", set.dropped);
  std::fprintf(stderr, "\n");
  const auto m = sinkcore::io::load_weights<A>(o.weights);

  sinkcore::report::circuit_report_options r;
  r.batch = o.batch;
  r.seed = o.seed;
  r.published_dir = fs::path(o.inputs).parent_path();  // the paper's sample sits beside its published stats
  if (const char* shared = std::getenv("SINKCORE_SHARED_DIR"); shared && *shared) {
    const fs::path p = fs::path(shared) / "data" / "paper-inputs";
    if (fs::exists(p / "bos_attention_stats_overall.csv")) r.published_dir = p;
  }
  r.model_label = o.weights;
  r.inputs_label = o.inputs;
  r.dropped_inputs = set.dropped;
  r.log = &std::cerr;
  sinkcore::report::write_circuit_report(m, set.inputs, o.out, r);
  std::printf("%s\n", (fs::path(o.out) / "report.md").string().c_str());
}

void register_circuit(CLI::App& app) {
  static circuit_options o;
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
  add_threads_option(cmd, o.threads);
  cmd->callback([] {
    apply_threads(o.threads);
    const std::string arch = sinkcore::io::detect_architecture(o.weights);
    sinkcore::with_architecture(arch, [](auto t) { circuit_one<typename decltype(t)::type>(o); });
  });
}

}  // namespace sinklab
