#pragma once
/// @file profile.hpp
/// Where a training step's time goes, part by part (GEMMs, attention, softmax, layer norm, GELU, the loss,
/// AdamW, data), for the benchmarks (bench_train prints it). Compiled in only where SINKCORE_PROFILE is
/// defined before the first sinkcore header; otherwise every zone is an empty object and costs nothing.
/// Even compiled in, nothing is measured until profile::enable(true).
///
/// A zone charges the wall time of its scope to its part, exclusively: a zone opened inside another
/// takes the time over until it closes (a layer norm inside a GELU's scope counts as layer norm). Two
/// rules keep the parts meaningful: a GEMM inside an attention zone counts as attention (the q k^T and
/// P v products of the heads, not the linear layers), and only the thread that runs the step measures,
/// outside parallel regions (a zone inside an active `omp parallel` region is empty, so with several
/// threads the work inside attention's parallel loop over heads, softmax included, counts as attention, and
/// the work a product's epilogue does on its threads, GELU and the residual additions, counts as GEMM).
/// At one thread, the setting of the study's runs, every part is measured where it runs. The state is per
/// thread: enable(), reset() and seconds() concern the calling thread's zones only.
///
///     #define SINKCORE_PROFILE            // before the first sinkcore header
///     #include <sinkcore/sinkcore.hpp>
///     #include <cstdio>
///     int main() {
///       sinkcore::train::train_options o;
///       o.batch = 2;
///       o.context = 32;
///       sinkcore::train::trainer<sinkcore::gpt2_tiny> t(sinkcore::train::load_corpus("math"), o);
///       sinkcore::profile::enable(true);
///       for (int i = 0; i < 3; ++i) t.step();
///       for (std::size_t p = 0; p < sinkcore::profile::part_count; ++p)
///         std::printf("%s %.4f s\n", sinkcore::profile::part_names[p].data(), sinkcore::profile::seconds()[p]);
///     }
#include <array>
#include <chrono>
#include <cstddef>
#include <string_view>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sinkcore::profile {

/// The parts of a step. `loss`: the softmax over the vocabulary and its gradient (forward cross-entropy
/// included); `data`: drawing the batch; `adamw`: the gradient norm, clipping and the update.
enum class part : int { gemm, attention, softmax, layernorm, gelu, loss, adamw, data };
inline constexpr std::size_t part_count = 8;
inline constexpr std::array<std::string_view, part_count> part_names = {
    "gemm", "attention", "softmax", "layernorm", "gelu", "loss", "adamw", "data"};

#ifdef SINKCORE_PROFILE
namespace detail {
using clock = std::chrono::steady_clock;
struct state {
  bool enabled = false;
  int current = -1;  ///< the part being charged, -1: none
  clock::time_point since{};
  std::array<double, part_count> seconds{};
};
inline state& global() {
  thread_local state s;  // each thread measures its own work (sinklab runs a study's jobs on threads)
  return s;
}
inline bool measuring_thread() {
#ifdef _OPENMP
  return !omp_in_parallel() && omp_get_thread_num() == 0;
#else
  return true;
#endif
}
}  // namespace detail

/// Start (true) or stop (false) measuring.
inline void enable(bool on) { detail::global().enabled = on; }
/// Forget what was measured.
inline void reset() { detail::global().seconds = {}; }
/// Seconds per part (index: part) since the last reset.
inline const std::array<double, part_count>& seconds() { return detail::global().seconds; }

/// Charges its scope's wall time to part `p` (see the file comment for nesting).
class zone {
 public:
  explicit zone(part p) {
    auto& s = detail::global();
    if (!s.enabled || !detail::measuring_thread()) return;
    if (p == part::gemm && s.current == int(part::attention)) return;  // the heads' products are attention
    const auto now = detail::clock::now();
    if (s.current >= 0) s.seconds[std::size_t(s.current)] += std::chrono::duration<double>(now - s.since).count();
    previous_ = s.current;
    s.current = int(p);
    s.since = now;
    active_ = true;
  }
  ~zone() {
    if (!active_) return;
    auto& s = detail::global();
    const auto now = detail::clock::now();
    s.seconds[std::size_t(s.current)] += std::chrono::duration<double>(now - s.since).count();
    s.current = previous_;
    s.since = now;
  }
  zone(const zone&) = delete;
  zone& operator=(const zone&) = delete;

 private:
  bool active_ = false;
  int previous_ = -1;
};
#else
inline void enable(bool) {}
inline void reset() {}
inline const std::array<double, part_count>& seconds() {
  static const std::array<double, part_count> none{};
  return none;
}
class zone {
 public:
  explicit zone(part) {}
};
#endif

}  // namespace sinkcore::profile
