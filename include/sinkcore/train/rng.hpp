#pragma once
/// @file rng.hpp
/// A small, fast, portable random number generator whose whole state is four 64-bit words, so that a
/// training run can save it in a checkpoint and resume bit-identically.
///
/// Generator: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS
/// 2021; reference code https://prng.di.unimi.it/xoshiro256starstar.c), seeded by expanding one 64-bit
/// seed with splitmix64 (Steele, Lea & Flood 2014), as its authors recommend.
///
/// Every output is a pure function of the state, computed with integer operations and correctly rounded
/// IEEE-754 double operations only (+, -, *, /, sqrt and explicit std::fma; log and sin/cos are our own
/// polynomials written with std::fma, so a compiler cannot contract them differently): the same seed gives
/// the same numbers with any compiler, flags and C library.
///
/// @code
///   sinkcore::train::rng r(42);
///   auto i = r.below(10);          // uniform in [0, 10), no modulo bias
///   float u = r.uniform();         // uniform in [0, 1)
///   float z = r.normal();          // standard normal
///   auto saved = r.state();        // ... later: r.set_state(saved) replays the same stream
/// @endcode
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sinkcore/error.hpp"

namespace sinkcore::train {

/// splitmix64 step: advances `x` and returns the next output (reference: https://prng.di.unimi.it/splitmix64.c).
constexpr std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace detail {

/// ln(x) for finite x > 0, to about 1 ulp, from IEEE-exact operations and std::fma only.
/// x = m 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716, so the
/// series 2 (s + s^3/3 + s^5/5 + ...) reaches double precision after s^23.
inline double portable_log(double x) noexcept {
  int e = 0;
  double m = std::frexp(x, &e);  // exact: m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2.0;  // exact
    e -= 1;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  static constexpr double inv_odd[12] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                          1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};
  double p = inv_odd[11];
  for (int k = 10; k >= 0; --k) p = std::fma(p, s2, inv_odd[k]);
  const double ln_m = 2.0 * s * p;
  constexpr double ln2_hi = 0x1.62e42fefa3800p-1;  // ln 2 = ln2_hi + ln2_lo, ln2_hi * e exact for |e| < 2^10
  constexpr double ln2_lo = 0x1.ef35793c76730p-45;
  return std::fma(static_cast<double>(e), ln2_hi, std::fma(static_cast<double>(e), ln2_lo, ln_m));
}

/// cos(2 pi u) and sin(2 pi u) for u in [0, 1), from IEEE-exact operations and std::fma only.
/// 4u = k + f with k an integer and f in [-1/2, 1/2] (both exact), theta = f pi/2 in [-pi/4, pi/4];
/// Taylor series of sin and cos up to theta^19 / theta^18 (terms below 1e-17), then the quadrant k.
inline void portable_cos_sin_2pi(double u, double& c, double& s) noexcept {
  const double q = 4.0 * u;
  const double k = std::nearbyint(q);  // round to nearest-even, exact for these magnitudes
  const double f = q - k;
  constexpr double half_pi = 1.57079632679489661923;
  const double t = f * half_pi;
  const double t2 = t * t;
  // cos t = sum (-1)^j t^2j / (2j)!, sin t = t sum (-1)^j t^2j / (2j+1)!, Horner in t^2.
  struct coefficients {
    double c[10], s[10];
  };
  static constexpr coefficients k_coef = [] {
    coefficients r{};
    double fc = 1.0, fs = 1.0;  // (2j)!, (2j+1)!
    for (int j = 0; j < 10; ++j) {
      if (j > 0) {
        fc = fs * (2 * j);
        fs = fc * (2 * j + 1);
      }
      r.c[j] = ((j & 1) ? -1.0 : 1.0) / fc;
      r.s[j] = ((j & 1) ? -1.0 : 1.0) / fs;
    }
    return r;
  }();
  double pc = k_coef.c[9], ps = k_coef.s[9];
  for (int j = 8; j >= 0; --j) {
    pc = std::fma(pc, t2, k_coef.c[j]);
    ps = std::fma(ps, t2, k_coef.s[j]);
  }
  const double cos_t = pc, sin_t = t * ps;
  switch (static_cast<int>(k) & 3) {
    case 0: c = cos_t; s = sin_t; break;
    case 1: c = -sin_t; s = cos_t; break;
    case 2: c = -cos_t; s = -sin_t; break;
    default: c = sin_t; s = -cos_t; break;
  }
}

}  // namespace detail

/// xoshiro256** with splitmix64 seeding, uniform integers, uniform and normal floats.
/// Not thread-safe; give each thread its own generator (e.g. seeded with `seed + thread_index`).
class rng {
 public:
  using state_type = std::array<std::uint64_t, 4>;

  /// @post the state is splitmix64(seed) expanded to four words (never all zero).
  explicit rng(std::uint64_t seed = 0) noexcept { seed_with(seed); }

  void seed_with(std::uint64_t seed) noexcept {
    std::uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
  }

  /// The whole state: restoring it with set_state() replays the same stream bit for bit.
  const state_type& state() const noexcept { return s_; }
  /// @pre `s` is not all zero (xoshiro's one forbidden state); throws sinkcore::error otherwise.
  void set_state(const state_type& s) {
    if ((s[0] | s[1] | s[2] | s[3]) == 0) throw error("rng: the all-zero xoshiro256** state is invalid");
    s_ = s;
  }

  /// The state as text, "xoshiro256**:" followed by four 16-digit hex words (for JSON checkpoints, where
  /// 64-bit integers do not always survive a round trip).
  std::string to_string() const {
    std::string out = "xoshiro256**:";
    for (std::size_t i = 0; i < 4; ++i) {
      char buf[17];
      auto [end, ec] = std::to_chars(buf, buf + 16, s_[i], 16);
      (void)ec;
      out.append(16 - static_cast<std::size_t>(end - buf), '0');
      out.append(buf, end);
      if (i < 3) out += ':';
    }
    return out;
  }
  /// Inverse of to_string(); throws sinkcore::error on malformed text.
  static rng from_string(std::string_view text) {
    constexpr std::string_view prefix = "xoshiro256**:";
    if (text.size() != prefix.size() + 4 * 16 + 3 || text.substr(0, prefix.size()) != prefix)
      throw error("rng: '" + std::string(text) + "' is not an xoshiro256** state (xoshiro256**:w0:w1:w2:w3)");
    state_type s{};
    for (std::size_t i = 0; i < 4; ++i) {
      const char* b = text.data() + prefix.size() + i * 17;
      auto [end, ec] = std::from_chars(b, b + 16, s[i], 16);
      if (ec != std::errc{} || end != b + 16 || (i < 3 && *end != ':'))
        throw error("rng: '" + std::string(text) + "': word " + std::to_string(i) + " is not 16 hex digits");
    }
    rng r;
    r.set_state(s);
    return r;
  }

  /// Next 64 random bits (xoshiro256**).
  std::uint64_t next() noexcept {
    const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }
  std::uint64_t operator()() noexcept { return next(); }

  /// Uniform integer in [0, n), unbiased: draws under the smallest all-ones mask >= n-1 and rejects values
  /// >= n (fewer than 2 draws on average). @pre n > 0 (n == 0 returns 0).
  std::uint64_t below(std::uint64_t n) noexcept {
    if (n <= 1) return 0;
    const std::uint64_t mask = ~std::uint64_t{0} >> std::countl_zero(n - 1);
    for (;;) {
      const std::uint64_t x = next() & mask;
      if (x < n) return x;
    }
  }

  /// Uniform float in [0, 1): the top 24 bits times 2^-24 (every value exactly representable).
  float uniform() noexcept { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
  /// Uniform double in [0, 1): the top 53 bits times 2^-53.
  double uniform_double() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Two independent standard normals by Box-Muller (Box & Muller 1958):
  /// r = sqrt(-2 ln u1), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), with u1 in (0, 1], u2 in [0, 1).
  /// Consumes exactly two next() calls.
  void normal_pair(double& z0, double& z1) noexcept {
    const double u1 = 1.0 - uniform_double();  // (0, 1]: ln never sees 0
    const double u2 = uniform_double();
    const double r = std::sqrt(-2.0 * detail::portable_log(u1));
    double c = 0.0, s = 0.0;
    detail::portable_cos_sin_2pi(u2, c, s);
    z0 = r * c;
    z1 = r * s;
  }
  /// One standard normal (the cosine half of a Box-Muller pair; the sine half is discarded, so every
  /// call consumes exactly two next() calls and the state stays four words).
  float normal() noexcept {
    double z0 = 0.0, z1 = 0.0;
    normal_pair(z0, z1);
    return static_cast<float>(z0);
  }
  /// Fills out[0, n) with mean + stddev * z using both halves of each Box-Muller pair.
  void fill_normal(float* out, std::size_t n, float mean = 0.f, float stddev = 1.f) noexcept {
    std::size_t i = 0;
    for (; i + 1 < n; i += 2) {
      double z0 = 0.0, z1 = 0.0;
      normal_pair(z0, z1);
      out[i] = static_cast<float>(std::fma(static_cast<double>(stddev), z0, static_cast<double>(mean)));
      out[i + 1] = static_cast<float>(std::fma(static_cast<double>(stddev), z1, static_cast<double>(mean)));
    }
    if (i < n) {
      double z0 = 0.0, z1 = 0.0;
      normal_pair(z0, z1);
      out[i] = static_cast<float>(std::fma(static_cast<double>(stddev), z0, static_cast<double>(mean)));
    }
  }

  // UniformRandomBitGenerator, so <algorithm> (std::shuffle) accepts it (its results are then up to the
  // standard library; use below() where cross-platform identity matters).
  using result_type = std::uint64_t;
  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }

 private:
  state_type s_{};
};

}  // namespace sinkcore::train
