#pragma once
// The non-template part of train/trainer.hpp: the options and the distributed state as JSON.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/train/trainer.hpp"

namespace sinkcore::train {

SINKCORE_DECL nlohmann::json train_options::to_json() const {
  nlohmann::json j = {{"steps", steps}, {"batch", batch}, {"context", context}, {"lr", lr},
                      {"min_lr_fraction", min_lr_fraction}, {"warmup", warmup}, {"weight_decay", weight_decay},
                      {"beta1", beta1}, {"beta2", beta2}, {"grad_clip", grad_clip}, {"seed", seed},
                      {"eval_batches", eval_batches}};
  j["bos"] = bos ? nlohmann::json(int(*bos)) : nlohmann::json(nullptr);
  return j;
}
SINKCORE_DECL train_options train_options::from_json(const nlohmann::json& j) {
  train_options o;
  o.steps = j.at("steps");
  o.batch = j.at("batch");
  o.context = j.at("context");
  o.lr = j.at("lr");
  o.min_lr_fraction = j.at("min_lr_fraction");
  o.warmup = j.at("warmup");
  o.weight_decay = j.at("weight_decay");
  o.beta1 = j.at("beta1");
  o.beta2 = j.at("beta2");
  o.grad_clip = j.at("grad_clip");
  o.seed = j.at("seed");
  o.eval_batches = j.at("eval_batches");
  if (!j.at("bos").is_null()) o.bos = token(j.at("bos").get<int>());
  return o;
}

SINKCORE_DECL std::string train_options::to_json_text() const { return to_json().dump(); }

SINKCORE_DECL train_options train_options::from_json_text(const std::string& text) {
  try {
    return from_json(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception& e) {
    throw error(e.what());
  }
}

SINKCORE_DECL bool train_options::same_as_json_text(const std::string& text) const {
  return nlohmann::json::parse(text) == to_json();
}

namespace detail {
SINKCORE_DECL std::string train_state::to_text() const {
  return nlohmann::json{{"options", options.to_json()}, {"step", step}, {"sampler", sampler}}.dump();
}
SINKCORE_DECL train_state train_state::from_text(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  return {train_options::from_json(j.at("options")), j.at("step").get<std::uint64_t>(), j.at("sampler").get<std::string>()};
}
}  // namespace detail

}  // namespace sinkcore::train
