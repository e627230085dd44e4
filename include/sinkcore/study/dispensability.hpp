#pragma once
/// @file dispensability.hpp
/// The dispensability study: every architecture of a zoo (a Hana tuple of types) trained from scratch in
/// two data regimes (GPT-2's random windows without BOS, and windows that start with a BOS byte) with
/// several seeds, then compared: the BOS-attention metric against chance, Sink_1^0.3, held-out loss on
/// natural language, math and code, the emergence curve, the circuit statistics and the interventions of
/// Ran-Milo et al. 2026 where the components exist. The files it writes into OUT (results.json, CSVs, SVG figures, report.md) are listed in report.hpp,
/// which renders them from the summaries (summary.hpp) of the runs (run.hpp, result.hpp).
///
/// Runs live in OUT/runs/<variant>/<regime>/seed<k>/ (run.hpp): a rerun resumes from their checkpoints
/// and reuses finished runs, so a second run of a finished study retrains nothing and writes the same
/// results.json.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <boost/hana.hpp>

#include "../zoo.hpp"
#include "budget.hpp"
#include "distributed.hpp"
#include "report.hpp"
#include "run.hpp"
#include "summary.hpp"

namespace sinkcore::study {

struct study_options {
  budget plan = quick_budget();
  fs::path out = "dispensability";
  std::vector<std::string> variants{};  ///< architecture names to run (empty: the budget's, or the whole zoo)
  bool budget_variants = true;          ///< with variants empty: run the budget's (false: the whole zoo)
  std::vector<regime> regimes{};        ///< the regimes to run (empty: the budget's)
  train::corpus_options corpora{};
  std::size_t jobs = 1;                 ///< runs trained at the same time (one thread each)
  int threads_per_run = 1;              ///< OpenMP threads inside a run when jobs == 1
  progress_callback progress{};
  std::ostream* log = nullptr;
  std::string title = "Dispensability study";  ///< report.md's heading (sinklab mitigations: "Mitigation study")
};

/// The names of a zoo's architectures, in order.
template <class Zoo>
std::vector<std::string> zoo_names() {
  std::vector<std::string> n;
  hana::for_each(Zoo::types, [&](auto t) { n.push_back(decltype(t)::type::name()); });
  return n;
}

/// How one run is done: given the variant's name, train and measure it (run_one<A> for the architecture of
/// that name). run_study's default instantiates run_one for every architecture of the zoo; a program that
/// compiles those elsewhere (sinklab: one translation unit per group of architectures) passes its own.
using run_function = std::function<run_result(const std::string& variant, const study_data&, const budget&, regime,
                                              std::uint64_t seed, const fs::path& dir, study_progress*, std::ostream* log,
                                              std::mutex* log_mutex)>;

template <class Zoo>
std::vector<variant_summary> run_study(const study_options& o, const run_function& run);

/// Runs the study over the architectures of Zoo (an arch_list) and writes the report into o.out.
/// Returns the summaries (variant-major, regimes in o.regimes order).
template <class Zoo>
std::vector<variant_summary> run_study(const study_options& o) {
  return run_study<Zoo>(o, [](const std::string& variant, const study_data& data, const budget& b, regime r,
                              std::uint64_t seed, const fs::path& dir, study_progress* p, std::ostream* log,
                              std::mutex* log_mutex) {
    run_result out;
    hana::for_each(Zoo::types, [&](auto t) {
      using A = typename decltype(t)::type;
      if (A::name() == variant) out = run_one<A>(data, b, r, seed, dir, p, log, log_mutex);
    });
    return out;
  });
}

/// The same with `run` doing each run.
template <class Zoo>
std::vector<variant_summary> run_study(const study_options& o, const run_function& run) {
  const budget& b = o.plan;
  b.check();
  const auto known = zoo_names<Zoo>();
  for (const auto& v : o.variants)
    if (std::find(known.begin(), known.end(), v) == known.end()) {
      std::string k;
      for (const auto& n : known) k += (k.empty() ? "" : ", ") + n;
      throw error("unknown variant '" + v + "'; known: " + k);
    }
  std::vector<regime> regimes = o.regimes;
  if (regimes.empty())
    for (const auto& r : b.regimes) regimes.push_back(regime_by_name(r));
  std::vector<std::string> selected = o.variants;
  if (selected.empty() && o.budget_variants && !b.variants.empty())
    for (const auto& n : known)
      if (std::find(b.variants.begin(), b.variants.end(), detail::short_name(n)) != b.variants.end()) selected.push_back(n);
  if (o.variants.empty() && o.budget_variants)
    for (const auto& v : b.variants)  // a budget that names a variant the zoo lacks is a mistake, not a filter
      if (std::none_of(known.begin(), known.end(), [&](const std::string& n) { return detail::short_name(n) == v; }))
        throw error("budget '" + b.name + "' names variant '" + v + "', which zoo " + known[0] + " does not have");
  auto wanted = [&](const std::string& n) {
    return selected.empty() || std::find(selected.begin(), selected.end(), n) != selected.end();
  };
  fs::create_directories(o.out);
  if (o.log) *o.log << "loading corpora (" << b.train_corpus << ", nl, math, code)" << std::endl;
  const study_data data = load_study_data(b.train_corpus, o.corpora);

  // One job per run, seed-major: every variant gets seed 1 before any gets seed 2.
  struct job {
    std::string variant;
    regime reg;
    std::uint64_t seed;
    std::function<run_result(study_progress*)> fn;
    bool finished;
  };
  std::vector<job> jobs;
  std::mutex log_mutex;
  for (std::uint64_t seed = 1; seed <= b.seeds; ++seed)
    for (regime r : regimes)
      hana::for_each(Zoo::types, [&](auto t) {
        using A = typename decltype(t)::type;
        if (!wanted(A::name())) return;
        const fs::path dir = run_dir(o.out, A::name(), r, seed);
        const bool finished = finished_run<A>(dir, b, r, seed).has_value();
        jobs.push_back({A::name(), r, seed,
                        [&run, &data, &b, r, seed, dir, &o, &log_mutex](study_progress* p) {
                          return run(A::name(), data, b, r, seed, dir, p, o.log, &log_mutex);
                        },
                        finished});
      });
  std::size_t remaining = 0, finished = 0;
  for (const auto& j : jobs) j.finished ? ++finished : remaining += b.steps;  // resumed runs: an overestimate
  if (o.log)
    *o.log << jobs.size() << " runs (" << finished << " already finished), " << b.steps << " steps of " << b.batch
           << " x " << std::min(b.context, std::size_t(1) << 30) << " tokens each, " << o.jobs << " at a time" << std::endl;
  study_progress progress(remaining, jobs.size(), finished, o.progress);
  std::vector<run_result> results(jobs.size());
  std::vector<std::exception_ptr> errors(jobs.size());
  // This process's threads, or under MPI every rank's (distributed.hpp: a work queue on rank 0).
  run_jobs(jobs, o, progress, results, errors);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);

  // Group: variant-major in zoo order, regimes in option order, seeds ascending.
  std::vector<variant_summary> out;
  for (const auto& n : known) {
    if (!wanted(n)) continue;
    for (regime r : regimes) {
      std::vector<run_result> runs;
      for (std::size_t i = 0; i < jobs.size(); ++i)
        if (jobs[i].variant == n && jobs[i].reg == r) runs.push_back(results[i]);
      std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& c) { return a.seed < c.seed; });
      out.push_back(summarize_runs(std::move(runs)));
    }
  }
  compare_with_baseline(out, known[0]);  // every variant against the zoo's first, seed by seed
  std::vector<std::string> domains{data.train.name};
  for (const auto& d : data.domains)
    if (d.name != data.train.name) domains.push_back(d.name);
  if (writes_study_report()) write_study_report(out, b, o.out, data.train.name, domains, o.title);  // rank 0 under MPI
  return out;
}

}  // namespace sinkcore::study
