#pragma once
/// @file params.hpp
/// The parameter layout of an architecture, computed at compile time: every tensor's name, shape and
/// offset into one contiguous float buffer. The optimizer, checkpoint writer and gradient buffer all
/// walk this one list.
///
///   using L = layout<gpt2_tiny>;
///   static_assert(L::count == 2 + 1 + 4 * 16 + 2);       // wte, wpe, 16 tensors per block, ln_f
///   float* q_bias_of_block_2 = params.data() + L::offset(role::q_bias, 2);
#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <string_view>

#include "../architecture.hpp"
#include "param_spec.hpp"

namespace sinkcore {

template <architecture_type A>
struct layout {
  using arch = A;

 private:
  static constexpr std::size_t count_specs() {
    std::size_t n = 0;
    A::declare([&](const param_spec&) { ++n; });
    return n;
  }

 public:
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t count = count_specs();

  /// All tensors in buffer order, offsets filled in.
  static constexpr std::array<param_spec, count> specs = [] {
    std::array<param_spec, count> out{};
    std::size_t i = 0, off = 0;
    A::declare([&](param_spec p) {
      p.offset = off;
      off += p.size();
      out[i++] = p;
    });
    return out;
  }();

  /// Floats in the buffer (trainable and frozen).
  static constexpr std::size_t size = specs[count - 1].offset + specs[count - 1].size();

  /// Trainable parameters: what `sinklab archs` reports and the optimizer updates.
  static constexpr std::size_t trainable_parameters = [] {
    std::size_t n = 0;
    for (const auto& s : specs) n += s.trainable ? s.size() : 0;
    return n;
  }();

 private:
  // offsets[layer + 1][role]; row 0 holds the model-wide tensors.
  static constexpr auto table = [] {
    std::array<std::array<std::size_t, std::size_t(role::count)>, A::layers + 1> t{};
    for (auto& row : t) row.fill(npos);
    for (const auto& s : specs) t[std::size_t(s.layer + 1)][std::size_t(s.what)] = s.offset;
    return t;
  }();

 public:
  /// Offset of tensor `r` of block `layer` (-1: model-wide), or npos if this architecture lacks it.
  static constexpr std::size_t offset(role r, int layer = -1) { return table[std::size_t(layer + 1)][std::size_t(r)]; }
  static constexpr bool has(role r, int layer = -1) { return offset(r, layer) != npos; }

  /// The spec of tensor `r` of block `layer`; @pre has(r, layer).
  static constexpr const param_spec& spec(role r, int layer = -1) {
    const std::size_t off = offset(r, layer);
    return *std::find_if(specs.begin(), specs.end(), [&](const param_spec& s) { return s.offset == off && s.what == r; });
  }
};

}  // namespace sinkcore
