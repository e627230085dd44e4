#pragma once
/// @file keys.hpp
/// The key projection (slot `keys`). The paper traces the sink partly to structure in W_K: a few
/// residual coordinates (those massive in EPE_0) feed b_Q . W_K x_j strongly (Ran-Milo et al. 2026, Sec. 5).
/// Each alternative parametrisation removes or constrains that structure:
///  - standard:      k = x W_K + b_K (GPT-2). b_K adds q.b_K to every score of a query: it cancels in the
///                   softmax, so its gradient is 0.
///  - unbiased:      k = x W_K.
///  - normalized:    k = LN_head(x W_K + b_K) per head, no affine (QK-norm on keys, Dehghani et al. 2023).
///  - low_rank<R>:   W_K = A B, A (d, R), B (R, d): k = (x A) B + b_K.
///  - frozen_random: k = x W_K with W_K a seeded random orthogonal matrix, never trained, no bias: the
///                   key projection carries no learned structure.
///
/// ## The contract of a keys component (concept `key_component`)
/// Traits: `has_bias` (b_K exists), `per_head_norm` (keys are normalised per head: the score does not
/// split into the paper's terms), `has_input_matrix` (a linear map x -> x M whose rows are the residual
/// coordinates, W_K or A), `trainable`.
/// The pass, on any rows (the block's n tokens, or one sink-token row: extra_slot.hpp):
///   scratch_per_row<S>                        floats of per-row scratch project() keeps for backward_rows()
///   project<S, L>(W, l, x, n, k, scratch)     k[n, d] from x[n, d]
///   backward_rows<S, L>(W, G, l, x, n, dk, dx, scratch)   dx += dk dk/dx; parameter gradients (dk may be
///                                             overwritten)
///   forward(b) / backward(b)                  the block's keys: act::ln1 -> act::k; act::d_k -> act::d_ln
/// What interp/ and io/ ask instead of reading tensors by name:
///   without_bias<L>(W, l, x)                  x W_K (or (x A) B), in double, no bias, no normalisation
///                                             (L = layout<A>, as for every function here that reads W)
///   head_input_gain<L>(W, l, h, u)            g with (x W_K)_h . u = x . g for a head-space vector u (d_head):
///                                             g = W_K,h u; with u = b_Q,h, x_j . g is the paper's Delta_j
///   bias_of<L>(W, l)                          b_K (d floats), null without one
///   zero_inputs<L>(W, l, coordinates)         zero the rows of the input matrix (interventions i, j)
///   hf_c_attn_weight<L>(l) / hf_c_attn_bias<L>(l)   the key third of Hugging Face's fused c_attn, or npos
/// Worked example, low_rank<8>: its input matrix is A (d, 8), so zero_inputs zeroes rows of A;
/// without_bias computes (x A) B; hf_c_attn_weight is npos, so the checkpoint stores attn.k.weight_a and
/// attn.k.weight_b next to attn.q.weight and attn.v.weight instead of a fused c_attn.weight.
#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "../kernels/layernorm.hpp"
#include "../model/activation_spec.hpp"
#include "../model/linear.hpp"
#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::keys {

namespace detail {
/// y = x M for a row-major (rows, cols) matrix M, in double.
inline std::vector<double> times(std::span<const double> x, const float* M, std::size_t cols) {
  std::vector<double> y(cols, 0.0);
  for (std::size_t r = 0; r < x.size(); ++r)
    for (std::size_t c = 0; c < cols; ++c) y[c] += x[r] * M[r * cols + c];
  return y;
}
}  // namespace detail

/// The block's keys, and the activation declaration, for every key component.
template <class Derived>
struct common {
  using slot = slots::keys;
  static constexpr bool has_input_matrix = true;
  template <class A>
  static constexpr void activations(auto&& add, int layer) {
    constexpr std::size_t width = Derived::template scratch_per_row<typename A::shape>;
    if (layer >= 0 && width > 0) add(per_token(act::key_scratch, layer, width));
  }
  template <class V>
  static void forward(const V& b) {
    Derived::template project<typename V::shape, typename V::layout_type>(
        b.W, b.layer, b.act(act::ln1), b.rows(), b.act(act::k), scratch_of(b));
  }
  template <class V>
  static void backward(const V& b) {
    Derived::template backward_rows<typename V::shape, typename V::layout_type>(
        b.W, b.G, b.layer, b.act(act::ln1), b.rows(), b.act(act::d_k), b.act(act::d_ln), scratch_of(b));
  }

 private:
  template <class V>
  static float* scratch_of(const V& b) {
    return Derived::template scratch_per_row<typename V::shape> > 0 ? b.act(act::key_scratch) : nullptr;
  }
};

/// Keys with one full (d, d) matrix W_K, optionally a bias, optionally per-head normalised.
template <bool Bias, bool Normalized, bool Trainable>
struct full_matrix : common<full_matrix<Bias, Normalized, Trainable>> {
  static constexpr bool has_bias = Bias;
  static constexpr bool per_head_norm = Normalized;
  static constexpr bool trainable = Trainable;
  static constexpr bool hf_gpt2_layout = Bias && !Normalized && Trainable;

  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) return;
    add(param_spec{role::k_weight, layer, S::d_model, S::d_model, Trainable, Trainable,
                   Trainable ? init_kind::normal : init_kind::orthogonal});
    if constexpr (Bias) add(bias(role::k_bias, layer, S::d_model));
  }
  /// Normalized keys keep the keys before normalisation (d) and each head's mean and rstd (2 H) per row.
  template <class S>
  static constexpr std::size_t scratch_per_row = Normalized ? S::d_model + 2 * S::heads : 0;

  template <class S, class L>
  static void project(const float* W, int l, const float* x, std::size_t n, float* k, float* scratch) {
    constexpr std::size_t d = S::d_model;
    const float* b = Bias ? W + L::offset(role::k_bias, l) : nullptr;
    float* pre = Normalized ? scratch : k;
    sinkcore::detail::linear_forward(x, d, n, d, d, W + L::offset(role::k_weight, l), b, pre, d);
    if constexpr (Normalized) {
      // n*heads rows of d_head contiguous floats
      float* mean = scratch + n * d;
      float* rstd = mean + n * S::heads;
      kernels::layernorm(pre, S::d_head, nullptr, nullptr, k, S::d_head, mean, rstd, n * S::heads, S::d_head);
    }
  }
  template <class S, class L>
  static void backward_rows(const float* W, float* G, int l, const float* x, std::size_t n, float* dk, float* dx,
                            const float* scratch) {
    constexpr std::size_t d = S::d_model;
    const float* dpre = dk;
    std::vector<float> tmp;
    if constexpr (Normalized) {
      tmp.assign(n * d, 0.f);
      const float* mean = scratch + n * d;
      const float* rstd = mean + n * S::heads;
      kernels::layernorm_backward(dk, S::d_head, scratch, S::d_head, nullptr, mean, rstd, tmp.data(), S::d_head,
                                  nullptr, nullptr, n * S::heads, S::d_head);
      dpre = tmp.data();
    }
    sinkcore::detail::linear_backward(x, d, n, d, d, W + L::offset(role::k_weight, l), dpre, d, dx, d,
                                      Trainable ? G + L::offset(role::k_weight, l) : nullptr,
                                      Bias ? G + L::offset(role::k_bias, l) : nullptr);
  }

  template <class L>
  static std::vector<double> without_bias(const float* W, int l, std::span<const double> x) {
    return detail::times(x, W + L::offset(role::k_weight, l), L::arch::d_model);
  }
  template <class L>
  static std::vector<double> head_input_gain(const float* W, int l, std::size_t h, const float* u) {
    constexpr std::size_t d = L::arch::d_model, dh = L::arch::d_head;
    const float* M = W + L::offset(role::k_weight, l) + h * dh;
    std::vector<double> g(d, 0.0);
    for (std::size_t c = 0; c < d; ++c)
      for (std::size_t o = 0; o < dh; ++o) g[c] += double(M[c * d + o]) * u[o];
    return g;
  }
  template <class L>
  static void zero_inputs(float* W, int l, std::span<const std::size_t> coordinates) {
    float* M = W + L::offset(role::k_weight, l);
    for (std::size_t c : coordinates) std::fill_n(M + c * L::arch::d_model, L::arch::d_model, 0.f);
  }
  template <class L>
  static const float* bias_of(const float* W, int l) {
    if constexpr (Bias) return W + L::offset(role::k_bias, l);
    else return nullptr;
  }
  template <class L> static constexpr std::size_t hf_c_attn_weight(int layer) { return L::offset(role::k_weight, layer); }
  template <class L> static constexpr std::size_t hf_c_attn_bias(int layer) {
    return Bias ? L::offset(role::k_bias, layer) : L::npos;
  }
};

struct standard : full_matrix<true, false, true> { static constexpr std::string_view name = "keys"; };
struct unbiased : full_matrix<false, false, true> { static constexpr std::string_view name = "no-kbias"; };
struct normalized : full_matrix<true, true, true> { static constexpr std::string_view name = "normalized-keys"; };
struct frozen_random : full_matrix<false, false, false> { static constexpr std::string_view name = "frozen-keys"; };

namespace detail {
template <int R>
struct low_rank_name {
  static constexpr auto text = [] {
    std::array<char, 32> a{};
    constexpr std::string_view p = "low-rank-keys-";
    std::size_t i = 0;
    for (char c : p) a[i++] = c;
    char digits[12];
    int n = 0;
    for (int r = R; r > 0; r /= 10) digits[n++] = char('0' + r % 10);
    while (n) a[i++] = digits[--n];
    return a;
  }();
  static constexpr std::string_view value{text.data(), std::string_view(text.data()).size()};
};
}  // namespace detail

template <int Rank>
struct low_rank : common<low_rank<Rank>> {
  static_assert(Rank >= 1, "keys::low_rank: Rank must be >= 1");
  static constexpr std::string_view name = detail::low_rank_name<Rank>::value;
  static constexpr bool has_bias = true;
  static constexpr bool per_head_norm = false;
  static constexpr bool trainable = true;
  static constexpr bool hf_gpt2_layout = false;
  static constexpr std::size_t rank = Rank;

  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    static_assert(std::size_t(Rank) < S::d_model,
                  "keys::low_rank<Rank>: Rank must be smaller than d_model (else use keys::standard)");
    if (layer < 0) return;
    add(matrix(role::k_weight_a, layer, S::d_model, Rank));
    add(matrix(role::k_weight_b, layer, Rank, S::d_model));
    add(bias(role::k_bias, layer, S::d_model));
  }
  template <class S>
  static constexpr std::size_t scratch_per_row = 2 * Rank;  // u = x A, then du in backward

  template <class S, class L>
  static void project(const float* W, int l, const float* x, std::size_t n, float* k, float* scratch) {
    constexpr std::size_t d = S::d_model;
    float* u = scratch;  // [n, Rank], row stride 2*Rank
    sinkcore::detail::linear_forward(x, d, n, d, Rank, W + L::offset(role::k_weight_a, l), nullptr, u, 2 * Rank);
    sinkcore::detail::linear_forward(u, 2 * Rank, n, Rank, d, W + L::offset(role::k_weight_b, l),
                                     W + L::offset(role::k_bias, l), k, d);
  }
  template <class S, class L>
  static void backward_rows(const float* W, float* G, int l, const float* x, std::size_t n, float* dk, float* dx,
                            const float* scratch) {
    constexpr std::size_t d = S::d_model;
    const float* u = scratch;
    float* du = const_cast<float*>(scratch) + Rank;  // the second half of each row is scratch
    for (std::size_t r = 0; r < n; ++r) std::memset(du + r * 2 * Rank, 0, Rank * sizeof(float));
    sinkcore::detail::linear_backward(u, 2 * Rank, n, Rank, d, W + L::offset(role::k_weight_b, l), dk, d, du,
                                      2 * Rank, G + L::offset(role::k_weight_b, l), G + L::offset(role::k_bias, l));
    sinkcore::detail::linear_backward(x, d, n, d, Rank, W + L::offset(role::k_weight_a, l), du, 2 * Rank, dx, d,
                                      G + L::offset(role::k_weight_a, l), nullptr);
  }

  template <class L>
  static std::vector<double> without_bias(const float* W, int l, std::span<const double> x) {
    const auto u = keys::detail::times(x, W + L::offset(role::k_weight_a, l), Rank);
    return keys::detail::times(u, W + L::offset(role::k_weight_b, l), L::arch::d_model);
  }
  template <class L>
  static std::vector<double> head_input_gain(const float* W, int l, std::size_t h, const float* u) {
    constexpr std::size_t d = L::arch::d_model, dh = L::arch::d_head;
    const float* Wa = W + L::offset(role::k_weight_a, l);
    const float* Wb = W + L::offset(role::k_weight_b, l) + h * dh;
    std::vector<double> t(Rank, 0.0), g(d, 0.0);
    for (std::size_t r = 0; r < std::size_t(Rank); ++r)
      for (std::size_t o = 0; o < dh; ++o) t[r] += double(Wb[r * d + o]) * u[o];
    for (std::size_t c = 0; c < d; ++c)
      for (std::size_t r = 0; r < std::size_t(Rank); ++r) g[c] += double(Wa[c * Rank + r]) * t[r];
    return g;
  }
  template <class L>
  static void zero_inputs(float* W, int l, std::span<const std::size_t> coordinates) {
    float* M = W + L::offset(role::k_weight_a, l);
    for (std::size_t c : coordinates) std::fill_n(M + c * Rank, Rank, 0.f);
  }
  template <class L>
  static const float* bias_of(const float* W, int l) { return W + L::offset(role::k_bias, l); }
  template <class L> static constexpr std::size_t hf_c_attn_weight(int) { return L::npos; }
  template <class L> static constexpr std::size_t hf_c_attn_bias(int) { return L::npos; }
};

template <class C>
concept key_component = requires {
  { C::has_bias } -> std::convertible_to<bool>;
  { C::per_head_norm } -> std::convertible_to<bool>;
  { C::has_input_matrix } -> std::convertible_to<bool>;
  { C::trainable } -> std::convertible_to<bool>;
};

}  // namespace sinkcore::keys

namespace sinkcore::slots {
struct keys {
  static constexpr std::string_view name = "keys";
  using default_component = sinkcore::keys::standard;
  template <class C>
  static constexpr bool accepts = sinkcore::keys::key_component<C>;
};
}  // namespace sinkcore::slots
