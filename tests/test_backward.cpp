// Gradients of every architecture of the zoo against central finite differences.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include <sinkcore/sinkcore.hpp>

using namespace sinkcore;

namespace {

struct micro_shape : shape<2, 32, 4, 16, 53> {
  static constexpr std::string_view name = "micro";
};
template <class List>
struct to_micro;
template <class... As>
struct to_micro<std::tuple<As...>> {
  using type = std::tuple<typename As::template with_shape<micro_shape>...>;
};
using micro_zoo = to_micro<tiny_zoo::tuple>::type;

template <class A>
model<A> random_model(unsigned seed) {
  model<A> m(seed);
  std::mt19937 rng(seed);
  for (const auto& s : layout<A>::specs) {
    if (!s.trainable) continue;
    float* p = m.data() + s.offset;
    const float a = s.cols ? 1.5f / std::sqrt(float(s.rows)) : 0.3f;
    std::uniform_real_distribution<float> u(-a, a);
    for (std::size_t i = 0; i < s.size(); ++i) p[i] = u(rng);
    if (s.what == role::ln_1_weight || s.what == role::ln_2_weight || s.what == role::ln_f_weight)
      for (std::size_t i = 0; i < s.size(); ++i) p[i] += 1.f;
  }
  return m;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("gradients match central finite differences", "[backward]", micro_zoo) {
  using A = TestType;
  INFO(A::name());
  auto m = random_model<A>(21);
  const std::size_t B = 2, T = 9;
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
  CHECK(checked > 6 * 20);
}

TEST_CASE("the key bias gets no gradient: it cancels in the softmax", "[backward]") {
  using A = gpt2_tiny::with_shape<micro_shape>;
  const auto m = random_model<A>(5);
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
