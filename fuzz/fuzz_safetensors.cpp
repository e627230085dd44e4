// libFuzzer: the safetensors reader. The input is a whole file; it is opened, every tensor is read in every
// way the API offers, and the checkpoint layer (detect_architecture, load_tensors<gpt2_tiny>) runs on it.
// Every outcome must be success or sinkcore::error.
#include <sinkcore/io/checkpoint.hpp>
#include <sinkcore/io/safetensors.hpp>

#include "common.hpp"

using namespace sinkcore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::memfile f(data, size);
  try {
    const auto st = io::safetensors_file::open(f.path());
    for (const auto& name : st.names()) {
      const auto& t = st.info(name);
      const auto b = st.bytes(name);
      if (b.size() != t.nbytes()) std::abort();
      if (io::converts_to_float(t.type)) {
        if (t.numel() <= (std::size_t{1} << 24)) {
          const auto v = st.read_float(name);
          if (v.size() != t.numel()) std::abort();
        }
      }
      try {
        if (st.is_zero_copy(name)) (void)st.view_f32(name);
      } catch (const error&) {
      }
      try {
        if (t.numel() <= (std::size_t{1} << 24)) {
          if (t.shape.size() == 1) (void)st.read_tensor<1>(name);
          if (t.shape.size() == 2) (void)st.read_tensor<2>(name);
        }
      } catch (const error&) {
      }
    }
    try {
      (void)io::detect_architecture(f.path());
    } catch (const error&) {
    }
    std::vector<float> buffer(layout<gpt2_tiny>::size);
    try {
      io::load_tensors<gpt2_tiny>(st, buffer.data());
    } catch (const error&) {
    }
  } catch (const error&) {
  }
  return 0;
}
