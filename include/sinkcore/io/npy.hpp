#pragma once
/// @file npy.hpp
/// NumPy `.npy` files: little-endian, C-order arrays of float32/float64/int32/int64/uint8/uint16.
///
/// Writer: format version 1.0 (2.0 only if the header exceeds 65535 bytes), header padded with spaces so
/// that the data starts at a multiple of 64 bytes; written atomically (see write_file_atomically).
/// Reader: versions 1.0, 2.0 and 3.0; validates the magic, version, the header dict (exactly the keys
/// `descr`, `fortran_order`, `shape`), the dtype against the requested type, C order, and the data size.
///
/// @code
/// std::vector<float> a(6);
/// sinkcore::io::write_npy("a.npy", {2, 3}, a.data());         // np.load("a.npy").shape == (2, 3)
/// auto back = sinkcore::io::read_npy<float>("a.npy");        // back.shape == {2, 3}
/// @endcode
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "sinkcore/error.hpp"
#include "sinkcore/io/atomic_file.hpp"

namespace sinkcore::io {

/// Element types `.npy` I/O supports.
template <class T>
concept npy_scalar = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int32_t> ||
                     std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::uint16_t>;

/// NumPy's dtype string for `T`, e.g. "<f4" for float.
template <npy_scalar T>
constexpr std::string_view npy_descr() noexcept {
  if constexpr (std::is_same_v<T, float>) return "<f4";
  else if constexpr (std::is_same_v<T, double>) return "<f8";
  else if constexpr (std::is_same_v<T, std::int32_t>) return "<i4";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "<i8";
  else if constexpr (std::is_same_v<T, std::uint8_t>) return "|u1";
  else return "<u2";
}

/// An array read from a `.npy` file: row-major `data` of `shape`.
template <class T>
struct npy_array {
  std::vector<std::size_t> shape;
  std::vector<T> data;
};

namespace detail {

inline constexpr std::string_view npy_magic{"\x93NUMPY", 6};

/// The whole preamble (magic, version, header length, dict, padding, newline) for `descr` and `shape`.
/// Example, float32 of shape (2, 3): "\x93NUMPY" 01 00 76 00 "{'descr': '<f4', 'fortran_order': False,
/// 'shape': (2, 3), }" + 58 spaces + "\n", 128 bytes in all.
inline std::string npy_preamble(std::string_view descr, std::span<const std::size_t> shape) {
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  if (shape.size() == 1) dict += ",";
  dict += "), }";
  // Version 1.0 has a 2-byte header length, 2.0 a 4-byte one.
  const bool v1 = dict.size() + 1 + 10 + 63 <= 65535;
  const std::size_t prefix = v1 ? 10 : 12;
  const std::size_t unpadded = prefix + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string out(npy_magic);
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  const std::uint32_t len = static_cast<std::uint32_t>(dict.size());
  for (std::size_t b = 0; b < (v1 ? 2u : 4u); ++b) out += static_cast<char>((len >> (8 * b)) & 0xFF);
  return out + dict;
}

/// A parser for the Python dict literal of a `.npy` header.
class npy_header_parser {
 public:
  npy_header_parser(std::string_view text, const std::filesystem::path& path) : s_(text), path_(path) {}

  struct result {
    std::string descr;
    bool fortran_order = false;
    std::vector<std::size_t> shape;
  };

  result parse() {
    result r;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        r.descr = parse_string();
        has_descr = true;
      } else if (key == "fortran_order") {
        r.fortran_order = parse_bool();
        has_order = true;
      } else if (key == "shape") {
        r.shape = parse_tuple();
        has_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}' at offset " + std::to_string(i_));
    }
    ++i_;
    skip_ws();
    if (i_ != s_.size()) fail("trailing characters after the dict");
    if (!has_descr || !has_order || !has_shape) fail("must have the keys 'descr', 'fortran_order' and 'shape'");
    return r;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw error(path_.string() + ": malformed .npy header: " + what + " (header: " + std::string(s_) + ")");
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(std::string("expected '") + c + "' at offset " + std::to_string(i_));
    ++i_;
  }
  std::string parse_string() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string at offset " + std::to_string(i_));
    const auto close = s_.find(q, i_ + 1);
    if (close == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(i_ + 1, close - i_ - 1));
    i_ = close + 1;
    return out;
  }
  bool parse_bool() {
    skip_ws();
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    fail("expected True or False at offset " + std::to_string(i_));
  }
  std::vector<std::size_t> parse_tuple() {
    expect('(');
    std::vector<std::size_t> dims;
    while (true) {
      skip_ws();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in the shape at offset " + std::to_string(i_));
      std::size_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(v, std::size_t{10}, &v) || __builtin_add_overflow(v, std::size_t(peek() - '0'), &v))
          fail("shape dimension overflows");
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in the shape at offset " + std::to_string(i_));
    }
    ++i_;
    return dims;
  }

  std::string_view s_;
  const std::filesystem::path& path_;
  std::size_t i_ = 0;
};

}  // namespace detail

/// Writes `numel(shape)` elements at `data` (row-major) as a `.npy` file, atomically.
/// @throws sinkcore::error naming the file on an I/O failure or a null `data` for a non-empty shape.
template <npy_scalar T>
void write_npy(const std::filesystem::path& path, std::span<const std::size_t> shape, const T* data) {
  std::size_t count = 1;
  for (auto d : shape)
    if (__builtin_mul_overflow(count, d, &count)) throw error(path.string() + ": array shape is too large");
  if (data == nullptr && count != 0) throw error(path.string() + ": data pointer is null");
  const std::string preamble = detail::npy_preamble(npy_descr<T>(), shape);
  write_file_atomically(path, [&](std::ostream& os) {
    os.write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
    if (count) os.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
  });
}

/// `write_npy(path, {2, 3}, ptr)`.
template <npy_scalar T>
void write_npy(const std::filesystem::path& path, std::initializer_list<std::size_t> shape, const T* data) {
  write_npy<T>(path, std::span<const std::size_t>(shape.begin(), shape.size()), data);
}

/// Writes an xtensor container (row-major) as a `.npy` file, atomically.
template <npy_scalar T, std::size_t N>
void write_npy(const std::filesystem::path& path, const xt::xtensor<T, N>& a) {
  const std::array<std::size_t, N> shape = [&] {
    std::array<std::size_t, N> s{};
    for (std::size_t i = 0; i < N; ++i) s[i] = a.shape()[i];
    return s;
  }();
  write_npy<T>(path, std::span<const std::size_t>(shape), a.data());
}

/// Reads a `.npy` file whose dtype is exactly `npy_descr<T>()` (no conversion) and in C order.
/// @throws sinkcore::error naming the file for a bad magic/version/header, another dtype, Fortran order,
///         or a data size that does not match the shape.
template <npy_scalar T>
npy_array<T> read_npy(const std::filesystem::path& path) {
  const auto fail = [&](const std::string& what) -> void { throw error(path.string() + ": " + what); };
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open for reading");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("read error");
  if (bytes.size() < 10 || std::string_view(bytes).substr(0, 6) != detail::npy_magic) fail("not a .npy file (bad magic)");
  const auto major = static_cast<unsigned char>(bytes[6]);
  const auto minor = static_cast<unsigned char>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    fail("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) fail("truncated header");
  std::size_t header_len = 0;
  for (std::size_t b = 0; b < len_bytes; ++b) header_len |= std::size_t(static_cast<unsigned char>(bytes[8 + b])) << (8 * b);
  const std::size_t data_start = 8 + len_bytes + header_len;
  if (data_start > bytes.size()) fail("header length " + std::to_string(header_len) + " exceeds the file size");
  const auto h = detail::npy_header_parser(std::string_view(bytes).substr(8 + len_bytes, header_len), path).parse();

  if (h.descr != npy_descr<T>()) {
    std::string hint;
    if (!h.descr.empty() && h.descr[0] == '>') hint = " (big-endian data is not supported)";
    fail("dtype '" + h.descr + "' does not match the requested '" + std::string(npy_descr<T>()) + "'" + hint);
  }
  if (h.fortran_order) fail("Fortran-order arrays are not supported");
  std::size_t count = 1;
  for (auto d : h.shape)
    if (__builtin_mul_overflow(count, d, &count)) fail("shape overflows");
  std::size_t nbytes = 0;
  if (__builtin_mul_overflow(count, sizeof(T), &nbytes)) fail("shape overflows");
  const std::size_t have = bytes.size() - data_start;
  if (have != nbytes)
    fail("data is " + std::to_string(have) + " bytes, the shape needs " + std::to_string(nbytes));

  npy_array<T> out;
  out.shape = h.shape;
  out.data.resize(count);
  if (nbytes) std::memcpy(out.data.data(), bytes.data() + data_start, nbytes);
  return out;
}

/// Reads a `.npy` file of rank `N` into an xtensor container.
template <npy_scalar T, std::size_t N>
xt::xtensor<T, N> read_npy_tensor(const std::filesystem::path& path) {
  auto a = read_npy<T>(path);
  if (a.shape.size() != N)
    throw error(path.string() + ": array has rank " + std::to_string(a.shape.size()) + ", expected " + std::to_string(N));
  std::array<std::size_t, N> shape{};
  std::copy(a.shape.begin(), a.shape.end(), shape.begin());
  xt::xtensor<T, N> t(shape);
  std::copy(a.data.begin(), a.data.end(), t.begin());
  return t;
}

}  // namespace sinkcore::io
