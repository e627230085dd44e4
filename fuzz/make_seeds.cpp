// Writes seed corpora for the fuzz targets into DIR/<target>/: `fuzz_seeds DIR`.
#include <cstdio>
#include <fstream>

#include <sinkcore/io/checkpoint.hpp>
#include <sinkcore/train/data.hpp>

using namespace sinkcore;
namespace fs = std::filesystem;

namespace {
void put(const fs::path& p, std::string_view bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  for (const char* t : {"fuzz_safetensors", "fuzz_bpe", "fuzz_token_file", "fuzz_config", "fuzz_csv"})
    fs::create_directories(dir / t);
  // safetensors: two tiny valid files (F32 with metadata, F16), and one with tiny's real names.
  const std::vector<float> a{1, 2, 3, 4, 5, 6}, b{0.5f, -1};
  io::write_safetensors(dir / "fuzz_safetensors/f32", {{"a", {2, 3}, a.data()}, {"b", {2}, b.data()}}, {{"k", "v"}});
  io::write_safetensors(dir / "fuzz_safetensors/f16", {{"x", {3}, a.data()}, {"y", {1, 2}, b.data()}}, {}, io::dtype::f16);
  io::write_safetensors(dir / "fuzz_safetensors/empty", std::span<const io::named_tensor>());
  {
    std::vector<float> w(64);
    io::write_safetensors(dir / "fuzz_safetensors/names", {{"wte.weight", {4, 8}, w.data()}, {"wpe.weight", {2, 8}, w.data()},
                                                          {"h.0.ln_1.weight", {8}, w.data()}});
  }
  // BPE: mode byte 0 = encode, 1 = decode, 2 = merges file.
  for (std::string_view t : {"Hello world", "I'm  here\n", "  the thing's 123 \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87!!",
                             "\xFF\xFE invalid \xC0\xAF utf8", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    put(dir / "fuzz_bpe" / ("text" + std::to_string(t.size())), std::string(1, '\0') + std::string(t));
  put(dir / "fuzz_bpe/ids", std::string("\x01\x0f\x00\x00\x00\xff\x00\x00\x00\x01\x01\x00\x00", 13));
  put(dir / "fuzz_bpe/merges", "\x02#version: 0.2\nt h\nth e\ni n\n");
  // token files: first byte picks the vocabulary.
  {
    const std::vector<train::token> ids{1, 2, 3, 250, 7, 8, 9, 10, 11, 12, 13};
    train::write_token_file(dir / "tok.bin", ids);
    put(dir / "fuzz_token_file/bytes", std::string(1, '\0') + slurp(dir / "tok.bin"));
    put(dir / "fuzz_token_file/gpt2", std::string(1, '\1') + slurp(dir / "tok.bin"));
    fs::remove(dir / "tok.bin");
  }
  // config.json
  put(dir / "fuzz_config/hf", io::hf_config_json<gpt2_tiny>());
  put(dir / "fuzz_config/small", "{\"n_head\": 4}");
  put(dir / "fuzz_config/none", "{}");
  // inputs CSV: first byte picks the length.
  put(dir / "fuzz_csv/text", "\x08" "dataset,text\nnl,\"It was the best of times, it was\"\nmath,\"1 + 1 = 2\"\n");
  put(dir / "fuzz_csv/tokens", "\x04" "dataset,tokens\r\nnl,1 2 3 4 5\r\nmath,  7 8 9 10\r\n");
  put(dir / "fuzz_csv/quoted", "\x02\xEF\xBB\xBF" "dataset,text,x\n\"a\"\"b\",\"multi\nline\",\n");
  return 0;
}
