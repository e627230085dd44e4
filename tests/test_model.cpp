// The type system of models and the forward pass, checked against an independent double-precision
// reference written here with plain loops (no sinkcore kernels).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <random>
#include <vector>

#include <sinkcore/sinkcore.hpp>

#include "test_support.hpp"

using namespace sinkcore;
using namespace test_support;
using Catch::Matchers::WithinAbs;

namespace {

// ---- the independent reference (double, one sequence) ----
using mat = std::vector<double>;  // row-major

/// ALiBi's slopes as the paper's reference code `get_slopes(n)` computes them: for n a power of two the
/// geometric sequence start^(1..n), start = 2^(-2^-(log2 n - 3)); otherwise get_slopes(p) for the largest
/// power of two p < n, then get_slopes(2p)[0::2] up to n slopes.
inline std::vector<double> alibi_reference_slopes(std::size_t n) {
  auto power_of_2 = [](std::size_t k) {
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(double(k)) - 3)));
    std::vector<double> out;
    for (std::size_t i = 0; i < k; ++i) out.push_back(start * std::pow(start, double(i)));
    return out;
  };
  const double lg = std::log2(double(n));
  if (lg == std::floor(lg)) return power_of_2(n);
  const std::size_t p = std::size_t(1) << std::size_t(std::floor(lg));
  auto out = power_of_2(p);
  const auto more = alibi_reference_slopes(2 * p);
  for (std::size_t i = 0; out.size() < n; i += 2) out.push_back(more[i]);
  return out;
}
inline double alibi_reference_slope(std::size_t h, std::size_t n) { return alibi_reference_slopes(n)[h]; }

struct reference_out {
  mat logits;                     // [T, V]
  std::vector<mat> pattern;       // per layer: [H, T, T]
  std::vector<mat> slot;          // per layer: [H, T], the extra slot's weight (architectures with one)
};

template <class A>
reference_out reference_forward(const model<A>& m, const std::vector<int>& tok) {
  using L = layout<A>;
  const std::size_t T = tok.size(), d = A::d_model, H = A::heads, dh = A::d_head, V = A::vocab, dm = A::d_mlp;
  auto w = [&](role r, int l = -1) -> const float* {
    return L::has(r, l) ? m.data() + L::offset(r, l) : nullptr;
  };
  auto ln = [&](const mat& x, const float* g, const float* b, std::size_t rows, std::size_t width) {
    mat y(rows * width);
    for (std::size_t i = 0; i < rows; ++i) {
      double mu = 0, var = 0;
      for (std::size_t c = 0; c < width; ++c) mu += x[i * width + c];
      mu /= double(width);
      for (std::size_t c = 0; c < width; ++c) var += (x[i * width + c] - mu) * (x[i * width + c] - mu);
      var /= double(width);
      for (std::size_t c = 0; c < width; ++c) {
        double v = (x[i * width + c] - mu) / std::sqrt(var + 1e-5);
        y[i * width + c] = g ? v * g[c] + b[c] : v;
      }
    }
    return y;
  };
  auto lin = [&](const mat& x, std::size_t in, std::size_t out, const float* W, const float* b, std::size_t rows = 0) {
    rows = rows ? rows : T;
    mat y(rows * out);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t o = 0; o < out; ++o) {
        double s = b ? b[o] : 0.0;
        for (std::size_t k = 0; k < in; ++k) s += x[i * in + k] * W[k * out + o];
        y[i * out + o] = s;
      }
    return y;
  };
  auto rope = [&](mat& x) {
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t i = 0; i < dh / 2; ++i) {
          const double ang = double(t) * std::pow(10000.0, -2.0 * double(i) / double(dh));
          double& a = x[t * d + h * dh + i];
          double& b = x[t * d + h * dh + i + dh / 2];
          const double na = a * std::cos(ang) - b * std::sin(ang), nb = a * std::sin(ang) + b * std::cos(ang);
          a = na;
          b = nb;
        }
  };

  reference_out out;
  mat x(T * d);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t c = 0; c < d; ++c)
      x[t * d + c] = w(role::wte)[tok[t] * d + c] + (w(role::wpe) ? w(role::wpe)[t * d + c] : 0.0);
  for (int l = 0; l < int(A::layers); ++l) {
    mat h1 = ln(x, w(role::ln_1_weight, l), w(role::ln_1_bias, l), T, d);
    mat q = lin(h1, d, d, w(role::q_weight, l), w(role::q_bias, l));
    // A sink token is one more row after the T tokens: ln_1 of its vector, through the same k and v maps.
    const std::size_t rows = w(role::sink_token, l) ? T + 1 : T;
    if (rows > T) {
      const mat s(w(role::sink_token, l), w(role::sink_token, l) + d);
      const mat sl = ln(s, w(role::ln_1_weight, l), w(role::ln_1_bias, l), 1, d);
      h1.insert(h1.end(), sl.begin(), sl.end());
    }
    mat k;
    if (w(role::k_weight_a, l)) {
      const std::size_t R = layout<A>::spec(role::k_weight_a, l).cols;
      k = lin(lin(h1, d, R, w(role::k_weight_a, l), nullptr, rows), R, d, w(role::k_weight_b, l), w(role::k_bias, l), rows);
    } else {
      k = lin(h1, d, d, w(role::k_weight, l), w(role::k_bias, l), rows);
    }
    if constexpr (A::keys::per_head_norm) k = ln(k, nullptr, nullptr, rows * H, dh);
    mat v = lin(h1, d, d, w(role::v_weight, l), w(role::v_bias, l), rows);
    // The extra slot's key and value: the sink row (never rotated), or the k*, v* parameters.
    const bool has_slot = rows > T || w(role::slot_k_bias, l);
    mat ks(d, 0.0), vs(d, 0.0);
    for (std::size_t c = 0; has_slot && c < d; ++c) {
      ks[c] = rows > T ? k[T * d + c] : w(role::slot_k_bias, l)[c];
      vs[c] = rows > T ? v[T * d + c] : w(role::slot_v_bias, l)[c];
    }
    if constexpr (A::positions::rotary_qk) {
      rope(q);
      rope(k);
    }
    mat z(T * d, 0.0), pat(H * T * T, 0.0), slot(H * T, 0.0);
    // ALiBi (Press et al. 2022): head h adds -m_h (i - j) to the scaled score of query i on key j
    constexpr bool alibi = std::is_same_v<typename A::positions, positions::alibi>;
    constexpr bool sigmoid = A::attention::is_sigmoid, plus_one = A::attention::plus_one;
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < T; ++i) {
        // logits of keys 0..i, then the slot's (if any); weights by the block's normalisation
        std::vector<double> s(i + 1);
        for (std::size_t j = 0; j <= i + 1; ++j) {
          if (j == i + 1 && !has_slot) break;
          const double* kk = j <= i ? &k[j * d] : ks.data();
          double dot = 0;
          for (std::size_t c = 0; c < dh; ++c) dot += q[i * d + h * dh + c] * kk[h * dh + c];
          if (j <= i) s[j] = dot / std::sqrt(double(dh)) - alibi_reference_slope(h, H) * double(i - j) * double(alibi);
          else s.push_back(dot / std::sqrt(double(dh)));
        }
        std::vector<double> p(s.size());
        if (sigmoid) {
          const double bias = w(role::attn_sigmoid_bias, l) ? w(role::attn_sigmoid_bias, l)[h] : -std::log(double(A::context));
          for (std::size_t j = 0; j < s.size(); ++j) p[j] = 1.0 / (1.0 + std::exp(-(s[j] + bias)));
        } else {
          double sum = plus_one ? 1.0 : 0.0;  // exp(0) for the "+1"
          for (double e : s) sum += std::exp(e);
          for (std::size_t j = 0; j < s.size(); ++j) p[j] = std::exp(s[j]) / sum;
        }
        for (std::size_t j = 0; j < p.size(); ++j) {
          const double* vv = j <= i ? &v[j * d] : vs.data();
          if (j <= i) pat[(h * T + i) * T + j] = p[j];
          else slot[h * T + i] = p[j];
          for (std::size_t c = 0; c < dh; ++c) z[i * d + h * dh + c] += p[j] * vv[h * dh + c];
        }
      }
    out.pattern.push_back(pat);
    out.slot.push_back(slot);
    mat ao = lin(z, d, d, w(role::attn_proj_weight, l), w(role::attn_proj_bias, l));
    for (std::size_t i = 0; i < T * d; ++i) x[i] += ao[i];
    if (A::has_mlp(std::size_t(l))) {
      mat h2 = ln(x, w(role::ln_2_weight, l), w(role::ln_2_bias, l), T, d);
      mat f = lin(h2, d, dm, w(role::mlp_fc_weight, l), w(role::mlp_fc_bias, l));
      for (auto& e : f) e = 0.5 * e * (1 + std::tanh(std::sqrt(2 / M_PI) * (e + 0.044715 * e * e * e)));
      mat mo = lin(f, dm, d, w(role::mlp_proj_weight, l), w(role::mlp_proj_bias, l));
      for (std::size_t i = 0; i < T * d; ++i) x[i] += mo[i];
    }
  }
  mat hf = ln(x, w(role::ln_f_weight), w(role::ln_f_bias), T, d);
  out.logits.assign(T * V, 0.0);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t vv = 0; vv < V; ++vv) {
      double s = 0;
      for (std::size_t c = 0; c < d; ++c) s += hf[t * d + c] * w(role::wte)[vv * d + c];
      out.logits[t * V + vv] = s;
    }
  return out;
}

double max_abs_diff(const float* a, const double* b, std::size_t n) {
  double m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

/// Copy every tensor that both architectures have (by full name) from `src` into `dst`.
template <class A, class B>
void copy_common(const model<A>& src, model<B>& dst) {
  for (const auto& s : layout<A>::specs)
    for (const auto& t : layout<B>::specs)
      if (s.name() == t.name()) std::copy_n(src.data() + s.offset, s.size(), dst.data() + t.offset);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("attention patterns are causal distributions", "[forward]", tiny_zoo::tuple) {
  using A = TestType;
  INFO(A::name());
  const model<A> m(3);
  const std::size_t B = 2, T = 48;
  const auto tok = random_tokens(B * T, int(A::vocab), 5);
  workspace<A> ws;
  const double loss = forward_loss(m, ws, tok, B, T);
  // At GPT-2's initialisation the model is close to uniform over the vocabulary.
  CHECK_THAT(loss, WithinAbs(std::log(double(A::vocab)), 0.1));
  for (std::size_t l = 0; l < A::layers; ++l)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < A::heads; ++h) {
        const float* p = ws.pattern(l, b, h);
        CHECK(p[0] == 1.0f);  // query 0 attends only to key 0
        for (std::size_t i = 0; i < T; ++i) {
          double sum = 0;
          for (std::size_t j = 0; j < T; ++j) {
            if (j > i) REQUIRE(p[i * T + j] == 0.0f);  // masked: exactly zero
            sum += p[i * T + j];
          }
          REQUIRE_THAT(sum, WithinAbs(1.0, 1e-5));
        }
      }
}

TEST_CASE("a batch is a stack of independent sequences, and the model is causal", "[forward]") {
  using A = micro<gpt2_tiny>;
  const auto m = random_model<A>(1);
  const std::size_t T = 12;
  auto tok = random_tokens(2 * T, int(A::vocab), 2);
  workspace<A> wb, w1;
  forward(m, wb, tok, 2, T);
  forward(m, w1, std::span<const int>(tok).subspan(T, T), 1, T);
  for (std::size_t i = 0; i < T * A::vocab; ++i) REQUIRE(wb.logits()[T * A::vocab + i] == Approx(w1.logits()[i]).margin(1e-5));
  // Changing token 7 changes no logit before position 7, and some logit at position 7.
  std::vector<float> before(wb.logits(), wb.logits() + T * A::vocab);
  tok[7] = (tok[7] + 1) % int(A::vocab);
  forward(m, wb, tok, 2, T);
  for (std::size_t i = 0; i < 7 * A::vocab; ++i) REQUIRE(wb.logits()[i] == before[i]);
  double change = 0;
  for (std::size_t i = 7 * A::vocab; i < 8 * A::vocab; ++i) change += std::abs(wb.logits()[i] - before[i]);
  CHECK(change > 1e-3);
}

TEST_CASE("removing a component changes the output only where it should", "[forward][components]") {
  using base = micro<gpt2_tiny>;
  auto m = random_model<base>(9);
  const std::size_t T = 16;
  const auto tok = random_tokens(T, int(base::vocab), 4);
  workspace<base> wb;

  SECTION("the key bias cancels in the softmax: perturbing it changes nothing") {
    forward(m, wb, tok, 1, T);
    std::vector<float> before(wb.logits(), wb.logits() + T * base::vocab);
    for (float& x : m.tensor(role::k_bias, 1)) x += 3.f;
    forward(m, wb, tok, 1, T);
    CHECK(max_abs_diff(wb.logits(), std::vector<double>(before.begin(), before.end()).data(), before.size()) < 2e-4);
  }
  SECTION("query::unbiased is the baseline with b_Q = 0") {
    using B = with<base, query::unbiased>;
    model<B> mb;
    copy_common(m, mb);
    for (int l = 0; l < int(base::layers); ++l)
      for (float& x : m.tensor(role::q_bias, l)) x = 0.f;
    workspace<B> ws;
    forward(m, wb, tok, 1, T);
    forward(mb, ws, tok, 1, T);
    for (std::size_t i = 0; i < T * base::vocab; ++i) REQUIRE(ws.logits()[i] == wb.logits()[i]);
  }
  SECTION("first_mlp::absent is the baseline with MLP0's output zeroed") {
    using B = with<base, first_mlp::absent>;
    model<B> mb;
    copy_common(m, mb);
    for (float& x : m.tensor(role::mlp_proj_weight, 0)) x = 0.f;
    for (float& x : m.tensor(role::mlp_proj_bias, 0)) x = 0.f;
    workspace<B> ws;
    forward(m, wb, tok, 1, T);
    forward(mb, ws, tok, 1, T);
    for (std::size_t i = 0; i < T * base::vocab; ++i) REQUIRE(ws.logits()[i] == Approx(wb.logits()[i]).margin(1e-6));
  }
  SECTION("positions::none is the baseline with wpe = 0") {
    using B = with<base, positions::none>;
    model<B> mb;
    copy_common(m, mb);
    for (float& x : m.tensor(role::wpe)) x = 0.f;
    workspace<B> ws;
    forward(m, wb, tok, 1, T);
    forward(mb, ws, tok, 1, T);
    for (std::size_t i = 0; i < T * base::vocab; ++i) REQUIRE(ws.logits()[i] == Approx(wb.logits()[i]).margin(1e-6));
  }
}

TEST_CASE("ALiBi's slopes are the paper's, and its bias moves attention towards near keys", "[forward][alibi]") {
  // Press et al. 2022, Sec. 3: for 8 heads 1/2, 1/4, ..., 1/256.
  for (std::size_t h = 0; h < 8; ++h) CHECK(positions::alibi_slope(h, 8) == std::pow(2.0, -double(h + 1)));
  for (std::size_t H : {1, 2, 4, 6, 12, 16, 25})
    for (std::size_t h = 0; h < H; ++h) {
      INFO(H << " heads, head " << h);
      CHECK_THAT(positions::alibi_slope(h, H), WithinAbs(alibi_reference_slope(h, H), 1e-15));
    }
  // With all-zero q and k every score is 0, so softmax weights are exp(-m_h (i - j)) / sum: known exactly.
  using A = micro<tiny_alibi>;
  model<A> m(5);
  for (const auto& s : layout<A>::specs)
    if (s.what == role::q_weight || s.what == role::k_weight || s.what == role::q_bias || s.what == role::k_bias)
      std::fill_n(m.data() + s.offset, s.size(), 0.f);
  workspace<A> ws;
  const auto tok = random_tokens(12, int(A::vocab), 4);
  forward(m, ws, tok, 1, 12);
  for (std::size_t h = 0; h < A::heads; ++h) {
    const double slope = alibi_reference_slope(h, A::heads);
    const float* p = ws.pattern(1, 0, h);
    for (std::size_t i : {3, 11}) {
      double z = 0;
      for (std::size_t j = 0; j <= i; ++j) z += std::exp(-slope * double(i - j));
      for (std::size_t j = 0; j <= i; ++j) CHECK_THAT(p[i * 12 + j], WithinAbs(std::exp(-slope * double(i - j)) / z, 1e-6));
    }
  }
}

TEST_CASE("rotary positions leave position 0 unrotated", "[forward][rotary]") {
  using A = micro<tiny_rotary>;
  const auto m = random_model<A>(2);
  const std::size_t T = 8;
  const auto tok = random_tokens(T, int(A::vocab), 6);
  workspace<A> ws;
  forward(m, ws, tok, 1, T);
  auto& a = ws.block(0);
  constexpr std::size_t d = A::d_model;
  const float* Wq = m.data() + layout<A>::offset(role::q_weight, 0);
  const float* bq = m.data() + layout<A>::offset(role::q_bias, 0);
  for (std::size_t o = 0; o < d; ++o) {
    double s = bq[o];
    for (std::size_t k = 0; k < d; ++k) s += double(a.ln1[k]) * Wq[k * d + o];
    REQUIRE_THAT(a.q[o], WithinAbs(s, 1e-5));  // row 0: exactly the projection
  }
  // and position 1 is rotated: its q differs from the plain projection
  double diff = 0;
  for (std::size_t o = 0; o < d; ++o) {
    double s = bq[o];
    for (std::size_t k = 0; k < d; ++k) s += double(a.ln1[d + k]) * Wq[k * d + o];
    diff += std::abs(a.q[d + o] - s);
  }
  CHECK(diff > 1e-3);
}

TEST_CASE("parameter counts follow the components", "[params]") {
  constexpr std::size_t d = 128, L = 4, C = 128;
  constexpr std::size_t base = layout<gpt2_tiny>::trainable_parameters;
  // GPT-2's published sizes (Hugging Face num_parameters()).
  STATIC_REQUIRE(layout<gpt2_small>::trainable_parameters == 124'439'808);
  STATIC_REQUIRE(layout<gpt2_medium>::trainable_parameters == 354'823'168);
  STATIC_REQUIRE(layout<gpt2_large>::trainable_parameters == 774'030'080);
  STATIC_REQUIRE(layout<gpt2_xl>::trainable_parameters == 1'557'611'200);
  STATIC_REQUIRE(layout<distilgpt2>::trainable_parameters == 81'912'576);
  // HF's 148 parameter tensors, with each block's fused c_attn (weight, bias) held as q, k, v: +4 per block.
  STATIC_REQUIRE(layout<gpt2_small>::count == 148 + 12 * 4);
  STATIC_REQUIRE(layout<tiny_no_qbias>::trainable_parameters == base - L * d);
  STATIC_REQUIRE(layout<tiny_no_kbias>::trainable_parameters == base - L * d);
  STATIC_REQUIRE(layout<tiny_rotary>::trainable_parameters == base - C * d);
  STATIC_REQUIRE(layout<tiny_nope>::trainable_parameters == base - C * d);
  STATIC_REQUIRE(layout<tiny_no_first_mlp>::trainable_parameters == base - (2 * d + d * 4 * d + 4 * d + 4 * d * d + d));
  STATIC_REQUIRE(layout<tiny_frozen_keys>::trainable_parameters == base - L * (d * d + d));
  STATIC_REQUIRE(layout<tiny_frozen_keys>::size == layout<gpt2_tiny>::size - L * d);  // W_K kept as a fixed buffer
  STATIC_REQUIRE(layout<tiny_normalized_keys>::trainable_parameters == base);
  STATIC_REQUIRE(layout<tiny_low_rank_keys>::trainable_parameters == base - L * d * d + L * 2 * d * 8);
  STATIC_REQUIRE(layout<tiny_none_of_three>::trainable_parameters == base - L * d - C * d - L * (d * d + d));
  // The buffer has no gaps: offsets are cumulative sizes.
  std::size_t off = 0;
  for (const auto& s : layout<gpt2_tiny>::specs) {
    CHECK(s.offset == off);
    off += s.size();
  }
  CHECK(off == layout<gpt2_tiny>::size);
}

TEST_CASE("architectures are types: one spelling, one type", "[types]") {
  STATIC_REQUIRE(std::is_same_v<with<gpt2_tiny, query::unbiased>, architecture<tiny_shape, query::unbiased>>);
  STATIC_REQUIRE(std::is_same_v<with<with<gpt2_tiny, query::unbiased>, query::biased>, gpt2_tiny>);
  STATIC_REQUIRE(std::is_same_v<tiny_none_of_three,
                                with<with<with<gpt2_tiny, keys::frozen_random>, positions::rotary<>>, query::unbiased>>);
  CHECK(gpt2_small::name() == "gpt2-small");
  CHECK(tiny_none_of_three::name() == "tiny.rotary.no-qbias.frozen-keys");
  CHECK(tiny_low_rank_keys::name() == "tiny.low-rank-keys-8");
  std::string got;
  with_architecture("tiny.nope", [&](auto t) { got = decltype(t)::type::name(); });
  CHECK(got == "tiny.nope");
  CHECK_THROWS_WITH(with_architecture("tiny.bogus", [](auto) {}), Catch::Contains("unknown architecture 'tiny.bogus'"));
}

TEST_CASE("frozen random keys are orthogonal and seeded", "[params]") {
  const model<tiny_frozen_keys> a(5), b(5), c(6);
  const auto w = a.tensor(role::k_weight, 2);
  constexpr std::size_t d = 128;
  for (std::size_t i = 0; i < d; i += 17)
    for (std::size_t j = 0; j < d; j += 13) {
      double dot = 0;
      for (std::size_t k = 0; k < d; ++k) dot += double(w[i * d + k]) * w[j * d + k];
      REQUIRE_THAT(dot, WithinAbs(i == j ? 1.0 : 0.0, 1e-5));
    }
  CHECK(std::equal(w.begin(), w.end(), b.tensor(role::k_weight, 2).begin()));
  CHECK(!std::equal(w.begin(), w.end(), c.tensor(role::k_weight, 2).begin()));
}

TEST_CASE("hooks expose activations under TransformerLens names", "[hooks]") {
  using A = micro<gpt2_tiny>;
  const auto m = random_model<A>(4);
  const std::size_t B = 2, T = 10;
  const auto tok = random_tokens(B * T, int(A::vocab), 8);
  workspace<A> ws;
  forward(m, ws, tok, B, T);
  for (const auto& name : workspace<A>::hook_names()) CHECK_NOTHROW(ws.hook(name));
  auto pat = ws.hook("blocks.1.attn.hook_pattern");
  REQUIRE(pat.shape().size() == 4);
  CHECK(pat.shape()[1] == A::heads);
  CHECK(pat(1, 2, 5, 6) == 0.0f);
  CHECK(pat(1, 2, 5, 3) == ws.pattern(1, 1, 2)[5 * T + 3]);
  // resid_post = resid_mid + mlp_out, and the next block starts from it
  auto mid = ws.hook("blocks.0.hook_resid_mid");
  auto mlp = ws.hook("blocks.0.hook_mlp_out");
  auto post = ws.hook("blocks.0.hook_resid_post");
  auto pre1 = ws.hook("blocks.1.hook_resid_pre");
  CHECK(post(1, 3, 7) == Approx(mid(1, 3, 7) + mlp(1, 3, 7)).margin(1e-6));
  CHECK(pre1(1, 3, 7) == post(1, 3, 7));
  // resid_pre of block 0 = embed + pos_embed
  auto e = ws.hook("hook_embed");
  auto p = ws.hook("hook_pos_embed");
  auto r0 = ws.hook("blocks.0.hook_resid_pre");
  CHECK(r0(1, 4, 2) == Approx(e(1, 4, 2) + p(1, 4, 2)).margin(1e-6));
  CHECK_THROWS_WITH(ws.hook("blocks.9.hook_resid_pre"), Catch::Contains("no hook point"));
  // no MLP in block 0: no mlp hooks there, and resid_post is resid_mid
  using N = micro<tiny_no_first_mlp>;
  workspace<N> wn;
  const auto mn = random_model<N>(4);
  forward(mn, wn, tok, B, T);
  CHECK_THROWS(wn.hook("blocks.0.hook_mlp_out"));
  CHECK(wn.hook("blocks.0.hook_resid_post").data() == wn.hook("blocks.0.hook_resid_mid").data());
}

TEST_CASE("bad input is refused with a clear error", "[errors]") {
  using A = micro<gpt2_tiny>;
  const model<A> m(1);
  workspace<A> ws;
  std::vector<int> tok(4, 1);
  tok[2] = int(A::vocab);
  CHECK_THROWS_WITH(forward(m, ws, tok, 1, 4), Catch::Contains("outside the vocabulary"));
  std::vector<int> longer(A::context + 1, 0);
  CHECK_THROWS_WITH(forward(m, ws, longer, 1, A::context + 1), Catch::Contains("outside [1, 16]"));
  CHECK_THROWS_WITH(forward(m, ws, std::vector<int>(5, 0), 2, 3), Catch::Contains("tokens given"));
}

namespace {
struct capture_mlp_out {
  std::vector<std::vector<float>> seen;
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::mlp_out) seen.emplace_back(a.data, a.data + a.batch * a.length * a.width);
  }
};
struct read_mlp_pre_attn_out {  // listens at mlp_pre and attn_out and changes nothing
  int calls = 0;
  template <hook_point P>
  void on(const activation&) {
    if constexpr (P == hook_point::mlp_pre || P == hook_point::attn_out) ++calls;
  }
};
struct zero_mlp_pre {
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::mlp_pre) std::fill_n(a.data, a.batch * a.length * a.width, 0.f);
  }
};
struct zero_mlp_out {
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::mlp_out) std::fill_n(a.data, a.batch * a.length * a.width, 0.f);
  }
};
struct attend_to_first {
  int calls = 0;
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::pattern) {
      ++calls;
      for (std::size_t r = 0; r < a.batch * a.length; ++r) {
        float* row = a.data + r * a.width;
        std::fill_n(row, a.width, 0.f);
        row[0] = 1.f;
      }
    }
  }
};
}  // namespace

TEST_CASE("compile-time hooks capture, ablate and patch", "[hooks]") {
  using A = micro<gpt2_tiny>;
  auto m = random_model<A>(12);
  const std::size_t B = 2, T = 11;
  const auto tok = random_tokens(B * T, int(A::vocab), 13);
  workspace<A> plain, hooked;
  forward(m, plain, tok, B, T);

  SECTION("capturing changes nothing and sees what the workspace holds") {
    capture_mlp_out cap;
    forward(m, hooked, tok, B, T, cap);
    REQUIRE(cap.seen.size() == A::layers);
    for (std::size_t i = 0; i < B * T * A::vocab; ++i) REQUIRE(hooked.logits()[i] == plain.logits()[i]);
    CHECK(std::equal(cap.seen[1].begin(), cap.seen[1].end(), plain.block(1).mlp_out));
  }
  SECTION("zeroing every MLP's output equals zeroing the MLP output projections") {
    forward(m, hooked, tok, B, T, zero_mlp_out{});
    for (int l = 0; l < int(A::layers); ++l) {
      for (float& x : m.tensor(role::mlp_proj_weight, l)) x = 0.f;
      for (float& x : m.tensor(role::mlp_proj_bias, l)) x = 0.f;
    }
    forward(m, plain, tok, B, T);
    for (std::size_t i = 0; i < B * T * A::vocab; ++i) REQUIRE(hooked.logits()[i] == Approx(plain.logits()[i]).margin(1e-5));
  }
  SECTION("a pattern hook steers attention: all on key 0 makes z the value of token 0") {
    attend_to_first h;
    forward(m, hooked, tok, B, T, h);
    CHECK(h.calls == int(A::layers));
    auto& a = hooked.block(1);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t c = 0; c < A::d_model; ++c)
          REQUIRE(a.z[(b * T + t) * A::d_model + c] == Approx(a.v[b * T * A::d_model + c]).margin(1e-6));
  }
  SECTION("hooks compose, in order") {
    capture_mlp_out cap;
    zero_mlp_out zero;
    forward(m, hooked, tok, B, T, compose(zero, cap));
    REQUIRE(cap.seen.size() == A::layers);
    for (float x : cap.seen[0]) REQUIRE(x == 0.f);
  }
  SECTION("GELU and residual adds fused only where unhooked: same bits") {
    // Without a hook at mlp_pre, GELU runs on each finished block of c_fc's output (more than one block of
    // rows here), and without one at attn_out (mlp_out) the residual addition on each block of the
    // projection's output; a hook there gets the product first, and what it leaves is what follows sees.
    const std::size_t B2 = 24, T2 = 11;  // 264 rows
    const auto tok2 = random_tokens(B2 * T2, int(A::vocab), 14);
    workspace<A> fused, after;
    forward(m, fused, tok2, B2, T2);
    read_mlp_pre_attn_out reader;
    forward(m, after, tok2, B2, T2, reader);
    CHECK(reader.calls == 2 * int(A::layers));
    const std::size_t n = B2 * T2 * A::d_mlp, nd = B2 * T2 * A::d_model;
    for (std::size_t l = 0; l < A::layers; ++l) {
      const auto &f = fused.block(l), &u = after.block(l);
      CHECK(std::memcmp(f.mlp_pre, u.mlp_pre, n * sizeof(float)) == 0);
      CHECK(std::memcmp(f.mlp_post, u.mlp_post, n * sizeof(float)) == 0);
      CHECK(std::memcmp(f.resid_mid, u.resid_mid, nd * sizeof(float)) == 0);
      CHECK(std::memcmp(f.resid_post, u.resid_post, nd * sizeof(float)) == 0);
    }
    CHECK(std::memcmp(fused.logits(), after.logits(), B2 * T2 * A::vocab * sizeof(float)) == 0);
    zero_mlp_pre zero;
    forward(m, after, tok2, B2, T2, zero);
    for (std::size_t l = 0; l < A::layers; ++l)
      CHECK(std::all_of(after.block(l).mlp_post, after.block(l).mlp_post + n, [](float x) { return x == 0.f; }));
  }
  CHECK(hook_name(hook_point::pattern, 3) == "blocks.3.attn.hook_pattern");
}

TEST_CASE("the activation cache exports every hook under its TransformerLens name", "[hooks][io]") {
  using A = micro<tiny_no_first_mlp>;
  const auto m = random_model<A>(31);
  const std::size_t B = 2, T = 7;
  const auto tok = random_tokens(B * T, int(A::vocab), 32);
  workspace<A> ws;
  forward(m, ws, tok, B, T);
  const auto path = std::filesystem::temp_directory_path() / ("sinkcore_cache_" + std::to_string(::getpid()) + ".safetensors");
  io::save_activation_cache(path, ws);
  const auto f = io::safetensors_file::open(path);
  CHECK(f.size() == workspace<A>::hook_names().size());
  CHECK(!f.contains("blocks.0.hook_mlp_out"));  // block 0 has no MLP
  const auto& info = f.info("blocks.1.attn.hook_pattern");
  CHECK(info.shape == std::vector<std::size_t>{B, A::heads, T, T});
  const auto pat = f.read_float("blocks.1.attn.hook_pattern");
  CHECK(pat[((1 * A::heads + 2) * T + 5) * T + 3] == ws.pattern(1, 1, 2)[5 * T + 3]);
  const auto q = f.read_float("blocks.0.attn.hook_q");
  CHECK(q[(1 * T + 4) * A::d_model + 9] == ws.block(0).q[(1 * T + 4) * A::d_model + 9]);
  // a filter keeps only the matching points
  io::save_activation_cache(path, ws, {"hook_pattern"});
  CHECK(io::safetensors_file::open(path).size() == A::layers);
  CHECK_THROWS_WITH(io::save_activation_cache(path, ws, {"no-such-hook"}), Catch::Contains("no hook point matches"));
  std::filesystem::remove(path);
}

// ---- sink mitigations (docs/mitigations.md) ----


/// Every variant of the zoo and every mitigation (with the slot on every key component), on the micro shape.
using micro_all = decltype(std::tuple_cat(std::declval<micro_zoo>(), std::declval<micro_mitigations>()));

TEMPLATE_LIST_TEST_CASE("forward matches the double-precision reference", "[forward][mitigation]", micro_all) {
  using A = TestType;
  INFO(A::name());
  const auto m = random_model<A>(7);
  const std::size_t T = A::context;
  const auto tok = random_tokens(T, int(A::vocab), 11);
  workspace<A> ws;
  forward(m, ws, tok, 1, T);
  const auto ref = reference_forward(m, tok);
  CHECK(max_abs_diff(ws.logits(), ref.logits.data(), T * A::vocab) <= 1e-4);
  for (std::size_t l = 0; l < A::layers; ++l) {
    CHECK(max_abs_diff(ws.block(l).pattern, ref.pattern[l].data(), A::heads * T * T) <= 1e-5);
    if constexpr (A::extra_slot::has_slot) {
      CHECK(max_abs_diff(ws.slab(act::slot_pattern, int(l)), ref.slot[l].data(), A::heads * T) <= 1e-5);
      double mass = 0;
      for (double x : ref.slot[l]) mass += x;
      CHECK(mass > 1e-3);  // the slot is in use, so the comparison means something
    } else {
      CHECK(ws.slot_pattern(l, 0, 0) == nullptr);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("forward matches the reference across causal blocks (T = 150)", "[forward]", long_micro_zoo) {
  using A = TestType;
  INFO(A::name());
  const auto m = random_model<A>(7);
  const std::size_t T = 150;  // four blocks of 32 rows and one of 22
  const auto tok = random_tokens(T, int(A::vocab), 11);
  workspace<A> ws;
  forward(m, ws, tok, 1, T);
  const auto ref = reference_forward(m, tok);
  CHECK(max_abs_diff(ws.logits(), ref.logits.data(), T * A::vocab) <= 1e-4);
  for (std::size_t l = 0; l < A::layers; ++l)
    CHECK(max_abs_diff(ws.block(l).pattern, ref.pattern[l].data(), A::heads * T * T) <= 1e-5);
}

TEMPLATE_LIST_TEST_CASE("mitigations: where each row's attention goes", "[forward][mitigation]", micro_mitigations) {
  using A = TestType;
  INFO(A::name());
  const auto m = random_model<A>(3);
  const std::size_t B = 2, T = 12;
  const auto tok = random_tokens(B * T, int(A::vocab), 5);
  workspace<A> ws;
  forward(m, ws, tok, B, T);
  for (std::size_t l = 0; l < A::layers; ++l)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < A::heads; ++h) {
        const float* p = ws.pattern(l, b, h);
        const float* slot = ws.slot_pattern(l, b, h);
        for (std::size_t i = 0; i < T; ++i) {
          double sum = slot ? slot[i] : 0.0;
          for (std::size_t j = 0; j < T; ++j) {
            if (j > i) REQUIRE(p[i * T + j] == 0.0f);
            REQUIRE(p[i * T + j] >= 0.0f);
            sum += p[i * T + j];
          }
          if constexpr (A::attention::is_sigmoid) {
            REQUIRE(sum > 0.0);  // unnormalised: any positive mass
            REQUIRE(sum < double(i + 2));
          } else if constexpr (A::attention::plus_one) {
            REQUIRE(sum < 1.0);  // the rest went to "nothing"
            REQUIRE(sum > 0.0);
          } else {
            REQUIRE_THAT(sum, WithinAbs(1.0, 1e-5));
          }
        }
      }
  if constexpr (A::extra_slot::has_slot) {
    auto hook = ws.hook("blocks.1.attn.hook_slot_pattern");
    REQUIRE(hook.shape().size() == 3);
    CHECK(hook(1, 2, 5) == ws.slot_pattern(1, 1, 2)[5]);
    const auto names = workspace<A>::hook_names();
    CHECK(std::find(names.begin(), names.end(), "blocks.0.attn.hook_slot_pattern") != names.end());
  }
}

TEST_CASE("mitigations reduce to each other where the formulas say so", "[forward][mitigation]") {
  using base = micro<gpt2_tiny>;
  const auto m = random_model<base>(9);
  const std::size_t T = 16;
  const auto tok = random_tokens(T, int(base::vocab), 4);
  auto logits_of = [&]<class B>(const model<B>& mb) {
    workspace<B> ws;
    forward(mb, ws, tok, 1, T);
    return std::vector<double>(ws.logits(), ws.logits() + T * B::vocab);
  };
  auto max_diff = [](const std::vector<double>& a, const std::vector<double>& b) {
    double x = 0;
    for (std::size_t i = 0; i < a.size(); ++i) x = std::max(x, std::abs(a[i] - b[i]));
    return x;
  };
  const auto plus_one = [&] {
    model<micro<tiny_softmax1>> m1;
    copy_common(m, m1);
    return logits_of(m1);
  }();
  SECTION("a key-value bias slot with k* = v* = 0 is softmax + 1") {
    model<micro<tiny_kv_bias>> mk;
    copy_common(m, mk);  // k*, v* stay 0
    CHECK(max_diff(logits_of(mk), plus_one) < 1e-5);
    CHECK(max_diff(logits_of(mk), logits_of(m)) > 1e-3);  // and that differs from plain softmax
  }
  SECTION("a slot only rescales the softmax over the real keys: P' = (1 - a) P in block 0") {
    using K = micro<tiny_kv_bias>;
    model<K> mk;
    copy_common(m, mk);
    std::mt19937 rng(2);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (float& x : mk.tensor(role::slot_k_bias, 0)) x = nd(rng);
    for (float& x : mk.tensor(role::slot_v_bias, 0)) x = nd(rng);
    workspace<K> wk;
    workspace<base> wb;
    forward(mk, wk, tok, 1, T);
    forward(m, wb, tok, 1, T);
    double spread = 0;
    for (std::size_t h = 0; h < K::heads; ++h)
      for (std::size_t i = 0; i < T; ++i) {
        const double a = wk.slot_pattern(0, 0, h)[i];
        spread = std::max(spread, a);
        for (std::size_t j = 0; j <= i; ++j)
          REQUIRE_THAT(wk.pattern(0, 0, h)[i * T + j], WithinAbs((1 - a) * wb.pattern(0, 0, h)[i * T + j], 1e-6));
      }
    CHECK(spread > 0.05);
  }
  SECTION("sigmoid attention with the default bias is sigma(s - log context)") {
    model<micro<tiny_sigmoid>> ms;
    copy_common(m, ms);
    for (int l = 0; l < int(base::layers); ++l)
      for (float x : ms.tensor(role::attn_sigmoid_bias, l)) REQUIRE(x == 0.f);  // copy_common left them 0
    const model<micro<tiny_sigmoid>> fresh(1);
    for (float x : fresh.tensor(role::attn_sigmoid_bias, 0)) CHECK_THAT(x, WithinAbs(-std::log(16.0), 1e-6));
    model<micro<tiny_sigmoid_fixed>> mf;
    copy_common(m, mf);
    for (int l = 0; l < int(base::layers); ++l)
      for (float& x : ms.tensor(role::attn_sigmoid_bias, l)) x = float(-std::log(16.0));
    CHECK(max_diff(logits_of(ms), logits_of(mf)) < 1e-5);
  }
}

TEST_CASE("mitigations: default slots leave every existing type, name and count alone", "[params][mitigation]") {
  using S = tiny_shape;
  STATIC_REQUIRE(std::is_same_v<gpt2_tiny, arch<S, positions::learned, query::biased, keys::standard, first_mlp::present,
                                                attention::softmax, extra_slot::none>>);
  STATIC_REQUIRE(std::is_same_v<with<tiny_softmax1, attention::softmax>, gpt2_tiny>);
  STATIC_REQUIRE(std::is_same_v<with<tiny_kv_bias, extra_slot::none>, gpt2_tiny>);
  STATIC_REQUIRE(std::is_same_v<tiny_softmax1_kv_bias, with<tiny_kv_bias, attention::softmax_plus_one>>);
  STATIC_REQUIRE(gpt2_tiny::attention::plain<gpt2_tiny>);
  STATIC_REQUIRE(!tiny_softmax1::attention::plain<tiny_softmax1>);
  STATIC_REQUIRE(!tiny_kv_bias::attention::plain<tiny_kv_bias>);
  constexpr std::size_t d = 128, L = 4, H = 4;
  constexpr std::size_t base = layout<gpt2_tiny>::trainable_parameters;
  STATIC_REQUIRE(layout<tiny_softmax1>::trainable_parameters == base);
  STATIC_REQUIRE(layout<tiny_sigmoid>::trainable_parameters == base + L * H);
  STATIC_REQUIRE(layout<tiny_sigmoid_fixed>::trainable_parameters == base);
  STATIC_REQUIRE(layout<tiny_sink_token>::trainable_parameters == base + L * d);
  STATIC_REQUIRE(layout<tiny_kv_bias>::trainable_parameters == base + 2 * L * d);
  CHECK(tiny_softmax1::name() == "tiny.softmax1");
  CHECK(tiny_sigmoid::name() == "tiny.sigmoid");
  CHECK(tiny_sigmoid_fixed::name() == "tiny.sigmoid-fixed");
  CHECK(tiny_sink_token::name() == "tiny.sink-token");
  CHECK(tiny_kv_bias::name() == "tiny.kv-bias");
  CHECK(tiny_no_qbias_sink_token::name() == "tiny.no-qbias.sink-token");
  CHECK(tiny_rotary_softmax1::name() == "tiny.rotary.softmax1");
  CHECK(tiny_softmax1_kv_bias::name() == "tiny.softmax1.kv-bias");
  CHECK(model<tiny_sink_token>::spec("h.2.attn.sink_token").size() == d);
  CHECK(model<tiny_kv_bias>::spec("h.0.attn.slot_v").size() == d);
  CHECK(model<tiny_sigmoid>::spec("h.3.attn.sigmoid_bias").size() == H);
  std::string got;
  with_architecture("tiny.no-qbias.kv-bias", [&](auto t) { got = decltype(t)::type::name(); });
  CHECK(got == "tiny.no-qbias.kv-bias");
}
