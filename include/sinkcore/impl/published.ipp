#pragma once
// The non-template part of report/published.hpp: reading the published numbers.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <fstream>

#include <nlohmann/json.hpp>

#include "sinkcore/report/published.hpp"

namespace sinkcore::report {

SINKCORE_DECL published_numbers load_published(const std::filesystem::path& stats_dir, std::filesystem::path file) {
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
