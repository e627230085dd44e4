#pragma once
// What `sinklab dispensability` and `sinklab mitigations` share: the budget and override flags, turning them
// into study_options, and running a study with a progress bar on rank 0 (the runs spread over MPI ranks
// when started by mpirun/srun: sinkcore/study/distributed.hpp, docs/scaling.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sinkcore/study/dispensability.hpp>

#include "cli.hpp"
#include "works.hpp"

namespace sinklab {

struct study_cli {
  std::string budget = "quick";
  std::string out;
  std::size_t seeds = 0, steps = 0, batch = 0, context = 0;
  float lr = 0, weight_decay = -1;
  std::string corpus;
  std::string zoo;  ///< empty: the budget's
  std::string cache = sinkcore::train::prose::default_cache().string();
  std::vector<std::string> variants, regimes;  ///< empty: the budget's
  std::size_t jobs = 0;
  int threads = 1;

  static study_cli with_out(std::string dir) {
    study_cli c;
    c.out = std::move(dir);
    return c;
  }
};

/// The flags every study command takes.
inline void add_study_options(CLI::App* cmd, study_cli& c, const std::string& budget_help) {
  cmd->add_option("--budget", c.budget, budget_help)
      ->check(CLI::IsMember({"micro", "quick", "standard", "full"}))
      ->capture_default_str();
  cmd->add_option("--out", c.out, "output directory (runs/ inside it holds the checkpoints)")->capture_default_str();
  cmd->add_option("--seeds", c.seeds, "seeds per variant and regime (default: the budget's)")->check(CLI::PositiveNumber);
  cmd->add_option("--steps", c.steps, "override the budget's optimizer steps per run")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", c.batch, "override the budget's windows per step")->check(CLI::PositiveNumber);
  cmd->add_option("--context", c.context, "override the budget's training context")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--lr", c.lr, "override the budget's peak learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--weight-decay", c.weight_decay, "override the budget's weight decay")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--corpus", c.corpus, "override the training corpus (nl | math | code | mix | prose | recall | unigram | backcopy | backcopy-stream | a+b+..., e.g. mix+recall | FILE)");
  cmd->add_option("--cache", c.cache, "where `sinklab corpus build` put the prose corpus")->capture_default_str();
  cmd->add_option("--variants", c.variants, "only these architectures (see `sinklab archs`), comma-separated (default: "
                                           "the budget's; quick: the baseline and the six that remove the paper's components)")
      ->delimiter(',');
  cmd->add_option("--regimes", c.regimes, "gpt2 and/or bos, comma-separated (default: the budget's; quick: bos, "
                                         "standard and full: gpt2,bos)")
      ->delimiter(',')
      ->check(CLI::IsMember({"gpt2", "bos"}));
  cmd->add_option("--jobs", c.jobs, "runs trained at once, one thread each (default: the number of cores; under MPI, "
                                   "per rank: the cores divided by the ranks on the machine)");
  cmd->add_option("--threads", c.threads, "OpenMP threads inside a run when --jobs 1")->check(CLI::PositiveNumber)
      ->capture_default_str();
}

/// Runs `run(options)` (a run_study<Zoo> call) as command `name` with the flags in `c`: the budget and its
/// overrides, one progress bar and the log on rank 0; then, on rank 0 only, `print(summaries)` and where
/// the report went, on stdout.
template <class Run, class Print>
void run_study_command(const std::string& name, const study_cli& c, sinkcore::study::study_options o, Run&& run,
                       Print&& print) {
  namespace study = sinkcore::study;
  o.plan = study::budget_by_name(c.budget, c.corpus);  // --corpus prose: the natural-text standard and full
  if (!c.zoo.empty()) o.plan.zoo = c.zoo;
  if (c.seeds) o.plan.seeds = c.seeds;
  if (c.steps) {
    o.plan.steps = c.steps;
    o.plan.warmup = std::min(o.plan.warmup, std::max<std::size_t>(1, c.steps / 5));
  }
  if (c.batch) o.plan.batch = c.batch;
  if (c.context) o.plan.context = c.context;
  if (c.lr > 0) o.plan.lr = c.lr;
  if (c.weight_decay >= 0) o.plan.weight_decay = c.weight_decay;
  if (!c.corpus.empty()) o.plan.train_corpus = c.corpus;
  o.corpora.cache = c.cache;
  o.out = c.out;
  o.variants = c.variants;
  o.regimes.clear();
  for (const auto& r : c.regimes) o.regimes.push_back(study::regime_by_name(r));
  const auto world = study::study_communicator();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  o.jobs = c.jobs ? c.jobs : std::max(1u, cores / unsigned(std::max(1, world.local_size())));
  o.threads_per_run = c.threads;
  o.log = world.root() ? &std::cerr : nullptr;  // rank 0 reports for every rank
  make_output_dir(o.out);
  progress bar(name, world.root());
  o.progress = [&bar](const study::progress_info& p) {
    std::ostringstream info;
    info.precision(1);
    info << std::fixed << "steps | runs " << p.runs_done << "/" << p.runs_total << " | " << p.variant << " " << p.regime
         << " seed " << p.seed << " step " << p.step << "/" << p.steps;
    if (p.tokens_per_s > 0) info << " | " << p.tokens_per_s / 1000 << "k tok/s";
    bar.update(p.done, p.total, info.str(), p.force);
  };
  if (world.root())
    std::fprintf(stderr, "sinklab %s: budget %s, zoo %s, %zu seeds, %zu steps x %zu x %zu tokens per run, lr %g, wd %g, into %s%s\n",
                 name.c_str(), o.plan.name.c_str(), o.plan.zoo.c_str(), o.plan.seeds, o.plan.steps, o.plan.batch, o.plan.context,
                 double(o.plan.lr), double(o.plan.weight_decay), o.out.string().c_str(),
                 world.distributed()
                     ? (", over " + std::to_string(world.size()) + " MPI ranks x " + std::to_string(o.jobs) + " jobs").c_str()
                     : "");
  const auto start = std::chrono::steady_clock::now();
  const auto vs = run(o);
  bar.finish();
  if (!world.root()) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print(vs);
  std::printf("wrote %s (%s)\n", (o.out / "report.md").string().c_str(), progress::duration(secs).c_str());
}

/// The studies' run_function: each run through the group that compiles its architecture.
inline sinkcore::study::run_function study_runner() {
  return [](const std::string& variant, const sinkcore::study::study_data& data, const sinkcore::study::budget& b,
            sinkcore::study::regime r, std::uint64_t seed, const std::filesystem::path& dir,
            sinkcore::study::study_progress* p, std::ostream* log, std::mutex* log_mutex) {
    study_run_work::args a{data, b, r, seed, dir, p, log, log_mutex};
    for_architecture<study_run_work>(variant, a);
    return a.result;
  };
}

}  // namespace sinklab
