#pragma once
// The per-architecture work of sinklab circuit and of the studies' runs (declared in works.hpp), compiled in
// the generated translation units arch_group_<G>_analysis.cpp.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <sinkcore/io/bpe.hpp>
#include <sinkcore/io/checkpoint.hpp>
#include <sinkcore/report/circuit_report.hpp>
#include <sinkcore/study/run.hpp>

#include "common.hpp"
#include "works.hpp"

namespace sinklab {

template <class A>
void circuit_work::run(args& a) {
  const auto& o = a.c;
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
  r.published_file = o.published;
  r.model_label = o.weights;
  r.inputs_label = o.inputs;
  r.dropped_inputs = set.dropped;
  r.log = &std::cerr;
  sinkcore::report::write_circuit_report(m, set.inputs, o.out, r);
  std::printf("%s\n", (fs::path(o.out) / "report.md").string().c_str());
}

template <class A>
void study_run_work::run(args& a) {
  a.result = sinkcore::study::run_one<A>(a.data, a.plan, a.r, a.seed, a.dir, a.progress, a.log, a.log_mutex);
}

}  // namespace sinklab
