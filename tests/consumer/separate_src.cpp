// The unit that compiles sinkcore's non-template code for separate_main.cpp (config.hpp).
#include <sinkcore/src.hpp>
