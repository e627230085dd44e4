#pragma once
/// @file checkpoint.hpp
/// Models in and out of safetensors files, under Hugging Face GPT-2's tensor names and layout.
///
/// Export: `wte.weight`, `wpe.weight`, `h.{i}.ln_1.*`, `h.{i}.attn.c_attn.{weight,bias}` (q, k, v fused
/// column-wise in Conv1D (in, out) layout, as HF), `h.{i}.attn.c_proj.*`, `h.{i}.ln_2.*`, `h.{i}.mlp.*`,
/// `ln_f.*`. So a GPT-2-shaped model's file loads in transformers (with a config.json, see
/// hf_config_json). Variants reuse those names where they apply and add their own:
///  - keys::low_rank: no fused c_attn.weight; `attn.q.weight`, `attn.k.weight_a`, `attn.k.weight_b`,
///    `attn.v.weight` instead;
///  - a missing q or k bias: no fused c_attn.bias; `attn.q.bias` / `attn.k.bias` / `attn.v.bias` for those
///    that exist;
///  - frozen random keys are stored (inside c_attn) so a checkpoint is complete.
/// Import accepts the same names, with or without the `transformer.` prefix (distilgpt2 and others), skips
/// the causal-mask buffers `attn.bias` / `attn.masked_bias` and a tied `lm_head.weight`, and reports every
/// missing, misshapen or unexpected tensor in one error that names the file.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "../model/model.hpp"
#include "../zoo.hpp"
#include "safetensors.hpp"

namespace sinkcore::io {

/// Metadata key holding the architecture's registry name (A::name()).
inline constexpr const char* arch_metadata_key = "sinkcore.arch";

namespace detail {

/// One file tensor: its name, shape, and the pieces of the parameter buffer it concatenates column-wise
/// (each piece: offset in the buffer, columns). A plain tensor is one piece.
struct file_tensor {
  std::string name;
  std::vector<std::size_t> shape;
  std::size_t rows;                                          // rows of the file tensor (1 for vectors)
  std::vector<std::pair<std::size_t, std::size_t>> pieces;  // (offset, columns)
};

/// The file tensors of A in buffer order. Hugging Face fuses q, k and v into `attn.c_attn.{weight,bias}`
/// ([Q | K | V] column-wise); the query and key components say where their third of it is
/// (hf_c_attn_weight / hf_c_attn_bias, npos when they have none), and where either has none, each tensor
/// is stored under its own name.
template <architecture_type A>
std::vector<file_tensor> file_tensors() {
  using L = layout<A>;
  using Query = typename A::query;
  using Keys = typename A::keys;
  constexpr std::size_t d = A::d_model;
  std::vector<file_tensor> out;
  std::set<std::size_t> fused;  // offsets stored inside a c_attn tensor
  for (const param_spec& s : L::specs) {
    if (fused.count(s.offset)) continue;
    const int l = s.layer;
    const bool weight = s.what == role::q_weight, bias = s.what == role::q_bias;
    if (weight || bias) {
      const std::size_t q = weight ? Query::template hf_c_attn_weight<L>(l) : Query::template hf_c_attn_bias<L>(l);
      const std::size_t k = weight ? Keys::template hf_c_attn_weight<L>(l) : Keys::template hf_c_attn_bias<L>(l);
      const std::size_t v = L::offset(weight ? role::v_weight : role::v_bias, l);
      if (q == s.offset && k != L::npos) {
        const std::string block = "h." + std::to_string(l) + ".attn.c_attn.";
        out.push_back(weight ? file_tensor{block + "weight", {d, 3 * d}, d, {{q, d}, {k, d}, {v, d}}}
                             : file_tensor{block + "bias", {3 * d}, 1, {{q, d}, {k, d}, {v, d}}});
        fused.insert(k);
        fused.insert(v);
        continue;
      }
    }
    std::vector<std::size_t> shape = s.cols ? std::vector<std::size_t>{s.rows, s.cols} : std::vector<std::size_t>{s.rows};
    out.push_back({s.name(), shape, s.cols ? s.rows : 1, {{s.offset, s.cols ? s.cols : s.rows}}});
  }
  return out;
}

inline std::size_t numel(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (auto x : shape) n *= x;
  return n;
}

}  // namespace detail

/// Write `buffer` (parameters or gradients, laid out as layout<A>) to a safetensors file under the file
/// names above, atomically. `metadata` is added to {"format": "pt", "sinkcore.arch": A::name()}.
/// `prefix` is put before every model tensor's name (e.g. "transformer.", to mirror an input file).
template <architecture_type A>
void save_tensors(const std::filesystem::path& path, const float* buffer,
                  std::map<std::string, std::string> metadata = {},
                  const std::vector<named_tensor>& extra = {}, const std::string& prefix = {}) {
  const auto tensors = detail::file_tensors<A>();
  std::vector<std::vector<float>> fused;  // keeps concatenated tensors alive until written
  std::vector<named_tensor> out;
  out.reserve(tensors.size() + extra.size());
  for (const auto& t : tensors) {
    if (t.pieces.size() == 1) {
      out.push_back({prefix + t.name, t.shape, buffer + t.pieces[0].first});
      continue;
    }
    std::size_t cols = 0;
    for (const auto& p : t.pieces) cols += p.second;
    auto& f = fused.emplace_back(t.rows * cols);
    for (std::size_t r = 0; r < t.rows; ++r) {
      std::size_t c0 = 0;
      for (const auto& [off, c] : t.pieces) {
        std::copy_n(buffer + off + r * c, c, f.data() + r * cols + c0);
        c0 += c;
      }
    }
    out.push_back({prefix + t.name, t.shape, f.data()});
  }
  for (const auto& e : extra) out.push_back(e);
  metadata.emplace("format", "pt");
  metadata[arch_metadata_key] = A::name();
  write_safetensors(path, std::span<const named_tensor>(out), metadata);
}

/// The model's weights as a safetensors file (Hugging Face names).
template <architecture_type A>
void save_weights(const std::filesystem::path& path, const model<A>& m, std::map<std::string, std::string> metadata = {}) {
  save_tensors<A>(path, m.data(), std::move(metadata));
}

/// "transformer." when the file's tensors carry that prefix (distilgpt2 and others), else "".
inline std::string name_prefix(const safetensors_file& file) {
  for (const auto& t : file.tensors())
    if (t.name.starts_with("transformer.")) return "transformer.";
  return {};
}

/// Fill `buffer` (layout<A>) from an open safetensors file. Every tensor the architecture needs must be
/// present with the right shape; any other tensor (except mask buffers and a tied lm_head) is an error.
/// All or nothing: the whole file is checked against the architecture before the first value is written,
/// so a refused file leaves `buffer` exactly as it was.
template <architecture_type A>
void load_tensors(const safetensors_file& file, float* buffer) {
  const auto tensors = detail::file_tensors<A>();
  const std::string prefix = name_prefix(file);
  std::vector<std::string> problems;
  std::set<std::string> used;
  for (const auto& t : tensors) {
    const std::string name = prefix + t.name;
    if (!file.contains(name)) {
      problems.push_back("missing tensor '" + name + "' " + detail::shape_string(t.shape));
      continue;
    }
    used.insert(name);
    const auto& info = file.info(name);
    if (info.shape != t.shape)
      problems.push_back("tensor '" + name + "' has shape " + detail::shape_string(info.shape) + ", expected " +
                         detail::shape_string(t.shape) + " for " + A::name());
  }
  for (const auto& t : file.tensors()) {
    if (used.count(t.name)) continue;
    const std::string n = t.name.substr(t.name.starts_with(prefix) ? prefix.size() : 0);
    const bool mask = n.ends_with(".attn.bias") || n.ends_with(".attn.masked_bias");
    const bool tied_head = n == "lm_head.weight" || t.name == "lm_head.weight";
    const bool training_state = n.starts_with("optimizer.");
    if (!mask && !tied_head && !training_state) problems.push_back("unexpected tensor '" + t.name + "'");
  }
  if (!problems.empty()) {
    std::string msg = file.path().string() + ": not a checkpoint of " + A::name() + ":";
    const std::size_t shown = std::min<std::size_t>(problems.size(), 12);
    for (std::size_t i = 0; i < shown; ++i) msg += "\n  " + problems[i];
    if (shown < problems.size()) msg += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    throw error(msg);
  }
  std::vector<float> tmp;
  for (const auto& t : tensors) {
    const std::string name = prefix + t.name;
    tmp.resize(detail::numel(t.shape));
    file.read_float_into(name, tmp);
    std::size_t cols = 0;
    for (const auto& p : t.pieces) cols += p.second;
    for (std::size_t r = 0; r < t.rows; ++r) {
      std::size_t c0 = 0;
      for (const auto& [off, c] : t.pieces) {
        std::copy_n(tmp.data() + r * cols + c0, c, buffer + off + r * c);
        c0 += c;
      }
    }
  }
}

/// Parameters of architecture A from a safetensors file (Hugging Face GPT-2 or a sinklab checkpoint).
/// Non-finite weights are refused (with the tensor named).
template <architecture_type A>
model<A> load_weights(const std::filesystem::path& path) {
  const auto file = safetensors_file::open(path);
  model<A> m;
  load_tensors<A>(file, m.data());
  for (const auto& s : layout<A>::specs)
    for (std::size_t i = 0; i < s.size(); ++i)
      if (!std::isfinite(m.data()[s.offset + i]))
        throw error(path.string() + ": tensor '" + s.name() + "' holds a non-finite value at element " +
                    std::to_string(i));
  return m;
}

namespace detail {
/// `n_head` of a Hugging Face config.json (0 when absent); throws sinkcore::error naming the file.
SINKCORE_DECL std::size_t config_n_head(const std::filesystem::path& config);
/// The text of hf_config_json<A>().
SINKCORE_DECL std::string hf_config_text(std::size_t layers, std::size_t d_model, std::size_t heads, std::size_t context,
                                         std::size_t vocab, const std::string& name);
}  // namespace detail

/// The registry name (see zoo.hpp) of the architecture stored in `path`: the `sinkcore.arch` metadata of
/// sinklab's files, else inferred for Hugging Face GPT-2 checkpoints from the tensor shapes (layers, d_model,
/// context, vocabulary) and, when present, `config.json` beside the file (n_head). Throws sinkcore::error
/// naming the file when nothing registered matches.
inline std::string detect_architecture(const std::filesystem::path& path) {
  const auto file = safetensors_file::open(path);
  if (auto it = file.metadata().find(arch_metadata_key); it != file.metadata().end()) {
    bool known = false;
    hana::for_each(all_architectures, [&](auto t) { known = known || decltype(t)::type::name() == it->second; });
    if (!known)
      throw error(path.string() + ": architecture '" + it->second + "' (from its metadata) is not registered in this build");
    return it->second;
  }
  const std::string prefix = file.contains("transformer.wte.weight") ? "transformer." : "";
  if (!file.contains(prefix + "wte.weight") || !file.contains(prefix + "wpe.weight"))
    throw error(path.string() + ": no 'wte.weight' / 'wpe.weight': not a GPT-2 checkpoint, and no '" +
                std::string(arch_metadata_key) + "' metadata");
  const auto& wte = file.info(prefix + "wte.weight").shape;
  const auto& wpe = file.info(prefix + "wpe.weight").shape;
  if (wte.size() != 2 || wpe.size() != 2)
    throw error(path.string() + ": 'wte.weight' and 'wpe.weight' must be matrices");
  std::size_t layers = 0;
  while (file.contains(prefix + "h." + std::to_string(layers) + ".ln_1.weight")) ++layers;
  std::size_t heads = 0;
  if (const auto config = path.parent_path() / "config.json"; std::filesystem::exists(config))
    heads = detail::config_n_head(config);
  std::string found;
  hana::for_each(gpt2_family::types, [&](auto t) {
    using A = typename decltype(t)::type;
    if (found.empty() && A::layers == layers && A::d_model == wte[1] && A::vocab == wte[0] && A::context == wpe[0] &&
        (heads == 0 || heads == A::heads))
      found = A::name();
  });
  if (found.empty())
    throw error(path.string() + ": no registered GPT-2 architecture has " + std::to_string(layers) + " layers, d_model " +
                std::to_string(wte[1]) + ", vocabulary " + std::to_string(wte[0]) + ", context " + std::to_string(wpe[0]) +
                (heads ? ", " + std::to_string(heads) + " heads" : std::string()));
  return found;
}

/// config.json for Hugging Face transformers (GPT2LMHeadModel), for GPT-2-shaped architectures.
template <architecture_type A>
std::string hf_config_json() {
  return detail::hf_config_text(A::layers, A::d_model, A::heads, A::context, A::vocab, A::name());
}

/// Whether Hugging Face transformers' GPT2LMHeadModel computes A exactly as sinkcore does from A's weights
/// as they are: every slot's component says so (`hf_gpt2_layout`; only GPT-2's own components do).
template <architecture_type A>
constexpr bool hf_gpt2_compatible = hana::all_of(slot_list, [](auto s) {
  return hana::bool_c<A::template in_slot<typename decltype(s)::type>::hf_gpt2_layout>;
});

}  // namespace sinkcore::io

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/checkpoint.ipp"
#endif
