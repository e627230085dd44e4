#pragma once
/// @file report.hpp
/// The study's files, rendered from its summaries (summary.hpp) and nothing else: no training and no
/// forward pass happens here. One function per file, figure and report section; write_study_report calls
/// them all. The files:
///
/// | file                         | content                                                              |
/// |------------------------------|----------------------------------------------------------------------|
/// | results.json                 | budget, then per (variant, regime): chance, metric mean/SE, every seed |
/// | variants.csv                 | one row per (variant, regime): the summary over seeds, and the verdict |
/// | runs.csv                     | one row per run (variant, regime, seed)                               |
/// | emergence.csv                | every curve point of every run                                        |
/// | heads.csv                    | BOS attention per (variant, regime, layer, head), mean over seeds     |
/// | interventions.csv            | per (variant, regime, intervention): metric (mid and peak layer) and cross-entropy cost |
/// | circuit.csv                  | the circuit statistics per run (where they apply), mid layers and peak layer |
/// | destinations.csv             | where the attention went: position 0, positions >= 1, extra slot, "nothing", entropy |
/// | fig_metric_<regime>.svg      | the metric per variant, mean with a 2-SE interval clipped to [0, 1], the chance line |
/// | fig_primary_<regime>.svg     | the primary measure per variant, mean with its 95 % t interval in [0, 1], its chance |
/// | fig_heads_<regime>.svg       | heatmap: variants x (layer, head) attention to position 0             |
/// | fig_emergence_<variant>.svg  | the metric and the primary measure against tokens seen, mean over seeds |
/// | report.md                    | all of it, ending with a verdict computed from the numbers            |
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../report/published.hpp"
#include "../report/svg.hpp"
#include "../report/tables.hpp"
#include "budget.hpp"
#include "summary.hpp"

namespace sinkcore::study {

namespace fs = std::filesystem;

/// What a report is about besides its summaries.
struct report_context {
  const budget& plan;
  std::string train_corpus;               ///< the training corpus's name
  std::vector<std::string> corpora;       ///< the training corpus, then the other held-out domains
  std::string title = "Dispensability study";
  std::vector<std::string> regimes, names;  ///< in the summaries' order
  report::published_numbers published{};  ///< GPT-2 small's published values, shown beside ours (may be empty)
  std::size_t metric_T() const { return std::min(plan.metric_length, plan.context); }
  std::size_t sink_T() const { return std::min(plan.sink_length, plan.context); }
};

namespace detail {
/// "tiny.no-qbias" -> "no-qbias"; the zoo's first member (its baseline) -> "baseline".
SINKCORE_DECL std::string short_name(const std::string& variant);
}  // namespace detail

/// The regimes and variant names of the summaries, in order of appearance.
SINKCORE_DECL report_context make_report_context(const std::vector<variant_summary>& vs, const budget& b, std::string train_corpus,
                                                 std::vector<std::string> corpora, std::string title);

// ---- data files ------------------------------------------------------------------------------------------

SINKCORE_DECL nlohmann::json results_json(const std::vector<variant_summary>& vs, const report_context& c);

SINKCORE_DECL report::table runs_table(const std::vector<variant_summary>& vs, const report_context& c);

SINKCORE_DECL report::table emergence_table(const std::vector<variant_summary>& vs);

SINKCORE_DECL report::table heads_table(const std::vector<variant_summary>& vs);

/// Per (variant, regime, intervention), summarised over seeds: per seed the metric, and the cross-entropy
/// minus that seed's unmodified model's.
SINKCORE_DECL report::table interventions_table(const std::vector<variant_summary>& vs);

SINKCORE_DECL report::table circuit_table(const std::vector<variant_summary>& vs);

/// destinations.csv: per (variant, regime), where the attention of the second-half queries went (mid layers,
/// T = metric_length), mean and SE over seeds (run.hpp, metrics.hpp attention_destinations).
SINKCORE_DECL report::table destinations_table(const std::vector<variant_summary>& vs);

// ---- figures ---------------------------------------------------------------------------------------------

/// The metric per variant in one regime: the mean, and the 2-SE interval clipped to [0, 1] (the metric is a
/// probability; a symmetric interval would reach below 0 for small means).
SINKCORE_DECL std::string metric_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg);

/// The primary measure per variant in one regime: the mean over seeds with its 95 % t interval (within
/// [0, 1]), the chance level of the same statistic and 5 x it.
SINKCORE_DECL std::string primary_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg);

/// Variants x (layer, head): attention to position 0, mean over seeds.
SINKCORE_DECL std::string heads_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg);

/// One variant's metric against tokens seen, each regime a line (mean over seeds).
SINKCORE_DECL std::string emergence_figure(const std::vector<variant_summary>& vs, const report_context& c, const std::string& name);

// ---- report.md sections ----------------------------------------------------------------------------------

SINKCORE_DECL std::string header_section(const report_context& c);

SINKCORE_DECL std::string metric_section(const std::vector<variant_summary>& vs, const report_context& c);

/// The interventions on each run's own peak layer (where a tiny model's sink sits, which the paper's mid
/// layers may miss), as a percentage of the unmodified model's value there, beside GPT-2 small's published
/// Table 1 (mid layers 3-10, where its sink sits) when the published numbers were found.
SINKCORE_DECL std::string peak_interventions_section(const std::vector<variant_summary>& vs, const report_context& c,
                                                     const std::string& reg);

/// A regime's table of variants, its head map and its interventions.
SINKCORE_DECL std::string regime_section(const std::vector<variant_summary>& vs, const report_context& c, const std::string& reg);

/// Where the attention went: per regime and variant the mass on position 0, on positions >= 1, on the extra
/// slot and on "nothing", the row entropy, and the held-out loss with its difference to the baseline (the
/// first variant): the cost of a mitigation.
SINKCORE_DECL std::string destinations_section(const std::vector<variant_summary>& vs, const report_context& c);

SINKCORE_DECL std::string emergence_section(const report_context& c);

SINKCORE_DECL std::string circuit_section(const std::vector<variant_summary>& vs, const report_context& c);

/// The verdict, computed from the numbers: per regime which variants have a clear sink, whether the baseline
/// has one to lose, which variants differ from it, the emergence and transient sinks.
SINKCORE_DECL std::string verdict_section(const std::vector<variant_summary>& vs, const report_context& c);

/// report.md: every section in order.
SINKCORE_DECL std::string report_markdown(const std::vector<variant_summary>& vs, const report_context& c);

/// Writes results.json, the CSVs, the figures and report.md for summarised results (each file atomically).
SINKCORE_DECL void write_study_report(const std::vector<variant_summary>& vs, const budget& b, const fs::path& out,
                                      const std::string& train_corpus_name, const std::vector<std::string>& domain_names,
                                      const std::string& title = "Dispensability study");

}  // namespace sinkcore::study

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/report.ipp"
#endif
