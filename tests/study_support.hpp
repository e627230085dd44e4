#pragma once
// What the study tests share (test_study.cpp, test_mpi.cpp): the micro study's options with small corpora.
#include <cstddef>
#include <filesystem>

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

}  // namespace test_support
