// sinklab: the command-line tool of sinkcore. Each command lives in its own file (cmd_*.cpp).
// Built with MPI (SINKCORE_HAVE_MPI) and started by mpirun/srun, MPI is initialised here: `train` then
// trains data-parallel and `dispensability` spreads its runs over the ranks (docs/scaling.md). Errors
// that every rank agrees on (parallel::collective_error) end every rank normally with status 1, reported
// by rank 0; any other error on a rank of a multi-rank job aborts the whole job (MPI_Abort), never a hang.
#include <cstdio>
#include <exception>
#include <string>

#include <sinkcore/parallel/mpi.hpp>

#include "commands.hpp"
#include "cli.hpp"

int main(int argc, char** argv) {
  sinkcore::parallel::mpi_session mpi(argc, argv);
  const auto world = sinkcore::parallel::communicator::world();
  if (!sinkcore::parallel::mpi_available() && sinkcore::parallel::launched_by_mpi())
    std::fprintf(stderr, "sinklab: warning: this sinklab was built without MPI (SINKCORE_WITH_MPI, docs/scaling.md): "
                         "under mpirun/srun every process runs the whole command on its own\n");
  // "sinklab: error: ..." on rank 0, "sinklab: error: rank R: ..." on the others
  auto report = [&](const char* what) {
    if (world.root()) std::fprintf(stderr, "sinklab: error: %s\n", what);
    else std::fprintf(stderr, "sinklab: error: rank %d: %s\n", world.rank(), what);
  };
  CLI::App app{"sinklab: attention sinks in GPT-2-style transformers"};
  app.require_subcommand(1);
  sinklab::register_archs(app);
  sinklab::register_inspect(app);
  int exit_code = 0;
  sinklab::register_train(app, exit_code);
  sinklab::register_grad(app);
  sinklab::register_forward(app);
  sinklab::register_tokenize(app);
  sinklab::register_circuit(app);
  sinklab::register_dispensability(app);
  sinklab::register_mitigations(app);
  sinklab::register_corpus(app);
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      found = found || sub->get_name() == argv[1];
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    if (!found) {
      if (world.root()) std::fprintf(stderr, "sinklab: error: unknown command '%s'; commands: %s\n", argv[1], known.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same command line: rank 0 speaks for all.
    if (e.get_exit_code() == 0) return world.root() ? app.exit(e) : 0;  // --help
    if (world.root()) std::fprintf(stderr, "sinklab: error: %s\nRun with --help for more information.\n", e.what());
    return e.get_exit_code();
  } catch (const sinkcore::parallel::collective_error& e) {  // raised on every rank alike
    if (world.root()) std::fprintf(stderr, "sinklab: error: %s\n", e.what());
    return 1;
  } catch (const sinkcore::error& e) {
    report(e.what());
    return sinkcore::parallel::mpi_session::fail(1);
  } catch (const std::exception& e) {
    report(e.what());
    return sinkcore::parallel::mpi_session::fail(1);
  }
  return exit_code;
}
