#pragma once
// The non-template part of io/checkpoint.hpp that reads and writes Hugging Face's config.json.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <fstream>

#include <nlohmann/json.hpp>

#include "sinkcore/io/checkpoint.hpp"

namespace sinkcore::io::detail {

SINKCORE_DECL std::size_t config_n_head(const std::filesystem::path& config) {
  try {
    std::ifstream in(config);
    const auto j = nlohmann::json::parse(in);
    return j.contains("n_head") ? j.at("n_head").get<std::size_t>() : 0;
  } catch (const std::exception& e) {
    throw error(config.string() + ": cannot read n_head: " + e.what());
  }
}

SINKCORE_DECL std::string hf_config_text(std::size_t layers, std::size_t d_model, std::size_t heads, std::size_t context,
                                         std::size_t vocab, const std::string& name) {
  nlohmann::json j = {{"architectures", {"GPT2LMHeadModel"}},
                      {"model_type", "gpt2"},
                      {"n_layer", layers},
                      {"n_embd", d_model},
                      {"n_head", heads},
                      {"n_positions", context},
                      {"n_ctx", context},
                      {"vocab_size", vocab},
                      {"layer_norm_epsilon", 1e-5},
                      {"activation_function", "gelu_new"},
                      {"tie_word_embeddings", true},
                      {"sinkcore_arch", name}};
  return j.dump(2) + "\n";
}

}  // namespace sinkcore::io::detail
