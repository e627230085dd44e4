// Must not compile: a "low-rank" key projection of rank >= d_model.
#include <sinkcore/sinkcore.hpp>
int main() { return int(sinkcore::layout<sinkcore::with<sinkcore::gpt2_tiny, sinkcore::keys::low_rank<128>>>::size); }
