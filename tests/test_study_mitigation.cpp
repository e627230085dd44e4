// The mitigation study (sinkcore/study, mitigation_zoo) on a micro budget: where the attention went adds up.
// A unit of its own beside test_study.cpp (the same test program): each unit then instantiates the study's
// runs for fewer architectures, so neither needs 1 GB to compile (docs/performance.md, "Build").
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include <sinkcore/study/dispensability.hpp>

#include "study_support.hpp"

namespace fs = std::filesystem;
using namespace sinkcore;
using test_support::fresh_dir;
using test_support::slurp;
using Catch::Matchers::WithinAbs;

TEST_CASE("mitigation study: micro budget, where the attention went adds up", "[study][mitigation]") {
  using zoo = arch_list<gpt2_tiny, tiny_softmax1, tiny_sigmoid, tiny_kv_bias, tiny_sink_token>;
  const fs::path out = fresh_dir("mitigations");
  auto o = test_support::micro_study_options(out, 2);
  o.regimes = {study::regime::bos};
  o.title = "Mitigation study";
  const auto vs = study::run_study<zoo>(o);
  REQUIRE(vs.size() == 5);

  const auto j = nlohmann::json::parse(slurp(out / "results.json"));
  const auto& variants = j.at("variants");
  REQUIRE(variants.size() == 5);
  const double T40 = double(std::min(o.plan.metric_length, o.plan.context));
  auto num = [](const nlohmann::json& x) { return x.is_null() ? std::nan("") : x.get<double>(); };
  for (const auto& v : variants) {
    const std::string name = v.at("name");
    INFO(name);
    for (const auto& s : v.at("seeds")) {
      const double first = s.at("bos_metric"), rest = s.at("mass_rest"), slot = s.at("mass_slot"),
                   null = num(s.at("mass_null")), entropy = s.at("entropy");
      CHECK(rest > 0.0);
      CHECK(entropy > 0.0);
      CHECK(entropy <= std::log(T40 + 2) + 1e-9);  // at most uniform over T40 keys, a slot and "nothing"
      if (name == "tiny.sigmoid") {
        CHECK(std::isnan(null));  // rows are not distributions
        CHECK(slot == 0.0);
      } else {
        CHECK_THAT(first + rest + slot + null, WithinAbs(1.0, 1e-4));  // every row is a distribution
        if (name == "tiny" || name == "tiny.sink-token" || name == "tiny.kv-bias") CHECK(null < 1e-5);
        if (name == "tiny" || name == "tiny.softmax1") CHECK(slot == 0.0);
        if (name == "tiny.softmax1") CHECK(null > 1e-3);
        if (name == "tiny.kv-bias" || name == "tiny.sink-token") CHECK(slot > 1e-3);
      }
    }
    // summaries over seeds
    std::vector<double> slots;
    for (const auto& s : v.at("seeds")) slots.push_back(s.at("mass_slot"));
    CHECK_THAT(v.at("mass_slot_mean").get<double>(), WithinAbs(stats::mean(slots), 1e-12));
  }

  // destinations.csv agrees with results.json; report.md has the section and the title
  const auto dt = report::read_csv(out / "destinations.csv");
  REQUIRE(dt.rows.size() == 5);
  auto col = [](const report::table& t, const char* name) { return *t.column(name); };
  for (const auto& v : variants)
    for (const auto& row : dt.rows)
      if (row[col(dt, "variant")] == v.at("name")) {
        CHECK_THAT(std::stod(row[col(dt, "mass_slot_mean")]), WithinAbs(v.at("mass_slot_mean"), 1e-6));
        CHECK_THAT(std::stod(row[col(dt, "mass_first_mean")]), WithinAbs(v.at("bos_metric_mean"), 1e-6));
        CHECK_THAT(std::stod(row[col(dt, "entropy_mean")]), WithinAbs(v.at("entropy_mean"), 1e-6));
      }
  const std::string md = slurp(out / "report.md");
  CHECK(md.rfind("# Mitigation study (budget `micro`)", 0) == 0);
  CHECK(md.find("## Where the attention went") != std::string::npos);
  CHECK(md.find("| tiny.kv-bias |") != std::string::npos);
  // checkpoints of the new parameters load back
  const auto m = io::load_weights<tiny_kv_bias>(out / "runs" / "tiny.kv-bias" / "bos" / "seed1" / "model.safetensors");
  double norm = 0;
  for (float x : m.tensor(role::slot_v_bias, 1)) norm += double(x) * x;
  CHECK(norm > 0.0);  // trained away from its zero initialisation
  fs::remove_all(out);
}
