#pragma once
/// @file query.hpp
/// The query projection (slot `query`): q = x W_Q + b_Q (biased, GPT-2) or q = x W_Q (unbiased).
/// The paper's mechanism runs through b_Q: its term b_Q W_K^T x_j^T of the attention score depends on
/// the key position only (the source-agnostic shift, Ran-Milo et al. 2026, Sec. 3).
///
/// ## The contract of a query component (concept `query_component`)
///   `has_bias`                      whether b_Q exists
///   forward(b)                      act::q from act::ln1 (n x d, Conv1D layout W_Q (in, out))
///   backward(b)                     d_ln += d_q W_Q^T; the gradients of W_Q (and b_Q)
///   bias_of<L>(W, layer)               b_Q of a block (d floats), null without one: what interp/ reads and
///                                   interventions scale
///   hf_c_attn_weight<L>(l) / hf_c_attn_bias<L>(l)   the offsets of W_Q / b_Q in the parameter buffer, the
///                                   query third of Hugging Face's fused c_attn (npos: not there)
/// Worked example: `projection<false>` declares only W_Q; bias_of<L> returns nullptr, so the circuit
/// statistics that need b_Q say they do not apply, and the checkpoint writes `attn.q.weight` on its own.
#include <cstddef>
#include <string_view>

#include "../model/activation_spec.hpp"
#include "../model/linear.hpp"
#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::query {

template <bool Bias>
struct projection {
  using slot = slots::query;
  static constexpr std::string_view name = Bias ? "qbias" : "no-qbias";
  static constexpr bool has_bias = Bias;
  static constexpr bool hf_gpt2_layout = Bias;
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) return;
    add(matrix(role::q_weight, layer, S::d_model, S::d_model));
    if constexpr (Bias) add(bias(role::q_bias, layer, S::d_model));
  }
  template <class A> static constexpr void activations(auto&&, int) {}

  template <class V>
  static void forward(const V& b) {
    constexpr std::size_t d = V::d;
    detail::linear_forward(b.act(act::ln1), d, b.rows(), d, d, b.param(role::q_weight),
                           Bias ? b.param(role::q_bias) : nullptr, b.act(act::q), d);
  }
  template <class V>
  static void backward(const V& b) {
    constexpr std::size_t d = V::d;
    detail::linear_backward(b.act(act::ln1), d, b.rows(), d, d, b.param(role::q_weight), b.act(act::d_q), d,
                            b.act(act::d_ln), d, b.grad(role::q_weight), Bias ? b.grad(role::q_bias) : nullptr);
  }

  template <class L>
  static const float* bias_of(const float* W, int layer) {
    if constexpr (Bias) return W + L::offset(role::q_bias, layer);
    else return nullptr;
  }
  template <class L>
  static float* bias_of(float* W, int layer) {
    return const_cast<float*>(bias_of<L>(static_cast<const float*>(W), layer));
  }
  template <class L> static constexpr std::size_t hf_c_attn_weight(int layer) { return L::offset(role::q_weight, layer); }
  template <class L> static constexpr std::size_t hf_c_attn_bias(int layer) {
    return Bias ? L::offset(role::q_bias, layer) : L::npos;
  }
};

using biased = projection<true>;
using unbiased = projection<false>;

template <class C>
concept query_component = requires {
  { C::has_bias } -> std::convertible_to<bool>;
};

}  // namespace sinkcore::query

namespace sinkcore::slots {
struct query {
  static constexpr std::string_view name = "query";
  using default_component = sinkcore::query::biased;
  template <class C>
  static constexpr bool accepts = sinkcore::query::query_component<C>;
};
}  // namespace sinkcore::slots
