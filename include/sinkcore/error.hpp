#pragma once
/// @file error.hpp
/// The one exception type thrown at sinkcore's library boundary. Messages name the file or tensor
/// concerned and the problem, e.g. `model.safetensors: tensor 'h.0.attn.c_attn.weight': shape [768, 2303]
/// does not match its 7074816 bytes`.
#include <stdexcept>
#include <string>

namespace sinkcore {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace sinkcore
