// Must not compile: two components for the keys slot.
#include <sinkcore/sinkcore.hpp>
using bad = sinkcore::architecture<sinkcore::tiny_shape, sinkcore::keys::unbiased, sinkcore::keys::normalized>;
int main() { return int(sinkcore::layout<bad>::size); }
