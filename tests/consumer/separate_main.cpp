// The same library compiled separately (include/sinkcore/config.hpp): this unit and separate_src.cpp define
// SINKCORE_SEPARATE_COMPILATION; separate_src.cpp includes <sinkcore/src.hpp>, so the checkpoint code below
// (JSON, safetensors) is compiled there once and only declared here.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <sinkcore/sinkcore.hpp>

#ifndef SINKCORE_SEPARATE_COMPILATION
#error "built without SINKCORE_SEPARATE_COMPILATION"
#endif

struct my_shape : sinkcore::shape<2, 64, 4, 32, 100> {
  static constexpr std::string_view name = "mine";
};
using my_arch = sinkcore::architecture<my_shape, sinkcore::query::unbiased>;

int main(int argc, char** argv) {
  const std::filesystem::path file = argc > 1 ? argv[1] : "mine.safetensors";
  const sinkcore::model<my_arch> m(42);
  sinkcore::train::train_options o;
  o.steps = 7;
  o.bos = sinkcore::train::token(0);
  sinkcore::io::save_weights(file, m, {{"sinkcore.train_options", o.to_json_text()}});
  const auto back = sinkcore::io::load_weights<my_arch>(file);
  const auto st = sinkcore::io::safetensors_file::open(file);
  const auto stored = sinkcore::train::train_options::from_json_text(st.metadata().at("sinkcore.train_options"));
  const bool same = back.data() != m.data() && std::equal(m.data(), m.data() + sinkcore::layout<my_arch>::size, back.data()) &&
                    stored.steps == 7 && stored.bos == o.bos && o.same_as_json_text(o.to_json_text());
  std::printf("separate compilation: %zu tensors written and read back, options %s\n", st.names().size(),
              same ? "equal" : "DIFFERENT");
  return same ? 0 : 1;
}
