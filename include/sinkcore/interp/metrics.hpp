#pragma once
/// @file metrics.hpp
/// Sink metrics on the attention patterns of a forward pass.
///
/// BOS attention (Ran-Milo et al. 2026, Sec. 2): for one input of T tokens, the attention A[l][h][i][0]
/// of the second-half queries i = T/2 .. T-1 to key 0, averaged over those queries and the heads of a
/// layer. Query row 0 always puts all its attention on key 0 and is never among them.
/// Chance (uniform causal attention) is mean_{i=T/2}^{T-1} 1/(i+1): 0.0340 for T = 40.
#include <cstddef>
#include <vector>

#include "../model/workspace.hpp"

namespace sinkcore {

/// Uniform causal attention's share on key 0, averaged over the second-half queries of T tokens.
inline double bos_attention_chance(std::size_t T) {
  double s = 0;
  for (std::size_t i = T / 2; i < T; ++i) s += 1.0 / double(i + 1);
  return s / double(T - T / 2);
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

}  // namespace sinkcore
