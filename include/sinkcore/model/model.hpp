#pragma once
/// @file model.hpp
/// A model's parameters: one contiguous, SIMD-aligned float buffer laid out by layout<A>, with named
/// access for I/O and the GPT-2 initialisation.
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "../error.hpp"
#include "params.hpp"

namespace sinkcore {

template <class T>
using aligned_vector = std::vector<T, xsimd::aligned_allocator<T, 64>>;

namespace detail {
/// Deterministic normal variates for initialisation (splitmix64 + Box-Muller): the same weights for a
/// seed on every platform and compiler.
struct init_rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return (double(next() >> 11) + 0.5) * 0x1.0p-53; }  // in (0, 1)
  double normal() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

/// A random orthogonal (n x n) matrix: Gram-Schmidt (twice, for stability) on Gaussian rows, in double.
inline void random_orthogonal(float* out, std::size_t n, init_rng& rng) {
  std::vector<double> m(n * n);
  for (auto& x : m) x = rng.normal();
  for (std::size_t i = 0; i < n; ++i) {
    double* r = m.data() + i * n;
    for (int pass = 0; pass < 2; ++pass)
      for (std::size_t j = 0; j < i; ++j) {
        const double* q = m.data() + j * n;
        double dot = 0;
        for (std::size_t c = 0; c < n; ++c) dot += r[c] * q[c];
        for (std::size_t c = 0; c < n; ++c) r[c] -= dot * q[c];
      }
    double norm = 0;
    for (std::size_t c = 0; c < n; ++c) norm += r[c] * r[c];
    norm = std::sqrt(norm);
    for (std::size_t c = 0; c < n; ++c) r[c] /= norm;
  }
  for (std::size_t i = 0; i < n * n; ++i) out[i] = float(m[i]);
}
}  // namespace detail

template <architecture_type A>
class model {
 public:
  using arch = A;
  using layout_type = layout<A>;

  /// Zero-filled parameters (to be loaded from a checkpoint).
  model() : params_(layout_type::size, 0.f) {}

  /// GPT-2's initialisation (HF GPT2PreTrainedModel._init_weights): N(0, 0.02) for matrices and
  /// embeddings, N(0, 0.02 / sqrt(2 * layers)) for the residual output projections, zero biases, unit
  /// LayerNorm gains. Frozen random keys are orthogonal (unit singular values). Deterministic in `seed`.
  explicit model(std::uint64_t seed) : model() { initialize(seed); }

  void initialize(std::uint64_t seed) {
    detail::init_rng rng{seed};
    const double residual_std = 0.02 / std::sqrt(2.0 * double(A::layers));
    for (const param_spec& s : layout_type::specs) {
      float* p = params_.data() + s.offset;
      switch (s.init) {
        case init_kind::normal:
          for (std::size_t i = 0; i < s.size(); ++i) p[i] = float(0.02 * rng.normal());
          break;
        case init_kind::normal_residual:
          for (std::size_t i = 0; i < s.size(); ++i) p[i] = float(residual_std * rng.normal());
          break;
        case init_kind::zeros: std::fill(p, p + s.size(), 0.f); break;
        case init_kind::ones: std::fill(p, p + s.size(), 1.f); break;
        case init_kind::orthogonal: detail::random_orthogonal(p, s.rows, rng); break;
        case init_kind::neg_log_context: std::fill(p, p + s.size(), float(-std::log(double(A::context)))); break;
      }
    }
  }

  float* data() { return params_.data(); }
  const float* data() const { return params_.data(); }
  static constexpr std::size_t size() { return layout_type::size; }

  /// The tensor of role r in block `layer` (-1: model-wide). @pre layout_type::has(r, layer)
  std::span<float> tensor(role r, int layer = -1) {
    const auto& s = layout_type::spec(r, layer);
    return {params_.data() + s.offset, s.size()};
  }
  std::span<const float> tensor(role r, int layer = -1) const {
    const auto& s = layout_type::spec(r, layer);
    return {params_.data() + s.offset, s.size()};
  }

  /// Look a tensor up by its full name ("h.3.attn.q.weight"); throws sinkcore::error if absent.
  static const param_spec& spec(std::string_view name) {
    for (const auto& s : layout_type::specs)
      if (s.name() == name) return s;
    throw error("architecture " + A::name() + ": no parameter tensor named '" + std::string(name) + "'");
  }
  std::span<float> tensor(std::string_view name) {
    const auto& s = spec(name);
    return {params_.data() + s.offset, s.size()};
  }

 private:
  aligned_vector<float> params_;
};

}  // namespace sinkcore
