// sinklab: the command-line tool of sinkcore. Each command lives in its own file (cmd_*.cpp).
#include <cstdio>
#include <exception>
#include <string>

#include "commands.hpp"
#include "common.hpp"

int main(int argc, char** argv) {
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
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      found = found || sub->get_name() == argv[1];
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    if (!found) {
      std::fprintf(stderr, "sinklab: error: unknown command '%s'; commands: %s\n", argv[1], known.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "sinklab: error: %s\nRun with --help for more information.\n", e.what());
    return e.get_exit_code();
  } catch (const sinkcore::error& e) {
    std::fprintf(stderr, "sinklab: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sinklab: error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
