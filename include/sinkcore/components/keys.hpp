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
/// Each component projects (forward) and back-propagates (backward); `extra` is per-token scratch in the
/// workspace (extra_per_token floats per row) that the backward pass reads.
#include <array>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <vector>

#include "../kernels/layernorm.hpp"
#include "../model/linear.hpp"
#include "../model/param_spec.hpp"
#include "slots.hpp"

namespace sinkcore::keys {

/// Keys with one full (d, d) matrix W_K, optionally a bias, optionally per-head normalised.
template <bool Bias, bool Normalized, bool Trainable>
struct full_matrix {
  using slot = slots::keys;
  static constexpr bool has_bias = Bias;
  static constexpr bool per_head_norm = Normalized;
  static constexpr bool trainable = Trainable;

  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    if (layer < 0) return;
    add(param_spec{role::k_weight, layer, S::d_model, S::d_model, Trainable, Trainable,
                   Trainable ? init_kind::normal : init_kind::orthogonal});
    if constexpr (Bias) add(bias(role::k_bias, layer, S::d_model));
  }
  template <class S>
  static constexpr std::size_t extra_per_token = Normalized ? S::d_model + 2 * S::heads : 0;

  /// k[n, d] from x[n, d] (ln_1 output).
  template <class S, class L>
  static void forward(const float* W, int l, const float* x, std::size_t n, float* k, float* extra) {
    constexpr std::size_t d = S::d_model;
    const float* b = Bias ? W + L::offset(role::k_bias, l) : nullptr;
    float* pre = Normalized ? extra : k;
    detail::linear_forward(x, d, n, d, d, W + L::offset(role::k_weight, l), b, pre, d);
    if constexpr (Normalized) {
      // n*heads rows of d_head contiguous floats
      float* mean = extra + n * d;
      float* rstd = mean + n * S::heads;
      kernels::layernorm(pre, S::d_head, nullptr, nullptr, k, S::d_head, mean, rstd, n * S::heads, S::d_head);
    }
  }
  /// Given dk (may be overwritten), accumulate dx and the parameter gradients.
  template <class S, class L>
  static void backward(const float* W, float* dW, int l, const float* x, std::size_t n, float* dk,
                       float* dx, const float* extra) {
    constexpr std::size_t d = S::d_model;
    const float* dpre = dk;
    std::vector<float> tmp;
    if constexpr (Normalized) {
      tmp.assign(n * d, 0.f);
      const float* mean = extra + n * d;
      const float* rstd = mean + n * S::heads;
      kernels::layernorm_backward(dk, S::d_head, extra, S::d_head, nullptr, mean, rstd, tmp.data(), S::d_head,
                                  nullptr, nullptr, n * S::heads, S::d_head);
      dpre = tmp.data();
    }
    detail::linear_backward(x, d, n, d, d, W + L::offset(role::k_weight, l), dpre, d, dx, d,
                            Trainable ? dW + L::offset(role::k_weight, l) : nullptr,
                            Bias ? dW + L::offset(role::k_bias, l) : nullptr);
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
struct low_rank {
  static_assert(Rank >= 1, "keys::low_rank: Rank must be >= 1");
  using slot = slots::keys;
  static constexpr std::string_view name = detail::low_rank_name<Rank>::value;
  static constexpr bool has_bias = true;
  static constexpr bool per_head_norm = false;
  static constexpr bool trainable = true;
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
  static constexpr std::size_t extra_per_token = 2 * Rank;  // u = x A, then du in backward

  template <class S, class L>
  static void forward(const float* W, int l, const float* x, std::size_t n, float* k, float* extra) {
    constexpr std::size_t d = S::d_model;
    float* u = extra;  // [n, Rank], row stride 2*Rank
    sinkcore::detail::linear_forward(x, d, n, d, Rank, W + L::offset(role::k_weight_a, l), nullptr, u, 2 * Rank);
    sinkcore::detail::linear_forward(u, 2 * Rank, n, Rank, d, W + L::offset(role::k_weight_b, l),
                                     W + L::offset(role::k_bias, l), k, d);
  }
  template <class S, class L>
  static void backward(const float* W, float* dW, int l, const float* x, std::size_t n, float* dk, float* dx,
                       const float* extra) {
    constexpr std::size_t d = S::d_model;
    const float* u = extra;
    float* du = const_cast<float*>(extra) + Rank;  // the second half of each row is scratch
    for (std::size_t r = 0; r < n; ++r) std::memset(du + r * 2 * Rank, 0, Rank * sizeof(float));
    sinkcore::detail::linear_backward(u, 2 * Rank, n, Rank, d, W + L::offset(role::k_weight_b, l), dk, d, du,
                                      2 * Rank, dW + L::offset(role::k_weight_b, l), dW + L::offset(role::k_bias, l));
    sinkcore::detail::linear_backward(x, d, n, d, Rank, W + L::offset(role::k_weight_a, l), du, 2 * Rank, dx, d,
                                      dW + L::offset(role::k_weight_a, l), nullptr);
  }
};

}  // namespace sinkcore::keys
