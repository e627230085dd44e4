#pragma once
/// @file data.hpp
/// Token corpora and the batch sampler that feeds training.
///
/// A corpus is two contiguous token vectors, `train` and `held_out`, that never share a token position:
/// a window sampled from one split cannot contain text of the other. Loaders:
///  - byte-level text (vocabulary 256, token = byte value), from a string or a file;
///  - nanoGPT-style token files: raw little-endian uint16 ids (`train.bin` / `val.bin` of nanoGPT's
///    `prepare.py`), validated (even byte count, every id < vocabulary size).
///
/// The sampler draws batches of B windows of T+1 consecutive tokens starting anywhere in a split (no BOS
/// token and no document alignment, as GPT-2 was trained: Radford et al. 2019; nanoGPT `get_batch`), so
/// inputs are w[0..T) and next-token targets w[1..T]. The optional BOS regime instead starts every
/// window with a fixed BOS id followed by T-1 corpus tokens (inputs [BOS, c0 .. c_{T-2}], targets
/// [c0 .. c_{T-1}]), the setting in which attention sinks form on the first token by construction.
/// A sampler is a pure function of (seed, number of batches drawn); its state (rng state + step) can be
/// saved and restored to resume bit-identically.
#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sinkcore/error.hpp"
#include "sinkcore/train/rng.hpp"

namespace sinkcore::train {

/// One token id. uint16 holds GPT-2's 50257 ids, like nanoGPT's .bin files.
using token = std::uint16_t;

/// Byte-level vocabulary: token = byte value.
inline constexpr std::size_t byte_vocab_size = 256;
/// Default BOS id for byte-level corpora in the BOS regime: 0 (NUL), which no text corpus of ours
/// contains (the corpora loaders reject or skip text with NUL bytes).
inline constexpr token byte_bos = 0;
/// GPT-2's vocabulary size and its `<|endoftext|>` id (used as BOS by GPT-2 tooling).
inline constexpr std::size_t gpt2_vocab_size = 50257;
inline constexpr token gpt2_bos = 50256;

/// A tokenised corpus with a train / held-out split.
/// @post every id in train and held_out is < vocab_size.
struct corpus {
  std::string name;                 ///< "nl", "code", "math", "mix" or the file path
  std::size_t vocab_size = byte_vocab_size;
  std::vector<token> train;         ///< contiguous training tokens
  std::vector<token> held_out;      ///< contiguous held-out tokens, disjoint from train

  std::size_t size() const noexcept { return train.size() + held_out.size(); }
};

/// Which split of a corpus.
enum class split { train, held_out };

inline const std::vector<token>& tokens_of(const corpus& c, split s) noexcept {
  return s == split::train ? c.train : c.held_out;
}

/// Byte-level tokens of a text: one token per byte (0..255).
inline std::vector<token> byte_tokens(std::string_view text) {
  std::vector<token> out(text.size());
  std::transform(text.begin(), text.end(), out.begin(),
                 [](char ch) { return static_cast<token>(static_cast<unsigned char>(ch)); });
  return out;
}

/// The whole file as bytes. Throws sinkcore::error naming the file when it cannot be read.
inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(path.string() + ": cannot open for reading");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw error(path.string() + ": read error");
  return bytes;
}

/// Splits `all` into train = the first ceil((1 - f) n) tokens and held_out = the rest (the last fraction
/// f, at least one token when f > 0 and n >= 2). @pre 0 <= held_out_fraction < 1.
inline corpus split_tail(std::string name, std::vector<token> all, std::size_t vocab_size,
                         double held_out_fraction = 0.05) {
  if (!(held_out_fraction >= 0.0 && held_out_fraction < 1.0))
    throw error(name + ": held-out fraction " + std::to_string(held_out_fraction) + " is not in [0, 1)");
  std::size_t n_held = static_cast<std::size_t>(static_cast<double>(all.size()) * held_out_fraction);
  if (held_out_fraction > 0.0 && n_held == 0 && all.size() >= 2) n_held = 1;
  corpus c;
  c.name = std::move(name);
  c.vocab_size = vocab_size;
  c.held_out.assign(all.end() - static_cast<std::ptrdiff_t>(n_held), all.end());
  all.resize(all.size() - n_held);
  c.train = std::move(all);
  return c;
}

/// Byte-level corpus from a text file; held-out = the last `held_out_fraction` of its bytes.
/// Throws sinkcore::error naming the file when it is missing or empty.
inline corpus load_byte_file(const std::filesystem::path& path, double held_out_fraction = 0.05) {
  const std::string bytes = read_file_bytes(path);
  if (bytes.empty()) throw error(path.string() + ": file is empty");
  return split_tail(path.string(), byte_tokens(bytes), byte_vocab_size, held_out_fraction);
}

/// Token ids of a nanoGPT-style token file: raw little-endian uint16, no header.
/// Throws sinkcore::error naming the file when it cannot be read, is empty, has an odd number of bytes, or
/// holds an id >= vocab_size (the message gives the first such id and its index).
inline std::vector<token> read_token_file(const std::filesystem::path& path, std::size_t vocab_size = gpt2_vocab_size) {
  const std::string bytes = read_file_bytes(path);
  if (bytes.empty()) throw error(path.string() + ": token file is empty");
  if (bytes.size() % 2 != 0)
    throw error(path.string() + ": " + std::to_string(bytes.size()) +
                " bytes is an odd count; a token file holds little-endian uint16 ids (2 bytes each)");
  std::vector<token> ids(bytes.size() / 2);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto lo = static_cast<unsigned char>(bytes[2 * i]);
    const auto hi = static_cast<unsigned char>(bytes[2 * i + 1]);
    ids[i] = static_cast<token>(lo | (hi << 8));  // little-endian on every host
    if (ids[i] >= vocab_size)
      throw error(path.string() + ": token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
                  " is not below the vocabulary size " + std::to_string(vocab_size));
  }
  return ids;
}

/// Writes ids as a nanoGPT-style token file (raw little-endian uint16). Throws sinkcore::error naming the file.
inline void write_token_file(const std::filesystem::path& path, std::span<const token> ids) {
  std::string bytes(ids.size() * 2, '\0');
  for (std::size_t i = 0; i < ids.size(); ++i) {
    bytes[2 * i] = static_cast<char>(ids[i] & 0xff);
    bytes[2 * i + 1] = static_cast<char>(ids[i] >> 8);
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) throw error(path.string() + ": cannot open for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw error(path.string() + ": write error");
}

/// Corpus from a nanoGPT-style token file. nanoGPT convention: when the file is named `train.bin` and a
/// sibling `val.bin` exists, that file is the held-out split; otherwise the held-out split is the last
/// `held_out_fraction` of the file.
inline corpus load_token_file(const std::filesystem::path& path, std::size_t vocab_size = gpt2_vocab_size,
                              double held_out_fraction = 0.05) {
  std::vector<token> ids = read_token_file(path, vocab_size);
  const auto val = path.parent_path() / "val.bin";
  if (path.filename() == "train.bin" && std::filesystem::exists(val)) {
    corpus c;
    c.name = path.string();
    c.vocab_size = vocab_size;
    c.train = std::move(ids);
    c.held_out = read_token_file(val, vocab_size);
    return c;
  }
  return split_tail(path.string(), std::move(ids), vocab_size, held_out_fraction);
}

/// Sampler settings.
struct sampler_options {
  std::size_t batch_size = 8;  ///< B windows per batch
  std::size_t context = 128;   ///< T tokens of input (and T targets) per window
  std::uint64_t seed = 0;
  /// BOS regime when set: inputs[0] = *bos, then T-1 corpus tokens (e.g. byte_bos for byte corpora,
  /// gpt2_bos for GPT-2 token files). Unset: GPT-2's regime, windows start anywhere, no BOS.
  /// (Explicitly initialised so that `{.batch_size = 8, .context = 64}` compiles without GCC's
  /// -Wmissing-field-initializers.)
  std::optional<token> bos = std::nullopt;
};

/// A batch: row b of inputs/targets is window b, row-major [B][T].
struct batch {
  std::size_t batch_size = 0, context = 0;
  std::vector<token> inputs;         ///< [B * T]
  std::vector<token> targets;        ///< [B * T], targets[b][t] is the token after inputs[b][t]
  std::vector<std::size_t> starts;   ///< [B]: split offset of the window's first corpus token

  const token* input_row(std::size_t b) const noexcept { return inputs.data() + b * context; }
  const token* target_row(std::size_t b) const noexcept { return targets.data() + b * context; }
};

/// What a sampler needs to resume bit-identically: its rng state and the number of batches drawn.
struct sampler_state {
  rng::state_type rng_state{};
  std::uint64_t step = 0;

  /// "step=<n>;rng=xoshiro256**:<hex words>" (fits a JSON string without loss).
  std::string to_string() const {
    rng r;
    r.set_state(rng_state);
    return "step=" + std::to_string(step) + ";rng=" + r.to_string();
  }
  /// Inverse of to_string(); throws sinkcore::error on malformed text.
  static sampler_state from_string(std::string_view text) {
    const auto bad = [&] { return error("sampler state: '" + std::string(text) + "' is not step=<n>;rng=<state>"); };
    if (text.substr(0, 5) != "step=") throw bad();
    const auto semi = text.find(";rng=");
    if (semi == std::string_view::npos) throw bad();
    sampler_state s;
    const char* b = text.data() + 5;
    const char* e = text.data() + semi;
    auto [end, ec] = std::from_chars(b, e, s.step);
    if (ec != std::errc{} || end != e) throw bad();
    s.rng_state = rng::from_string(text.substr(semi + 5)).state();
    return s;
  }
  friend bool operator==(const sampler_state&, const sampler_state&) = default;
};

/// Draws batches of random windows from one split.
/// Window start s is uniform over every position that fits: s in [0, n - T - 1] (no BOS: T+1 tokens
/// t[s .. s+T]) or s in [0, n - T] (BOS: T corpus tokens t[s .. s+T-1]); batch k uses B consecutive
/// rng.below() draws, so batches depend only on (seed, k).
/// @pre `tokens` outlives the sampler; n >= T+1 (no BOS) or n >= T (BOS), else the constructor throws.
class batch_sampler {
 public:
  batch_sampler(std::span<const token> tokens, sampler_options options)
      : tokens_(tokens), opt_(options), rng_(options.seed) {
    if (opt_.batch_size == 0 || opt_.context == 0) throw error("batch sampler: batch size and context must be > 0");
    const std::size_t need = opt_.bos ? opt_.context : opt_.context + 1;
    if (tokens_.size() < need)
      throw error("batch sampler: the split has " + std::to_string(tokens_.size()) + " tokens, fewer than the " +
                  std::to_string(need) + " one window needs (context " + std::to_string(opt_.context) + ")");
    starts_ = tokens_.size() - need + 1;
  }

  /// A sampler reads `tokens` on every batch: a temporary vector would be gone before the first one.
  batch_sampler(const std::vector<token>&& tokens, sampler_options options) = delete;
  const sampler_options& options() const noexcept { return opt_; }
  /// Number of distinct window starts.
  std::size_t window_count() const noexcept { return starts_; }
  /// Batches drawn so far.
  std::uint64_t step() const noexcept { return step_; }

  sampler_state state() const noexcept { return {rng_.state(), step_}; }
  void set_state(const sampler_state& s) {
    rng_.set_state(s.rng_state);
    step_ = s.step;
  }

  /// Fills `out` with the next batch (reusing its storage) and advances the state by one step.
  void next(batch& out) {
    const std::size_t B = opt_.batch_size, T = opt_.context;
    out.batch_size = B;
    out.context = T;
    out.inputs.resize(B * T);
    out.targets.resize(B * T);
    out.starts.resize(B);
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t s = static_cast<std::size_t>(rng_.below(starts_));
      out.starts[b] = s;
      token* in = out.inputs.data() + b * T;
      token* tg = out.targets.data() + b * T;
      const token* w = tokens_.data() + s;
      if (opt_.bos) {
        in[0] = *opt_.bos;
        std::copy(w, w + T - 1, in + 1);
        std::copy(w, w + T, tg);
      } else {
        std::copy(w, w + T, in);
        std::copy(w + 1, w + T + 1, tg);
      }
    }
    ++step_;
  }
  batch next() {
    batch out;
    next(out);
    return out;
  }

 private:
  std::span<const token> tokens_;
  sampler_options opt_;
  rng rng_;
  std::size_t starts_ = 0;
  std::uint64_t step_ = 0;
};

}  // namespace sinkcore::train
