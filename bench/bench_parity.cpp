// Parity at GPT-2-small size: random weights written as a Hugging Face `model.safetensors` (F32 and F16, with
// mask buffers), detected, loaded and run by sinkcore, and compared with an independent double-precision GPT-2
// computed from the same tensors by their Hugging Face names (tests/hf_reference.hpp). Also times the load
// against reading the file's bytes once (the reference in the same run).
//   bench_parity [--tokens T] [--dir DIR]
// Prints one JSON line per stored dtype; exits 1 when the F32 file's logits differ by more than 1e-4.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include <sinkcore/sinkcore.hpp>

#include "../tests/hf_reference.hpp"
#include "bench_common.hpp"

int main(int argc, char** argv) {
  using namespace sinkcore;
  namespace fs = std::filesystem;
  using A = gpt2_small;
  std::size_t T = 64;
  fs::path dir = fs::temp_directory_path() / "sinkcore_bench_parity";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc) T = std::strtoul(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_parity [--tokens T (2..1024)] [--dir DIR]\n");
      return 2;
    }
  }
  if (T < 2 || T > A::context) {
    std::fprintf(stderr, "bench_parity: --tokens must be in [2, %zu]\n", A::context);
    return 2;
  }
  fs::create_directories(dir);
  const hf_reference::config c{A::layers, A::d_model, A::heads, A::context, A::vocab};
  std::vector<int> tok(T);
  for (std::size_t i = 0; i < T; ++i) tok[i] = int((i * 7919 + 13) % A::vocab);
  int status = 0;
  for (auto stored : {io::dtype::f32, io::dtype::f16}) {
    auto w = hf_reference::random_gpt2(c, 1);
    const fs::path path = dir / "model.safetensors";
    auto t0 = bench::clk::now();
    hf_reference::write(path, w, c, stored);
    const double write_s = bench::seconds_since(t0);
    // Reference for the load: the file's bytes read once into memory.
    t0 = bench::clk::now();
    {
      std::ifstream in(path, std::ios::binary);
      std::vector<char> bytes(fs::file_size(path));
      in.read(bytes.data(), std::streamsize(bytes.size()));
    }
    const double read_s = bench::seconds_since(t0);
    t0 = bench::clk::now();
    const std::string detected = io::detect_architecture(path);
    const auto m = io::load_weights<A>(path);
    const double load_s = bench::seconds_since(t0);
    workspace<A> ws(1, T);
    t0 = bench::clk::now();
    forward(m, ws, tok, 1, T);
    const double fwd_s = bench::seconds_since(t0);
    t0 = bench::clk::now();
    const auto ref = hf_reference::forward(w, c, tok);
    const double ref_s = bench::seconds_since(t0);
    const auto e = hf_reference::compare(ws, ref, c, T);
    const bool ok = e.logit <= 1e-4;
    if (stored == io::dtype::f32 && !ok) status = 1;
    std::printf("{\"model\": \"gpt2-small\", \"detected\": \"%s\", \"stored\": \"%s\", \"file_mb\": %.1f, \"T\": %zu, "
                "\"max_abs_logit\": %.3f, \"max_logit_error\": %.3g, \"max_pattern_error\": %.3g, \"within_1e-4\": %s, "
                "\"write_s\": %.2f, \"read_bytes_s\": %.2f, \"load_s\": %.2f, \"load_over_read\": %.2f, "
                "\"forward_s\": %.3f, \"reference_s\": %.1f}\n",
                detected.c_str(), std::string(io::dtype_name(stored)).c_str(), double(fs::file_size(path)) / 1e6, T,
                e.logit_scale, e.logit, e.pattern, ok ? "true" : "false", write_s, read_s, load_s, load_s / read_s,
                fwd_s, ref_s);
    std::fflush(stdout);
    fs::remove(path);
  }
  fs::remove_all(dir);
  return status;
}
