#pragma once
/// @file half.hpp
/// IEEE 754 binary16 (F16) and bfloat16 (BF16) <-> binary32 conversions on raw bit patterns.
/// Exact for every F16/BF16 value (subnormals, signed zeros, infinities; NaN stays NaN with its payload's
/// top bits); float -> F16/BF16 rounds to nearest, ties to even.
#include <bit>
#include <cstdint>

namespace sinkcore::io {

/// binary16 bits -> float. Example: 0x3C00 -> 1.0f, 0x0001 -> 2^-24 (smallest subnormal), 0x7C00 -> +inf.
constexpr float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1Fu;
  std::uint32_t mantissa = h & 0x3FFu;
  std::uint32_t bits = 0;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;  // signed zero
    } else {
      // Subnormal: value = mantissa * 2^-24. Normalise into a float exponent.
      std::uint32_t e = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --e;
      }
      bits = sign | (e << 23) | ((mantissa & 0x3FFu) << 13);
    }
  } else if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // inf (mantissa 0) or NaN
  } else {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

/// bfloat16 bits -> float (bfloat16 is the top half of a binary32).
constexpr float bf16_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

/// float -> binary16 bits, round to nearest even; overflow gives inf, NaN gives a quiet NaN.
inline std::uint16_t float_to_half(float f) noexcept {
  // After F. Giesen, "float_to_half_fast3_rtne" (public domain).
  constexpr std::uint32_t f32_infinity = 255u << 23;
  constexpr std::uint32_t f16_overflow = (127u + 16u) << 23;  // 2^16: everything above rounds to inf
  constexpr std::uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = u & 0x80000000u;
  u ^= sign;
  std::uint16_t out = 0;
  if (u >= f16_overflow) {
    out = u > f32_infinity ? static_cast<std::uint16_t>(0x7E00u | ((u >> 13) & 0x3FFu)) : 0x7C00u;
  } else if (u < (113u << 23)) {
    // Result is subnormal or zero: let the FPU round by adding a magic number.
    const float t = std::bit_cast<float>(u) + std::bit_cast<float>(denorm_magic);
    out = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(t) - denorm_magic);
  } else {
    const std::uint32_t mantissa_odd = (u >> 13) & 1u;
    u += (static_cast<std::uint32_t>(15 - 127) << 23) + 0xFFFu;
    u += mantissa_odd;
    out = static_cast<std::uint16_t>(u >> 13);
  }
  return static_cast<std::uint16_t>(out | (sign >> 16));
}

/// float -> bfloat16 bits, round to nearest even; NaN gives a quiet NaN.
constexpr std::uint16_t float_to_bf16(float f) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace sinkcore::io
