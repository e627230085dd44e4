#pragma once
/// @file dispensability.hpp
/// The dispensability study: every architecture of a zoo (a Hana tuple of types) trained from scratch in
/// two data regimes (GPT-2's random windows without BOS, and windows that start with a BOS byte) with
/// several seeds, then compared: the BOS-attention metric against chance, Sink_1^0.3, held-out loss on
/// natural language, math and code, the emergence curve, the circuit statistics and the interventions of
/// Ran-Milo et al. 2026 where the components exist. Writes into OUT (each file atomically):
///
/// | file                         | content                                                              |
/// |------------------------------|----------------------------------------------------------------------|
/// | results.json                 | budget, then per (variant, regime): chance, metric mean/SE, every seed |
/// | variants.csv                 | one row per (variant, regime): the summary over seeds, and the verdict |
/// | runs.csv                     | one row per run (variant, regime, seed)                               |
/// | emergence.csv                | every curve point of every run                                        |
/// | heads.csv                    | BOS attention per (variant, regime, layer, head), mean over seeds     |
/// | interventions.csv            | per (variant, regime, intervention): metric and cross-entropy cost    |
/// | circuit.csv                  | the circuit statistics per run (where they apply)                     |
/// | destinations.csv             | where the attention went: position 0, positions >= 1, extra slot, "nothing", entropy |
/// | fig_metric_<regime>.svg      | the metric per variant, mean +- 2 SE, with the chance line            |
/// | fig_heads_<regime>.svg       | heatmap: variants x (layer, head) attention to position 0             |
/// | fig_emergence_<variant>.svg  | the metric against tokens seen, both regimes, mean over seeds         |
/// | report.md                    | all of it, ending with a verdict computed from the numbers            |
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
#include <nlohmann/json.hpp>

#include "../report/svg.hpp"
#include "../report/tables.hpp"
#include "../zoo.hpp"
#include "budget.hpp"
#include "distributed.hpp"
#include "run.hpp"

namespace sinkcore::study {

struct study_options {
  budget plan = quick_budget();
  fs::path out = "dispensability";
  std::vector<std::string> variants{};  ///< architecture names to run (empty: the whole zoo)
  std::vector<regime> regimes{regime::gpt2, regime::bos};
  train::corpus_options corpora{};
  std::size_t jobs = 1;                 ///< runs trained at the same time (one thread each)
  int threads_per_run = 1;              ///< OpenMP threads inside a run when jobs == 1
  progress_callback progress{};
  std::ostream* log = nullptr;
  std::string title = "Dispensability study";  ///< report.md's heading (sinklab mitigations: "Mitigation study")
};

/// A (variant, regime) summarised over its seeds.
struct variant_summary {
  std::string variant, regime;
  std::size_t layers = 0, heads = 0;
  std::vector<run_result> runs;
  double chance = 0, chance_ctx = 0;
  stats::summary metric, metric_all, metric_ctx, sink;
  stats::summary mass_rest, mass_slot, mass_null, entropy;  ///< where the attention went (run.hpp)
  std::map<std::string, stats::summary> loss;
  std::vector<double> by_head;          ///< mean over seeds
  std::string verdict;                  ///< clear-sink | above-chance | not-above-chance
  double ratio() const { return metric.mean / chance; }
};

/// clear-sink: mean - 2 SE >= 5 x chance; above-chance: mean - 2 SE > chance; else not-above-chance.
inline std::string classify(const stats::summary& s, double chance) {
  const double lo = s.mean - 2 * s.se;
  if (lo >= 5 * chance) return "clear-sink";
  if (lo > chance) return "above-chance";
  return "not-above-chance";
}

inline variant_summary summarize_runs(std::vector<run_result> runs) {
  variant_summary v;
  if (runs.empty()) throw error("summarize_runs: no runs");
  v.variant = runs[0].variant;
  v.regime = runs[0].regime;
  v.layers = runs[0].layers;
  v.heads = runs[0].heads;
  v.chance = runs[0].chance;
  v.chance_ctx = runs[0].chance_ctx;
  auto over = [&](auto get) {
    std::vector<double> x;
    for (const auto& r : runs) x.push_back(get(r));
    return stats::summarize(x);
  };
  v.metric = over([](const run_result& r) { return r.bos_metric; });
  v.metric_all = over([](const run_result& r) { return r.bos_metric_all; });
  v.metric_ctx = over([](const run_result& r) { return r.bos_metric_ctx; });
  v.sink = over([](const run_result& r) { return r.sink; });
  v.mass_rest = over([](const run_result& r) { return r.mass_rest; });
  v.mass_slot = over([](const run_result& r) { return r.mass_slot; });
  v.mass_null = over([](const run_result& r) { return r.mass_null; });
  v.entropy = over([](const run_result& r) { return r.entropy; });
  for (const auto& [name, _] : runs[0].loss) v.loss[name] = over([&](const run_result& r) { return r.loss.at(name); });
  v.by_head.assign(runs[0].by_head.size(), 0.0);
  for (const auto& r : runs)
    for (std::size_t i = 0; i < v.by_head.size(); ++i) v.by_head[i] += r.by_head.at(i) / double(runs.size());
  v.verdict = classify(v.metric, v.chance);
  v.runs = std::move(runs);
  return v;
}

/// The emergence curve (bos_metric) averaged over the seeds of a summary, point by point.
inline std::vector<double> mean_curve(const variant_summary& v) {
  std::vector<double> c(v.runs.empty() ? 0 : v.runs[0].curve.size(), 0.0);
  for (std::size_t p = 0; p < c.size(); ++p) {
    std::size_t n = 0;
    for (const auto& r : v.runs)
      if (p < r.curve.size()) c[p] += r.curve[p].bos_metric, ++n;
    c[p] = n ? c[p] / double(n) : std::nan("");
  }
  return c;
}

/// The names of a zoo's architectures, in order.
template <class Zoo>
std::vector<std::string> zoo_names() {
  std::vector<std::string> n;
  hana::for_each(Zoo::types, [&](auto t) { n.push_back(decltype(t)::type::name()); });
  return n;
}

namespace detail {
/// "mean ± 2 SE"; "mean (1 seed)" when there is no standard error to give.
inline std::string pm2(const stats::summary& s, int digits = 4) {
  if (s.n < 2) return report::fmt(s.mean, digits) + " (1 seed)";
  return report::fmt(s.mean, digits) + " ± " + report::fmt(2 * s.se, digits);
}
inline std::string safe_file_name(std::string s) {
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
  return s;
}
inline std::string short_name(const std::string& variant) {
  const auto dot = variant.find('.');
  return dot == std::string::npos ? "baseline" : variant.substr(dot + 1);
}

/// "–" for a statistic that does not exist (NaN: no "nothing" under sigmoid attention).
inline std::string pm2_or_dash(const stats::summary& s, int digits = 3) {
  return std::isnan(s.mean) ? std::string("–") : pm2(s, digits);
}

/// destinations.csv: per (variant, regime), where the attention of the second-half queries went (mid layers,
/// T = metric_length), mean and SE over seeds (run.hpp, metrics.hpp attention_destinations).
inline std::string destinations_csv(const std::vector<variant_summary>& vs) {
  using report::fmt;
  report::table t{{"variant", "regime", "seeds", "mass_first_mean", "mass_first_se", "mass_rest_mean", "mass_rest_se",
                   "mass_slot_mean", "mass_slot_se", "mass_null_mean", "mass_null_se", "entropy_mean", "entropy_se"}};
  for (const auto& v : vs)
    t.add({v.variant, v.regime, std::to_string(v.runs.size()), fmt(v.metric.mean, 6), fmt(v.metric.se, 6),
           fmt(v.mass_rest.mean, 6), fmt(v.mass_rest.se, 6), fmt(v.mass_slot.mean, 6), fmt(v.mass_slot.se, 6),
           fmt(v.mass_null.mean, 6), fmt(v.mass_null.se, 6), fmt(v.entropy.mean, 6), fmt(v.entropy.se, 6)});
  return t.csv();
}

/// report.md's "Where the attention went" section: per regime and variant, the mass on position 0, on
/// positions >= 1, on the extra slot and on "nothing", the row entropy, and the held-out loss on the
/// training corpus with its difference to the first variant (the baseline): the cost of a mitigation.
inline std::string destinations_section(const std::vector<variant_summary>& vs, const std::vector<std::string>& regimes,
                                        const std::vector<std::string>& names, const std::string& train_corpus_name) {
  using report::fmt;
  std::ostringstream md;
  md << "## Where the attention went\n\nSecond-half queries, mid layers, the metric's windows and T; mean ± 2 SE over "
        "seeds. `position 0` is the metric above; `slot`: the extra key/value slot of a sink token or key-value bias; "
        "`nothing`: the \"+1\" of softmax + 1 (1 − the rest; – under sigmoid attention, whose rows need not sum to 1); "
        "`entropy` (nats) of each row over keys, slot and nothing (sigmoid rows normalised first). `loss`: held-out "
        "next-token loss on `"
     << train_corpus_name << "` at the training context, `Δ loss` against `" << (names.empty() ? "" : names[0])
     << "` (the cost). `destinations.csv` has the numbers.\n\n";
  for (const auto& reg : regimes) {
    const variant_summary* base = nullptr;
    for (const auto& v : vs)
      if (!names.empty() && v.variant == names[0] && v.regime == reg) base = &v;
    report::table t{{"variant", "position 0", "positions ≥ 1", "slot", "nothing", "entropy", "loss", "Δ loss"}};
    for (const auto& n : names)
      for (const auto& v : vs) {
        if (v.variant != n || v.regime != reg) continue;
        const auto loss = v.loss.find(train_corpus_name);
        std::string l = "–", dl = "–";
        if (loss != v.loss.end()) {
          l = fmt(loss->second.mean, 4);
          if (base && base->loss.count(train_corpus_name)) {
            const auto& bl = base->loss.at(train_corpus_name);
            dl = (loss->second.mean >= bl.mean ? "+" : "") + fmt(loss->second.mean - bl.mean, 4) + " ± " +
                 fmt(2 * std::sqrt(loss->second.se * loss->second.se + bl.se * bl.se), 4);
          }
        }
        t.add({n, pm2(v.metric, 3), pm2(v.mass_rest, 3), pm2(v.mass_slot, 3), pm2_or_dash(v.mass_null),
               pm2(v.entropy, 3), l, dl});
      }
    md << "Regime `" << reg << "`:\n\n" << t.markdown() << "\n";
  }
  return md.str();
}
}  // namespace detail

/// Writes results.json, the CSVs, the figures and report.md for summarised results.
inline void write_study_report(const std::vector<variant_summary>& vs, const budget& b, const fs::path& out,
                               const std::string& train_corpus_name, const std::vector<std::string>& domain_names,
                               const std::string& title = "Dispensability study") {
  using report::fmt;
  using report::table;
  auto write = [&](const std::string& name, const std::string& text) { report::write_text_atomically(out / name, text); };

  // ---- results.json -----------------------------------------------------------------------------
  nlohmann::json variants = nlohmann::json::array();
  for (const auto& v : vs) {
    nlohmann::json seeds = nlohmann::json::array();
    for (const auto& r : v.runs) {
      nlohmann::json loss = nlohmann::json::object();
      for (const auto& [k, x] : r.loss) loss[k] = x;
      seeds.push_back({{"seed", r.seed}, {"tokens", r.tokens}, {"steps", r.steps}, {"diverged_at", r.diverged_at},
                       {"bos_metric", r.bos_metric}, {"bos_metric_all", r.bos_metric_all},
                       {"bos_metric_ctx", r.bos_metric_ctx}, {"sink_0.3", r.sink}, {"mass_rest", r.mass_rest},
                       {"mass_slot", r.mass_slot}, {"mass_null", r.mass_null}, {"entropy", r.entropy},
                       {"loss", loss}, {"bos_by_corpus", r.bos_by_corpus}});
    }
    variants.push_back({{"name", v.variant}, {"regime", v.regime}, {"chance", v.chance}, {"chance_ctx", v.chance_ctx},
                        {"bos_metric_mean", v.metric.mean}, {"bos_metric_se", v.metric.se},
                        {"ratio_to_chance", v.ratio()}, {"bos_metric_all_mean", v.metric_all.mean},
                        {"bos_metric_ctx_mean", v.metric_ctx.mean}, {"bos_metric_ctx_se", v.metric_ctx.se},
                        {"sink_0.3_mean", v.sink.mean}, {"sink_0.3_se", v.sink.se},
                        {"mass_rest_mean", v.mass_rest.mean}, {"mass_slot_mean", v.mass_slot.mean},
                        {"mass_slot_se", v.mass_slot.se}, {"mass_null_mean", v.mass_null.mean},
                        {"mass_null_se", v.mass_null.se}, {"entropy_mean", v.entropy.mean}, {"verdict", v.verdict},
                        {"seeds", seeds}});
  }
  nlohmann::json results = {{"budget", b.name}, {"budget_settings", b.to_json()}, {"train_corpus", train_corpus_name},
                            {"metric", "BOS attention (Ran-Milo et al. 2026): second-half queries, mid layers, T = " +
                                           std::to_string(std::min(b.metric_length, b.context)) +
                                           ", held-out windows of the training corpus"},
                            {"variants", variants}};
  write("results.json", results.dump(1) + "\n");

  // ---- CSVs -------------------------------------------------------------------------------------
  table vt{{"variant", "regime", "seeds", "chance", "bos_metric_mean", "bos_metric_se", "ratio_to_chance",
            "bos_metric_all_mean", "bos_metric_ctx_mean", "bos_metric_ctx_se", "chance_ctx", "sink_0.3_mean",
            "sink_0.3_se"}};
  for (const auto& d : domain_names) vt.header.push_back("loss_" + d);
  vt.header.push_back("verdict");
  table rt{{"variant", "regime", "seed", "steps", "tokens", "diverged_at", "chance", "bos_metric", "bos_metric_all",
            "bos_metric_ctx", "chance_ctx", "sink_0.3"}};
  for (const auto& d : domain_names) rt.header.push_back("loss_" + d);
  for (const auto& d : domain_names) rt.header.push_back("bos_metric_" + d);
  rt.header.push_back("train_seconds");
  table et{{"variant", "regime", "seed", "step", "tokens", "bos_metric", "bos_metric_all", "bos_metric_ctx", "loss"}};
  table ht{{"variant", "regime", "layer", "head", "bos_attention"}};
  table it{{"variant", "regime", "intervention", "name", "applies", "seeds", "bos_metric_mean", "bos_metric_se",
            "percent_of_baseline", "delta_ce_mean", "delta_ce_se", "reason"}};
  table ct{{"variant", "regime", "seed", "applies", "shift_median_key0", "shift_median_other_max", "massive_coordinates",
            "gamma_massive", "gamma_other", "cos_bq_key_epe0", "cos_bq_key_epe_other", "reason"}};
  auto jnum = [](const nlohmann::json& j, const char* k) {
    return j.contains(k) && j[k].is_number() ? fmt(j[k].get<double>(), 6) : std::string();
  };
  for (const auto& v : vs) {
    std::vector<std::string> row{v.variant, v.regime, std::to_string(v.runs.size()), fmt(v.chance, 6),
                                 fmt(v.metric.mean, 6), fmt(v.metric.se, 6), fmt(v.ratio(), 6),
                                 fmt(v.metric_all.mean, 6), fmt(v.metric_ctx.mean, 6), fmt(v.metric_ctx.se, 6),
                                 fmt(v.chance_ctx, 6), fmt(v.sink.mean, 6), fmt(v.sink.se, 6)};
    for (const auto& d : domain_names) row.push_back(v.loss.count(d) ? fmt(v.loss.at(d).mean, 6) : "");
    row.push_back(v.verdict);
    vt.add(row);
    for (const auto& r : v.runs) {
      std::vector<std::string> rr{r.variant, r.regime, std::to_string(r.seed), std::to_string(r.steps),
                                  std::to_string(r.tokens), std::to_string(r.diverged_at), fmt(r.chance, 6),
                                  fmt(r.bos_metric, 6), fmt(r.bos_metric_all, 6), fmt(r.bos_metric_ctx, 6),
                                  fmt(r.chance_ctx, 6), fmt(r.sink, 6)};
      for (const auto& d : domain_names) rr.push_back(r.loss.count(d) ? fmt(r.loss.at(d), 6) : "");
      for (const auto& d : domain_names) rr.push_back(r.bos_by_corpus.count(d) ? fmt(r.bos_by_corpus.at(d), 6) : "");
      rr.push_back(fmt(r.train_seconds, 1));
      rt.add(rr);
      for (const auto& p : r.curve)
        et.add({r.variant, r.regime, std::to_string(r.seed), std::to_string(p.step), std::to_string(p.tokens),
                fmt(p.bos_metric, 6), fmt(p.bos_metric_all, 6), fmt(p.bos_metric_ctx, 6), fmt(p.loss, 6)});
      const auto& c = r.circuit;
      std::string massive;
      if (c.contains("massive_coordinates"))
        for (const auto& x : c["massive_coordinates"]) massive += (massive.empty() ? "" : " ") + std::to_string(x.get<int>());
      ct.add({r.variant, r.regime, std::to_string(r.seed), c.value("applies", false) ? "yes" : "no",
              jnum(c, "shift_median_key0"), jnum(c, "shift_median_other_max"), massive, jnum(c, "gamma_massive"),
              jnum(c, "gamma_other"), jnum(c, "cos_bq_key_epe0"), jnum(c, "cos_bq_key_epe_other"),
              c.value("reason", std::string())});
    }
    for (std::size_t l = 0; l < v.layers; ++l)
      for (std::size_t h = 0; h < v.heads; ++h)
        ht.add({v.variant, v.regime, std::to_string(l), std::to_string(h), fmt(v.by_head[l * v.heads + h], 6)});
    // interventions: summarised over seeds (per seed: metric, and CE minus that seed's baseline CE)
    const auto& first = v.runs[0].interventions;
    for (std::size_t i = 0; i < first.size(); ++i) {
      if (!first[i].applies) {
        it.add({v.variant, v.regime, first[i].id, first[i].name, "no", "0", "", "", "", "", "", first[i].reason});
        continue;
      }
      std::vector<double> metric, dce, pct;
      for (const auto& r : v.runs) {
        metric.push_back(r.interventions.at(i).bos_metric);
        dce.push_back(r.interventions.at(i).cross_entropy - r.interventions.at(0).cross_entropy);
      }
      const auto sm = stats::summarize(metric), sd = stats::summarize(dce);
      double base = 0;
      for (const auto& r : v.runs) base += r.interventions.at(0).bos_metric / double(v.runs.size());
      it.add({v.variant, v.regime, first[i].id, first[i].name, "yes", std::to_string(v.runs.size()), fmt(sm.mean, 6),
              fmt(sm.se, 6), base > 0 ? fmt(100 * sm.mean / base, 1) : "", fmt(sd.mean, 6), fmt(sd.se, 6), ""});
    }
  }
  write("variants.csv", vt.csv());
  write("runs.csv", rt.csv());
  write("emergence.csv", et.csv());
  write("heads.csv", ht.csv());
  write("interventions.csv", it.csv());
  write("circuit.csv", ct.csv());

  // ---- figures ----------------------------------------------------------------------------------
  std::vector<std::string> regimes, names;
  for (const auto& v : vs) {
    if (std::find(regimes.begin(), regimes.end(), v.regime) == regimes.end()) regimes.push_back(v.regime);
    if (std::find(names.begin(), names.end(), v.variant) == names.end()) names.push_back(v.variant);
  }
  auto find = [&](const std::string& name, const std::string& reg) -> const variant_summary* {
    for (const auto& v : vs)
      if (v.variant == name && v.regime == reg) return &v;
    return nullptr;
  };
  const double chance = vs.empty() ? 0 : vs[0].chance;
  std::string figs_md;
  for (const auto& reg : regimes) {
    std::vector<std::string> labels;
    std::vector<double> means, errs;
    std::size_t cols = 0;
    for (const auto& n : names)
      if (const auto* v = find(n, reg)) cols = std::max(cols, v->by_head.size());
    std::vector<double> heat;
    std::vector<std::string> rows;
    for (const auto& n : names) {
      const auto* v = find(n, reg);
      if (!v) continue;
      labels.push_back(detail::short_name(n));
      means.push_back(v->metric.mean);
      errs.push_back(2 * v->metric.se);
      rows.push_back(n);
      for (std::size_t c = 0; c < cols; ++c) heat.push_back(c < v->by_head.size() ? v->by_head[c] : std::nan(""));
    }
    report::chart_options co{.title = "BOS attention per variant, regime " + reg + " (mean ± 2 SE over seeds)",
                             .xlabel = "variant", .ylabel = "attention to position 0"};
    co.width = 960;
    co.y_min = 0;
    co.hlines = {{"chance " + fmt(chance, 4), chance}, {"5 x chance", 5 * chance}};
    write("fig_metric_" + reg + ".svg", report::bar_chart_svg(labels, means, errs, co));
    if (!rows.empty() && cols > 0)
      write("fig_heads_" + reg + ".svg",
            report::heatmap_svg(heat, rows.size(), cols,
                                {.title = "Attention to position 0 per head, regime " + reg + " (rows: variants in table order)",
                                 .xlabel = "layer x heads + head", .ylabel = "variant"},
                                0.0, 1.0));
  }
  for (const auto& n : names) {
    std::vector<report::line_series> series;
    for (const auto& reg : regimes) {
      const auto* v = find(n, reg);
      if (!v) continue;
      report::line_series s{reg};
      const std::size_t P = v->runs[0].curve.size();
      for (std::size_t p = 0; p < P; ++p) {
        double y = 0;
        std::size_t cnt = 0;
        for (const auto& r : v->runs)
          if (p < r.curve.size()) y += r.curve[p].bos_metric, ++cnt;
        s.x.push_back(double(v->runs[0].curve[p].tokens));
        s.y.push_back(cnt ? y / double(cnt) : std::nan(""));
      }
      series.push_back(s);
    }
    report::chart_options co{.title = "Emergence: " + n + " (mean over seeds)", .xlabel = "tokens seen",
                             .ylabel = "BOS attention (mid layers, T = 40)"};
    co.y_min = 0;
    co.hlines = {{"chance", chance}, {"5 x chance", 5 * chance}};
    write("fig_emergence_" + detail::safe_file_name(n) + ".svg", report::line_chart_svg(series, co));
  }

  // ---- report.md --------------------------------------------------------------------------------
  std::ostringstream md;
  const std::size_t T40 = std::min(b.metric_length, b.context);
  md << "# " << title << " (budget `" << b.name << "`)\n\n";
  md << "Every variant trained from scratch on `" << train_corpus_name << "` (byte level) for " << b.steps
     << " steps of " << b.batch << " x " << b.context << " tokens (" << report::fmt(double(b.tokens_per_run()) / 1e6, 3)
     << "M tokens per run), lr " << b.lr << ", weight decay " << b.weight_decay << ", " << b.seeds
     << " seeds (a seed fixes the initialisation and the data order, the same for every variant). Regimes: `gpt2` "
        "(random windows, position 0 holds an arbitrary byte) and `bos` (every window starts with byte 0).\n\n";
  md << "**Metric** (`bos_metric`): the paper's BOS attention, attention of the second-half queries to key 0, "
        "averaged over heads and the mid layers (layer_range::mid), at T = "
     << T40 << " on " << b.eval_windows << " held-out windows of `" << train_corpus_name
     << "`; chance (uniform causal attention) = " << fmt(chance, 4)
     << ". `ctx`: the same at the training context. **Sink_1^0.3** (Gu et al.): fraction of (layer, head), all layers, "
        "whose mean attention to the first token (Gu's k = 1, key 0 here) exceeds 0.3, at T = "
     << std::min(b.sink_length, b.context)
     << ". Errors are ± 2 standard errors over seeds. Verdict per row: `clear-sink` if mean − 2 SE ≥ 5 × chance, "
        "`above-chance` if mean − 2 SE > chance, else `not-above-chance`"
     << (b.seeds < 2 ? " (with one seed there is no standard error: the verdict uses the mean alone, and no "
                       "difference between variants is called significant)"
                     : "")
     << ".\n\n";
  for (const auto& reg : regimes) {
    md << "## Regime `" << reg << "`\n\n![metric](fig_metric_" << reg << ".svg)\n\n";
    table t{{"variant", "metric ± 2SE", "× chance", "all layers", "ctx ± 2SE", "Sink_1^0.3"}};
    for (const auto& d : domain_names) t.header.push_back("loss " + d);
    t.header.push_back("verdict");
    for (const auto& n : names)
      if (const auto* v = find(n, reg)) {
        std::vector<std::string> row{n, detail::pm2(v->metric), fmt(v->ratio(), 2), fmt(v->metric_all.mean, 4),
                                     detail::pm2(v->metric_ctx), detail::pm2(v->sink, 3)};
        for (const auto& d : domain_names) row.push_back(v->loss.count(d) ? fmt(v->loss.at(d).mean, 3) : "");
        row.push_back(v->verdict);
        t.add(row);
      }
    md << t.markdown() << "\nPer head (rows in table order, columns layer × " << (vs.empty() ? 0 : vs[0].heads)
       << " + head): ![heads](fig_heads_" << reg << ".svg)\n\n";
    // interventions on the variants that have a sink candidate: every variant, compact
    table iv{{"variant", "a", "b", "c", "d", "e", "f", "i", "j", "ΔCE b", "ΔCE c", "ΔCE d", "ΔCE i"}};
    for (const auto& n : names) {
      const auto* v = find(n, reg);
      if (!v) continue;
      std::map<std::string, std::pair<double, double>> by;  // id -> (metric, dCE) means
      std::set<std::string> applies;
      for (const auto& r : v->runs)
        for (const auto& x : r.interventions)
          if (x.applies) {
            applies.insert(x.id);
            by[x.id].first += x.bos_metric / double(v->runs.size());
            by[x.id].second += (x.cross_entropy - r.interventions.at(0).cross_entropy) / double(v->runs.size());
          }
      std::vector<std::string> row{n};
      for (const char* id : {"a", "b", "c", "d", "e", "f", "i", "j"}) row.push_back(applies.count(id) ? fmt(by[id].first, 4) : "–");
      for (const char* id : {"b", "c", "d", "i"}) row.push_back(applies.count(id) ? fmt(by[id].second, 3) : "–");
      iv.add(row);
    }
    md << "Interventions (Table 1 ids; metric as above on " << b.intervention_windows
       << " windows, mean over seeds; ΔCE: next-token cross-entropy minus the unmodified model's, nats; –: the "
          "component does not exist): see `interventions.csv` for standard errors.\n\n"
       << iv.markdown() << "\n";
  }
  md << detail::destinations_section(vs, regimes, names, train_corpus_name);
  write("destinations.csv", detail::destinations_csv(vs));
  md << "## Emergence\n\nThe metric against tokens seen (mean over seeds), both regimes; `emergence.csv` has every "
        "seed.\n\n";
  for (const auto& n : names) md << "![" << n << "](fig_emergence_" << detail::safe_file_name(n) << ".svg)\n";
  md << "\n## Circuit statistics\n\n`circuit.csv`: per run, where b_Q, a linear W_K and no rotation exist: the "
        "median min-shifted source-agnostic shift Δ at key 0 vs the largest median at any other key (mid layers); "
        "with learned positions and a first MLP also the massive EPE_0 coordinates, mean γ on them vs elsewhere, "
        "and cos(b_Q, W_K EPE_0) vs other positions.\n\n";
  {
    table t{{"variant", "regime", "Δ key 0", "Δ other max", "γ massive", "γ other", "cos EPE_0", "cos other"}};
    for (const auto& v : vs) {
      if (!v.runs[0].circuit.value("applies", false)) continue;
      auto mean_of = [&](const char* k) {
        std::vector<double> x;
        for (const auto& r : v.runs)
          if (r.circuit.contains(k) && r.circuit[k].is_number()) x.push_back(r.circuit[k].get<double>());
        return x.empty() ? std::string("–") : fmt(stats::mean(x), 3);
      };
      t.add({v.variant, v.regime, mean_of("shift_median_key0"), mean_of("shift_median_other_max"),
             mean_of("gamma_massive"), mean_of("gamma_other"), mean_of("cos_bq_key_epe0"), mean_of("cos_bq_key_epe_other")});
    }
    md << t.markdown() << "\n";
  }

  // ---- verdict, from the numbers -----------------------------------------------------------------
  md << "## Verdict\n\n";
  const std::string baseline = names.empty() ? "" : names[0];
  for (const auto& reg : regimes) {
    std::vector<const variant_summary*> clear, above, none;
    for (const auto& n : names)
      if (const auto* v = find(n, reg))
        (v->verdict == "clear-sink" ? clear : v->verdict == "above-chance" ? above : none).push_back(v);
    auto list = [&](const std::vector<const variant_summary*>& xs) {
      std::string s;
      for (const auto* v : xs)
        s += (s.empty() ? "" : "; ") + v->variant + " " + detail::pm2(v->metric) + " (" + fmt(v->ratio(), 2) + " × chance)";
      return s.empty() ? std::string("none") : s;
    };
    md << "- Regime `" << reg << "`: " << clear.size() << " of " << clear.size() + above.size() + none.size()
       << " variants grew a clear sink (metric − 2 SE ≥ 5 × chance = " << fmt(5 * chance, 4) << "): " << list(clear)
       << ". Above chance but below that: " << list(above) << ". Not above chance: " << list(none) << ".\n";
    std::string borderline;
    std::vector<const variant_summary*> uncertain = above;
    uncertain.insert(uncertain.end(), none.begin(), none.end());
    for (const auto* v : uncertain)
      if (v->metric.mean >= 5 * chance)
        borderline += (borderline.empty() ? "" : ", ") + v->variant + " (" + fmt(v->ratio(), 2) + " × chance, lower end " +
                      fmt((v->metric.mean - 2 * v->metric.se) / chance, 2) + " ×)";
    if (!borderline.empty())
      md << "  - Mean at or above 5 × chance, but the 2-SE interval reaches below it (not counted as clear): " << borderline
         << ".\n";
    const auto* base = find(baseline, reg);
    if (!base) continue;
    if (base->verdict == "clear-sink") {
      md << "  - The baseline `" << baseline << "` has a clear sink here, so the study can test each component: ";
      std::string kept, lost;
      for (const auto& n : names) {
        if (n == baseline) continue;
        const auto* v = find(n, reg);
        if (!v) continue;
        std::string& into = v->verdict == "clear-sink" ? kept : lost;
        into += (into.empty() ? "" : ", ") + n;
      }
      md << "still a clear sink without the component: " << (kept.empty() ? "none" : kept)
         << "; no clear sink: " << (lost.empty() ? "none" : lost) << ".\n";
    } else if (base->metric.mean >= 5 * chance) {
      md << "  - The baseline `" << baseline << "` reached " << fmt(base->ratio(), 2) << " × chance on average ("
         << detail::pm2(base->metric) << ") but not in every seed, so its sink is not a clear one and any component "
            "comparison here is uncertain; the per-seed values (runs.csv), the all-layer metric and Sink_1^0.3 (above) show where "
            "each seed's sink went.\n";
    } else {
      md << "  - The baseline `" << baseline << "` itself did not grow a clear sink (" << detail::pm2(base->metric) << ", "
         << fmt(base->ratio(), 2) << " × chance), so at this budget the study cannot say whether any component is "
            "dispensable for the sink: there is no sink to lose.\n";
    }
    std::string higher, lower;
    for (const auto& n : names) {
      if (n == baseline) continue;
      const auto* v = find(n, reg);
      if (!v) continue;
      const double d = v->metric.mean - base->metric.mean, e = 2 * std::sqrt(v->metric.se * v->metric.se + base->metric.se * base->metric.se);
      if (e > 0 && std::abs(d) > e) {
        std::string& into = d > 0 ? higher : lower;
        into += (into.empty() ? "" : ", ") + n + " (" + (d > 0 ? "+" : "") + fmt(d, 4) + " ± " + fmt(e, 4) + ")";
      }
    }
    md << "  - Differing from the baseline by more than 2 SE of the difference: higher " << (higher.empty() ? "none" : higher)
       << "; lower " << (lower.empty() ? "none" : lower) << ".\n";
    if (!base->runs.empty() && base->runs[0].curve.size() >= 2) {
      const auto c = mean_curve(*base);
      const auto peak = std::max_element(c.begin(), c.end());
      md << "  - Emergence (baseline, curve windows): " << fmt(c.front(), 4) << " at initialisation, peak " << fmt(*peak, 4)
         << " after " << base->runs[0].curve[std::size_t(peak - c.begin())].tokens << " tokens, " << fmt(c.back(), 4)
         << " at the end (" << base->runs[0].curve.back().tokens << " tokens).\n";
    }
    std::string falling;
    for (const auto& n : names)
      if (const auto* v = find(n, reg); v && v->runs[0].curve.size() >= 3) {
        const auto c = mean_curve(*v);
        const double peak = *std::max_element(c.begin(), c.end());
        if (peak >= 5 * chance && c.back() < 0.8 * peak)
          falling += (falling.empty() ? "" : ", ") + n + " (peak " + fmt(peak, 3) + " → " + fmt(c.back(), 3) + ")";
      }
    if (!falling.empty())
      md << "  - Transient: these variants passed 5 × chance during training but had fallen below 80 % of their peak "
            "by the end, so their sink is a phase of early training, not a settled one: "
         << falling << ".\n";
  }
  std::size_t diverged = 0;
  for (const auto& v : vs)
    for (const auto& r : v.runs) diverged += r.diverged_at != 0;
  if (diverged) md << "- " << diverged << " run(s) diverged and were measured at their last good weights (`runs.csv`, diverged_at).\n";
  md << "- Scale: each run saw " << report::fmt(double(b.tokens_per_run()) / 1e6, 3)
     << "M tokens; GPT-2 small's metric passed 0.2 only after about 0.5B tokens (notes), so the absence of a sink "
        "at this budget is weak evidence about the components.\n";
  write("report.md", md.str());
}

/// Runs the study over the architectures of Zoo (an arch_list) and writes the report into o.out.
/// Returns the summaries (variant-major, regimes in o.regimes order).
template <class Zoo>
std::vector<variant_summary> run_study(const study_options& o) {
  const budget& b = o.plan;
  b.check();
  const auto known = zoo_names<Zoo>();
  for (const auto& v : o.variants)
    if (std::find(known.begin(), known.end(), v) == known.end()) {
      std::string k;
      for (const auto& n : known) k += (k.empty() ? "" : ", ") + n;
      throw error("unknown variant '" + v + "'; known: " + k);
    }
  if (o.regimes.empty()) throw error("the study needs at least one regime");
  auto wanted = [&](const std::string& n) {
    return o.variants.empty() || std::find(o.variants.begin(), o.variants.end(), n) != o.variants.end();
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
    for (regime r : o.regimes)
      hana::for_each(Zoo::types, [&](auto t) {
        using A = typename decltype(t)::type;
        if (!wanted(A::name())) return;
        const fs::path dir = run_dir(o.out, A::name(), r, seed);
        const bool finished = finished_run<A>(dir, b, r, seed).has_value();
        jobs.push_back({A::name(), r, seed,
                        [&data, &b, r, seed, dir, &o, &log_mutex](study_progress* p) {
                          return run_one<A>(data, b, r, seed, dir, p, o.log, &log_mutex);
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
    for (regime r : o.regimes) {
      std::vector<run_result> runs;
      for (std::size_t i = 0; i < jobs.size(); ++i)
        if (jobs[i].variant == n && jobs[i].reg == r) runs.push_back(results[i]);
      std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& c) { return a.seed < c.seed; });
      out.push_back(summarize_runs(std::move(runs)));
    }
  }
  std::vector<std::string> domains{data.train.name};
  for (const auto& d : data.domains)
    if (d.name != data.train.name) domains.push_back(d.name);
  if (writes_study_report()) write_study_report(out, b, o.out, data.train.name, domains, o.title);  // rank 0 under MPI
  return out;
}

}  // namespace sinkcore::study
