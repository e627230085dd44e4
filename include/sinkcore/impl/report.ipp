#pragma once
// The study's files rendered (study/report.hpp): the bodies of its functions, documented there.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/study/report.hpp"

namespace sinkcore::study {

namespace detail {
/// "mean ± 2 SE"; "mean (1 seed)" when there is no standard error to give.
inline std::string pm2(const stats::summary& s, int digits = 4) {
  if (s.n < 2) return report::fmt(s.mean, digits) + " (1 seed)";
  return report::fmt(s.mean, digits) + " ± " + report::fmt(2 * s.se, digits);
}
/// "–" for a statistic that does not exist (NaN: no "nothing" under sigmoid attention).
inline std::string pm2_or_dash(const stats::summary& s, int digits = 3) {
  return std::isnan(s.mean) ? std::string("–") : pm2(s, digits);
}
inline std::string safe_file_name(std::string s) {
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
  return s;
}
SINKCORE_DECL std::string short_name(const std::string& variant) {
  const auto dot = variant.find('.');
  return dot == std::string::npos ? "baseline" : variant.substr(dot + 1);
}
inline const variant_summary* find(const std::vector<variant_summary>& vs, const std::string& name, const std::string& reg) {
  for (const auto& v : vs)
    if (v.variant == name && v.regime == reg) return &v;
  return nullptr;
}
inline double first_chance(const std::vector<variant_summary>& vs) { return vs.empty() ? 0 : vs[0].chance; }
/// "mean [lo, hi]" of a 95 % t interval over seeds of a measure in [0, 1], the interval clipped to that
/// range; "mean (1 seed)" without one.
inline std::string ci95(const stats::summary& s, int digits = 3) {
  if (s.n < 2) return report::fmt(s.mean, digits) + " (1 seed)";
  const double h = stats::student_t_975(s.n - 1) * s.se;
  return report::fmt(s.mean, digits) + " [" + report::fmt(std::max(0.0, s.mean - h), digits) + ", " +
         report::fmt(std::min(1.0, s.mean + h), digits) + "]";
}
/// The paired difference against the baseline, "+0.123 [lo, hi] (n 5)".
inline std::string paired_text(const variant_summary& v, int digits = 3) {
  if (v.verdict == "baseline") return "–";
  const auto& p = v.paired;
  std::string s = (p.mean_diff >= 0 ? "+" : "") + report::fmt(p.mean_diff, digits);
  if (p.n >= 2) s += " [" + report::fmt(p.ci95.lo, digits) + ", " + report::fmt(p.ci95.hi, digits) + "]";
  return s + " (n " + std::to_string(p.n) + ")";
}
/// The layer each seed's sink is strongest in: "2 2 0" (seed order).
inline std::string peak_layers(const variant_summary& v) {
  std::string s;
  for (const auto& r : v.runs) s += (s.empty() ? "" : " ") + std::to_string(r.peak_layer);
  return s;
}
/// The six circuit statistics of a variant as report cells, each the mean over its runs ("–" where no run
/// has it), read from each run's circuit block, or from its sub-block `sub` (e.g. "peak_layer") if given.
inline std::vector<std::string> circuit_means(const variant_summary& v, const char* sub = nullptr) {
  static constexpr const char* keys[] = {"shift_median_key0", "shift_median_other_max", "gamma_massive",
                                         "gamma_other",       "cos_bq_key_epe0",        "cos_bq_key_epe_other"};
  std::vector<std::string> cells;
  for (const char* k : keys) {
    std::vector<double> x;
    for (const auto& r : v.runs) {
      const auto* o = r.circuit.scope(sub ? sub : "");
      if (!o) continue;
      if (const auto it = o->find(k); it != o->end()) x.push_back(it->second);
    }
    cells.push_back(x.empty() ? std::string("–") : report::fmt(stats::mean(x), 3));
  }
  return cells;
}
inline constexpr const char* verdict_rule =
    "On the primary measure P (chance c: the same statistic of the untrained model), with d = P(variant) - "
    "P(baseline) seed by seed and the 95 % t interval of its mean (df = seeds - 1): `removed` if the baseline has "
    "P >= 5 c in every seed and the variant's mean P is below 2 c; else `weakened` if the interval lies below 0, "
    "`strengthened` if it lies above 0; else `sink kept` if the variant has P >= 5 c in every seed; else `no "
    "detectable difference`.";
}  // namespace detail

SINKCORE_DECL report_context make_report_context(const std::vector<variant_summary>& vs, const budget& b, std::string train_corpus,
                                                 std::vector<std::string> corpora, std::string title) {
  report_context c{b, std::move(train_corpus), std::move(corpora), std::move(title), {}, {}, report::load_published()};
  for (const auto& v : vs) {
    if (std::find(c.regimes.begin(), c.regimes.end(), v.regime) == c.regimes.end()) c.regimes.push_back(v.regime);
    if (std::find(c.names.begin(), c.names.end(), v.variant) == c.names.end()) c.names.push_back(v.variant);
  }
  return c;
}

// ---- data files ------------------------------------------------------------------------------------------

SINKCORE_DECL nlohmann::json results_json(const std::vector<variant_summary>& vs, const report_context& c) {
  nlohmann::json variants = nlohmann::json::array();
  for (const auto& v : vs) variants.push_back(to_json(v));
  return {{"budget", c.plan.name}, {"budget_settings", c.plan.to_json()}, {"train_corpus", c.train_corpus},
          {"metric", "BOS attention (Ran-Milo et al. 2026): second-half queries, mid layers, T = " +
                         std::to_string(c.metric_T()) + ", held-out windows of the training corpus"},
          {"primary_measure", primary_measure},
          {"primary_measure_definition", "the same BOS attention on each run's strongest layer (peak_layer); chance: the "
                                         "same statistic of the untrained model on the same windows"},
          {"verdict_rule", detail::verdict_rule},
          {"variants", variants}};
}

SINKCORE_DECL report::table runs_table(const std::vector<variant_summary>& vs, const report_context& c) {
  report::table t{runs_csv_header(c.corpora)};
  for (const auto& v : vs)
    for (const auto& r : v.runs) t.add(runs_csv_row(r, c.corpora));
  return t;
}

SINKCORE_DECL report::table emergence_table(const std::vector<variant_summary>& vs) {
  using report::fmt;
  report::table t{{"variant", "regime", "seed", "step", "tokens", "bos_metric", "bos_metric_all", "bos_metric_ctx", "loss",
                   "primary"}};
  for (const auto& v : vs)
    for (const auto& r : v.runs)
      for (const auto& p : r.curve)
        t.add({r.variant, r.regime, std::to_string(r.seed), std::to_string(p.step), std::to_string(p.tokens),
               fmt(p.bos_metric, 6), fmt(p.bos_metric_all, 6), fmt(p.bos_metric_ctx, 6), fmt(p.loss, 6), fmt(p.primary, 6)});
  return t;
}

SINKCORE_DECL report::table heads_table(const std::vector<variant_summary>& vs) {
  report::table t{{"variant", "regime", "layer", "head", "bos_attention"}};
  for (const auto& v : vs)
    for (std::size_t l = 0; l < v.layers; ++l)
      for (std::size_t h = 0; h < v.heads; ++h)
        t.add({v.variant, v.regime, std::to_string(l), std::to_string(h), report::fmt(v.by_head[l * v.heads + h], 6)});
  return t;
}

SINKCORE_DECL report::table interventions_table(const std::vector<variant_summary>& vs) {
  using report::fmt;
  report::table t{{"variant", "regime", "intervention", "name", "applies", "seeds", "bos_metric_mean", "bos_metric_se",
                   "percent_of_baseline", "delta_ce_mean", "delta_ce_se", "peak_layer_metric_mean", "peak_layer_metric_se",
                   "peak_percent_of_baseline", "reason"}};
  for (const auto& v : vs) {
    const auto& first = v.runs[0].interventions;
    for (std::size_t i = 0; i < first.size(); ++i) {
      if (!first[i].applies) {
        t.add({v.variant, v.regime, first[i].id, first[i].name, "no", "0", "", "", "", "", "", "", "", "", first[i].reason});
        continue;
      }
      std::vector<double> metric, dce, peak;
      double base = 0, peak_base = 0;
      for (const auto& r : v.runs) {
        metric.push_back(r.interventions.at(i).bos_metric);
        dce.push_back(r.interventions.at(i).cross_entropy - r.interventions.at(0).cross_entropy);
        peak.push_back(r.interventions.at(i).peak_layer_metric);
        base += r.interventions.at(0).bos_metric / double(v.runs.size());
        peak_base += r.interventions.at(0).peak_layer_metric / double(v.runs.size());
      }
      const auto sm = stats::summarize(metric), sd = stats::summarize(dce), sp = stats::summarize(peak);
      const bool has_peak = !std::isnan(sp.mean);  // NaN: results measured before the peak-layer field
      t.add({v.variant, v.regime, first[i].id, first[i].name, "yes", std::to_string(v.runs.size()), fmt(sm.mean, 6),
             fmt(sm.se, 6), base > 0 ? fmt(100 * sm.mean / base, 1) : "", fmt(sd.mean, 6), fmt(sd.se, 6),
             has_peak ? fmt(sp.mean, 6) : "", has_peak ? fmt(sp.se, 6) : "",
             has_peak && peak_base > 0 ? fmt(100 * sp.mean / peak_base, 1) : "", ""});
    }
  }
  return t;
}

SINKCORE_DECL report::table circuit_table(const std::vector<variant_summary>& vs) {
  using report::fmt;
  report::table t{{"variant", "regime", "seed", "applies", "shift_median_key0", "shift_median_other_max", "massive_coordinates",
                   "gamma_massive", "gamma_other", "cos_bq_key_epe0", "cos_bq_key_epe_other", "peak_layer",
                   "peak_shift_median_key0", "peak_shift_median_other_max", "peak_gamma_massive", "peak_gamma_other",
                   "peak_cos_bq_key_epe0", "peak_cos_bq_key_epe_other", "reason"}};
  auto num = [](const std::map<std::string, double>& m, const char* k) {
    const auto it = m.find(k);
    return it != m.end() ? fmt(it->second, 6) : std::string();
  };
  for (const auto& v : vs)
    for (const auto& r : v.runs) {
      const auto& c = r.circuit;
      std::string massive;
      if (c.massive_coordinates)
        for (const auto x : *c.massive_coordinates) massive += (massive.empty() ? "" : " ") + std::to_string(x);
      const auto& m = c.mid;
      const auto& p = c.peak;
      t.add({r.variant, r.regime, std::to_string(r.seed), c.applies ? "yes" : "no", num(m, "shift_median_key0"),
             num(m, "shift_median_other_max"), massive, num(m, "gamma_massive"), num(m, "gamma_other"),
             num(m, "cos_bq_key_epe0"), num(m, "cos_bq_key_epe_other"),
             c.peak_layer ? std::to_string(*c.peak_layer) : "", num(p, "shift_median_key0"),
             num(p, "shift_median_other_max"), num(p, "gamma_massive"), num(p, "gamma_other"), num(p, "cos_bq_key_epe0"),
             num(p, "cos_bq_key_epe_other"), c.reason});
    }
  return t;
}

SINKCORE_DECL report::table destinations_table(const std::vector<variant_summary>& vs) {
  using report::fmt;
  report::table t{{"variant", "regime", "seeds", "mass_first_mean", "mass_first_se", "mass_rest_mean", "mass_rest_se",
                   "mass_slot_mean", "mass_slot_se", "mass_null_mean", "mass_null_se", "entropy_mean", "entropy_se"}};
  for (const auto& v : vs)
    t.add({v.variant, v.regime, std::to_string(v.runs.size()), fmt(v.metric.mean, 6), fmt(v.metric.se, 6),
           fmt(v.mass_rest.mean, 6), fmt(v.mass_rest.se, 6), fmt(v.mass_slot.mean, 6), fmt(v.mass_slot.se, 6),
           fmt(v.mass_null.mean, 6), fmt(v.mass_null.se, 6), fmt(v.entropy.mean, 6), fmt(v.entropy.se, 6)});
  return t;
}

// ---- figures ---------------------------------------------------------------------------------------------

SINKCORE_DECL std::string metric_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg) {
  std::vector<std::string> labels;
  std::vector<double> means, lo, hi;
  for (const auto& n : c.names)
    if (const auto* v = detail::find(vs, n, reg)) {
      labels.push_back(detail::short_name(n));
      means.push_back(v->metric.mean);
      lo.push_back(std::max(0.0, v->metric.mean - 2 * v->metric.se));
      hi.push_back(std::min(1.0, v->metric.mean + 2 * v->metric.se));
    }
  const double chance = detail::first_chance(vs);
  report::chart_options co{.title = "BOS attention per variant, regime " + reg + " (mean, 2-SE interval over seeds within [0, 1])",
                           .xlabel = "variant", .ylabel = "attention to position 0"};
  co.width = 960;
  co.y_min = 0;
  co.hlines = {{"chance " + report::fmt(chance, 4), chance}, {"5 x chance", 5 * chance}};
  return report::bar_chart_svg(labels, means, lo, hi, co);
}

SINKCORE_DECL std::string primary_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg) {
  std::vector<std::string> labels;
  std::vector<double> means, lo, hi;
  double chance = 0;
  for (const auto& n : c.names)
    if (const auto* v = detail::find(vs, n, reg)) {
      labels.push_back(detail::short_name(n));
      means.push_back(v->primary.mean);
      const double h = v->primary.n >= 2 ? stats::student_t_975(v->primary.n - 1) * v->primary.se : 0.0;
      lo.push_back(std::max(0.0, v->primary.mean - h));
      hi.push_back(std::min(1.0, v->primary.mean + h));
      if (n == c.names[0]) chance = v->primary_chance;
    }
  report::chart_options co{.title = "Primary measure (BOS attention, strongest layer), regime " + reg +
                                    " (mean, 95 % t interval over seeds)",
                           .xlabel = "variant", .ylabel = "attention to position 0, peak layer"};
  co.width = 960;
  co.y_min = 0;
  co.hlines = {{"chance " + report::fmt(chance, 4), chance}, {"5 x chance", 5 * chance}};
  return report::bar_chart_svg(labels, means, lo, hi, co);
}

SINKCORE_DECL std::string heads_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg) {
  std::size_t cols = 0;
  for (const auto& n : c.names)
    if (const auto* v = detail::find(vs, n, reg)) cols = std::max(cols, v->by_head.size());
  std::vector<double> heat;
  std::size_t rows = 0;
  for (const auto& n : c.names)
    if (const auto* v = detail::find(vs, n, reg)) {
      ++rows;
      for (std::size_t k = 0; k < cols; ++k) heat.push_back(k < v->by_head.size() ? v->by_head[k] : std::nan(""));
    }
  if (rows == 0 || cols == 0) return {};
  return report::heatmap_svg(heat, rows, cols,
                             {.title = "Attention to position 0 per head, regime " + reg + " (rows: variants in table order)",
                              .xlabel = "layer x heads + head", .ylabel = "variant"},
                             0.0, 1.0);
}

SINKCORE_DECL std::string emergence_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& name) {
  std::vector<report::line_series> series;
  for (const auto& reg : c.regimes) {
    const auto* v = detail::find(vs, name, reg);
    if (!v) continue;
    report::line_series s{reg + " mid layers"}, peak{reg + " peak layer (primary)"};
    const auto mean = mean_curve(*v), primary = mean_curve(*v, &curve_point::primary);
    for (std::size_t p = 0; p < mean.size(); ++p) {
      s.x.push_back(double(v->runs[0].curve[p].tokens));
      s.y.push_back(mean[p]);
      if (!std::isnan(primary[p])) {
        peak.x.push_back(s.x.back());
        peak.y.push_back(primary[p]);
      }
    }
    series.push_back(s);
    if (!peak.x.empty()) series.push_back(peak);
  }
  const double chance = detail::first_chance(vs);
  report::chart_options co{.title = "Emergence: " + name + " (mean over seeds)", .xlabel = "tokens seen",
                           .ylabel = "BOS attention (T = " + std::to_string(c.metric_T()) + ")"};
  co.y_min = 0;
  co.hlines = {{"chance", chance}, {"5 x chance", 5 * chance}};
  return report::line_chart_svg(series, co);
}

// ---- report.md sections ----------------------------------------------------------------------------------

SINKCORE_DECL std::string header_section(const report_context& c) {
  const budget& b = c.plan;
  std::ostringstream md;
  md << "# " << c.title << " (budget `" << b.name << "`)\n\n";
  md << "Every variant trained from scratch on `" << c.train_corpus << "` (byte level) for " << b.steps << " steps of "
     << b.batch << " x " << b.context << " tokens (" << report::fmt(double(b.tokens_per_run()) / 1e6, 3)
     << "M tokens per run), lr " << b.lr << ", weight decay " << b.weight_decay << ", " << b.seeds
     << " seeds (a seed fixes the initialisation and the data order, the same for every variant). Regimes: `gpt2` "
        "(random windows, position 0 holds an arbitrary byte) and `bos` (every window starts with byte 0).\n\n";
  if (std::find(c.regimes.begin(), c.regimes.end(), "gpt2") == c.regimes.end())
    md << "GPT-2's regime (no BOS) is not run at this budget: on these tiny models it grows no sink within a budget of "
          "this size (docs/experiments.md); `--regimes gpt2,bos` adds it.\n\n";
  return md.str();
}

SINKCORE_DECL std::string metric_section(const std::vector<variant_summary>& vs, const report_context& c) {
  const budget& b = c.plan;
  std::ostringstream md;
  md << "**Metric** (`bos_metric`): the paper's BOS attention, attention of the second-half queries to key 0, "
        "averaged over heads and the mid layers (layer_range::mid), at T = "
     << c.metric_T() << " on " << b.eval_windows << " held-out windows of `" << c.train_corpus
     << "`; chance (uniform causal attention) = " << report::fmt(detail::first_chance(vs), 4)
     << ". `ctx`: the same at the training context. **Sink_1^0.3** (Gu et al.): fraction of (layer, head), all layers, "
        "whose mean attention to the first token (Gu's k = 1, key 0 here) exceeds 0.3, at T = "
     << c.sink_T()
     << ". Errors are ± 2 standard errors over seeds. Verdict per row: `clear-sink` if mean − 2 SE ≥ 5 × chance, "
        "`above-chance` if mean − 2 SE > chance, else `not-above-chance`"
     << (b.seeds < 2 ? " (with one seed there is no standard error: the verdict uses the mean alone, and no "
                       "difference between variants is called significant)"
                     : "")
     << ".\n\n**Primary measure** (`" << primary_measure
     << "`, chosen before the results): the same BOS attention on each run's strongest layer (`peak_layer`), because a "
        "tiny model grows its sink in whichever layer its seed favours and a fixed mid layer misses those that grow it "
        "elsewhere. Its chance level is the same statistic (a maximum over layers) of the untrained model on the same "
        "windows, not the uniform value. A seed *has a sink* when its primary measure is at least 5 × that chance. "
        "Variants are compared with the baseline (`"
     << (c.names.empty() ? "" : c.names[0])
     << "`) seed by seed: a seed gives every variant the same initialisation stream and data order. **Verdict rule:** "
     << detail::verdict_rule << "\n\n";
  return md.str();
}

SINKCORE_DECL std::string peak_interventions_section(const std::vector<variant_summary>& vs, const report_context& c,
                                                     const std::string& reg) {
  using report::fmt;
  static constexpr const char* ids[] = {"b", "c", "d", "e", "f", "i", "j"};
  report::table t{{"variant", "peak layer per seed", "a (unmodified)"}};
  for (const char* id : ids) t.header.push_back(std::string(id) + " %");
  bool any = false;
  for (const auto& n : c.names) {
    const auto* v = detail::find(vs, n, reg);
    if (!v) continue;
    std::map<std::string, double> mean;  // id -> mean over seeds of the peak-layer metric
    std::set<std::string> applies;
    bool measured = true;
    for (const auto& r : v->runs)
      for (const auto& x : r.interventions)
        if (x.applies) {
          applies.insert(x.id);
          measured = measured && !std::isnan(x.peak_layer_metric);
          mean[x.id] += x.peak_layer_metric / double(v->runs.size());
        }
    if (!measured || !applies.count("a")) continue;
    any = true;
    std::vector<std::string> row{n, detail::peak_layers(*v), fmt(mean["a"], 4)};
    for (const char* id : ids)
      row.push_back(applies.count(id) && mean["a"] > 0 ? fmt(100 * mean[id] / mean["a"], 1) : "–");
    t.add(row);
  }
  if (!any) return {};
  if (c.published.about("gpt2-small")) {
    const double a = c.published.get("all", "a").first;
    std::vector<std::string> row{"GPT-2 small (published)", "mid 3-10", fmt(a, 4)};
    for (const char* id : ids) {
      const double x = c.published.get("all", id).first;
      row.push_back(std::isnan(x) || !(a > 0) ? "–" : fmt(100 * x / a, 1));
    }
    t.add(row);
  }
  std::ostringstream md;
  md << "The same interventions read on each run's **peak layer** (the unmodified model's strongest layer, chosen on "
        "the metric's windows, measured here on the intervention windows): `a` is the metric there, the others are a "
        "percentage of `a` (mean over seeds of each, then the ratio). The paper's question is whether removing b "
        "(b_Q), c (p_0), d (EPE_0's direction) or i (W_K's top-3 EPE_0 inputs) moves the sink, and the controls e, f, j "
        "do not"
     << (c.published.about("gpt2-small") ? "; GPT-2 small's published values are the last row" : "") << ".\n\n"
     << t.markdown() << "\n";
  return md.str();
}

SINKCORE_DECL std::string regime_section(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg) {
  using report::fmt;
  std::ostringstream md;
  md << "## Regime `" << reg << "`\n\n![primary](fig_primary_" << reg << ".svg)\n\n";
  report::table pt{{"variant", "primary [95 % t interval, within 0-1]", "chance", "seeds with a sink", "peak layer per seed", "sink heads",
                    "paper metric ± 2SE", "Δ vs baseline [95 % CI]", "verdict"}};
  for (const auto& n : c.names)
    if (const auto* v = detail::find(vs, n, reg)) {
      double heads = 0;
      for (const auto& r : v->runs) heads += double(r.sink_heads) / double(v->runs.size());
      pt.add({n, detail::ci95(v->primary), fmt(v->primary_chance, 4),
              std::to_string(v->primary_sink_seeds) + " of " + std::to_string(v->runs.size()), detail::peak_layers(*v),
              fmt(heads, 2), detail::pm2(v->metric), detail::paired_text(*v), v->verdict});
    }
  md << pt.markdown() << "\n`sink heads`: heads whose attention to position 0 (the paper's per-head quantity) exceeds 0.3, "
                         "mean over seeds.\n\nThe paper's metric alone (mid layers): ![metric](fig_metric_" << reg << ".svg)\n\n";
  report::table t{{"variant", "metric ± 2SE", "× chance", "all layers", "ctx ± 2SE", "Sink_1^0.3"}};
  for (const auto& d : c.corpora) t.header.push_back("loss " + d);
  t.header.push_back("paper-metric verdict");
  for (const auto& n : c.names)
    if (const auto* v = detail::find(vs, n, reg)) {
      std::vector<std::string> row{n, detail::pm2(v->metric), fmt(v->ratio(), 2), fmt(v->metric_all.mean, 4),
                                   detail::pm2(v->metric_ctx), detail::pm2(v->sink, 3)};
      for (const auto& d : c.corpora) row.push_back(v->loss.count(d) ? fmt(v->loss.at(d).mean, 3) : "");
      row.push_back(v->bos_metric_verdict);
      t.add(row);
    }
  md << t.markdown() << "\nPer head (rows in table order, columns layer × " << (vs.empty() ? 0 : vs[0].heads)
     << " + head): ![heads](fig_heads_" << reg << ".svg)\n\n";
  report::table iv{{"variant", "a", "b", "c", "d", "e", "f", "i", "j", "ΔCE b", "ΔCE c", "ΔCE d", "ΔCE i"}};
  for (const auto& n : c.names) {
    const auto* v = detail::find(vs, n, reg);
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
  md << "Interventions (Table 1 ids; metric as above on " << c.plan.intervention_windows
     << " windows, mean over seeds; ΔCE: next-token cross-entropy minus the unmodified model's, nats; –: the "
        "component does not exist): see `interventions.csv` for standard errors.\n\n"
     << iv.markdown() << "\n" << peak_interventions_section(vs, c, reg);
  return md.str();
}

SINKCORE_DECL std::string destinations_section(const std::vector<variant_summary>& vs, const report_context& c) {
  using report::fmt;
  std::ostringstream md;
  md << "## Where the attention went\n\nSecond-half queries, mid layers, the metric's windows and T; mean ± 2 SE over "
        "seeds. `position 0` is the metric above; `slot`: the extra key/value slot of a sink token or key-value bias; "
        "`nothing`: the \"+1\" of softmax + 1 (1 − the rest; – under sigmoid attention, whose rows need not sum to 1); "
        "`entropy` (nats) of each row over keys, slot and nothing (sigmoid rows normalised first). `loss`: held-out "
        "next-token loss on `"
     << c.train_corpus << "` at the training context, `Δ loss` against `" << (c.names.empty() ? "" : c.names[0])
     << "` (the cost). `destinations.csv` has the numbers.\n\n";
  for (const auto& reg : c.regimes) {
    const variant_summary* base = c.names.empty() ? nullptr : detail::find(vs, c.names[0], reg);
    report::table t{{"variant", "position 0", "positions ≥ 1", "slot", "nothing", "entropy", "loss", "Δ loss"}};
    for (const auto& n : c.names) {
      const auto* v = detail::find(vs, n, reg);
      if (!v) continue;
      const auto loss = v->loss.find(c.train_corpus);
      std::string l = "–", dl = "–";
      if (loss != v->loss.end()) {
        l = fmt(loss->second.mean, 4);
        if (base && base->loss.count(c.train_corpus)) {
          const auto& bl = base->loss.at(c.train_corpus);
          dl = (loss->second.mean >= bl.mean ? "+" : "") + fmt(loss->second.mean - bl.mean, 4) + " ± " +
               fmt(2 * std::sqrt(loss->second.se * loss->second.se + bl.se * bl.se), 4);
        }
      }
      t.add({n, detail::pm2(v->metric, 3), detail::pm2(v->mass_rest, 3), detail::pm2(v->mass_slot, 3),
             detail::pm2_or_dash(v->mass_null), detail::pm2(v->entropy, 3), l, dl});
    }
    md << "Regime `" << reg << "`:\n\n" << t.markdown() << "\n";
  }
  return md.str();
}

SINKCORE_DECL std::string emergence_section(const report_context& c) {
  std::ostringstream md;
  md << "## Emergence\n\nThe metric against tokens seen (mean over seeds), both regimes; `emergence.csv` has every "
        "seed.\n\n";
  for (const auto& n : c.names) md << "![" << n << "](fig_emergence_" << detail::safe_file_name(n) << ".svg)\n";
  return md.str();
}

SINKCORE_DECL std::string circuit_section(const std::vector<variant_summary>& vs, const report_context& c) {
  std::ostringstream md;
  md << "\n## Circuit statistics\n\n`circuit.csv`: per run, where b_Q, a linear W_K and no rotation exist: the "
        "median min-shifted source-agnostic shift Δ at key 0 vs the largest median at any other key (mid layers); "
        "with learned positions and a first MLP also the massive EPE_0 coordinates, mean γ on them vs elsewhere, "
        "and cos(b_Q, W_K EPE_0) vs other positions.\n\n";
  report::table t{{"variant", "regime", "Δ key 0", "Δ other max", "γ massive", "γ other", "cos EPE_0", "cos other"}};
  for (const auto& v : vs) {
    if (!v.runs[0].circuit.applies) continue;
    std::vector<std::string> row{v.variant, v.regime};
    for (auto& cell : detail::circuit_means(v)) row.push_back(std::move(cell));
    t.add(std::move(row));
  }
  md << t.markdown() << "\n";
  // The same on each run's peak layer.
  report::table pt{{"variant", "regime", "peak layer per seed", "Δ key 0", "Δ other max", "γ massive", "γ other", "cos EPE_0",
                    "cos other"}};
  for (const auto& v : vs) {
    if (!v.runs[0].circuit.applies || !v.runs[0].circuit.peak_layer) continue;
    std::vector<std::string> row{v.variant, v.regime, detail::peak_layers(v)};
    for (auto& cell : detail::circuit_means(v, "peak_layer")) row.push_back(std::move(cell));
    pt.add(std::move(row));
  }
  if (pt.rows.empty()) return md.str();
  if (c.published.about("gpt2-small") && !std::isnan(c.published.gamma_massive))
    pt.add({"GPT-2 small (published)", "gpt2", "mid 3-10", "–", "–", report::fmt(c.published.gamma_massive, 3),
            report::fmt(c.published.gamma_other, 3), "–", "–"});
  md << "On each run's peak layer alone (mean over seeds):\n\n" << pt.markdown() << "\n";
  return md.str();
}

SINKCORE_DECL std::string verdict_section(const std::vector<variant_summary>& vs, const report_context& c) {
  using report::fmt;
  std::ostringstream md;
  md << "## Verdict\n\n";
  const double chance = detail::first_chance(vs);
  const std::string baseline = c.names.empty() ? "" : c.names[0];
  md << "On the primary measure (rule above):\n\n";
  for (const auto& reg : c.regimes) {
    const auto* base = detail::find(vs, baseline, reg);
    if (!base) continue;
    md << "- Regime `" << reg << "`: the baseline `" << baseline << "` has a sink (primary ≥ 5 × chance " << fmt(base->primary_chance, 4)
       << ") in " << base->primary_sink_seeds << " of " << base->runs.size() << " seeds (" << detail::ci95(base->primary)
       << ", " << fmt(base->primary_ratio(), 2) << " × chance; peak layer per seed " << detail::peak_layers(*base) << ")"
       << (base->primary_sink_seeds == base->runs.size()
               ? ", so the study can test each component."
               : ": not in every seed, so a `removed` verdict is not given and the comparisons are weaker.")
       << "\n";
    std::map<std::string, std::string> by_verdict;
    for (const auto& n : c.names)
      if (const auto* v = detail::find(vs, n, reg); v && n != baseline) {
        auto& into = by_verdict[v->verdict];
        into += (into.empty() ? "" : "; ") + detail::short_name(n) + " " + detail::paired_text(*v);
      }
    for (const char* k : {"removed", "weakened", "sink kept", "no detectable difference", "strengthened"})
      if (by_verdict.count(k)) md << "  - " << k << ": " << by_verdict[k] << "\n";
  }
  md << "\nOn the paper's mid-layer metric:\n\n";
  for (const auto& reg : c.regimes) {
    std::vector<const variant_summary*> clear, above, none;
    for (const auto& n : c.names)
      if (const auto* v = detail::find(vs, n, reg))
        (v->bos_metric_verdict == "clear-sink" ? clear : v->bos_metric_verdict == "above-chance" ? above : none).push_back(v);
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
    const auto* base = detail::find(vs, baseline, reg);
    if (!base) continue;
    if (base->bos_metric_verdict == "clear-sink") {
      md << "  - The baseline `" << baseline << "` has a clear sink here, so the study can test each component: ";
      std::string kept, lost;
      for (const auto& n : c.names) {
        if (n == baseline) continue;
        const auto* v = detail::find(vs, n, reg);
        if (!v) continue;
        std::string& into = v->bos_metric_verdict == "clear-sink" ? kept : lost;
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
    if (!base->runs.empty() && base->runs[0].curve.size() >= 2) {
      const auto curve = mean_curve(*base);
      const auto peak = std::max_element(curve.begin(), curve.end());
      md << "  - Emergence (baseline, curve windows): " << fmt(curve.front(), 4) << " at initialisation, peak " << fmt(*peak, 4)
         << " after " << base->runs[0].curve[std::size_t(peak - curve.begin())].tokens << " tokens, " << fmt(curve.back(), 4)
         << " at the end (" << base->runs[0].curve.back().tokens << " tokens).\n";
    }
    std::string falling;
    for (const auto& n : c.names)
      if (const auto* v = detail::find(vs, n, reg); v && v->runs[0].curve.size() >= 3) {
        const auto curve = mean_curve(*v);
        const double peak = *std::max_element(curve.begin(), curve.end());
        if (peak >= 5 * chance && curve.back() < 0.8 * peak)
          falling += (falling.empty() ? "" : ", ") + n + " (peak " + fmt(peak, 3) + " → " + fmt(curve.back(), 3) + ")";
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
  md << "- Scale: each run saw " << report::fmt(double(c.plan.tokens_per_run()) / 1e6, 3)
     << "M tokens; GPT-2 small's metric passed 0.2 only after about 0.5B tokens (notes), so the absence of a sink "
        "at this budget is weak evidence about the components.\n";
  return md.str();
}

SINKCORE_DECL std::string report_markdown(const std::vector<variant_summary>& vs, const report_context& c) {
  std::string md = header_section(c) + metric_section(vs, c);
  for (const auto& reg : c.regimes) md += regime_section(vs, c, reg);
  md += destinations_section(vs, c);
  md += emergence_section(c);
  md += circuit_section(vs, c);
  md += verdict_section(vs, c);
  return md;
}

SINKCORE_DECL void write_study_report(const std::vector<variant_summary>& vs, const budget& b, const fs::path& out,
                                      const std::string& train_corpus_name, const std::vector<std::string>& domain_names,
                                      const std::string& title) {
  const report_context c = make_report_context(vs, b, train_corpus_name, domain_names, title);
  auto write = [&](const std::string& name, const std::string& text) { report::write_text_atomically(out / name, text); };
  write("results.json", results_json(vs, c).dump(1) + "\n");
  write("variants.csv", variants_table(vs, c.corpora).csv());
  write("runs.csv", runs_table(vs, c).csv());
  write("emergence.csv", emergence_table(vs).csv());
  write("heads.csv", heads_table(vs).csv());
  write("interventions.csv", interventions_table(vs).csv());
  write("circuit.csv", circuit_table(vs).csv());
  write("destinations.csv", destinations_table(vs).csv());
  for (const auto& reg : c.regimes) {
    write("fig_metric_" + reg + ".svg", metric_figure(vs, c, reg));
    write("fig_primary_" + reg + ".svg", primary_figure(vs, c, reg));
    if (const auto svg = heads_figure(vs, c, reg); !svg.empty()) write("fig_heads_" + reg + ".svg", svg);
  }
  for (const auto& n : c.names) write("fig_emergence_" + detail::safe_file_name(n) + ".svg", emergence_figure(vs, c, n));
  write("report.md", report_markdown(vs, c));
}

}  // namespace sinkcore::study
