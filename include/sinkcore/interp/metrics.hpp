#pragma once
/// @file metrics.hpp
/// Sink metrics on the attention patterns of a forward pass.
///
/// BOS attention (Ran-Milo et al. 2026, Sec. 2): for one input of T tokens, the attention A[l][h][i][0]
/// of the second-half queries i = T/2 .. T-1 to key 0, averaged over those queries and the heads of a
/// layer, then over the layers of a scope ("mid" or "all", see layer_range), then over inputs (mean and
/// standard error, stats.hpp). Query row 0 always puts all its attention on key 0 and is never among
/// them. Chance (uniform causal attention) is mean_{i=T/2}^{T-1} 1/(i+1): 0.0340 for T = 40.
///
/// Sink_k^eps (Gu et al., ICLR 2025): the fraction of (layer, head) whose mean attention to key k, over
/// the queries i >= k, exceeds eps (0.3). Computed per input; average the per-input fractions.
///
///   forward(m, ws, tokens, B, T);
///   auto mid = layer_range::mid(A::layers);                  // GPT-2 small: layers 3..10
///   std::vector<double> per_input = bos_attention_per_sequence(ws, mid);
///   auto s = stats::summarize(per_input);                      // s.mean, s.se
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../model/forward.hpp"
#include "../model/workspace.hpp"
#include "stats.hpp"

namespace sinkcore {

/// A half-open range of layers [first, last).
///
/// The paper's "mid" scope for GPT-2 small (12 layers) is layers 3..10: the first 3 and the last layer
/// dropped. For any depth L it is defined as [min(3, L-2), L-1) when L >= 3, so L = 12 gives [3, 11),
/// L = 24 gives [3, 23), L = 4 gives [2, 3), L = 3 gives [1, 2); for L <= 2 there is nothing to drop and
/// mid is every layer. "all" is [0, L). Any other range: layer_range{first, last}.
struct layer_range {
  std::size_t first = 0, last = 0;

  static constexpr layer_range all(std::size_t layers) { return {0, layers}; }
  static constexpr layer_range mid(std::size_t layers) {
    if (layers <= 2) return {0, layers};
    return {layers - 2 < 3 ? layers - 2 : 3, layers - 1};
  }
  constexpr std::size_t size() const { return last > first ? last - first : 0; }
  constexpr bool empty() const { return size() == 0; }
  constexpr bool contains(std::size_t l) const { return l >= first && l < last; }
  /// "3..10" (inclusive, as the paper writes it)
  std::string str() const {
    return empty() ? std::string("none") : std::to_string(first) + ".." + std::to_string(last - 1);
  }
  /// Throws sinkcore::error unless the range is a non-empty part of [0, layers).
  void check(std::size_t layers) const {
    if (empty() || last > layers)
      throw error("layer range [" + std::to_string(first) + ", " + std::to_string(last) +
                  ") is empty or outside the model's " + std::to_string(layers) + " layers");
  }
};

/// The paper's two scopes.
enum class sink_scope { mid, all };
constexpr std::string_view scope_name(sink_scope s) { return s == sink_scope::mid ? "mid" : "all"; }
constexpr layer_range scope_layers(sink_scope s, std::size_t layers) {
  return s == sink_scope::mid ? layer_range::mid(layers) : layer_range::all(layers);
}

/// Uniform causal attention's share on key 0, averaged over the second-half queries of T tokens.
inline double bos_attention_chance(std::size_t T) {
  double s = 0;
  for (std::size_t i = T / 2; i < T; ++i) s += 1.0 / double(i + 1);
  return s / double(T - T / 2);
}

/// BOS attention of one T x T pattern (row-major [query][key]): mean over i = T/2 .. T-1 of P[i][0].
/// @pre T >= 2 (checked): with T = 1 the only query is row 0, which attends to key 0 by construction.
inline double bos_attention_of_pattern(const float* pattern, std::size_t T) {
  if (T < 2) throw error("BOS attention needs at least 2 tokens (query 0 always attends to key 0)");
  double s = 0;
  for (std::size_t i = T / 2; i < T; ++i) s += pattern[i * T];
  return s / double(T - T / 2);
}

/// Where one sequence's attention went, in the paper's scope (second-half queries i = T/2 .. T-1, every
/// head of the layers in r), mean over those rows: to key 0 (`first`, the BOS attention), to keys
/// 1..i (`rest`), to the extra slot of a mitigation (`slot`, extra_slot.hpp), to "nothing" (`null`: the
/// "+1" of softmax_plus_one, 1 - first - rest - slot; NaN under sigmoid attention, whose rows are not
/// distributions), and the entropy (nats) of the row over (keys, slot, nothing), rows normalised to sum 1
/// (sigmoid) -- a measure of spread: log(i + 1) for uniform attention, 0 for a single sink.
struct attention_destinations {
  double first = 0, rest = 0, slot = 0, null = 0, entropy = 0;
};

template <architecture_type A>
attention_destinations attention_destinations_of(const workspace<A>& ws, std::size_t b, layer_range r) {
  r.check(A::layers);
  const std::size_t T = ws.length();
  if (T < 2) throw error("attention destinations need at least 2 tokens");
  attention_destinations out;
  std::size_t rows = 0;
  for (std::size_t l = r.first; l < r.last; ++l)
    for (std::size_t h = 0; h < A::heads; ++h) {
      const float* p = ws.pattern(l, b, h);
      const float* slot = ws.slot_pattern(l, b, h);
      for (std::size_t i = T / 2; i < T; ++i, ++rows) {
        const float* row = p + i * T;
        double rest = 0;
        for (std::size_t j = 1; j <= i; ++j) rest += row[j];
        const double a = slot ? slot[i] : 0.0, total = row[0] + rest + a;
        const double null = A::attention::is_sigmoid ? 0.0 : std::max(0.0, 1.0 - total);
        const double norm = A::attention::is_sigmoid ? total : 1.0;
        double H = 0;
        auto term = [&](double x) {
          if (x > 0 && norm > 0) H -= x / norm * std::log(x / norm);
        };
        for (std::size_t j = 0; j <= i; ++j) term(row[j]);
        term(a);
        term(null);
        out.first += row[0];
        out.rest += rest;
        out.slot += a;
        out.null += null;
        out.entropy += H;
      }
    }
  for (double* x : {&out.first, &out.rest, &out.slot, &out.null, &out.entropy}) *x /= double(rows);
  if (A::attention::is_sigmoid) out.null = std::nan("");
  return out;
}

/// Per layer: mean over sequences b, heads h and second-half queries i of A[l][h][i][0]. Returns
/// `layers` values.
template <architecture_type A>
std::vector<double> bos_attention_by_layer(const workspace<A>& ws) {
  const std::size_t T = ws.length(), B = ws.batch();
  std::vector<double> out(A::layers, 0.0);
  for (std::size_t l = 0; l < A::layers; ++l) {
    double s = 0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < A::heads; ++h) {
        const float* p = ws.pattern(l, b, h);
        for (std::size_t i = T / 2; i < T; ++i) s += p[i * T];
      }
    out[l] = s / double(B * A::heads * (T - T / 2));
  }
  return out;
}

/// One sequence's BOS attention per (layer, head): out[l][h].
template <architecture_type A>
std::vector<std::vector<double>> bos_attention_by_head(const workspace<A>& ws, std::size_t b) {
  std::vector<std::vector<double>> out(A::layers, std::vector<double>(A::heads));
  for (std::size_t l = 0; l < A::layers; ++l)
    for (std::size_t h = 0; h < A::heads; ++h) out[l][h] = bos_attention_of_pattern(ws.pattern(l, b, h), ws.length());
  return out;
}

/// One sequence's BOS attention per layer (mean over heads): out[l].
template <architecture_type A>
std::vector<double> bos_attention_by_layer(const workspace<A>& ws, std::size_t b) {
  std::vector<double> out(A::layers, 0.0);
  const auto heads = bos_attention_by_head(ws, b);
  for (std::size_t l = 0; l < A::layers; ++l) out[l] = stats::mean(heads[l]);
  return out;
}

/// Mean of per-layer values over a layer range (the scope average of the paper).
inline double mean_over_layers(std::span<const double> by_layer, layer_range r) {
  r.check(by_layer.size());
  double s = 0;
  for (std::size_t l = r.first; l < r.last; ++l) s += by_layer[l];
  return s / double(r.size());
}

/// The BOS attention of every sequence of the batch, averaged over the layers of `r` (the per-input
/// value whose mean and standard error the paper reports).
template <architecture_type A>
std::vector<double> bos_attention_per_sequence(const workspace<A>& ws, layer_range r) {
  std::vector<double> out(ws.batch());
  for (std::size_t b = 0; b < ws.batch(); ++b) out[b] = mean_over_layers(bos_attention_by_layer(ws, b), r);
  return out;
}

/// Mean attention to key k over queries i = k .. T-1 of one T x T pattern (Gu et al.'s alpha_k).
inline double mean_attention_to_key(const float* pattern, std::size_t T, std::size_t k) {
  if (k >= T) throw error("key position " + std::to_string(k) + " is outside a sequence of " + std::to_string(T));
  double s = 0;
  for (std::size_t i = k; i < T; ++i) s += pattern[i * T + k];
  return s / double(T - k);
}

/// Sink_k^eps of sequence b: the fraction of (layer, head) in `r` (default all layers) whose mean
/// attention to key k over queries i >= k exceeds eps (strictly).
template <architecture_type A>
double sink_rate(const workspace<A>& ws, std::size_t b, std::size_t k = 0, double eps = 0.3,
                 layer_range r = layer_range::all(A::layers)) {
  r.check(A::layers);
  std::size_t hits = 0;
  for (std::size_t l = r.first; l < r.last; ++l)
    for (std::size_t h = 0; h < A::heads; ++h) hits += mean_attention_to_key(ws.pattern(l, b, h), ws.length(), k) > eps;
  return double(hits) / double(r.size() * A::heads);
}

/// Sink_k^eps of every sequence of the batch.
template <architecture_type A>
std::vector<double> sink_rate_per_sequence(const workspace<A>& ws, std::size_t k = 0, double eps = 0.3,
                                           layer_range r = layer_range::all(A::layers)) {
  std::vector<double> out(ws.batch());
  for (std::size_t b = 0; b < ws.batch(); ++b) out[b] = sink_rate(ws, b, k, eps, r);
  return out;
}

/// Mean next-token cross-entropy (nats) of each sequence of the batch, from the logits in `ws`
/// (targets tokens[b, t+1], t < T-1).
template <architecture_type A>
std::vector<double> cross_entropy_per_sequence(const workspace<A>& ws) {
  const std::size_t B = ws.batch(), T = ws.length();
  std::vector<double> out(B, 0.0);
  const auto targets = next_token_targets(ws.tokens(), B, T);
  for (std::size_t b = 0; b < B; ++b) {
    std::vector<int> only(targets.size(), -1);
    std::copy_n(targets.begin() + std::ptrdiff_t(b * T), T, only.begin() + std::ptrdiff_t(b * T));
    out[b] = cross_entropy(ws, only);
  }
  return out;
}

}  // namespace sinkcore
