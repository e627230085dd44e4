#pragma once
// The non-template part of study/run.hpp: a run's curve.json and result.json.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <fstream>

#include <nlohmann/json.hpp>

#include "sinkcore/study/run.hpp"

namespace sinkcore::study {

namespace detail {
inline nlohmann::json config_json(const run_config& c) {
  return {{"arch", c.arch}, {"train", c.train.to_json()}, {"eval", c.b.eval_json()}, {"train_corpus", c.b.train_corpus}};
}
inline void write_json_atomically(const fs::path& p, const nlohmann::json& j) {
  io::write_file_atomically(p, [&](std::ostream& os) { os << j.dump(1) << '\n'; });
}
}  // namespace detail

SINKCORE_DECL std::optional<run_result> read_result_file(const fs::path& p, const run_config& c) {
  if (!fs::exists(p)) return std::nullopt;
  try {
    std::ifstream in(p);
    const auto j = nlohmann::json::parse(in);
    if (j.at("config") != detail::config_json(c)) return std::nullopt;
    return run_result_from_json(j.at("result"));
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable or from another version: redo
  }
}

SINKCORE_DECL void write_result_file(const fs::path& p, const run_config& c, const run_result& r) {
  detail::write_json_atomically(p, {{"config", detail::config_json(c)}, {"result", to_json(r)}});
}

SINKCORE_DECL std::optional<stored_curve> read_curve_file(const fs::path& p, const run_config& c) {
  std::ifstream in(p);
  const auto j = nlohmann::json::parse(in);
  if (j.at("config") != detail::config_json(c)) return std::nullopt;
  stored_curve s;
  detail::from_json_value(j.at("curve"), s.curve);
  s.train_seconds = j.value("train_seconds", 0.0);
  if (j.contains("steps")) s.steps = j.at("steps").get<std::uint64_t>();
  s.diverged_at = j.value("diverged_at", std::uint64_t(0));
  return s;
}

SINKCORE_DECL void write_curve_file(const fs::path& p, const run_config& c, const stored_curve& s) {
  nlohmann::json j{{"config", detail::config_json(c)}, {"curve", detail::to_json_value(s.curve)},
                   {"train_seconds", s.train_seconds}, {"diverged_at", s.diverged_at}};
  if (s.steps) j["steps"] = *s.steps;
  detail::write_json_atomically(p, j);
}

}  // namespace sinkcore::study
