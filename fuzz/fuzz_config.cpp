// libFuzzer: the config.json read by io::detect_architecture (n_head) beside a Hugging Face-style GPT-2
// safetensors file without sinkcore metadata. The input is the config.json; the safetensors file (tiny's
// shapes) is written once into a scratch directory.
#include <fstream>

#include <sinkcore/io/checkpoint.hpp>

#include "common.hpp"

using namespace sinkcore;

namespace {
const std::filesystem::path& model_path() {
  static const std::filesystem::path path = [] {
    using A = gpt2_tiny;
    const auto p = fuzz::scratch_dir() / "model.safetensors";
    static std::vector<float> wte(A::vocab * A::d_model), wpe(A::context * A::d_model), ln(A::d_model);
    std::vector<io::named_tensor> t{{"wte.weight", {A::vocab, A::d_model}, wte.data()},
                                    {"wpe.weight", {A::context, A::d_model}, wpe.data()}};
    static std::vector<std::string> names;
    for (std::size_t l = 0; l < A::layers; ++l) names.push_back("h." + std::to_string(l) + ".ln_1.weight");
    for (const auto& n : names) t.push_back({n, {A::d_model}, ln.data()});
    io::write_safetensors(p, std::span<const io::named_tensor>(t));
    return p;
  }();
  return path;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& model = model_path();
  {
    std::ofstream out(model.parent_path() / "config.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const std::string arch = io::detect_architecture(model);
    if (arch != "tiny") std::abort();  // the shapes only fit tiny
  } catch (const error& e) {
    (void)e;
  }
  return 0;
}
