#pragma once
/// @file workspace.hpp
/// The activations of one forward pass over a batch of B sequences of T tokens (n = B*T rows). The
/// backward pass reads them; callers read them under TransformerLens hook names:
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
/// memory: no copy, no dead buffer).
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "../error.hpp"
#include "hooks.hpp"
#include "model.hpp"

namespace sinkcore {

template <architecture_type A>
class workspace {
 public:
  static constexpr std::size_t d = A::d_model, H = A::heads, dh = A::d_head, dm = A::d_mlp, V = A::vocab;
  static constexpr std::size_t key_extra = A::keys::template extra_per_token<typename A::shape>;

  static constexpr bool has_slot = A::extra_slot::has_slot;

  struct block_activations {
    float *resid_pre, *ln1, *ln1_mean, *ln1_rstd, *q, *k, *v, *key_extra, *pattern, *z, *attn_out, *resid_mid;
    float *ln2, *ln2_mean, *ln2_rstd, *mlp_pre, *mlp_post, *mlp_out, *resid_post;  // null without an MLP (resid_post aliases)
    // The extra slot (extra_slot.hpp), null without one: its weight per (b, h, query) [B, H, T]; its key
    // and value [d]; for a sink token also ln_1 of it [d], its ln_1 mean and rstd, and key scratch.
    float *slot_pattern, *slot_k, *slot_v, *slot_ln, *slot_mean, *slot_rstd, *slot_key_extra;
  };

  workspace() = default;
  workspace(std::size_t batch, std::size_t T) { resize(batch, T); }

  /// Size for B sequences of T tokens. @pre 1 <= T <= context
  void resize(std::size_t batch, std::size_t T) {
    if (T == 0 || T > A::context)
      throw error("sequence length " + std::to_string(T) + " is outside [1, " + std::to_string(A::context) +
                  "] for architecture " + A::name());
    if (batch == 0) throw error("batch size must be >= 1");
    if (batch == B_ && T == T_) return;
    B_ = batch;
    T_ = T;
    const std::size_t n = B_ * T_;
    // Count, then carve one buffer. Every slab is padded to 16 floats so each starts 64-byte aligned.
    std::size_t total = 0;
    auto take = [&](std::size_t count) {
      const std::size_t off = total;
      total += (count + 15) / 16 * 16;
      return off;
    };
    struct offsets { std::size_t v[26]; };
    std::array<offsets, A::layers> lo{};
    const std::size_t embed = take(n * d);
    const std::size_t pos = A::positions::absolute ? take(n * d) : 0;
    const std::size_t resid0 = take(n * d);
    for (std::size_t l = 0; l < A::layers; ++l) {
      auto& o = lo[l].v;
      o[1] = take(n * d); o[2] = take(n); o[3] = take(n);
      o[4] = take(n * d); o[5] = take(n * d); o[6] = take(n * d); o[7] = take(n * key_extra);
      o[8] = take(B_ * H * T_ * T_); o[9] = take(n * d); o[10] = take(n * d); o[11] = take(n * d);
      if (A::has_mlp(l)) {
        o[12] = take(n * d); o[13] = take(n); o[14] = take(n);
        o[15] = take(n * dm); o[16] = take(n * dm); o[17] = take(n * d); o[18] = take(n * d);
      }
      if constexpr (has_slot) {
        o[19] = take(B_ * H * T_); o[20] = take(d); o[21] = take(d); o[22] = take(d); o[23] = take(1);
        o[24] = take(1); o[25] = take(key_extra);
      }
    }
    const std::size_t lnf = take(n * d), lnf_mean = take(n), lnf_rstd = take(n), logits = take(n * V);
    buffer_.assign(total, 0.f);
    float* base = buffer_.data();
    embed_ = base + embed;
    pos_embed_ = A::positions::absolute ? base + pos : nullptr;
    float* resid = base + resid0;
    for (std::size_t l = 0; l < A::layers; ++l) {
      const auto& o = lo[l].v;
      auto& b = blocks_[l];
      b.resid_pre = resid;
      b.ln1 = base + o[1]; b.ln1_mean = base + o[2]; b.ln1_rstd = base + o[3];
      b.q = base + o[4]; b.k = base + o[5]; b.v = base + o[6]; b.key_extra = base + o[7];
      b.pattern = base + o[8]; b.z = base + o[9]; b.attn_out = base + o[10]; b.resid_mid = base + o[11];
      if (A::has_mlp(l)) {
        b.ln2 = base + o[12]; b.ln2_mean = base + o[13]; b.ln2_rstd = base + o[14];
        b.mlp_pre = base + o[15]; b.mlp_post = base + o[16]; b.mlp_out = base + o[17]; b.resid_post = base + o[18];
      } else {
        b.ln2 = b.ln2_mean = b.ln2_rstd = b.mlp_pre = b.mlp_post = b.mlp_out = nullptr;
        b.resid_post = b.resid_mid;
      }
      if constexpr (has_slot) {
        b.slot_pattern = base + o[19]; b.slot_k = base + o[20]; b.slot_v = base + o[21]; b.slot_ln = base + o[22];
        b.slot_mean = base + o[23]; b.slot_rstd = base + o[24]; b.slot_key_extra = base + o[25];
      } else {
        b.slot_pattern = b.slot_k = b.slot_v = b.slot_ln = b.slot_mean = b.slot_rstd = b.slot_key_extra = nullptr;
      }
      resid = b.resid_post;
    }
    ln_f_ = base + lnf; ln_f_mean_ = base + lnf_mean; ln_f_rstd_ = base + lnf_rstd; logits_ = base + logits;
    tokens_.assign(n, 0);
  }

  std::size_t batch() const { return B_; }
  std::size_t length() const { return T_; }
  std::size_t rows() const { return B_ * T_; }

  block_activations& block(std::size_t l) { return blocks_[l]; }
  const block_activations& block(std::size_t l) const { return blocks_[l]; }
  float* embed() { return embed_; }
  float* pos_embed() { return pos_embed_; }
  float* resid_final() { return blocks_[A::layers - 1].resid_post; }
  const float* resid_final() const { return blocks_[A::layers - 1].resid_post; }
  float* ln_f() { return ln_f_; }
  float* ln_f_mean() { return ln_f_mean_; }
  float* ln_f_rstd() { return ln_f_rstd_; }
  float* logits() { return logits_; }
  const float* logits() const { return logits_; }
  std::vector<int>& tokens() { return tokens_; }
  const std::vector<int>& tokens() const { return tokens_; }

  /// Scratch memory for the backward pass (grown on demand, kept between calls).
  float* scratch(std::size_t floats) {
    if (scratch_.size() < floats) scratch_.assign(floats, 0.f);
    return scratch_.data();
  }

  /// Attention probabilities of block l, head h, sequence b: a T x T row-major matrix [query][key].
  const float* pattern(std::size_t l, std::size_t b, std::size_t h) const {
    return blocks_[l].pattern + (b * H + h) * T_ * T_;
  }
  /// The extra slot's weight for each of the T queries of block l, head h, sequence b; null without a slot.
  const float* slot_pattern(std::size_t l, std::size_t b, std::size_t h) const {
    if constexpr (has_slot) return blocks_[l].slot_pattern + (b * H + h) * T_;
    else return nullptr;
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
    using shp = std::vector<std::size_t>;
    const shp resid{B_, T_, d}, heads{B_, T_, H, dh}, wide{B_, T_, dm};
    const bool model_wide = p == hook_point::embed || p == hook_point::pos_embed || p == hook_point::ln_final ||
                            p == hook_point::logits;
    if (model_wide != (layer < 0) || layer >= int(A::layers)) return {nullptr, {}};
    if (model_wide) {
      switch (p) {
        case hook_point::embed: return {embed_, resid};
        case hook_point::pos_embed: return {pos_embed_, resid};
        case hook_point::ln_final: return {ln_f_, resid};
        default: return {logits_, {B_, T_, V}};
      }
    }
    auto& b = blocks_[std::size_t(layer)];
    switch (p) {
      case hook_point::resid_pre: return {b.resid_pre, resid};
      case hook_point::ln1: return {b.ln1, resid};
      case hook_point::q: return {b.q, heads};
      case hook_point::k: return {b.k, heads};
      case hook_point::v: return {b.v, heads};
      case hook_point::pattern: return {b.pattern, {B_, H, T_, T_}};
      case hook_point::z: return {b.z, heads};
      case hook_point::attn_out: return {b.attn_out, resid};
      case hook_point::resid_mid: return {b.resid_mid, resid};
      case hook_point::ln2: return {b.ln2, resid};
      case hook_point::mlp_pre: return {b.mlp_pre, wide};
      case hook_point::mlp_post: return {b.mlp_post, wide};
      case hook_point::mlp_out: return {b.mlp_out, resid};
      case hook_point::resid_post: return {b.resid_post, resid};
      default: return {nullptr, {}};
    }
  }

  /// Every hook name this architecture has, in forward order.
  static std::vector<std::string> hook_names() {
    std::vector<std::string> out;
    for (int l = -1; l < int(A::layers); ++l)
      for (int p = 0; p <= int(hook_point::logits); ++p)
        if (exists(hook_point(p), l)) out.push_back(hook_name(hook_point(p), l));
    // model-wide points after the blocks come last in forward order
    std::stable_partition(out.begin(), out.end(), [](const std::string& n) { return n != "ln_final.hook_normalized" && n != "logits"; });
    if constexpr (has_slot)
      for (std::size_t l = A::layers; l-- > 0;) {
        const auto at = std::find(out.begin(), out.end(), hook_name(hook_point::pattern, int(l)));
        out.insert(at + 1, slot_hook_name(l));
      }
    return out;
  }

  /// Pointer and shape of a hook by TransformerLens name.
  std::pair<float*, std::vector<std::size_t>> locate(std::string_view name) {
    if constexpr (has_slot)
      for (std::size_t l = 0; l < A::layers; ++l)
        if (slot_hook_name(l) == name) return {blocks_[l].slot_pattern, {B_, H, T_}};
    for (int l = -1; l < int(A::layers); ++l)
      for (int p = 0; p <= int(hook_point::logits); ++p)
        if (exists(hook_point(p), l) && hook_name(hook_point(p), l) == name) return at(hook_point(p), l);
    throw error("architecture " + A::name() + " has no hook point named '" + std::string(name) + "'");
  }

  private:
  static std::string slot_hook_name(std::size_t l) { return "blocks." + std::to_string(l) + ".attn.hook_slot_pattern"; }

  /// Whether point p exists in block `layer` for this architecture (independent of the batch size).
  static constexpr bool exists(hook_point p, int layer) {
    const bool model_wide = p == hook_point::embed || p == hook_point::pos_embed || p == hook_point::ln_final ||
                            p == hook_point::logits;
    if (model_wide != (layer < 0) || layer >= int(A::layers)) return false;
    if (p == hook_point::pos_embed) return A::positions::absolute;
    const bool mlp_point = p == hook_point::ln2 || p == hook_point::mlp_pre || p == hook_point::mlp_post ||
                           p == hook_point::mlp_out;
    return !mlp_point || A::has_mlp(std::size_t(layer));
  }

  static std::size_t product(const std::vector<std::size_t>& s) {
    std::size_t p = 1;
    for (auto x : s) p *= x;
    return p;
  }

  std::size_t B_ = 0, T_ = 0;
  aligned_vector<float> buffer_, scratch_;
  std::array<block_activations, A::layers> blocks_{};
  float *embed_ = nullptr, *pos_embed_ = nullptr, *ln_f_ = nullptr, *ln_f_mean_ = nullptr, *ln_f_rstd_ = nullptr,
        *logits_ = nullptr;
  std::vector<int> tokens_;
};

}  // namespace sinkcore
