#pragma once
// The non-template part of study/result.hpp: a run's result as JSON and back.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/study/result.hpp"

namespace sinkcore::study {

namespace detail {
inline double num_or_nan(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it == j.end() || it->is_null()) ? std::nan("") : it->get<double>();
}
inline double num_or_nan(const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); }

inline nlohmann::json to_json_value(const std::vector<curve_point>& c) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : c)
    a.push_back({{"step", p.step}, {"tokens", p.tokens}, {"bos_metric", p.bos_metric},
                 {"bos_metric_all", p.bos_metric_all}, {"bos_metric_ctx", p.bos_metric_ctx}, {"loss", p.loss},
                 {"primary", p.primary}});
  return a;
}
inline nlohmann::json to_json_value(const std::vector<intervention_result>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& i : v)
    a.push_back({{"id", i.id}, {"name", i.name}, {"applies", i.applies}, {"reason", i.reason},
                 {"bos_metric", i.bos_metric}, {"sink", i.sink}, {"cross_entropy", i.cross_entropy},
                 {"peak_layer_metric", i.peak_layer_metric}});
  return a;
}
inline nlohmann::json to_json_value(const circuit_stats& c) {
  nlohmann::json j = nlohmann::json::object();
  j["applies"] = c.applies;
  j["reason"] = c.reason;
  if (c.massive_coordinates) j["massive_coordinates"] = *c.massive_coordinates;
  for (const auto& [k, v] : c.mid) j[k] = v;
  if (c.peak_layer) {
    nlohmann::json p{{"layer", *c.peak_layer}};
    for (const auto& [k, v] : c.peak) p[k] = v;
    j["peak_layer"] = p;
  }
  return j;
}
template <class T>
nlohmann::json to_json_value(const T& v) { return v; }

inline void from_json_value(const nlohmann::json& j, double& x) { x = num_or_nan(j); }
inline void from_json_value(const nlohmann::json& j, std::map<std::string, double>& m) {
  for (auto& [k, v] : j.items()) m[k] = num_or_nan(v);
}
inline void from_json_value(const nlohmann::json& j, std::vector<double>& v) {
  for (const auto& x : j) v.push_back(num_or_nan(x));
}
inline void from_json_value(const nlohmann::json& j, std::vector<curve_point>& c) {
  for (const auto& p : j)
    c.push_back({p.at("step"), p.at("tokens"), num_or_nan(p, "bos_metric"), num_or_nan(p, "bos_metric_all"),
                 num_or_nan(p, "bos_metric_ctx"), num_or_nan(p, "loss"), num_or_nan(p, "primary")});
}
inline void from_json_value(const nlohmann::json& j, std::vector<intervention_result>& v) {
  for (const auto& i : j)
    v.push_back({i.at("id"), i.at("name"), i.at("applies"), i.at("reason"), num_or_nan(i, "bos_metric"),
                 num_or_nan(i, "sink"), num_or_nan(i, "cross_entropy"), num_or_nan(i, "peak_layer_metric")});
}
// A scope's statistics: every numeric member but `skip` (applies, reason, massive_coordinates and peak_layer
// are not numbers); null (a NaN when written) is left out, as the report skips a value that is not a number.
inline void scope_from_json(const nlohmann::json& j, std::map<std::string, double>& m, std::string_view skip = {}) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != skip && it->is_number()) m[it.key()] = it->get<double>();
}
inline void from_json_value(const nlohmann::json& j, circuit_stats& c) {
  c.applies = j.value("applies", false);
  c.reason = j.value("reason", std::string());
  if (j.contains("massive_coordinates")) c.massive_coordinates = j.at("massive_coordinates").get<std::vector<std::size_t>>();
  scope_from_json(j, c.mid);
  if (j.contains("peak_layer") && j.at("peak_layer").is_object()) {
    const auto& p = j.at("peak_layer");
    if (p.contains("layer")) c.peak_layer = p.at("layer").get<std::size_t>();
    scope_from_json(p, c.peak, "layer");
  }
}
template <class T>
void from_json_value(const nlohmann::json& j, T& x) { x = j.get<T>(); }
}  // namespace detail

SINKCORE_DECL nlohmann::json to_json(const run_result& r, unsigned use) {
  nlohmann::json j = nlohmann::json::object();
  for_each_field([&](const auto& f) {
    if (f.use & use) j[std::string(f.name)] = detail::to_json_value(r.*f.member);
  });
  return j;
}

SINKCORE_DECL run_result run_result_from_json(const nlohmann::json& j) {
  run_result r;
  for_each_field([&](const auto& f) {
    if (!(f.use & in_run_json)) return;
    using T = std::remove_reference_t<decltype(r.*f.member)>;
    const auto it = j.find(std::string(f.name));
    if (it != j.end()) detail::from_json_value(*it, r.*f.member);
    else if constexpr (std::is_same_v<T, double>) r.*f.member = std::nan("");
    else if constexpr (!std::is_same_v<T, circuit_stats> && !std::is_same_v<T, std::map<std::string, double>> &&
                       !std::is_same_v<T, std::vector<double>>)
      j.at(std::string(f.name));  // required: throws naming the field
  });
  return r;
}

}  // namespace sinkcore::study
