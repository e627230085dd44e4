#pragma once
// sinklab's commands, one translation unit each (they instantiate every architecture: compiled in parallel).
#include <CLI/CLI.hpp>

namespace sinklab {
void register_archs(CLI::App& app);
void register_inspect(CLI::App& app);
void register_train(CLI::App& app, int& exit_code);
void register_grad(CLI::App& app);
void register_forward(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_circuit(CLI::App& app);
void register_dispensability(CLI::App& app);
void register_mitigations(CLI::App& app);
void register_corpus(CLI::App& app);
}  // namespace sinklab
