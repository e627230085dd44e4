#pragma once
/// @file backward.hpp
/// The backward pass, step for step the forward pass in reverse (forward.hpp), for every architecture:
/// gradients of the mean next-token cross-entropy with respect to every trainable parameter.
/// Frozen tensors (keys::frozen_random) get no gradient (their slots in `grads` stay 0).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "forward.hpp"

namespace sinkcore {

/// Gradients in the parameter layout of A: one float per parameter, same offsets as model<A>.
template <architecture_type A>
using gradients = aligned_vector<float>;

template <architecture_type A>
gradients<A> make_gradients() {
  return gradients<A>(layout<A>::size, 0.f);
}

/// Backward pass after forward(m, ws, ...): grads = d loss / d params with loss the mean cross-entropy
/// over rows whose target is >= 0. `grads` is overwritten (resized to the layout's size).
/// @returns the loss.
template <architecture_type A>
double backward(const model<A>& m, workspace<A>& ws, std::span<const int> targets, gradients<A>& grads) {
  using L = layout<A>;
  using S = typename A::shape;
  constexpr std::size_t d = A::d_model, H = A::heads, dh = A::d_head, dm = A::d_mlp, V = A::vocab;
  const std::size_t B = ws.batch(), T = ws.length(), n = B * T;
  if (targets.size() != n) throw error("backward: expected " + std::to_string(n) + " targets");
  grads.assign(L::size, 0.f);
  const float* W = m.data();
  float* G = grads.data();
  auto P = [W](role r, int l = -1) { return W + L::offset(r, l); };
  auto D = [G](role r, int l = -1) { return G + L::offset(r, l); };

  // Scratch: dlogits [n,V] | dx [n,d] | dln [n,d] | dq, dk, dv, dz [n,d] | dmlp [n,dm] | dP [B,H,T,T]
  // then, with an extra slot: da [B,H,T] | dk_s, dv_s [B,H,dh] | d bias [B,H]
  constexpr bool slot = A::extra_slot::has_slot;
  const std::size_t slot_floats = A::plain_attention ? 0 : B * H * (T + 2 * dh + 1);
  float* buf = ws.scratch(n * V + 6 * n * d + n * dm + B * H * T * T + slot_floats);
  float* dlogits = buf;
  float* dx = dlogits + n * V;
  float* dln = dx + n * d;
  float* dq = dln + n * d;
  float* dk = dq + n * d;
  float* dv = dk + n * d;
  float* dz = dv + n * d;
  float* dmlp = dz + n * d;
  float* dP = dmlp + n * dm;
  float* dslot = dP + B * H * T * T;       // d loss / d slot weight, then / d slot logit
  float* dks = dslot + B * H * T;          // per (b, h): d loss / d k_s (head slice)
  float* dvs = dks + B * H * dh;           // per (b, h): d loss / d v_s
  float* dbias = dvs + B * H * dh;         // per (b, h): d loss / d sigmoid bias

  // d loss / d logits = (softmax(logits) - onehot(target)) / count
  std::size_t count = 0;
  for (int t : targets) count += t >= 0;
  const double inv = count ? 1.0 / double(count) : 0.0;
  double loss = 0;
#pragma omp parallel for reduction(+ : loss)
  for (std::size_t r = 0; r < n; ++r) {
    const float* z = ws.logits() + r * V;
    float* g = dlogits + r * V;
    if (targets[r] < 0) {
      std::fill(g, g + V, 0.f);
      continue;
    }
    const float mx = *std::max_element(z, z + V);
    double s = 0;
    for (std::size_t c = 0; c < V; ++c) s += std::exp(double(z[c] - mx));
    loss += std::log(s) + mx - z[targets[r]];
    const double norm = inv / s;
    for (std::size_t c = 0; c < V; ++c) g[c] = float(std::exp(double(z[c] - mx)) * norm);
    g[targets[r]] -= float(inv);
  }
  loss *= inv;

  // logits = ln_f wte^T
  kernels::gemm(false, false, n, d, V, 1.f, dlogits, V, P(role::wte), d, 0.f, dln, d);
  kernels::gemm(true, false, V, d, n, 1.f, dlogits, V, ws.ln_f(), d, 1.f, D(role::wte), d);
  std::fill(dx, dx + n * d, 0.f);
  kernels::layernorm_backward(dln, d, ws.resid_final(), d, P(role::ln_f_weight), ws.ln_f_mean(), ws.ln_f_rstd(),
                              dx, d, D(role::ln_f_weight), D(role::ln_f_bias), n, d);

  const float scale = 1.f / std::sqrt(float(dh));
  for (std::size_t li = A::layers; li-- > 0;) {
    const int l = int(li);
    auto& a = ws.block(li);
    if (A::has_mlp(li)) {
      // resid_post = resid_mid + mlp_proj(gelu(c_fc(ln_2(resid_mid)))): dx flows on unchanged.
      std::fill(dmlp, dmlp + n * dm, 0.f);
      detail::linear_backward(a.mlp_post, dm, n, dm, d, P(role::mlp_proj_weight, l), dx, d, dmlp, dm,
                              D(role::mlp_proj_weight, l), D(role::mlp_proj_bias, l));
      detail::parallel_rows(n, [&](std::size_t r0, std::size_t r1) {
        kernels::gelu_backward(a.mlp_pre + r0 * dm, dmlp + r0 * dm, dmlp + r0 * dm, (r1 - r0) * dm);
      });
      std::fill(dln, dln + n * d, 0.f);
      detail::linear_backward(a.ln2, d, n, d, dm, P(role::mlp_fc_weight, l), dmlp, dm, dln, d,
                              D(role::mlp_fc_weight, l), D(role::mlp_fc_bias, l));
      kernels::layernorm_backward(dln, d, a.resid_mid, d, P(role::ln_2_weight, l), a.ln2_mean, a.ln2_rstd, dx, d,
                                  D(role::ln_2_weight, l), D(role::ln_2_bias, l), n, d);
    }
    // resid_mid = resid_pre + c_proj(z)
    std::fill(dz, dz + n * d, 0.f);
    detail::linear_backward(a.z, d, n, d, d, P(role::attn_proj_weight, l), dx, d, dz, d,
                            D(role::attn_proj_weight, l), D(role::attn_proj_bias, l));
    // z = P v, P = softmax(q k^T * scale)
#pragma omp parallel for schedule(dynamic) collapse(2)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        const float* pat = a.pattern + (b * H + h) * T * T;
        float* dp = dP + (b * H + h) * T * T;
        const std::size_t off = b * T * d + h * dh;
        kernels::gemm(false, true, T, T, dh, 1.f, dz + off, d, a.v + off, d, 0.f, dp, T);
        kernels::gemm(true, false, T, dh, T, 1.f, pat, T, dz + off, d, 0.f, dv + off, d);
        if constexpr (A::plain_attention) {
          kernels::causal_softmax_backward(pat, dp, dp, T, T, scale);
          kernels::gemm(false, false, T, dh, T, 1.f, dp, T, a.k + off, d, 0.f, dq + off, d);
          kernels::gemm(true, false, T, dh, T, 1.f, dp, T, a.q + off, d, 0.f, dk + off, d);
        } else {
          const std::size_t bh = b * H + h;
          const float* sw = slot ? a.slot_pattern + bh * T : nullptr;
          float* da = slot ? dslot + bh * T : nullptr;
          if constexpr (slot) {  // z_i += a_i v_s: da_i = dz_i . v_s, dv_s += a_i dz_i
            float* gv = dvs + bh * dh;
            std::fill(gv, gv + dh, 0.f);
            for (std::size_t i = 0; i < T; ++i) {
              float g = 0;
              for (std::size_t e = 0; e < dh; ++e) {
                g += dz[off + i * d + e] * a.slot_v[h * dh + e];
                gv[e] += sw[i] * dz[off + i * d + e];
              }
              da[i] = g;
            }
          }
          dbias[bh] = float(A::attention::backward_rows(pat, dp, T, scale, sw, da));
          kernels::gemm(false, false, T, dh, T, 1.f, dp, T, a.k + off, d, 0.f, dq + off, d);
          kernels::gemm(true, false, T, dh, T, 1.f, dp, T, a.q + off, d, 0.f, dk + off, d);
          if constexpr (slot) {  // c_i = scale q_i . k_s
            float* gk = dks + bh * dh;
            std::fill(gk, gk + dh, 0.f);
            for (std::size_t i = 0; i < T; ++i) {
              const float g = scale * da[i];
              for (std::size_t e = 0; e < dh; ++e) {
                dq[off + i * d + e] += g * a.slot_k[h * dh + e];
                gk[e] += g * a.q[off + i * d + e];
              }
            }
          }
        }
      }
    if constexpr (A::attention::learnable_bias) {
      float* g = D(role::attn_sigmoid_bias, l);
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t h = 0; h < H; ++h) g[h] += dbias[b * H + h];
    }
    if constexpr (slot) {
      // Sum the per-sequence slot gradients: dks[0..d) and dvs[0..d) become d loss / d k_s, v_s.
      std::vector<float> gk(d, 0.f), gv(d, 0.f);
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t h = 0; h < H; ++h)
          for (std::size_t e = 0; e < dh; ++e) {
            gk[h * dh + e] += dks[(b * H + h) * dh + e];
            gv[h * dh + e] += dvs[(b * H + h) * dh + e];
          }
      if constexpr (A::extra_slot::projected) {
        // k_s = keys(ln_1(s)), v_s = ln_1(s) W_V + b_V
        std::vector<float> dln_s(d, 0.f);
        A::keys::template backward<S, L>(W, G, l, a.slot_ln, 1, gk.data(), dln_s.data(), a.slot_key_extra);
        detail::linear_backward(a.slot_ln, d, 1, d, d, P(role::v_weight, l), gv.data(), d, dln_s.data(), d,
                                D(role::v_weight, l), D(role::v_bias, l));
        kernels::layernorm_backward(dln_s.data(), d, P(role::sink_token, l), d, P(role::ln_1_weight, l), a.slot_mean,
                                    a.slot_rstd, D(role::sink_token, l), d, D(role::ln_1_weight, l),
                                    D(role::ln_1_bias, l), 1, d);
      } else {
        float* gks = D(role::slot_k_bias, l);
        float* gvs = D(role::slot_v_bias, l);
        for (std::size_t e = 0; e < d; ++e) gks[e] += gk[e], gvs[e] += gv[e];
      }
    }
    if constexpr (A::positions::rotary_qk) {
      for (std::size_t b = 0; b < B; ++b) {
        kernels::rope(dq + b * T * d, T, d, H, dh, A::positions::base, /*inverse=*/true);
        kernels::rope(dk + b * T * d, T, d, H, dh, A::positions::base, /*inverse=*/true);
      }
    }
    std::fill(dln, dln + n * d, 0.f);
    detail::linear_backward(a.ln1, d, n, d, d, P(role::q_weight, l), dq, d, dln, d, D(role::q_weight, l),
                            A::query::has_bias ? D(role::q_bias, l) : nullptr);
    A::keys::template backward<S, L>(W, G, l, a.ln1, n, dk, dln, a.key_extra);
    detail::linear_backward(a.ln1, d, n, d, d, P(role::v_weight, l), dv, d, dln, d, D(role::v_weight, l),
                            D(role::v_bias, l));
    kernels::layernorm_backward(dln, d, a.resid_pre, d, P(role::ln_1_weight, l), a.ln1_mean, a.ln1_rstd, dx, d,
                                D(role::ln_1_weight, l), D(role::ln_1_bias, l), n, d);
  }
  // x0 = wte[token] (+ wpe[t])
  const auto& tok = ws.tokens();
  float* dwte = D(role::wte);
  for (std::size_t r = 0; r < n; ++r) {
    float* g = dwte + std::size_t(tok[r]) * d;
    for (std::size_t c = 0; c < d; ++c) g[c] += dx[r * d + c];
  }
  if constexpr (A::positions::absolute) {
    float* dwpe = D(role::wpe);
    for (std::size_t r = 0; r < n; ++r) {
      float* g = dwpe + (r % T) * d;
      for (std::size_t c = 0; c < d; ++c) g[c] += dx[r * d + c];
    }
  }
  return loss;
}

/// forward + backward for next-token prediction on a batch of B sequences of T tokens.
template <architecture_type A>
double forward_backward(const model<A>& m, workspace<A>& ws, std::span<const int> tokens, std::size_t B,
                        std::size_t T, gradients<A>& grads) {
  forward(m, ws, tokens, B, T);
  return backward(m, ws, next_token_targets(tokens, B, T), grads);
}

}  // namespace sinkcore
