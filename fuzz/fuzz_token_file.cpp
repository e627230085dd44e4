// libFuzzer: nanoGPT-style uint16 token files (train::read_token_file / load_token_file). The first byte
// picks the vocabulary size (byte-level 256, GPT-2 50257, or small), the rest is the file.
#include <sinkcore/train/data.hpp>

#include "common.hpp"

using namespace sinkcore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t vocab = data[0] % 3 == 0 ? train::byte_vocab_size : data[0] % 3 == 1 ? train::gpt2_vocab_size : 1 + data[0];
  fuzz::memfile f(data + 1, size - 1);
  try {
    const auto ids = train::read_token_file(f.path(), vocab);
    if (ids.size() * 2 != size - 1) std::abort();
    for (auto id : ids)
      if (id >= vocab) std::abort();
    const auto c = train::load_token_file(f.path(), vocab, 0.1);
    if (c.size() != ids.size()) std::abort();
    if (c.train.size() >= 5) {
      train::batch_sampler s(c.train, {.batch_size = 2, .context = 4, .seed = data[0], .bos = std::nullopt});
      (void)s.next();
    }
  } catch (const error&) {
  }
  return 0;
}
