#pragma once
/// @file zoo.hpp
/// The study's zoos live in the one registry of named architectures, sinkcore/zoo.hpp (tiny_zoo,
/// tiny_h16_zoo, ...), so that every architecture a study trains can be loaded by every sinklab command.
/// This header keeps the names the study used before in `sinkcore::study`.
#include "../zoo.hpp"

namespace sinkcore::study {
using sinkcore::tiny_h16;
using sinkcore::tiny_h16_shape;
using sinkcore::tiny_h16_zoo;
}  // namespace sinkcore::study
