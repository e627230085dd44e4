#pragma once
/// @file summary.hpp
/// A (variant, regime) summarised over its seeds, the verdict rule, and the one table of the summary's
/// numbers that results.json and variants.csv are written from.
#include <cmath>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "../interp/stats.hpp"
#include "../report/tables.hpp"
#include "result.hpp"

namespace sinkcore::study {

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
  std::string bos_metric_verdict;       ///< the paper's metric alone: clear-sink | above-chance | not-above-chance
  // ---- the primary measure (result.hpp primary_measure) ----
  stats::summary primary;
  double primary_chance = 0;            ///< mean over seeds of each seed's untrained-model value
  std::size_t primary_sink_seeds = 0;   ///< seeds whose primary is >= 5 x its chance
  /// Against the baseline, seed by seed (compare_with_baseline; n == 0 for the baseline itself).
  struct paired_difference {
    std::size_t n = 0;                  ///< seeds both have
    double mean_diff = std::nan("");    ///< mean over those seeds of primary(variant) - primary(baseline)
    stats::interval ci95{std::nan(""), std::nan("")};  ///< t interval over seeds (df = n - 1)
  } paired;
  /// baseline | sink kept | weakened | strengthened | removed | no detectable difference | not compared (no baseline)
  std::string verdict;
  double ratio() const { return metric.mean / chance; }
  double primary_ratio() const { return primary.mean / primary_chance; }
};

/// The paper's metric alone (bos_metric_verdict): clear-sink: mean - 2 SE >= 5 x chance; above-chance:
/// mean - 2 SE > chance; else not-above-chance.
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
  v.bos_metric_verdict = classify(v.metric, v.chance);
  v.primary = over([](const run_result& r) { return r.primary; });
  v.primary_chance = over([](const run_result& r) { return r.primary_chance; }).mean;
  for (const auto& r : runs) v.primary_sink_seeds += r.primary >= 5 * r.primary_chance;
  v.verdict = "baseline";  // until compare_with_baseline says otherwise
  v.runs = std::move(runs);
  return v;
}

/// The verdict rule, on the primary measure P (chance c: the variant's primary_chance), from the paired
/// differences d_s = P_variant(s) - P_baseline(s) over the seeds s both have, with the 95 % t interval of
/// their mean:
///  - `removed`: the baseline has a sink in every seed (P >= 5 c) and the variant's mean P is below 2 c;
///  - else `weakened` if the interval lies below 0, `strengthened` if it lies above 0;
///  - else `sink kept` if the variant has a sink (P >= 5 c) in every seed;
///  - else `no detectable difference` (also with fewer than two common seeds: no interval).
inline std::string paired_verdict(const variant_summary& v, const variant_summary& baseline) {
  const bool base_sink = !baseline.runs.empty() && baseline.primary_sink_seeds == baseline.runs.size();
  if (base_sink && v.primary.mean < 2 * v.primary_chance) return "removed";
  if (v.paired.n >= 2 && v.paired.ci95.hi < 0) return "weakened";
  if (v.paired.n >= 2 && v.paired.ci95.lo > 0) return "strengthened";
  if (!v.runs.empty() && v.primary_sink_seeds == v.runs.size()) return "sink kept";
  return "no detectable difference";
}

/// Pairs every variant with `baseline` of its regime seed by seed and sets its `paired` and `verdict`
/// (the baseline's verdict stays "baseline"). Where the study ran no baseline in that regime: n = 0 and
/// "not compared (no baseline)".
inline void compare_with_baseline(std::vector<variant_summary>& vs, const std::string& baseline) {
  for (auto& v : vs) {
    if (v.variant == baseline) continue;
    const variant_summary* base = nullptr;
    for (const auto& b : vs)
      if (b.variant == baseline && b.regime == v.regime) base = &b;
    v.paired = {};
    std::vector<double> d;
    if (base)
      for (const auto& r : v.runs)
        for (const auto& br : base->runs)
          if (br.seed == r.seed) d.push_back(r.primary - br.primary);
    v.paired.n = d.size();
    if (!d.empty()) v.paired.mean_diff = stats::mean(d);
    v.paired.ci95 = stats::t_interval_95(d);
    v.verdict = base ? paired_verdict(v, *base) : "not compared (no baseline)";
  }
}

/// The emergence curve (bos_metric, or another measure of the curve) averaged over the seeds of a summary,
/// point by point.
inline std::vector<double> mean_curve(const variant_summary& v, double curve_point::*measure = &curve_point::bos_metric) {
  std::vector<double> c(v.runs.empty() ? 0 : v.runs[0].curve.size(), 0.0);
  for (std::size_t p = 0; p < c.size(); ++p) {
    std::size_t n = 0;
    for (const auto& r : v.runs)
      if (p < r.curve.size()) c[p] += r.curve[p].*measure, ++n;
    c[p] = n ? c[p] / double(n) : std::nan("");
  }
  return c;
}

// ---- the summary's numbers -------------------------------------------------------------------------------

/// Where a summary number appears: the variant entries of results.json, variants.csv.
enum summary_use : unsigned { in_results_json = 1, in_variants_csv = 2 };

struct summary_field {
  std::string_view name;
  double (*get)(const variant_summary&);
  unsigned use;
};

/// The numbers of a summary, in variants.csv's column order (after variant, regime, seeds; the per-corpus
/// losses and the verdict follow). results.json's keys are sorted anyway.
inline const std::vector<summary_field>& summary_fields() {
  using V = const variant_summary&;
  static const std::vector<summary_field> f = {
      {"chance", [](V v) { return v.chance; }, in_results_json | in_variants_csv},
      {"bos_metric_mean", [](V v) { return v.metric.mean; }, in_results_json | in_variants_csv},
      {"bos_metric_se", [](V v) { return v.metric.se; }, in_results_json | in_variants_csv},
      {"ratio_to_chance", [](V v) { return v.ratio(); }, in_results_json | in_variants_csv},
      {"bos_metric_all_mean", [](V v) { return v.metric_all.mean; }, in_results_json | in_variants_csv},
      {"bos_metric_ctx_mean", [](V v) { return v.metric_ctx.mean; }, in_results_json | in_variants_csv},
      {"bos_metric_ctx_se", [](V v) { return v.metric_ctx.se; }, in_results_json | in_variants_csv},
      {"chance_ctx", [](V v) { return v.chance_ctx; }, in_results_json | in_variants_csv},
      {"sink_0.3_mean", [](V v) { return v.sink.mean; }, in_results_json | in_variants_csv},
      {"sink_0.3_se", [](V v) { return v.sink.se; }, in_results_json | in_variants_csv},
      {"mass_rest_mean", [](V v) { return v.mass_rest.mean; }, in_results_json},
      {"mass_slot_mean", [](V v) { return v.mass_slot.mean; }, in_results_json},
      {"mass_slot_se", [](V v) { return v.mass_slot.se; }, in_results_json},
      {"mass_null_mean", [](V v) { return v.mass_null.mean; }, in_results_json},
      {"mass_null_se", [](V v) { return v.mass_null.se; }, in_results_json},
      {"entropy_mean", [](V v) { return v.entropy.mean; }, in_results_json},
      {"primary_mean", [](V v) { return v.primary.mean; }, in_results_json | in_variants_csv},
      {"primary_se", [](V v) { return v.primary.se; }, in_results_json | in_variants_csv},
      {"primary_chance", [](V v) { return v.primary_chance; }, in_results_json | in_variants_csv},
      {"paired_mean_diff", [](V v) { return v.paired.mean_diff; }, in_variants_csv},
      {"paired_ci95_lo", [](V v) { return v.paired.ci95.lo; }, in_variants_csv},
      {"paired_ci95_hi", [](V v) { return v.paired.ci95.hi; }, in_variants_csv},
  };
  return f;
}

/// A variant's entry of results.json: its numbers, verdict, and every seed (result.hpp in_seeds_json fields).
SINKCORE_DECL nlohmann::json to_json(const variant_summary& v);

/// variants.csv: one row per (variant, regime).
inline report::table variants_table(const std::vector<variant_summary>& vs, const std::vector<std::string>& corpora) {
  report::table t{{"variant", "regime", "seeds"}};
  for (const auto& f : summary_fields())
    if (f.use & in_variants_csv) t.header.push_back(std::string(f.name));
  for (const auto& d : corpora) t.header.push_back("loss_" + d);
  t.header.push_back("bos_metric_verdict");
  t.header.push_back("verdict");
  for (const auto& v : vs) {
    std::vector<std::string> row{v.variant, v.regime, std::to_string(v.runs.size())};
    for (const auto& f : summary_fields())
      if (f.use & in_variants_csv) row.push_back(report::fmt(f.get(v), 6));
    for (const auto& d : corpora) row.push_back(v.loss.count(d) ? report::fmt(v.loss.at(d).mean, 6) : "");
    row.push_back(v.bos_metric_verdict);
    row.push_back(v.verdict);
    t.add(row);
  }
  return t;
}

}  // namespace sinkcore::study

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/summary.ipp"
#endif
