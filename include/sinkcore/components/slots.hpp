#pragma once
/// @file slots.hpp
/// The slots of a GPT-2 block that components fill, and what every component has in common.
///
/// A slot is a tag type, declared here and defined at the end of its component header
/// (`components/<slot>.hpp`), where it names its default component (GPT-2's), a short name, and the concept
/// a component must satisfy to fill it:
///
///   struct slots::keys {
///     static constexpr std::string_view name = "keys";
///     using default_component = keys::standard;
///     template <class C> static constexpr bool accepts = keys::key_component<C>;
///   };
///
/// The architecture's one list of slots (architecture.hpp, `slot_list`) is folded for `with`, `name()`,
/// the static checks, the architecture concept and Hugging Face compatibility; each component header
/// documents its slot's contract (the concept) with a worked example.
#include <concepts>
#include <string_view>

namespace sinkcore::slots {
struct positions;   ///< how position enters: learned absolute, rotary, ALiBi, none (positions.hpp)
struct query;       ///< the query projection: with or without the learned bias b_Q (query.hpp)
struct keys;        ///< the key projection W_K (and b_K): standard, unbiased, normalized, low-rank, frozen (keys.hpp)
struct first_mlp;   ///< whether block 0 has an MLP (first_mlp.hpp)
struct attention;   ///< how attention scores become weights: softmax, softmax + 1, sigmoid (attention.hpp)
struct extra_slot;  ///< an extra key/value slot every query can attend to: none, sink token, key-value bias (extra_slot.hpp)
}  // namespace sinkcore::slots

namespace sinkcore {
/// A component: names its slot, has a short name used in architecture names ("rotary", "no-qbias"), and
/// says whether Hugging Face's GPT2LMHeadModel computes it exactly as sinkcore does (only GPT-2's own
/// components do; io::hf_gpt2_compatible folds this over the slots).
template <class C>
concept component = requires {
  typename C::slot;
  { C::name } -> std::convertible_to<std::string_view>;
  { C::hf_gpt2_layout } -> std::convertible_to<bool>;
};
}  // namespace sinkcore
