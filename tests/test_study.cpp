// The dispensability study (sinkcore/study): the whole pipeline on a micro budget, its report's structure
// and internal consistency (not the scientific outcome), and resuming.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include <sinkcore/study/dispensability.hpp>

#include "study_support.hpp"

namespace fs = std::filesystem;
using namespace sinkcore;
using Catch::Matchers::WithinAbs;

namespace {

using micro_zoo = arch_list<gpt2_tiny, tiny_no_qbias>;

using test_support::fresh_dir;
using test_support::slurp;

study::study_options micro_options(const fs::path& out) { return test_support::micro_study_options(out, 2); }

}  // namespace

TEST_CASE("budgets: named, checked, and the chance level", "[study]") {
  CHECK(study::budget_by_name("quick").name == "quick");
  CHECK(study::budget_by_name("standard").tokens_per_run() > study::budget_by_name("quick").tokens_per_run());
  CHECK(study::budget_by_name("standard").seeds >= 5);
  CHECK(study::budget_by_name("full").steps > study::budget_by_name("standard").steps);
  CHECK_THROWS_AS(study::budget_by_name("huge"), sinkcore::error);
  study::budget b = study::micro_budget();
  b.steps = 0;
  CHECK_THROWS_AS(b.check(), sinkcore::error);
  CHECK(study::quick_budget().seeds >= 3);
  // Every variant a budget names is in the tiny zoo (a misspelt name would silently drop a variant).
  const auto names = study::zoo_names<tiny_zoo>();
  for (const char* budget : {"quick", "standard", "full"})
    for (const auto& v : study::budget_by_name(budget).variants) {
      INFO(budget << ": " << v);
      CHECK(std::any_of(names.begin(), names.end(), [&](const std::string& n) { return study::detail::short_name(n) == v; }));
    }
  CHECK(study::quick_budget().variants.size() == 7);
  // The natural-text budgets: the 512-context zoo (prose at context 64 grows no sink), its variants named
  // right, the context within the shape's, and micro/quick untouched by the corpus.
  const auto names_512 = study::zoo_names<tiny_512_zoo>();
  for (const char* budget : {"standard", "full"}) {
    const auto b512 = study::budget_by_name(budget, "prose");
    INFO(budget);
    CHECK(b512.name == budget);
    CHECK(b512.zoo == "tiny-512");
    CHECK(b512.train_corpus == "prose");
    CHECK(b512.context == tiny_512::context);
    CHECK(b512.context > study::budget_by_name(budget).context);
    CHECK(b512.tokens_per_run() >= 25'000'000);
    CHECK(b512.seeds >= 3);
    CHECK_NOTHROW(b512.check());
    CHECK(b512.to_json().at("zoo") == "tiny-512");
    for (const auto& v : b512.variants) {
      INFO(v);
      CHECK(std::any_of(names_512.begin(), names_512.end(),
                        [&](const std::string& n) { return study::detail::short_name(n) == v; }));
    }
  }
  CHECK(study::budget_by_name("full", "prose").tokens_per_run() > study::budget_by_name("standard", "prose").tokens_per_run());
  CHECK(study::budget_by_name("standard", "prose").variants == std::vector<std::string>{"baseline", "no-qbias"});
  CHECK(study::budget_by_name("quick", "prose").to_json() == study::quick_budget().to_json());
  CHECK(study::budget_by_name("standard", "mix").to_json() == study::standard_budget().to_json());
  CHECK(study::standard_budget().zoo == "tiny");
  CHECK(study::regime_by_name("bos") == study::regime::bos);
  CHECK_THROWS_AS(study::regime_by_name("eos"), sinkcore::error);
  // classification of a summary against chance
  CHECK(study::classify({3, 0.5, 0, 0.01}, 0.034) == "clear-sink");
  CHECK(study::classify({3, 0.1, 0, 0.01}, 0.034) == "above-chance");
  CHECK(study::classify({3, 0.05, 0, 0.01}, 0.034) == "not-above-chance");
}

TEST_CASE("dispensability study: micro budget end to end, consistent report, resume retrains nothing", "[study]") {
  const fs::path out = fresh_dir("e2e");
  auto o = micro_options(out);
  std::size_t trained_steps = 0;
  o.progress = [&](const study::progress_info& p) { trained_steps = std::max(trained_steps, p.done); };
  const auto vs = study::run_study<micro_zoo>(o);
  const auto& b = o.plan;
  REQUIRE(vs.size() == 4);  // 2 variants x 2 regimes
  CHECK(trained_steps == 2 * 2 * 2 * b.steps);

  // chance at T = 40: mean over i = 20..39 of 1/(i+1)
  double chance = 0;
  for (int i = 20; i < 40; ++i) chance += 1.0 / (i + 1);
  chance /= 20;
  CHECK_THAT(chance, WithinAbs(0.0340, 5e-5));

  // ---- results.json -------------------------------------------------------------------------------
  const auto j = nlohmann::json::parse(slurp(out / "results.json"));
  CHECK(j.at("budget") == "micro");
  const auto& variants = j.at("variants");
  REQUIRE(variants.size() == 4);
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& v : variants) {
    seen.insert({v.at("name").get<std::string>(), v.at("regime").get<std::string>()});
    CHECK_THAT(v.at("chance").get<double>(), WithinAbs(chance, 1e-12));
    const auto& seeds = v.at("seeds");
    REQUIRE(seeds.size() == b.seeds);
    std::vector<double> metric;
    for (std::size_t k = 0; k < seeds.size(); ++k) {
      const auto& s = seeds[k];
      CHECK(s.at("seed") == k + 1);
      CHECK(s.at("tokens") == b.steps * b.batch * b.context);
      const double m = s.at("bos_metric"), sink = s.at("sink_0.3");
      CHECK(m >= 0.0);
      CHECK(m <= 1.0);
      CHECK(sink >= 0.0);
      CHECK(sink <= 1.0);
      for (const char* c : {"nl", "math", "code"}) {
        const double l = s.at("loss").at(c);
        CHECK(std::isfinite(l));
        CHECK(l > 0.0);
        CHECK(l < 10.0);
      }
      metric.push_back(m);
    }
    const auto sum = stats::summarize(metric);
    CHECK_THAT(v.at("bos_metric_mean").get<double>(), WithinAbs(sum.mean, 1e-12));
    CHECK_THAT(v.at("bos_metric_se").get<double>(), WithinAbs(sum.se, 1e-12));
  }
  CHECK(seen == std::set<std::pair<std::string, std::string>>{
                    {"tiny", "gpt2"}, {"tiny", "bos"}, {"tiny.no-qbias", "gpt2"}, {"tiny.no-qbias", "bos"}});

  // ---- the CSVs match results.json ------------------------------------------------------------------
  const auto vt = report::read_csv(out / "variants.csv");
  REQUIRE(vt.rows.size() == 4);
  const auto rt = report::read_csv(out / "runs.csv");
  REQUIRE(rt.rows.size() == 8);
  auto col = [](const report::table& t, const char* name) { return *t.column(name); };
  for (const auto& v : variants) {
    bool found = false;
    for (const auto& row : vt.rows)
      if (row[col(vt, "variant")] == v.at("name") && row[col(vt, "regime")] == v.at("regime")) {
        found = true;
        CHECK_THAT(std::stod(row[col(vt, "bos_metric_mean")]), WithinAbs(v.at("bos_metric_mean"), 1e-6));
        CHECK_THAT(std::stod(row[col(vt, "bos_metric_se")]), WithinAbs(v.at("bos_metric_se"), 1e-6));
        CHECK_THAT(std::stod(row[col(vt, "chance")]), WithinAbs(v.at("chance"), 1e-6));
        CHECK(row[col(vt, "verdict")] == v.at("verdict"));
        CHECK(row[col(vt, "bos_metric_verdict")] == v.at("bos_metric_verdict"));
        CHECK_THAT(std::stod(row[col(vt, "primary_mean")]), WithinAbs(v.at("primary_mean"), 1e-6));
      }
    CHECK(found);
    for (const auto& s : v.at("seeds")) {
      std::size_t hits = 0;
      for (const auto& row : rt.rows)
        if (row[col(rt, "variant")] == v.at("name") && row[col(rt, "regime")] == v.at("regime") &&
            std::stoull(row[col(rt, "seed")]) == s.at("seed").get<std::uint64_t>()) {
          ++hits;
          CHECK_THAT(std::stod(row[col(rt, "bos_metric")]), WithinAbs(s.at("bos_metric"), 1e-6));
          CHECK_THAT(std::stod(row[col(rt, "sink_0.3")]), WithinAbs(s.at("sink_0.3"), 1e-6));
          CHECK_THAT(std::stod(row[col(rt, "loss_nl")]), WithinAbs(s.at("loss").at("nl"), 1e-6));
          CHECK(std::stoull(row[col(rt, "tokens")]) == s.at("tokens").get<std::uint64_t>());
        }
      CHECK(hits == 1);
    }
  }

  // ---- emergence curve, heads, interventions, circuit ------------------------------------------------
  const auto et = report::read_csv(out / "emergence.csv");
  CHECK(et.rows.size() == 8 * (b.eval_points + 1));
  for (const auto& row : et.rows) {
    const double m = std::stod(row[col(et, "bos_metric")]);
    CHECK(m >= 0.0);
    CHECK(m <= 1.0);
  }
  const auto ht = report::read_csv(out / "heads.csv");
  CHECK(ht.rows.size() == 4 * gpt2_tiny::layers * gpt2_tiny::heads);
  const auto it = report::read_csv(out / "interventions.csv");
  std::map<std::string, std::string> applies_no_qbias;
  for (const auto& row : it.rows)
    if (row[col(it, "variant")] == "tiny.no-qbias" && row[col(it, "regime")] == "gpt2")
      applies_no_qbias[row[col(it, "intervention")]] = row[col(it, "applies")];
  CHECK(applies_no_qbias.size() == 8);  // a, b, c, d, e, f, i, j
  CHECK(applies_no_qbias["b"] == "no");  // no query bias to remove
  CHECK(applies_no_qbias["a"] == "yes");
  const auto ct = report::read_csv(out / "circuit.csv");
  CHECK(ct.rows.size() == 8);

  // ---- files and report --------------------------------------------------------------------------
  for (const char* f : {"report.md", "fig_metric_gpt2.svg", "fig_metric_bos.svg", "fig_heads_gpt2.svg", "fig_heads_bos.svg",
                        "fig_emergence_tiny.svg", "fig_emergence_tiny.no-qbias.svg"})
    CHECK(fs::exists(out / f));
  const std::string md = slurp(out / "report.md");
  CHECK(md.find("## Verdict") != std::string::npos);
  CHECK(md.find("](fig_metric_gpt2.svg)") != std::string::npos);
  CHECK(md.find("](fig_emergence_tiny.svg)") != std::string::npos);
  // A finished run keeps its weights, curve and result, not the AdamW state.
  for (const char* v : {"tiny", "tiny.no-qbias"})
    for (const char* r : {"gpt2", "bos"})
      for (int s = 1; s <= 2; ++s) {
        const auto dir = out / "runs" / v / r / ("seed" + std::to_string(s));
        CHECK(fs::exists(dir / "model.safetensors"));
        CHECK(fs::exists(dir / "curve.json"));
        CHECK(fs::exists(dir / "result.json"));
        CHECK_FALSE(fs::exists(dir / "checkpoint.safetensors"));
      }
  CHECK(fs::file_size(out / "runs" / "tiny" / "bos" / "seed1" / "model.safetensors") <
        model<gpt2_tiny>::size() * sizeof(float) + 65536);

  // ---- a second run with the same OUT retrains nothing and writes the same results.json --------------
  const std::string first = slurp(out / "results.json");
  const auto ckpt = out / "runs" / "tiny" / "bos" / "seed2" / "model.safetensors";
  const auto mtime = fs::last_write_time(ckpt);
  trained_steps = 0;
  study::run_study<micro_zoo>(o);
  CHECK(trained_steps == 0);
  CHECK(fs::last_write_time(ckpt) == mtime);
  CHECK(slurp(out / "results.json") == first);

  // A run whose result was lost is measured again from its weights: no training, the same numbers.
  fs::remove(out / "runs" / "tiny.no-qbias" / "gpt2" / "seed1" / "result.json");
  study::run_study<micro_zoo>(o);
  CHECK(trained_steps == 0);
  CHECK(slurp(out / "results.json") == first);
  CHECK(slurp(out / "report.md").find("(1 seed)") == std::string::npos);

  // The same study with one seed reuses seed 1's runs, and its report gives no standard error.
  o.plan.seeds = 1;
  study::run_study<micro_zoo>(o);
  CHECK(trained_steps == 0);
  const std::string one = slurp(out / "report.md");
  CHECK(one.find("(1 seed)") != std::string::npos);
  CHECK(one.find("with one seed there is no standard error") != std::string::npos);

  // A baseline whose mean passes 5 x chance in one seed only is reported as uncertain, not as "no sink".
  auto runs = vs[0].runs;
  REQUIRE(runs.size() == 2);
  runs[0].bos_metric = 0.9;
  runs[1].bos_metric = 0.03;
  const auto uneven = study::summarize_runs(runs);
  CHECK(uneven.bos_metric_verdict == "not-above-chance");  // mean 0.465, but mean - 2 SE is below chance
  auto b2 = o.plan;
  b2.seeds = 2;
  const fs::path out2 = fresh_dir("uneven");
  fs::create_directories(out2);
  study::write_study_report({uneven}, b2, out2, j.at("train_corpus").get<std::string>(), {"nl", "math", "code"});
  const std::string md2 = slurp(out2 / "report.md");
  CHECK(md2.find("Mean at or above 5 × chance, but the 2-SE interval reaches below it") != std::string::npos);
  CHECK(md2.find("on average (0.4650 ± 0.8700) but not in every seed") != std::string::npos);
  CHECK(md2.find("there is no sink to lose") == std::string::npos);
  fs::remove_all(out2);
  fs::remove_all(out);
}

TEST_CASE("dispensability study: the primary measure, its chance and the paired comparison are consistent", "[study]") {
  const fs::path out = fresh_dir("primary");
  auto o = micro_options(out);
  o.plan.seeds = 3;
  o.regimes = {study::regime::bos};
  const auto vs = study::run_study<micro_zoo>(o);
  REQUIRE(vs.size() == 2);
  const auto j = nlohmann::json::parse(slurp(out / "results.json"));
  CHECK(j.at("primary_measure") == "peak_layer_metric");
  const auto& variants = j.at("variants");
  REQUIRE(variants.size() == 2);
  const auto& base = variants[0];
  const auto& other = variants[1];
  REQUIRE(base.at("name") == "tiny");
  CHECK(base.at("verdict") == "baseline");
  CHECK_FALSE(base.contains("paired"));

  // Per seed: the peak layer is the argmax of by_layer, its value the primary measure, sink heads counted.
  for (const auto& v : variants)
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      const auto rj = nlohmann::json::parse(slurp(out / "runs" / v.at("name").get<std::string>() / "bos" /
                                                  ("seed" + std::to_string(seed)) / "result.json"))
                          .at("result");
      const auto by_layer = rj.at("by_layer").get<std::vector<double>>();
      const auto by_head = rj.at("by_head").get<std::vector<double>>();
      REQUIRE(by_layer.size() == gpt2_tiny::layers);
      const std::size_t argmax = std::size_t(std::max_element(by_layer.begin(), by_layer.end()) - by_layer.begin());
      CHECK(rj.at("peak_layer") == argmax);
      CHECK(rj.at("peak_layer_metric").get<double>() == by_layer[argmax]);
      CHECK(rj.at("primary").get<double>() == by_layer[argmax]);
      for (std::size_t l = 0; l < gpt2_tiny::layers; ++l) {
        double mean = 0;
        for (std::size_t h = 0; h < gpt2_tiny::heads; ++h) mean += by_head[l * gpt2_tiny::heads + h] / gpt2_tiny::heads;
        CHECK_THAT(by_layer[l], WithinAbs(mean, 1e-12));
      }
      CHECK(rj.at("sink_heads") == std::size_t(std::count_if(by_head.begin(), by_head.end(), [](double x) { return x > 0.3; })));
      CHECK(rj.at("by_head_sink").size() == gpt2_tiny::layers * gpt2_tiny::heads);
      CHECK(v.at("seeds")[seed - 1].at("primary") == rj.at("primary"));
    }

  // The chance level of the primary measure against a brute-force computation: the untrained model of the
  // same seed on the same windows, attention of second-half queries to key 0 read off the patterns.
  {
    const auto data = study::load_study_data(o.plan.train_corpus, o.corpora);
    const std::size_t T = std::min(o.plan.metric_length, o.plan.context);
    const auto w = study::make_windows(data.train.held_out, o.plan.eval_windows, T, study::regime::bos, 0x5eed40);
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      const model<gpt2_tiny> untrained(seed);
      workspace<gpt2_tiny> ws;
      forward(untrained, ws, std::span<const int>(w.inputs), w.n, T);
      double best = -1;
      for (std::size_t l = 0; l < gpt2_tiny::layers; ++l) {
        double sum = 0;
        std::size_t count = 0;
        for (std::size_t b = 0; b < w.n; ++b)
          for (std::size_t h = 0; h < gpt2_tiny::heads; ++h)
            for (std::size_t q = T / 2; q < T; ++q, ++count) sum += ws.pattern(l, b, h)[q * T + 0];
        best = std::max(best, sum / double(count));
      }
      CHECK_THAT(base.at("seeds")[seed - 1].at("primary_chance").get<double>(), WithinAbs(best, 1e-6));
      CHECK(best > bos_attention_chance(T) * 0.5);
    }
  }

  // The interventions and circuit statistics on the peak layer: intervention a (the unmodified model) there
  // against the trained weights' attention patterns read directly, and the circuit's peak-layer block
  // naming the same layer and computed on it alone.
  {
    const auto data = study::load_study_data(o.plan.train_corpus, o.corpora);
    const std::size_t T = std::min(o.plan.metric_length, o.plan.context);
    const auto w = study::make_windows(data.train.held_out, o.plan.intervention_windows, T, study::regime::bos, 0x1a7e);
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      const auto dir = out / "runs" / "tiny" / "bos" / ("seed" + std::to_string(seed));
      const auto rj = nlohmann::json::parse(slurp(dir / "result.json")).at("result");
      const std::size_t L = rj.at("peak_layer");
      const auto m = io::load_weights<gpt2_tiny>(dir / "model.safetensors");
      workspace<gpt2_tiny> ws;
      forward(m, ws, std::span<const int>(w.inputs), w.n, T);
      double sum = 0;
      std::size_t count = 0;
      for (std::size_t b = 0; b < w.n; ++b)
        for (std::size_t h = 0; h < gpt2_tiny::heads; ++h)
          for (std::size_t q = T / 2; q < T; ++q, ++count) sum += ws.pattern(L, b, h)[q * T + 0];
      const auto& a = rj.at("interventions").at(0);
      REQUIRE(a.at("id") == "a");
      CHECK_THAT(a.at("peak_layer_metric").get<double>(), WithinAbs(sum / double(count), 1e-6));
      for (const auto& iv : rj.at("interventions"))
        if (iv.at("applies").get<bool>()) {
          CHECK(iv.at("peak_layer_metric").get<double>() >= 0.0);
          CHECK(iv.at("peak_layer_metric").get<double>() <= 1.0);
        }
      const auto& c = rj.at("circuit");
      REQUIRE(c.contains("peak_layer"));
      CHECK(c.at("peak_layer").at("layer") == L);
      const auto massive = c.at("massive_coordinates").get<std::vector<std::size_t>>();
      const auto g = mean_gamma(m, massive, layer_range{L, L + 1});
      CHECK_THAT(c.at("peak_layer").at("gamma_massive").get<double>(), WithinAbs(g.massive, 1e-9));
      CHECK_THAT(c.at("peak_layer").at("gamma_other").get<double>(), WithinAbs(g.other, 1e-9));
      const auto mid = layer_range::mid(gpt2_tiny::layers);
      if (L >= mid.first && L < mid.last && mid.last - mid.first == 1)
        CHECK(c.at("peak_layer").at("shift_median_key0") == c.at("shift_median_key0"));
    }
    const std::string md = slurp(out / "report.md");
    CHECK(md.find("read on each run's **peak layer**") != std::string::npos);
    CHECK(md.find("On each run's peak layer alone") != std::string::npos);
    const auto it = report::read_csv(out / "interventions.csv");
    REQUIRE(it.column("peak_percent_of_baseline"));
    for (const auto& row : it.rows)
      if (row[*it.column("intervention")] == "a" && row[*it.column("applies")] == "yes")
        CHECK(row[*it.column("peak_percent_of_baseline")] == "100.0");
  }

  // The paired difference is the mean of the per-seed differences, its interval the t interval over seeds.
  std::vector<double> d;
  for (std::size_t k = 0; k < 3; ++k)
    d.push_back(other.at("seeds")[k].at("primary").get<double>() - base.at("seeds")[k].at("primary").get<double>());
  const auto& paired = other.at("paired");
  CHECK(paired.at("measure") == "peak_layer_metric");
  CHECK(paired.at("n") == 3);
  CHECK_THAT(paired.at("mean_diff").get<double>(), WithinAbs((d[0] + d[1] + d[2]) / 3, 1e-12));
  const double half = 4.303 * stats::standard_error(d);
  CHECK_THAT(paired.at("ci95")[0].get<double>(), WithinAbs((d[0] + d[1] + d[2]) / 3 - half, 1e-12));
  CHECK_THAT(paired.at("ci95")[1].get<double>(), WithinAbs((d[0] + d[1] + d[2]) / 3 + half, 1e-12));
  CHECK(other.at("verdict") == vs[1].verdict);
  CHECK(vs[1].verdict == study::paired_verdict(vs[1], vs[0]));
  double primary_sum = 0;
  for (const auto& s : other.at("seeds")) primary_sum += s.at("primary").get<double>();
  CHECK_THAT(other.at("primary_mean").get<double>(), WithinAbs(primary_sum / 3, 1e-12));
  const std::string md = slurp(out / "report.md");
  CHECK(md.find("**Verdict rule:**") != std::string::npos);
  CHECK(md.find("](fig_primary_bos.svg)") != std::string::npos);
  CHECK(fs::exists(out / "fig_primary_bos.svg"));
  fs::remove_all(out);
}

TEST_CASE("the verdict rule on synthetic seeds", "[study]") {
  auto summary = [](std::string name, std::vector<double> primary, double chance) {
    std::vector<study::run_result> runs;
    for (std::size_t k = 0; k < primary.size(); ++k) {
      study::run_result r;
      r.variant = std::move(name == "" ? "x" : name);
      r.regime = "bos";
      r.seed = k + 1;
      r.primary = primary[k];
      r.primary_chance = chance;
      r.chance = chance;
      runs.push_back(r);
    }
    return study::summarize_runs(runs);
  };
  const double c = 0.04;
  auto verdict_of = [&](std::vector<double> base, std::vector<double> variant) {
    std::vector<study::variant_summary> vs{summary("tiny", base, c), summary("tiny.x", variant, c)};
    study::compare_with_baseline(vs, "tiny");
    CHECK(vs[0].verdict == "baseline");
    return vs[1].verdict;
  };
  CHECK(verdict_of({0.5, 0.6, 0.4}, {0.05, 0.06, 0.04}) == "removed");
  CHECK(verdict_of({0.5, 0.6, 0.4}, {0.30, 0.41, 0.19}) == "weakened");       // d = -0.2 each seed
  CHECK(verdict_of({0.5, 0.6, 0.4}, {0.70, 0.81, 0.61}) == "strengthened");
  CHECK(verdict_of({0.5, 0.6, 0.4}, {0.6, 0.4, 0.5}) == "sink kept");          // interval holds 0, sinks everywhere
  CHECK(verdict_of({0.5, 0.6, 0.4}, {0.6, 0.1, 0.5}) == "no detectable difference");
  CHECK(verdict_of({0.5, 0.1, 0.4}, {0.05, 0.06, 0.04}) != "removed");         // no sink in every baseline seed
  // t quantiles: the table, and the expansion beyond it against known values
  CHECK(stats::student_t_975(1) == 12.706);
  CHECK(stats::student_t_975(4) == 2.776);
  CHECK_THAT(stats::student_t_975(40), WithinAbs(2.0211, 2e-4));
  CHECK_THAT(stats::student_t_975(120), WithinAbs(1.9799, 2e-4));
  const std::vector<double> one{0.5};
  CHECK(std::isnan(stats::t_interval_95(one).lo));
}

TEST_CASE("dispensability study: unknown variants are refused", "[study]") {
  auto o = micro_options(fresh_dir("bad"));
  o.variants = {"tiny.no-such-thing"};
  CHECK_THROWS_AS(study::run_study<micro_zoo>(o), sinkcore::error);
  o.variants.clear();
  o.plan.variants = {"baseline", "nope"};  // the micro zoo has no NoPE variant
  CHECK_THROWS_WITH(study::run_study<micro_zoo>(o), Catch::Contains("names variant 'nope'"));
}

TEST_CASE("the mitigation zoo: named, baseline first, registered", "[study][mitigation]") {
  const auto names = study::zoo_names<mitigation_zoo>();
  CHECK(names.front() == "tiny");
  CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  for (const auto& n : names) {
    std::string got;
    with_architecture(n, [&](auto t) { got = decltype(t)::type::name(); });
    CHECK(got == n);
  }
}

TEST_CASE("every zoo a study trains is registered: every sinklab command can load its checkpoints", "[study]") {
  // Before the fix the tiny-h16 zoo trained by `sinklab dispensability --zoo tiny-h16` was missing from the
  // registry, so `sinklab forward` refused its checkpoints.
  auto registered = [](const std::string& n) {
    std::string got;
    with_architecture(n, [&](auto t) { got = decltype(t)::type::name(); });
    return got == n;
  };
  for (const auto& n : study::zoo_names<tiny_zoo>()) CHECK(registered(n));
  for (const auto& n : study::zoo_names<tiny_h16_zoo>()) CHECK(registered(n));
  for (const auto& n : study::zoo_names<mitigation_zoo>()) CHECK(registered(n));
  CHECK(registered("tiny.alibi"));
  CHECK(registered("tiny-h16.no-kbias"));
}

TEST_CASE("a GPT-2 config is written only for architectures Hugging Face computes identically", "[io][checkpoint]") {
  // Every slot must hold GPT-2's own component; before the fix only 4 of 6 slots were checked, so
  // softmax + 1, sigmoid attention, a sink token or a key-value bias got a plain GPT-2 config.
  hana::for_each(all_architectures, [](auto t) {
    using A = typename decltype(t)::type;
    INFO(A::name());
    CHECK(io::hf_gpt2_compatible<A> == std::is_same_v<A, architecture<typename A::shape>>);
  });
  STATIC_REQUIRE(io::hf_gpt2_compatible<gpt2_small>);
  STATIC_REQUIRE(io::hf_gpt2_compatible<gpt2_tiny>);
  STATIC_REQUIRE_FALSE(io::hf_gpt2_compatible<tiny_softmax1>);
  STATIC_REQUIRE_FALSE(io::hf_gpt2_compatible<tiny_sigmoid>);
  STATIC_REQUIRE_FALSE(io::hf_gpt2_compatible<tiny_sink_token>);
  STATIC_REQUIRE_FALSE(io::hf_gpt2_compatible<tiny_kv_bias>);
  STATIC_REQUIRE_FALSE(io::hf_gpt2_compatible<tiny_alibi>);
  STATIC_REQUIRE_FALSE(io::hf_gpt2_compatible<tiny_no_kbias>);
}

namespace {
/// Every <line ...> of an SVG with its attributes.
std::vector<std::map<std::string, std::string>> svg_lines(const std::string& svg) {
  std::vector<std::map<std::string, std::string>> out;
  for (std::size_t p = svg.find("<line "); p != std::string::npos; p = svg.find("<line ", p + 1)) {
    const std::string e = svg.substr(p, svg.find("/>", p) - p);
    std::map<std::string, std::string> a;
    for (std::size_t q = e.find("=\""); q != std::string::npos; q = e.find("=\"", q + 1)) {
      const std::size_t k = e.rfind(' ', q) + 1;
      a[e.substr(k, q - k)] = e.substr(q + 2, e.find('"', q + 2) - q - 2);
    }
    out.push_back(a);
  }
  return out;
}
}  // namespace

TEST_CASE("the metric figure: intervals stay within [0, 1], long labels are tilted, not overlapped", "[study][report]") {
  // Before the fix the bars showed mean ± 2 SE, so a small mean with seeds that disagree reached below 0.
  const auto b = study::micro_budget();
  std::vector<study::variant_summary> vs;
  const char* names[] = {"tiny", "tiny.rotary.no-qbias.frozen-keys", "tiny.low-rank-keys-8", "tiny.normalized-keys",
                         "tiny.no-first-mlp", "tiny.frozen-keys", "tiny.no-kbias", "tiny.alibi", "tiny.nope",
                         "tiny.rotary", "tiny.no-qbias", "tiny.sink-token.sigmoid-fixed"};
  for (std::size_t i = 0; i < 12; ++i) {
    study::variant_summary v;
    v.variant = names[i];
    v.regime = "bos";
    v.chance = 0.034;
    v.metric = {3, i % 2 ? 0.01 : 0.9, 0.2, 0.3};  // n, mean, sd, se: 0.01 - 0.6 < 0 and 0.9 + 0.6 > 1
    v.runs.resize(3);
    vs.push_back(v);
  }
  const auto c = study::make_report_context(vs, b, "backcopy", {"backcopy"}, "t");
  const std::string svg = study::metric_figure(vs, c, "bos");
  double axis = -1;
  for (const auto& l : svg_lines(svg))
    if (l.at("stroke") == "#333" && l.at("y1") == l.at("y2") && std::stod(l.at("x1")) == 70) axis = std::stod(l.at("y1"));
  REQUIRE(axis > 0);
  std::size_t intervals = 0;
  double top = 1e9;
  for (const auto& l : svg_lines(svg))
    if (l.count("class") && l.at("class") == "interval") {
      ++intervals;
      CHECK(std::max(std::stod(l.at("y1")), std::stod(l.at("y2"))) <= axis + 1e-6);  // never below 0
      top = std::min({top, std::stod(l.at("y1")), std::stod(l.at("y2"))});
    }
  CHECK(intervals == 12);
  CHECK(top >= 40 - 1e-6);  // nor above the top of the plot (1.0 at most)
  // 12 labels of up to 32 characters on 960 px: tilted, each with its own rotation
  std::size_t tilted = 0;
  for (const auto* n : names) {
    const std::string short_name = std::string(n).find('.') == std::string::npos ? "baseline" : std::string(n).substr(5);
    const auto at = svg.find(">" + short_name + "</text>");
    REQUIRE(at != std::string::npos);
    tilted += svg.rfind("rotate(-40", at) > svg.rfind("<text", at);
  }
  CHECK(tilted == 12);
  // three short labels stay horizontal
  vs.resize(3);
  vs[1].variant = "tiny.nope";
  vs[2].variant = "tiny.alibi";
  const auto c3 = study::make_report_context(vs, b, "backcopy", {"backcopy"}, "t");
  CHECK(study::metric_figure(vs, c3, "bos").find("rotate(-40") == std::string::npos);
}

TEST_CASE("a run's result round-trips through JSON, field by field", "[study]") {
  study::run_result r;
  r.variant = "tiny.alibi";
  r.regime = "bos";
  r.seed = 3;
  r.steps = 120;
  r.tokens = 122880;
  r.layers = 4;
  r.heads = 4;
  r.context = 64;
  r.metric_length = 40;
  r.sink_length = 64;
  r.chance = 0.034;
  r.bos_metric = 0.25;
  r.mass_null = std::nan("");
  r.loss = {{"nl", 1.5}, {"backcopy", 1.2}};
  r.bos_by_corpus = {{"nl", 0.1}};
  r.by_layer = {0.1, 0.2, 0.3, 0.4};
  r.curve = {{0, 0, 0.03, 0.03, 0.02, 5.5}, {60, 61440, 0.1, 0.2, 0.3, 2.0}};
  r.interventions = {{"a", "baseline", true, "", 0.25, 0.5, 1.2}, {"c", "remove first PE", false, "needs-learned-positions", 0, 0, 0}};
  r.circuit.applies = true;
  r.circuit.massive_coordinates = std::vector<std::size_t>{3, 7};
  r.circuit.mid = {{"shift_median_key0", 1.5}, {"gamma_other", 0.25}};
  r.circuit.peak_layer = 2;
  r.circuit.peak = {{"shift_median_key0", 2.5}};
  r.train_seconds = 12.5;
  const auto j = study::to_json(r);
  const auto back = study::run_result_from_json(j);
  CHECK(study::to_json(back).dump() == j.dump());  // dumps: NaN (mass_null) compares unequal to itself
  // The circuit block keeps the layout of result.json files written before circuit_stats existed.
  CHECK(j.at("circuit").at("gamma_other") == 0.25);
  CHECK(j.at("circuit").at("massive_coordinates") == nlohmann::json::array({3, 7}));
  CHECK(j.at("circuit").at("peak_layer").at("layer") == 2);
  CHECK(j.at("circuit").at("peak_layer").at("shift_median_key0") == 2.5);
  CHECK(back.circuit.applies);
  CHECK(back.circuit.peak_layer == std::optional<std::size_t>(2));
  CHECK(back.circuit.mid == r.circuit.mid);
  CHECK(back.circuit.peak == r.circuit.peak);
  CHECK(back.circuit.massive_coordinates == r.circuit.massive_coordinates);
  CHECK(std::isnan(back.mass_null));
  CHECK(back.curve.size() == 2);
  CHECK(back.interventions[1].reason == "needs-learned-positions");
  // results.json's seeds hold a subset; runs.csv's row has a column per corpus
  const auto seeds = study::to_json(r, study::in_seeds_json);
  CHECK(seeds.contains("bos_by_corpus"));
  CHECK(!seeds.contains("curve"));
  CHECK(!seeds.contains("variant"));
  const auto header = study::runs_csv_header({"backcopy", "nl"});
  const auto row = study::runs_csv_row(r, {"backcopy", "nl"});
  REQUIRE(header.size() == row.size());
  const auto col = [&](const std::string& name) { return row[std::size_t(std::find(header.begin(), header.end(), name) - header.begin())]; };
  CHECK(col("loss_backcopy") == "1.200000");
  CHECK(col("bos_metric_nl") == "0.100000");
  CHECK(col("bos_metric_backcopy").empty());
  CHECK(col("train_seconds") == "12.5");
  CHECK(header.front() == "variant");
  CHECK(header.back() == "train_seconds");
}

