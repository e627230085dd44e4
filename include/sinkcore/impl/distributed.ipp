#pragma once
// The non-template part of study/distributed.hpp: the work queue's messages as JSON.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/study/distributed.hpp"

namespace sinkcore::study::detail {

SINKCORE_DECL std::string work_report::to_text() const {
  nlohmann::json j = nlohmann::json::object();
  if (done) {
    j["done"] = *done;
    j["ok"] = ok;
    if (ok) {
      j["result"] = to_json(result);
      j["result_file"] = result_file;
    } else {
      j["error"] = error;
    }
  }
  if (finished) j["finished"] = true;
  return j.dump();
}

SINKCORE_DECL work_report work_report::from_text(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  work_report r;
  if (j.contains("done")) {
    r.done = j.at("done").get<std::size_t>();
    r.ok = j.at("ok").get<bool>();
    if (r.ok) {
      r.result = run_result_from_json(j.at("result"));
      r.result_file = j.value("result_file", std::string());
    } else {
      r.error = j.at("error").get<std::string>();
    }
  }
  r.finished = j.value("finished", false);
  return r;
}

SINKCORE_DECL std::string results_to_text(const std::vector<run_result>& results) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : results) a.push_back(to_json(r));
  return a.dump();
}

SINKCORE_DECL void results_from_text(const std::string& text, std::vector<run_result>& results) {
  const auto a = nlohmann::json::parse(text);
  for (std::size_t i = 0; i < results.size(); ++i) results[i] = run_result_from_json(a.at(i));
}

}  // namespace sinkcore::study::detail
