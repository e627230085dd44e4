// Tests of include/sinkcore/train: rng, data (corpus, .bin files, batch sampler), corpora, AdamW,
// gradient clipping, learning-rate schedule.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <omp.h>
#include "sinkcore/train/corpora.hpp"
#include "sinkcore/train/data.hpp"
#include "sinkcore/train/optimizer.hpp"
#include "sinkcore/train/rng.hpp"
#include "sinkcore/train/schedule.hpp"

namespace st = sinkcore::train;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

// A temporary directory removed at scope exit.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    st::rng r(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    path = std::filesystem::temp_directory_path() / ("sinkcore_test_train_" + std::to_string(r.next()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Tokens 1..255 from a seeded stream (no 0, the byte BOS id).
std::vector<st::token> random_tokens(std::size_t n, std::uint64_t seed, st::token lo = 1, st::token hi = 255) {
  st::rng r(seed);
  std::vector<st::token> t(n);
  for (auto& x : t) x = static_cast<st::token>(lo + r.below(hi - lo + 1u));
  return t;
}

bool have_fortunes() { return std::filesystem::is_directory("/usr/share/games/fortunes"); }

// ---- an independent checker for generated math lines: exact rational arithmetic ----
struct rat {
  long long n = 0, d = 1;
};
long long gcd_abs(long long a, long long b) { return std::gcd(a < 0 ? -a : a, b < 0 ? -b : b); }
rat norm(rat r) {
  if (r.d < 0) r = {-r.n, -r.d};
  const long long g = gcd_abs(r.n, r.d);
  return g > 1 ? rat{r.n / g, r.d / g} : r;
}
bool operator==(rat a, rat b) { return a.n * b.d == b.n * a.d; }

struct parser {
  std::string s;
  std::size_t i = 0;
  void ws() { while (i < s.size() && s[i] == ' ') ++i; }
  bool eat(char c) { ws(); if (i < s.size() && s[i] == c) { ++i; return true; } return false; }
  rat number() {
    ws();
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) throw std::runtime_error("number expected in '" + s + "'");
    long long v = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) v = v * 10 + (s[i++] - '0');
    return {v, 1};
  }
  rat primary() {
    ws();
    if (s.compare(i, 4, "gcd(") == 0) {
      i += 4;
      const rat a = expr();
      if (!eat(',')) throw std::runtime_error("',' expected");
      const rat b = expr();
      if (!eat(')')) throw std::runtime_error("')' expected");
      return {gcd_abs(a.n, b.n), 1};
    }
    if (eat('(')) {
      const rat r = expr();
      if (!eat(')')) throw std::runtime_error("')' expected in '" + s + "'");
      return r;
    }
    return number();
  }
  rat factor() {
    if (eat('-')) { rat r = factor(); return {-r.n, r.d}; }
    rat b = primary();
    if (eat('^')) {
      const rat e = primary();
      rat r{1, 1};
      for (long long k = 0; k < e.n; ++k) r = {r.n * b.n, 1};
      return r;
    }
    return b;
  }
  rat term() {
    rat r = factor();
    for (;;) {
      if (eat('*')) { const rat f = factor(); r = norm({r.n * f.n, r.d * f.d}); }
      else if (eat('/')) { const rat f = factor(); r = norm({r.n * f.d, r.d * f.n}); }
      else return r;
    }
  }
  rat expr() {
    rat r = term();
    for (;;) {
      if (eat('+')) { const rat t = term(); r = norm({r.n * t.d + t.n * r.d, r.d * t.d}); }
      else if (eat('-')) { const rat t = term(); r = norm({r.n * t.d - t.n * r.d, r.d * t.d}); }
      else return r;
    }
  }
  rat all() {
    const rat r = expr();
    ws();
    if (i != s.size()) throw std::runtime_error("trailing text in '" + s + "'");
    return r;
  }
};
rat eval(const std::string& s) { return parser{s}.all(); }

// Checks one generated line; returns its kind, throws on a wrong or unparseable line.
std::string check_math_line(const std::string& line) {
  if (line.rfind("compare ", 0) == 0) {
    long long a = 0, b = 0, c = 0, d = 0;
    char rel = 0;
    std::istringstream in(line.substr(8));
    std::string and_word, colon_b;
    in >> a >> and_word >> colon_b >> c >> rel >> d;
    b = std::stoll(colon_b);
    if (and_word != "and" || a != c || b != d) throw std::runtime_error("bad compare line '" + line + "'");
    if ((rel == '<') != (a < b) || (rel == '>') != (a > b) || (rel == '=') != (a == b))
      throw std::runtime_error("wrong comparison '" + line + "'");
    return "compare";
  }
  if (line.rfind("solve ", 0) == 0) {
    const auto colon = line.find(": x = ");
    const std::string eq = line.substr(6, colon - 6);
    const long long x = std::stoll(line.substr(colon + 6));
    const auto eqpos = eq.find(" = ");
    std::string lhs = eq.substr(0, eqpos);
    const auto xpos = lhs.find('x');
    lhs.replace(xpos, 1, " * (" + std::to_string(x) + ")");
    if (!(eval(lhs) == eval(eq.substr(eqpos + 3)))) throw std::runtime_error("wrong solution '" + line + "'");
    return "solve";
  }
  const auto eqpos = line.find(" = ");
  if (eqpos == std::string::npos) throw std::runtime_error("no ' = ' in '" + line + "'");
  const std::string lhs = line.substr(0, eqpos), rhs = line.substr(eqpos + 3);
  if (rhs.find(" remainder ") != std::string::npos) {
    long long a = 0, b = 0, q = 0, r = 0;
    char slash = 0;
    std::string word;
    std::istringstream(lhs) >> a >> slash >> b;
    std::istringstream(rhs) >> q >> word >> r;
    if (a != q * b + r || r < 0 || r >= b) throw std::runtime_error("wrong division '" + line + "'");
    return "remainder";
  }
  const rat result = eval(rhs);
  if (!(eval(lhs) == result)) throw std::runtime_error("wrong result '" + line + "'");
  if (const auto slash = rhs.find('/'); slash != std::string::npos &&
                                        gcd_abs(std::stoll(rhs.substr(0, slash)), std::stoll(rhs.substr(slash + 1))) != 1)
    throw std::runtime_error("unreduced fraction '" + line + "'");
  if (lhs.find("gcd") != std::string::npos) return "gcd";
  if (lhs.find('^') != std::string::npos) return "power";
  if (lhs.find('(') != std::string::npos) return "parentheses";
  if (lhs.find('/') != std::string::npos) return "fraction";
  return "arithmetic";
}

}  // namespace

// ================================ rng ================================

TEST_CASE("rng: xoshiro256** and splitmix64 match the reference algorithms", "[train][rng]") {
  // Values from an independent Python transcription of splitmix64.c and xoshiro256starstar.c.
  std::uint64_t x = 0;
  CHECK(st::splitmix64(x) == 0xe220a8397b1dcdafULL);
  st::rng r0(0);
  CHECK(r0.state()[0] == 0xe220a8397b1dcdafULL);
  CHECK(r0.state()[3] == 0xf88bb8a8724c81ecULL);
  st::rng r(42);
  CHECK(r.next() == 0x15780b2e0c2ec716ULL);
  CHECK(r.next() == 0x6104d9866d113a7eULL);
  CHECK(r.next() == 0xae17533239e499a1ULL);
}

TEST_CASE("rng: determinism, save and restore", "[train][rng]") {
  st::rng a(7), b(7), c(8);
  std::vector<std::uint64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) { va.push_back(a.next()); vb.push_back(b.next()); vc.push_back(c.next()); }
  CHECK(va == vb);
  CHECK(va != vc);

  const auto saved = a.state();
  std::vector<float> first;
  for (int i = 0; i < 50; ++i) first.push_back(i % 3 == 0 ? a.normal() : (i % 3 == 1 ? a.uniform() : float(a.below(1000))));
  st::rng other(12345);
  other.set_state(saved);
  for (int i = 0; i < 50; ++i)
    CHECK(first[i] == (i % 3 == 0 ? other.normal() : (i % 3 == 1 ? other.uniform() : float(other.below(1000)))));

  const std::string text = a.to_string();
  st::rng back = st::rng::from_string(text);
  CHECK(back.state() == a.state());
  CHECK(back.next() == a.next());
  CHECK_THROWS_AS(st::rng::from_string("xoshiro256**:zz"), sinkcore::error);
  CHECK_THROWS_AS(other.set_state({0, 0, 0, 0}), sinkcore::error);
}

TEST_CASE("rng: below() is in range and unbiased", "[train][rng]") {
  st::rng r(3);
  // n = 3 has a 2-bit mask (4 values): masking without rejection (folding 3 onto 0) is visibly biased.
  for (std::uint64_t n : {1ULL, 2ULL, 3ULL, 7ULL, 1000ULL}) {
    const int draws = 60000;
    std::vector<int> count(n, 0);
    for (int i = 0; i < draws; ++i) {
      const auto v = r.below(n);
      REQUIRE(v < n);
      ++count[v];
    }
    const double expected = double(draws) / double(n);
    if (n <= 7)
      for (auto c : count) CHECK_THAT(double(c), WithinRel(expected, 0.05));
  }
  // Large n near 2^63 + 1: the rejection loop still terminates and stays in range.
  const std::uint64_t big = (1ULL << 63) + 1;
  for (int i = 0; i < 100; ++i) CHECK(r.below(big) < big);
}

TEST_CASE("rng: uniform and normal distributions", "[train][rng]") {
  st::rng r(11);
  double s = 0, s2 = 0, u_sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float u = r.uniform();
    REQUIRE(u >= 0.f);
    REQUIRE(u < 1.f);
    u_sum += u;
  }
  CHECK_THAT(u_sum / n, WithinAbs(0.5, 0.005));
  std::vector<float> z(n);
  r.fill_normal(z.data(), n, 0.f, 1.f);
  int beyond2 = 0;
  for (float v : z) { s += v; s2 += double(v) * v; beyond2 += std::abs(v) > 2.f; }
  CHECK_THAT(s / n, WithinAbs(0.0, 0.01));
  CHECK_THAT(s2 / n, WithinAbs(1.0, 0.015));
  CHECK_THAT(double(beyond2) / n, WithinAbs(0.0455, 0.003));  // P(|z| > 2) = 0.0455

  // Golden value: Box-Muller on the first two draws of seed 42, computed in Python with math.log/cos/sin.
  st::rng g(42);
  double z0 = 0, z1 = 0;
  g.normal_pair(z0, z1);
  CHECK_THAT(z0, WithinAbs(-0.303263064678738, 1e-14));
  CHECK_THAT(z1, WithinAbs(0.28846173882942383, 1e-14));
  st::rng g2(42);
  CHECK(g2.normal() == static_cast<float>(z0));
}

TEST_CASE("rng: portable log and sin/cos agree with the C library", "[train][rng]") {
  st::rng r(5);
  for (int i = 0; i < 20000; ++i) {
    const double u = 1.0 - r.uniform_double();
    CHECK_THAT(st::detail::portable_log(u), WithinAbs(std::log(u), 2e-15 * std::max(1.0, std::abs(std::log(u)))));
    const double w = r.uniform_double();
    double c = 0, s = 0;
    st::detail::portable_cos_sin_2pi(w, c, s);
    CHECK_THAT(c, WithinAbs(std::cos(2 * std::numbers::pi * w), 1e-15));
    CHECK_THAT(s, WithinAbs(std::sin(2 * std::numbers::pi * w), 1e-15));
  }
  CHECK(st::detail::portable_log(1.0) == 0.0);
  CHECK_THAT(st::detail::portable_log(0x1.0p-53), WithinRel(-53 * std::log(2.0), 1e-15));
}

// ================================ data ================================

TEST_CASE("sampler: windows are substrings with targets shifted by one, deterministic per seed", "[train][data]") {
  const auto tokens = random_tokens(5000, 1);
  st::sampler_options opt{.batch_size = 6, .context = 32, .seed = 9};
  st::batch_sampler a(tokens, opt), b(tokens, opt);
  opt.seed = 10;
  st::batch_sampler c(tokens, opt);
  CHECK(a.window_count() == 5000 - 33 + 1);
  bool differs = false;
  for (int step = 0; step < 20; ++step) {
    const st::batch x = a.next(), y = b.next(), z = c.next();
    REQUIRE(x.inputs.size() == 6 * 32);
    REQUIRE(x.targets.size() == 6 * 32);
    CHECK(x.inputs == y.inputs);
    CHECK(x.targets == y.targets);
    differs |= x.starts != z.starts;
    for (std::size_t bi = 0; bi < 6; ++bi) {
      const std::size_t s = x.starts[bi];
      REQUIRE(s + 33 <= tokens.size());
      for (std::size_t t = 0; t < 32; ++t) {
        REQUIRE(x.input_row(bi)[t] == tokens[s + t]);
        REQUIRE(x.target_row(bi)[t] == tokens[s + t + 1]);
      }
    }
  }
  CHECK(differs);
  CHECK(a.step() == 20);
}

TEST_CASE("sampler: every start is reachable, including the last", "[train][data]") {
  const auto tokens = random_tokens(12, 2);
  for (bool bos : {false, true}) {
    st::sampler_options opt{.batch_size = 4, .context = 8, .seed = 1};
    if (bos) opt.bos = st::byte_bos;
    st::batch_sampler s(tokens, opt);
    const std::size_t n_starts = bos ? 12 - 8 + 1 : 12 - 9 + 1;
    CHECK(s.window_count() == n_starts);
    std::set<std::size_t> seen;
    for (int i = 0; i < 100; ++i)
      for (auto v : s.next().starts) seen.insert(v);
    CHECK(seen.size() == n_starts);
    CHECK(*seen.rbegin() == n_starts - 1);
  }
  CHECK_THROWS_AS(st::batch_sampler(tokens, {.batch_size = 1, .context = 12}), sinkcore::error);
  CHECK_NOTHROW(st::batch_sampler(tokens, {.batch_size = 1, .context = 12, .seed = 0, .bos = st::byte_bos}));
}

TEST_CASE("sampler: resume from a saved state reproduces the batches", "[train][data]") {
  const auto tokens = random_tokens(3000, 3);
  st::batch_sampler a(tokens, {.batch_size = 4, .context = 16, .seed = 77});
  for (int i = 0; i < 3; ++i) a.next();
  const st::sampler_state saved = a.state();
  CHECK(saved.step == 3);
  std::vector<st::batch> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(a.next());

  st::batch_sampler b(tokens, {.batch_size = 4, .context = 16, .seed = 1});
  b.set_state(st::sampler_state::from_string(saved.to_string()));
  CHECK(b.state() == saved);
  st::batch got;
  for (int i = 0; i < 5; ++i) {
    b.next(got);
    CHECK(got.inputs == expected[i].inputs);
    CHECK(got.targets == expected[i].targets);
  }
  CHECK(b.step() == 8);
  CHECK_THROWS_AS(st::sampler_state::from_string("step=x;rng=1"), sinkcore::error);
}

TEST_CASE("sampler: held-out windows never come from the train split", "[train][data]") {
  // Train tokens are 1..127, held-out tokens 128..255: any leak shows as a token of the other range.
  st::corpus c;
  c.train = random_tokens(4000, 4, 1, 127);
  c.held_out = random_tokens(500, 5, 128, 255);
  st::batch_sampler h(st::tokens_of(c, st::split::held_out), {.batch_size = 8, .context = 64, .seed = 3});
  st::batch_sampler t(st::tokens_of(c, st::split::train), {.batch_size = 8, .context = 64, .seed = 3});
  for (int i = 0; i < 50; ++i) {
    const auto hb = h.next(), tb = t.next();
    CHECK(std::all_of(hb.inputs.begin(), hb.inputs.end(), [](auto v) { return v >= 128; }));
    CHECK(std::all_of(hb.targets.begin(), hb.targets.end(), [](auto v) { return v >= 128; }));
    CHECK(std::all_of(tb.targets.begin(), tb.targets.end(), [](auto v) { return v < 128; }));
  }
  // split_tail puts exactly the last 5% in held_out, disjoint from train.
  const auto all = random_tokens(1000, 6);
  const st::corpus s = st::split_tail("x", all, 256, 0.05);
  CHECK(s.held_out.size() == 50);
  CHECK(s.train.size() == 950);
  CHECK(std::equal(s.held_out.begin(), s.held_out.end(), all.begin() + 950));
}

TEST_CASE("sampler: BOS regime", "[train][data]") {
  const auto tokens = random_tokens(2000, 7);
  st::batch_sampler s(tokens, {.batch_size = 5, .context = 20, .seed = 4, .bos = st::byte_bos});
  for (int i = 0; i < 20; ++i) {
    const auto b = s.next();
    for (std::size_t bi = 0; bi < 5; ++bi) {
      const std::size_t p = b.starts[bi];
      REQUIRE(p + 20 <= tokens.size());
      CHECK(b.input_row(bi)[0] == st::byte_bos);
      for (std::size_t t = 1; t < 20; ++t) REQUIRE(b.input_row(bi)[t] == tokens[p + t - 1]);
      for (std::size_t t = 0; t < 20; ++t) REQUIRE(b.target_row(bi)[t] == tokens[p + t]);
    }
  }
  // A configurable id, e.g. GPT-2's <|endoftext|>.
  st::batch_sampler g(tokens, {.batch_size = 2, .context = 4, .seed = 4, .bos = st::gpt2_bos});
  CHECK(g.next().inputs[0] == 50256);
}

TEST_CASE(".bin token files: round trip, byte order and errors", "[train][data]") {
  temp_dir dir;
  const std::vector<st::token> ids = {0, 1, 255, 256, 50256, 513};
  st::write_token_file(dir.path / "a.bin", ids);
  CHECK(st::read_token_file(dir.path / "a.bin") == ids);

  write_bytes(dir.path / "le.bin", std::string("\x01\x02\xff\x00", 4));
  CHECK(st::read_token_file(dir.path / "le.bin", 65536) == std::vector<st::token>{0x0201, 0x00ff});

  write_bytes(dir.path / "odd.bin", std::string("\x01\x02\x03", 3));
  CHECK_THROWS_WITH(st::read_token_file(dir.path / "odd.bin"), Contains("odd.bin") && Contains("odd"));

  st::write_token_file(dir.path / "big.bin", std::vector<st::token>{5, 50300, 7});
  CHECK_THROWS_WITH(st::read_token_file(dir.path / "big.bin"),
                    Contains("big.bin") && Contains("50300") && Contains("index 1") && Contains("50257"));
  CHECK_THROWS_WITH(st::read_token_file(dir.path / "big.bin", 256), Contains("50300"));
  CHECK(st::read_token_file(dir.path / "big.bin", 65536).size() == 3);

  write_bytes(dir.path / "empty.bin", "");
  CHECK_THROWS_WITH(st::read_token_file(dir.path / "empty.bin"), Contains("empty.bin") && Contains("empty"));
  CHECK_THROWS_WITH(st::read_token_file(dir.path / "missing.bin"), Contains("missing.bin"));

  // load_corpus: a .bin path is a token file, last 5% held out; train.bin + val.bin is nanoGPT's layout.
  std::vector<st::token> many(2000);
  std::iota(many.begin(), many.end(), st::token{0});
  st::write_token_file(dir.path / "many.bin", many);
  const auto c = st::load_corpus((dir.path / "many.bin").string());
  CHECK(c.vocab_size == 50257);
  CHECK(c.train.size() == 1900);
  CHECK(c.held_out.size() == 100);
  CHECK(c.held_out.front() == 1900);

  st::write_token_file(dir.path / "train.bin", std::vector<st::token>(100, 3));
  st::write_token_file(dir.path / "val.bin", std::vector<st::token>(10, 4));
  const auto n = st::load_corpus((dir.path / "train.bin").string());
  CHECK(n.train == std::vector<st::token>(100, 3));
  CHECK(n.held_out == std::vector<st::token>(10, 4));

  write_bytes(dir.path / "t.txt", std::string(1000, 'a') + std::string(100, 'b'));
  const auto t = st::load_corpus((dir.path / "t.txt").string());
  CHECK(t.vocab_size == 256);
  CHECK(t.held_out.size() == 55);
  CHECK(t.train.size() == 1045);
  CHECK_THROWS_WITH(st::load_corpus((dir.path / "nope.txt").string()), Contains("nope.txt"));
}

// ================================ corpora ================================

TEST_CASE("corpora: math lines are arithmetically correct and deterministic", "[train][corpora]") {
  const auto docs = st::math_documents(200000, 1);
  CHECK(docs == st::math_documents(200000, 1));
  CHECK(docs != st::math_documents(200000, 2));
  std::size_t bytes = 0, lines = 0;
  std::map<std::string, int> kinds;
  for (const auto& d : docs) {
    REQUIRE(d.size() <= 2048);
    bytes += d.size();
    std::istringstream in(d);
    std::string line;
    while (std::getline(in, line)) {
      ++lines;
      std::string kind;
      REQUIRE_NOTHROW(kind = check_math_line(line));
      ++kinds[kind];
    }
  }
  CHECK(bytes >= 200000);
  CHECK(bytes < 200000 + 2048);
  CHECK(lines > 5000);
  for (const char* k : {"compare", "solve", "remainder", "gcd", "power", "parentheses", "fraction", "arithmetic"})
    CHECK(kinds[k] > 50);
  // The checker is able to fail.
  CHECK_THROWS(check_math_line("17 + 25 = 43"));
  CHECK_THROWS(check_math_line("solve 2x + 3 = 11: x = 5"));
  CHECK_THROWS(check_math_line("1/2 + 1/3 = 10/12"));
  CHECK_THROWS(check_math_line("47 / 5 = 8 remainder 7"));
  CHECK_THROWS(check_math_line("compare 3 and 4: 3 > 4"));
  CHECK(check_math_line("3 * (4 - 9) = -15") == "parentheses");
  CHECK(check_math_line("20 - 3 * 4 = 8") == "arithmetic");

  st::corpus_options opt;
  opt.math_bytes = 300000;
  const auto c = st::load_corpus("math", opt);
  const double held = double(c.held_out.size()) / double(c.size());
  CHECK_THAT(held, WithinAbs(0.05, 0.01));
  CHECK(std::find(c.train.begin(), c.train.end(), st::byte_bos) == c.train.end());
}

TEST_CASE("corpora: nl from the fortunes package", "[train][corpora]") {
  if (!have_fortunes()) {
    WARN("skipped: /usr/share/games/fortunes is missing (apt-get install fortunes)");
    return;
  }
  const auto c = st::load_corpus("nl");
  CHECK(c.vocab_size == 256);
  CHECK(c.train.size() > 1000000);
  CHECK_THAT(double(c.held_out.size()) / double(c.size()), WithinAbs(0.05, 0.015));
  for (const auto* split : {&c.train, &c.held_out})
    CHECK(std::find(split->begin(), split->end(), st::byte_bos) == split->end());
  const std::string text(c.train.begin(), c.train.end());
  CHECK(text.find("\n%\n") == std::string::npos);
  CHECK(text.rfind("%\n", 0) != 0);
  const auto again = st::load_corpus("nl");
  CHECK(again.train == c.train);
  CHECK(again.held_out == c.held_out);
}

TEST_CASE("corpora: missing fortunes directory names the package", "[train][corpora]") {
  st::corpus_options opt;
  opt.fortunes_dir = "/nonexistent/fortunes";
  CHECK_THROWS_WITH(st::load_corpus("nl", opt), Contains("/nonexistent/fortunes") && Contains("apt-get install fortunes"));
  opt.code_roots = {"/nonexistent/include"};
  CHECK_THROWS_WITH(st::load_corpus("code", opt), Contains("/nonexistent/include"));
  CHECK_THROWS_WITH(st::load_corpus("no-such-corpus"), Contains("no-such-corpus"));
}

TEST_CASE("corpora: code from C/C++ headers", "[train][corpora]") {
  st::corpus_options opt;
  opt.code_max_bytes = std::size_t{2} << 20;
  const auto c = st::load_corpus("code", opt);
  CHECK(c.size() <= opt.code_max_bytes + 2 * 20000);  // + separators (<= 2 per file)
  CHECK(c.size() > opt.code_max_bytes / 2);
  const std::string text(c.train.begin(), c.train.end());
  CHECK(st::detail::is_utf8_text(text));  // also: no NUL
  CHECK(text.find("#define") != std::string::npos);
  const auto again = st::load_corpus("code", opt);
  CHECK(again.train == c.train);
  CHECK(again.held_out == c.held_out);
  CHECK(!st::detail::is_utf8_text(std::string("\xc0\xaf", 2)));  // overlong '/'
  CHECK(!st::detail::is_utf8_text(std::string("a\0b", 3)));
  CHECK(st::detail::is_utf8_text("caf\xc3\xa9 \xe2\x82\xac"));
}

TEST_CASE("corpora: mix interleaves ~2 KB single-domain chunks without leaking held-out text", "[train][corpora]") {
  if (!have_fortunes()) {
    WARN("skipped: /usr/share/games/fortunes is missing (apt-get install fortunes)");
    return;
  }
  st::corpus_options opt;
  opt.code_max_bytes = std::size_t{2} << 20;
  opt.math_bytes = std::size_t{1} << 20;
  const auto docs = st::mix_documents(opt);
  REQUIRE(docs.train.size() >= 300);
  REQUIRE(docs.held_out.size() >= 15);
  for (const auto& d : docs.train) REQUIRE(d.size() <= 2048);
  // Round-robin order nl, code, math: math chunks start with a digit, "solve", "compare", "gcd" or "(".
  for (std::size_t i = 2; i < 300; i += 3) {
    const char ch = docs.train[i][0];
    CHECK((std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' || ch == '(' || ch == 's' || ch == 'c' || ch == 'g'));
  }
  const auto mix = st::load_corpus("mix", opt);
  const auto math = st::load_corpus("math", opt);
  const std::string mix_train(mix.train.begin(), mix.train.end());
  const std::string math_held(math.held_out.begin(), math.held_out.end());
  const std::string& math_chunk = docs.held_out[2];
  CHECK(math_held.find(math_chunk) != std::string::npos);
  CHECK(mix_train.find(math_chunk) == std::string::npos);
  CHECK(std::find(mix.train.begin(), mix.train.end(), st::byte_bos) == mix.train.end());
}

TEST_CASE("corpora: the controls have the structure they promise", "[train][corpora]") {
  // recall: four distinct keys with two-digit values; the two queries are different keys with their values.
  std::size_t recall_lines = 0;
  for (const auto& d : st::recall_documents(100000, 3)) {
    std::istringstream in(d);
    std::string line;
    while (std::getline(in, line)) {
      ++recall_lines;
      REQUIRE(line.size() == 30);
      std::map<char, std::string> value;
      for (int i = 0; i < 4; ++i) {
        const std::string item = line.substr(std::size_t(5 * i), 4);
        REQUIRE(std::islower(static_cast<unsigned char>(item[0])));
        REQUIRE(item[1] == ':');
        REQUIRE((std::isdigit(static_cast<unsigned char>(item[2])) && std::isdigit(static_cast<unsigned char>(item[3]))));
        REQUIRE(value.emplace(item[0], item.substr(2)).second);  // distinct keys
      }
      REQUIRE(line[19] == ';');
      const std::string q1 = line.substr(21, 4), q2 = line.substr(26, 4);
      REQUIRE(q1[0] != q2[0]);
      for (const auto& q : {q1, q2}) {
        REQUIRE(q[1] == '=');
        REQUIRE(value.count(q[0]) == 1);
        REQUIRE(value.at(q[0]) == q.substr(2));  // the answer is the key's earlier value
      }
    }
  }
  CHECK(recall_lines > 3000);
  // unigram: letters only, frequencies falling with the rank (Zipf: 'e' about twice 't', 13 x 'n'... 'z').
  std::map<char, double> freq;
  double letters = 0;
  for (const auto& d : st::unigram_documents(200000, 1))
    for (const char ch : d) {
      if (ch == '\n') continue;
      REQUIRE(std::islower(static_cast<unsigned char>(ch)));
      ++freq[ch];
      ++letters;
    }
  CHECK_THAT(freq['e'] / freq['t'], WithinAbs(2.0, 0.1));
  CHECK_THAT(freq['e'] / freq['z'], WithinAbs(26.0, 3.0));
  // backcopy: after every trigger comes the byte before it; elsewhere the byte is one of the three successors.
  const st::backcopy_chain chain(5);
  std::size_t triggers = 0, steps = 0;
  const auto check_backcopy = [&](const std::string& text) {
    for (std::size_t i = 1; i < text.size(); ++i) {
      if (st::backcopy_chain::triggers.find(text[i]) != std::string_view::npos) {
        ++triggers;
        REQUIRE(i + 1 < text.size());
        REQUIRE(text[i + 1] == text[i - 1]);
        ++i;
        continue;
      }
      ++steps;
      const auto& next = chain.next[st::backcopy_chain::symbols.find(text[i - 1])];
      REQUIRE(std::find(next.begin(), next.end(), text[i]) != next.end());
    }
  };
  for (const auto& d : st::backcopy_documents(100000, 5)) {
    std::istringstream in(d);
    std::string line;
    while (std::getline(in, line)) {
      REQUIRE(line.size() == 64);
      check_backcopy(line);
    }
  }
  CHECK_THAT(double(triggers) / double(triggers + steps), WithinAbs(1.0 / 16, 0.01));
  // backcopy-stream: the same chain and triggers with no line break at all, in documents of 4 x 2048 bytes.
  triggers = steps = 0;
  const auto stream = st::backcopy_stream_documents(100000, 5);
  REQUIRE(stream.size() == 13);
  std::size_t stream_bytes = 0;
  for (std::size_t k = 0; k < stream.size(); ++k) {
    CHECK(stream[k].size() == (k + 1 < stream.size() ? std::size_t{8192} : std::size_t{100000 - 12 * 8192}));
    CHECK(stream[k].find('\n') == std::string::npos);
    check_backcopy(stream[k]);
    stream_bytes += stream[k].size();
  }
  CHECK(stream_bytes == 100000);
  CHECK_THAT(double(triggers) / double(triggers + steps), WithinAbs(1.0 / 16, 0.01));
  CHECK(st::recall_documents(50000, 1) == st::recall_documents(50000, 1));
  CHECK(st::recall_documents(50000, 1) != st::recall_documents(50000, 2));
  CHECK(st::backcopy_documents(50000, 1) != st::backcopy_documents(50000, 2));
  const st::corpus_options small = [] {
    st::corpus_options o;
    o.control_bytes = 200000;
    return o;
  }();
  for (const char* name : {"recall", "unigram", "backcopy", "backcopy-stream"}) {
    const auto c = st::load_corpus(name, small);
    CHECK(c.name == name);
    CHECK_THAT(double(c.held_out.size()) / double(c.size()), WithinAbs(0.05, 0.01));
    CHECK(std::find(c.train.begin(), c.train.end(), st::byte_bos) == c.train.end());
  }
}

TEST_CASE("corpora: mixtures a+b+... interleave the listed domains in their shares", "[train][corpora]") {
  st::corpus_options opt;
  opt.math_bytes = std::size_t{1} << 20;
  opt.control_bytes = std::size_t{1} << 20;
  const auto kind = [](std::string chunk) {
    chunk.erase(0, chunk.find_first_not_of('\n'));  // a chunk may start with the blank line between documents
    if (chunk.size() > 20 && chunk[1] == ':' && chunk[19] == ';') return 'r';                  // recall
    if (chunk.find_first_not_of("abcdefghijklmnopqrstuvwxyz\n") == std::string::npos) return 'u';  // unigram
    return 'm';                                                                               // math
  };
  const auto docs = st::mixed_documents({"math", "recall", "recall", "unigram"}, opt);
  REQUIRE(docs.train.size() >= 400);
  REQUIRE(docs.held_out.size() >= 20);
  for (std::size_t i = 0; i < docs.train.size(); ++i) {
    INFO("chunk " << i);
    REQUIRE(kind(docs.train[i]) == "mrru"[i % 4]);
  }
  // Each domain's chunks are used once, in order; held-out chunks stay held out.
  const auto recall = st::load_corpus("recall", opt);
  const std::string recall_held(recall.held_out.begin(), recall.held_out.end());
  const auto mixture = st::load_corpus("math+recall+recall+unigram", opt);
  CHECK(mixture.name == "math+recall+recall+unigram");
  const std::string mixture_train(mixture.train.begin(), mixture.train.end());
  CHECK(recall_held.find(docs.held_out[1]) != std::string::npos);
  CHECK(mixture_train.find(docs.held_out[1]) == std::string::npos);
  CHECK(docs.train[1] != docs.train[2]);
  CHECK_THROWS_WITH(st::load_corpus("math+nope", opt), Contains("'nope' is not a domain"));
  CHECK_THROWS_WITH(st::load_corpus("math+", opt), Contains("math+"));
  if (!have_fortunes()) {
    WARN("skipped the mix+recall part: /usr/share/games/fortunes is missing (apt-get install fortunes)");
    return;
  }
  // `mix` inside a mixture stands for nl+code+math; plain mix is nl+code+math.
  opt.code_max_bytes = std::size_t{1} << 20;
  const auto mix = st::mix_documents(opt);
  const auto same = st::mixed_documents({"nl", "code", "math"}, opt);
  CHECK(mix.train == same.train);
  const auto mr = st::mixed_documents({"nl", "code", "math", "recall"}, opt);
  CHECK(st::load_corpus("mix+recall", opt).train.size() == st::load_corpus("nl+code+math+recall", opt).train.size());
  for (std::size_t i = 3; i < 200; i += 4) REQUIRE(kind(mr.train[i]) == 'r');
}

// ================================ optimizer ================================

namespace {

// Scalar double AdamW reference (Loshchilov & Hutter 2019, Algorithm 2; torch.optim.AdamW).
struct adamw_reference {
  std::vector<double> p, m, v;
  std::vector<st::param_range> ranges;
  double b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
  int t = 0;
  void step(const std::vector<float>& g, double lr) {
    ++t;
    for (const auto& r : ranges) {
      if (!r.trainable) continue;
      for (std::size_t i = r.offset; i < r.offset + r.size; ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * double(g[i]) * g[i];
        const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
        if (r.decay) p[i] -= lr * wd * p[i];
        p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
      }
    }
  }
};

template <class Arch>
void check_adamw_against_reference(std::size_t scale) {
  // decayed | not decayed | frozen | gap (in no range) | decayed, sizes not multiples of the SIMD width.
  const std::vector<st::param_range> ranges = {{0, 37 * scale, true, true},
                                               {37 * scale, 50 * scale, true, false},
                                               {87 * scale, 13 * scale, false, true},
                                               {105 * scale, 40 * scale + 3, true, true}};
  const std::size_t n = 145 * scale + 3;
  st::rng r(21);
  std::vector<float> p(n), g(n);
  r.fill_normal(p.data(), n, 0.f, 0.5f);
  const std::vector<float> p0 = p;
  adamw_reference ref{{p.begin(), p.end()}, std::vector<double>(n), std::vector<double>(n), ranges};
  st::adamw<Arch> opt(n, ranges, {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f});
  const st::cosine_schedule lr{.max_lr = 1e-2f, .warmup_steps = 2, .total_steps = 6};
  for (int step = 0; step < 6; ++step) {
    r.fill_normal(g.data(), n, 0.f, step % 2 ? 1e-3f : 1.f);  // magnitudes change: bias correction matters
    opt.step(p.data(), g.data(), lr(step));
    ref.step(g, lr(step));
    if (step == 0) {
      // First step: m_hat / sqrt(v_hat) = |g|, so non-decayed params move by lr(0) g / (|g| + eps) ~ lr(0) sign(g).
      for (std::size_t i = 37 * scale; i < 87 * scale; ++i) {
        INFO("i = " << i << ", g = " << g[i] << ", p0 = " << p0[i]);
        REQUIRE_THAT(double(p0[i] - p[i]), WithinAbs(lr(0) * g[i] / (std::abs(double(g[i])) + 1e-8), 1e-6));
      }
    }
  }
  CHECK(opt.step_count() == 6);
  std::size_t checked = 0;
  for (const auto& rg : ranges)
    for (std::size_t i = rg.offset; i < rg.offset + rg.size; ++i) {
      if (rg.trainable) {
        REQUIRE_THAT(double(p[i]), WithinAbs(ref.p[i], 2e-6 + 1e-5 * std::abs(ref.p[i])));
        REQUIRE_THAT(double(opt.m()[i]), WithinAbs(ref.m[i], 1e-6 + 1e-5 * std::abs(ref.m[i])));
        REQUIRE_THAT(double(opt.v()[i]), WithinAbs(ref.v[i], 1e-9 + 1e-5 * std::abs(ref.v[i])));
        ++checked;
      } else {
        REQUIRE(p[i] == p0[i]);  // frozen: bit-identical
      }
    }
  CHECK(checked == (37 + 50 + 40) * scale + 3);
  for (std::size_t i = 100 * scale; i < 105 * scale; ++i) REQUIRE(p[i] == p0[i]);  // gap untouched
}

}  // namespace

TEST_CASE("adamw: matches a scalar double reference (decay mask, frozen range, bias correction)", "[train][optimizer]") {
  SECTION("default arch, small") { check_adamw_against_reference<xsimd::default_arch>(1); }
  SECTION("default arch, several OpenMP chunks") { check_adamw_against_reference<xsimd::default_arch>(1000); }
  SECTION("sse2") { check_adamw_against_reference<xsimd::sse2>(3); }
}

TEST_CASE("adamw: decay only on decayed ranges", "[train][optimizer]") {
  // Zero gradient: Adam's update is 0, so only decoupled weight decay moves parameters: p (1 - lr wd).
  std::vector<float> p(40, 2.f), g(40, 0.f);
  st::adamw<> opt(40, {{0, 20, true, true}, {20, 20, true, false}}, {.weight_decay = 0.5f});
  opt.step(p.data(), g.data(), 0.1f);
  for (int i = 0; i < 20; ++i) CHECK_THAT(p[i], WithinRel(2.f * (1.f - 0.05f), 1e-6f));
  for (int i = 20; i < 40; ++i) CHECK(p[i] == 2.f);
}

TEST_CASE("adamw: resume from saved m, v and step is bit-identical", "[train][optimizer]") {
  const std::size_t n = 1000;
  const std::vector<st::param_range> ranges = {{0, 600, true, true}, {600, 400, true, false}};
  st::rng r(8);
  std::vector<float> pa(n), pb;
  r.fill_normal(pa.data(), n);
  pb = pa;
  std::vector<std::vector<float>> grads(6, std::vector<float>(n));
  for (auto& g : grads) r.fill_normal(g.data(), n);
  st::adamw<> a(n, ranges), b(n, ranges);
  for (int s = 0; s < 6; ++s) a.step(pa.data(), grads[s].data(), 1e-3f);
  for (int s = 0; s < 3; ++s) b.step(pb.data(), grads[s].data(), 1e-3f);
  st::adamw<> c(n, ranges);
  std::copy(b.m().begin(), b.m().end(), c.m().begin());
  std::copy(b.v().begin(), b.v().end(), c.v().begin());
  c.set_step_count(b.step_count());
  for (int s = 3; s < 6; ++s) c.step(pb.data(), grads[s].data(), 1e-3f);
  CHECK(pa == pb);
}

TEST_CASE("adamw: invalid ranges are rejected", "[train][optimizer]") {
  CHECK_THROWS_WITH(st::adamw<>(10, {{0, 6}, {5, 5}}), Contains("overlap"));
  CHECK_THROWS_WITH(st::adamw<>(10, {{8, 5}}), Contains("exceeds"));
  CHECK_NOTHROW(st::adamw<>(10, {{0, 5}, {5, 5}}));
}

TEST_CASE("clip_grad_norm: global norm over trainable ranges", "[train][optimizer]") {
  std::vector<float> g = {3.f, 100.f, 4.f, 0.f};
  const std::vector<st::param_range> ranges = {{0, 1, true, true}, {1, 1, false, false}, {2, 2, true, false}};
  CHECK_THAT(st::grad_norm(g.data(), g.size(), ranges), WithinAbs(5.0, 1e-12));
  auto h = g;
  CHECK_THAT(st::clip_grad_norm(h.data(), h.size(), ranges, 10.0), WithinAbs(5.0, 1e-12));
  CHECK(h == g);  // below the threshold: unchanged
  CHECK_THAT(st::clip_grad_norm(g.data(), g.size(), ranges, 1.0), WithinAbs(5.0, 1e-12));
  CHECK_THAT(g[0], WithinRel(0.6f, 1e-6f));
  CHECK_THAT(g[2], WithinRel(0.8f, 1e-6f));
  CHECK(g[1] == 100.f);  // frozen: untouched
  CHECK_THAT(st::grad_norm(g.data(), g.size(), ranges), WithinAbs(1.0, 1e-6));

  // Many chunks: matches a double reference, and the optimizer's own clip gives the same norm.
  const std::size_t n = 300000;
  std::vector<float> big(n);
  st::rng r(2);
  r.fill_normal(big.data(), n, 0.f, 0.01f);
  const std::vector<st::param_range> all = {{0, 200000, true, true}, {200000, 100000, true, false}};
  double ref = 0;
  for (float x : big) ref += double(x) * x;
  st::adamw<> opt(n, all);
  CHECK_THAT(opt.grad_norm(big.data()), WithinRel(std::sqrt(ref), 1e-12));
  CHECK_THAT(opt.clip_grad_norm(big.data(), 0.5), WithinRel(std::sqrt(ref), 1e-12));
  CHECK_THAT(opt.grad_norm(big.data()), WithinRel(0.5, 1e-6));
}

TEST_CASE("grad_norm: chunks summed side by side give each chunk's sum_squares, to the bit", "[train][optimizer]") {
  // Ranges of many sizes (below 4, odd, above a chunk): the grouped sums (four chunks of similar size at once)
  // against each chunk's sum_squares alone, summed in the chunks' order. Both must agree bit for bit, on 1
  // and 2 threads: training runs are reproduced to the bit.
  st::rng r(5);
  std::vector<st::param_range> ranges;
  std::size_t off = 0;
  for (std::size_t sz : {1u, 3u, 4u, 7u, 16384u, 16385u, 40000u, 128u, 129u, 0u, 65536u, 2u, 999u, 16384u, 5u, 70001u}) {
    ranges.push_back({off, sz, sz != 129u, true});
    off += sz + 3;  // gaps belong to no range
  }
  std::vector<float> g(off);
  r.fill_normal(g.data(), g.size(), 0.f, 1.f);
  // Magnitudes over 2^-18 .. 2^18: any other order of the additions rounds differently somewhere.
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = std::ldexp(g[i], int(i * 7919 % 37) - 18);
  const auto chunks = st::detail::plan_chunks(g.size(), ranges);
  double ref = 0.0;
  for (const auto& c : chunks) ref += st::detail::sum_squares(g.data() + c.offset, c.size);
  ref = std::sqrt(ref);
  const int threads_before = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    CHECK(st::grad_norm(g.data(), g.size(), ranges) == ref);
  }
  omp_set_num_threads(threads_before);
  // The groups themselves: slices of unequal lengths (the common part interleaved, the rest alone).
  for (const auto& len : {std::array<std::size_t, 4>{9, 0, 37, 4}, std::array<std::size_t, 4>{4001, 4000, 3999, 16385},
                          std::array<std::size_t, 4>{3, 1, 2, 5}}) {
    const float* parts[4] = {g.data(), g.data() + 20000, g.data() + 50000, g.data() + 100000};
    const std::size_t n[4] = {len[0], len[1], len[2], len[3]};
    double out[4];
    st::detail::sum_squares_group(parts, n, out);
    for (std::size_t c = 0; c < 4; ++c) CHECK(out[c] == st::detail::sum_squares(parts[c], n[c]));
  }
}

// ================================ schedule ================================

TEST_CASE("cosine_schedule: warmup end, midpoint, end", "[train][schedule]") {
  const st::cosine_schedule s{.max_lr = 1e-3f, .warmup_steps = 100, .total_steps = 1100, .min_lr_fraction = 0.1f};
  CHECK_THAT(s(0), WithinRel(1e-5f, 1e-6f));
  CHECK_THAT(s(49), WithinRel(5e-4f, 1e-6f));
  CHECK_THAT(s(99), WithinRel(1e-3f, 1e-6f));   // warmup end
  CHECK_THAT(s(100), WithinRel(1e-3f, 1e-6f));  // decay start
  CHECK_THAT(s(600), WithinRel(5.5e-4f, 1e-6f));  // midpoint: (max + min) / 2
  CHECK_THAT(s(350), WithinRel(float(1e-4 + 9e-4 * 0.5 * (1 + std::cos(std::numbers::pi / 4))), 1e-6f));
  CHECK_THAT(s(1100), WithinRel(1e-4f, 1e-6f));  // end
  CHECK_THAT(s(100000), WithinRel(1e-4f, 1e-6f));
  for (std::uint64_t k = 100; k < 1100; ++k) REQUIRE(s(k + 1) <= s(k));
  const st::cosine_schedule no_warmup{.max_lr = 2e-3f, .warmup_steps = 0, .total_steps = 10, .min_lr_fraction = 0.f};
  CHECK(no_warmup(0) == 2e-3f);
  CHECK_THAT(no_warmup(5), WithinRel(1e-3f, 1e-6f));
  CHECK_THAT(no_warmup(10), WithinAbs(0.0, 1e-12));
}
