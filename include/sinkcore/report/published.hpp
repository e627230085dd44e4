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

#include <nlohmann/json.hpp>

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
inline published_numbers load_published(const std::filesystem::path& stats_dir = {},
                                        std::filesystem::path file = data_dir() / "paper_published.json") {
  published_numbers p;
  if (!file.empty() && std::filesystem::exists(file)) {
    try {
      std::ifstream in(file);
      const auto j = nlohmann::json::parse(in);
      p.architecture = j.at("architecture").get<std::string>();
      for (const auto& [id, v] : j.at("table1").items()) p.bos[{"all", id}] = {v.get<double>(), std::nan("")};
      p.massive_coordinates = j.at("massive_coordinates").get<std::vector<std::size_t>>();
      p.gamma_massive = j.at("gamma").at("massive");
      p.gamma_other = j.at("gamma").at("other");
      p.epe_cos0 = j.at("epe_cosine").at("position0");
      p.epe_cos_low = j.at("epe_cosine").at("others_low");
      p.epe_cos_high = j.at("epe_cosine").at("others_high");
      const auto& ce = j.at("cross_entropy");
      p.ce_baseline = ce.at("baseline");
      p.ce_source = ce.at("source").get<std::string>();
      for (const auto& [id, v] : ce.at("delta").items()) p.ce_delta[id] = v.get<double>();
      p.source = j.at("source").get<std::string>() + " (" + file.string() + ")";
    } catch (const nlohmann::json::exception& e) {
      throw error(file.string() + ": not a published-numbers file: " + e.what());
    }
  }
  for (const char* f : {"bos_attention_stats_overall.csv", "bos_attention_stats_by_dataset.csv"}) {
    const auto path = stats_dir / f;
    if (stats_dir.empty() || !std::filesystem::exists(path)) continue;
    const table t = read_csv(path);
    const auto ds = t.column("dataset"), iv = t.column("intervention"), mean = t.column("mean_bos_attention"),
               se = t.column("stderr");
    if (!ds || !iv || !mean || !se) throw error(path.string() + ": expected columns dataset, intervention, mean_bos_attention, stderr");
    for (const auto& r : t.rows) {
      std::string d = r[*ds] == "all_datasets" ? "all" : r[*ds];
      std::string id = r[*iv].starts_with("int_") ? r[*iv].substr(4) : r[*iv];
      p.bos[{d, id}] = {std::stod(r[*mean]), std::stod(r[*se])};
    }
    if (p.architecture.empty()) p.architecture = "gpt2-small";
    p.source += (p.source.empty() ? "" : "; ") + path.string();
  }
  return p;
}

}  // namespace sinkcore::report
