#pragma once
/// @file budget.hpp
/// How much the dispensability study (dispensability.hpp) trains and evaluates: one plain struct, with
/// the named budgets `micro` (tests), `quick` (the README main job: the whole study within 15 minutes on
/// two shared cores), `standard` (about 3 hours) and `full` (unbounded), and the natural-text `standard`
/// and `full` that `budget_by_name(name, "prose")` gives (the tiny-512 zoo at context 512, where prose
/// grows a sink). Every number a budget holds can be changed by the caller (sinklab's flags, tests), so
/// the step counts live in exactly one place.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"

namespace sinkcore::study {

struct budget {
  std::string name = "custom";
  /// The zoo the budget trains, by name: "tiny" (context 64-128), "tiny-h16" or "tiny-512" (context 512).
  /// The study itself is a template on the zoo (run_study<Zoo>); sinklab picks the zoo from this name
  /// unless `--zoo` names another.
  std::string zoo = "tiny";
  // ---- training (per run = one variant x regime x seed) -------------------------------------------
  std::size_t steps = 120;            ///< optimizer steps per run
  std::size_t batch = 16;             ///< windows per step
  std::size_t context = 64;           ///< training context (tokens per window)
  float lr = 6e-3f;                   ///< peak learning rate (warmup + cosine to 10 %)
  std::size_t warmup = 20;            ///< linear warmup steps
  float weight_decay = 0.5f;          ///< AdamW decoupled decay on matrices (Gu et al.: 0.5 strengthens sinks)
  std::string train_corpus = "mix";   ///< a domain, mix, a mixture a+b+... or FILE (train::load_corpus)
  std::size_t seeds = 3;              ///< seeds 1..seeds; a seed fixes the initialisation and the data order
  std::vector<std::string> regimes{"gpt2", "bos"};  ///< the data regimes run unless the caller names others
  /// The variants run unless the caller names others, by short name (the part after the zoo's dot,
  /// "baseline" for the zoo's first member: "no-qbias", "rotary", ...); empty: the whole zoo.
  std::vector<std::string> variants{};
  // ---- evaluation ----------------------------------------------------------------------------------
  std::size_t eval_points = 6;        ///< emergence-curve evaluations along training (plus step 0)
  std::size_t checkpoint_every = 3;   ///< a checkpoint every this many evaluations (and at the end)
  std::size_t curve_windows = 32;     ///< held-out windows of the training distribution per curve point
  std::size_t eval_windows = 64;      ///< held-out windows per corpus for the final metrics and losses
  std::size_t intervention_windows = 64;  ///< held-out windows (training distribution) per intervention
  std::size_t metric_length = 40;     ///< the paper's T (clamped to the context)
  std::size_t sink_length = 64;       ///< Gu et al.'s T for Sink_1^0.3 (clamped to the context)

  /// As JSON (results.json's "budget"); eval_json(): the evaluation settings alone.
  SINKCORE_DECL nlohmann::json to_json() const;
  /// Tokens one run trains on.
  std::size_t tokens_per_run() const { return steps * batch * context; }
  /// The evaluation settings only (a run's evaluation is redone when they change; its training is not).
  SINKCORE_DECL nlohmann::json eval_json() const;
  void check() const {
    if (steps == 0 || batch == 0 || seeds == 0 || eval_points == 0 || checkpoint_every == 0)
      throw error("budget '" + name + "': steps, batch, seeds, eval_points and checkpoint_every must be >= 1");
    if (context < 2) throw error("budget '" + name + "': context must be >= 2");
    if (curve_windows == 0 || eval_windows < 2 || intervention_windows == 0)
      throw error("budget '" + name + "': need curve_windows >= 1, eval_windows >= 2, intervention_windows >= 1");
    if (!(lr > 0) || !(weight_decay >= 0)) throw error("budget '" + name + "': lr must be > 0 and weight_decay >= 0");
    if (regimes.empty()) throw error("budget '" + name + "': needs at least one regime");
    for (const auto& r : regimes)
      if (r != "gpt2" && r != "bos") throw error("budget '" + name + "': unknown regime '" + r + "'; known: gpt2, bos");
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

/// The README main job, within 15 minutes on two cores, evaluation included (measured: docs/experiments.md):
/// the recipe (`backcopy`, BOS regime) at lr 1e-2 for 1200 steps of 8 x 64 tokens (0.6M tokens per run), the
/// baseline and the six variants that remove the paper's components (no query bias, rotary, no positions, no
/// first MLP, frozen-random keys, all three) x 3 seeds. At this budget the baseline grows a sink in every seed
/// (docs/experiments.md); GPT-2's regime (no BOS) grows none at any budget that fits 15 minutes, so it is left
/// to `--regimes gpt2,bos` and the standard budget.
inline budget quick_budget() {
  budget b;
  b.name = "quick";
  b.train_corpus = "backcopy";
  b.steps = 1200;
  b.batch = 8;
  b.context = 64;
  b.lr = 1e-2f;
  b.warmup = 20;
  b.regimes = {"bos"};
  b.variants = {"baseline", "no-qbias", "rotary", "nope", "no-first-mlp", "frozen-keys", "rotary.no-qbias.frozen-keys"};
  b.eval_points = 6;
  b.checkpoint_every = 3;
  b.curve_windows = 32;
  b.eval_windows = 64;
  b.intervention_windows = 64;
  return b;
}

/// Within 3 hours on two cores (measured: 50 min on a 2-core AMD EPYC, docs/experiments.md): the recipe at lr
/// 1e-2 for 1200 steps (1.2M tokens per run), the whole zoo, both regimes, 5 seeds (110 runs); the baseline
/// sinks in 5 of 5 BOS-regime seeds there. For prose, prose_standard_budget.
inline budget standard_budget() {
  budget b = quick_budget();
  b.name = "standard";
  b.steps = 1200;
  b.batch = 16;
  b.warmup = 40;
  b.seeds = 5;
  b.regimes = {"gpt2", "bos"};
  b.variants = {};
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
  b.lr = 6e-3f;
  b.steps = 16000;
  b.warmup = 400;
  b.eval_points = 32;
  b.checkpoint_every = 2;
  b.eval_windows = 256;
  b.intervention_windows = 256;
  return b;
}

/// The natural-text study within 3 hours on two cores (measured: docs/experiments.md): the baseline of the
/// tiny-512 zoo (4 layers, d 128, context 512) and the variant without the query bias, 3 seeds each, in the
/// BOS regime, on `prose` (~100 MB of unique text, `sinklab corpus build prose`): 3052 steps of 16 x 512
/// tokens (25.0M tokens per run) at lr 4e-3, weight decay 0.5: 6 runs, 1 h 33 min on two cores (a build
/// sharing them for the first 45 min; 26-29 min per run alone, two at a time). At this recipe the baseline
/// grows a sink on held-out prose in 3 of 3 seeds (5.5-5.8 x chance); at context 64 prose grows none. The
/// evaluation settings are quick's, so the runs of `--budget quick --zoo tiny-512 --corpus prose` with
/// these training flags are the same runs (a run's identity is its training and evaluation settings).
inline budget prose_standard_budget() {
  budget b = quick_budget();
  b.name = "standard";
  b.zoo = "tiny-512";
  b.train_corpus = "prose";
  b.steps = 3052;
  b.batch = 16;
  b.context = 512;
  b.lr = 4e-3f;  // quick's warmup (20 steps), weight decay (0.5) and evaluation settings
  b.seeds = 3;
  b.regimes = {"bos"};
  b.variants = {"baseline", "no-qbias"};
  return b;
}

/// Unbounded natural text: 50M tokens per run (6104 steps of 16 x 512; the length at which GPT-2's regime
/// grew a sink without BOS, docs/experiments.md), the whole tiny-512 zoo, both regimes, 5 seeds (110 runs,
/// about an hour per run per core: ~2 days on two cores, hours on a cluster, docs/scaling.md).
inline budget prose_full_budget() {
  budget b = prose_standard_budget();
  b.name = "full";
  b.steps = 6104;
  b.seeds = 5;
  b.regimes = {"gpt2", "bos"};
  b.variants = {};
  const budget standard = standard_budget();  // its evaluation settings
  b.eval_points = standard.eval_points;
  b.checkpoint_every = standard.checkpoint_every;
  b.curve_windows = standard.curve_windows;
  b.eval_windows = standard.eval_windows;
  b.intervention_windows = standard.intervention_windows;
  return b;
}

/// micro | quick | standard | full; throws sinkcore::error otherwise. With `corpus` "prose", standard and
/// full are the natural-text budgets above (micro and quick stay as they are: at their sizes prose grows no
/// sink, and the caller's corpus replaces theirs).
inline budget budget_by_name(std::string_view name, std::string_view corpus = {}) {
  if (corpus == "prose" && name == "standard") return prose_standard_budget();
  if (corpus == "prose" && name == "full") return prose_full_budget();
  if (name == "micro") return micro_budget();
  if (name == "quick") return quick_budget();
  if (name == "standard") return standard_budget();
  if (name == "full") return full_budget();
  throw error("unknown budget '" + std::string(name) + "'; known: micro, quick, standard, full");
}

}  // namespace sinkcore::study

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/budget.ipp"
#endif
