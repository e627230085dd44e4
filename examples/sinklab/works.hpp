#pragma once
// The per-architecture work of sinklab's commands, declared. A command's file parses its flags and calls
// for_architecture<Work>(name, args); the bodies (works_train.hpp, works_analysis.hpp) are compiled once per
// group of architectures (sinkcore::architecture_groups, zoo.hpp) in the translation units CMake generates
// (arch_group_<G>_<part>.cpp: an explicit instantiation of in_group<Work, G> for each work), so that no
// translation unit instantiates every architecture and no architecture's work is compiled twice.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sinkcore/study/run.hpp>  // not dispensability.hpp: the per-architecture units need no study summary
#include <sinkcore/train/prose.hpp>
#include <sinkcore/train/trainer.hpp>
#include <sinkcore/zoo.hpp>

namespace sinklab {

// ---- the commands' options -----------------------------------------------------------------------------

struct train_cli {
  std::string arch = "tiny";
  std::vector<std::string> corpora{"mix"};
  std::string cache = sinkcore::train::prose::default_cache().string();
  std::string out;
  sinkcore::train::train_options opt;
  std::size_t eval_interval = 100;
  std::size_t checkpoint_interval = 500;
  int bos = -1;
  int threads = 0;
  bool fresh = false;
};

struct grad_cli {
  std::string weights, tokens, out;
  int threads = 0;
};

struct forward_cli {
  std::string weights, tokens, text, vocab_dir, out;
  bool cache = false;
  int threads = 0;
};

struct generate_cli {
  std::string weights, tokens, text, vocab_dir;
  std::size_t max_length = 20, top_k = 0;
  float temperature = 0.f;
  std::uint64_t seed = 1;
  int threads = 0;
};

struct circuit_cli {
  std::string weights, inputs, out, vocab_dir, published;
  std::size_t length = 40;
  std::size_t batch = 16;
  std::uint64_t seed = 0;
  int threads = 0;
};

struct inspect_cli {
  std::string arch = "all";
  std::uint64_t seed = 1;
  std::size_t batch = 4;
  std::size_t length = 128;
  int threads = 0;
};

// ---- the works -----------------------------------------------------------------------------------------

/// sinklab train: train from scratch (or resume), write model, checkpoint and curve.
struct train_work {
  struct args {
    const train_cli& c;
    int exit_code = 0;
  };
  template <class A> static void run(args&);
};

/// sinklab grad: gradients of one sequence's loss.
struct grad_work {
  struct args {
    const grad_cli& c;
    const std::vector<int>& tokens;
  };
  template <class A> static void run(args&);
};

/// sinklab forward: logits and attention of one sequence.
struct forward_work {
  struct args {
    const forward_cli& c;
    const std::vector<int>& tokens;
  };
  template <class A> static void run(args&);
};

/// sinklab generate: continue a sequence.
struct generate_work {
  struct args {
    const generate_cli& c;
    std::vector<int> tokens;
    std::mt19937_64 rng;
    std::string text{};
  };
  template <class A> static void run(args&);
};

/// sinklab circuit: the paper's interventions and circuit statistics on a checkpoint.
struct circuit_work {
  struct args {
    const circuit_cli& c;
  };
  template <class A> static void run(args&);
};

/// sinklab inspect: a freshly initialised model's loss and attention to position 0.
struct inspect_work {
  struct args {
    const inspect_cli& c;
  };
  template <class A> static void run(args&);
};

/// One run of a study (sinkcore::study::run_one).
struct study_run_work {
  struct args {
    const sinkcore::study::study_data& data;
    const sinkcore::study::budget& plan;
    sinkcore::study::regime r;
    std::uint64_t seed;
    const std::filesystem::path& dir;
    sinkcore::study::study_progress* progress;
    std::ostream* log;
    std::mutex* log_mutex;
    sinkcore::study::run_result result{};
  };
  template <class A> static void run(args&);
};

// ---- dispatch ------------------------------------------------------------------------------------------

inline constexpr std::size_t architecture_group_count = decltype(sinkcore::hana::length(sinkcore::architecture_groups))::value;
/// Each group is compiled in this many slices (architecture i of a group in slice i % group_slices), one
/// translation unit per slice and part (CMake option SINKLAB_GROUP_SLICES, default 1). More slices lower
/// each unit's compiler memory a little and raise the build's total time: most of a unit's memory is the
/// headers themselves (docs/performance.md, "Build").
#ifndef SINKLAB_GROUP_SLICES
#define SINKLAB_GROUP_SLICES 1
#endif
inline constexpr std::size_t group_slices = SINKLAB_GROUP_SLICES;

/// Work::run<A>(args) for the architecture named `arch`, if slice K of group G has it (group_run.hpp
/// defines it).
template <class Work, std::size_t G, std::size_t K>
struct in_group {
  static bool run(std::string_view arch, typename Work::args& a);
};

/// Work::run<A>(args) for the registered architecture named `arch`; throws sinkcore::error listing the
/// known names when there is none.
template <class Work>
void for_architecture(std::string_view arch, typename Work::args& a) {
  const bool found = [&]<std::size_t... S>(std::index_sequence<S...>) {
    return (in_group<Work, S / group_slices, S % group_slices>::run(arch, a) || ...);
  }(std::make_index_sequence<architecture_group_count * group_slices>{});
  if (!found) sinkcore::with_architecture(arch, [](auto) {});  // throws the registry's "unknown architecture"
}

}  // namespace sinklab
