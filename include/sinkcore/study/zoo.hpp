#pragma once
/// @file zoo.hpp
/// Extra shapes for the dispensability study's recipe search (docs/experiments.md): the tiny shape with
/// more, narrower heads (more heads are more chances for a head with nothing to do, the situation in which
/// sinks are thought to form). `sinklab dispensability --zoo tiny-h16` runs the study on it.
#include "../architecture.hpp"
#include "../zoo.hpp"

namespace sinkcore::study {

/// 4 layers, d_model 128, 16 heads of 8, context 128, bytes.
struct tiny_h16_shape : shape<4, 128, 16, 128, 256> {
  static constexpr std::string_view name = "tiny-h16";
};
using tiny_h16 = architecture<tiny_h16_shape>;

/// The tiny zoo's ten variants on the 16-head shape.
using tiny_h16_zoo =
    arch_list<tiny_h16, with<tiny_h16, query::unbiased>, with<tiny_h16, positions::rotary<>>, with<tiny_h16, positions::none>,
              with<tiny_h16, first_mlp::absent>, with<tiny_h16, keys::frozen_random>, with<tiny_h16, keys::normalized>,
              with<tiny_h16, keys::low_rank<8>>, with<tiny_h16, keys::unbiased>,
              architecture<tiny_h16_shape, query::unbiased, positions::rotary<>, keys::frozen_random>>;

}  // namespace sinkcore::study
