// An intervened model reads the model it was given on every forward pass (unless it keeps a copy): built
// from a temporary model it would read freed memory, so that does not compile.
#include <sinkcore/interp/interventions.hpp>

int main() {
  sinkcore::intervened_model run(sinkcore::model<sinkcore::gpt2_tiny>(1), sinkcore::nullify_first_token{});
  return int(run.weights().size() > 0);
}
