#pragma once
// Shared helpers of the sinklab commands.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <omp.h>

#include <sinkcore/sinkcore.hpp>

namespace sinklab {

/// A short English text embedded in the binary: the default input of commands that need one when no
/// corpus or file is given. Byte-level models read it as bytes.
inline constexpr const char* embedded_text =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
    "it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had "
    "everything before us, we had nothing before us, we were all going direct to Heaven, we were all going "
    "direct the other way - in short, the period was so far like the present period, that some of its "
    "noisiest authorities insisted on its being received, for good or for evil, in the superlative degree "
    "of comparison only.";

/// Bytes of a text as tokens of a byte-level model.
inline std::vector<int> byte_tokens(std::string_view text) {
  std::vector<int> t;
  t.reserve(text.size());
  for (unsigned char c : text) t.push_back(int(c));
  return t;
}

/// "842,496"
inline std::string thousands(std::size_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(std::size_t(i), ",");
  return s;
}

/// --threads: 0 keeps OpenMP's default.
inline void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")->check(CLI::NonNegativeNumber);
}
inline void apply_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace sinklab
