#pragma once
/// @file budget.hpp
/// How much the dispensability study (dispensability.hpp) trains and evaluates: one plain struct, with
/// the named budgets `micro` (tests), `quick` (the README main job: the whole study within 15 minutes on
/// two shared cores), `standard` (about 3 hours) and `full` (unbounded). Every number a budget holds can
/// be changed by the caller (sinklab's flags, tests), so the step counts live in exactly one place.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../error.hpp"

namespace sinkcore::study {

struct budget {
  std::string name = "custom";
  // ---- training (per run = one variant x regime x seed) -------------------------------------------
  std::size_t steps = 120;            ///< optimizer steps per run
  std::size_t batch = 16;             ///< windows per step
  std::size_t context = 64;           ///< training context (tokens per window)
  float lr = 6e-3f;                   ///< peak learning rate (warmup + cosine to 10 %)
  std::size_t warmup = 20;            ///< linear warmup steps
  float weight_decay = 0.5f;          ///< AdamW decoupled decay on matrices (Gu et al.: 0.5 strengthens sinks)
  std::string train_corpus = "mix";   ///< a domain, mix, a mixture a+b+... or FILE (train::load_corpus)
  std::size_t seeds = 3;              ///< seeds 1..seeds; a seed fixes the initialisation and the data order
  // ---- evaluation ----------------------------------------------------------------------------------
  std::size_t eval_points = 6;        ///< emergence-curve evaluations along training (plus step 0)
  std::size_t checkpoint_every = 3;   ///< a checkpoint every this many evaluations (and at the end)
  std::size_t curve_windows = 32;     ///< held-out windows of the training distribution per curve point
  std::size_t eval_windows = 64;      ///< held-out windows per corpus for the final metrics and losses
  std::size_t intervention_windows = 64;  ///< held-out windows (training distribution) per intervention
  std::size_t metric_length = 40;     ///< the paper's T (clamped to the context)
  std::size_t sink_length = 64;       ///< Gu et al.'s T for Sink_1^0.3 (clamped to the context)

  nlohmann::json to_json() const {
    return {{"name", name}, {"steps", steps}, {"batch", batch}, {"context", context}, {"lr", lr}, {"warmup", warmup},
            {"weight_decay", weight_decay}, {"train_corpus", train_corpus}, {"seeds", seeds},
            {"eval_points", eval_points}, {"checkpoint_every", checkpoint_every}, {"curve_windows", curve_windows},
            {"eval_windows", eval_windows}, {"intervention_windows", intervention_windows},
            {"metric_length", metric_length}, {"sink_length", sink_length}};
  }
  /// Tokens one run trains on.
  std::size_t tokens_per_run() const { return steps * batch * context; }
  /// The evaluation settings only (a run's evaluation is redone when they change; its training is not).
  nlohmann::json eval_json() const {
    return {{"eval_points", eval_points}, {"curve_windows", curve_windows}, {"eval_windows", eval_windows},
            {"intervention_windows", intervention_windows}, {"metric_length", metric_length},
            {"sink_length", sink_length}};
  }
  void check() const {
    if (steps == 0 || batch == 0 || seeds == 0 || eval_points == 0 || checkpoint_every == 0)
      throw error("budget '" + name + "': steps, batch, seeds, eval_points and checkpoint_every must be >= 1");
    if (context < 2) throw error("budget '" + name + "': context must be >= 2");
    if (curve_windows == 0 || eval_windows < 2 || intervention_windows == 0)
      throw error("budget '" + name + "': need curve_windows >= 1, eval_windows >= 2, intervention_windows >= 1");
    if (!(lr > 0) || !(weight_decay >= 0)) throw error("budget '" + name + "': lr must be > 0 and weight_decay >= 0");
  }
};

/// Seconds: 2 variants x 2 regimes x 2 seeds of a handful of steps on short windows (the tests).
inline budget micro_budget() {
  budget b;
  b.name = "micro";
  b.steps = 6;
  b.batch = 2;
  b.context = 48;
  b.warmup = 2;
  b.seeds = 2;
  b.eval_points = 2;
  b.checkpoint_every = 1;
  b.curve_windows = 3;
  b.eval_windows = 4;
  b.intervention_windows = 3;
  return b;
}

/// The README main job: 10 variants x 2 regimes x 3 seeds within 15 minutes on two shared cores,
/// evaluation included (measured: docs/experiments.md). About 123k tokens per run on `mix` (natural
/// language, code, math): far too few for a sink to form (even on `backcopy` the sink needs ~0.5M tokens);
/// the report says so with the numbers.
inline budget quick_budget() {
  budget b;
  b.name = "quick";
  b.steps = 120;
  b.batch = 16;
  b.context = 64;
  b.warmup = 20;
  b.eval_points = 6;
  b.checkpoint_every = 3;
  b.curve_windows = 32;
  b.eval_windows = 64;
  b.intervention_windows = 64;
  return b;
}

/// Within 3 hours on two cores (~1.5-2.5 h measured): 2.46M tokens per run (60 runs), on the recipe's
/// corpus `backcopy` (docs/experiments.md, "The recipe"): in the BOS regime the baseline grows sink heads
/// there within this budget in every seed (the paper's mid-layer metric 9.6 x chance over 3 seeds; the sink
/// forms in layer 2 or layer 0 depending on the seed), which it does not on `mix` at any budget we could
/// run. `--corpus mix` gives the natural-text study at this budget.
inline budget standard_budget() {
  budget b = quick_budget();
  b.name = "standard";
  b.train_corpus = "backcopy";
  b.steps = 2400;
  b.warmup = 100;
  b.eval_points = 12;
  b.checkpoint_every = 2;
  b.curve_windows = 64;
  b.eval_windows = 128;
  b.intervention_windows = 128;
  return b;
}

/// Unbounded: 16M tokens per run on `backcopy`, as standard (days on two cores; the sink in GPT-2 small
/// appeared after ~0.5B tokens).
inline budget full_budget() {
  budget b = standard_budget();
  b.name = "full";
  b.steps = 16000;
  b.warmup = 400;
  b.eval_points = 32;
  b.checkpoint_every = 2;
  b.eval_windows = 256;
  b.intervention_windows = 256;
  return b;
}

/// micro | quick | standard | full; throws sinkcore::error otherwise.
inline budget budget_by_name(std::string_view name) {
  if (name == "micro") return micro_budget();
  if (name == "quick") return quick_budget();
  if (name == "standard") return standard_budget();
  if (name == "full") return full_budget();
  throw error("unknown budget '" + std::string(name) + "'; known: micro, quick, standard, full");
}

}  // namespace sinkcore::study
