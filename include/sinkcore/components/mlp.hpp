#pragma once
/// @file mlp.hpp
/// GPT-2's MLP with its pre-LayerNorm, in every block that has one (architecture has_mlp(l); block 0 only
/// with first_mlp::present): resid_post = resid_mid + c_proj(gelu(c_fc(ln_2(resid_mid)))), GELU the tanh
/// approximation (Radford et al. 2019; Hugging Face "gelu_new"). Forward and backward side by side.
#include <algorithm>
#include <cstddef>

#include "../kernels/gelu.hpp"
#include "../kernels/layernorm.hpp"
#include "../kernels/parallel.hpp"
#include "../model/activation_spec.hpp"
#include "../model/hooks.hpp"
#include "../model/linear.hpp"
#include "../model/param_spec.hpp"

namespace sinkcore::detail {
/// GELU (forward) or its derivative (backward) on a finished block of c_fc's output or of d(post) (a
/// kernels::gemm_epilogue): rows [r0, r1), columns [c0, c1) of matrices of row stride ld.
struct gelu_block {
  const float* pre;  ///< c_fc's output (both)
  float* post;       ///< forward: written with gelu(pre); backward: GELU's output, read
  float* grad;       ///< backward: d loss / d post in, d loss / d pre out (in place); forward: null
  std::size_t ld;
  static void run(const void* ctx, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) {
    const auto& g = *static_cast<const gelu_block*>(ctx);
    // Whole rows are one contiguous range (one call, one profile zone); otherwise a call per row.
    const bool whole = c0 == 0 && c1 == g.ld;
    for (std::size_t r = r0; r < r1; r = whole ? r1 : r + 1) {
      const std::size_t o = r * g.ld + c0, len = whole ? (r1 - r0) * g.ld : c1 - c0;
      if (g.grad)
        kernels::gelu_backward_from_output(g.pre + o, g.post + o, g.grad + o, g.grad + o, len);
      else
        kernels::gelu(g.pre + o, g.post + o, len);
    }
  }
};
}  // namespace sinkcore::detail

namespace sinkcore::mlp {

struct gpt2 {
  /// The parameters of block `layer` (HF order: ln_2, c_fc, c_proj).
  template <class S>
  static constexpr void declare(auto&& add, int layer) {
    constexpr std::size_t d = S::d_model;
    add(gain(role::ln_2_weight, layer, d));
    add(bias(role::ln_2_bias, layer, d));
    add(matrix(role::mlp_fc_weight, layer, d, S::d_mlp));
    add(bias(role::mlp_fc_bias, layer, S::d_mlp));
    add(matrix(role::mlp_proj_weight, layer, S::d_mlp, d, init_kind::normal_residual));
    add(bias(role::mlp_proj_bias, layer, d));
  }
  template <class A>
  static constexpr void activations(auto&& add, int layer) {
    constexpr std::size_t d = A::d_model;
    add(per_token(act::ln2, layer, d));
    add(per_token(act::ln2_mean, layer, 1));
    add(per_token(act::ln2_rstd, layer, 1));
    add(per_token(act::mlp_pre, layer, A::d_mlp));
    add(per_token(act::mlp_post, layer, A::d_mlp));
    add(per_token(act::mlp_out, layer, d));
    add(per_token(act::resid_post, layer, d));
  }
  /// Backward scratch: d loss / d (the MLP's hidden layer).
  template <class A>
  static constexpr void backward_scratch(auto&& add) {
    add(sinkcore::backward_scratch(act::d_mlp, extent::tokens, A::d_mlp));
  }

  template <class V, class Hook>
  static void forward(const V& b, Hook&& hook) {
    constexpr std::size_t d = V::d, dm = V::dm;
    const std::size_t n = b.rows();
    float *ln2 = b.act(act::ln2), *pre = b.act(act::mlp_pre), *post = b.act(act::mlp_post), *out = b.act(act::mlp_out);
    detail::layernorm_rows(b.act(act::resid_mid), b.param(role::ln_2_weight), b.param(role::ln_2_bias), ln2,
                           b.act(act::ln2_mean), b.act(act::ln2_rstd), n, d);
    hook(at_point<hook_point::ln2>, ln2, d);
    // Where nothing hooks mlp_pre (mlp_out), GELU (the residual addition) runs on each finished block of
    // c_fc's (c_proj's) output while the block is still in the L2: gelu_block, residual_add, the same values
    // as the separate passes after a hook.
    constexpr bool gelu_inside = !detail::hook_listens<Hook, hook_point::mlp_pre>();
    constexpr bool add_inside = !detail::hook_listens<Hook, hook_point::mlp_out>();
    const detail::gelu_block g{pre, post, nullptr, dm};
    detail::linear_forward(ln2, d, n, d, dm, b.param(role::mlp_fc_weight), b.param(role::mlp_fc_bias), pre, dm,
                           {gelu_inside ? &detail::gelu_block::run : nullptr, &g});
    if constexpr (!gelu_inside) {
      hook(at_point<hook_point::mlp_pre>, pre, dm);
      const profile::zone gz(profile::part::gelu);  // the whole parallel region, on the calling thread
      detail::parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
        kernels::gelu(pre + r0 * dm, post + r0 * dm, (r1 - r0) * dm);
      });
    }
    hook(at_point<hook_point::mlp_post>, post, dm);
    const detail::residual_add r{b.act(act::resid_mid), out, b.act(act::resid_post), d};
    detail::linear_forward(post, dm, n, dm, d, b.param(role::mlp_proj_weight), b.param(role::mlp_proj_bias), out, d,
                           {add_inside ? &detail::residual_add::run : nullptr, &r});
    if constexpr (!add_inside) {
      hook(at_point<hook_point::mlp_out>, out, d);
      detail::add_rows(b.act(act::resid_mid), out, b.act(act::resid_post), n * d);
    }
  }

  /// d_resid (d loss / d resid_post) flows on unchanged and gains the MLP's share.
  template <class V>
  static void backward(const V& b) {
    constexpr std::size_t d = V::d, dm = V::dm;
    const std::size_t n = b.rows();
    float *dx = b.act(act::d_resid), *dmlp = b.act(act::d_mlp), *dln = b.act(act::d_ln);
    // d(post) = dx W_proj^T, and GELU's derivative (from its output: an unhooked forward) on each finished
    // block of it while the block is in the L2; then c_proj's dW from post.
    const detail::gelu_block g{b.act(act::mlp_pre), b.act(act::mlp_post), dmlp, dm};
    detail::linear_backward(b.act(act::mlp_post), dm, n, dm, d, b.param(role::mlp_proj_weight), dx, d, dmlp, dm,
                            b.grad(role::mlp_proj_weight), b.grad(role::mlp_proj_bias), 0.f,
                            {&detail::gelu_block::run, &g});
    detail::linear_backward(b.act(act::ln2), d, n, d, dm, b.param(role::mlp_fc_weight), dmlp, dm, dln, d,
                            b.grad(role::mlp_fc_weight), b.grad(role::mlp_fc_bias), 0.f);
    kernels::layernorm_backward(dln, d, b.act(act::resid_mid), d, b.param(role::ln_2_weight), b.act(act::ln2_mean),
                                b.act(act::ln2_rstd), dx, d, b.grad(role::ln_2_weight), b.grad(role::ln_2_bias), n, d);
  }
};

}  // namespace sinkcore::mlp
