#pragma once
/// @file distributed.hpp
/// Where the runs of a study execute: this process's threads (OpenMP, `jobs` at a time), or, under MPI
/// with several ranks, every rank's threads fed by a work queue on rank 0 (docs/scaling.md).
///
/// The work queue: rank 0 holds the list of runs still to train, in the study's order (seed-major). A
/// dispatcher thread on rank 0 answers requests from the other ranks (MPI_Iprobe every few ms, so it costs
/// no core); rank 0's own worker threads take from the same queue directly. Each request carries the
/// result of the requester's previous run (run_result as JSON, with the run's result.json text) or its
/// error. Runs rank 0 already finds finished are loaded by rank 0 and never sent. When the queue is empty
/// every worker stops; rank 0 then either broadcasts every result (all ranks summarise the same numbers,
/// rank 0 writes the report) or, if any run failed, a collective_error naming every failed run and its
/// rank, after all other runs have finished and been saved. A rerun retrains only what is missing.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../io/atomic_file.hpp"
#include "../parallel/mpi.hpp"
#include "run.hpp"

namespace sinkcore::study {

/// The communicator studies distribute over: MPI_COMM_WORLD under MPI (parallel::communicator::world()),
/// unless a scoped_study_communicator says otherwise (tests: a single-process reference inside an MPI job).
inline std::optional<parallel::communicator>& study_communicator_override() {
  static std::optional<parallel::communicator> c;
  return c;
}
inline parallel::communicator study_communicator() {
  const auto& o = study_communicator_override();
  return o ? *o : parallel::communicator::world();
}
class scoped_study_communicator {
 public:
  explicit scoped_study_communicator(parallel::communicator c) : previous_(study_communicator_override()) {
    study_communicator_override() = c;
  }
  ~scoped_study_communicator() { study_communicator_override() = previous_; }
  scoped_study_communicator(const scoped_study_communicator&) = delete;
  scoped_study_communicator& operator=(const scoped_study_communicator&) = delete;

 private:
  std::optional<parallel::communicator> previous_;
};

namespace detail {

inline constexpr int tag_request = 9001, tag_reply = 9002;

inline std::string read_text_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string describe_job(const std::string& variant, regime r, std::uint64_t seed) {
  return variant + " " + regime_name(r) + " seed " + std::to_string(seed);
}

/// A worker rank's message to rank 0 (as JSON text): the outcome of the run it did last (none in its first
/// request), or that it has finished.
struct work_report {
  std::optional<std::size_t> done;  ///< the job it ran
  bool ok = false;
  run_result result;                ///< when ok
  std::string result_file;          ///< the run's result.json text, when ok
  std::string error;                ///< when not ok
  bool finished = false;
  SINKCORE_DECL std::string to_text() const;
  static SINKCORE_DECL work_report from_text(const std::string& text);
};
/// Every result, from rank 0 to the others (as JSON text); results_from_text fills `results` in order.
SINKCORE_DECL std::string results_to_text(const std::vector<run_result>& results);
SINKCORE_DECL void results_from_text(const std::string& text, std::vector<run_result>& results);
}  // namespace detail

/// Runs every job of a study: job.fn(&progress) for each job (fields variant, reg, seed, fn, finished),
/// filling results[i], or errors[i] when a job throws. Single process (or a communicator of one rank):
/// an OpenMP loop over `o.jobs` threads, exactly as before MPI existed. Several ranks: the work queue
/// described above; every rank returns with every result, or throws parallel::collective_error listing
/// every failed run (all ranks, after the others finished).
template <class Job, class Options>
void run_jobs(std::vector<Job>& jobs, const Options& o, study_progress& progress, std::vector<run_result>& results,
              std::vector<std::exception_ptr>& errors) {
  const int outer = int(std::max<std::size_t>(1, std::min(o.jobs, jobs.size())));
  const parallel::communicator comm = study_communicator();
  if (!comm.distributed()) {
#pragma omp parallel for num_threads(outer) schedule(dynamic, 1)
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      try {
#ifdef _OPENMP
        omp_set_num_threads(outer > 1 ? 1 : std::max(1, o.threads_per_run));
#endif
        results[i] = jobs[i].fn(&progress);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
    return;
  }

  std::mutex mu;  // the queue, the failure list and the log on rank 0; MPI calls on other ranks
  struct failure {
    std::size_t job;
    int rank;
    std::string what;
  };
  std::vector<failure> failures;
  auto say = [&](const std::string& s) {
    if (o.log) *o.log << s << std::endl;
  };
  auto what_of = [](std::exception_ptr e) -> std::string {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      return x.what();
    } catch (...) {
      return "unknown error";
    }
  };
  auto run_local = [&](auto&& next) {  // this rank's worker threads, each pulling jobs from `next`
#pragma omp parallel num_threads(outer)
    {
#ifdef _OPENMP
      omp_set_num_threads(outer > 1 ? 1 : std::max(1, o.threads_per_run));
#endif
      next();
    }
  };

  if (comm.root()) {
    std::deque<std::size_t> local_only, shared;  // finished runs are loaded here; the rest is the queue
    for (std::size_t i = 0; i < jobs.size(); ++i) (jobs[i].finished ? local_only : shared).push_back(i);
    say("work queue on rank 0: " + std::to_string(shared.size()) + " runs to train over " + std::to_string(comm.size()) +
        " ranks (" + std::to_string(local_only.size()) + " finished runs loaded by rank 0)");
    auto pop = [&](bool remote) -> std::optional<std::size_t> {
      std::lock_guard<std::mutex> lock(mu);
      for (auto* q : {remote ? &shared : &local_only, &shared}) {
        if (q->empty()) continue;
        const std::size_t i = q->front();
        q->pop_front();
        return i;
      }
      return std::nullopt;
    };
    // Dispatcher: serves the other ranks until each of them has said it is finished.
    std::exception_ptr dispatcher_error;
    std::thread dispatcher([&] {
      try {
        int finished_ranks = 0;
        std::string msg;
        while (finished_ranks < comm.size() - 1) {
          bool waiting = false;
          {
            std::lock_guard<std::mutex> lock(mu);  // MPI is used from one thread at a time on rank 0 too
            waiting = comm.message_waiting(detail::tag_request);
          }
          if (!waiting) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
          }
          int from = 0;
          {
            std::lock_guard<std::mutex> lock(mu);
            from = comm.receive(msg, -1, detail::tag_request);
          }
          auto rep = detail::work_report::from_text(msg);
          if (rep.done) {
            const std::size_t i = *rep.done;
            const std::string name = detail::describe_job(jobs[i].variant, jobs[i].reg, jobs[i].seed);
            if (rep.ok) {
              results[i] = std::move(rep.result);
              // Keep the run's result.json on rank 0's disk too (a cluster without a shared file system):
              // a rerun then finds it finished.
              const std::string& text = rep.result_file;
              const fs::path rf = run_dir(o.out, jobs[i].variant, jobs[i].reg, jobs[i].seed) / "result.json";
              if (!text.empty() && detail::read_text_file(rf) != text) {
                fs::create_directories(rf.parent_path());
                io::write_file_atomically(rf, [&](std::ostream& os) { os << text; });
              }
              std::lock_guard<std::mutex> lock(mu);
              say(name + ": finished on rank " + std::to_string(from));
            } else {
              errors[i] = std::make_exception_ptr(error(rep.error));
              std::lock_guard<std::mutex> lock(mu);
              failures.push_back({i, from, rep.error});
              say(name + ": FAILED on rank " + std::to_string(from) + ": " + rep.error);
            }
            if (rep.ok) {  // credit the remote run's steps, so that the ETA covers every rank
              const std::uint64_t steps = o.plan.steps;
              for (std::uint64_t k = 1; k <= steps; ++k)
                progress.step({jobs[i].variant, regime_name(jobs[i].reg), jobs[i].seed, k, steps});
              progress.step({jobs[i].variant, regime_name(jobs[i].reg), jobs[i].seed, steps, steps}, true);
            }
          }
          if (rep.finished) {
            ++finished_ranks;
            continue;
          }
          const auto next = pop(true);
          std::lock_guard<std::mutex> lock(mu);
          comm.send(std::to_string(next ? static_cast<long long>(*next) : -1LL), from, detail::tag_reply);
        }
      } catch (...) {
        dispatcher_error = std::current_exception();
      }
    });
    run_local([&] {
      while (const auto i = pop(false)) {
        try {
          results[*i] = jobs[*i].fn(&progress);
        } catch (...) {
          errors[*i] = std::current_exception();
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back({*i, 0, what_of(errors[*i])});
          say(detail::describe_job(jobs[*i].variant, jobs[*i].reg, jobs[*i].seed) + ": FAILED on rank 0: " +
              failures.back().what);
        }
      }
    });
    dispatcher.join();
    if (dispatcher_error) {  // the queue itself broke (not a run): the other ranks may be waiting for it
      std::fprintf(stderr, "sinkcore: error: study work queue on rank 0: %s\n", what_of(dispatcher_error).c_str());
      parallel::mpi_session::fail(1);
      std::rethrow_exception(dispatcher_error);
    }
  } else {
    // A worker rank: each thread asks rank 0 for a run, reports it with the next request.
    run_local([&] {
      detail::work_report report;  // the first request reports nothing
      while (true) {
        std::string reply;
        {
          std::lock_guard<std::mutex> lock(mu);
          comm.send(report.to_text(), 0, detail::tag_request);
          comm.receive(reply, 0, detail::tag_reply);
        }
        const long long i = std::stoll(reply);
        if (i < 0) break;
        const auto& job = jobs[std::size_t(i)];
        report = {};
        report.done = std::size_t(i);
        try {
          report.result = job.fn(&progress);
          report.ok = true;
          report.result_file = detail::read_text_file(run_dir(o.out, job.variant, job.reg, job.seed) / "result.json");
        } catch (const std::exception& e) {
          report.ok = false;
          report.error = e.what();
        } catch (...) {
          report.ok = false;
          report.error = "unknown error";
        }
      }
    });
    std::lock_guard<std::mutex> lock(mu);
    detail::work_report last;
    last.finished = true;
    comm.send(last.to_text(), 0, detail::tag_request);
  }

  // Agreement: every failure, or every result, from rank 0 to all (ranks done early sleep meanwhile).
  comm.wait_for_all();
  std::string failed;
  if (comm.root() && !failures.empty()) {
    std::sort(failures.begin(), failures.end(), [](const auto& a, const auto& b) { return a.job < b.job; });
    failed = std::to_string(failures.size()) + " of " + std::to_string(jobs.size()) + " runs failed (the others finished and are " +
             "kept; rerun the same command to retry only the missing runs): ";
    for (std::size_t k = 0; k < failures.size(); ++k) {
      const auto& f = failures[k];
      failed += (k ? "; " : "") + detail::describe_job(jobs[f.job].variant, jobs[f.job].reg, jobs[f.job].seed) +
                " on rank " + std::to_string(f.rank) + ": " + f.what;
    }
  }
  comm.broadcast(failed);
  if (!failed.empty()) throw parallel::collective_error(failed);
  std::string all;
  if (comm.root()) all = detail::results_to_text(results);
  comm.broadcast(all);
  if (!comm.root()) detail::results_from_text(all, results);
}

/// Whether this process writes a study's report: rank 0 of the study's communicator (always, alone).
inline bool writes_study_report() { return study_communicator().root(); }

}  // namespace sinkcore::study

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/distributed.ipp"
#endif
