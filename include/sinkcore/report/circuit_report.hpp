#pragma once
/// @file circuit_report.hpp
/// The paper's study on one model and one set of inputs, written as CSV + SVG + a Markdown report laid
/// out like Ran-Milo et al. 2026's Table 1 and Figures 1-5 (what `sinklab circuit` runs).
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

#include "../interp/circuit.hpp"
#include "../interp/epe.hpp"
#include "../interp/interventions.hpp"
#include "../interp/metrics.hpp"
#include "../interp/stats.hpp"
#include "svg.hpp"
#include "tables.hpp"

namespace sinkcore::report {

/// One input: its dataset label and its tokens (all inputs of a report have the same length).
struct labelled_input {
  std::string dataset;
  std::vector<int> tokens;
};

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

/// Published numbers: (dataset, intervention id) -> (mean, standard error; NaN if unknown).
struct published_numbers {
  std::map<std::pair<std::string, std::string>, std::pair<double, double>> bos;
  std::string source;  ///< where they came from
  std::pair<double, double> get(const std::string& dataset, const std::string& id) const {
    auto it = bos.find({dataset, id});
    const double nan = std::nan("");
    return it == bos.end() ? std::pair{nan, nan} : it->second;
  }
};

/// The paper's Table 1 (mid scope, 300 inputs), from bos_attention_stats_overall.csv and
/// bos_attention_stats_by_dataset.csv in `dir` when they exist there (dataset "all_datasets" becomes
/// "all", "int_a" becomes "a"); otherwise the overall means quoted in the paper (no standard errors).
inline published_numbers load_published(const std::filesystem::path& dir) {
  published_numbers p;
  for (const char* f : {"bos_attention_stats_overall.csv", "bos_attention_stats_by_dataset.csv"}) {
    const auto path = dir / f;
    if (dir.empty() || !std::filesystem::exists(path)) continue;
    const table t = read_csv(path);
    const auto ds = t.column("dataset"), iv = t.column("intervention"), mean = t.column("mean_bos_attention"),
               se = t.column("stderr");
    if (!ds || !iv || !mean || !se) throw error(path.string() + ": expected columns dataset, intervention, mean_bos_attention, stderr");
    for (const auto& r : t.rows) {
      std::string d = r[*ds] == "all_datasets" ? "all" : r[*ds];
      std::string id = r[*iv].starts_with("int_") ? r[*iv].substr(4) : r[*iv];
      p.bos[{d, id}] = {std::stod(r[*mean]), std::stod(r[*se])};
    }
    p.source += (p.source.empty() ? "" : ", ") + path.string();
  }
  if (p.bos.empty()) {
    const std::pair<const char*, double> paper[] = {{"a", 0.563}, {"b", 0.251}, {"c", 0.017}, {"d", 0.035}, {"e", 0.557},
                                                    {"f", 0.561}, {"g", 0.283}, {"h", 0.099}, {"i", 0.367}, {"j", 0.563}};
    for (const auto& [id, v] : paper) p.bos[{"all", id}] = {v, std::nan("")};
    p.source = "the paper's Table 1 (overall means, as quoted in the notes)";
  }
  return p;
}

struct circuit_report_options {
  std::size_t batch = 16;                 ///< inputs per forward pass
  std::uint64_t seed = 0;                 ///< intervention j's generator
  std::size_t fig2_positions = 40;        ///< j = 0 .. fig2_positions-1 in Fig. 2
  std::filesystem::path published_dir{};  ///< where to look for the published CSVs
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
inline const double report_percentiles[5] = {5, 25, 50, 75, 95};
}  // namespace detail

/// Runs the study of `inputs` on `m` and writes the files listed above into `out` (created if needed).
template <architecture_type A>
void write_circuit_report(const model<A>& m, const std::vector<labelled_input>& inputs, const std::filesystem::path& out,
                          const circuit_report_options& o = {}) {
  namespace fs = std::filesystem;
  if (inputs.empty()) throw error("circuit report: no inputs");
  const std::size_t T = inputs[0].tokens.size();
  if (T < 2) throw error("circuit report: inputs need at least 2 tokens");
  fs::create_directories(out);
  auto log = [&](const std::string& s) {
    if (o.log) *o.log << s << std::endl;
  };
  auto write = [&](const std::string& name, const std::string& text) { write_text_atomically(out / name, text); };

  std::vector<std::vector<int>> tokens;
  std::vector<std::string> datasets;
  std::map<std::string, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    tokens.push_back(inputs[i].tokens);
    if (!members.count(inputs[i].dataset)) datasets.push_back(inputs[i].dataset);
    members[inputs[i].dataset].push_back(i);
  }
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups;
  for (const auto& d : datasets) groups.push_back({d, members[d]});
  if (datasets.size() != 1 || datasets[0] != "all") {
    std::vector<std::size_t> every(inputs.size());
    for (std::size_t i = 0; i < every.size(); ++i) every[i] = i;
    groups.push_back({"all", every});
  }
  const layer_range mid = layer_range::mid(A::layers), all = layer_range::all(A::layers);
  const double chance = bos_attention_chance(T);

  // ---- Table 1: the ten interventions -------------------------------------------------------------
  std::vector<intervention_outcome> outcomes;
  auto ivs = paper_interventions(o.seed);
  std::apply([&](auto&... iv) {
    (([&] {
       log("intervention " + iv.id + " (" + iv.name + ")");
       outcomes.push_back(evaluate_intervention(m, iv, tokens, o.batch));
     }()), ...);
  }, ivs);
  const intervention_outcome& base = outcomes[0];

  auto scope_table = [&](layer_range r) {
    table t{{"dataset", "intervention", "n", "mean", "stderr"}};
    for (const auto& [name, idx] : groups)
      for (const auto& oc : outcomes) {
        if (!oc.status.applies) {
          t.add({name, oc.id, "0", "", ""});
          continue;
        }
        const auto s = oc.bos_summary(r, idx);
        t.add({name, oc.id, std::to_string(s.n), fmt(s.mean, 6), fmt(s.se, 6)});
      }
    return t;
  };
  write("interventions.csv", scope_table(mid).csv());
  write("interventions_all_layers.csv", scope_table(all).csv());

  auto per_input_table = [&](auto member, bool with_delta) {
    table t{{"dataset", "intervention", "n", "mean", "stderr"}};
    if (with_delta) t.header.push_back("delta");
    for (const auto& [name, idx] : groups) {
      std::vector<double> b0;
      for (std::size_t i : idx) b0.push_back((base.*member)[i]);
      for (const auto& oc : outcomes) {
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
  };
  const table ce = per_input_table(&intervention_outcome::cross_entropy, true);
  write("cross_entropy.csv", ce.csv());
  write("sink_rate.csv", per_input_table(&intervention_outcome::sink_rate, false).csv());

  {
    table by_layer{{"intervention", "layer", "mean", "stderr"}}, by_head{{"intervention", "layer", "head", "mean"}},
        skipped{{"intervention", "name", "code", "reason"}};
    for (const auto& oc : outcomes) {
      if (!oc.status.applies) {
        skipped.add({oc.id, oc.name, oc.status.code, oc.status.reason});
        continue;
      }
      for (std::size_t l = 0; l < A::layers; ++l) {
        std::vector<double> v;
        for (const auto& row : oc.bos_by_layer) v.push_back(row[l]);
        const auto s = stats::summarize(v);
        by_layer.add({oc.id, std::to_string(l), fmt(s.mean, 6), fmt(s.se, 6)});
        for (std::size_t h = 0; h < A::heads; ++h)
          by_head.add({oc.id, std::to_string(l), std::to_string(h), fmt(oc.bos_by_head[l][h], 6)});
      }
    }
    write("bos_by_layer.csv", by_layer.csv());
    write("bos_by_head.csv", by_head.csv());
    write("skipped.csv", skipped.csv());
  }

  const bool is_gpt2_small = A::name() == "gpt2-small";
  const published_numbers published = load_published(o.published_dir);
  {
    std::vector<std::string> labels;
    std::vector<double> means, errs, refs;
    for (const auto& oc : outcomes) {
      labels.push_back(oc.id);
      const auto s = oc.status.applies ? oc.bos_summary(mid) : stats::summary{0, std::nan(""), std::nan(""), std::nan("")};
      means.push_back(s.mean);
      errs.push_back(2 * s.se);
      refs.push_back(is_gpt2_small ? published.get("all", oc.id).first : std::nan(""));
    }
    chart_options c{.title = "BOS attention per intervention (layers " + mid.str() + ", mean ± 2 SE)",
                    .xlabel = "intervention", .ylabel = "attention to position 0"};
    c.y_min = 0;
    c.hlines = {{"chance " + fmt(chance, 4), chance}};
    write("table1.svg", bar_chart_svg(labels, means, errs, c, is_gpt2_small ? refs : std::vector<double>{}));
  }

  // ---- Figures 1-4: the circuit ---------------------------------------------------------------------
  std::string fig_md;
  const auto circuit = circuit_applicability<A>();
  if constexpr (has_source_agnostic_shift<A>) {
    log("figure 1: source-agnostic shift");
    shift_distribution<A> dist;
    std::vector<std::vector<double>> mlp_only, full_block;  // [input][position]
    std::vector<std::vector<double>> epes;
    if constexpr (has_effective_positional_embedding<A>)
      for (std::size_t i = 0; i < T; ++i) epes.push_back(effective_positional_embedding(m, i));
    workspace<A> ws;
    for (std::size_t start = 0; start < tokens.size(); start += o.batch) {
      const std::size_t B = std::min(o.batch, tokens.size() - start);
      std::vector<int> flat;
      for (std::size_t b = 0; b < B; ++b) flat.insert(flat.end(), tokens[start + b].begin(), tokens[start + b].end());
      forward(m, ws, flat, B, T);
      dist.add(m, ws);
      if constexpr (has_effective_positional_embedding<A>) {
        for (auto& row : epe_validation_full_block(m, flat, B, T)) full_block.push_back(std::move(row));
        std::vector<std::vector<double>> rows(B);
#pragma omp parallel for schedule(dynamic)
        for (std::size_t b = 0; b < B; ++b) rows[b] = epe_validation_mlp_only(m, tokens[start + b], epes);
        for (auto& r : rows) mlp_only.push_back(std::move(r));
      }
    }
    const auto ps = std::span<const double>(detail::report_percentiles);
    {
      const auto tab = dist.percentile_table(ps);
      table t{{"layer", "position", "p5", "p25", "p50", "p75", "p95"}};
      std::vector<double> median(A::layers * T);
      for (std::size_t l = 0; l < A::layers; ++l)
        for (std::size_t j = 0; j < T; ++j) {
          std::vector<std::string> row{std::to_string(l), std::to_string(j)};
          for (double v : tab[l][j]) row.push_back(fmt(v, 5));
          t.add(row);
          median[l * T + j] = tab[l][j][2];
        }
      write("fig1_shift_percentiles.csv", t.csv());
      const auto pooled = dist.pooled_percentiles(mid, ps);
      percentile_band band{"layers " + mid.str()};
      std::vector<double> x;
      for (std::size_t j = 0; j < T; ++j) {
        x.push_back(double(j));
        band.outer_lo.push_back(pooled[j][0]);
        band.inner_lo.push_back(pooled[j][1]);
        band.median.push_back(pooled[j][2]);
        band.inner_hi.push_back(pooled[j][3]);
        band.outer_hi.push_back(pooled[j][4]);
      }
      write("fig1_shift.svg", percentile_bands_svg(x, {band}, {.title = "Source-agnostic shift Δ_j (min-shifted), layers " + mid.str(),
                                                               .xlabel = "key position j", .ylabel = "Δ_j − min Δ (5/25/50/75/95 %)"}));
      write("fig1_shift_median.svg", heatmap_svg(median, A::layers, T, {.title = "Median min-shifted Δ_j by layer and key position",
                                                                         .xlabel = "key position j", .ylabel = "layer"}));
      double pos0 = 0, rest = 0;
      for (std::size_t l = mid.first; l < mid.last; ++l) pos0 += tab[l][0][2] / double(mid.size());
      for (std::size_t j = 1; j < T; ++j) rest = std::max(rest, pooled[j][2]);
      fig_md += "## Figure 1: the source-agnostic shift\n\nΔ_j = b_Q,h · (W_K,h x_j) from the ln_1 output, unscaled, each "
                "(input, layer, head) row shifted to minimum 0. Median at key 0 (mean over layers " + mid.str() + "): **" +
                fmt(pos0, 3) + "**; largest median at any other key: " + fmt(rest, 3) +
                ". Files: `fig1_shift.svg`, `fig1_shift_median.svg`, `fig1_shift_percentiles.csv`.\n\n";
    }
    if constexpr (has_effective_positional_embedding<A>) {
      log("figures 2-4: EPE");
      // Figure 2
      const auto cos = query_bias_epe_key_cosines(m, std::min(o.fig2_positions, A::context));
      const std::size_t J = cos[0][0].size();
      table t2{{"position", "mean", "p5", "p25", "p50", "p75", "p95"}};
      percentile_band band{"layers " + mid.str()};
      std::vector<double> x, mean_by_j;
      for (std::size_t j = 0; j < J; ++j) {
        std::vector<double> pool;
        for (std::size_t l = mid.first; l < mid.last; ++l)
          for (std::size_t h = 0; h < A::heads; ++h) pool.push_back(cos[l][h][j]);
        const auto q = stats::percentiles(pool, ps);
        std::vector<std::string> row{std::to_string(j), fmt(stats::mean(pool), 5)};
        for (double v : q) row.push_back(fmt(v, 5));
        t2.add(row);
        x.push_back(double(j));
        mean_by_j.push_back(stats::mean(pool));
        band.outer_lo.push_back(q[0]);
        band.inner_lo.push_back(q[1]);
        band.median.push_back(q[2]);
        band.inner_hi.push_back(q[3]);
        band.outer_hi.push_back(q[4]);
      }
      write("fig2_cosines.csv", t2.csv());
      write("fig2_cosines.svg", percentile_bands_svg(x, {band}, {.title = "cos(b_Q,h, W_K,h EPE_j), layers " + mid.str() + ", all heads",
                                                                 .xlabel = "position j", .ylabel = "cosine"}));
      double rest2 = -1;
      for (std::size_t j = 1; j < J; ++j) rest2 = std::max(rest2, mean_by_j[j]);
      fig_md += "## Figure 2: b_Q aligns with the key of EPE_0\n\ncos(b_Q,h, W_K,h EPE_j) pooled over layers " + mid.str() +
                " and heads (W_K,h EPE_j: head h's slice of the key projection of the raw EPE_j, no LayerNorm, no b_K). "
                "Mean at j = 0: **" + fmt(mean_by_j[0], 3) + "**; largest mean at j > 0: " + fmt(rest2, 3) +
                ". The paper: high at j = 0 only. Files: `fig2_cosines.svg`, `fig2_cosines.csv`.\n\n";
      // Figure 3
      table t3{{"position", "median_mlp_only", "median_full_block"}};
      std::vector<double> med_m, med_f, xs;
      for (std::size_t i = 0; i < T; ++i) {
        xs.push_back(double(i));
        std::vector<double> a, b;
        for (const auto& r : mlp_only) a.push_back(r[i]);
        for (const auto& r : full_block) b.push_back(r[i]);
        med_m.push_back(stats::median(a));
        med_f.push_back(stats::median(b));
        t3.add({std::to_string(i), fmt(med_m.back(), 5), fmt(med_f.back(), 5)});
      }
      write("fig3_epe_validation.csv", t3.csv());
      write("fig3_epe_validation.svg",
            line_chart_svg({{"MLP-only", xs, med_m}, {"full block", xs, med_f}},
                           {.title = "cos(N_i, EPE_i), median over inputs", .xlabel = "position i", .ylabel = "cosine"}));
      double lo = 2, hi = -2;
      for (std::size_t i = 1; i < T; ++i) lo = std::min(lo, med_m[i]), hi = std::max(hi, med_m[i]);
      fig_md += "## Figure 3: EPE is the positional part of the first block's output\n\nMedian cos(N_i, EPE_i) over inputs, "
                "MLP-only variant: position 0 **" + fmt(med_m[0], 3) + "** (paper 0.996), other positions " + fmt(lo, 3) +
                "–" + fmt(hi, 3) + " (paper 0.82–0.87). Full block: position 0 " + fmt(med_f[0], 3) +
                ". Files: `fig3_epe_validation.svg`, `fig3_epe_validation.csv`.\n\n";
      // Figure 4
      const auto& epe0 = epes[0];
      const auto massive = massive_coordinates(epe0);
      table t4{{"coordinate", "epe0", "abs_epe0", "massive"}};
      std::vector<double> absv, coord;
      for (std::size_t c = 0; c < A::d_model; ++c) {
        const bool is = std::find(massive.begin(), massive.end(), c) != massive.end();
        t4.add({std::to_string(c), fmt(epe0[c], 6), fmt(std::abs(epe0[c]), 6), is ? "1" : "0"});
        absv.push_back(std::abs(epe0[c]));
        coord.push_back(double(c));
      }
      write("fig4_massive.csv", t4.csv());
      write("fig4_epe0.svg", line_chart_svg({{"|EPE_0[d]|", coord, absv}},
                                            {.title = "|EPE_0| by residual coordinate", .xlabel = "coordinate d", .ylabel = "|EPE_0[d]|"}));
      table tg{{"layer", "mean_gamma_massive", "mean_gamma_other"}};
      for (std::size_t l = 0; l < A::layers; ++l) {
        const auto g = mean_gamma(m, massive, layer_range{l, l + 1});
        tg.add({std::to_string(l), fmt(g.massive, 5), fmt(g.other, 5)});
      }
      const auto gmid = mean_gamma(m, massive, mid);
      tg.add({"mid " + mid.str(), fmt(gmid.massive, 5), fmt(gmid.other, 5)});
      write("fig4_gamma.csv", tg.csv());
      std::vector<double> ref;
      if (is_gpt2_small) ref = {1.370, 0.176};
      write("fig4_gamma.svg", bar_chart_svg({"massive", "other"}, {gmid.massive, gmid.other}, {},
                                            {.title = "Mean γ_h[d] = |b_Q,h · W_K,h[:, d]|, layers " + mid.str(),
                                             .xlabel = "EPE_0 coordinates", .ylabel = "mean γ"},
                                            ref));
      std::string coords;
      for (std::size_t c : massive) coords += (coords.empty() ? "" : ", ") + std::to_string(c);
      fig_md += "## Figure 4: W_K reads the massive coordinates of EPE_0\n\nMassive coordinates of EPE_0 (|EPE_0[d]| > mean + "
                "3 sd, sample sd): **{" + coords + "}** (paper, GPT-2 small: {138, 378, 447}). Mean γ over layers " + mid.str() +
                " and heads: **" + fmt(gmid.massive, 3) + "** on them vs **" + fmt(gmid.other, 3) +
                "** on the others (paper: 1.370 vs 0.176). Files: `fig4_gamma.svg`, `fig4_epe0.svg`, `fig4_gamma.csv`, "
                "`fig4_massive.csv`.\n\n";
    } else {
      fig_md += "## Figures 2-4\n\nNot applicable: " + sinkcore::detail::need_epe<A>().reason + " (" + sinkcore::detail::need_epe<A>().code + ").\n\n";
    }
  } else {
    fig_md += "## Figures 1-4\n\nNot applicable: " + circuit.reason + " (" + circuit.code + ").\n\n";
  }

  // ---- Figure 5: attention maps of input 0 ----------------------------------------------------------
  {
    log("figure 5: attention maps");
    table t5{{"intervention", "query", "key", "attention"}};
    std::string maps;
    workspace<A> ws;
    std::apply([&](auto&... iv) {
      (([&] {
         if (!iv.template check<A>().applies) return;
         intervened_model<A, std::decay_t<decltype(iv)>> run(m, iv);
         run.forward(ws, tokens[0], 1, T);
         const auto p = mean_pattern(ws, 0, mid);
         for (std::size_t i = 0; i < T; ++i)
           for (std::size_t j = 0; j <= i; ++j) t5.add({iv.id, std::to_string(i), std::to_string(j), fmt(p[i * T + j], 5)});
         const std::string file = "fig5_" + iv.id + ".svg";
         write(file, heatmap_svg(p, T, T, {.title = iv.id + ": " + iv.name + " (input 0, mean over layers " + mid.str() + " and heads)",
                                           .xlabel = "key position", .ylabel = "query position", .width = 560, .height = 520},
                                 0.0, 1.0));
         maps += "[" + iv.id + "](" + file + ") ";
       }()), ...);
    }, ivs);
    write("fig5_attention_maps.csv", t5.csv());
    fig_md += "## Figure 5: attention maps per intervention\n\nInput 0 (" + inputs[0].dataset + "), mean over layers " +
              mid.str() + " and heads, colour scale 0-1: " + maps + "\n\n";
  }

  // ---- report.md ------------------------------------------------------------------------------------
  std::string md = "# Attention sinks: circuit report\n\n";
  md += "- model: " + (o.model_label.empty() ? std::string("(in memory)") : o.model_label) + ", architecture `" + A::name() + "`\n";
  md += "- inputs: " + (o.inputs_label.empty() ? std::string("(in memory)") : o.inputs_label) + ": " +
        std::to_string(inputs.size()) + " of " + std::to_string(T) + " tokens";
  for (const auto& d : datasets) md += ", " + d + " " + std::to_string(members[d].size());
  if (o.dropped_inputs) md += " (" + std::to_string(o.dropped_inputs) + " shorter inputs dropped)";
  md += "\n- BOS attention: mean attention of queries " + std::to_string(T / 2) + ".." + std::to_string(T - 1) +
        " to position 0, over the heads of a layer, then over layers; **mid** scope = layers " + mid.str() +
        ", **all** = layers " + all.str() + ". Chance (uniform causal attention): " + fmt(chance, 4) + ".\n";
  md += "- ± values are 2 standard errors over inputs (as the paper prints them).\n\n";

  auto table1 = [&](layer_range r, bool with_published) {
    table t{{"id", "intervention", "BOS attention", "% of baseline"}};
    if (with_published) t.header.insert(t.header.end(), {"published", "published %"});
    t.header.insert(t.header.end(), {"Sink_0^0.3", "cross-entropy", "Δ cross-entropy"});
    const double b0 = base.bos_summary(r).mean;
    const double ce0 = stats::mean(base.cross_entropy);
    const double pb = published.get("all", "a").first;
    for (const auto& oc : outcomes) {
      std::vector<std::string> row{oc.id, oc.name};
      if (oc.status.applies) {
        const auto s = oc.bos_summary(r);
        row.push_back(detail::pm(s.mean, s.se));
        row.push_back(fmt(100 * s.mean / b0, 1) + " %");
      } else {
        row.insert(row.end(), {"skipped: " + oc.status.code, ""});
      }
      if (with_published) {
        const auto [pm_, pse] = published.get("all", oc.id);
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
  };
  md += "## Table 1: interventions, mid scope (layers " + mid.str() + ")\n\n" + table1(mid, is_gpt2_small) + "\n";
  if (is_gpt2_small)
    md += "Published: " + published.source + ". Third-party reproduction (notes): baseline cross-entropy 4.02 nats; "
          "swap EPE +0.94, remove first PE +3.76, b_Q = 0 +1.61, zero top-3 W_K +0.26.\n\n";
  md += "Figure: `table1.svg`. Per dataset, mid scope:\n\n";
  {
    table t{{"dataset", "id", "intervention", "n", "BOS attention"}};
    if (is_gpt2_small) t.header.push_back("published");
    for (const auto& [name, idx] : groups) {
      if (name == "all") continue;
      for (const auto& oc : outcomes) {
        std::vector<std::string> row{name, oc.id, oc.name};
        if (oc.status.applies) {
          const auto s = oc.bos_summary(mid, idx);
          row.push_back(std::to_string(s.n));
          row.push_back(detail::pm(s.mean, s.se));
        } else {
          row.insert(row.end(), {"0", "skipped"});
        }
        if (is_gpt2_small) {
          const auto [pm_, pse] = published.get(name, oc.id);
          row.push_back(detail::pm(pm_, pse));
        }
        t.add(row);
      }
    }
    md += t.markdown() + "\n";
  }
  md += "## Table 1 over all layers (0.." + std::to_string(A::layers - 1) + ")\n\n" + table1(all, false) + "\n";
  {
    bool any = false;
    std::string s = "## Skipped interventions\n\n";
    for (const auto& oc : outcomes)
      if (!oc.status.applies) {
        any = true;
        s += "- **" + oc.id + "** (" + oc.name + "): `" + oc.status.code + "`: " + oc.status.reason + "\n";
      }
    md += any ? s + "\n" : std::string();
  }
  md += fig_md;
  md += "## Files\n\n`interventions.csv` (mid), `interventions_all_layers.csv`, `cross_entropy.csv`, `sink_rate.csv`, "
        "`bos_by_layer.csv`, `bos_by_head.csv`, `skipped.csv`, and the figures' CSV/SVG files named above.\n";
  write("report.md", md);
}

}  // namespace sinkcore::report
