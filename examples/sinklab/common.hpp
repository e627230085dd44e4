#pragma once
// Shared helpers of the sinklab commands and works. No CLI11 here: the per-architecture units (works_*.hpp)
// include this, and CLI11 would cost each ~0.07 GB of compiler memory, ~1.5 s and its code (cli.hpp has
// the flag helpers).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <string>
#include <vector>

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
  const std::string digits = std::to_string(n);
  std::string s;
  s.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

inline void apply_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

/// "3,17,42" -> {3, 17, 42}; throws sinkcore::error on anything else.
inline std::vector<int> parse_token_list(std::string_view text) {
  std::vector<int> out;
  std::size_t i = 0;
  while (i <= text.size()) {
    const std::size_t j = std::min(text.find(',', i), text.size());
    const std::string item(text.substr(i, j - i));
    std::size_t used = 0;
    long v = -1;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < 0 || v > 0x7fffffff)
      throw sinkcore::error("--tokens: '" + item + "' is not a token id (expected ID,ID,... of non-negative integers)");
    out.push_back(int(v));
    i = j + 1;
  }
  if (out.empty()) throw sinkcore::error("--tokens: no token ids given");
  return out;
}

/// Create `dir` (and parents) or fail with a clear error naming it.
inline void make_output_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw sinkcore::error(dir.string() + ": cannot create output directory" + (ec ? ": " + ec.message() : std::string()));
}

/// A one-line progress display on stderr: redrawn in place on a terminal, a line every few seconds otherwise.
class progress {
 public:
  /// `enabled` false: prints nothing (the ranks other than 0 of an MPI job).
  explicit progress(std::string label, bool enabled = true)
      : label_(std::move(label)), tty_(isatty(2)), enabled_(enabled), start_(clock::now()) {}
  /// done of total units; `info` is printed after the bar.
  void update(std::size_t done, std::size_t total, const std::string& info, bool force = false) {
    if (!enabled_) return;
    const auto now = clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (!force && since < (tty_ ? 0.2 : 10.0)) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double frac = total ? double(done) / double(total) : 1.0;
    const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    const int width = 24, filled = int(frac * width);
    std::string bar(std::size_t(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s%s [%s] %zu/%zu %s | ETA %s%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(), done, total,
                 info.c_str(), duration(eta).c_str(), tty_ ? "\033[K" : "\n");
    std::fflush(stderr);
  }
  void finish() {
    if (tty_ && enabled_) std::fprintf(stderr, "\n");
  }
  static std::string duration(double s) {
    char buf[32];
    const long t = long(s + 0.5);
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
  }

 private:
  using clock = std::chrono::steady_clock;
  std::string label_;
  bool tty_, enabled_;
  clock::time_point start_, last_{};
};

}  // namespace sinklab
