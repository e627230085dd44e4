#pragma once
/// @file published.hpp
/// The paper's published numbers (Ran-Milo et al. 2026: Table 1, the EPE and gamma statistics, and a
/// third-party reproduction's cross-entropy costs), read at run time from a data file, never written into
/// code: data/paper_published.json (installed to share/sinkcore), and the paper's released per-dataset
/// statistics (bos_attention_stats_*.csv) where a directory holding them is given. Both the circuit report
/// (report/circuit_report.hpp) and the study report (study/report.hpp) show them beside sinkcore's numbers.
///
///   const auto p = sinkcore::report::load_published();   // empty when the data file is not found
///   if (!p.empty()) std::cout << p.get("all", "a").first << "\n";  // 0.563
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "tables.hpp"

namespace sinkcore::report {

/// The paper's published numbers, read at run time: Table 1's means (all inputs), and where the paper's
/// released statistics are found, per dataset with standard errors; Figs. 3-4's reference values; the
/// cross-entropy costs of a third-party reproduction.
struct published_numbers {
  std::string architecture;  ///< the model they are about ("gpt2-small")
  std::map<std::pair<std::string, std::string>, std::pair<double, double>> bos;  ///< (dataset, id) -> (mean, SE or NaN)
  std::vector<std::size_t> massive_coordinates;
  double gamma_massive = std::nan(""), gamma_other = std::nan("");
  double epe_cos0 = std::nan(""), epe_cos_low = std::nan(""), epe_cos_high = std::nan("");
  double ce_baseline = std::nan("");
  std::map<std::string, double> ce_delta;
  std::string ce_source;
  std::string source;  ///< where they came from
  bool empty() const { return bos.empty(); }
  std::pair<double, double> get(const std::string& dataset, const std::string& id) const {
    auto it = bos.find({dataset, id});
    const double nan = std::nan("");
    return it == bos.end() ? std::pair{nan, nan} : it->second;
  }
  /// Whether these numbers are about architecture `name`.
  bool about(const std::string& name) const { return !empty() && name == architecture; }
};

/// Where sinkcore's data files are: $SINKCORE_DATA_DIR, else the directory the build or install recorded.
inline std::filesystem::path data_dir() {
  if (const char* d = std::getenv("SINKCORE_DATA_DIR"); d && *d) return d;
#ifdef SINKCORE_DATA_DIR
  return SINKCORE_DATA_DIR;
#else
  return {};
#endif
}

/// The published numbers from `file` (data/paper_published.json by default), and, when `stats_dir` holds
/// the paper's bos_attention_stats_overall.csv / _by_dataset.csv, their per-dataset means and standard
/// errors (dataset "all_datasets" becomes "all", "int_a" becomes "a"). A missing file gives empty numbers
/// (reports then show ours alone); a malformed one throws sinkcore::error naming it.
SINKCORE_DECL published_numbers load_published(const std::filesystem::path& stats_dir = {},
                                             std::filesystem::path file = data_dir() / "paper_published.json");

}  // namespace sinkcore::report

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "sinkcore/impl/published.ipp"
#endif
