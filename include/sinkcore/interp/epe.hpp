#pragma once
/// @file epe.hpp
/// The effective positional embedding (Ran-Milo et al. 2026, Sec. 4):
///
///   EPE_i = p_i + MLP0(p_i)
///
/// with p_i the learned positional embedding row i (wpe[i]) and MLP0 the layer-0 MLP applied to the raw
/// p_i with **no** LayerNorm: MLP0(x) = gelu_tanh(x W_fc + b_fc) W_proj + b_proj (c_fc, GELU, c_proj only;
/// ln_2 is skipped). Only architectures with learned positions and a layer-0 MLP have it.
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../model/model.hpp"

namespace sinkcore {

/// Whether EPE exists for A: learned absolute positions and an MLP in block 0.
template <architecture_type A>
inline constexpr bool has_effective_positional_embedding = A::positions::absolute && A::first_mlp::has_mlp0;

/// The MLP of block `layer` applied directly to x (d_model floats), without its LayerNorm, in double.
template <architecture_type A>
std::vector<double> mlp_without_layernorm(const model<A>& m, std::span<const double> x, int layer = 0) {
  using L = layout<A>;
  constexpr std::size_t d = A::d_model, dm = A::d_mlp;
  if (!A::has_mlp(std::size_t(layer))) throw error("architecture " + A::name() + ": block " + std::to_string(layer) + " has no MLP");
  if (x.size() != d) throw error("mlp_without_layernorm: input has " + std::to_string(x.size()) + " values, expected d_model");
  const float* Wfc = m.data() + L::offset(role::mlp_fc_weight, layer);
  const float* bfc = m.data() + L::offset(role::mlp_fc_bias, layer);
  const float* Wp = m.data() + L::offset(role::mlp_proj_weight, layer);
  const float* bp = m.data() + L::offset(role::mlp_proj_bias, layer);
  std::vector<double> hidden(dm), out(d);
  for (std::size_t o = 0; o < dm; ++o) hidden[o] = bfc[o];
  for (std::size_t k = 0; k < d; ++k) {
    const float* row = Wfc + k * dm;
    for (std::size_t o = 0; o < dm; ++o) hidden[o] += x[k] * row[o];
  }
  for (auto& e : hidden) e = 0.5 * e * (1 + std::tanh(0.7978845608028654 * (e + 0.044715 * e * e * e)));
  for (std::size_t o = 0; o < d; ++o) out[o] = bp[o];
  for (std::size_t k = 0; k < dm; ++k) {
    const float* row = Wp + k * d;
    for (std::size_t o = 0; o < d; ++o) out[o] += hidden[k] * row[o];
  }
  return out;
}

/// The raw positional embedding row p_i (wpe[i]) in double.
template <architecture_type A>
  requires(A::positions::absolute)
std::vector<double> positional_embedding(const model<A>& m, std::size_t i) {
  if (i >= A::context) throw error("position " + std::to_string(i) + " is outside the context of " + A::name());
  const float* p = A::positions::template embedding<layout<A>>(m.data(), i, A::d_model);
  return std::vector<double>(p, p + A::d_model);
}

/// EPE_i = p_i + MLP0(p_i) (no LayerNorm), d_model values.
template <architecture_type A>
  requires(has_effective_positional_embedding<A>)
std::vector<double> effective_positional_embedding(const model<A>& m, std::size_t i) {
  auto p = positional_embedding(m, i);
  const auto f = mlp_without_layernorm(m, p, 0);
  for (std::size_t c = 0; c < A::d_model; ++c) p[c] += f[c];
  return p;
}

/// v / |v| (throws sinkcore::error for a zero vector, naming `what`).
inline std::vector<double> unit_vector(std::vector<double> v, const std::string& what) {
  double n = 0;
  for (double x : v) n += x * x;
  n = std::sqrt(n);
  if (n == 0) throw error(what + " is the zero vector: no direction to normalise");
  for (double& x : v) x /= n;
  return v;
}

}  // namespace sinkcore
