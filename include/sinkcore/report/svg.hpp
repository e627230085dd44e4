#pragma once
/// @file svg.hpp
/// Figures as hand-written SVG (no dependencies): heatmaps, histograms, percentile bands, line curves and
/// bar charts with error bars. Each function returns the whole document as a string; write it with
/// report::write_text_atomically.
///
///   chart_options o{.title = "BOS attention", .ylabel = "mean attention to position 0"};
///   std::string svg = bar_chart_svg({"a", "b"}, {0.56, 0.25}, {0.004, 0.003}, o);
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"

namespace sinkcore::report {

inline std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

/// A number for SVG attributes (fixed, 2 decimals) or tick labels (%g).
inline std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}
inline std::string label_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", std::abs(v) < 1e-12 ? 0.0 : v);
  return b;
}

/// An SVG document under construction.
struct svg_canvas {
  double width = 640, height = 400;
  std::string body{};

  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view extra = "") {
    body += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(std::max(w, 0.0)) + "\" height=\"" +
            num(std::max(h, 0.0)) + "\" fill=\"" + std::string(fill) + "\" " + std::string(extra) + "/>\n";
  }
  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double w = 1, std::string_view extra = "") {
    body += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
            "\" stroke=\"" + std::string(stroke) + "\" stroke-width=\"" + num(w) + "\" " + std::string(extra) + "/>\n";
  }
  void text(double x, double y, std::string_view s, double size = 12, std::string_view anchor = "middle",
            std::string_view extra = "") {
    body += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) +
            "\" font-family=\"sans-serif\" text-anchor=\"" + std::string(anchor) + "\" " + std::string(extra) + ">" +
            xml_escape(s) + "</text>\n";
  }
  void polyline(const std::vector<std::pair<double, double>>& pts, std::string_view stroke, double w = 1.5) {
    body += "<polyline fill=\"none\" stroke=\"" + std::string(stroke) + "\" stroke-width=\"" + num(w) + "\" points=\"";
    for (const auto& [x, y] : pts) body += num(x) + "," + num(y) + " ";
    body += "\"/>\n";
  }
  void polygon(const std::vector<std::pair<double, double>>& pts, std::string_view fill, double opacity) {
    body += "<polygon fill=\"" + std::string(fill) + "\" fill-opacity=\"" + num(opacity) + "\" stroke=\"none\" points=\"";
    for (const auto& [x, y] : pts) body += num(x) + "," + num(y) + " ";
    body += "\"/>\n";
  }
  std::string str() const {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) +
           "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\">\n" +
           "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n";
  }
};

/// Colours for series, in order (Tableau 10).
inline std::string_view series_colour(std::size_t i) {
  static constexpr std::array<std::string_view, 10> c{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return c[i % c.size()];
}

/// Viridis at t in [0, 1] (5 stops, linear in between), as "#rrggbb".
inline std::string viridis(double t) {
  static constexpr double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(std::isnan(t) ? 0.0 : t, 0.0, 1.0) * 4;
  const int i = std::min(int(t), 3);
  const double f = t - i;
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", int(stops[i][0] + f * (stops[i + 1][0] - stops[i][0]) + 0.5),
                int(stops[i][1] + f * (stops[i + 1][1] - stops[i][1]) + 0.5),
                int(stops[i][2] + f * (stops[i + 1][2] - stops[i][2]) + 0.5));
  return b;
}

/// About n "nice" tick values covering [lo, hi] (steps 1, 2, 5 x 10^k).
inline std::vector<double> nice_ticks(double lo, double hi, int n = 5) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
  return t;
}

struct chart_options {
  std::string title{}, xlabel{}, ylabel{};
  double width = 720, height = 420;
  double y_min = std::numeric_limits<double>::quiet_NaN();  ///< NaN: from the data
  double y_max = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<std::string, double>> hlines{};    ///< dashed reference lines (e.g. chance)
};

namespace detail {
/// The plotting area of a chart with axes: maps data to pixels and draws the frame, ticks and labels.
struct plot_area {
  double x0, y0, x1, y1;  // pixels: left, top, right, bottom
  double xmin, xmax, ymin, ymax;
  double px(double x) const { return x0 + (xmax > xmin ? (x - xmin) / (xmax - xmin) : 0.5) * (x1 - x0); }
  double py(double y) const { return y1 - (ymax > ymin ? (y - ymin) / (ymax - ymin) : 0.5) * (y1 - y0); }
};

inline plot_area frame(svg_canvas& c, const chart_options& o, double xmin, double xmax, double ymin, double ymax,
                       bool x_ticks = true, double bottom = 55) {
  if (!std::isnan(o.y_min)) ymin = o.y_min;
  if (!std::isnan(o.y_max)) ymax = o.y_max;
  for (const auto& h : o.hlines) ymin = std::min(ymin, h.second), ymax = std::max(ymax, h.second);
  if (!(ymax > ymin)) ymax = ymin + 1;
  plot_area a{70, 40, c.width - 20, c.height - bottom, xmin, xmax, ymin, ymax};
  c.text(c.width / 2, 22, o.title, 15, "middle", "font-weight=\"bold\"");
  c.text((a.x0 + a.x1) / 2, c.height - 12, o.xlabel, 12);
  c.text(16, (a.y0 + a.y1) / 2, o.ylabel, 12, "middle",
         "transform=\"rotate(-90 16 " + num((a.y0 + a.y1) / 2) + ")\"");
  for (double t : nice_ticks(ymin, ymax)) {
    c.line(a.x0, a.py(t), a.x1, a.py(t), "#e0e0e0", 0.5);
    c.text(a.x0 - 6, a.py(t) + 4, label_num(t), 10, "end");
  }
  if (x_ticks)
    for (double t : nice_ticks(xmin, xmax, 8)) {
      c.line(a.px(t), a.y1, a.px(t), a.y1 + 4, "#333");
      c.text(a.px(t), a.y1 + 16, label_num(t), 10);
    }
  c.line(a.x0, a.y1, a.x1, a.y1, "#333");
  c.line(a.x0, a.y0, a.x0, a.y1, "#333");
  return a;
}
inline void hlines(svg_canvas& c, const plot_area& a, const chart_options& o) {
  for (const auto& [name, y] : o.hlines) {
    c.line(a.x0, a.py(y), a.x1, a.py(y), "#555", 1, "stroke-dasharray=\"5,4\"");
    c.text(a.x1 - 4, a.py(y) - 4, name, 10, "end", "fill=\"#555\"");
  }
}
inline std::pair<double, double> finite_range(const std::vector<double>& v) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double x : v)
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!(hi >= lo)) return {0, 1};
  return {lo, hi};
}
inline void legend(svg_canvas& c, const plot_area& a, const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double y = a.y0 + 8 + 16 * double(i);
    c.rect(a.x1 - 150, y - 8, 10, 10, series_colour(i));
    c.text(a.x1 - 135, y + 1, names[i], 11, "start");
  }
}
}  // namespace detail

/// A rows x cols heatmap (values row-major; NaN drawn grey), viridis from vmin to vmax (NaN: data range),
/// with a colour bar. Row 0 at the top (an attention pattern reads query down, key across).
inline std::string heatmap_svg(const std::vector<double>& values, std::size_t rows, std::size_t cols,
                               const chart_options& o, double vmin = std::numeric_limits<double>::quiet_NaN(),
                               double vmax = std::numeric_limits<double>::quiet_NaN()) {
  if (values.size() != rows * cols || rows == 0 || cols == 0)
    throw error("heatmap_svg: " + std::to_string(values.size()) + " values for " + std::to_string(rows) + " x " +
                std::to_string(cols));
  auto [lo, hi] = detail::finite_range(values);
  if (std::isnan(vmin)) vmin = lo;
  if (std::isnan(vmax)) vmax = hi;
  if (!(vmax > vmin)) vmax = vmin + 1;
  svg_canvas c{o.width, o.height};
  const double x0 = 70, y0 = 40, w = o.width - 160, h = o.height - 95;
  const double cw = w / double(cols), ch = h / double(rows);
  c.text(o.width / 2, 22, o.title, 15, "middle", "font-weight=\"bold\"");
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = 0; k < cols; ++k) {
      const double v = values[r * cols + k];
      c.rect(x0 + double(k) * cw, y0 + double(r) * ch, cw + 0.3, ch + 0.3,
             std::isfinite(v) ? viridis((v - vmin) / (vmax - vmin)) : std::string("#cccccc"));
    }
  const std::size_t xstep = std::max<std::size_t>(1, cols / 10), ystep = std::max<std::size_t>(1, rows / 10);
  for (std::size_t k = 0; k < cols; k += xstep) c.text(x0 + (double(k) + 0.5) * cw, y0 + h + 14, std::to_string(k), 10);
  for (std::size_t r = 0; r < rows; r += ystep) c.text(x0 - 5, y0 + (double(r) + 0.5) * ch + 4, std::to_string(r), 10, "end");
  c.text(x0 + w / 2, o.height - 14, o.xlabel, 12);
  c.text(16, y0 + h / 2, o.ylabel, 12, "middle", "transform=\"rotate(-90 16 " + num(y0 + h / 2) + ")\"");
  const double bx = x0 + w + 25;
  for (int i = 0; i < 50; ++i) c.rect(bx, y0 + h * (1 - (i + 1) / 50.0), 14, h / 50.0 + 0.3, viridis((i + 0.5) / 50.0));
  c.text(bx + 18, y0 + 8, label_num(vmax), 10, "start");
  c.text(bx + 18, y0 + h, label_num(vmin), 10, "start");
  return c.str();
}

/// A histogram of `values` in `bins` equal bins over their range.
inline std::string histogram_svg(const std::vector<double>& values, std::size_t bins, const chart_options& o) {
  bins = std::max<std::size_t>(bins, 1);
  auto [lo, hi] = detail::finite_range(values);
  if (!(hi > lo)) hi = lo + 1;
  std::vector<double> count(bins, 0);
  for (double v : values)
    if (std::isfinite(v)) count[std::min(bins - 1, std::size_t((v - lo) / (hi - lo) * double(bins)))] += 1;
  svg_canvas c{o.width, o.height};
  const auto a = detail::frame(c, o, lo, hi, 0, *std::max_element(count.begin(), count.end()));
  const double bw = (hi - lo) / double(bins);
  for (std::size_t b = 0; b < bins; ++b)
    c.rect(a.px(lo + double(b) * bw), a.py(count[b]), a.px(lo + double(b + 1) * bw) - a.px(lo + double(b) * bw) - 0.5,
           a.py(0) - a.py(count[b]), series_colour(0));
  detail::hlines(c, a, o);
  return c.str();
}

/// Percentile bands along x: for each series, an outer band (e.g. 5-95), an inner band (25-75) and the
/// median line. Each band vector has one value per x.
struct percentile_band {
  std::string name;
  std::vector<double> outer_lo{}, inner_lo{}, median{}, inner_hi{}, outer_hi{};
};
inline std::string percentile_bands_svg(const std::vector<double>& x, const std::vector<percentile_band>& bands,
                                        const chart_options& o) {
  std::vector<double> all;
  for (const auto& b : bands) {
    for (const auto* v : {&b.outer_lo, &b.inner_lo, &b.median, &b.inner_hi, &b.outer_hi}) {
      if (v->size() != x.size()) throw error("percentile_bands_svg: series '" + b.name + "' does not match x");
      all.insert(all.end(), v->begin(), v->end());
    }
  }
  auto [lo, hi] = detail::finite_range(all);
  auto [xl, xh] = detail::finite_range(x);
  svg_canvas c{o.width, o.height};
  const auto a = detail::frame(c, o, xl, xh, lo, hi);
  auto band = [&](const std::vector<double>& l, const std::vector<double>& h, std::string_view colour, double op) {
    std::vector<std::pair<double, double>> pts;
    for (std::size_t i = 0; i < x.size(); ++i) pts.push_back({a.px(x[i]), a.py(h[i])});
    for (std::size_t i = x.size(); i-- > 0;) pts.push_back({a.px(x[i]), a.py(l[i])});
    c.polygon(pts, colour, op);
  };
  std::vector<std::string> names;
  for (std::size_t s = 0; s < bands.size(); ++s) {
    const auto& b = bands[s];
    band(b.outer_lo, b.outer_hi, series_colour(s), 0.18);
    band(b.inner_lo, b.inner_hi, series_colour(s), 0.35);
    std::vector<std::pair<double, double>> pts;
    for (std::size_t i = 0; i < x.size(); ++i) pts.push_back({a.px(x[i]), a.py(b.median[i])});
    c.polyline(pts, series_colour(s), 1.8);
    names.push_back(b.name);
  }
  detail::hlines(c, a, o);
  if (bands.size() > 1) detail::legend(c, a, names);
  return c.str();
}

/// Line curves: one (x, y) series each.
struct line_series {
  std::string name;
  std::vector<double> x{}, y{};
};
inline std::string line_chart_svg(const std::vector<line_series>& series, const chart_options& o) {
  std::vector<double> xs, ys;
  for (const auto& s : series) {
    if (s.x.size() != s.y.size()) throw error("line_chart_svg: series '" + s.name + "' has x and y of different sizes");
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
  }
  auto [xl, xh] = detail::finite_range(xs);
  auto [yl, yh] = detail::finite_range(ys);
  svg_canvas c{o.width, o.height};
  const auto a = detail::frame(c, o, xl, xh, yl, yh);
  std::vector<std::string> names;
  for (std::size_t s = 0; s < series.size(); ++s) {
    std::vector<std::pair<double, double>> pts;
    for (std::size_t i = 0; i < series[s].x.size(); ++i)
      if (std::isfinite(series[s].y[i])) pts.push_back({a.px(series[s].x[i]), a.py(series[s].y[i])});
    c.polyline(pts, series_colour(s));
    names.push_back(series[s].name);
  }
  detail::hlines(c, a, o);
  if (series.size() > 1) detail::legend(c, a, names);
  return c.str();
}

/// Bars with error bars (+- errors[i]; empty: none) and optional reference markers per bar (e.g. the
/// published values; NaN: no marker), drawn as black diamonds.
inline std::string bar_chart_svg(const std::vector<std::string>& labels, const std::vector<double>& values,
                                 const std::vector<double>& lower, const std::vector<double>& upper, const chart_options& o,
                                 const std::vector<double>& reference = {}, std::string_view reference_name = "published") {
  if (values.size() != labels.size() || lower.size() != upper.size() || (!lower.empty() && lower.size() != values.size()) ||
      (!reference.empty() && reference.size() != values.size()))
    throw error("bar_chart_svg: labels, values, interval bounds and reference must have the same length");
  std::vector<double> all(values);
  all.insert(all.end(), upper.begin(), upper.end());
  all.insert(all.end(), lower.begin(), lower.end());
  all.insert(all.end(), reference.begin(), reference.end());
  auto [lo, hi] = detail::finite_range(all);
  const double n = double(std::max<std::size_t>(values.size(), 1));
  // Labels wider than their slot are drawn at an angle, with room for them below the axis.
  constexpr double char_px = 6.0, angle = 40.0, sin_a = 0.6428;  // sin 40°
  std::size_t longest = 0;
  for (const auto& l : labels) longest = std::max(longest, l.size());
  const double slot_px = (o.width - 90) / n, label_px = char_px * double(longest);
  const bool tilt = label_px > 0.9 * slot_px;
  const double extra = tilt ? label_px * sin_a : 0.0;
  svg_canvas c{o.width, o.height + extra};
  const auto a = detail::frame(c, o, 0, n, std::min(lo, 0.0), hi, false, 55 + extra);
  const double slot = (a.x1 - a.x0) / n;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double cx = a.x0 + slot * (double(i) + 0.5), bw = slot * 0.6;
    if (std::isfinite(values[i])) {
      c.rect(cx - bw / 2, a.py(std::max(values[i], 0.0)), bw, std::abs(a.py(values[i]) - a.py(0)), series_colour(0));
      if (!lower.empty() && std::isfinite(lower[i]) && std::isfinite(upper[i])) {
        const double y_lo = a.py(lower[i]), y_hi = a.py(upper[i]);
        c.line(cx, y_lo, cx, y_hi, "#222", 1.2, "class=\"interval\"");
        c.line(cx - bw / 6, y_lo, cx + bw / 6, y_lo, "#222", 1.2);
        c.line(cx - bw / 6, y_hi, cx + bw / 6, y_hi, "#222", 1.2);
      }
    }
    if (!reference.empty() && std::isfinite(reference[i])) {
      const double ry = a.py(reference[i]);
      c.polygon({{cx, ry - 5}, {cx + 5, ry}, {cx, ry + 5}, {cx - 5, ry}}, "#000", 0.9);
    }
    if (tilt) {
      const double ty = a.y1 + 12;
      c.text(cx + 3, ty, labels[i], 10, "end", "transform=\"rotate(-" + num(angle) + " " + num(cx + 3) + " " + num(ty) + ")\"");
    } else {
      c.text(cx, a.y1 + 16, labels[i], 10);
    }
  }
  detail::hlines(c, a, o);
  if (!reference.empty()) {
    c.polygon({{a.x1 - 150, a.y0 + 4}, {a.x1 - 145, a.y0 + 9}, {a.x1 - 150, a.y0 + 14}, {a.x1 - 155, a.y0 + 9}}, "#000", 0.9);
    c.text(a.x1 - 138, a.y0 + 13, reference_name, 11, "start");
  }
  return c.str();
}

/// Bars with symmetric error bars value ± error (errors may be empty).
inline std::string bar_chart_svg(const std::vector<std::string>& labels, const std::vector<double>& values,
                                 const std::vector<double>& errors, const chart_options& o,
                                 const std::vector<double>& reference = {}, std::string_view reference_name = "published") {
  if (!errors.empty() && errors.size() != values.size())
    throw error("bar_chart_svg: labels, values, errors and reference must have the same length");
  std::vector<double> lower, upper;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    lower.push_back(values[i] - errors[i]);
    upper.push_back(values[i] + errors[i]);
  }
  return bar_chart_svg(labels, values, lower, upper, o, reference, reference_name);
}

}  // namespace sinkcore::report
