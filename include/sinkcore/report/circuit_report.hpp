#pragma once
/// @file circuit_report.hpp
/// The paper's study on one model and one set of inputs (interp/circuit_analysis.hpp computes it), rendered
/// as CSV + SVG + a Markdown report laid out like Ran-Milo et al. 2026's Table 1 and Figures 1-5 (what
/// `sinklab circuit` runs), with the paper's published numbers beside ours: those come from a data file
/// read at run time (data/paper_published.json, installed to share/sinkcore; report/published.hpp).
///
/// Files written into `out` (each atomically):
/// | file                              | content                                                              |
/// |-----------------------------------|----------------------------------------------------------------------|
/// | interventions.csv                 | dataset,intervention,n,mean,stderr: BOS attention, mid scope          |
/// | interventions_all_layers.csv      | the same over all layers                                              |
/// | cross_entropy.csv                 | dataset,intervention,n,mean,stderr,delta: next-token loss (nats)       |
/// | sink_rate.csv                     | dataset,intervention,n,mean,stderr: Sink_0^0.3 (Gu et al.), all layers |
/// | bos_by_layer.csv, bos_by_head.csv | per layer (mean, stderr over inputs) and per head (mean)               |
/// | skipped.csv                       | intervention,name,code,reason for interventions that do not apply     |
/// | table1.svg                        | Table 1 as bars (mean +- 2 SE), published values as markers           |
/// | fig1_shift_percentiles.csv, fig1_shift.svg, fig1_shift_median.svg | min-shifted Delta_j by layer/position |
/// | fig2_cosines.csv, fig2_cosines.svg | cos(b_Q,h, W_K,h EPE_j), pooled over mid layers and heads           |
/// | fig3_epe_validation.csv, fig3_epe_validation.svg | median cos(N_i, EPE_i): MLP-only and full block        |
/// | fig4_massive.csv, fig4_gamma.csv, fig4_epe0.svg, fig4_gamma.svg | massive EPE_0 coordinates, mean gamma    |
/// | fig5_attention_maps.csv, fig5_<id>.svg | input 0's attention (mean over mid layers and heads) per intervention |
/// | report.md                         | all of the above, with the published numbers beside ours               |
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string_view>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <cstdlib>
#include <fstream>


#include "../interp/circuit_analysis.hpp"
#include "../interp/stats.hpp"
#include "published.hpp"
#include "svg.hpp"
#include "tables.hpp"

namespace sinkcore::report {

using sinkcore::labelled_input;

/// Inputs read from a CSV file, each cut to a fixed length.
struct input_set {
  std::vector<labelled_input> inputs;
  std::size_t dropped = 0;  ///< rows with fewer tokens than the length
};

/// Whitespace runs (space, tab, CR, LF, FF, VT) collapsed to single spaces, ends trimmed (the paper's
/// preparation of its texts).
inline std::string collapse_whitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

/// Reads a CSV with a header holding a `dataset` column and either `tokens` (space-separated ids) or
/// `text` (encoded with `encode`, a callable std::string -> std::vector<int>, after collapsing
/// whitespace). Each input is cut to `length` tokens; shorter ones are dropped (counted in `dropped`).
/// Throws sinkcore::error naming the file for a missing column or a malformed token list.
template <class Encode>
input_set read_labelled_inputs(const std::filesystem::path& path, std::size_t length, Encode&& encode) {
  const table t = read_csv(path);
  const auto ds = t.column("dataset"), tok = t.column("tokens"), text = t.column("text");
  if (!ds) throw error(path.string() + ": no 'dataset' column in the header");
  if (!tok && !text) throw error(path.string() + ": needs a 'text' or a 'tokens' column");
  input_set out;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    std::vector<int> ids;
    if (tok) {
      std::string_view v = t.rows[r][*tok];
      std::size_t i = 0;
      while (i < v.size()) {
        while (i < v.size() && v[i] == ' ') ++i;
        if (i == v.size()) break;
        std::size_t j = i;
        while (j < v.size() && v[j] != ' ') ++j;
        const std::string word(v.substr(i, j - i));
        std::size_t used = 0;
        long id = -1;
        try {
          id = std::stol(word, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != word.size() || id < 0 || id > 0x7fffffff)
          throw error(path.string() + ": record " + std::to_string(r + 2) + ": '" + word + "' is not a token id");
        ids.push_back(int(id));
        i = j;
      }
    } else {
      ids = encode(collapse_whitespace(t.rows[r][*text]));
    }
    if (ids.size() < length) {
      ++out.dropped;
      continue;
    }
    ids.resize(length);
    out.inputs.push_back({t.rows[r][*ds], std::move(ids)});
  }
  return out;
}

struct circuit_report_options {
  std::size_t batch = 16;                 ///< inputs per forward pass
  std::uint64_t seed = 0;                 ///< intervention j's generator
  std::size_t fig2_positions = 0;         ///< j = 0 .. fig2_positions-1 in Fig. 2 (0: the inputs' length)
  std::filesystem::path published_dir{};  ///< where to look for the paper's released statistics (CSV)
  std::filesystem::path published_file = data_dir() / "paper_published.json";
  std::string model_label{};              ///< e.g. the weights file, for the report's header
  std::string inputs_label{};
  std::size_t dropped_inputs = 0;         ///< inputs shorter than the length (reported)
  std::ostream* log = nullptr;            ///< progress lines, if set
};

namespace detail {
inline std::string pm(double mean, double se, int digits = 4) {
  if (std::isnan(mean)) return "";
  return fmt(mean, digits) + (std::isnan(se) ? std::string() : " ± " + fmt(2 * se, digits));
}
/// A band of the five analysis percentiles per x.
inline percentile_band band_of(const std::string& name, const std::vector<std::vector<double>>& q) {
  percentile_band b{name};
  for (const auto& v : q) {
    b.outer_lo.push_back(v[0]);
    b.inner_lo.push_back(v[1]);
    b.median.push_back(v[2]);
    b.inner_hi.push_back(v[3]);
    b.outer_hi.push_back(v[4]);
  }
  return b;
}
inline std::vector<double> positions(std::size_t n) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = double(i);
  return x;
}
}  // namespace detail

// ---- Table 1 -------------------------------------------------------------------------------------------

/// interventions.csv (mid) and interventions_all_layers.csv: BOS attention per dataset and intervention.
inline table scope_table(const circuit_analysis& a, layer_range r) {
  table t{{"dataset", "intervention", "n", "mean", "stderr"}};
  for (const auto& [name, idx] : a.groups)
    for (const auto& oc : a.outcomes) {
      if (!oc.status.applies) {
        t.add({name, oc.id, "0", "", ""});
        continue;
      }
      const auto s = oc.bos_summary(r, idx);
      t.add({name, oc.id, std::to_string(s.n), fmt(s.mean, 6), fmt(s.se, 6)});
    }
  return t;
}

/// cross_entropy.csv (with the difference to the baseline) and sink_rate.csv: a per-input measure per
/// dataset and intervention.
inline table per_input_table(const circuit_analysis& a, std::vector<double> intervention_outcome::*member, bool with_delta) {
  table t{{"dataset", "intervention", "n", "mean", "stderr"}};
  if (with_delta) t.header.push_back("delta");
  for (const auto& [name, idx] : a.groups) {
    std::vector<double> b0;
    for (std::size_t i : idx) b0.push_back((a.baseline().*member)[i]);
    for (const auto& oc : a.outcomes) {
      std::vector<std::string> row{name, oc.id, "0", "", ""};
      if (with_delta) row.push_back("");
      if (oc.status.applies) {
        std::vector<double> v;
        for (std::size_t i : idx) v.push_back((oc.*member)[i]);
        const auto s = stats::summarize(v);
        row[2] = std::to_string(s.n);
        row[3] = fmt(s.mean, 6);
        row[4] = fmt(s.se, 6);
        if (with_delta) row[5] = fmt(s.mean - stats::mean(b0), 6);
      }
      t.add(row);
    }
  }
  return t;
}

inline table by_layer_table(const circuit_analysis& a) {
  table t{{"intervention", "layer", "mean", "stderr"}};
  for (const auto& oc : a.outcomes) {
    if (!oc.status.applies) continue;
    for (std::size_t l = 0; l < a.layers; ++l) {
      std::vector<double> v;
      for (const auto& row : oc.bos_by_layer) v.push_back(row[l]);
      const auto s = stats::summarize(v);
      t.add({oc.id, std::to_string(l), fmt(s.mean, 6), fmt(s.se, 6)});
    }
  }
  return t;
}

inline table by_head_table(const circuit_analysis& a) {
  table t{{"intervention", "layer", "head", "mean"}};
  for (const auto& oc : a.outcomes) {
    if (!oc.status.applies) continue;
    for (std::size_t l = 0; l < a.layers; ++l)
      for (std::size_t h = 0; h < a.heads; ++h) t.add({oc.id, std::to_string(l), std::to_string(h), fmt(oc.bos_by_head[l][h], 6)});
  }
  return t;
}

inline table skipped_table(const circuit_analysis& a) {
  table t{{"intervention", "name", "code", "reason"}};
  for (const auto& oc : a.outcomes)
    if (!oc.status.applies) t.add({oc.id, oc.name, oc.status.code, oc.status.reason});
  return t;
}

/// table1.svg: bars (mean ± 2 SE, mid scope), the published values as markers when they are about this model.
inline std::string table1_figure(const circuit_analysis& a, const published_numbers& p) {
  const bool ours = p.about(a.arch);
  std::vector<std::string> labels;
  std::vector<double> means, errs, refs;
  for (const auto& oc : a.outcomes) {
    labels.push_back(oc.id);
    const auto s = oc.status.applies ? oc.bos_summary(a.mid) : stats::summary{0, std::nan(""), std::nan(""), std::nan("")};
    means.push_back(s.mean);
    errs.push_back(2 * s.se);
    refs.push_back(ours ? p.get("all", oc.id).first : std::nan(""));
  }
  chart_options c{.title = "BOS attention per intervention (layers " + a.mid.str() + ", mean ± 2 SE)",
                  .xlabel = "intervention", .ylabel = "attention to position 0"};
  c.y_min = 0;
  c.hlines = {{"chance " + fmt(a.chance, 4), a.chance}};
  return bar_chart_svg(labels, means, errs, c, ours ? refs : std::vector<double>{});
}

/// The Table 1 of report.md for the layers of r, with the published columns when asked.
inline std::string table1_markdown(const circuit_analysis& a, layer_range r, const published_numbers* p) {
  table t{{"id", "intervention", "BOS attention", "% of baseline"}};
  if (p) t.header.insert(t.header.end(), {"published", "published %"});
  t.header.insert(t.header.end(), {"Sink_0^0.3", "cross-entropy", "Δ cross-entropy"});
  const double b0 = a.baseline().bos_summary(r).mean;
  const double ce0 = stats::mean(a.baseline().cross_entropy);
  const double pb = p ? p->get("all", "a").first : std::nan("");
  for (const auto& oc : a.outcomes) {
    std::vector<std::string> row{oc.id, oc.name};
    if (oc.status.applies) {
      const auto s = oc.bos_summary(r);
      row.push_back(detail::pm(s.mean, s.se));
      row.push_back(fmt(100 * s.mean / b0, 1) + " %");
    } else {
      row.insert(row.end(), {"skipped: " + oc.status.code, ""});
    }
    if (p) {
      const auto [pm_, pse] = p->get("all", oc.id);
      row.push_back(detail::pm(pm_, pse));
      row.push_back(std::isnan(pm_) ? "" : fmt(100 * pm_ / pb, 1) + " %");
    }
    if (oc.status.applies) {
      row.push_back(fmt(stats::mean(oc.sink_rate), 3));
      row.push_back(fmt(stats::mean(oc.cross_entropy), 3));
      row.push_back(oc.id == "a" ? "" : (stats::mean(oc.cross_entropy) >= ce0 ? "+" : "") + fmt(stats::mean(oc.cross_entropy) - ce0, 3));
    } else {
      row.insert(row.end(), {"", "", ""});
    }
    t.add(row);
  }
  return t.markdown();
}

/// Per dataset, mid scope, with the published per-dataset values when they exist.
inline std::string per_dataset_markdown(const circuit_analysis& a, const published_numbers* p) {
  table t{{"dataset", "id", "intervention", "n", "BOS attention"}};
  if (p) t.header.push_back("published");
  for (const auto& [name, idx] : a.groups) {
    if (name == "all") continue;
    for (const auto& oc : a.outcomes) {
      std::vector<std::string> row{name, oc.id, oc.name};
      if (oc.status.applies) {
        const auto s = oc.bos_summary(a.mid, idx);
        row.push_back(std::to_string(s.n));
        row.push_back(detail::pm(s.mean, s.se));
      } else {
        row.insert(row.end(), {"0", "skipped"});
      }
      if (p) {
        const auto [pm_, pse] = p->get(name, oc.id);
        row.push_back(detail::pm(pm_, pse));
      }
      t.add(row);
    }
  }
  return t.markdown();
}

// ---- Figures 1-5 -----------------------------------------------------------------------------------------

struct rendered {
  std::vector<std::pair<std::string, std::string>> files;  ///< (name, content)
  std::string markdown;
};

inline rendered figure1(const circuit_analysis& a) {
  rendered r;
  table t{{"layer", "position", "p5", "p25", "p50", "p75", "p95"}};
  std::vector<double> median(a.layers * a.T);
  for (std::size_t l = 0; l < a.layers; ++l)
    for (std::size_t j = 0; j < a.T; ++j) {
      std::vector<std::string> row{std::to_string(l), std::to_string(j)};
      for (double v : a.shift_percentiles[l][j]) row.push_back(fmt(v, 5));
      t.add(row);
      median[l * a.T + j] = a.shift_percentiles[l][j][2];
    }
  r.files.push_back({"fig1_shift_percentiles.csv", t.csv()});
  r.files.push_back({"fig1_shift.svg", percentile_bands_svg(detail::positions(a.T), {detail::band_of("layers " + a.mid.str(), a.shift_pooled)},
                                                            {.title = "Source-agnostic shift Δ_j (min-shifted), layers " + a.mid.str(),
                                                             .xlabel = "key position j", .ylabel = "Δ_j − min Δ (5/25/50/75/95 %)"})});
  r.files.push_back({"fig1_shift_median.svg", heatmap_svg(median, a.layers, a.T, {.title = "Median min-shifted Δ_j by layer and key position",
                                                                                  .xlabel = "key position j", .ylabel = "layer"})});
  double pos0 = 0, rest = 0;
  for (std::size_t l = a.mid.first; l < a.mid.last; ++l) pos0 += a.shift_percentiles[l][0][2] / double(a.mid.size());
  for (std::size_t j = 1; j < a.T; ++j) rest = std::max(rest, a.shift_pooled[j][2]);
  r.markdown = "## Figure 1: the source-agnostic shift\n\nΔ_j = b_Q,h · (W_K,h x_j) from the ln_1 output, unscaled, each "
               "(input, layer, head) row shifted to minimum 0. Median at key 0 (mean over layers " + a.mid.str() + "): **" +
               fmt(pos0, 3) + "**; largest median at any other key: " + fmt(rest, 3) +
               ". Files: `fig1_shift.svg`, `fig1_shift_median.svg`, `fig1_shift_percentiles.csv`.\n\n";
  return r;
}

inline rendered figure2(const circuit_analysis& a) {
  rendered r;
  const std::size_t J = a.cosine_mean.size();
  table t{{"position", "mean", "p5", "p25", "p50", "p75", "p95"}};
  for (std::size_t j = 0; j < J; ++j) {
    std::vector<std::string> row{std::to_string(j), fmt(a.cosine_mean[j], 5)};
    for (double v : a.cosine_percentiles[j]) row.push_back(fmt(v, 5));
    t.add(row);
  }
  r.files.push_back({"fig2_cosines.csv", t.csv()});
  r.files.push_back({"fig2_cosines.svg", percentile_bands_svg(detail::positions(J), {detail::band_of("layers " + a.mid.str(), a.cosine_percentiles)},
                                                              {.title = "cos(b_Q,h, W_K,h EPE_j), layers " + a.mid.str() + ", all heads",
                                                               .xlabel = "position j", .ylabel = "cosine"})});
  double rest = -1;
  for (std::size_t j = 1; j < J; ++j) rest = std::max(rest, a.cosine_mean[j]);
  r.markdown = "## Figure 2: b_Q aligns with the key of EPE_0\n\ncos(b_Q,h, W_K,h EPE_j) pooled over layers " + a.mid.str() +
               " and heads (W_K,h EPE_j: head h's slice of the key projection of the raw EPE_j, no LayerNorm, no b_K). "
               "Mean at j = 0: **" + fmt(a.cosine_mean[0], 3) + "**; largest mean at j > 0: " + fmt(rest, 3) +
               ". The paper: high at j = 0 only. Files: `fig2_cosines.svg`, `fig2_cosines.csv`.\n\n";
  return r;
}

inline rendered figure3(const circuit_analysis& a, const published_numbers& p) {
  rendered r;
  table t{{"position", "median_mlp_only", "median_full_block"}};
  for (std::size_t i = 0; i < a.T; ++i) t.add({std::to_string(i), fmt(a.epe_mlp_only[i], 5), fmt(a.epe_full_block[i], 5)});
  r.files.push_back({"fig3_epe_validation.csv", t.csv()});
  const auto xs = detail::positions(a.T);
  r.files.push_back({"fig3_epe_validation.svg", line_chart_svg({{"MLP-only", xs, a.epe_mlp_only}, {"full block", xs, a.epe_full_block}},
                                                               {.title = "cos(N_i, EPE_i), median over inputs", .xlabel = "position i",
                                                                .ylabel = "cosine"})});
  double lo = 2, hi = -2;
  for (std::size_t i = 1; i < a.T; ++i) lo = std::min(lo, a.epe_mlp_only[i]), hi = std::max(hi, a.epe_mlp_only[i]);
  const bool ref = !std::isnan(p.epe_cos0);
  r.markdown = "## Figure 3: EPE is the positional part of the first block's output\n\nMedian cos(N_i, EPE_i) over inputs, "
               "MLP-only variant: position 0 **" + fmt(a.epe_mlp_only[0], 3) + "**" +
               (ref ? " (paper " + fmt(p.epe_cos0, 3) + ")" : std::string()) + ", other positions " + fmt(lo, 3) + "–" + fmt(hi, 3) +
               (ref ? " (paper " + fmt(p.epe_cos_low, 2) + "–" + fmt(p.epe_cos_high, 2) + ")" : std::string()) +
               ". Full block: position 0 " + fmt(a.epe_full_block[0], 3) + ". Files: `fig3_epe_validation.svg`, `fig3_epe_validation.csv`.\n\n";
  return r;
}

inline rendered figure4(const circuit_analysis& a, const published_numbers& p) {
  rendered r;
  table t{{"coordinate", "epe0", "abs_epe0", "massive"}};
  std::vector<double> absv;
  for (std::size_t c = 0; c < a.d_model; ++c) {
    const bool is = std::find(a.massive.begin(), a.massive.end(), c) != a.massive.end();
    t.add({std::to_string(c), fmt(a.epe0[c], 6), fmt(std::abs(a.epe0[c]), 6), is ? "1" : "0"});
    absv.push_back(std::abs(a.epe0[c]));
  }
  r.files.push_back({"fig4_massive.csv", t.csv()});
  r.files.push_back({"fig4_epe0.svg", line_chart_svg({{"|EPE_0[d]|", detail::positions(a.d_model), absv}},
                                                     {.title = "|EPE_0| by residual coordinate", .xlabel = "coordinate d", .ylabel = "|EPE_0[d]|"})});
  table g{{"layer", "mean_gamma_massive", "mean_gamma_other"}};
  for (std::size_t l = 0; l < a.layers; ++l) g.add({std::to_string(l), fmt(a.gamma_by_layer[l].massive, 5), fmt(a.gamma_by_layer[l].other, 5)});
  g.add({"mid " + a.mid.str(), fmt(a.gamma_mid.massive, 5), fmt(a.gamma_mid.other, 5)});
  r.files.push_back({"fig4_gamma.csv", g.csv()});
  const bool ours = p.about(a.arch) && !std::isnan(p.gamma_massive);
  r.files.push_back({"fig4_gamma.svg", bar_chart_svg({"massive", "other"}, {a.gamma_mid.massive, a.gamma_mid.other}, {},
                                                     {.title = "Mean γ_h[d] = |b_Q,h · W_K,h[:, d]|, layers " + a.mid.str(),
                                                      .xlabel = "EPE_0 coordinates", .ylabel = "mean γ"},
                                                     ours ? std::vector<double>{p.gamma_massive, p.gamma_other} : std::vector<double>{})});
  auto list = [](const std::vector<std::size_t>& v) {
    std::string s;
    for (std::size_t c : v) s += (s.empty() ? "" : ", ") + std::to_string(c);
    return "{" + s + "}";
  };
  const bool ref = !p.massive_coordinates.empty();
  r.markdown = "## Figure 4: W_K reads the massive coordinates of EPE_0\n\nMassive coordinates of EPE_0 (|EPE_0[d]| > mean + "
               "3 sd, sample sd): **" + list(a.massive) + "**" +
               (ref ? " (paper, " + p.architecture + ": " + list(p.massive_coordinates) + ")" : std::string()) +
               ". Mean γ over layers " + a.mid.str() + " and heads: **" + fmt(a.gamma_mid.massive, 3) + "** on them vs **" +
               fmt(a.gamma_mid.other, 3) + "** on the others" +
               (ref ? " (paper: " + fmt(p.gamma_massive, 3) + " vs " + fmt(p.gamma_other, 3) + ")" : std::string()) +
               ". Files: `fig4_gamma.svg`, `fig4_epe0.svg`, `fig4_gamma.csv`, `fig4_massive.csv`.\n\n";
  return r;
}

inline rendered figure5(const circuit_analysis& a, const std::string& first_dataset) {
  rendered r;
  table t{{"intervention", "query", "key", "attention"}};
  std::string maps;
  for (const auto& m : a.maps) {
    for (std::size_t i = 0; i < a.T; ++i)
      for (std::size_t j = 0; j <= i; ++j) t.add({m.id, std::to_string(i), std::to_string(j), fmt(m.pattern[i * a.T + j], 5)});
    const std::string file = "fig5_" + m.id + ".svg";
    r.files.push_back({file, heatmap_svg(m.pattern, a.T, a.T,
                                         {.title = m.id + ": " + m.name + " (input 0, mean over layers " + a.mid.str() + " and heads)",
                                          .xlabel = "key position", .ylabel = "query position", .width = 560, .height = 520},
                                         0.0, 1.0)});
    maps += "[" + m.id + "](" + file + ") ";
  }
  r.files.push_back({"fig5_attention_maps.csv", t.csv()});
  r.markdown = "## Figure 5: attention maps per intervention\n\nInput 0 (" + first_dataset + "), mean over layers " + a.mid.str() +
               " and heads, colour scale 0-1: " + maps + "\n\n";
  return r;
}

// ---- report.md -------------------------------------------------------------------------------------------

inline std::string report_header(const circuit_analysis& a, const circuit_report_options& o) {
  std::string md = "# Attention sinks: circuit report\n\n";
  md += "- model: " + (o.model_label.empty() ? std::string("(in memory)") : o.model_label) + ", architecture `" + a.arch + "`\n";
  std::size_t n = 0;
  for (const auto& [name, idx] : a.groups) n = std::max(n, idx.size());
  md += "- inputs: " + (o.inputs_label.empty() ? std::string("(in memory)") : o.inputs_label) + ": " + std::to_string(n) +
        " of " + std::to_string(a.T) + " tokens";
  for (const auto& [name, idx] : a.groups)
    if (name != "all" || a.datasets == std::vector<std::string>{"all"}) md += ", " + name + " " + std::to_string(idx.size());
  if (o.dropped_inputs) md += " (" + std::to_string(o.dropped_inputs) + " shorter inputs dropped)";
  md += "\n- BOS attention: mean attention of queries " + std::to_string(a.T / 2) + ".." + std::to_string(a.T - 1) +
        " to position 0, over the heads of a layer, then over layers; **mid** scope = layers " + a.mid.str() +
        ", **all** = layers " + a.all.str() + ". Chance (uniform causal attention): " + fmt(a.chance, 4) + ".\n";
  md += "- ± values are 2 standard errors over inputs (as the paper prints them).\n\n";
  return md;
}

inline std::string skipped_markdown(const circuit_analysis& a) {
  std::string s;
  for (const auto& oc : a.outcomes)
    if (!oc.status.applies) s += "- **" + oc.id + "** (" + oc.name + "): `" + oc.status.code + "`: " + oc.status.reason + "\n";
  return s.empty() ? s : "## Skipped interventions\n\n" + s + "\n";
}

/// Writes the files listed in the header of this file into `out` (created if needed), from the analysis.
inline void write_circuit_report(const circuit_analysis& a, const published_numbers& p, const std::filesystem::path& out,
                                 const circuit_report_options& o = {}) {
  std::filesystem::create_directories(out);
  auto write = [&](const std::string& name, const std::string& text) { write_text_atomically(out / name, text); };
  write("interventions.csv", scope_table(a, a.mid).csv());
  write("interventions_all_layers.csv", scope_table(a, a.all).csv());
  write("cross_entropy.csv", per_input_table(a, &intervention_outcome::cross_entropy, true).csv());
  write("sink_rate.csv", per_input_table(a, &intervention_outcome::sink_rate, false).csv());
  write("bos_by_layer.csv", by_layer_table(a).csv());
  write("bos_by_head.csv", by_head_table(a).csv());
  write("skipped.csv", skipped_table(a).csv());
  write("table1.svg", table1_figure(a, p));

  std::string figures;
  auto add = [&](const rendered& r) {
    for (const auto& [name, text] : r.files) write(name, text);
    figures += r.markdown;
  };
  if (a.circuit.applies) {
    add(figure1(a));
    if (a.epe.applies) {
      add(figure2(a));
      add(figure3(a, p));
      add(figure4(a, p));
    } else {
      figures += "## Figures 2-4\n\nNot applicable: " + a.epe.reason + " (" + a.epe.code + ").\n\n";
    }
  } else {
    figures += "## Figures 1-4\n\nNot applicable: " + a.circuit.reason + " (" + a.circuit.code + ").\n\n";
  }
  add(figure5(a, a.datasets.empty() ? std::string() : a.datasets[0]));

  const bool ours = p.about(a.arch);
  std::string md = report_header(a, o);
  md += "## Table 1: interventions, mid scope (layers " + a.mid.str() + ")\n\n" + table1_markdown(a, a.mid, ours ? &p : nullptr) + "\n";
  if (ours) {
    md += "Published: " + p.source + ".";
    if (!std::isnan(p.ce_baseline)) {
      md += " Cross-entropy in " + p.ce_source + ": baseline " + fmt(p.ce_baseline, 2) + " nats";
      for (const auto& [id, v] : p.ce_delta) md += "; " + id + " +" + fmt(v, 2);
      md += ".";
    }
    md += "\n\n";
  }
  md += "Figure: `table1.svg`. Per dataset, mid scope:\n\n" + per_dataset_markdown(a, ours ? &p : nullptr) + "\n";
  md += "## Table 1 over all layers (0.." + std::to_string(a.layers - 1) + ")\n\n" + table1_markdown(a, a.all, nullptr) + "\n";
  md += skipped_markdown(a);
  md += figures;
  md += "## Files\n\n`interventions.csv` (mid), `interventions_all_layers.csv`, `cross_entropy.csv`, `sink_rate.csv`, "
        "`bos_by_layer.csv`, `bos_by_head.csv`, `skipped.csv`, and the figures' CSV/SVG files named above.\n";
  write("report.md", md);
}

/// Analyses `inputs` on `m` (analyse_circuit) and writes the report, with the published numbers of
/// o.published_file and o.published_dir.
template <architecture_type A>
void write_circuit_report(const model<A>& m, const std::vector<labelled_input>& inputs, const std::filesystem::path& out,
                          const circuit_report_options& o = {}) {
  const auto a = analyse_circuit(m, inputs, {.batch = o.batch, .seed = o.seed, .fig2_positions = o.fig2_positions, .log = o.log});
  write_circuit_report(a, load_published(o.published_dir, o.published_file), out, o);
}

}  // namespace sinkcore::report
