// libFuzzer: the inputs CSV of `sinklab circuit`: report::parse_csv on the bytes, then
// report::read_labelled_inputs on them as a file (byte-level encoding of the text column). The first byte
// picks the length inputs are cut to.
#include <sinkcore/report/circuit_report.hpp>
#include <sinkcore/report/tables.hpp>

#include "common.hpp"

using namespace sinkcore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t length = 1 + data[0] % 16;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const auto t = report::parse_csv(text, "fuzz.csv");
    for (const auto& r : t.rows)
      if (r.size() != t.header.size()) std::abort();
    // What is written back parses to the same table.
    const auto again = report::parse_csv(t.csv(), "again.csv");
    (void)again;
    (void)t.markdown();
  } catch (const error&) {
  }
  fuzz::memfile f(data + 1, size - 1);
  try {
    const auto in = report::read_labelled_inputs(f.path(), length, [](const std::string& s) {
      std::vector<int> ids;
      for (unsigned char c : s) ids.push_back(c);
      return ids;
    });
    for (const auto& i : in.inputs)
      if (i.tokens.size() != length) std::abort();
  } catch (const error&) {
  }
  return 0;
}
