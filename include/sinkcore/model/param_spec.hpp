#pragma once
/// @file param_spec.hpp
/// What a component declares about each of its parameter tensors: its role, shape, whether it is
/// trained and decayed, and how it is initialised. The model's layout (one contiguous float buffer) is
/// computed from these declarations at compile time (see params.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sinkcore {

/// Every kind of parameter tensor a block or the model can own. Names follow Hugging Face GPT-2 where
/// the tensor exists there; q/k/v are separate tensors here (fused into `c_attn` on export).
enum class role : std::uint8_t {
  wte, wpe, ln_f_weight, ln_f_bias,                                   // global
  ln_1_weight, ln_1_bias,                                             // per block
  q_weight, q_bias, k_weight, k_bias, k_weight_a, k_weight_b, v_weight, v_bias,
  attn_proj_weight, attn_proj_bias,
  ln_2_weight, ln_2_bias, mlp_fc_weight, mlp_fc_bias, mlp_proj_weight, mlp_proj_bias,
  attn_sigmoid_bias, sink_token, slot_k_bias, slot_v_bias,            // mitigations (attention.hpp, extra_slot.hpp)
  count
};

/// The tensor name of a role, without the `h.{layer}.` prefix of block parameters.
constexpr std::string_view role_name(role r) {
  constexpr std::string_view names[] = {
      "wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias",
      "ln_1.weight", "ln_1.bias",
      "attn.q.weight", "attn.q.bias", "attn.k.weight", "attn.k.bias", "attn.k.weight_a", "attn.k.weight_b",
      "attn.v.weight", "attn.v.bias", "attn.c_proj.weight", "attn.c_proj.bias",
      "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
      "attn.sigmoid_bias", "attn.sink_token", "attn.slot_k", "attn.slot_v"};
  static_assert(std::size(names) == std::size_t(role::count));
  return names[std::size_t(r)];
}

/// How a tensor is initialised (GPT-2's scheme, Radford et al. 2019 and the HF implementation):
/// matrices and embeddings N(0, 0.02); residual output projections N(0, 0.02/sqrt(2*layers));
/// biases 0; LayerNorm gains 1; `orthogonal` is a seeded random orthogonal matrix (frozen keys);
/// `neg_log_context` is the constant -log(context) (sigmoid attention's bias, Ramapuram et al. 2024).
enum class init_kind : std::uint8_t { normal, normal_residual, zeros, ones, orthogonal, neg_log_context };

struct param_spec {
  role what{};
  int layer = -1;            ///< -1 for model-wide tensors
  std::size_t rows = 0;      ///< first dimension
  std::size_t cols = 0;      ///< second dimension; 0 for a vector of `rows` elements
  bool trainable = true;     ///< false: a fixed buffer (e.g. frozen random keys), never updated
  bool decay = false;        ///< AdamW weight decay applies (matrices, not biases/gains/embeddings)
  init_kind init = init_kind::normal;
  std::size_t offset = 0;    ///< into the model's float buffer, filled by the layout

  constexpr std::size_t size() const { return cols ? rows * cols : rows; }
  constexpr std::size_t rank() const { return cols ? 2 : 1; }
  /// Full tensor name, e.g. "h.3.attn.q.weight" or "wte.weight".
  std::string name() const {
    return layer < 0 ? std::string(role_name(what))
                     : "h." + std::to_string(layer) + "." + std::string(role_name(what));
  }
};

// Shorthands used by components when declaring parameters.
constexpr param_spec matrix(role r, int layer, std::size_t rows, std::size_t cols,
                            init_kind init = init_kind::normal) {
  return {r, layer, rows, cols, true, true, init};
}
constexpr param_spec bias(role r, int layer, std::size_t n) { return {r, layer, n, 0, true, false, init_kind::zeros}; }
constexpr param_spec gain(role r, int layer, std::size_t n) { return {r, layer, n, 0, true, false, init_kind::ones}; }

}  // namespace sinkcore
