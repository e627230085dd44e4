#pragma once
/// @file workspace.hpp
/// The activations of one forward pass over a batch of B sequences of T tokens (n = B*T rows), carved from
/// what the architecture declares (A::declare_activations: the model's own slabs and each component's,
/// activation_spec.hpp), and the backward pass's scratch (carved on the first backward pass). The backward
/// pass reads them; callers read them under TransformerLens hook names:
///
/// | hook name                            | shape            | what                                   |
/// |--------------------------------------|------------------|----------------------------------------|
/// | hook_embed                           | [B, T, d]        | token embedding rows wte[token]        |
/// | hook_pos_embed                       | [B, T, d]        | wpe[t] (learned positions only)        |
/// | blocks.{l}.hook_resid_pre            | [B, T, d]        | residual stream entering block l       |
/// | blocks.{l}.ln1.hook_normalized       | [B, T, d]        | ln_1 output (after gain and bias)      |
/// | blocks.{l}.attn.hook_q / hook_k / hook_v | [B, T, H, d_head] | after bias, normalisation and RoPE |
/// | blocks.{l}.attn.hook_pattern         | [B, H, T, T]     | attention probabilities (query, key)   |
/// | blocks.{l}.attn.hook_z               | [B, T, H, d_head]| pattern @ v                            |
/// | blocks.{l}.hook_attn_out             | [B, T, d]        | attention output after c_proj          |
/// | blocks.{l}.hook_resid_mid            | [B, T, d]        | resid_pre + attn_out                   |
/// | blocks.{l}.ln2.hook_normalized       | [B, T, d]        | ln_2 output (blocks with an MLP)       |
/// | blocks.{l}.mlp.hook_pre / hook_post  | [B, T, 4d]       | before / after GELU                    |
/// | blocks.{l}.hook_mlp_out              | [B, T, d]        | MLP output                             |
/// | blocks.{l}.hook_resid_post           | [B, T, d]        | residual stream leaving block l        |
/// | ln_final.hook_normalized             | [B, T, d]        | ln_f output                            |
/// | logits                               | [B, T, vocab]    | unembedded (tied wte)                  |
/// | blocks.{l}.attn.hook_slot_pattern    | [B, H, T]        | weight of the extra slot per query (architectures with an extra_slot only; not a compile-time hook point) |
/// A block without an MLP has no ln2/mlp hooks and its hook_resid_post is its hook_resid_mid (the same
/// memory: no copy, no dead buffer). A hook exists exactly when its slab is declared.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "../error.hpp"
#include "activation_spec.hpp"
#include "block_view.hpp"
#include "hooks.hpp"
#include "model.hpp"

namespace sinkcore {

namespace detail {
/// The slab each hook point reads.
constexpr act hook_slab(hook_point p) {
  switch (p) {
    case hook_point::embed: return act::embed;
    case hook_point::pos_embed: return act::pos_embed;
    case hook_point::resid_pre: return act::resid_pre;
    case hook_point::ln1: return act::ln1;
    case hook_point::q: return act::q;
    case hook_point::k: return act::k;
    case hook_point::v: return act::v;
    case hook_point::pattern: return act::pattern;
    case hook_point::z: return act::z;
    case hook_point::attn_out: return act::attn_out;
    case hook_point::resid_mid: return act::resid_mid;
    case hook_point::ln2: return act::ln2;
    case hook_point::mlp_pre: return act::mlp_pre;
    case hook_point::mlp_post: return act::mlp_post;
    case hook_point::mlp_out: return act::mlp_out;
    case hook_point::resid_post: return act::resid_post;
    case hook_point::ln_final: return act::ln_f;
    case hook_point::logits: return act::logits;
  }
  return act::count;
}
constexpr bool model_wide(hook_point p) {
  return p == hook_point::embed || p == hook_point::pos_embed || p == hook_point::ln_final || p == hook_point::logits;
}
}  // namespace detail

template <architecture_type A>
class workspace {
 private:
  static constexpr std::size_t count_specs() {
    std::size_t n = 0;
    A::declare_activations([&](const activation_spec&) { ++n; });
    return n;
  }

 public:
  static constexpr std::size_t d = A::d_model, H = A::heads, dh = A::d_head, dm = A::d_mlp, V = A::vocab;

  /// Every slab the architecture declares, in declaration order.
  static constexpr std::array<activation_spec, count_specs()> specs = [] {
    std::array<activation_spec, count_specs()> out{};
    std::size_t i = 0;
    A::declare_activations([&](const activation_spec& s) { out[i++] = s; });
    return out;
  }();

  /// Whether slab a exists in block `layer` (-1: model-wide or shared backward scratch).
  static constexpr bool declared(act a, int layer = -1) {
    for (const auto& s : specs)
      if (s.what == a && s.layer == layer) return true;
    return false;
  }

  /// The model's own slabs of one block, by name (components' slabs: slab(act, layer)).
  struct block_activations {
    float *resid_pre, *ln1, *ln1_mean, *ln1_rstd, *q, *k, *v, *pattern, *z, *attn_out, *resid_mid;
    float *ln2, *ln2_mean, *ln2_rstd, *mlp_pre, *mlp_post, *mlp_out, *resid_post;  // null without an MLP (resid_post aliases)
  };

  workspace() = default;
  workspace(std::size_t batch, std::size_t T) { resize(batch, T); }
  // The slab table points into this object's buffers: copies would share them, so there are none.
  workspace(const workspace&) = delete;
  workspace& operator=(const workspace&) = delete;
  workspace(workspace&&) noexcept = default;  // the buffers move, so the table still points into them
  workspace& operator=(workspace&&) noexcept = default;

  /// Size for B sequences of T tokens. @pre 1 <= T <= context
  void resize(std::size_t batch, std::size_t T) {
    if (T == 0 || T > A::context)
      throw error("sequence length " + std::to_string(T) + " is outside [1, " + std::to_string(A::context) +
                  "] for architecture " + A::name());
    if (batch == 0) throw error("batch size must be >= 1");
    if (batch == B_ && T == T_) return;
    B_ = batch;
    T_ = T;
    for (auto& row : table_) row.fill(nullptr);
    carve(phase::forward, buffer_);
    if (!scratch_.empty()) carve(phase::backward, scratch_);
    for (std::size_t l = 0; l < A::layers; ++l) {
      auto& b = blocks_[l];
      auto at = [&](act a) { return table_[l + 1][std::size_t(a)]; };
      b = {at(act::resid_pre), at(act::ln1), at(act::ln1_mean), at(act::ln1_rstd), at(act::q), at(act::k), at(act::v),
           at(act::pattern), at(act::z), at(act::attn_out), at(act::resid_mid), at(act::ln2), at(act::ln2_mean),
           at(act::ln2_rstd), at(act::mlp_pre), at(act::mlp_post), at(act::mlp_out), at(act::resid_post)};
    }
    tokens_.assign(B_ * T_, 0);
  }

  /// Carve the backward pass's scratch (once per batch shape).
  void prepare_backward() {
    if (scratch_.empty()) carve(phase::backward, scratch_);
  }

  std::size_t batch() const { return B_; }
  std::size_t length() const { return T_; }
  std::size_t rows() const { return B_ * T_; }

  /// Slab a of block `layer` (-1: model-wide and shared scratch), null if not declared.
  float* slab(act a, int layer = -1) { return table_[std::size_t(layer + 1)][std::size_t(a)]; }
  const float* slab(act a, int layer = -1) const { return table_[std::size_t(layer + 1)][std::size_t(a)]; }

  /// What block `layer`'s components see (block_view.hpp); G null in the forward pass.
  block_view<A> view(int layer, const float* W, float* G = nullptr) {
    return {W, G, layer, B_, T_, 1.f / std::sqrt(float(dh)), layer < 0 ? nullptr : table_[std::size_t(layer + 1)].data(),
            table_[0].data()};
  }

  block_activations& block(std::size_t l) { return blocks_[l]; }
  const block_activations& block(std::size_t l) const { return blocks_[l]; }
  float* embed() { return slab(act::embed); }
  float* pos_embed() { return slab(act::pos_embed); }
  float* resid_final() { return blocks_[A::layers - 1].resid_post; }
  const float* resid_final() const { return blocks_[A::layers - 1].resid_post; }
  float* ln_f() { return slab(act::ln_f); }
  float* ln_f_mean() { return slab(act::ln_f_mean); }
  float* ln_f_rstd() { return slab(act::ln_f_rstd); }
  float* logits() { return slab(act::logits); }
  const float* logits() const { return slab(act::logits); }
  std::vector<int>& tokens() { return tokens_; }
  const std::vector<int>& tokens() const { return tokens_; }

  /// Attention probabilities of block l, head h, sequence b: a T x T row-major matrix [query][key].
  const float* pattern(std::size_t l, std::size_t b, std::size_t h) const {
    return blocks_[l].pattern + (b * H + h) * T_ * T_;
  }
  /// The extra slot's weight for each of the T queries of block l, head h, sequence b; null without a slot.
  const float* slot_pattern(std::size_t l, std::size_t b, std::size_t h) const {
    const float* s = slab(act::slot_pattern, int(l));
    return s ? s + (b * H + h) * T_ : nullptr;
  }

  /// A captured activation by TransformerLens hook name (see the table above), as a view over the
  /// workspace (valid until the next resize). Throws sinkcore::error for an unknown or absent hook.
  auto hook(std::string_view name) {
    auto [ptr, shape] = locate(name);
    return xt::adapt(ptr, product(shape), xt::no_ownership(), shape);
  }

  /// Pointer and shape of the activation at hook point p of block `layer` (-1 for model-wide points), or
  /// a null pointer if this architecture has no such point (no MLP in that block, no learned positions).
  std::pair<float*, std::vector<std::size_t>> at(hook_point p, int layer = -1) {
    if (!exists(p, layer)) return {nullptr, {}};
    using shp = std::vector<std::size_t>;
    shp s;
    switch (p) {
      case hook_point::q: case hook_point::k: case hook_point::v: case hook_point::z: s = {B_, T_, H, dh}; break;
      case hook_point::pattern: s = {B_, H, T_, T_}; break;
      case hook_point::mlp_pre: case hook_point::mlp_post: s = {B_, T_, dm}; break;
      case hook_point::logits: s = {B_, T_, V}; break;
      default: s = {B_, T_, d};
    }
    return {slab(detail::hook_slab(p), layer), s};
  }

  /// Every hook name this architecture has, in forward order.
  static std::vector<std::string> hook_names() {
    std::vector<std::string> out;
    for (int l = -1; l < int(A::layers); ++l)
      for (int p = 0; p <= int(hook_point::logits); ++p) {
        if (exists(hook_point(p), l)) out.push_back(hook_name(hook_point(p), l));
        if (hook_point(p) == hook_point::pattern && l >= 0 && declared(act::slot_pattern, l))
          out.push_back(slot_hook_name(std::size_t(l)));
      }
    // model-wide points after the blocks come last in forward order
    std::stable_partition(out.begin(), out.end(), [](const std::string& n) { return n != "ln_final.hook_normalized" && n != "logits"; });
    return out;
  }

  /// Pointer and shape of a hook by TransformerLens name.
  std::pair<float*, std::vector<std::size_t>> locate(std::string_view name) {
    for (std::size_t l = 0; l < A::layers; ++l)
      if (declared(act::slot_pattern, int(l)) && slot_hook_name(l) == name)
        return {slab(act::slot_pattern, int(l)), {B_, H, T_}};
    for (int l = -1; l < int(A::layers); ++l)
      for (int p = 0; p <= int(hook_point::logits); ++p)
        if (exists(hook_point(p), l) && hook_name(hook_point(p), l) == name) return at(hook_point(p), l);
    throw error("architecture " + A::name() + " has no hook point named '" + std::string(name) + "'");
  }

  /// Whether point p exists in block `layer` for this architecture: its slab is declared there.
  static constexpr bool exists(hook_point p, int layer) {
    if (detail::model_wide(p) != (layer < 0) || layer >= int(A::layers)) return false;
    return declared(detail::hook_slab(p), layer);
  }

 private:
  static std::string slot_hook_name(std::size_t l) { return "blocks." + std::to_string(l) + ".attn.hook_slot_pattern"; }

  static std::size_t product(const std::vector<std::size_t>& s) {
    std::size_t p = 1;
    for (auto x : s) p *= x;
    return p;
  }

  /// Lay the slabs of one phase out in `buf` (each 64-byte aligned) and point the table at them.
  void carve(phase when, aligned_vector<float>& buf) {
    std::array<std::size_t, specs.size()> offset{};
    std::size_t total = 0;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& s = specs[i];
      if (s.when != when || s.alias != act::count) continue;
      offset[i] = total;
      total += (s.floats(B_, T_, H) + 15) / 16 * 16;
    }
    buf.assign(total, 0.f);
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& s = specs[i];
      if (s.when != when) continue;
      table_[std::size_t(s.layer + 1)][std::size_t(s.what)] =
          s.alias == act::count ? buf.data() + offset[i] : table_[std::size_t(s.alias_layer + 1)][std::size_t(s.alias)];
    }
  }

  std::size_t B_ = 0, T_ = 0;
  aligned_vector<float> buffer_, scratch_;
  std::array<std::array<float*, std::size_t(act::count)>, A::layers + 1> table_{};
  std::array<block_activations, A::layers> blocks_{};
  std::vector<int> tokens_;
};

}  // namespace sinkcore
