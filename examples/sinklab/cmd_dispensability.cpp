// sinklab dispensability: the main job. Every architecture of the tiny zoo trained from scratch in two
// data regimes with several seeds and compared (sinkcore/study/dispensability.hpp): report.md,
// results.json, CSVs and SVG figures in --out. Rerunning the same command resumes from the checkpoints.
//
//   sinklab dispensability --budget quick --out study/
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include <sinkcore/study/dispensability.hpp>
#include <sinkcore/study/zoo.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace sinklab {

struct dispensability_cli {
  std::string budget = "quick";
  std::string zoo = "tiny";
  std::string out = "dispensability";
  std::size_t seeds = 0, steps = 0, batch = 0, context = 0;
  float lr = 0, weight_decay = -1;
  std::string corpus;
  std::vector<std::string> variants, regimes{"gpt2", "bos"};
  std::size_t jobs = 0;
  int threads = 1;
};

void register_dispensability(CLI::App& app) {
  static dispensability_cli c;
  auto* cmd = app.add_subcommand(
      "dispensability",
      "The main job: train every variant of the tiny zoo from scratch (two regimes, several seeds), compare their "
      "sinks; writes report.md, results.json, CSVs and SVGs (resumes from OUT/runs)");
  cmd->add_option("--budget", c.budget, "quick (~15 min on 2 cores) | standard (~3 h) | full (unbounded) | micro")
      ->check(CLI::IsMember({"micro", "quick", "standard", "full"}))
      ->capture_default_str();
  cmd->add_option("--zoo", c.zoo, "tiny (the 10 variants of the tiny shape) | tiny-h16 (the same on 16 heads of 8)")
      ->check(CLI::IsMember({"tiny", "tiny-h16"}))
      ->capture_default_str();
  cmd->add_option("--out", c.out, "output directory (runs/ inside it holds the checkpoints)")->capture_default_str();
  cmd->add_option("--seeds", c.seeds, "seeds per variant and regime (default: the budget's)")->check(CLI::PositiveNumber);
  cmd->add_option("--steps", c.steps, "override the budget's optimizer steps per run")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", c.batch, "override the budget's windows per step")->check(CLI::PositiveNumber);
  cmd->add_option("--context", c.context, "override the budget's training context")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--lr", c.lr, "override the budget's peak learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--weight-decay", c.weight_decay, "override the budget's weight decay")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--corpus", c.corpus, "override the training corpus (nl | math | code | mix | FILE)");
  cmd->add_option("--variants", c.variants, "only these architectures (see `sinklab archs`), comma-separated")
      ->delimiter(',');
  cmd->add_option("--regimes", c.regimes, "gpt2 and/or bos, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember({"gpt2", "bos"}))
      ->capture_default_str();
  cmd->add_option("--jobs", c.jobs, "runs trained at once, one thread each (default: the number of cores)");
  cmd->add_option("--threads", c.threads, "OpenMP threads inside a run when --jobs 1")->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([] {
    namespace study = sinkcore::study;
    study::study_options o;
    o.plan = study::budget_by_name(c.budget);
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
    o.out = c.out;
    o.variants = c.variants;
    o.regimes.clear();
    for (const auto& r : c.regimes) o.regimes.push_back(study::regime_by_name(r));
    o.jobs = c.jobs ? c.jobs : std::max(1u, std::thread::hardware_concurrency());
    o.threads_per_run = c.threads;
    o.log = &std::cerr;
    make_output_dir(o.out);
    progress bar("dispensability");
    o.progress = [&bar](const study::progress_info& p) {
      std::ostringstream info;
      info.precision(1);
      info << std::fixed << "steps | runs " << p.runs_done << "/" << p.runs_total << " | " << p.variant << " "
           << p.regime << " seed " << p.seed << " step " << p.step << "/" << p.steps;
      if (p.tokens_per_s > 0) info << " | " << p.tokens_per_s / 1000 << "k tok/s";
      bar.update(p.done, p.total, info.str(), p.force);
    };
    std::fprintf(stderr, "sinklab dispensability: budget %s, %zu seeds, %zu steps x %zu x %zu tokens per run, lr %g, wd %g, into %s\n",
                 o.plan.name.c_str(), o.plan.seeds, o.plan.steps, o.plan.batch, o.plan.context, double(o.plan.lr),
                 double(o.plan.weight_decay), o.out.string().c_str());
    const auto start = std::chrono::steady_clock::now();
    const auto vs = c.zoo == "tiny" ? study::run_study<sinkcore::tiny_zoo>(o) : study::run_study<study::tiny_h16_zoo>(o);
    bar.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& v : vs)
      std::printf("%-36s %-5s metric %.4f ± %.4f (%.2f x chance %.4f) Sink_1^0.3 %.3f  %s\n", v.variant.c_str(),
                  v.regime.c_str(), v.metric.mean, 2 * v.metric.se, v.ratio(), v.chance, v.sink.mean, v.verdict.c_str());
    std::printf("wrote %s (%s)\n", (o.out / "report.md").string().c_str(), progress::duration(secs).c_str());
  });
}

}  // namespace sinklab
