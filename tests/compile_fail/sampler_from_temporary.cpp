// A batch sampler reads its tokens on every batch: built from a temporary vector it would read freed
// memory, so that does not compile.
#include <sinkcore/train/corpora.hpp>

int main() {
  sinkcore::train::batch_sampler s(sinkcore::train::load_corpus("math").train, {});
  return int(s.window_count());
}
