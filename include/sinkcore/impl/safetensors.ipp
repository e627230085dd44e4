#pragma once
// The non-template part of io/safetensors.hpp (header parsing and writing: the code that needs nlohmann/json).
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/io/safetensors.hpp"

namespace sinkcore::io {

SINKCORE_DECL void safetensors_file::parse_header() {
  using json = nlohmann::json;
  const std::byte* base = map_->data();
  const std::size_t file_size = map_->size();
  if (file_size < 8)
    fail("file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  std::memcpy(&n, base, 8);
  if (n > safetensors_max_header_bytes)
    fail("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(safetensors_max_header_bytes) + " bytes");
  if (n > file_size - 8)
    fail("header length " + std::to_string(n) + " exceeds the file size (" + std::to_string(file_size) + " bytes)");
  data_start_ = 8 + static_cast<std::size_t>(n);
  const std::size_t buffer_size = file_size - data_start_;

  // nlohmann keeps one of two equal keys silently: track the keys of every open object.
  std::vector<std::set<std::string>> open_objects;
  auto on_event = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end: open_objects.pop_back(); break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second)
          fail(open_objects.size() == 1 ? "header: duplicate tensor name '" + key + "'"
                                        : "header: duplicate key '" + key + "' in an object");
        break;
      }
      default: break;
    }
    return true;
  };
  const char* text = reinterpret_cast<const char*>(base + 8);
  json header;
  try {
    header = json::parse(text, text + n, on_event);
  } catch (const json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object()) fail("header: __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("header: __metadata__ value for '" + m.key() + "' is not a string");
        metadata_.emplace(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    tensors_.push_back(parse_entry(name, v, buffer_size));
  }

  // The ranges must tile [0, buffer_size) exactly.
  std::sort(tensors_.begin(), tensors_.end(),
            [](const tensor_info& a, const tensor_info& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  std::size_t cursor = 0;
  const tensor_info* previous = nullptr;
  for (const auto& t : tensors_) {
    if (t.begin < cursor)
      fail_tensor(t, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") overlap tensor '" +
                         previous->name + "' [" + std::to_string(previous->begin) + ", " + std::to_string(previous->end) + ")");
    if (t.begin > cursor)
      fail_tensor(t, "data_offsets start at " + std::to_string(t.begin) + ", leaving a hole in the data buffer at [" +
                         std::to_string(cursor) + ", " + std::to_string(t.begin) + ")");
    cursor = t.end;
    previous = &t;
  }
  if (cursor != buffer_size)
    fail("tensors cover " + std::to_string(cursor) + " bytes of the data buffer, which has " + std::to_string(buffer_size) +
         " bytes (a hole at the end)");
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

SINKCORE_DECL tensor_info safetensors_file::parse_entry(const std::string& name, const nlohmann::json& v,
                                                       std::size_t buffer_size) const {
  tensor_info t;
  t.name = name;
  if (!v.is_object()) fail_tensor(t, "entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) fail_tensor(t, std::string("entry has no '") + key + "'");

  const auto& dt = v["dtype"];
  if (!dt.is_string()) fail_tensor(t, "dtype is not a string");
  const auto parsed = parse_dtype(dt.get_ref<const std::string&>());
  if (!parsed) fail_tensor(t, "unknown dtype '" + dt.get<std::string>() + "'");
  t.type = *parsed;

  const auto& shape = v["shape"];
  if (!shape.is_array()) fail_tensor(t, "shape is not an array");
  for (const auto& d : shape) {
    if (d.is_number_integer() && !d.is_number_unsigned()) fail_tensor(t, "shape has a negative dimension " + d.dump());
    if (!d.is_number_unsigned()) fail_tensor(t, "shape has a dimension that is not a non-negative integer: " + d.dump());
    t.shape.push_back(d.get<std::size_t>());
  }

  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    fail_tensor(t, "data_offsets is not a pair of non-negative integers: " + off.dump());
  t.begin = off[0].get<std::size_t>();
  t.end = off[1].get<std::size_t>();
  if (t.begin > t.end)
    fail_tensor(t, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] end before they begin");
  if (t.end > buffer_size)
    fail_tensor(t, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                       "] are out of range of the data buffer (" + std::to_string(buffer_size) + " bytes)");

  const auto expected = detail::checked_nbytes(t.shape, dtype_size(t.type));
  if (!expected) fail_tensor(t, "shape " + detail::shape_string(t.shape) + " overflows the size of a byte count");
  if (*expected != t.nbytes())
    fail_tensor(t, "shape " + detail::shape_string(t.shape) + " of " + std::string(dtype_name(t.type)) + " needs " +
                       std::to_string(*expected) + " bytes, but data_offsets span " + std::to_string(t.nbytes()));
  return t;
}

SINKCORE_DECL void write_safetensors(const std::filesystem::path& path, std::span<const named_tensor> tensors,
                                     const std::map<std::string, std::string>& metadata, dtype stored) {
  const auto fail = [&](const std::string& what) { throw error(path.string() + ": " + what); };
  if (stored != dtype::f32 && stored != dtype::f16 && stored != dtype::bf16)
    fail("cannot write dtype " + std::string(dtype_name(stored)) + " (only F32, F16, BF16)");

  // The header is built by hand (in the given order); nlohmann only escapes strings.
  const auto quoted = [&](const std::string& str) {
    try {
      return nlohmann::json(str).dump();
    } catch (const nlohmann::json::exception& e) {
      fail("cannot encode '" + str + "' in the header (names must be valid UTF-8): " + e.what());
    }
    return std::string();
  };
  std::string text = "{";
  if (!metadata.empty()) {
    text += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) text += ',';
      text += quoted(k) + ":" + quoted(v);
      first = false;
    }
    text += "}";
  }
  std::set<std::string_view> seen;
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty()) fail("a tensor has an empty name");
    if (t.name == "__metadata__") fail("'__metadata__' is reserved and cannot name a tensor");
    if (!seen.insert(t.name).second) fail("duplicate tensor name '" + t.name + "'");
    const auto nbytes = detail::checked_nbytes(t.shape, dtype_size(stored));
    if (!nbytes || __builtin_add_overflow(offset, *nbytes, &offset))
      fail("tensor '" + t.name + "': shape " + detail::shape_string(t.shape) + " is too large");
    if (t.data == nullptr && *nbytes != 0) fail("tensor '" + t.name + "': data pointer is null");
    std::string shape = "[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (i) shape += ',';
      shape += std::to_string(t.shape[i]);
    }
    if (text.size() > 1) text += ',';
    text += quoted(t.name);
    text += ":{\"dtype\":\"" + std::string(dtype_name(stored)) + "\",\"shape\":" + shape + "],\"data_offsets\":[" +
            std::to_string(offset - *nbytes) + "," + std::to_string(offset) + "]}";
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomically(path, [&](std::ostream& os) {
    std::array<char, 8> len{};
    const std::uint64_t n = text.size();
    std::memcpy(len.data(), &n, 8);
    os.write(len.data(), 8);
    os.write(text.data(), static_cast<std::streamsize>(text.size()));
    std::vector<std::uint16_t> chunk;
    for (const auto& t : tensors) {
      std::size_t count = 1;
      for (auto d : t.shape) count *= d;
      if (count == 0) continue;
      if (stored == dtype::f32) {
        os.write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(count * sizeof(float)));
        continue;
      }
      constexpr std::size_t chunk_elems = std::size_t{1} << 16;
      chunk.resize(chunk_elems);
      for (std::size_t i = 0; i < count; i += chunk_elems) {
        const std::size_t m = std::min(chunk_elems, count - i);
        for (std::size_t j = 0; j < m; ++j)
          chunk[j] = stored == dtype::f16 ? float_to_half(t.data[i + j]) : float_to_bf16(t.data[i + j]);
        os.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(m * 2));
      }
    }
  });
}

}  // namespace sinkcore::io
