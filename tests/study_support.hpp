#pragma once
// What the study tests share (test_study.cpp, test_study_mitigation.cpp, test_mpi.cpp): the micro study's
// options with small corpora, a fresh output folder, a file's bytes.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sinkcore/study/dispensability.hpp>

namespace test_support {

/// The micro budget (2 seeds x 2 regimes per variant, a handful of steps) into `out`, with code and math
/// corpora cut to a few hundred KB so loading them takes no time.
inline sinkcore::study::study_options micro_study_options(const std::filesystem::path& out, std::size_t jobs) {
  sinkcore::study::study_options o;
  o.plan = sinkcore::study::micro_budget();
  o.out = out;
  o.corpora.code_max_bytes = 300'000;
  o.corpora.math_bytes = 200'000;
  o.jobs = jobs;
  return o;
}

/// A file's bytes ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A folder under the temporary directory that does not exist yet, unique to this call.
inline std::filesystem::path fresh_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path d = fs::temp_directory_path() /
                     ("sinkcore_test_study_" + name + "_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::remove_all(d);
  return d;
}

}  // namespace test_support
