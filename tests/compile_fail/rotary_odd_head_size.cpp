// Must not compile: RoPE rotates coordinate pairs, so the head size must be even (12 / 4 = 3).
#include <sinkcore/sinkcore.hpp>
struct odd : sinkcore::shape<1, 12, 4, 8, 16> { static constexpr std::string_view name = "odd"; };
int main() { return int(sinkcore::layout<sinkcore::architecture<odd, sinkcore::positions::rotary<>>>::size); }
