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

#include <nlohmann/json_fwd.hpp>
#include <xtensor/xtensor.hpp>

#include "sinkcore/config.hpp"
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

  SINKCORE_DECL void parse_header();  // impl/safetensors.ipp
  SINKCORE_DECL tensor_info parse_entry(const std::string& name, const nlohmann::json& v, std::size_t buffer_size) const;

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
SINKCORE_DECL void write_safetensors(const std::filesystem::path& path, std::span<const named_tensor> tensors,
                                     const std::map<std::string, std::string>& metadata = {}, dtype stored = dtype::f32);

/// Convenience overload for a braced list: `write_safetensors(p, {{"w", {2, 3}, w.data()}})`.
inline void write_safetensors(const std::filesystem::path& path, std::initializer_list<named_tensor> tensors,
                              const std::map<std::string, std::string>& metadata = {}, dtype stored = dtype::f32) {
  write_safetensors(path, std::span<const named_tensor>(tensors.begin(), tensors.size()), metadata, stored);
}

}  // namespace sinkcore::io

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "sinkcore/impl/safetensors.ipp"
#endif
