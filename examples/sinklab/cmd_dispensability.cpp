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
  auto* cmd = app.add_subcommand(
      "dispensability",
      "The main job: train the variants of the tiny zoo from scratch (the budget's regimes, several seeds), compare "
      "each with the baseline seed by seed; writes report.md, results.json, CSVs and SVGs (resumes from OUT/runs)");
  add_study_options(cmd, c, "quick (~15 min on 2 cores) | standard (~3 h) | full (unbounded) | micro");
  cmd->add_option("--zoo", c.zoo,
                  "tiny (the 11 variants of the tiny shape) | tiny-h16 (the same on 16 heads of 8) | tiny-512 (the same "
                  "at context 512) (default: the budget's; tiny, or tiny-512 for --corpus prose at standard and full)")
      ->check(CLI::IsMember({"tiny", "tiny-h16", "tiny-512"}));
  cmd->callback([] {
    namespace study = sinkcore::study;
    run_study_command("dispensability", c, {}, [](const study::study_options& o) {
      if (o.plan.zoo == "tiny-h16") return study::run_study<sinkcore::tiny_h16_zoo>(o, study_runner());
      if (o.plan.zoo == "tiny-512") return study::run_study<sinkcore::tiny_512_zoo>(o, study_runner());
      if (o.plan.zoo == "tiny") return study::run_study<sinkcore::tiny_zoo>(o, study_runner());
      throw sinkcore::error("dispensability: no zoo '" + o.plan.zoo + "'; known: tiny, tiny-h16, tiny-512");
    }, [](const auto& vs) {
      for (const auto& v : vs)
        std::printf("%-32s %-5s primary %.3f (%.1f x chance %.3f, sink in %zu/%zu seeds)  Δ %+.3f [%+.3f, %+.3f]  "
                    "paper metric %.3f ± %.3f  %s\n",
                    v.variant.c_str(), v.regime.c_str(), v.primary.mean, v.primary_ratio(), v.primary_chance,
                    v.primary_sink_seeds, v.runs.size(), v.paired.mean_diff, v.paired.ci95.lo, v.paired.ci95.hi,
                    v.metric.mean, 2 * v.metric.se, v.verdict.c_str());
    });
  });
}

}  // namespace sinklab
