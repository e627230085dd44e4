#pragma once
/// @file circuit_analysis.hpp
/// The paper's study of one model on one set of inputs, computed (Ran-Milo et al. 2026, Table 1 and
/// Figures 1-5): the ten interventions per input, the source-agnostic shift's distribution, the EPE
/// statistics, the massive coordinates and gamma, and input 0's attention map under every intervention.
/// The result is a plain struct; report/circuit_report.hpp renders it (CSV, SVG, report.md).
///
///   const auto a = analyse_circuit(m, inputs);        // every forward pass happens here
///   report::write_circuit_report(a, published, out);  // nothing is computed there
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "circuit.hpp"
#include "epe.hpp"
#include "interventions.hpp"
#include "metrics.hpp"
#include "stats.hpp"

namespace sinkcore {

/// One input: its dataset label and its tokens (all inputs of an analysis have the same length).
struct labelled_input {
  std::string dataset;
  std::vector<int> tokens;
};

struct circuit_analysis_options {
  std::size_t batch = 16;           ///< inputs per forward pass
  std::uint64_t seed = 0;           ///< intervention j's generator
  std::size_t fig2_positions = 0;   ///< j = 0 .. fig2_positions-1 in Fig. 2 (0: the inputs' length)
  std::ostream* log = nullptr;      ///< progress lines, if set
};

/// Percentiles reported for distributions (Figs. 1 and 2).
inline constexpr double analysis_percentiles[5] = {5, 25, 50, 75, 95};

struct circuit_analysis {
  std::string arch;
  std::size_t layers = 0, heads = 0, d_model = 0, T = 0;
  layer_range mid{}, all{};
  double chance = 0;  ///< uniform causal attention at T
  std::vector<std::string> datasets;                                          ///< in input order
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups;       ///< dataset -> inputs, then "all"
  std::vector<intervention_outcome> outcomes;                                  ///< a .. j (outcomes[0] is a)
  applicability circuit, epe;  ///< whether Figs. 1 and 2-4 apply, and why not

  // Figure 1: the min-shifted source-agnostic shift
  std::vector<std::vector<std::vector<double>>> shift_percentiles;  ///< [layer][key position][percentile]
  std::vector<std::vector<double>> shift_pooled;                    ///< [key position][percentile], mid layers
  // Figure 2: cos(b_Q,h, W_K,h EPE_j), pooled over the mid layers and heads
  std::vector<std::vector<double>> cosine_percentiles;  ///< [position][percentile]
  std::vector<double> cosine_mean;                      ///< [position]
  // Figure 3: median cos(N_i, EPE_i) over inputs
  std::vector<double> epe_mlp_only, epe_full_block;  ///< [position]
  // Figure 4
  std::vector<double> epe0;
  std::vector<std::size_t> massive;
  std::vector<gamma_split> gamma_by_layer;
  gamma_split gamma_mid{};
  // Figure 5: input 0's attention averaged over the mid layers and heads, per applicable intervention
  struct attention_map {
    std::string id, name;
    std::vector<double> pattern;  ///< T x T
  };
  std::vector<attention_map> maps;

  const intervention_outcome& baseline() const { return outcomes.at(0); }
};

namespace detail {
/// Inputs grouped by dataset (in order of appearance), then "all" unless the only dataset is "all".
inline std::vector<std::pair<std::string, std::vector<std::size_t>>> dataset_groups(const std::vector<labelled_input>& inputs,
                                                                                     std::vector<std::string>& datasets) {
  std::map<std::string, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
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
  return groups;
}

/// Percentiles per position of a [layer][head][position] table, pooled over the layers of r and every head.
inline void pool_over_heads(const std::vector<std::vector<std::vector<double>>>& v, layer_range r,
                            std::vector<std::vector<double>>& percentiles, std::vector<double>& mean) {
  const std::size_t J = v.at(0).at(0).size();
  for (std::size_t j = 0; j < J; ++j) {
    std::vector<double> pool;
    for (std::size_t l = r.first; l < r.last; ++l)
      for (const auto& head : v[l]) pool.push_back(head[j]);
    mean.push_back(stats::mean(pool));
    percentiles.push_back(stats::percentiles(pool, analysis_percentiles));
  }
}
}  // namespace detail

/// Runs the whole study of `inputs` on `m`. Throws sinkcore::error for no inputs or inputs under 2 tokens.
template <architecture_type A>
circuit_analysis analyse_circuit(const model<A>& m, const std::vector<labelled_input>& inputs,
                                 const circuit_analysis_options& o = {}) {
  if (inputs.empty()) throw error("circuit analysis: no inputs");
  const std::size_t T = inputs[0].tokens.size();
  if (T < 2) throw error("circuit analysis: inputs need at least 2 tokens");
  auto log = [&](const std::string& s) {
    if (o.log) *o.log << s << std::endl;
  };
  circuit_analysis a;
  a.arch = A::name();
  a.layers = A::layers;
  a.heads = A::heads;
  a.d_model = A::d_model;
  a.T = T;
  a.mid = layer_range::mid(A::layers);
  a.all = layer_range::all(A::layers);
  a.chance = bos_attention_chance(T);
  a.groups = detail::dataset_groups(inputs, a.datasets);
  a.circuit = circuit_applicability<A>();
  a.epe = sinkcore::detail::need_epe<A>();
  std::vector<std::vector<int>> tokens;
  for (const auto& in : inputs) tokens.push_back(in.tokens);

  // Table 1: the ten interventions
  auto ivs = paper_interventions(o.seed);
  std::apply([&](auto&... iv) {
    (([&] {
       log("intervention " + iv.id + " (" + iv.name + ")");
       a.outcomes.push_back(evaluate_intervention(m, iv, tokens, o.batch));
     }()), ...);
  }, ivs);

  // Figures 1-4: the circuit
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
    a.shift_percentiles = dist.percentile_table(analysis_percentiles);
    a.shift_pooled = dist.pooled_percentiles(a.mid, analysis_percentiles);
    if constexpr (has_effective_positional_embedding<A>) {
      log("figures 2-4: EPE");
      const std::size_t J = std::min(o.fig2_positions ? o.fig2_positions : T, A::context);
      detail::pool_over_heads(query_bias_epe_key_cosines(m, J), a.mid, a.cosine_percentiles, a.cosine_mean);
      for (std::size_t i = 0; i < T; ++i) {
        std::vector<double> x, y;
        for (const auto& r : mlp_only) x.push_back(r[i]);
        for (const auto& r : full_block) y.push_back(r[i]);
        a.epe_mlp_only.push_back(stats::median(x));
        a.epe_full_block.push_back(stats::median(y));
      }
      a.epe0 = epes[0];
      a.massive = massive_coordinates(a.epe0);
      for (std::size_t l = 0; l < A::layers; ++l) a.gamma_by_layer.push_back(mean_gamma(m, a.massive, layer_range{l, l + 1}));
      a.gamma_mid = mean_gamma(m, a.massive, a.mid);
    }
  }

  // Figure 5: input 0's attention under each intervention that applies
  log("figure 5: attention maps");
  workspace<A> ws;
  std::apply([&](auto&... iv) {
    (([&] {
       if (!iv.template check<A>().applies) return;
       intervened_model<A, std::decay_t<decltype(iv)>> run(m, iv);
       run.forward(ws, tokens[0], 1, T);
       a.maps.push_back({iv.id, iv.name, mean_pattern(ws, 0, a.mid)});
     }()), ...);
  }, ivs);
  return a;
}

}  // namespace sinkcore
