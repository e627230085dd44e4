// sinklab train: train an architecture from scratch on the embedded corpora or files.
// sinklab grad: gradients of the next-token loss of one sequence, for every parameter.
// Under mpirun/srun (MPI build) `train` is data parallel: every rank takes its slice of each global batch
// and the gradients are all-reduced (trainer::distribute, docs/scaling.md); rank 0 alone writes files
// and prints. The per-architecture work is works_train.hpp's.
#include "commands.hpp"
#include "cli.hpp"
#include "works.hpp"

namespace sinklab {

void register_train(CLI::App& app, int& exit_code) {
  static train_cli c;
  auto* cmd = app.add_subcommand("train", "Train an architecture from scratch (resumes from OUT/checkpoint.safetensors)");
  cmd->add_option("--arch", c.arch, "architecture (see `sinklab archs`)")->capture_default_str();
  cmd->add_option("--corpus", c.corpora, "nl | code | math | mix | prose | recall | unigram | backcopy | backcopy-stream | a+b+... (interleaved mixture, e.g. mix+recall) | FILE (byte text, or uint16 .bin); several are concatenated")
      ->capture_default_str();
  cmd->add_option("--cache", c.cache, "where `sinklab corpus build` put the prose corpus")->capture_default_str();
  cmd->add_option("--steps", c.opt.steps, "optimizer steps")->check(CLI::Range(std::size_t(1), std::size_t(1) << 40))->capture_default_str();
  cmd->add_option("--out", c.out, "output directory")->required();
  cmd->add_option("--lr", c.opt.lr, "peak learning rate")->check(CLI::Range(1e-9, 1e3))->capture_default_str();
  cmd->add_option("--min-lr-fraction", c.opt.min_lr_fraction, "cosine floor as a fraction of --lr")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--warmup", c.opt.warmup, "linear warmup steps")->capture_default_str();
  cmd->add_option("--weight-decay", c.opt.weight_decay, "AdamW decoupled weight decay on matrices")
      ->check(CLI::Range(0.0, 10.0))->capture_default_str();
  cmd->add_option("--grad-clip", c.opt.grad_clip, "global gradient-norm clip (0: off)")
      ->check(CLI::Range(0.0, 1e9))->capture_default_str();
  cmd->add_option("--batch", c.opt.batch, "windows per step")->check(CLI::Range(std::size_t(1), std::size_t(1) << 40))->capture_default_str();
  cmd->add_option("--context", c.opt.context, "tokens per window")->check(CLI::Range(2, 1 << 20))->capture_default_str();
  cmd->add_option("--seed", c.opt.seed, "initialisation and data-order seed")->capture_default_str();
  cmd->add_option("--bos", c.bos, "BOS regime: start every window with this token id (-1: GPT-2's regime, no BOS)")
      ->capture_default_str();
  cmd->add_option("--eval-interval", c.eval_interval, "steps between held-out evaluations")
      ->check(CLI::Range(std::size_t(1), std::size_t(1) << 40))->capture_default_str();
  cmd->add_option("--eval-batches", c.opt.eval_batches, "held-out batches per evaluation")
      ->check(CLI::Range(std::size_t(1), std::size_t(1) << 40))->capture_default_str();
  cmd->add_option("--checkpoint-interval", c.checkpoint_interval, "steps between checkpoints")
      ->check(CLI::Range(std::size_t(1), std::size_t(1) << 40))->capture_default_str();
  cmd->add_flag("--fresh", c.fresh, "ignore an existing checkpoint in --out and start over");
  add_threads_option(cmd, c.threads);
  cmd->callback([&exit_code] {
    apply_threads(c.threads);
    train_work::args a{c};
    for_architecture<train_work>(c.arch, a);
    exit_code = a.exit_code;
  });
}

void register_grad(CLI::App& app) {
  static grad_cli c;
  auto* cmd = app.add_subcommand(
      "grad", "Gradient of the mean next-token cross-entropy of one sequence for every parameter (DIR/grads.safetensors)");
  cmd->add_option("--weights", c.weights, "safetensors file (Hugging Face GPT-2 or sinklab)")->required();
  cmd->add_option("--tokens", c.tokens, "token ids, comma-separated")->required();
  cmd->add_option("--out", c.out, "output directory")->required();
  add_threads_option(cmd, c.threads);
  cmd->callback([] {
    using namespace sinkcore;
    apply_threads(c.threads);
    const auto tokens = parse_token_list(c.tokens);
    if (tokens.size() < 2) throw error("--tokens: need at least 2 tokens for a next-token loss");
    grad_work::args a{c, tokens};
    for_architecture<grad_work>(io::detect_architecture(c.weights), a);
  });
}

}  // namespace sinklab
