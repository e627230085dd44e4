#pragma once
/// @file slots.hpp
/// The slots of a GPT-2 block that components fill. Each component names its slot with `using slot`.
#include <concepts>
#include <string_view>

namespace sinkcore::slots {
struct positions {};  ///< how position enters: learned absolute, rotary, none
struct query {};      ///< the query projection: with or without the learned bias b_Q
struct keys {};       ///< the key projection W_K (and b_K): standard, unbiased, normalized, low-rank, frozen
struct first_mlp {};  ///< whether block 0 has an MLP
struct attention {};  ///< how attention scores become weights: softmax, softmax + 1, sigmoid
struct extra_slot {}; ///< an extra key/value slot every query can attend to: none, sink token, key-value bias
}  // namespace sinkcore::slots

namespace sinkcore {
/// A component: names its slot and has a short name used in architecture names ("rotary", "unbiased").
template <class C>
concept component = requires {
  typename C::slot;
  { C::name } -> std::convertible_to<std::string_view>;
};
}  // namespace sinkcore
