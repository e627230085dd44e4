#pragma once
// The non-template part of io/bpe.hpp that reads encoder.json / vocab.json.
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/io/bpe.hpp"

namespace sinkcore::io {

SINKCORE_DECL void bpe_tokenizer::load_vocab(const std::filesystem::path& path) {
  using json = nlohmann::json;
  const auto fail = [&](const std::string& what) { throw error(path.string() + ": " + what); };
  json j;
  try {
    const std::string text = read_text(path);
    j = json::parse(text.data(), text.data() + text.size());  // same instantiation as safetensors.hpp
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || j.empty()) fail("expected a non-empty JSON object mapping tokens to ids");
  bytes_.assign(j.size(), std::string());
  std::vector<bool> seen(j.size(), false);
  std::string raw;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& token = it.key();
    if (!it.value().is_number_integer()) fail("token '" + token + "': id " + it.value().dump() + " is not an integer");
    const auto id = it.value().get<std::int64_t>();
    if (id < 0 || id >= static_cast<std::int64_t>(j.size()))
      fail("token '" + token + "': id " + std::to_string(id) + " is out of range [0, " + std::to_string(j.size()) +
           ") (ids must be dense)");
    if (seen[static_cast<std::size_t>(id)]) fail("token '" + token + "': id " + std::to_string(id) + " is used twice");
    char32_t bad = 0;
    if (!to_raw_bytes(token, raw, &bad)) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(bad));
      fail("token '" + token + "' contains " + (bad == detail::invalid_code_point ? std::string("invalid UTF-8") : hex) +
           ", which stands for no byte in GPT-2's byte-to-unicode table");
    }
    seen[static_cast<std::size_t>(id)] = true;
    bytes_[static_cast<std::size_t>(id)] = raw;
    if (!id_of_.emplace(raw, static_cast<int>(id)).second) fail("token '" + token + "' appears twice");
  }
  for (int b = 0; b < 256; ++b) {
    auto it = id_of_.find(std::string(1, static_cast<char>(b)));
    if (it == id_of_.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      fail(std::string("no token for the single byte ") + hex + " (a byte-level vocabulary needs all 256)");
    }
    byte_id_[static_cast<std::size_t>(b)] = it->second;
  }
}

}  // namespace sinkcore::io
