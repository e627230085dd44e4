#pragma once
/// @file result.hpp
/// What a run of the study measured (run_result), as a plain struct, and the one table of its fields from
/// which every file the study writes is made: a run's result.json, the seeds of results.json, runs.csv.
/// A field is named once here; adding a measure is a member and a row of `run_fields`.
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "../report/tables.hpp"

namespace sinkcore::study {

/// The study's primary measure, chosen before any result was looked at (docs/experiments.md): the paper's
/// BOS metric (second-half queries, T = metric_length, mean over heads) on the run's strongest layer. A tiny
/// model grows its sink in whichever layer a seed favours, so the paper's fixed mid layer misses some seeds;
/// the peak layer does not. Its chance level is the same statistic on the untrained model (`primary_chance`).
inline constexpr std::string_view primary_measure = "peak_layer_metric";

/// One point of the emergence curve.
struct curve_point {
  std::uint64_t step = 0, tokens = 0;
  double bos_metric = 0, bos_metric_all = 0, bos_metric_ctx = 0, loss = 0;
  double primary = 0;  ///< the primary measure on the curve's windows
};

/// One intervention's effect on one run (T = metric_length, training distribution): the paper's metric
/// (mid scope), the same quantity on the run's peak layer (`peak_layer_metric`: the unmodified model's
/// strongest layer, run_result::peak_layer; NaN in results written before it existed), Sink_0^0.3 and
/// the next-token cross-entropy.
struct intervention_result {
  std::string id, name;
  bool applies = false;
  std::string reason;
  double bos_metric = 0, sink = 0, cross_entropy = 0;
  double peak_layer_metric = std::nan("");
};

/// The paper's circuit statistics of a trained model (run.hpp circuit_statistics), where its components exist.
/// `mid` pools the paper's mid layers, `peak` is the same on the run's peak layer alone (`peak_layer`); their
/// keys: shift_median_key0 and shift_median_other_max (the source-agnostic shift Delta at key 0 and the
/// largest median at any other key), with learned positions and a first MLP also gamma_massive, gamma_other,
/// cos_bq_key_epe0 and cos_bq_key_epe_other. In a run's result.json: {"applies", "reason",
/// "massive_coordinates", the keys of `mid`, "peak_layer": {"layer", the keys of `peak`}}.
struct circuit_stats {
  bool applies = false;
  std::string reason;
  std::optional<std::vector<std::size_t>> massive_coordinates;  ///< of EPE_0, with learned positions and a first MLP
  std::map<std::string, double> mid;
  std::optional<std::size_t> peak_layer;
  std::map<std::string, double> peak;
  /// The statistics of one scope: `mid`, or with sub "peak_layer" the peak layer's (null when there is none).
  const std::map<std::string, double>* scope(std::string_view sub = {}) const {
    if (sub.empty()) return &mid;
    return sub == "peak_layer" && peak_layer ? &peak : nullptr;
  }
};

/// Everything one run measured.
struct run_result {
  std::string variant, regime;
  std::uint64_t seed = 0, steps = 0, tokens = 0;
  std::uint64_t diverged_at = 0;        ///< 0: trained to the end; else the step whose update was refused
  std::size_t layers = 0, heads = 0, context = 0, metric_length = 0, sink_length = 0;
  double chance = 0, chance_ctx = 0;    ///< uniform causal attention at metric_length / context
  double bos_metric = 0, bos_metric_all = 0, bos_metric_ctx = 0, sink = 0;
  double mass_rest = 0, mass_slot = 0, mass_null = 0, entropy = 0;  ///< attention_destinations, mid scope, T = metric_length
  std::map<std::string, double> loss;        ///< corpus -> nats per token (nl, math, code and the training corpus)
  std::map<std::string, double> bos_by_corpus;  ///< corpus -> bos_metric on that corpus
  std::vector<double> by_layer;              ///< [layer] BOS attention, T = metric_length, all heads
  std::vector<double> by_head;               ///< [layer * heads + head], the paper's per-head quantity
  std::vector<double> by_head_sink;          ///< [layer * heads + head] Gu's alpha (mean attention to key 0), T = sink_length
  std::size_t peak_layer = 0;                ///< argmax of by_layer (the first on ties)
  double peak_layer_metric = 0;              ///< by_layer[peak_layer]
  std::size_t sink_heads = 0;                ///< heads whose by_head exceeds 0.3
  double primary = 0;                        ///< the primary measure (= peak_layer_metric)
  double primary_chance = 0;                 ///< the primary measure of the untrained model (same seed, same windows)
  std::vector<curve_point> curve;
  std::vector<intervention_result> interventions;
  circuit_stats circuit;                     ///< circuit statistics where they apply
  double train_seconds = 0;
};

// ---- the field table -----------------------------------------------------------------------------------

/// Where a field appears: the run's own result.json (every field), the seeds of results.json, runs.csv.
enum field_use : unsigned { in_run_json = 1, in_seeds_json = 2, in_runs_csv = 4 };

template <class T>
struct field {
  std::string_view name;
  T run_result::*member;
  unsigned use;
  int digits = 6;  ///< CSV digits for doubles
};

/// Every field of run_result, in runs.csv's column order (JSON objects are key-sorted anyway). Per-corpus
/// maps become one CSV column per corpus (`loss_nl`, ...; runs.csv lists losses, then bos_metric per corpus).
inline constexpr auto run_fields = std::make_tuple(
    field<std::string>{"variant", &run_result::variant, in_run_json | in_runs_csv},
    field<std::string>{"regime", &run_result::regime, in_run_json | in_runs_csv},
    field<std::uint64_t>{"seed", &run_result::seed, in_run_json | in_seeds_json | in_runs_csv},
    field<std::uint64_t>{"steps", &run_result::steps, in_run_json | in_seeds_json | in_runs_csv},
    field<std::uint64_t>{"tokens", &run_result::tokens, in_run_json | in_seeds_json | in_runs_csv},
    field<std::uint64_t>{"diverged_at", &run_result::diverged_at, in_run_json | in_seeds_json | in_runs_csv},
    field<std::size_t>{"layers", &run_result::layers, in_run_json},
    field<std::size_t>{"heads", &run_result::heads, in_run_json},
    field<std::size_t>{"context", &run_result::context, in_run_json},
    field<std::size_t>{"metric_length", &run_result::metric_length, in_run_json},
    field<std::size_t>{"sink_length", &run_result::sink_length, in_run_json},
    field<double>{"chance", &run_result::chance, in_run_json | in_runs_csv},
    field<double>{"bos_metric", &run_result::bos_metric, in_run_json | in_seeds_json | in_runs_csv},
    field<double>{"bos_metric_all", &run_result::bos_metric_all, in_run_json | in_seeds_json | in_runs_csv},
    field<double>{"bos_metric_ctx", &run_result::bos_metric_ctx, in_run_json | in_seeds_json | in_runs_csv},
    field<double>{"chance_ctx", &run_result::chance_ctx, in_run_json | in_runs_csv},
    field<double>{"sink_0.3", &run_result::sink, in_run_json | in_seeds_json | in_runs_csv},
    field<std::size_t>{"peak_layer", &run_result::peak_layer, in_run_json | in_seeds_json | in_runs_csv},
    field<double>{"peak_layer_metric", &run_result::peak_layer_metric, in_run_json | in_seeds_json | in_runs_csv},
    field<std::size_t>{"sink_heads", &run_result::sink_heads, in_run_json | in_seeds_json | in_runs_csv},
    field<double>{"primary", &run_result::primary, in_run_json | in_seeds_json | in_runs_csv},
    field<double>{"primary_chance", &run_result::primary_chance, in_run_json | in_seeds_json | in_runs_csv},
    field<double>{"mass_rest", &run_result::mass_rest, in_run_json | in_seeds_json},
    field<double>{"mass_slot", &run_result::mass_slot, in_run_json | in_seeds_json},
    field<double>{"mass_null", &run_result::mass_null, in_run_json | in_seeds_json},
    field<double>{"entropy", &run_result::entropy, in_run_json | in_seeds_json},
    field<std::map<std::string, double>>{"loss", &run_result::loss, in_run_json | in_seeds_json | in_runs_csv},
    field<std::map<std::string, double>>{"bos_metric", &run_result::bos_by_corpus, in_runs_csv},
    field<std::map<std::string, double>>{"bos_by_corpus", &run_result::bos_by_corpus, in_run_json | in_seeds_json},
    field<std::vector<double>>{"by_layer", &run_result::by_layer, in_run_json},
    field<std::vector<double>>{"by_head", &run_result::by_head, in_run_json},
    field<std::vector<double>>{"by_head_sink", &run_result::by_head_sink, in_run_json},
    field<std::vector<curve_point>>{"curve", &run_result::curve, in_run_json},
    field<std::vector<intervention_result>>{"interventions", &run_result::interventions, in_run_json},
    field<circuit_stats>{"circuit", &run_result::circuit, in_run_json},
    field<double>{"train_seconds", &run_result::train_seconds, in_run_json | in_runs_csv, 1});

template <class F>
void for_each_field(F&& f) {
  std::apply([&](const auto&... fs) { (f(fs), ...); }, run_fields);
}

/// The fields marked `use`, as a JSON object (in_run_json: a run's result.json; in_seeds_json: results.json).
SINKCORE_DECL nlohmann::json to_json(const run_result& r, unsigned use = in_run_json);
/// Inverse of to_json(r, in_run_json); a missing double is NaN (older files lack newer measures).
SINKCORE_DECL run_result run_result_from_json(const nlohmann::json& j);

/// runs.csv: the header (per-corpus maps expand to `<name>_<corpus>` over `corpora`) and one row per run.
inline std::vector<std::string> runs_csv_header(const std::vector<std::string>& corpora) {
  std::vector<std::string> h;
  for_each_field([&](const auto& f) {
    if (!(f.use & in_runs_csv)) return;
    using T = std::remove_reference_t<decltype(std::declval<run_result&>().*f.member)>;
    if constexpr (std::is_same_v<T, std::map<std::string, double>>)
      for (const auto& c : corpora) h.push_back(std::string(f.name) + "_" + c);
    else
      h.push_back(std::string(f.name));
  });
  return h;
}
inline std::vector<std::string> runs_csv_row(const run_result& r, const std::vector<std::string>& corpora) {
  std::vector<std::string> row;
  for_each_field([&](const auto& f) {
    if (!(f.use & in_runs_csv)) return;
    const auto& v = r.*f.member;
    using T = std::remove_cvref_t<decltype(v)>;
    if constexpr (std::is_same_v<T, std::map<std::string, double>>)
      for (const auto& c : corpora) row.push_back(v.count(c) ? report::fmt(v.at(c), f.digits) : "");
    else if constexpr (std::is_same_v<T, double>)
      row.push_back(report::fmt(v, f.digits));
    else if constexpr (std::is_same_v<T, std::string>)
      row.push_back(v);
    else if constexpr (std::is_integral_v<T>)
      row.push_back(std::to_string(v));
    else
      throw error("runs.csv: field '" + std::string(f.name) + "' has no CSV form");
  });
  return row;
}

}  // namespace sinkcore::study

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/result.ipp"
#endif
