#pragma once
/// @file activation_cache.hpp
/// Export the activations of a forward pass to a safetensors file under TransformerLens hook names, for
/// Python users:
///
///   from safetensors.numpy import load_file
///   cache = load_file("cache.safetensors")
///   cache["blocks.5.attn.hook_pattern"].shape      # (batch, heads, T, T)
#include <filesystem>
#include <string>
#include <vector>

#include "../model/workspace.hpp"
#include "safetensors.hpp"

namespace sinkcore::io {

/// Write every hook point of `ws` (or only those whose name contains one of `filters`) to `path`,
/// atomically, float32, shapes as in workspace.hpp's table. Metadata records the architecture.
template <architecture_type A>
void save_activation_cache(const std::filesystem::path& path, workspace<A>& ws,
                           const std::vector<std::string>& filters = {}) {
  std::vector<named_tensor> tensors;
  for (const auto& name : workspace<A>::hook_names()) {
    bool keep = filters.empty();
    for (const auto& f : filters) keep = keep || name.find(f) != std::string::npos;
    if (!keep) continue;
    auto [ptr, shape] = ws.locate(name);
    tensors.push_back({name, shape, ptr});
  }
  if (tensors.empty()) throw error(path.string() + ": no hook point matches the filter");
  write_safetensors(path, std::span<const named_tensor>(tensors),
                    {{"format", "np"}, {"sinkcore.arch", A::name()}, {"sinkcore.content", "activation cache"}});
}

}  // namespace sinkcore::io
