#pragma once
/// @file shape.hpp
/// The static size of a GPT-2-style model. Every size is a compile-time constant, so buffers, loops and
/// parameter layouts are computed by the compiler.
#include <cstddef>
#include <string_view>

namespace sinkcore {

/// @tparam Layers  number of transformer blocks
/// @tparam DModel  width of the residual stream
/// @tparam Heads   attention heads per block (DModel must be a multiple)
/// @tparam Context longest sequence the model accepts (rows of the learned positional embedding)
/// @tparam Vocab   vocabulary size (rows of the tied token embedding / LM head)
template <int Layers, int DModel, int Heads, int Context, int Vocab>
struct shape {
  static_assert(Layers >= 1, "sinkcore::shape: a model needs at least one layer");
  static_assert(DModel >= 1 && Heads >= 1, "sinkcore::shape: DModel and Heads must be positive");
  static_assert(DModel % Heads == 0, "sinkcore::shape: DModel must be a multiple of Heads");
  static_assert(Context >= 1 && Vocab >= 1, "sinkcore::shape: Context and Vocab must be positive");

  static constexpr std::size_t layers = Layers;
  static constexpr std::size_t d_model = DModel;
  static constexpr std::size_t heads = Heads;
  static constexpr std::size_t d_head = DModel / Heads;
  static constexpr std::size_t d_mlp = 4 * DModel;  // GPT-2's MLP width
  static constexpr std::size_t context = Context;
  static constexpr std::size_t vocab = Vocab;
};

/// A shape with a human name ("gpt2-small", "tiny"): the registry and checkpoints use it.
template <class Shape>
concept shape_type = requires {
  { Shape::layers } -> std::convertible_to<std::size_t>;
  { Shape::d_model } -> std::convertible_to<std::size_t>;
  { Shape::name } -> std::convertible_to<std::string_view>;
};

// Named shapes. GPT-2 sizes are from the Hugging Face configs; `tiny` is the default for training from
// scratch on CPU: byte vocabulary, 4 layers x 4 heads of 32, context 128.
struct gpt2_small_shape : shape<12, 768, 12, 1024, 50257> { static constexpr std::string_view name = "gpt2-small"; };
struct gpt2_medium_shape : shape<24, 1024, 16, 1024, 50257> { static constexpr std::string_view name = "gpt2-medium"; };
struct gpt2_large_shape : shape<36, 1280, 20, 1024, 50257> { static constexpr std::string_view name = "gpt2-large"; };
struct gpt2_xl_shape : shape<48, 1600, 25, 1024, 50257> { static constexpr std::string_view name = "gpt2-xl"; };
struct distilgpt2_shape : shape<6, 768, 12, 1024, 50257> { static constexpr std::string_view name = "distilgpt2"; };
struct tiny_shape : shape<4, 128, 4, 128, 256> { static constexpr std::string_view name = "tiny"; };

}  // namespace sinkcore
