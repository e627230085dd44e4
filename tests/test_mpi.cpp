// MPI (issue 9): run by ctest as `mpiexec -np 2 test_mpi` (tests/CMakeLists.txt), on one machine.
//  - the bucketed in-place all-reduce and the other collectives;
//  - data-parallel training on 2 ranks against one process with the same global batch (loss curve,
//    gradient norms, held-out loss, weights), an uneven split (5 windows over 2 ranks), resume on rank 0;
//  - the study spread over 2 ranks: every run exactly once, the same report as one process, a failing run
//    reported while the others finish, and a rerun that trains only the missing run.
// Assertions that could differ between ranks are CHECKs (never REQUIRE before a collective), so a failure
// on one rank cannot leave the other waiting.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sinkcore/parallel/mpi.hpp>
#include <sinkcore/sinkcore.hpp>
#include <sinkcore/study/dispensability.hpp>

#include "study_support.hpp"
#include "test_support.hpp"

using namespace sinkcore;
namespace fs = std::filesystem;
using parallel::communicator;

namespace {

// MPI_Init before Catch2's main (Catch2::Catch2WithMain), MPI_Finalize after it returns.
struct mpi_environment {
  mpi_environment() {
    int argc = 0;
    char** argv = nullptr;
    session = new parallel::mpi_session(argc, argv, /*only_when_launched=*/false);
  }
  ~mpi_environment() { delete session; }
  parallel::mpi_session* session;
} const mpi_env;

template <class A>
using bytes = typename A::template with_shape<test_support::micro_bytes_shape>;

/// A byte corpus with some structure (words from a small vocabulary), the same on every rank.
train::corpus synthetic_corpus() {
  std::mt19937 rng(12345);
  const char* words[] = {"the ", "sink ", "attends ", "to ", "first ", "token ", "and ", "query ", "bias ", ". "};
  auto text = [&](std::size_t n) {
    std::vector<train::token> t;
    while (t.size() < n)
      for (const char* c = words[rng() % 10]; *c; ++c) t.push_back(train::token(static_cast<unsigned char>(*c)));
    return t;
  };
  train::corpus c;
  c.name = "synthetic";
  c.train = text(20000);
  c.held_out = text(2000);
  return c;
}

/// A directory every rank agrees on (rank 0 names it).
fs::path shared_dir(const communicator& w, const std::string& name) {
  std::string d;
  if (w.root()) {
    d = (fs::temp_directory_path() / ("sinkcore_test_mpi_" + name + "_" +
                                      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())))
            .string();
    fs::remove_all(d);
    fs::create_directories(d);
  }
  w.broadcast(d);
  return d;
}

using test_support::slurp;

/// Whether root's string equals this rank's, on every rank.
bool same_on_all_ranks(const communicator& w, const std::string& mine) {
  std::string root = mine;
  w.broadcast(root);
  return !w.any(root != mine);
}

}  // namespace

TEST_CASE("mpi: collectives on two ranks, in-place all-reduce in buckets", "[mpi]") {
  const auto w = communicator::world();
  CHECK(w.size() == 2);
  CHECK(w.local_size() == 2);
  std::vector<float> x(1000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i) * float(w.rank() + 1);
  w.allreduce_sum(x.data(), x.size(), 64);  // 16 floats per bucket: 63 all-reduces, the last one short
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < x.size(); ++i) wrong += x[i] != float(3 * i);
  CHECK(wrong == 0);
  double d = w.rank() + 0.25;
  w.allreduce_sum(&d, 1);
  CHECK(d == 1.5);
  CHECK(w.any(w.rank() == 1));
  CHECK_FALSE(w.any(false));
  std::string s = w.root() ? "from rank 0" : "";
  w.broadcast(s);
  CHECK(s == "from rank 0");
  CHECK_THROWS_AS(parallel::require_same(w, std::uint64_t(w.rank()), "the rank"), parallel::collective_error);
  CHECK_NOTHROW(parallel::require_same(w, 42, "the answer"));
}

TEST_CASE("mpi: data-parallel training on 2 ranks follows one process with the same global batch", "[mpi][train]") {
  using A = bytes<gpt2_tiny>;
  const auto w = communicator::world();
  const auto data = synthetic_corpus();
  train::train_options opt;
  opt.steps = 12;
  opt.batch = 5;  // uneven: 2 windows on rank 0, 3 on rank 1
  opt.context = 16;
  opt.lr = 3e-3f;
  opt.warmup = 2;
  opt.grad_clip = 1.0f;
  opt.seed = 7;
  opt.eval_batches = 2;

  train::trainer<A> one(data, opt);  // every rank computes the one-process reference itself
  std::vector<double> loss1, norm1;
  for (std::size_t s = 0; s < opt.steps; ++s) {
    loss1.push_back(one.step());
    norm1.push_back(one.last_grad_norm());
  }
  const double held1 = one.evaluate();

  train::trainer<A> dp(data, opt);
  dp.distribute(w, 256);  // 64 floats per bucket: many buckets
  CHECK(dp.communicator().size() == 2);
  std::vector<double> loss2, norm2;
  for (std::size_t s = 0; s < opt.steps; ++s) {
    loss2.push_back(dp.step());
    norm2.push_back(dp.last_grad_norm());
  }
  const double held2 = dp.evaluate();

  // Step 1 sees the same weights: only float summation order differs.
  CHECK_THAT(loss2[0], Catch::Matchers::WithinAbs(loss1[0], 1e-7));
  CHECK_THAT(norm2[0], Catch::Matchers::WithinRel(norm1[0], 1e-5));
  for (std::size_t s = 0; s < opt.steps; ++s) {
    INFO("step " << s + 1 << ": one process " << loss1[s] << " (norm " << norm1[s] << "), 2 ranks " << loss2[s]
                 << " (norm " << norm2[s] << ")");
    CHECK_THAT(loss2[s], Catch::Matchers::WithinRel(loss1[s], 1e-6));
    CHECK_THAT(norm2[s], Catch::Matchers::WithinRel(norm1[s], 1e-5));
  }
  CHECK_THAT(held2, Catch::Matchers::WithinRel(held1, 1e-6));
  CHECK(loss1.back() < loss1.front() - 0.1);  // it learned something: the comparison is not between constants
  double max_diff = 0;
  for (std::size_t i = 0; i < layout<A>::size; ++i)
    max_diff = std::max(max_diff, double(std::abs(dp.net().data()[i] - one.net().data()[i])));
  CHECK(max_diff < 1e-4);  // measured here: 3e-6 (float summation order)
  // Every rank holds exactly the same model.
  CHECK(same_on_all_ranks(w, std::to_string(parallel::fingerprint(dp.net().data(), layout<A>::size * sizeof(float)))));

  // Resume: rank 0 alone reads the checkpoint, distribute() hands it over; bit-identical to no interruption.
  const fs::path dir = shared_dir(w, "resume");
  train::trainer<A> first(data, opt);
  first.distribute(w);
  for (int s = 0; s < 5; ++s) first.step();
  if (w.root()) first.save(dir / "checkpoint.safetensors");
  w.barrier();
  train::trainer<A> resumed(data, opt);
  if (w.root()) resumed.resume(dir / "checkpoint.safetensors");
  resumed.distribute(w);
  CHECK(resumed.step_count() == 5);
  train::trainer<A> straight(data, opt);
  straight.distribute(w);
  for (int s = 0; s < 5; ++s) straight.step();
  for (int s = 0; s < 4; ++s) CHECK(resumed.step() == straight.step());
  CHECK(std::equal(resumed.net().data(), resumed.net().data() + layout<A>::size, straight.net().data()));
  w.barrier();
  if (w.root()) fs::remove_all(dir);

  // Fewer windows than ranks: the same clear error on both ranks, no hang.
  train::train_options tiny_batch = opt;
  tiny_batch.batch = 1;
  train::trainer<A> bad(data, tiny_batch);
  CHECK_THROWS_WITH(bad.distribute(w), Catch::Matchers::Contains("needs --batch >= 2"));
}

namespace {

using study_zoo = arch_list<bytes<gpt2_tiny>, bytes<tiny_no_qbias>>;

// 2 seeds x 2 regimes x 2 variants = 8 runs, one at a time per rank.
study::study_options study_opts(const fs::path& out) { return test_support::micro_study_options(out, 1); }

std::size_t count_results(const fs::path& out) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(out / "runs"))
    n += e.is_regular_file() && e.path().filename() == "result.json";
  return n;
}

}  // namespace

TEST_CASE("mpi: the study spread over 2 ranks writes the one-process report; a failed run is reported, a rerun "
          "trains only it", "[mpi][study]") {
  const auto w = communicator::world();
  const fs::path root_dir = shared_dir(w, "study");
  const fs::path ref = root_dir / "one", dist = root_dir / "two", fail = root_dir / "fail";

  // The reference: one process (rank 0 alone, the study forced onto a single-rank communicator).
  {
    study::scoped_study_communicator alone(communicator::self());
    if (w.root()) study::run_study<study_zoo>(study_opts(ref));
  }
  w.barrier();

  // The same study on both ranks.
  std::ostringstream log;
  auto o = study_opts(dist);
  o.log = w.root() ? &log : nullptr;
  const auto vs = study::run_study<study_zoo>(o);
  CHECK(vs.size() == 4);
  std::string summary;
  for (const auto& v : vs) summary += v.variant + v.regime + std::to_string(v.metric.mean) + std::to_string(v.runs.size()) + ";";
  CHECK(same_on_all_ranks(w, summary));  // every rank returns the same summaries
  if (w.root()) {
    INFO(log.str());
    CHECK(log.str().find("finished on rank 1") != std::string::npos);  // rank 1 did train some runs
    CHECK(count_results(dist) == 8);
    for (const char* f : {"results.json", "variants.csv", "heads.csv", "interventions.csv", "circuit.csv", "emergence.csv"}) {
      INFO(f);
      CHECK(slurp(dist / f) == slurp(ref / f));
      CHECK(!slurp(dist / f).empty());
    }
    const auto j = nlohmann::json::parse(slurp(dist / "results.json"));
    std::set<std::string> seen;
    std::size_t runs = 0;
    for (const auto& v : j.at("variants"))
      for (const auto& s : v.at("seeds")) {
        seen.insert(v.at("name").get<std::string>() + "/" + v.at("regime").get<std::string>() + "/" +
                    std::to_string(s.at("seed").get<int>()));
        ++runs;
      }
    CHECK(runs == 8);
    CHECK(seen.size() == 8);  // every run exactly once
  }

  // A run that cannot be written (its directory is a file) fails on whichever rank takes it.
  const std::string victim = bytes<tiny_no_qbias>::name();
  const fs::path blocker = study::run_dir(fail, victim, study::regime::bos, 2);
  if (w.root()) {
    fs::create_directories(blocker.parent_path());
    std::ofstream(blocker) << "not a directory";
  }
  w.barrier();
  auto f = study_opts(fail);
  std::string message;
  try {
    study::run_study<study_zoo>(f);
  } catch (const parallel::collective_error& e) {
    message = e.what();
  }
  CHECK(message.find("1 of 8 runs failed") != std::string::npos);
  CHECK(message.find(victim + " bos seed 2 on rank") != std::string::npos);
  CHECK(same_on_all_ranks(w, message));
  if (w.root()) {
    CHECK(count_results(fail) == 7);  // the others finished
    CHECK_FALSE(fs::exists(fail / "report.md"));
    fs::remove(blocker);
  }
  w.barrier();
  std::ostringstream relog;
  f.log = w.root() ? &relog : nullptr;
  study::run_study<study_zoo>(f);
  if (w.root()) {
    INFO(relog.str());
    CHECK(relog.str().find("8 runs (7 already finished)") != std::string::npos);
    CHECK(relog.str().find("work queue on rank 0: 1 runs to train") != std::string::npos);
    CHECK(count_results(fail) == 8);
    CHECK(slurp(fail / "results.json") == slurp(ref / "results.json"));
  }
  w.barrier();
  if (w.root()) fs::remove_all(root_dir);
}
