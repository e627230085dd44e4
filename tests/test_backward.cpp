// Gradients of every architecture of the zoo against central finite differences.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <omp.h>
#include <unistd.h>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include <sinkcore/sinkcore.hpp>

#include "test_support.hpp"

using namespace sinkcore;
using namespace test_support;

namespace {
template <class A>
void check_gradients_against_finite_differences(std::size_t T = 9, std::size_t B = 2) {
  INFO(A::name() << " at T = " << T);
  auto m = random_model<A>(21, 0.3f);
  std::mt19937 rng(3);
  std::vector<int> tok(B * T);
  for (auto& t : tok) t = int(rng() % A::vocab);
  workspace<A> ws;
  auto grads = make_gradients<A>();
  const double loss = forward_backward(m, ws, tok, B, T, grads);
  REQUIRE_THAT(loss, Catch::Matchers::WithinAbs(forward_loss(m, ws, tok, B, T), 1e-6));

  const float eps = 1e-2f;
  std::size_t checked = 0;
  for (const auto& s : layout<A>::specs) {
    INFO(s.name());
    float* p = m.data() + s.offset;
    if (!s.trainable) {  // frozen tensors get no gradient at all
      for (std::size_t i = 0; i < s.size(); ++i) REQUIRE(grads[s.offset + i] == 0.f);
      continue;
    }
    // 5 sampled entries per tensor, plus the largest gradient of the tensor
    std::vector<std::size_t> idx;
    for (int k = 0; k < 5; ++k) idx.push_back(rng() % s.size());
    idx.push_back(std::size_t(std::max_element(grads.begin() + long(s.offset), grads.begin() + long(s.offset + s.size()),
                                               [](float a, float b) { return std::abs(a) < std::abs(b); }) -
                              (grads.begin() + long(s.offset))));
    for (std::size_t i : idx) {
      const float saved = p[i];
      p[i] = saved + eps;
      const double up = forward_loss(m, ws, tok, B, T);
      p[i] = saved - eps;
      const double down = forward_loss(m, ws, tok, B, T);
      p[i] = saved;
      const double fd = (up - down) / (2.0 * double(eps));
      const double g = grads[s.offset + i];
      INFO("entry " << i << ": backward " << g << " finite difference " << fd);
      CHECK(std::abs(g - fd) <= 3e-4 + 2e-2 * std::abs(fd));
      ++checked;
    }
  }
  std::size_t trainable = 0;
  for (const auto& s : layout<A>::specs) trainable += s.trainable;
  CHECK(checked == 6 * trainable);  // 6 entries of every trainable tensor
  CHECK(trainable >= 10);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("gradients match central finite differences", "[backward]", micro_zoo) {
  check_gradients_against_finite_differences<TestType>();
}

// Beyond 64 tokens attention runs in causal blocks of rows, dv and dk summed over blocks:
// 150 tokens = four full blocks of 32 and a partial one (test_support.hpp long_micro_zoo).
TEMPLATE_LIST_TEST_CASE("gradients match finite differences across causal blocks", "[backward]", long_micro_zoo) {
  check_gradients_against_finite_differences<TestType>(150, 1);
}

TEMPLATE_LIST_TEST_CASE("mitigations: gradients match central finite differences", "[backward][mitigation]",
                        micro_mitigations) {
  check_gradients_against_finite_differences<TestType>();
}

TEST_CASE("mitigations: every new parameter gets a gradient", "[backward][mitigation]") {
  auto largest = []<class A>(role r) {
    const auto m = random_model<A>(5, 0.3f);
    const std::size_t B = 2, T = 10;
    const auto tok = random_tokens(B * T, int(A::vocab), 6);
    workspace<A> ws;
    auto grads = make_gradients<A>();
    forward_backward(m, ws, tok, B, T, grads);
    double g = 0;
    for (int l = 0; l < int(A::layers); ++l) {
      const auto& s = layout<A>::spec(r, l);
      for (std::size_t i = 0; i < s.size(); ++i) g = std::max(g, double(std::abs(grads[s.offset + i])));
    }
    return g;
  };
  CHECK(largest.template operator()<micro<tiny_sigmoid>>(role::attn_sigmoid_bias) > 1e-4);
  CHECK(largest.template operator()<micro<tiny_sink_token>>(role::sink_token) > 1e-4);
  CHECK(largest.template operator()<micro<tiny_kv_bias>>(role::slot_k_bias) > 1e-4);
  CHECK(largest.template operator()<micro<tiny_kv_bias>>(role::slot_v_bias) > 1e-4);
}

TEST_CASE("the key bias gets no gradient: it cancels in the softmax", "[backward]") {
  using A = gpt2_tiny::with_shape<micro_shape>;
  const auto m = random_model<A>(5, 0.3f);
  std::vector<int> tok(2 * 16);
  for (std::size_t i = 0; i < tok.size(); ++i) tok[i] = int(i * 11 % A::vocab);
  workspace<A> ws;
  auto grads = make_gradients<A>();
  forward_backward(m, ws, tok, 2, 16, grads);
  double kb = 0, qb = 0;
  for (int l = 0; l < int(A::layers); ++l)
    for (std::size_t i = 0; i < A::d_model; ++i) {
      kb = std::max(kb, double(std::abs(grads[layout<A>::offset(role::k_bias, l) + i])));
      qb = std::max(qb, double(std::abs(grads[layout<A>::offset(role::q_bias, l) + i])));
    }
  CHECK(kb < 1e-6);
  CHECK(qb > 1e-4);  // while the query bias does get one
}

TEST_CASE("the loss and the gradients do not depend on the thread count", "[backward]") {
  using A = gpt2_tiny::with_shape<micro_shape>;
  const auto m = random_model<A>(7, 0.3f);
  const std::size_t B = 6, T = 16;
  const int threads_before = omp_get_max_threads();
  for (unsigned seed = 0; seed < 4; ++seed) {
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    std::vector<int> tok(B * T);
    for (auto& t : tok) t = int(rng() % A::vocab);
    double loss[2], fwd[2];
    std::vector<float> g[2];
    for (int t = 0; t < 2; ++t) {
      omp_set_num_threads(t + 1);
      workspace<A> ws;
      auto grads = make_gradients<A>();
      loss[t] = forward_backward(m, ws, tok, B, T, grads);
      fwd[t] = forward_loss(m, ws, tok, B, T);
      g[t].assign(grads.begin(), grads.end());
    }
    omp_set_num_threads(threads_before);
    // The rows' terms are summed in row order (an OpenMP reduction added each thread's part in turn).
    CHECK(loss[0] == loss[1]);
    CHECK(fwd[0] == fwd[1]);
    CHECK(g[0] == g[1]);
  }
}

// ---- training ----
#include <sinkcore/train/corpora.hpp>
#include <sinkcore/train/trainer.hpp>

namespace {
/// Unigram entropy (nats) of `eval` under the unigram distribution of `train` (add-one smoothed).
double unigram_cross_entropy(const std::vector<train::token>& train, const std::vector<train::token>& eval, std::size_t V) {
  std::vector<double> count(V, 1.0);
  for (auto t : train) count[t] += 1;
  double total = 0;
  for (double c : count) total += c;
  double h = 0;
  for (auto t : eval) h -= std::log(count[t] / total);
  return h / double(eval.size());
}
train::corpus small_math_corpus() {
  train::corpus_options o;
  o.math_bytes = 400'000;
  return train::load_corpus("math", o);
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("a short run learns: held-out loss well below the unigram entropy", "[train]", tiny_zoo::tuple) {
  using A = TestType;
  INFO(A::name());
  static const auto data = small_math_corpus();
  train::train_options o;
  o.steps = 150;
  o.batch = 8;
  o.context = 32;
  o.warmup = 20;
  o.lr = 3e-3f;
  o.eval_batches = 4;
  train::trainer<A> t(data, o);
  const double before = t.evaluate();
  for (std::size_t i = 0; i < o.steps; ++i) t.step();
  const double after = t.evaluate();
  const double unigram = unigram_cross_entropy(data.train, data.held_out, 256);
  INFO("held-out loss " << before << " -> " << after << ", unigram entropy " << unigram);
  WARN(A::name() << ": held-out loss " << before << " -> " << after << ", unigram entropy " << unigram);
  CHECK(before > unigram);
  CHECK(after < unigram - 0.5);
}

TEST_CASE("a resumed run is bit-identical to an uninterrupted one", "[train][checkpoint]") {
  using A = gpt2_tiny::with_shape<micro_bytes_shape>;
  const auto data = small_math_corpus();
  train::train_options o;
  o.steps = 8;
  o.batch = 3;
  o.context = 16;
  o.warmup = 2;
  const auto dir = std::filesystem::temp_directory_path() / ("sinkcore_resume_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  train::trainer<A> full(data, o);
  for (int i = 0; i < 8; ++i) full.step();

  train::trainer<A> first(data, o);
  for (int i = 0; i < 5; ++i) first.step();
  first.save(dir / "ckpt.safetensors");
  train::trainer<A> second(data, [&] { auto p = o; p.seed = 999; p.lr = 1.f; return p; }());  // options come from the file
  second.resume(dir / "ckpt.safetensors");
  CHECK(second.step_count() == 5);
  for (int i = 0; i < 3; ++i) second.step();
  CHECK(std::memcmp(full.net().data(), second.net().data(), layout<A>::size * sizeof(float)) == 0);
  CHECK(full.evaluate() == second.evaluate());
  // the weights inside load as a plain model too
  const auto m = io::load_weights<A>(dir / "ckpt.safetensors");
  CHECK(std::memcmp(m.data(), first.net().data(), layout<A>::size * sizeof(float)) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a trainer given a temporary corpus owns it: the same run as from a corpus kept alive", "[train]") {
  // The example of trainer.hpp's header comment. Before the fix the trainer kept a pointer to the
  // temporary, and its sampler read freed memory (AddressSanitizer: heap-use-after-free; here the freed
  // memory is reused and overwritten below, so the steps read garbage or crash).
  using A = gpt2_tiny::with_shape<micro_bytes_shape>;
  train::train_options o;
  o.steps = 3;
  o.batch = 2;
  o.context = 16;
  o.warmup = 1;
  train::trainer<A> owner(small_math_corpus(), o);
  std::vector<std::vector<train::token>> reuse;
  for (int i = 0; i < 8; ++i) reuse.emplace_back(400'000, train::token(0xffff));  // reuse what was freed
  const auto data = small_math_corpus();
  train::trainer<A> borrower(data, o);
  for (int i = 0; i < 3; ++i) CHECK(owner.step() == borrower.step());
  CHECK(std::memcmp(owner.net().data(), borrower.net().data(), layout<A>::size * sizeof(float)) == 0);
  // and a moved trainer keeps its corpus
  train::trainer<A> moved = std::move(owner);
  CHECK(moved.evaluate() == borrower.evaluate());
}

TEST_CASE("a non-finite loss stops training and changes nothing", "[train]") {
  using A = gpt2_tiny::with_shape<micro_bytes_shape>;
  const auto data = small_math_corpus();
  train::train_options o;
  o.steps = 4;
  o.batch = 2;
  o.context = 8;
  train::trainer<A> t(data, o);
  t.step();
  t.net().tensor(role::ln_f_bias)[3] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> before(t.net().data(), t.net().data() + layout<A>::size);
  CHECK_THROWS_AS(t.step(), train::divergence);
  CHECK(t.step_count() == 1);
  CHECK(std::memcmp(before.data(), t.net().data(), before.size() * sizeof(float)) == 0);
}
