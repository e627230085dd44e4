#pragma once
/// @file first_mlp.hpp
/// Whether block 0 has an MLP (slot `first_mlp`). The paper's effective positional embedding,
/// EPE = p + MLP0(p), exists only when it does (Ran-Milo et al. 2026, Sec. 4).
#include <string_view>

#include "slots.hpp"

namespace sinkcore::first_mlp {

struct present {
  using slot = slots::first_mlp;
  static constexpr std::string_view name = "first-mlp";
  static constexpr bool has_mlp0 = true;
};
struct absent {
  using slot = slots::first_mlp;
  static constexpr std::string_view name = "no-first-mlp";
  static constexpr bool has_mlp0 = false;
};

}  // namespace sinkcore::first_mlp
