#pragma once
/// @file bpe.hpp
/// GPT-2's byte-level BPE tokenizer, header-only and without ICU.
///
/// encode = pre-tokenize (GPT-2's regex, by hand over UTF-8 code points) -> each piece's bytes -> merge the
/// adjacent pair of lowest rank until none has a rank -> ids. decode = concatenate the tokens' bytes.
/// The regex is `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` with \s the
/// White_Space property (Python's `regex` module); the classes come from unicode_tables.hpp.
/// Bytes that are not valid UTF-8 each count as one code point of the "other" class, so any byte string
/// encodes and decodes back to itself.
///
/// @code
/// auto tok = sinkcore::io::bpe_tokenizer::load("gpt2/");   // encoder.json + vocab.bpe, or vocab.json + merges.txt
/// std::vector<int> ids = tok.encode("Hello world");       // {15496, 995}
/// std::string text = tok.decode(ids);                     // "Hello world"
/// @endcode
/// `<|endoftext|>` in the text is not special (as in OpenAI's encoder): append `*tok.token_id("<|endoftext|>")`.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sinkcore/config.hpp"
#include "sinkcore/error.hpp"
#include "sinkcore/io/unicode_tables.hpp"

namespace sinkcore::io {

/// The code point classes of GPT-2's pre-tokenizer.
enum class char_class : std::uint8_t { other, letter, number, space };

namespace detail {

inline bool in_ranges(char32_t c, std::span<const unicode::code_point_range> ranges) noexcept {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                             [](char32_t v, const unicode::code_point_range& r) { return v < r.first; });
  return it != ranges.begin() && c <= std::prev(it)->last;
}

}  // namespace detail

/// \p{L} -> letter, \p{N} -> number, White_Space -> space, anything else (including unassigned) -> other.
inline char_class classify(char32_t c) noexcept {
  if (c < 0x80) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return char_class::letter;
    if (c >= '0' && c <= '9') return char_class::number;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return char_class::space;
    return char_class::other;
  }
  if (detail::in_ranges(c, unicode::letter_ranges)) return char_class::letter;
  if (detail::in_ranges(c, unicode::number_ranges)) return char_class::number;
  if (detail::in_ranges(c, unicode::white_space_ranges)) return char_class::space;
  return char_class::other;
}

namespace detail {

inline constexpr char32_t invalid_code_point = 0xFFFFFFFF;

/// Length (1-4) and value of the UTF-8 sequence at `s[i]`; an invalid byte gives {invalid_code_point, 1}.
/// Valid means well-formed per Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF.
inline std::pair<char32_t, std::size_t> decode_utf8(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return {b0, 1};
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  char32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {invalid_code_point, 1};
  }
  if (i + len > s.size()) return {invalid_code_point, 1};
  for (std::size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return {invalid_code_point, 1};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, len};
}

/// GPT-2's printable stand-in for each byte: `!`..`~`, `¡`..`¬`, `®`..`ÿ` stand for themselves, the other 68
/// bytes map to U+0100 + n in increasing byte order (so space is `Ġ`, U+0120).
inline const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t n = 0;
    for (unsigned b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : 0x100 + n++;
    }
    return t;
  }();
  return table;
}

/// UTF-8 encoding of one code point (the inverse of decode_utf8 for valid code points).
inline std::string encode_utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

/// Byte b as spelled in GPT-2's vocabulary files (its byte_to_unicode stand-in, UTF-8 encoded).
inline std::string spelled_byte(unsigned b) { return encode_utf8(byte_to_unicode()[b & 0xFF]); }

/// Inverse of byte_to_unicode for code points < 0x144; -1 where a code point stands for no byte.
inline const std::array<int, 0x144>& unicode_to_byte() {
  static const std::array<int, 0x144> table = [] {
    std::array<int, 0x144> t{};
    t.fill(-1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) t[fwd[b]] = b;
    return t;
  }();
  return table;
}

/// A code unit of the pre-tokenizer: where it starts in the text, its class, its code point.
struct pre_token_unit {
  std::size_t offset;
  char32_t cp;
  char_class cls;
};

}  // namespace detail

/// Splits UTF-8 `text` as GPT-2's regex does. The pieces are views into `text` and concatenate to it.
/// Example: "I'm  here\n" -> {"I", "'m", " ", " here", "\n"}.
inline std::vector<std::string_view> gpt2_pre_tokenize(std::string_view text) {
  std::vector<detail::pre_token_unit> u;
  u.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto [cp, len] = detail::decode_utf8(text, i);
    u.push_back({i, cp, cp == detail::invalid_code_point ? char_class::other : classify(cp)});
    i += len;
  }
  const std::size_t n = u.size();
  const auto cls = [&](std::size_t k) { return u[k].cls; };
  const auto is_ascii = [&](std::size_t k, char c) { return k < n && u[k].cp == static_cast<char32_t>(c); };
  // The end of the run of class `c` starting at k.
  const auto run_end = [&](std::size_t k, char_class c) {
    while (k < n && cls(k) == c) ++k;
    return k;
  };

  std::vector<std::string_view> pieces;
  std::size_t i = 0;
  while (i < n) {
    std::size_t j = i;  // the match is units [i, j)
    if (is_ascii(i, '\'')) {
      // 's|'t|'re|'ve|'m|'ll|'d, case-sensitive, whatever follows.
      if (is_ascii(i + 1, 's') || is_ascii(i + 1, 't') || is_ascii(i + 1, 'm') || is_ascii(i + 1, 'd'))
        j = i + 2;
      else if ((is_ascii(i + 1, 'r') && is_ascii(i + 2, 'e')) || (is_ascii(i + 1, 'v') && is_ascii(i + 2, 'e')) ||
               (is_ascii(i + 1, 'l') && is_ascii(i + 2, 'l')))
        j = i + 3;
    }
    if (j == i) {
      // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional literal space, then a run of one class.
      const std::size_t k = (is_ascii(i, ' ') && i + 1 < n && cls(i + 1) != char_class::space) ? i + 1 : i;
      if (cls(k) != char_class::space) {
        j = run_end(k, cls(k));
      } else {
        // `\s+(?!\S)` then `\s+`: a whitespace run followed by non-space gives up its last unit to the next
        // piece (so " world" keeps its space), unless the run is a single unit.
        const std::size_t e = run_end(i, char_class::space);
        j = (e == n || e - i == 1) ? e : e - 1;
      }
    }
    const std::size_t begin = u[i].offset;
    const std::size_t end = j < n ? u[j].offset : text.size();
    pieces.push_back(text.substr(begin, end - begin));
    i = j;
  }
  return pieces;
}

/// GPT-2's byte-level BPE tokenizer. Immutable after loading; encode/decode are const and thread-safe
/// (the per-word cache lives in each encode call).
class bpe_tokenizer {
 public:
  /// Loads `dir`/encoder.json + `dir`/vocab.bpe (OpenAI names) or `dir`/vocab.json + `dir`/merges.txt
  /// (Hugging Face names).
  /// @throws sinkcore::error naming the directory if neither pair exists, or naming the file (and line)
  ///         for malformed content.
  static bpe_tokenizer load(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    for (const auto& [vocab, merges] : {std::pair{"encoder.json", "vocab.bpe"}, std::pair{"vocab.json", "merges.txt"}}) {
      if (fs::exists(dir / vocab) && fs::exists(dir / merges)) return from_files(dir / vocab, dir / merges);
    }
    throw error(dir.string() + ": no GPT-2 vocabulary found (expected encoder.json + vocab.bpe, or vocab.json + merges.txt)");
  }

  /// Loads a vocabulary (JSON object token -> id) and a merges file (`#version` line, then `a b` per line,
  /// rank = line order).
  static bpe_tokenizer from_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt) {
    bpe_tokenizer t;
    t.source_ = vocab_json.parent_path().string();
    t.load_vocab(vocab_json);
    t.load_merges(merges_txt);
    return t;
  }

  /// Token ids of UTF-8 (or arbitrary bytes) `text`. No BOS/EOS is added.
  std::vector<int> encode(std::string_view text) const {
    std::vector<int> ids;
    std::unordered_map<std::string_view, std::vector<int>> cache;  // per call: no shared mutable state
    std::vector<int> word;
    for (std::string_view piece : gpt2_pre_tokenize(text)) {
      if (auto it = cache.find(piece); it != cache.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        continue;
      }
      word.clear();
      for (char c : piece) word.push_back(byte_id_[static_cast<unsigned char>(c)]);
      apply_merges(word);
      ids.insert(ids.end(), word.begin(), word.end());
      cache.emplace(piece, word);
    }
    return ids;
  }

  /// The bytes of `ids`, concatenated. A sequence cut inside a multi-byte character gives its partial
  /// bytes (not U+FFFD).
  /// @throws sinkcore::error if an id is out of range.
  std::string decode(std::span<const int> ids) const {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const int id = ids[i];
      if (id < 0 || id >= vocab_size())
        throw error("bpe decode (vocabulary " + source_ + "): token id " + std::to_string(id) + " at position " +
                    std::to_string(i) + " is out of range [0, " + std::to_string(vocab_size()) + ")");
      out += bytes_[static_cast<std::size_t>(id)];
    }
    return out;
  }
  std::string decode(std::initializer_list<int> ids) const { return decode(std::span<const int>(ids.begin(), ids.size())); }

  int vocab_size() const noexcept { return static_cast<int>(bytes_.size()); }
  /// Number of merges (50000 for GPT-2).
  std::size_t merge_count() const noexcept { return merge_count_; }

  /// The id of a token spelled as in the vocabulary file (e.g. "Ġworld", "<|endoftext|>"), if any.
  std::optional<int> token_id(std::string_view spelled) const {
    std::string raw;
    if (!to_raw_bytes(spelled, raw)) return std::nullopt;
    auto it = id_of_.find(raw);
    if (it == id_of_.end()) return std::nullopt;
    return it->second;
  }
  /// The raw bytes of token `id`.
  /// @throws sinkcore::error if `id` is out of range.
  const std::string& token_bytes(int id) const {
    if (id < 0 || id >= vocab_size())
      throw error("bpe (vocabulary " + source_ + "): token id " + std::to_string(id) + " is out of range [0, " +
                  std::to_string(vocab_size()) + ")");
    return bytes_[static_cast<std::size_t>(id)];
  }

 private:
  struct merge_rule {
    int rank;
    int result;
  };
  static std::uint64_t pair_key(int a, int b) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }

  /// Merge the adjacent pair of lowest rank, all its occurrences left to right, until no pair has a rank
  /// (the loop of OpenAI's `bpe()`): quadratic, so only for short words.
  void apply_merges(std::vector<int>& word) const {
    if (word.size() > short_word) return apply_merges_long(word);
    std::vector<int> next;
    while (word.size() >= 2) {
      const merge_rule* best = nullptr;
      int first = 0, second = 0;
      for (std::size_t k = 0; k + 1 < word.size(); ++k) {
        auto it = merges_.find(pair_key(word[k], word[k + 1]));
        if (it != merges_.end() && (best == nullptr || it->second.rank < best->rank)) {
          best = &it->second;
          first = word[k];
          second = word[k + 1];
        }
      }
      if (best == nullptr) break;
      next.clear();
      for (std::size_t k = 0; k < word.size();) {
        if (k + 1 < word.size() && word[k] == first && word[k + 1] == second) {
          next.push_back(best->result);
          k += 2;
        } else {
          next.push_back(word[k++]);
        }
      }
      word.swap(next);
    }
  }

  /// The same merges in O(n log n) for long words (a run of 100k letters without a space): a heap of candidate
  /// pairs ordered by (rank, position) over a linked list of symbols. All occurrences of one rank are merged,
  /// left to right, before pairs created by those merges are considered, exactly as in the quadratic loop.
  void apply_merges_long(std::vector<int>& word) const {
    const std::size_t n = word.size();
    constexpr std::size_t none = static_cast<std::size_t>(-1);
    std::vector<std::size_t> prev(n), next(n);
    for (std::size_t k = 0; k < n; ++k) {
      prev[k] = k == 0 ? none : k - 1;
      next[k] = k + 1 == n ? none : k + 1;
    }
    struct candidate {
      int rank;
      std::size_t left;
      int left_id, right_id;
      bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::vector<candidate> heap, created;
    const auto consider = [&](std::size_t left, std::vector<candidate>& into) {
      if (left == none || next[left] == none) return;
      auto it = merges_.find(pair_key(word[left], word[next[left]]));
      if (it != merges_.end()) into.push_back({it->second.rank, left, word[left], word[next[left]]});
    };
    for (std::size_t k = 0; k + 1 < n; ++k) consider(k, heap);
    std::make_heap(heap.begin(), heap.end(), std::greater<>{});
    constexpr int dead = -1;
    while (!heap.empty()) {
      const candidate c = heap.front();
      std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
      heap.pop_back();
      // Stale if either symbol was merged away since the candidate was made.
      const std::size_t right = next[c.left];
      if (word[c.left] == c.left_id && right != none && word[right] == c.right_id) {
        word[c.left] = merges_.find(pair_key(c.left_id, c.right_id))->second.result;
        word[right] = dead;
        next[c.left] = next[right];
        if (next[right] != none) prev[next[right]] = c.left;
        consider(prev[c.left], created);
        consider(c.left, created);
      }
      if (heap.empty() || heap.front().rank != c.rank) {
        for (const auto& d : created) {
          heap.push_back(d);
          std::push_heap(heap.begin(), heap.end(), std::greater<>{});
        }
        created.clear();
      }
    }
    std::size_t out = 0;
    for (std::size_t k = 0; k < n; ++k)
      if (word[k] != dead) word[out++] = word[k];
    word.resize(out);
  }

  static constexpr std::size_t short_word = 48;  ///< longer words take the heap path

  /// The raw bytes a vocabulary spelling stands for; false if it has a code point that is no byte symbol.
  static bool to_raw_bytes(std::string_view spelled, std::string& raw, char32_t* bad = nullptr) {
    const auto& inverse = detail::unicode_to_byte();
    raw.clear();
    for (std::size_t i = 0; i < spelled.size();) {
      const auto [cp, len] = detail::decode_utf8(spelled, i);
      if (cp == detail::invalid_code_point || cp >= inverse.size() || inverse[cp] < 0) {
        if (bad) *bad = cp;
        return false;
      }
      raw += static_cast<char>(inverse[cp]);
      i += len;
    }
    return true;
  }

  static std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(path.string() + ": cannot open for reading");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw error(path.string() + ": read error");
    return s;
  }

  SINKCORE_DECL void load_vocab(const std::filesystem::path& path);  // impl/bpe.ipp

  void load_merges(const std::filesystem::path& path) {
    const std::string text = read_text(path);
    std::size_t line_no = 0;
    int rank = 0;
    std::string a_raw, b_raw;
    std::size_t pos = 0;
    bool blank_seen = false;
    std::size_t blank_line = 0;
    while (pos < text.size()) {
      std::size_t eol = text.find('\n', pos);
      if (eol == std::string::npos) eol = text.size();
      std::string_view line(text.data() + pos, eol - pos);
      pos = eol + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const auto fail = [&](const std::string& what) {
        throw error(path.string() + ":" + std::to_string(line_no) + ": " + what);
      };
      if (line_no == 1 && line.starts_with("#version")) continue;
      if (line.empty()) {
        if (!blank_seen) blank_line = line_no;
        blank_seen = true;
        continue;
      }
      if (blank_seen)
        throw error(path.string() + ":" + std::to_string(blank_line) + ": empty line before the last merge");
      const auto space = line.find(' ');
      if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
          line.find(' ', space + 1) != std::string_view::npos)
        fail("malformed merge line '" + std::string(line) + "' (expected two tokens separated by one space)");
      const std::string_view a = line.substr(0, space), b = line.substr(space + 1);
      if (!to_raw_bytes(a, a_raw) || !to_raw_bytes(b, b_raw))
        fail("merge '" + std::string(line) + "' has a character that stands for no byte");
      const auto ia = id_of_.find(a_raw), ib = id_of_.find(b_raw), iab = id_of_.find(a_raw + b_raw);
      if (ia == id_of_.end()) fail("merge '" + std::string(line) + "': '" + std::string(a) + "' is not in the vocabulary");
      if (ib == id_of_.end()) fail("merge '" + std::string(line) + "': '" + std::string(b) + "' is not in the vocabulary");
      if (iab == id_of_.end())
        fail("merge '" + std::string(line) + "': the merged token '" + std::string(a) + std::string(b) +
             "' is not in the vocabulary");
      // As in OpenAI's dict(zip(merges, range(...))), a repeated pair keeps its last rank.
      merges_[pair_key(ia->second, ib->second)] = merge_rule{rank, iab->second};
      ++rank;
    }
    merge_count_ = static_cast<std::size_t>(rank);
  }

  std::string source_;                       ///< directory of the vocabulary, for messages
  std::vector<std::string> bytes_;           ///< id -> raw bytes
  std::unordered_map<std::string, int> id_of_;  ///< raw bytes -> id
  std::array<int, 256> byte_id_{};           ///< byte -> id of its single-byte token
  std::unordered_map<std::uint64_t, merge_rule> merges_;
  std::size_t merge_count_ = 0;
};

}  // namespace sinkcore::io

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "sinkcore/impl/bpe.ipp"
#endif
