#pragma once
/// @file stats.hpp
/// The few statistics the paper reports: mean, sample standard deviation (N-1), standard error of the
/// mean, percentiles (linear interpolation between order statistics, numpy's default), cosine similarity.
///
///   auto s = stats::summarize(std::vector<double>{1, 2, 3, 4});  // n 4, mean 2.5, sd 1.291, se 0.6455
///   stats::percentile({1, 2, 3, 4}, 50);                            // 2.5
///   stats::t_interval_95(std::vector<double>{1, 2, 3});             // {2 - 4.303 * 0.577, 2 + 4.303 * 0.577}
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"

namespace sinkcore::stats {

inline double mean(std::span<const double> v) {
  if (v.empty()) return 0.0;
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

/// Sample standard deviation, sqrt(sum (x - mean)^2 / (N - 1)); 0 for fewer than two values.
inline double sample_std(std::span<const double> v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

/// Standard error of the mean: sample_std / sqrt(N) (0 for fewer than two values).
inline double standard_error(std::span<const double> v) {
  return v.size() < 2 ? 0.0 : sample_std(v) / std::sqrt(double(v.size()));
}

/// n, mean, sample standard deviation and standard error of a sample.
struct summary {
  std::size_t n = 0;
  double mean = 0, sd = 0, se = 0;
};
inline summary summarize(std::span<const double> v) { return {v.size(), mean(v), sample_std(v), standard_error(v)}; }

/// The p-th percentile (p in [0, 100]) with linear interpolation: position p/100 * (N-1) in the sorted
/// sample (numpy.percentile's default). Throws sinkcore::error for an empty sample or p outside [0, 100].
inline double percentile_of_sorted(std::span<const double> sorted, double p) {
  if (sorted.empty()) throw error("percentile of an empty sample");
  if (!(p >= 0 && p <= 100)) throw error("percentile " + std::to_string(p) + " is outside [0, 100]");
  const double pos = p / 100.0 * double(sorted.size() - 1);
  const std::size_t lo = std::size_t(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double f = pos - double(lo);
  return sorted[lo] + f * (sorted[hi] - sorted[lo]);
}
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return percentile_of_sorted(v, p);
}
/// Several percentiles of one sample (sorted once).
inline std::vector<double> percentiles(std::vector<double> v, std::span<const double> ps) {
  std::sort(v.begin(), v.end());
  std::vector<double> out;
  out.reserve(ps.size());
  for (double p : ps) out.push_back(percentile_of_sorted(v, p));
  return out;
}
inline double median(std::vector<double> v) { return percentile(std::move(v), 50); }

/// cos(a, b) = a.b / (|a| |b|), in double; 0 if either vector is zero.
template <class T, class U>
double cosine(const T* a, const U* b, std::size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ab += double(a[i]) * double(b[i]);
    aa += double(a[i]) * double(a[i]);
    bb += double(b[i]) * double(b[i]);
  }
  return (aa == 0 || bb == 0) ? 0.0 : ab / std::sqrt(aa * bb);
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (df >= 1): the exact table for df <= 30
/// (3 decimals), beyond it the Cornish-Fisher expansion around the normal quantile (error < 1e-4 there).
inline double student_t_975(std::size_t df) {
  static constexpr double table[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                       2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                       2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df == 0) throw error("Student's t needs at least one degree of freedom");
  if (df <= 30) return table[df - 1];
  const double z = 1.959963984540054, n = double(df), z2 = z * z;
  return z + (z2 + 1) * z / (4 * n) + ((5 * z2 + 16) * z2 + 3) * z / (96 * n * n) +
         (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / (384 * n * n * n);
}

/// The two-sided 95 % t interval of the mean, mean -+ t_{0.975, N-1} * SE; {NaN, NaN} for fewer than two values.
struct interval {
  double lo = 0, hi = 0;
};
inline interval t_interval_95(std::span<const double> v) {
  if (v.size() < 2) return {std::nan(""), std::nan("")};
  const double m = mean(v), h = student_t_975(v.size() - 1) * standard_error(v);
  return {m - h, m + h};
}

}  // namespace sinkcore::stats
