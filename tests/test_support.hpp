#pragma once
// Shared by the tests: micro shapes, the zoo on a micro shape, random models and tokens.
#include <cmath>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include <sinkcore/sinkcore.hpp>

namespace test_support {

using namespace sinkcore;

/// 2 layers, d 32, 4 heads of 8, context 16, vocabulary 53: small enough for double-precision references
/// and finite differences.
struct micro_shape : shape<2, 32, 4, 16, 53> {
  static constexpr std::string_view name = "micro";
};
/// The same with a byte vocabulary, for training on the embedded corpora.
struct micro_bytes_shape : shape<2, 32, 4, 16, 256> {
  static constexpr std::string_view name = "micro-bytes";
};

template <class A>
using micro = typename A::template with_shape<micro_shape>;

template <class List>
struct to_micro;
template <class... As>
struct to_micro<std::tuple<As...>> {
  using type = std::tuple<micro<As>...>;
};
/// Every variant of the tiny zoo, on the micro shape.
using micro_zoo = to_micro<tiny_zoo::tuple>::type;

/// A context of 160: beyond 64 tokens attention runs in causal blocks of rows (kernels/parallel.hpp
/// causal_rows), forward and backward; with ALiBi, a sink token and softmax + 1.
struct long_micro_shape : shape<1, 32, 2, 160, 53> {
  static constexpr std::string_view name = "long-micro";
};
using long_micro = architecture<long_micro_shape>;
using long_micro_zoo = std::tuple<long_micro, with<long_micro, positions::alibi>, with<long_micro, extra_slot::sink_token>,
                                  with<long_micro, attention::softmax_plus_one>>;

/// The mitigation variants on the micro shape, plus the extra slot with every key component.
using micro_mitigations = decltype(std::tuple_cat(
    std::declval<to_micro<mitigation_variants::tuple>::type>(),
    std::declval<std::tuple<micro<with<tiny_sink_token, keys::normalized>>, micro<with<tiny_sink_token, keys::low_rank<8>>>,
                            micro<with<tiny_sink_token, keys::frozen_random>>, micro<with<tiny_sigmoid, extra_slot::sink_token>>,
                            micro<with<tiny_rotary, extra_slot::sink_token>>, micro<with<tiny_sigmoid_fixed, extra_slot::key_value_bias>>,
                            micro<with<tiny_alibi, extra_slot::sink_token>>, micro<with<tiny_alibi, attention::sigmoid<>>>>>()));

/// Random weights larger than GPT-2's init (matrices U(+-1.5/sqrt(rows)), vectors U(+-vector_scale),
/// gains around 1), so attention patterns are far from uniform and every term matters. Frozen tensors
/// keep their initialisation.
template <class A>
model<A> random_model(unsigned seed, float vector_scale = 0.5f) {
  model<A> m(seed);
  std::mt19937 rng(seed);
  for (const auto& s : layout<A>::specs) {
    if (!s.trainable) continue;
    float* p = m.data() + s.offset;
    const float a = s.cols ? 1.5f / std::sqrt(float(s.rows)) : vector_scale;
    std::uniform_real_distribution<float> u(-a, a);
    for (std::size_t i = 0; i < s.size(); ++i) p[i] = u(rng);
    if (s.what == role::ln_1_weight || s.what == role::ln_2_weight || s.what == role::ln_f_weight)
      for (std::size_t i = 0; i < s.size(); ++i) p[i] += 1.f;
  }
  return m;
}

inline std::vector<int> random_tokens(std::size_t n, int vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(0, vocab - 1);
  std::vector<int> t(n);
  for (auto& x : t) x = u(rng);
  return t;
}

}  // namespace test_support
