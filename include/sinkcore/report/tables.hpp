#pragma once
/// @file tables.hpp
/// Tables out (CSV per RFC 4180, Markdown) and in (CSV with a header), and atomic text files.
///
///   table t{{"dataset", "mean"}};
///   t.add({"sst2", fmt(0.5988, 4)});
///   write_text_atomically(dir / "x.csv", t.csv());   // dataset,mean\nsst2,0.5988\n
///   std::string md = t.markdown();                    // | dataset | mean |\n| --- | --- |\n| sst2 | 0.5988 |
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"

namespace sinkcore::report {

/// A double with `digits` decimals ("0.5630"); "nan" / "inf" spelled out.
inline std::string fmt(double v, int digits = 4) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// A CSV field, quoted when it holds a comma, quote, CR or LF (quotes doubled).
inline std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

/// A Markdown table cell: '|' escaped, line breaks as spaces.
inline std::string markdown_cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

/// A table of strings with a header.
struct table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows{};

  /// Adds a row; throws sinkcore::error if its width differs from the header's.
  void add(std::vector<std::string> row) {
    if (row.size() != header.size())
      throw error("table row has " + std::to_string(row.size()) + " fields, the header " + std::to_string(header.size()));
    rows.push_back(std::move(row));
  }
  std::string csv() const {
    std::string out;
    auto line = [&](const std::vector<std::string>& r) {
      for (std::size_t i = 0; i < r.size(); ++i) (out += i ? "," : "") += csv_field(r[i]);
      out += '\n';
    };
    line(header);
    for (const auto& r : rows) line(r);
    return out;
  }
  std::string markdown() const {
    std::string out;
    auto line = [&](const std::vector<std::string>& r) {
      out.push_back('|');
      for (const auto& c : r) {
        out.push_back(' ');
        out.append(markdown_cell(c));
        out.append(" |");
      }
      out.push_back('\n');
    };
    line(header);
    line(std::vector<std::string>(header.size(), "---"));
    for (const auto& r : rows) line(r);
    return out;
  }
  /// Index of a column by name, if present.
  std::optional<std::size_t> column(std::string_view name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    return std::nullopt;
  }
};

/// Parses CSV text (RFC 4180: quoted fields with doubled quotes, commas and line breaks inside quotes,
/// LF or CRLF line ends, a UTF-8 BOM ignored). The first record is the header; every record must have
/// its width. `source` names the file in error messages.
inline table parse_csv(std::string_view text, const std::string& source = "csv") {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> rec;
  std::string field;
  bool quoted = false, field_started = false;
  std::size_t line = 1;
  auto end_field = [&] {
    rec.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_record = [&] {
    end_field();
    if (!(rec.size() == 1 && rec[0].empty())) records.push_back(std::move(rec));  // skip blank lines
    rec.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
        else quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) throw error(source + ": unterminated quoted field at end of file (line " + std::to_string(line) + ")");
  if (field_started || !rec.empty()) end_record();
  if (records.empty()) throw error(source + ": empty CSV file (no header)");
  table t{records[0]};
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != t.header.size())
      throw error(source + ": record " + std::to_string(r + 1) + " has " + std::to_string(records[r].size()) +
                  " fields, the header has " + std::to_string(t.header.size()));
    t.rows.push_back(std::move(records[r]));
  }
  return t;
}

/// Reads and parses a CSV file; throws sinkcore::error naming it if it cannot be read.
inline table read_csv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(path.string() + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_csv(ss.str(), path.string());
}

/// Writes `text` to `path` atomically (temporary file + rename, io/atomic_file.hpp).
inline void write_text_atomically(const std::filesystem::path& path, std::string_view text) {
  io::write_file_atomically(path, [&](std::ostream& os) { os.write(text.data(), std::streamsize(text.size())); });
}

}  // namespace sinkcore::report
