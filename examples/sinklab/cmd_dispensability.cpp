// sinklab dispensability: the main job. Every architecture of the tiny zoo trained from scratch in two
// data regimes with several seeds and compared (sinkcore/study/dispensability.hpp): report.md,
// results.json, CSVs and SVG figures in --out. Rerunning the same command resumes from the checkpoints.
// Under mpirun/srun (MPI build) the runs are spread over the ranks by a work queue on rank 0, which writes
// the report (sinkcore/study/distributed.hpp, docs/scaling.md).
//
//   sinklab dispensability --budget quick --out study/
#include <cstdio>


#include "commands.hpp"
#include "study_cli.hpp"
#include "works.hpp"

namespace sinklab {

void register_dispensability(CLI::App& app) {
  static study_cli c = study_cli::with_out("dispensability");
  static std::string zoo = "tiny";
  auto* cmd = app.add_subcommand(
      "dispensability",
      "The main job: train every variant of the tiny zoo from scratch (two regimes, several seeds), compare their "
      "sinks; writes report.md, results.json, CSVs and SVGs (resumes from OUT/runs)");
  add_study_options(cmd, c, "quick (~15 min on 2 cores) | standard (~3 h) | full (unbounded) | micro");
  cmd->add_option("--zoo", zoo,
                  "tiny (the 11 variants of the tiny shape) | tiny-h16 (the same on 16 heads of 8) | tiny-512 (the same "
                  "at context 512)")
      ->check(CLI::IsMember({"tiny", "tiny-h16", "tiny-512"}))
      ->capture_default_str();
  cmd->callback([] {
    namespace study = sinkcore::study;
    run_study_command("dispensability", c, {}, [](const study::study_options& o) {
      if (zoo == "tiny-h16") return study::run_study<sinkcore::tiny_h16_zoo>(o, study_runner());
      if (zoo == "tiny-512") return study::run_study<sinkcore::tiny_512_zoo>(o, study_runner());
      return study::run_study<sinkcore::tiny_zoo>(o, study_runner());
    }, [](const auto& vs) {
      for (const auto& v : vs)
        std::printf("%-36s %-5s metric %.4f ± %.4f (%.2f x chance %.4f) Sink_1^0.3 %.3f  %s\n", v.variant.c_str(),
                    v.regime.c_str(), v.metric.mean, 2 * v.metric.se, v.ratio(), v.chance, v.sink.mean, v.verdict.c_str());
    });
  });
}

}  // namespace sinklab
