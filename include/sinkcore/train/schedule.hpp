#pragma once
/// @file schedule.hpp
/// Learning-rate schedule: linear warmup, then cosine decay to a floor (Loshchilov & Hutter, "SGDR",
/// ICLR 2017, without restarts; the form of nanoGPT's get_lr). A pure function of the 0-based step, so a
/// resumed run needs only its step count.
///
///   step s < W:            lr = max_lr (s + 1) / W                 (reaches max_lr at s = W - 1)
///   W <= s <= S:           r = (s - W) / (S - W),  lr = min + (max_lr - min) (1 + cos(pi r)) / 2
///   s >= S, s >= W:        lr = min,                               min = max_lr * min_lr_fraction
/// with W = warmup_steps, S = total_steps. Worked example (max 1e-3, W 100, S 1100, fraction 0.1):
/// lr(0) = 1e-5, lr(99) = lr(100) = 1e-3, lr(600) = 5.5e-4, lr(1100) = 1e-4.
#include <cmath>
#include <cstdint>
#include <numbers>

namespace sinkcore::train {

struct cosine_schedule {
  float max_lr = 6e-4f;
  std::uint64_t warmup_steps = 0;
  std::uint64_t total_steps = 1;  ///< step at which the decay reaches the floor
  float min_lr_fraction = 0.1f;   ///< floor = max_lr * min_lr_fraction

  float min_lr() const noexcept { return max_lr * min_lr_fraction; }

  float operator()(std::uint64_t step) const noexcept {
    if (step < warmup_steps)
      return static_cast<float>(static_cast<double>(max_lr) * static_cast<double>(step + 1) /
                                static_cast<double>(warmup_steps));
    const double lo = static_cast<double>(max_lr) * static_cast<double>(min_lr_fraction);
    if (step >= total_steps) return static_cast<float>(lo);
    const double r = static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
    return static_cast<float>(lo + (static_cast<double>(max_lr) - lo) * 0.5 * (1.0 + std::cos(std::numbers::pi * r)));
  }
};

}  // namespace sinkcore::train
