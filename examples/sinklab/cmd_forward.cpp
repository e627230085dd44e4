
// sinklab forward / generate / tokenize / detokenize. The per-architecture work is works_train.hpp's.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "commands.hpp"
#include "cli.hpp"
#include "works.hpp"

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
  static forward_cli c;
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
    forward_work::args a{c, tokens};
    for_architecture<forward_work>(io::detect_architecture(c.weights), a);
  });
}

void register_generate(CLI::App& app) {
  static generate_cli c;
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
    generate_work::args a{c, std::move(tokens), std::mt19937_64(c.seed)};
    for_architecture<generate_work>(io::detect_architecture(c.weights), a);
    tokens = std::move(a.tokens);
    const std::string& text = a.text;
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
