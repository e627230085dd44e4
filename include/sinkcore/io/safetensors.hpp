#pragma once
/// @file safetensors.hpp
/// Reading and writing the safetensors format (Hugging Face `model.safetensors`).
///
/// Layout: 8-byte little-endian u64 `N`, then `N` bytes of UTF-8 JSON (padded with spaces), then the data
/// buffer. The JSON maps each tensor name to `{"dtype": "F32", "shape": [...], "data_offsets": [b, e]}`
/// (offsets relative to the buffer), plus an optional `"__metadata__"` string -> string object.
///
/// The reader maps the file (POSIX mmap) and validates everything before handing out data: header length,
/// JSON syntax, duplicate names, entry types, dtypes, shapes against byte counts (overflow-safe), offsets in
/// range, and that the tensors tile the data buffer exactly (no overlap, no hole). F32 tensors whose data is
/// 4-byte aligned in the file are viewable without a copy; F32/F16/BF16/F64 tensors convert to float.
///
/// @code
/// auto st = sinkcore::io::safetensors_file::open("gpt2/model.safetensors");
/// xt::xtensor<float, 2> wte = st.read_tensor<2>("wte.weight");          // a copy, [50257, 768]
/// std::span<const float> ln = st.view_f32("ln_f.weight");             // zero-copy, lives with `st`
/// @endcode
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "sinkcore/error.hpp"
#include "sinkcore/io/atomic_file.hpp"
#include "sinkcore/io/half.hpp"

namespace sinkcore::io {

static_assert(std::endian::native == std::endian::little, "sinkcore::io assumes a little-endian host");

/// Element types of the safetensors format. Only the floating types convert to float.
enum class dtype : std::uint8_t { boolean, u8, i8, f8_e5m2, f8_e4m3, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64 };

namespace detail {
struct dtype_entry {
  dtype type;
  std::string_view name;
  std::size_t size;
};
inline constexpr std::array<dtype_entry, 15> dtype_table{{
    {dtype::boolean, "BOOL", 1}, {dtype::u8, "U8", 1},   {dtype::i8, "I8", 1},     {dtype::f8_e5m2, "F8_E5M2", 1},
    {dtype::f8_e4m3, "F8_E4M3", 1}, {dtype::i16, "I16", 2}, {dtype::u16, "U16", 2}, {dtype::f16, "F16", 2},
    {dtype::bf16, "BF16", 2},    {dtype::i32, "I32", 4},  {dtype::u32, "U32", 4},  {dtype::f32, "F32", 4},
    {dtype::f64, "F64", 8},      {dtype::i64, "I64", 8},  {dtype::u64, "U64", 8},
}};
}  // namespace detail

/// The format's name of a dtype ("F32", "BF16", ...).
constexpr std::string_view dtype_name(dtype t) noexcept { return detail::dtype_table[static_cast<std::size_t>(t)].name; }
/// Bytes per element.
constexpr std::size_t dtype_size(dtype t) noexcept { return detail::dtype_table[static_cast<std::size_t>(t)].size; }
/// The dtype named `name` (exact, upper case), or nullopt.
constexpr std::optional<dtype> parse_dtype(std::string_view name) noexcept {
  for (const auto& e : detail::dtype_table)
    if (e.name == name) return e.type;
  return std::nullopt;
}
/// Whether `read_float` converts this dtype (F32, F16, BF16, F64).
constexpr bool converts_to_float(dtype t) noexcept {
  return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16 || t == dtype::f64;
}

/// One tensor's entry in the header.
struct tensor_info {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::size_t> shape;
  std::size_t begin = 0;  ///< byte offset in the data buffer
  std::size_t end = 0;    ///< one past the last byte
  std::size_t numel() const noexcept {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::size_t nbytes() const noexcept { return end - begin; }
};

/// Upstream's cap on the JSON header.
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

namespace detail {

/// A read-only private mapping of a whole file.
class mapped_file {
 public:
  explicit mapped_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      throw error(path.string() + ": cannot open: " + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw error(path.string() + ": cannot stat: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw error(path.string() + ": not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw error(path.string() + ": cannot mmap " + std::to_string(size_) + " bytes: " + std::strerror(err));
      }
      data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

inline std::string shape_string(const std::vector<std::size_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

/// Product of `shape` times `elem`, or nullopt on overflow.
inline std::optional<std::size_t> checked_nbytes(std::span<const std::size_t> shape, std::size_t elem) {
  std::size_t n = elem;
  for (auto d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

/// Convert `count` elements of `type` at (possibly unaligned) `src` to float.
inline void convert_to_float(dtype type, const std::byte* src, std::size_t count, float* out) {
  switch (type) {
    case dtype::f32:
      if (count) std::memcpy(out, src, count * sizeof(float));
      return;
    case dtype::f16:
    case dtype::bf16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = type == dtype::f16 ? half_to_float(h) : bf16_to_float(h);
      }
      return;
    case dtype::f64:
      for (std::size_t i = 0; i < count; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      return;
    default:
      return;  // callers check converts_to_float first
  }
}

}  // namespace detail

/// A safetensors file, mapped read-only and validated. Copies share the mapping; views handed out stay
/// valid while any copy lives. All member functions are const and safe to call from several threads.
class safetensors_file {
 public:
  /// Maps and validates `path`.
  /// @throws sinkcore::error naming the file (and tensor) for any I/O or format problem.
  static safetensors_file open(const std::filesystem::path& path) {
    safetensors_file f;
    f.path_ = path;
    f.map_ = std::make_shared<const detail::mapped_file>(path);
    f.parse_header();
    return f;
  }

  const std::filesystem::path& path() const noexcept { return path_; }
  bool contains(std::string_view name) const noexcept { return index_.find(name) != index_.end(); }

  /// @throws sinkcore::error if there is no tensor `name`.
  const tensor_info& info(std::string_view name) const {
    auto it = index_.find(name);
    if (it == index_.end()) fail("no tensor '" + std::string(name) + "'");
    return tensors_[it->second];
  }

  /// Tensor names in the order of their data in the file.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(tensors_.size());
    for (const auto& t : tensors_) out.push_back(t.name);
    return out;
  }
  /// All entries, in the order of their data in the file.
  const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }
  std::size_t size() const noexcept { return tensors_.size(); }
  /// The `__metadata__` object (empty if absent).
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

  /// The raw little-endian bytes of tensor `name` (alignment: only what the file gives).
  std::span<const std::byte> bytes(std::string_view name) const {
    const auto& t = info(name);
    return {map_->data() + data_start_ + t.begin, t.nbytes()};
  }

  /// Whether `view_f32(name)` works: dtype F32 and the data 4-byte aligned in memory.
  bool is_zero_copy(std::string_view name) const {
    const auto& t = info(name);
    return t.type == dtype::f32 && (data_start_ + t.begin) % alignof(float) == 0;
  }

  /// Zero-copy view of an F32 tensor (row-major), valid while this object or a copy lives.
  /// @throws sinkcore::error if the dtype is not F32 or the data is not 4-byte aligned (use read_float).
  std::span<const float> view_f32(std::string_view name) const {
    const auto& t = info(name);
    if (t.type != dtype::f32)
      fail_tensor(t, "dtype " + std::string(dtype_name(t.type)) + " cannot be viewed as F32 without conversion (use read_float)");
    if ((data_start_ + t.begin) % alignof(float) != 0)
      fail_tensor(t, "data at file offset " + std::to_string(data_start_ + t.begin) +
                         " is not 4-byte aligned, so it cannot be viewed without a copy (use read_float)");
    if (t.nbytes() == 0) return {};
    return {reinterpret_cast<const float*>(map_->data() + data_start_ + t.begin), t.numel()};
  }

  /// Converts tensor `name` (F32, F16, BF16 or F64) to float, into `out` (size must equal numel).
  void read_float_into(std::string_view name, std::span<float> out) const {
    const auto& t = info(name);
    check_convertible(t);
    if (out.size() != t.numel())
      fail_tensor(t, "destination holds " + std::to_string(out.size()) + " floats, the tensor has " + std::to_string(t.numel()));
    detail::convert_to_float(t.type, map_->data() + data_start_ + t.begin, t.numel(), out.data());
  }

  /// Converts tensor `name` (F32, F16, BF16 or F64) to a flat row-major vector of float.
  std::vector<float> read_float(std::string_view name) const {
    const auto& t = info(name);
    check_convertible(t);
    std::vector<float> out(t.numel());
    detail::convert_to_float(t.type, map_->data() + data_start_ + t.begin, out.size(), out.data());
    return out;
  }

  /// Converts tensor `name` to an `xt::xtensor<float, Rank>`.
  /// @throws sinkcore::error if its rank is not `Rank` or its dtype does not convert.
  template <std::size_t Rank>
  xt::xtensor<float, Rank> read_tensor(std::string_view name) const {
    const auto& t = info(name);
    if (t.shape.size() != Rank)
      fail_tensor(t, "has rank " + std::to_string(t.shape.size()) + " (shape " + detail::shape_string(t.shape) +
                         "), expected rank " + std::to_string(Rank));
    check_convertible(t);
    std::array<std::size_t, Rank> shape{};
    std::copy(t.shape.begin(), t.shape.end(), shape.begin());
    xt::xtensor<float, Rank> out(shape);
    detail::convert_to_float(t.type, map_->data() + data_start_ + t.begin, t.numel(), out.data());
    return out;
  }

 private:
  safetensors_file() = default;

  [[noreturn]] void fail(const std::string& what) const { throw error(path_.string() + ": " + what); }
  [[noreturn]] void fail_tensor(const tensor_info& t, const std::string& what) const {
    fail("tensor '" + t.name + "': " + what);
  }
  void check_convertible(const tensor_info& t) const {
    if (!converts_to_float(t.type))
      fail_tensor(t, "dtype " + std::string(dtype_name(t.type)) + " cannot be converted to float (only F32, F16, BF16, F64)");
  }

  void parse_header() {
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

  tensor_info parse_entry(const std::string& name, const nlohmann::json& v, std::size_t buffer_size) const {
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

  std::filesystem::path path_;
  std::shared_ptr<const detail::mapped_file> map_;
  std::size_t data_start_ = 0;  ///< 8 + header length: file offset of the data buffer
  std::vector<tensor_info> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

/// One tensor to write: row-major float data of `shape` (numel floats at `data`, which may be null if 0).
struct named_tensor {
  std::string name;
  std::vector<std::size_t> shape;
  const float* data = nullptr;
};

/// Writes `tensors` to `path` in the safetensors format, atomically (see write_file_atomically), laid out in
/// the given order, stored as `stored` (F32, or F16/BF16 rounded to nearest even). The header is padded with
/// spaces to a multiple of 8 bytes, so F32 data is 4-byte aligned in the file.
/// @throws sinkcore::error naming the file for a duplicate, empty or reserved name, an unsupported stored
///         dtype, a null data pointer, or an I/O failure.
inline void write_safetensors(const std::filesystem::path& path, std::span<const named_tensor> tensors,
                              const std::map<std::string, std::string>& metadata = {}, dtype stored = dtype::f32) {
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

/// Convenience overload for a braced list: `write_safetensors(p, {{"w", {2, 3}, w.data()}})`.
inline void write_safetensors(const std::filesystem::path& path, std::initializer_list<named_tensor> tensors,
                              const std::map<std::string, std::string>& metadata = {}, dtype stored = dtype::f32) {
  write_safetensors(path, std::span<const named_tensor>(tensors.begin(), tensors.size()), metadata, stored);
}

}  // namespace sinkcore::io
