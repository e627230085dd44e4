// The interpretability layer: sink metrics on hand-made patterns, the paper's interventions a-j against
// independent computations, the circuit statistics two ways, and the report writers.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>
#include <vector>

#include <sinkcore/interp/circuit.hpp>
#include <sinkcore/interp/interventions.hpp>
#include <sinkcore/interp/metrics.hpp>
#include <sinkcore/interp/stats.hpp>
#include <sinkcore/report/circuit_report.hpp>
#include <sinkcore/report/svg.hpp>
#include <sinkcore/report/tables.hpp>
#include <sinkcore/sinkcore.hpp>

#include "test_support.hpp"

using namespace sinkcore;
using namespace test_support;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

struct micro6_shape : shape<6, 32, 4, 16, 53> {
  static constexpr std::string_view name = "micro6";
};
using M = micro<gpt2_tiny>;
using M6 = gpt2_tiny::with_shape<micro6_shape>;

/// Independent EPE: p_i + c_proj(gelu(c_fc(p_i))), plain loops in double.
template <class A>
std::vector<double> reference_epe(const model<A>& m, std::size_t i) {
  const std::size_t d = A::d_model, dm = A::d_mlp;
  auto t = [&](role r) { return m.tensor(r, r == role::wpe ? -1 : 0); };
  const auto wpe = m.tensor(role::wpe);
  std::vector<double> p(wpe.begin() + long(i * d), wpe.begin() + long((i + 1) * d)), h(dm), out(d);
  for (std::size_t o = 0; o < dm; ++o) {
    double s = t(role::mlp_fc_bias)[o];
    for (std::size_t k = 0; k < d; ++k) s += p[k] * t(role::mlp_fc_weight)[k * dm + o];
    h[o] = 0.5 * s * (1 + std::tanh(std::sqrt(2 / M_PI) * (s + 0.044715 * s * s * s)));
  }
  for (std::size_t o = 0; o < d; ++o) {
    double s = t(role::mlp_proj_bias)[o];
    for (std::size_t k = 0; k < dm; ++k) s += h[k] * t(role::mlp_proj_weight)[k * d + o];
    out[o] = p[o] + s;
  }
  return out;
}

template <class A>
void require_same_logits(const workspace<A>& a, const workspace<A>& b, double margin) {
  const std::size_t n = a.rows() * A::vocab;
  REQUIRE(b.rows() == a.rows());
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(a.logits()[i]) - double(b.logits()[i])));
  CHECK(worst <= margin);
}

/// Writes a hand-made pattern into every (layer, sequence, head): row i puts `first(l, h, i)` on key 0 and
/// the rest uniformly on keys 1..i (row 0: all on key 0).
template <class F>
struct hand_pattern {
  F first;
  std::size_t heads;
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::pattern) {
      const std::size_t T = a.width;
      for (std::size_t r = 0; r < a.batch * a.length; ++r) {
        const std::size_t h = (r / T) % heads, i = r % T;
        float* row = a.data + r * T;
        std::fill_n(row, T, 0.f);
        if (i == 0) {
          row[0] = 1.f;
          continue;
        }
        const double f = first(std::size_t(a.layer), h, i);
        row[0] = float(f);
        for (std::size_t j = 1; j <= i; ++j) row[j] = float((1 - f) / double(i));
      }
    }
  }
};
template <class F>
hand_pattern<F> make_hand_pattern(F f, std::size_t heads) {
  return {f, heads};
}

}  // namespace

// ---------------------------------------------------------------------------------------------------

TEST_CASE("statistics: mean, sample sd, standard error, percentiles", "[interp][stats]") {
  const std::vector<double> v{1, 2, 3, 4};
  const auto s = stats::summarize(v);
  CHECK(s.n == 4);
  CHECK_THAT(s.mean, WithinAbs(2.5, 1e-15));
  CHECK_THAT(s.sd, WithinAbs(std::sqrt(5.0 / 3.0), 1e-12));      // N-1 in the denominator
  CHECK_THAT(s.se, WithinAbs(std::sqrt(5.0 / 3.0) / 2.0, 1e-12));  // sd / sqrt(N)
  CHECK(stats::standard_error(std::vector<double>{7.0}) == 0.0);
  CHECK_THAT(stats::percentile(v, 50), WithinAbs(2.5, 1e-15));
  CHECK_THAT(stats::percentile(v, 25), WithinAbs(1.75, 1e-15));  // numpy.percentile([1,2,3,4], 25)
  CHECK_THAT(stats::percentile({5, 1, 3}, 100), WithinAbs(5.0, 0));
  CHECK_THROWS_WITH(stats::percentile({}, 50), Catch::Contains("empty"));
  const double a[] = {1, 0, 0}, b[] = {1, 1, 0};
  CHECK_THAT(stats::cosine(a, b, 3), WithinAbs(1 / std::sqrt(2.0), 1e-15));
}

TEST_CASE("layer scopes: mid drops the first 3 and the last layer", "[interp][metrics]") {
  CHECK(layer_range::mid(12).first == 3);
  CHECK(layer_range::mid(12).last == 11);  // layers 3..10
  CHECK(layer_range::mid(12).str() == "3..10");
  CHECK(layer_range::mid(24).first == 3);
  CHECK(layer_range::mid(24).last == 23);
  CHECK(layer_range::mid(6).first == 3);
  CHECK(layer_range::mid(6).last == 5);
  CHECK(layer_range::mid(4).first == 2);  // shallow: as many of the first 3 as leave one layer
  CHECK(layer_range::mid(4).last == 3);
  CHECK(layer_range::mid(2).first == 0);  // nothing to drop
  CHECK(layer_range::mid(2).last == 2);
  CHECK(layer_range::all(12).size() == 12);
  CHECK_THROWS_WITH(layer_range({5, 5}).check(12), Catch::Contains("empty or outside"));
  CHECK_THROWS_WITH(layer_range({3, 13}).check(12), Catch::Contains("empty or outside"));
}

TEST_CASE("BOS attention and Sink^eps on hand-made patterns", "[interp][metrics]") {
  CHECK_THAT(bos_attention_chance(40), WithinAbs(0.0340, 5e-5));
  using A = M6;
  const auto m = random_model<A>(3);
  const std::size_t B = 2, T = 10;
  const auto tok = random_tokens(B * T, int(A::vocab), 4);
  workspace<A> ws;

  SECTION("uniform causal attention gives chance") {
    forward(m, ws, tok, B, T, make_hand_pattern([](std::size_t, std::size_t, std::size_t i) { return 1.0 / double(i + 1); }, A::heads));
    for (double v : bos_attention_per_sequence(ws, layer_range::all(A::layers))) CHECK_THAT(v, WithinAbs(bos_attention_chance(T), 1e-7));
  }
  SECTION("second-half queries, mean over heads, then over the layers of the scope") {
    // first(l, h, i) = 0.1 l + 0.01 h + 0.001 i; second half of T=10: i = 5..9, mean i = 7.
    auto f = [](std::size_t l, std::size_t h, std::size_t i) { return 0.1 * double(l) + 0.01 * double(h) + 0.001 * double(i); };
    forward(m, ws, tok, B, T, make_hand_pattern(f, A::heads));
    const auto heads = bos_attention_by_head(ws, 1);
    CHECK_THAT(heads[2][3], WithinAbs(0.2 + 0.03 + 0.007, 1e-7));
    const auto layers = bos_attention_by_layer(ws, 0);
    CHECK_THAT(layers[4], WithinAbs(0.4 + 0.015 + 0.007, 1e-7));  // mean head 1.5
    // mid of 6 layers = layers 3..4: mean l = 3.5
    for (double v : bos_attention_per_sequence(ws, layer_range::mid(A::layers))) CHECK_THAT(v, WithinAbs(0.35 + 0.015 + 0.007, 1e-7));
    for (double v : bos_attention_per_sequence(ws, layer_range::all(A::layers))) CHECK_THAT(v, WithinAbs(0.25 + 0.015 + 0.007, 1e-7));
    for (double v : bos_attention_per_sequence(ws, layer_range{1, 2})) CHECK_THAT(v, WithinAbs(0.1 + 0.015 + 0.007, 1e-7));
    // the batch-wide per-layer function agrees
    CHECK_THAT(bos_attention_by_layer(ws)[4], WithinAbs(layers[4], 1e-7));
  }
  SECTION("Sink_k^eps counts the (layer, head) whose mean attention to key k over i >= k exceeds eps") {
    // Key 0: mean over i = 0..9 of first(l,h,i) with row 0 = 1: (1 + 9 a) / 10 for a constant a.
    // a = 0.25 for heads 0, 1 -> 0.325 > 0.3; a = 0.2 for heads 2, 3 -> 0.28. So 12 of 24 (l,h): 0.5.
    auto f = [](std::size_t, std::size_t h, std::size_t) { return h < 2 ? 0.25 : 0.2; };
    forward(m, ws, tok, B, T, make_hand_pattern(f, A::heads));
    CHECK_THAT(sink_rate(ws, 0, 0, 0.3), WithinAbs(0.5, 1e-12));
    CHECK_THAT(sink_rate(ws, 1, 0, 0.29), WithinAbs(0.5, 1e-12));
    CHECK_THAT(sink_rate(ws, 1, 0, 0.27), WithinAbs(1.0, 1e-12));
    // Key 1: rows i >= 1 put (1-a)/i on it; mean over i = 1..9.
    double heads01 = 0;
    for (int i = 1; i <= 9; ++i) heads01 += 0.75 / i;
    heads01 /= 9;  // 0.2357: below 0.3; heads 2,3: 0.8/0.75 of it = 0.2514
    CHECK_THAT(mean_attention_to_key(ws.pattern(0, 0, 0), T, 1), WithinAbs(heads01, 1e-7));
    CHECK(sink_rate(ws, 0, 1, 0.3) == 0.0);
    CHECK_THAT(sink_rate(ws, 0, 1, 0.24), WithinAbs(0.5, 1e-12));
    CHECK(sink_rate_per_sequence(ws, 0, 0.3).size() == B);
  }
  CHECK_THROWS_WITH(bos_attention_of_pattern(nullptr, 1), Catch::Contains("at least 2 tokens"));
}

TEST_CASE("per-sequence cross-entropy matches forward_loss of each sequence alone", "[interp][metrics]") {
  using A = M;
  const auto m = random_model<A>(5);
  const std::size_t B = 3, T = 9;
  const auto tok = random_tokens(B * T, int(A::vocab), 6);
  workspace<A> ws, one;
  forward(m, ws, tok, B, T);
  const auto ce = cross_entropy_per_sequence(ws);
  for (std::size_t b = 0; b < B; ++b)
    CHECK_THAT(ce[b], WithinAbs(forward_loss(m, one, std::span<const int>(tok).subspan(b * T, T), 1, T), 1e-5));
}

// ---------------------------------------------------------------------------------------------------

TEST_CASE("interventions a-j against independent computations", "[interp][interventions]") {
  using A = M;
  using L = layout<A>;
  constexpr std::size_t d = A::d_model;
  const auto m = random_model<A>(21);
  const std::size_t B = 2, T = 12;
  const auto tok = random_tokens(B * T, int(A::vocab), 22);
  workspace<A> base, got, want;
  forward(m, base, tok, B, T);

  SECTION("a: baseline is the plain forward pass") {
    intervened_model run(m, baseline{});
    run.forward(got, tok, B, T);
    require_same_logits(base, got, 0.0);
  }
  SECTION("b: equals the forward pass of a copy with b_Q zeroed; the original is untouched") {
    model<A> copy = m;
    for (int l = 0; l < int(A::layers); ++l)
      for (float& x : copy.tensor(role::q_bias, l)) x = 0.f;
    forward(copy, want, tok, B, T);
    intervened_model run(m, scale_query_bias{});
    run.forward(got, tok, B, T);
    require_same_logits(want, got, 0.0);
    CHECK(m.tensor(role::q_bias, 1)[0] != 0.f);
    // b_K and b_V kept
    CHECK(std::equal(run.weights().tensor(role::k_bias, 1).begin(), run.weights().tensor(role::k_bias, 1).end(),
                     m.tensor(role::k_bias, 1).begin()));
    // scaling by alpha scales exactly the query bias
    intervened_model half(m, scale_query_bias{0.5});
    CHECK(half.weights().tensor(role::q_bias, 0)[3] == float(double(m.tensor(role::q_bias, 0)[3]) * 0.5));
    CHECK(half.intervention().id != "b");
  }
  SECTION("c: the position-0 residual input is wte[tok0] + p_1") {
    intervened_model run(m, replace_position{});
    capture_activation cap{hook_point::resid_pre, 0};
    run.forward(got, tok, B, T, cap);
    const auto wte = m.tensor(role::wte), wpe = m.tensor(role::wpe);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < 3; ++t)
        for (std::size_t c = 0; c < d; ++c) {
          const float want_x = wte[std::size_t(tok[b * T + t]) * d + c] + wpe[(t == 0 ? 1 : t) * d + c];
          REQUIRE_THAT(cap.data[(b * T + t) * d + c], WithinAbs(want_x, 1e-6));
        }
    // logits change at position 0 (and the model is no longer the baseline)
    double diff = 0;
    for (std::size_t v = 0; v < A::vocab; ++v) diff += std::abs(got.logits()[v] - base.logits()[v]);
    CHECK(diff > 1e-3);
  }
  SECTION("d: only rows 0 and 1 of the layer-0 MLP output change, their sum is kept, along EPE_0 -> EPE_1") {
    intervened_model run(m, swap_first_positions{swap_first_positions::direction::epe});
    capture_activation cap{hook_point::mlp_out, 0};
    run.forward(got, tok, B, T, cap);
    auto u0 = reference_epe(m, 0), u1 = reference_epe(m, 1);
    for (auto* u : {&u0, &u1}) {
      double n = 0;
      for (double x : *u) n += x * x;
      for (double& x : *u) x /= std::sqrt(n);
    }
    const float* orig = base.block(0).mlp_out;
    for (std::size_t b = 0; b < B; ++b) {
      const float* m0 = orig + b * T * d;
      double alpha = 0;
      for (std::size_t c = 0; c < d; ++c) alpha += m0[c] * u0[c];
      for (std::size_t c = 0; c < d; ++c) {
        REQUIRE_THAT(cap.data[b * T * d + c], WithinAbs(m0[c] + alpha * (u1[c] - u0[c]), 1e-5));
        REQUIRE_THAT(cap.data[(b * T + 1) * d + c], WithinAbs(m0[d + c] + alpha * (u0[c] - u1[c]), 1e-5));
        REQUIRE_THAT(cap.data[b * T * d + c] + cap.data[(b * T + 1) * d + c], WithinAbs(m0[c] + m0[d + c], 1e-5));
      }
      for (std::size_t t = 2; t < T; ++t)
        for (std::size_t c = 0; c < d; ++c) REQUIRE(cap.data[(b * T + t) * d + c] == orig[(b * T + t) * d + c]);
      CHECK(std::abs(alpha) > 1e-3);  // the test is not vacuous
    }
  }
  SECTION("e: the same swap along the unit raw p_0, p_1") {
    intervened_model run(m, swap_first_positions{swap_first_positions::direction::pe});
    const auto wpe = m.tensor(role::wpe);
    double n0 = 0;
    for (std::size_t c = 0; c < d; ++c) n0 += double(wpe[c]) * wpe[c];
    for (std::size_t c = 0; c < d; ++c) REQUIRE_THAT(run.intervention().u0[c], WithinAbs(wpe[c] / std::sqrt(n0), 1e-12));
    capture_activation cap{hook_point::mlp_out, 0};
    run.forward(got, tok, B, T, cap);
    for (std::size_t c = 0; c < d; ++c)
      REQUIRE_THAT(cap.data[c] + cap.data[d + c], WithinAbs(base.block(0).mlp_out[c] + base.block(0).mlp_out[d + c], 1e-5));
  }
  SECTION("f: the token embedding at position 0 is 0, the positional embedding still added") {
    intervened_model run(m, nullify_first_token{});
    run.forward(got, tok, B, T);
    const auto wpe = m.tensor(role::wpe);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t c = 0; c < d; ++c) {
        REQUIRE(got.block(0).resid_pre[b * T * d + c] == wpe[c]);
        REQUIRE(got.block(0).resid_pre[(b * T + 1) * d + c] == base.block(0).resid_pre[(b * T + 1) * d + c]);
      }
  }
  SECTION("g: equals zeroing every MLP's output projection") {
    model<A> copy = m;
    for (int l = 0; l < int(A::layers); ++l) {
      for (float& x : copy.tensor(role::mlp_proj_weight, l)) x = 0.f;
      for (float& x : copy.tensor(role::mlp_proj_bias, l)) x = 0.f;
    }
    forward(copy, want, tok, B, T);
    intervened_model run(m, skip_mlp{});
    run.forward(got, tok, B, T);
    require_same_logits(want, got, 1e-5);
  }
  SECTION("h: equals a copy with wpe = 0") {
    model<A> copy = m;
    for (float& x : copy.tensor(role::wpe)) x = 0.f;
    forward(copy, want, tok, B, T);
    intervened_model run(m, no_positional_embedding{});
    run.forward(got, tok, B, T);
    require_same_logits(want, got, 1e-6);
  }
  SECTION("i: zeroes exactly the rows of W_K of the top-3 |EPE_0| coordinates, in every layer") {
    const auto epe0 = reference_epe(m, 0);
    std::vector<std::size_t> order(d);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return std::abs(epe0[a]) > std::abs(epe0[b]); });
    const std::set<std::size_t> top(order.begin(), order.begin() + 3);
    intervened_model run(m, zero_key_inputs::top_epe0(3));
    CHECK(std::set<std::size_t>(run.intervention().coordinates.begin(), run.intervention().coordinates.end()) == top);
    const auto& w = run.weights();
    for (const auto& s : L::specs) {
      const float* a = m.data() + s.offset;
      const float* b = w.data() + s.offset;
      for (std::size_t k = 0; k < s.size(); ++k) {
        const bool zeroed = s.what == role::k_weight && top.count(k / d);
        REQUIRE(b[k] == (zeroed ? 0.f : a[k]));
      }
    }
    run.forward(got, tok, B, T);
    model<A> copy = m;
    for (int l = 0; l < int(A::layers); ++l)
      for (std::size_t c : top) std::fill_n(copy.tensor(role::k_weight, l).begin() + long(c * d), d, 0.f);
    forward(copy, want, tok, B, T);
    require_same_logits(want, got, 0.0);
  }
  SECTION("j: 3 distinct random coordinates, reproducible from the seed") {
    intervened_model r1(m, zero_key_inputs::random(3, 7)), r2(m, zero_key_inputs::random(3, 7)),
        r3(m, zero_key_inputs::random(3, 8));
    const auto& c1 = r1.intervention().coordinates;
    REQUIRE(c1.size() == 3);
    CHECK(std::set<std::size_t>(c1.begin(), c1.end()).size() == 3);
    for (std::size_t c : c1) CHECK(c < d);
    CHECK(c1 == r2.intervention().coordinates);
    CHECK(c1 != r3.intervention().coordinates);
    for (std::size_t c : c1) CHECK(r1.weights().tensor(role::k_weight, 1)[c * d + 5] == 0.f);
  }
  SECTION("composition: b with c equals both applied by hand") {
    model<A> copy = m;
    for (int l = 0; l < int(A::layers); ++l)
      for (float& x : copy.tensor(role::q_bias, l)) x = 0.f;
    replace_position c;
    c.prepare(m);
    forward(copy, want, tok, B, T, c);
    intervened_model run(m, combine(scale_query_bias{}, replace_position{}));
    CHECK(run.intervention().id == "b+c");
    run.forward(got, tok, B, T);
    require_same_logits(want, got, 0.0);
  }
  SECTION("patching: capture on one input, replay on another") {
    const auto other = random_tokens(B * T, int(A::vocab), 99);
    capture_activation cap{hook_point::resid_mid, 0};
    forward(m, want, other, B, T, cap);
    intervened_model run(m, patch_activation{cap});
    run.forward(got, tok, B, T);
    require_same_logits(want, got, 0.0);  // everything downstream of block 0's resid_mid comes from `other`
    // only position 3 patched: positions 0..2 keep the original logits
    intervened_model part(m, patch_activation{cap, {3}});
    part.forward(got, tok, B, T);
    for (std::size_t i = 0; i < 3 * A::vocab; ++i) REQUIRE(got.logits()[i] == base.logits()[i]);
    double diff = 0;
    for (std::size_t v = 0; v < A::vocab; ++v) diff += std::abs(got.logits()[3 * A::vocab + v] - base.logits()[3 * A::vocab + v]);
    CHECK(diff > 1e-3);
    // a capture of another length is refused with a clear message
    intervened_model bad(m, patch_activation{cap});
    CHECK_THROWS_WITH(bad.forward(got, std::span<const int>(tok).first(T), 1, T), Catch::Contains("captured"));
  }
}

TEST_CASE("interventions that do not apply are skipped with a machine-readable reason", "[interp][interventions]") {
  using NoQ = micro<tiny_no_qbias>;
  using Rot = micro<tiny_rotary>;
  using NoMlp0 = micro<tiny_no_first_mlp>;
  using LowRank = micro<tiny_low_rank_keys>;
  CHECK(scale_query_bias{}.check<NoQ>().code == "needs-query-bias");
  CHECK(scale_query_bias{}.check<M>().applies);
  CHECK(replace_position{}.check<Rot>().code == "needs-learned-positions");
  CHECK(no_positional_embedding{}.check<Rot>().code == "needs-learned-positions");
  CHECK(swap_first_positions{}.check<NoMlp0>().code == "needs-first-mlp");
  CHECK(swap_first_positions{swap_first_positions::direction::pe}.check<NoMlp0>().code == "needs-first-mlp");
  CHECK(zero_key_inputs::top_epe0().check<NoMlp0>().code == "needs-first-mlp");
  CHECK(zero_key_inputs::random(3, 1).check<NoMlp0>().applies);
  CHECK(zero_key_inputs::random(3, 1).check<Rot>().applies);
  CHECK(skip_mlp{}.check<NoMlp0>().applies);
  CHECK(nullify_first_token{}.check<Rot>().applies);
  CHECK(combine(scale_query_bias{}, replace_position{}).check<NoQ>().code == "needs-query-bias");
  CHECK(patch_activation{capture_activation{hook_point::mlp_out, 0}}.check<NoMlp0>().code == "no-such-hook-point");
  CHECK(circuit_applicability<Rot>().code == "rotary-positions");
  CHECK(circuit_applicability<micro<tiny_normalized_keys>>().code == "normalized-keys");
  CHECK(circuit_applicability<M>().applies);

  const auto m = random_model<NoQ>(2);
  const std::vector<std::vector<int>> inputs{random_tokens(8, int(NoQ::vocab), 1)};
  const auto out = evaluate_intervention(m, scale_query_bias{}, inputs);
  CHECK(!out.status.applies);
  CHECK(out.bos_by_layer.empty());
  CHECK_THROWS_WITH(intervened_model(m, scale_query_bias{}), Catch::Contains("does not apply") && Catch::Contains("query bias"));

  SECTION("low-rank keys: i/j zero rows of A, the input side of W_K = A B") {
    const auto ml = random_model<LowRank>(4);
    intervened_model run(ml, zero_key_inputs::given({1, 5}));
    const auto a = run.weights().tensor(role::k_weight_a, 1);
    constexpr std::size_t R = 8;
    for (std::size_t r = 0; r < R; ++r) {
      CHECK(a[1 * R + r] == 0.f);
      CHECK(a[5 * R + r] == 0.f);
      CHECK(a[2 * R + r] == ml.tensor(role::k_weight_a, 1)[2 * R + r]);
    }
  }
}

TEST_CASE("evaluate_intervention: per input BOS attention, Sink^eps and cross-entropy", "[interp][interventions]") {
  using A = M6;
  const auto m = random_model<A>(8);
  const std::size_t T = 10;
  std::vector<std::vector<int>> inputs;
  for (unsigned s = 0; s < 5; ++s) inputs.push_back(random_tokens(T, int(A::vocab), 40 + s));
  const auto out = evaluate_intervention(m, baseline{}, inputs, 2);  // batches of 2, 2, 1
  REQUIRE(out.bos_by_layer.size() == 5);
  workspace<A> ws;
  std::vector<double> mid;
  for (std::size_t i = 0; i < 5; ++i) {
    const double loss = forward_loss(m, ws, inputs[i], 1, T);
    CHECK_THAT(out.cross_entropy[i], WithinAbs(loss, 1e-5));
    mid.push_back(bos_attention_per_sequence(ws, layer_range::mid(A::layers))[0]);
    CHECK_THAT(out.bos(layer_range::mid(A::layers))[i], WithinAbs(mid.back(), 1e-9));
    CHECK_THAT(out.sink_rate[i], WithinAbs(sink_rate(ws, 0), 1e-12));
  }
  const auto s = out.bos_summary(layer_range::mid(A::layers));
  CHECK_THAT(s.mean, WithinAbs(stats::mean(mid), 1e-9));
  CHECK_THAT(s.se, WithinAbs(stats::sample_std(mid) / std::sqrt(5.0), 1e-9));
  CHECK(out.bos_summary(layer_range::mid(A::layers), {0, 2}).n == 2);
  inputs.push_back(random_tokens(T - 1, int(A::vocab), 1));
  CHECK_THROWS_WITH(evaluate_intervention(m, baseline{}, inputs), Catch::Contains("same length"));
}

// ---------------------------------------------------------------------------------------------------

namespace {
/// A micro model with a planted sink circuit: GPT-2's small init, then three "massive" coordinates in
/// p_0 and, in every layer, W_K rows for those coordinates aligned with b_Q, so b_Q . W_K x_0 is large.
struct planted {
  static constexpr std::size_t coords[3] = {3, 17, 25};
  static model<M6> make() {
    using A = M6;
    constexpr std::size_t d = A::d_model;
    model<A> m(11);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (std::size_t c : coords) m.tensor(role::wpe)[c] = 5.f;
    for (int l = 0; l < int(A::layers); ++l) {
      auto bq = m.tensor(role::q_bias, l);
      for (float& x : bq) x = u(rng);
      auto wk = m.tensor(role::k_weight, l);
      for (std::size_t c : coords)
        for (std::size_t o = 0; o < d; ++o) wk[c * d + o] = 2.f * bq[o];
    }
    return m;
  }
};
}  // namespace

TEST_CASE("a planted sink circuit: b and i remove it, the controls j and f leave it", "[interp][interventions][circuit]") {
  using A = M6;
  const auto m = planted::make();
  const std::size_t T = 16;
  std::vector<std::vector<int>> inputs;
  for (unsigned s = 0; s < 4; ++s) inputs.push_back(random_tokens(T, int(A::vocab), 70 + s));
  const auto mid = layer_range::mid(A::layers);
  const double a = evaluate_intervention(m, baseline{}, inputs).bos_summary(mid).mean;
  const double b = evaluate_intervention(m, scale_query_bias{}, inputs).bos_summary(mid).mean;
  const double i = evaluate_intervention(m, zero_key_inputs::top_epe0(3), inputs).bos_summary(mid).mean;
  const double j = evaluate_intervention(m, zero_key_inputs::random(3, 1, true), inputs).bos_summary(mid).mean;
  const double f = evaluate_intervention(m, nullify_first_token{}, inputs).bos_summary(mid).mean;
  const double chance = bos_attention_chance(T);
  INFO("a " << a << " b " << b << " i " << i << " j " << j << " f " << f << " chance " << chance);
  CHECK(a > 0.8);
  CHECK(b < chance + 0.05);
  CHECK(i < chance + 0.05);
  CHECK_THAT(j, WithinAbs(a, 0.02));
  CHECK_THAT(f, WithinAbs(a, 0.02));

  SECTION("the massive coordinates of EPE_0 are the planted ones, and gamma is large on them") {
    const auto epe0 = effective_positional_embedding(m, 0);
    const auto massive = massive_coordinates(epe0);
    CHECK(massive == std::vector<std::size_t>(std::begin(planted::coords), std::end(planted::coords)));
    const auto g = mean_gamma(m, massive, mid);
    CHECK(g.massive > 20 * g.other);
    // by hand: gamma_h[c] = |sum_o 2 bq[h*dh+o]^2| on the planted c
    const auto bq = m.tensor(role::q_bias, 3);
    double want = 0;
    for (std::size_t o = 0; o < A::d_head; ++o) want += 2.0 * bq[o] * bq[o];
    CHECK_THAT(key_coordinate_gain(m, 3, 0)[17], WithinRel(want, 1e-5));
    // the shift is largest at key 0 in every mid layer
    workspace<A> ws;
    forward(m, ws, inputs[0], 1, T);
    for (std::size_t l = mid.first; l < mid.last; ++l) {
      const auto delta = shift_to_min_zero(source_agnostic_shift(m, ws, 0, int(l), 1));
      CHECK(*std::min_element(delta.begin(), delta.end()) == 0.0);
      CHECK(std::max_element(delta.begin(), delta.end()) == delta.begin());
    }
  }
}

TEST_CASE("massive coordinates: mean + 3 sd with N-1, else the top 2", "[interp][circuit]") {
  std::vector<double> v(20, 1.0);
  v[4] = -30;  // |v| mean 2.45, sd (N-1) 6.48 -> threshold 21.9
  CHECK(massive_coordinates(v) == std::vector<std::size_t>{4});
  std::vector<double> flat{1, -2, 3, 0.5};
  CHECK(massive_coordinates(flat) == std::vector<std::size_t>{1, 2});
}

TEMPLATE_TEST_CASE("the source-agnostic shift two ways: from the weights and from the keys", "[interp][circuit]", M,
                   micro<tiny_low_rank_keys>, micro<tiny_no_kbias>) {
  using A = TestType;
  constexpr std::size_t d = A::d_model, dh = A::d_head;
  const auto m = random_model<A>(31);
  const std::size_t B = 2, T = 11;
  const auto tok = random_tokens(B * T, int(A::vocab), 32);
  workspace<A> ws;
  forward(m, ws, tok, B, T);
  for (int l = 0; l < int(A::layers); ++l) {
    // independent: b_Q,h . (x_j W_K)_h from the hook view of ln_1 and the weights, plain loops
    auto ln1 = ws.hook("blocks." + std::to_string(l) + ".ln1.hook_normalized");
    const auto bq = m.tensor(role::q_bias, l);
    for (std::size_t h = 0; h < A::heads; ++h) {
      const auto w = source_agnostic_shift(m, ws, 1, l, h);
      const auto k = source_agnostic_shift_from_keys(m, ws, 1, l, h);
      for (std::size_t j = 0; j < T; ++j) {
        std::vector<double> x(d);
        for (std::size_t c = 0; c < d; ++c) x[c] = ln1(1, j, c);
        const auto proj = key_projection_without_bias(m, l, x);
        double want = 0;
        for (std::size_t o = 0; o < dh; ++o) want += double(bq[h * dh + o]) * proj[h * dh + o];
        REQUIRE_THAT(w[j], WithinAbs(want, 1e-6));
        REQUIRE_THAT(k[j], WithinAbs(want, 2e-5));
      }
    }
  }
}

TEST_CASE("EPE checks: the MLP-only validation is exact when e and the biases vanish, Fig. 2 cosines", "[interp][circuit]") {
  using A = M;
  constexpr std::size_t d = A::d_model, dh = A::d_head;
  auto m = random_model<A>(41);
  const auto epe3 = effective_positional_embedding(m, 3);
  const auto ref3 = reference_epe(m, 3);
  for (std::size_t c = 0; c < d; ++c) REQUIRE_THAT(epe3[c], WithinAbs(ref3[c], 1e-9));
  // cos(b_Q,h, (EPE_j W_K)_h), independently
  const auto cosines = query_bias_epe_key_cosines(m, 5);
  {
    const auto wk = m.tensor(role::k_weight, 1);
    const auto bq = m.tensor(role::q_bias, 1);
    std::vector<double> k(dh, 0.0);
    for (std::size_t o = 0; o < dh; ++o)
      for (std::size_t c = 0; c < d; ++c) k[o] += ref3[c] * wk[c * d + 2 * dh + o];
    CHECK_THAT(cosines[1][2][3], WithinAbs(stats::cosine(bq.data() + 2 * dh, k.data(), dh), 1e-9));
  }
  // With token 0's embedding zero and MLP0's biases zero, N_i = EPE_i exactly.
  std::fill_n(m.tensor(role::wte).begin(), d, 0.f);
  for (float& x : m.tensor(role::mlp_fc_bias, 0)) x = 0.f;
  for (float& x : m.tensor(role::mlp_proj_bias, 0)) x = 0.f;
  const std::vector<int> zeros(6, 0);
  for (double c : epe_validation_mlp_only(m, zeros)) CHECK_THAT(c, WithinAbs(1.0, 1e-9));
  const auto full = epe_validation_full_block(m, random_tokens(12, int(A::vocab), 3), 2, 6);
  REQUIRE(full.size() == 2);
  for (const auto& row : full)
    for (double c : row) CHECK((c >= -1.0 - 1e-9 && c <= 1.0 + 1e-9));
}

TEST_CASE("shift distribution percentiles and the mean pattern", "[interp][circuit]") {
  using A = M;
  const auto m = random_model<A>(51);
  const std::size_t B = 3, T = 8;
  workspace<A> ws;
  forward(m, ws, random_tokens(B * T, int(A::vocab), 52), B, T);
  shift_distribution<A> dist;
  dist.add(m, ws);
  CHECK(dist.values(1, 4).size() == B * A::heads);
  const double ps[] = {0, 50, 100};
  const auto table = dist.percentile_table(ps);
  std::vector<double> all;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < A::heads; ++h) all.push_back(shift_to_min_zero(source_agnostic_shift(m, ws, b, 1, h))[4]);
  CHECK_THAT(table[1][4][2], WithinAbs(*std::max_element(all.begin(), all.end()), 1e-12));
  CHECK_THAT(table[1][4][1], WithinAbs(stats::median(all), 1e-12));
  const auto pat = mean_pattern(ws, 2, layer_range::all(A::layers));
  double want = 0;
  for (std::size_t l = 0; l < A::layers; ++l)
    for (std::size_t h = 0; h < A::heads; ++h) want += ws.pattern(l, 2, h)[5 * T + 2];
  CHECK_THAT(pat[5 * T + 2], WithinAbs(want / double(A::layers * A::heads), 1e-7));
}

// ---------------------------------------------------------------------------------------------------

TEST_CASE("report: CSV and Markdown tables round-trip, files are written atomically", "[report]") {
  using namespace sinkcore::report;
  table t{{"dataset", "text", "mean"}};
  t.add({"sst2", "a \"quoted\", text\nover two lines", fmt(0.56301, 4)});
  t.add({"gsm8k", "plain", fmt(0.25, 2)});
  CHECK_THROWS_WITH(t.add({"x"}), Catch::Contains("1 fields"));
  const auto back = parse_csv(t.csv());
  CHECK(back.header == t.header);
  CHECK(back.rows == t.rows);
  CHECK(back.rows[0][2] == "0.5630");
  CHECK(t.markdown().find("| dataset | text | mean |\n| --- | --- | --- |\n") == 0);
  CHECK(t.markdown().find("a \"quoted\", text over two lines") != std::string::npos);
  CHECK(parse_csv("a,b\r\n1,2\r\n\r\n3,\"x,y\"\r\n").rows == std::vector<std::vector<std::string>>{{"1", "2"}, {"3", "x,y"}});
  CHECK_THROWS_WITH(parse_csv("a,b\n1,2,3\n", "in.csv"), Catch::Contains("in.csv") && Catch::Contains("record 2"));
  CHECK_THROWS_WITH(parse_csv("a\n\"open", "in.csv"), Catch::Contains("unterminated"));

  const auto dir = std::filesystem::temp_directory_path() / ("sinkcore_interp_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_text_atomically(dir / "t.csv", t.csv());
  CHECK(read_csv(dir / "t.csv").rows == t.rows);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  CHECK(files == 1);  // no temporary left behind
  std::filesystem::remove_all(dir);
  CHECK_THROWS_WITH(read_csv(dir / "missing.csv"), Catch::Contains("cannot open"));
}

TEST_CASE("report: SVG figures are well-formed documents holding their data", "[report]") {
  using namespace sinkcore::report;
  auto balanced = [](const std::string& s) {
    // every element opened with <tag ...> is closed: count "<svg" vs "</svg>", and self-closing tags end in "/>"
    return s.find("<svg") != std::string::npos && s.rfind("</svg>\n") == s.size() - 7 &&
           std::count(s.begin(), s.end(), '<') == std::count(s.begin(), s.end(), '>');
  };
  chart_options o{.title = "A & B <test>", .xlabel = "key", .ylabel = "query"};
  const auto hm = heatmap_svg({0, 0.5, 1, std::nan("")}, 2, 2, o);
  CHECK(balanced(hm));
  CHECK(hm.find("A &amp; B &lt;test&gt;") != std::string::npos);
  CHECK(hm.find(viridis(1.0)) != std::string::npos);
  CHECK(hm.find("#cccccc") != std::string::npos);  // the NaN cell
  CHECK(viridis(0) == "#440154");
  CHECK(viridis(1) == "#fde725");
  CHECK_THROWS_WITH(heatmap_svg({1, 2, 3}, 2, 2, o), Catch::Contains("3 values"));
  CHECK(balanced(histogram_svg({1, 2, 2, 3, 10}, 4, o)));
  CHECK(balanced(line_chart_svg({{"s1", {0, 1, 2}, {1, 4, 9}}, {"s2", {0, 1, 2}, {2, 2, 2}}}, o)));
  percentile_band b{"Delta", {0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}};
  CHECK(balanced(percentile_bands_svg({0, 1}, {b}, o)));
  o.hlines = {{"chance", 0.034}};
  const auto bars = bar_chart_svg({"a", "b"}, {0.56, 0.25}, {0.004, 0.003}, o, {0.563, 0.251});
  CHECK(balanced(bars));
  CHECK(bars.find(">chance<") != std::string::npos);
  CHECK(bars.find(">published<") != std::string::npos);
  const auto ticks = nice_ticks(0, 1, 5);
  CHECK(ticks.size() == 6);
  CHECK_THAT(ticks[1], WithinAbs(0.2, 1e-12));
}

TEST_CASE("the circuit report: inputs from CSV, every file written, numbers consistent", "[report][interp]") {
  using namespace sinkcore::report;
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("sinkcore_report_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "inputs.csv");
    f << "dataset,kind,tokens\n";
    for (int r = 0; r < 6; ++r) {
      f << (r < 4 ? "nl" : "code") << ",x,\"";
      const auto t = random_tokens(r == 5 ? 5 : 12, 53, 300 + unsigned(r));
      for (std::size_t i = 0; i < t.size(); ++i) f << (i ? " " : "") << t[i];
      f << "\"\n";
    }
    std::ofstream g(dir / "text.csv");
    g << "dataset,text\nnl,\"ab  \n cd\"\n";
  }
  auto no_text = [](const std::string&) -> std::vector<int> { throw sinkcore::error("no tokenizer"); };
  const auto set = read_labelled_inputs(dir / "inputs.csv", 10, no_text);
  CHECK(set.inputs.size() == 5);
  CHECK(set.dropped == 1);
  CHECK(set.inputs[0].tokens.size() == 10);
  CHECK(set.inputs[4].dataset == "code");
  auto bytes = [](const std::string& s) { return std::vector<int>(s.begin(), s.end()); };
  const auto text = read_labelled_inputs(dir / "text.csv", 5, bytes);
  REQUIRE(text.inputs.size() == 1);
  CHECK(text.inputs[0].tokens == std::vector<int>{'a', 'b', ' ', 'c', 'd'});  // whitespace collapsed
  CHECK(collapse_whitespace("  a \t\n b  ") == "a b");
  CHECK_THROWS_WITH(read_labelled_inputs(dir / "text.csv", 5, no_text), Catch::Contains("no tokenizer"));

  const auto m = planted::make();
  const auto out = dir / "out";
  circuit_report_options o;
  o.batch = 2;
  write_circuit_report(m, set.inputs, out, o);
  for (const char* f : {"interventions.csv", "interventions_all_layers.csv", "cross_entropy.csv", "sink_rate.csv",
                        "bos_by_layer.csv", "bos_by_head.csv", "skipped.csv", "table1.svg", "fig1_shift_percentiles.csv",
                        "fig1_shift.svg", "fig1_shift_median.svg", "fig2_cosines.csv", "fig2_cosines.svg",
                        "fig3_epe_validation.csv", "fig3_epe_validation.svg", "fig4_massive.csv", "fig4_gamma.csv",
                        "fig4_epe0.svg", "fig4_gamma.svg", "fig5_attention_maps.csv", "fig5_a.svg", "fig5_j.svg", "report.md"})
    CHECK(fs::exists(out / f));
  const auto t = read_csv(out / "interventions.csv");
  CHECK(t.header == std::vector<std::string>{"dataset", "intervention", "n", "mean", "stderr"});
  REQUIRE(t.rows.size() == 3 * 10);  // nl, code, all x a..j
  CHECK(t.rows[0][0] == "nl");
  CHECK(t.rows[20][0] == "all");
  CHECK(t.rows[20][1] == "a");
  CHECK(t.rows[20][2] == "5");
  // the "all" baseline row is the mean over the five inputs of the direct computation
  std::vector<std::vector<int>> toks;
  for (const auto& in : set.inputs) toks.push_back(in.tokens);
  const auto s = evaluate_intervention(m, baseline{}, toks).bos_summary(layer_range::mid(M6::layers));
  CHECK_THAT(std::stod(t.rows[20][3]), WithinAbs(s.mean, 1e-6));
  CHECK_THAT(std::stod(t.rows[20][4]), WithinAbs(s.se, 1e-6));
  CHECK(read_csv(out / "skipped.csv").rows.empty());
  const auto massive = read_csv(out / "fig4_massive.csv");
  CHECK(massive.rows[17][3] == "1");
  std::ifstream md(out / "report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), {});
  CHECK(report.find("## Table 1: interventions, mid scope (layers 3..4)") != std::string::npos);
  CHECK(report.find("{3, 17, 25}") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("the circuit report of a variant lists its skipped interventions with reasons", "[report][interp]") {
  using namespace sinkcore::report;
  namespace fs = std::filesystem;
  using R = micro<tiny_rotary>;
  const auto m = random_model<R>(3);
  std::vector<labelled_input> inputs{{"x", random_tokens(8, 53, 1)}, {"x", random_tokens(8, 53, 2)}};
  const auto out = fs::temp_directory_path() / ("sinkcore_report_rot_" + std::to_string(::getpid()));
  write_circuit_report(m, inputs, out);
  const auto skipped = read_csv(out / "skipped.csv");
  std::set<std::string> ids;
  for (const auto& r : skipped.rows) ids.insert(r[0] + ":" + r[2]);
  CHECK(ids == std::set<std::string>{"c:needs-learned-positions", "d:needs-learned-positions", "e:needs-learned-positions",
                                     "h:needs-learned-positions", "i:needs-learned-positions"});
  std::ifstream md(out / "report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), {});
  CHECK(report.find("rotary-positions") != std::string::npos);
  CHECK(!fs::exists(out / "fig1_shift.svg"));
  fs::remove_all(out);
}
