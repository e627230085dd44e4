#pragma once
// The per-architecture work of sinklab train, grad, forward, generate and inspect (declared in works.hpp),
// compiled in the generated translation units arch_group_<G>_train.cpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include <sinkcore/sinkcore.hpp>

#include "common.hpp"
#include "works.hpp"

namespace sinklab {

namespace detail {
inline std::atomic<bool> interrupted{false};
extern "C" inline void on_sigint(int) { interrupted = true; }
}  // namespace detail

/// The corpora named on the command line, concatenated (train with train, held-out with held-out).
inline sinkcore::train::corpus load_corpora(const std::vector<std::string>& names, const std::string& cache) {
  sinkcore::train::corpus all;
  sinkcore::train::corpus_options o;
  o.cache = cache;
  for (const auto& n : names) {
    auto c = sinkcore::train::load_corpus(n, o);
    all.name += (all.name.empty() ? "" : "+") + c.name;
    all.vocab_size = std::max(all.vocab_size, c.vocab_size);
    all.train.insert(all.train.end(), c.train.begin(), c.train.end());
    all.held_out.insert(all.held_out.end(), c.held_out.begin(), c.held_out.end());
  }
  return all;
}

template <class A>
int run_train(const train_cli& c);

template <class A>
void train_work::run(args& a) {
  a.exit_code = run_train<A>(a.c);
}

template <class A>
int run_train(const train_cli& c) {
  namespace fs = std::filesystem;
  using namespace sinkcore;
  const fs::path dir(c.out);
  make_output_dir(dir);
  const auto data = load_corpora(c.corpora, c.cache);
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

template <class A>
void grad_work::run(args& a) {
  using namespace sinkcore;
  const auto& c = a.c;
  const auto& tokens = a.tokens;
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
}

template <class A>
void forward_work::run(args& a) {
  using namespace sinkcore;
  const auto& c = a.c;
  const auto& tokens = a.tokens;
  const auto m = io::load_weights<A>(c.weights);
  const std::size_t T = tokens.size();
  workspace<A> ws;
  forward(m, ws, tokens, 1, T);
  make_output_dir(c.out);
  const std::filesystem::path dir(c.out);
  io::write_npy(dir / "logits.npy", std::vector<std::size_t>{T, A::vocab}, ws.logits());
  std::vector<float> attn(A::layers * A::heads * T * T);
  for (std::size_t l = 0; l < A::layers; ++l)
    std::copy_n(ws.block(l).pattern, A::heads * T * T, attn.data() + l * A::heads * T * T);
  io::write_npy(dir / "attn.npy", std::vector<std::size_t>{A::layers, A::heads, T, T}, attn.data());
  if (c.cache) io::save_activation_cache(dir / "cache.safetensors", ws);
  std::printf("%s: %zu tokens; wrote %s and %s\n", A::name().c_str(), T, (dir / "logits.npy").c_str(),
              (dir / "attn.npy").c_str());
}

/// The next token after the last row of `logits` ([vocab]): the first maximum (greedy, as torch.argmax), or with
/// temperature > 0 a sample from softmax(logits / temperature) over the top_k largest (all when top_k is 0).
inline int next_token(const float* logits, std::size_t vocab, float temperature, std::size_t top_k, std::mt19937_64& rng) {
  if (temperature <= 0.f) return int(std::max_element(logits, logits + vocab) - logits);
  std::vector<int> ids(vocab);
  std::iota(ids.begin(), ids.end(), 0);
  const std::size_t k = top_k == 0 ? vocab : std::min(top_k, vocab);
  std::partial_sort(ids.begin(), ids.begin() + std::ptrdiff_t(k), ids.end(),
                    [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  std::vector<double> w(k);
  for (std::size_t i = 0; i < k; ++i) w[i] = std::exp((double(logits[ids[i]]) - double(logits[ids[0]])) / temperature);
  std::discrete_distribution<std::size_t> pick(w.begin(), w.end());
  return ids[pick(rng)];
}

template <class A>
void generate_work::run(args& a) {
  using namespace sinkcore;
  const auto& c = a.c;
  auto& tokens = a.tokens;
  auto& rng = a.rng;
  auto& text = a.text;
  if (c.max_length > A::context)
    throw error("generate: --max-length " + std::to_string(c.max_length) + " exceeds " + A::name() + "'s context of " +
                std::to_string(A::context));
  const auto m = io::load_weights<A>(c.weights);
  workspace<A> ws;  // forward() refuses prompt ids outside the vocabulary, naming the architecture
  while (tokens.size() < c.max_length) {
    const std::size_t T = tokens.size();
    forward(m, ws, tokens, 1, T);
    tokens.push_back(next_token(ws.logits() + (T - 1) * A::vocab, A::vocab, c.temperature, c.top_k, rng));
  }
  if (!c.vocab_dir.empty()) {
    text = io::bpe_tokenizer::load(c.vocab_dir).decode(tokens);
  } else if (A::vocab == 256) {
    for (int id : tokens) text += char(id);
  }
}

template <class A>
void inspect_work::run(args& a) {
  const auto& o = a.c;
  const std::size_t T = std::min(o.length, A::context);
  const auto bytes = byte_tokens(embedded_text);
  std::vector<int> tokens(o.batch * T);
  // Sequence b is the text from offset 37*b (wrapping): different windows, as in training.
  for (std::size_t b = 0; b < o.batch; ++b)
    for (std::size_t t = 0; t < T; ++t) tokens[b * T + t] = bytes[(37 * b + t) % bytes.size()] % int(A::vocab);
  const sinkcore::model<A> m(o.seed);
  sinkcore::workspace<A> ws;
  const double loss = sinkcore::forward_loss(m, ws, tokens, o.batch, T);
  const auto bos = sinkcore::bos_attention_by_layer(ws);
  std::printf("%-36s %10s  %.4f  %.4f ", A::name().c_str(), thousands(sinkcore::layout<A>::trainable_parameters).c_str(),
              loss, std::log(double(A::vocab)));
  for (double v : bos) std::printf(" %.4f", v);
  std::printf("\n");
}

}  // namespace sinklab
