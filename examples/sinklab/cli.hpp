#pragma once
// The commands' flag helpers (CLI11), kept out of common.hpp so that the per-architecture units do not parse
// CLI11.
#include <CLI/CLI.hpp>

#include "common.hpp"

namespace sinklab {

/// --threads: 0 keeps OpenMP's default.
inline void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")->check(CLI::Range(0, 4096));
}

}  // namespace sinklab
