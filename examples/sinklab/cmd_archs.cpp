
// sinklab archs: the architecture registry with shapes and parameter counts.
#include "commands.hpp"
#include "cli.hpp"

namespace sinklab {

void register_archs(CLI::App& app) {
  auto* cmd = app.add_subcommand("archs", "List the architectures sinklab knows, with shapes and parameter counts");
  cmd->callback([] {
    std::printf("%-36s %6s %6s %5s %7s %6s %14s  %s\n", "name", "layers", "d", "heads", "context", "vocab",
                "parameters", "components");
    sinkcore::hana::for_each(sinkcore::all_architectures, [](auto t) {
      using A = typename decltype(t)::type;
      std::string comps = std::string(A::positions::name) + " " + std::string(A::query::name) + " " +
                          std::string(A::keys::name) + " " + std::string(A::first_mlp::name) + " " +
                          std::string(A::attention::name) + " " + std::string(A::extra_slot::name);
      std::printf("%-36s %6zu %6zu %5zu %7zu %6zu %14s  %s\n", A::name().c_str(), A::layers, A::d_model, A::heads,
                  A::context, A::vocab, thousands(sinkcore::layout<A>::trainable_parameters).c_str(), comps.c_str());
    });
  });
}

}  // namespace sinklab
