#pragma once
// The non-template part of study/budget.hpp: a budget as JSON.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/study/budget.hpp"

namespace sinkcore::study {

SINKCORE_DECL nlohmann::json budget::to_json() const {
  return {{"name", name}, {"zoo", zoo}, {"steps", steps}, {"batch", batch}, {"context", context}, {"lr", lr}, {"warmup", warmup},
          {"weight_decay", weight_decay}, {"train_corpus", train_corpus}, {"seeds", seeds}, {"regimes", regimes},
          {"variants", variants},
          {"eval_points", eval_points}, {"checkpoint_every", checkpoint_every}, {"curve_windows", curve_windows},
          {"eval_windows", eval_windows}, {"intervention_windows", intervention_windows},
          {"metric_length", metric_length}, {"sink_length", sink_length}};
}
SINKCORE_DECL nlohmann::json budget::eval_json() const {
  return {{"eval_points", eval_points}, {"curve_windows", curve_windows}, {"eval_windows", eval_windows},
          {"intervention_windows", intervention_windows}, {"metric_length", metric_length},
          {"sink_length", sink_length}};
}

}  // namespace sinkcore::study
