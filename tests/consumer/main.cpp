// A user's own architecture: GPT-2 without the query bias, at a size of their choosing.
#include <cmath>
#include <cstdio>
#include <vector>

#include <sinkcore/sinkcore.hpp>

struct my_shape : sinkcore::shape<2, 64, 4, 32, 100> {
  static constexpr std::string_view name = "mine";
};
using my_arch = sinkcore::architecture<my_shape, sinkcore::query::unbiased>;

int main() {
  static_assert(!sinkcore::layout<my_arch>::has(sinkcore::role::q_bias, 0));
  const sinkcore::model<my_arch> m(42);
  sinkcore::workspace<my_arch> ws;
  std::vector<int> tokens(32);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = int(i * 7 % 100);
  const double loss = sinkcore::forward_loss(m, ws, tokens, 1, tokens.size());
  std::printf("%s: loss %.4f (ln V = %.4f)\n", my_arch::name().c_str(), loss, std::log(100.0));
  return std::abs(loss - std::log(100.0)) < 0.1 ? 0 : 1;
}
