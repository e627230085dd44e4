
// sinklab forward / generate / tokenize / detokenize.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "commands.hpp"
#include "common.hpp"

namespace sinklab {

/// Token ids from --tokens, or from --text: GPT-2 BPE with --vocab-dir, else the text's bytes.
inline std::vector<int> input_tokens(const std::string& tokens, const std::string& text, const std::string& vocab_dir) {
  if (!tokens.empty()) return parse_token_list(tokens);
  if (!vocab_dir.empty()) return sinkcore::io::bpe_tokenizer::load(vocab_dir).encode(text);
  return byte_tokens(text);
}

void register_generate(CLI::App& app);

void register_forward(CLI::App& app) {
  register_generate(app);
  static struct {
    std::string weights, tokens, text, vocab_dir, out;
    bool cache = false;
    int threads = 0;
  } c;
  auto* cmd = app.add_subcommand("forward", "Forward pass of one sequence: DIR/logits.npy [T, vocab], DIR/attn.npy [layers, heads, T, T]");
  cmd->add_option("--weights", c.weights, "safetensors file (Hugging Face GPT-2 or sinklab)")->required();
  auto* tok = cmd->add_option("--tokens", c.tokens, "token ids, comma-separated");
  auto* txt = cmd->add_option("--text", c.text, "text (GPT-2 BPE with --vocab-dir, else bytes)");
  tok->excludes(txt);
  cmd->add_option("--vocab-dir", c.vocab_dir, "encoder.json + vocab.bpe, or vocab.json + merges.txt")->needs(txt);
  cmd->add_option("--out", c.out, "output directory")->required();
  cmd->add_flag("--cache", c.cache, "also write DIR/cache.safetensors: every activation under its TransformerLens hook name");
  add_threads_option(cmd, c.threads);
  cmd->callback([tok, txt] {
    using namespace sinkcore;
    apply_threads(c.threads);
    if (tok->count() == 0 && txt->count() == 0) throw error("forward: give --tokens or --text");
    const auto tokens = input_tokens(c.tokens, c.text, c.vocab_dir);
    if (tokens.empty()) throw error("forward: the input has no tokens");
    with_architecture(io::detect_architecture(c.weights), [&](auto t) {
      using A = typename decltype(t)::type;
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
    });
  });
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

void register_generate(CLI::App& app) {
  static struct {
    std::string weights, tokens, text, vocab_dir;
    std::size_t max_length = 20, top_k = 0;
    float temperature = 0.f;
    std::uint64_t seed = 1;
    int threads = 0;
  } c;
  auto* cmd = app.add_subcommand(
      "generate", "Continue a sequence (greedy by default, like transformers' generate(do_sample=False)); prints "
                  "the ids, prompt included, then the text");
  cmd->add_option("--weights", c.weights, "safetensors file (Hugging Face GPT-2 or sinklab)")->required();
  auto* tok = cmd->add_option("--tokens", c.tokens, "prompt token ids, comma-separated");
  auto* txt = cmd->add_option("--text", c.text, "prompt text (GPT-2 BPE with --vocab-dir, else bytes)");
  tok->excludes(txt);
  cmd->add_option("--vocab-dir", c.vocab_dir, "encoder.json + vocab.bpe, or vocab.json + merges.txt (also decodes the output)");
  cmd->add_option("--max-length", c.max_length, "total length in tokens, prompt included (as transformers' max_length)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--temperature", c.temperature, "sample at this temperature (0: greedy)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--top-k", c.top_k, "sample among the k most likely tokens (0: all)")->capture_default_str();
  cmd->add_option("--seed", c.seed, "sampling seed")->capture_default_str();
  add_threads_option(cmd, c.threads);
  cmd->callback([tok, txt] {
    using namespace sinkcore;
    apply_threads(c.threads);
    if (tok->count() == 0 && txt->count() == 0) throw error("generate: give --tokens or --text");
    auto tokens = input_tokens(c.tokens, c.text, c.vocab_dir);
    if (tokens.empty()) throw error("generate: the prompt has no tokens");
    std::mt19937_64 rng(c.seed);
    std::string text;
    with_architecture(io::detect_architecture(c.weights), [&](auto t) {
      using A = typename decltype(t)::type;
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
    });
    for (std::size_t i = 0; i < tokens.size(); ++i) std::printf("%s%d", i ? " " : "", tokens[i]);
    std::printf("\n");
    if (!text.empty()) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::printf("\n");
    }
  });
}

void register_tokenize(CLI::App& app) {
  static struct {
    std::string vocab_dir, text, file, tokens;
  } c;
  auto* tk = app.add_subcommand("tokenize", "GPT-2 BPE: print the token ids of a text, space-separated");
  tk->add_option("--vocab-dir", c.vocab_dir, "encoder.json + vocab.bpe, or vocab.json + merges.txt")->required();
  auto* txt = tk->add_option("--text", c.text, "text to encode");
  auto* file = tk->add_option("--file", c.file, "file to encode")->check(CLI::ExistingFile);
  txt->excludes(file);
  tk->callback([txt, file] {
    if (txt->count() == 0 && file->count() == 0) throw sinkcore::error("tokenize: give --text or --file");
    const auto bpe = sinkcore::io::bpe_tokenizer::load(c.vocab_dir);
    const std::string text = file->count() ? sinkcore::train::read_file_bytes(c.file) : c.text;
    const auto ids = bpe.encode(text);
    for (std::size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
    std::printf("\n");
  });
  auto* dt = app.add_subcommand("detokenize", "GPT-2 BPE: print the text of token ids");
  dt->add_option("--vocab-dir", c.vocab_dir, "encoder.json + vocab.bpe, or vocab.json + merges.txt")->required();
  dt->add_option("--tokens", c.tokens, "token ids, comma-separated")->required();
  dt->callback([] {
    const auto bpe = sinkcore::io::bpe_tokenizer::load(c.vocab_dir);
    const auto text = bpe.decode(parse_token_list(c.tokens));
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
  });
}

}  // namespace sinklab
