// sinklab mitigations: the sink mitigations of the literature (softmax + 1, sigmoid attention, a learnable
// sink token, a key-value bias slot), alone and combined with the paper's ablations, trained from scratch
// next to the GPT-2 baseline and compared like the dispensability study (sinkcore/study/dispensability.hpp;
// docs/mitigations.md): report.md, results.json, CSVs (destinations.csv: where the attention went) and SVG
// figures in --out. Rerunning the same command resumes from the checkpoints.
//
//   sinklab mitigations --budget quick --out mitigations/
#include <cstdio>

#include "commands.hpp"
#include "study_cli.hpp"
#include "works.hpp"

namespace sinklab {

void register_mitigations(CLI::App& app) {
  static study_cli c = study_cli::with_out("mitigations");
  auto* cmd = app.add_subcommand(
      "mitigations",
      "Train the baseline and every sink mitigation (softmax + 1, sigmoid attention, sink token, key-value bias; alone "
      "and with the paper's ablations) from scratch, several seeds; report where the attention went and the loss cost");
  add_study_options(cmd, c, "quick | standard | full | micro (as for dispensability)");
  cmd->add_option("--zoo", c.zoo,
                  "tiny (the 12 variants on the tiny shape) | tiny-512 (the same at context 512) (default: the budget's; "
                  "tiny, or tiny-512 for --corpus prose at standard and full)")
      ->check(CLI::IsMember({"tiny", "tiny-512"}));
  cmd->callback([] {
    namespace study = sinkcore::study;
    study::study_options o;
    o.title = "Mitigation study";
    o.budget_variants = false;  // every mitigation; the budget's list names the dispensability variants
    run_study_command("mitigations", c, o, [](const study::study_options& so) {
      if (so.plan.zoo == "tiny-512")
        return study::run_study<sinkcore::mitigation_zoo_on_shape<sinkcore::tiny_512_shape>>(so, study_runner());
      if (so.plan.zoo == "tiny") return study::run_study<sinkcore::mitigation_zoo>(so, study_runner());
      throw sinkcore::error("mitigations: no mitigation zoo on shape '" + so.plan.zoo + "'; known: tiny, tiny-512");
    }, [](const auto& vs) {
      for (const auto& v : vs)
        std::printf("%-30s %-5s pos0 %.4f ± %.4f  rest %.3f  slot %.3f  nothing %.3f  entropy %.3f  Sink_1^0.3 %.3f  %s\n",
                    v.variant.c_str(), v.regime.c_str(), v.metric.mean, 2 * v.metric.se, v.mass_rest.mean,
                    v.mass_slot.mean, v.mass_null.mean, v.entropy.mean, v.sink.mean, v.verdict.c_str());
    });
  });
}

}  // namespace sinklab
