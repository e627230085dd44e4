// sinklab: the command-line tool of sinkcore. Each command lives in its own header (cmd_*.hpp).
#include <cstdio>
#include <exception>

#include "cmd_archs.hpp"
#include "cmd_inspect.hpp"
#include "common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"sinklab: attention sinks in GPT-2-style transformers"};
  app.require_subcommand(1);
  sinklab::register_archs(app);
  sinklab::register_inspect(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const sinkcore::error& e) {
    std::fprintf(stderr, "sinklab: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sinklab: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
