
// sinklab train: train an architecture from scratch on the embedded corpora or files.
// sinklab grad: gradients of the next-token loss of one sequence, for every parameter.
// Under mpirun/srun (MPI build) `train` is data parallel: every rank takes its slice of each global batch
// and the gradients are all-reduced (trainer::distribute, docs/scaling.md); rank 0 alone writes files
// and prints.
#include <atomic>
#include <csignal>
#include <sstream>

#include "commands.hpp"
#include "common.hpp"

namespace sinklab {

namespace detail {
inline std::atomic<bool> interrupted{false};
extern "C" inline void on_sigint(int) { interrupted = true; }
}  // namespace detail

struct train_cli {
  std::string arch = "tiny";
  std::vector<std::string> corpora{"mix"};
  std::string out;
  sinkcore::train::train_options opt;
  std::size_t eval_interval = 100;
  std::size_t checkpoint_interval = 500;
  int bos = -1;
  int threads = 0;
  bool fresh = false;
};

/// The corpora named on the command line, concatenated (train with train, held-out with held-out).
inline sinkcore::train::corpus load_corpora(const std::vector<std::string>& names) {
  sinkcore::train::corpus all;
  for (const auto& n : names) {
    auto c = sinkcore::train::load_corpus(n);
    all.name += (all.name.empty() ? "" : "+") + c.name;
    all.vocab_size = std::max(all.vocab_size, c.vocab_size);
    all.train.insert(all.train.end(), c.train.begin(), c.train.end());
    all.held_out.insert(all.held_out.end(), c.held_out.begin(), c.held_out.end());
  }
  return all;
}

template <class A>
int run_train(const train_cli& c) {
  namespace fs = std::filesystem;
  using namespace sinkcore;
  const fs::path dir(c.out);
  make_output_dir(dir);
  const auto data = load_corpora(c.corpora);
  auto opt = c.opt;
  if (c.bos >= 0) opt.bos = train::token(c.bos);
  train::trainer<A> t(data, opt);
  const auto world = parallel::communicator::world();
  const bool root = world.root();
  const fs::path ckpt = dir / "checkpoint.safetensors", curve_path = dir / "curve.csv";
  std::string curve = "step,tokens,train_loss,heldout_loss,lr,grad_norm,tokens_per_s\n";
  if (root && !c.fresh && fs::exists(ckpt)) {  // rank 0 resumes; distribute() hands its state to the others
    t.resume(ckpt);
    if (fs::exists(curve_path)) {  // keep the rows up to the checkpoint's step
      std::ifstream in(curve_path);
      std::string line;
      std::getline(in, line);
      while (std::getline(in, line))
        if (std::stoull(line.substr(0, line.find(','))) <= t.step_count()) curve += line + "\n";
    }
    std::fprintf(stderr, "sinklab: resuming %s from step %llu (%s)\n", A::name().c_str(),
                 static_cast<unsigned long long>(t.step_count()), ckpt.string().c_str());
  }
  t.distribute(world);
  if (root)
    std::fprintf(stderr, "sinklab: training %s (%s parameters) on %s: %s train / %s held-out tokens, %zu x %zu tokens per step\n",
                 A::name().c_str(), thousands(layout<A>::trainable_parameters).c_str(), data.name.c_str(),
                 thousands(data.train.size()).c_str(), thousands(data.held_out.size()).c_str(), t.options().batch,
                 t.options().context);
  if (root && world.distributed())
    std::fprintf(stderr, "sinklab: data parallel over %d MPI ranks: %zu to %zu windows of each batch per rank, gradients "
                 "all-reduced in %zu MiB buckets\n", world.size(), t.options().batch / std::size_t(world.size()),
                 (t.options().batch + std::size_t(world.size()) - 1) / std::size_t(world.size()),
                 parallel::default_bucket_bytes >> 20);
  const std::map<std::string, std::string> md{{"sinkcore.corpus", data.name}};
  auto write_curve = [&] {
    if (root) io::write_file_atomically(curve_path, [&](std::ostream& os) { os << curve; });
  };
  auto save = [&] {
    if (root) t.save(ckpt, md);
  };
  detail::interrupted = false;
  auto previous = std::signal(SIGINT, detail::on_sigint);
  progress bar(A::name(), root);
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t first_step = t.step_count();
  double loss = 0;
  int rc = 0;
  try {
    while (t.step_count() < t.options().steps) {
      if (world.any(detail::interrupted)) {  // every rank stops at the same step
        bar.finish();
        save();
        write_curve();
        if (root)
          std::fprintf(stderr, "sinklab: interrupted at step %llu; checkpoint written to %s (rerun the same command to resume)\n",
                       static_cast<unsigned long long>(t.step_count()), ckpt.string().c_str());
        rc = 130;
        break;
      }
      const float lr = t.learning_rate(t.step_count());
      loss = t.step();
      const std::uint64_t s = t.step_count();
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double tps = double((s - first_step) * t.tokens_per_step()) / std::max(secs, 1e-9);
      const bool eval = s % c.eval_interval == 0 || s == t.options().steps;
      std::ostringstream info;
      info.precision(4);
      info << "loss " << loss << " | " << std::fixed;
      info.precision(1);
      info << tps / 1000 << "k tok/s";
      bar.update(s, t.options().steps, info.str(), eval);
      if (eval) {
        const double held = t.evaluate();
        char row[256];
        std::snprintf(row, sizeof row, "%llu,%llu,%.6f,%.6f,%.6g,%.6g,%.1f\n", static_cast<unsigned long long>(s),
                      static_cast<unsigned long long>(s * t.tokens_per_step()), loss, held, double(lr), t.last_grad_norm(), tps);
        curve += row;
        write_curve();
      }
      if (s % c.checkpoint_interval == 0) save();
    }
  } catch (const train::divergence& e) {
    bar.finish();
    std::signal(SIGINT, previous);
    write_curve();
    const std::string what = std::string(e.what()) + "; the last good checkpoint is kept in " + ckpt.string();
    if (world.distributed()) throw parallel::collective_error(what);  // the same global loss on every rank
    throw sinkcore::error(what);
  }
  std::signal(SIGINT, previous);
  if (rc) return rc;
  bar.finish();
  save();
  const double held = t.evaluate();  // collective under MPI
  if (!root) return 0;
  io::save_weights(dir / "model.safetensors", t.net(), md);
  if constexpr (io::hf_gpt2_compatible<A>)
    io::write_file_atomically(dir / "config.json", [](std::ostream& os) { os << io::hf_config_json<A>(); });
  std::printf("%s: step %llu, train loss %.4f, held-out loss %.4f; wrote %s, %s, %s\n", A::name().c_str(),
              static_cast<unsigned long long>(t.step_count()), loss, held, (dir / "model.safetensors").c_str(),
              ckpt.c_str(), curve_path.c_str());
  return 0;
}

void register_train(CLI::App& app, int& exit_code) {
  static train_cli c;
  auto* cmd = app.add_subcommand("train", "Train an architecture from scratch (resumes from OUT/checkpoint.safetensors)");
  cmd->add_option("--arch", c.arch, "architecture (see `sinklab archs`)")->capture_default_str();
  cmd->add_option("--corpus", c.corpora, "nl | code | math | mix | recall | unigram | backcopy | a+b+... (interleaved mixture, e.g. mix+recall) | FILE (byte text, or uint16 .bin); several are concatenated")
      ->capture_default_str();
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
    sinkcore::with_architecture(c.arch, [&](auto t) { exit_code = run_train<typename decltype(t)::type>(c); });
  });
}

struct grad_cli {
  std::string weights, tokens, out;
  int threads = 0;
};

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
    with_architecture(io::detect_architecture(c.weights), [&](auto t) {
      using A = typename decltype(t)::type;
      const auto m = io::load_weights<A>(c.weights);
      if (tokens.size() > A::context)
        throw error("--tokens: " + std::to_string(tokens.size()) + " tokens exceed the context " +
                    std::to_string(A::context) + " of " + A::name());
      workspace<A> ws;
      auto grads = make_gradients<A>();
      const double loss = forward_backward(m, ws, tokens, 1, tokens.size(), grads);
      make_output_dir(c.out);
      const auto prefix = io::name_prefix(io::safetensors_file::open(c.weights));
      io::save_tensors<A>(std::filesystem::path(c.out) / "grads.safetensors", grads.data(),
                          {{"sinkcore.loss", std::to_string(loss)}}, {}, prefix);
      std::printf("loss %.6f\n", loss);
    });
  });
}

}  // namespace sinklab
