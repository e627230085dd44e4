#pragma once
// The non-template part of study/summary.hpp that needs nlohmann/json: a variant's entry of results.json.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/study/summary.hpp"

namespace sinkcore::study {

SINKCORE_DECL nlohmann::json to_json(const variant_summary& v) {
  nlohmann::json j = {{"name", v.variant}, {"regime", v.regime}, {"verdict", v.verdict},
                      {"bos_metric_verdict", v.bos_metric_verdict}, {"primary_measure", primary_measure}};
  for (const auto& f : summary_fields())
    if (f.use & in_results_json) j[std::string(f.name)] = f.get(v);
  if (v.verdict != "baseline")
    j["paired"] = {{"measure", primary_measure}, {"mean_diff", v.paired.mean_diff},
                   {"ci95", {v.paired.ci95.lo, v.paired.ci95.hi}}, {"n", v.paired.n}};
  nlohmann::json seeds = nlohmann::json::array();
  for (const auto& r : v.runs) seeds.push_back(to_json(r, in_seeds_json));
  j["seeds"] = seeds;
  return j;
}

}  // namespace sinkcore::study
