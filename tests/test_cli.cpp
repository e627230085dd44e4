// sinklab end to end: each command run as a user would, its files read back with sinkcore's readers and
// compared with the library; bad input gives one clear error line and a non-zero exit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <sinkcore/sinkcore.hpp>

using namespace sinkcore;
namespace fs = std::filesystem;

namespace {

struct result {
  int code;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Run sinklab with `args` (a shell fragment), capturing stdout and stderr.
result sinklab(const std::string& args) {
  static const fs::path dir = fs::temp_directory_path() / ("sinklab_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd = std::string("OMP_NUM_THREADS=1 '") + SINKLAB_EXECUTABLE + "' " + args + " >'" +
                          (dir / "out").string() + "' 2>'" + (dir / "err").string() + "' </dev/null";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, slurp(dir / "out"), slurp(dir / "err")};
}

/// A scratch_dir directory, removed at the end of the test.
struct scratch_dir {
  fs::path path;
  explicit scratch_dir(const std::string& name)
      : path(fs::temp_directory_path() / ("sinkcore_cli_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_dir() { fs::remove_all(path); }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
};

/// A trained-for-a-few-steps tiny model, shared by the tests below (trained once, by the CLI).
const fs::path& tiny_checkpoint() {
  static const fs::path dir = fs::temp_directory_path() / ("sinkcore_cli_model_" + std::to_string(::getpid()));
  static bool done = false;
  if (!done) {
    fs::remove_all(dir);
    const auto r = sinklab("train --arch tiny --corpus math --steps 6 --batch 2 --context 32 --eval-interval 3 "
                           "--checkpoint-interval 3 --eval-batches 2 --out '" + dir.string() + "'");
    INFO(r.err);
    REQUIRE(r.code == 0);
    done = true;
  }
  return dir;
}

}  // namespace

TEST_CASE("sinklab archs lists the registry", "[cli]") {
  const auto r = sinklab("archs");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("gpt2-small") && Catch::Contains("124,439,808") &&
                        Catch::Contains("tiny.rotary.no-qbias.frozen-keys"));
}

TEST_CASE("sinklab train writes a model, a checkpoint and a curve, and resumes", "[cli][train]") {
  const fs::path dir = tiny_checkpoint();
  for (const char* f : {"model.safetensors", "checkpoint.safetensors", "curve.csv", "config.json"})
    CHECK(fs::exists(dir / f));
  const auto curve = slurp(dir / "curve.csv");
  CHECK(curve.starts_with("step,tokens,train_loss,heldout_loss,lr,grad_norm,tokens_per_s\n"));
  CHECK(std::count(curve.begin(), curve.end(), '\n') == 3);  // header + steps 3 and 6
  CHECK(io::detect_architecture(dir / "model.safetensors") == "tiny");
  const auto cfg = nlohmann::json::parse(slurp(dir / "config.json"));
  CHECK(cfg.at("n_layer") == 4);
  CHECK(cfg.at("model_type") == "gpt2");

  // Extending the run resumes from the checkpoint.
  scratch_dir copy("resume");
  fs::copy(dir, copy.path, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  const auto r = sinklab("train --arch tiny --corpus math --steps 8 --batch 2 --context 32 --eval-interval 3 "
                         "--checkpoint-interval 3 --eval-batches 2 --out '" + copy.path.string() + "'");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Catch::Contains("resuming tiny from step 6"));
  const auto c2 = slurp(copy / "curve.csv");
  CHECK(std::count(c2.begin(), c2.end(), '\n') == 4);  // + step 8 (the last step always evaluates)
  CHECK(c2.starts_with(curve));
}

TEST_CASE("sinklab train writes config.json only where Hugging Face would compute the same model", "[cli][train]") {
  for (const char* arch : {"tiny.softmax1", "tiny.kv-bias"}) {
    scratch_dir out(std::string("cfg-") + arch);
    const auto r = sinklab(std::string("train --arch ") + arch + " --corpus math --steps 2 --batch 2 --context 16 "
                           "--eval-batches 1 --out '" + out.path.string() + "'");
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(fs::exists(out / "model.safetensors"));
    CHECK_FALSE(fs::exists(out / "config.json"));
  }
}

TEST_CASE("sinklab forward and grad agree with the library", "[cli]") {
  const fs::path weights = tiny_checkpoint() / "model.safetensors";
  const auto m = io::load_weights<gpt2_tiny>(weights);
  const std::vector<int> tok{72, 101, 108, 108, 111, 32, 119};
  workspace<gpt2_tiny> ws;
  auto grads = make_gradients<gpt2_tiny>();
  const double loss = forward_backward(m, ws, tok, 1, tok.size(), grads);
  scratch_dir out("fwd");

  auto r = sinklab("forward --weights '" + weights.string() + "' --tokens 72,101,108,108,111,32,119 --cache --out '" +
                   out.path.string() + "'");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto logits = io::read_npy<float>(out / "logits.npy");
  REQUIRE(logits.shape == std::vector<std::size_t>{7, 256});
  for (std::size_t i = 0; i < logits.data.size(); ++i) REQUIRE(logits.data[i] == Approx(ws.logits()[i]).margin(1e-5));
  const auto attn = io::read_npy<float>(out / "attn.npy");
  REQUIRE(attn.shape == std::vector<std::size_t>{4, 4, 7, 7});
  CHECK(attn.data[(2 * 4 + 1) * 49 + 3 * 7 + 2] == Approx(ws.pattern(2, 0, 1)[3 * 7 + 2]).margin(1e-6));
  const auto cache = io::safetensors_file::open(out / "cache.safetensors");
  CHECK(cache.size() == workspace<gpt2_tiny>::hook_names().size());
  CHECK(cache.read_float("blocks.2.attn.hook_pattern")[(1 * 7 + 3) * 7 + 2] == attn.data[(2 * 4 + 1) * 49 + 3 * 7 + 2]);

  // --text on a byte-level model reads bytes: "Hello w" is the same sequence.
  r = sinklab("forward --weights '" + weights.string() + "' --text 'Hello w' --out '" + (out / "text") + "'");
  REQUIRE(r.code == 0);
  CHECK(io::read_npy<float>(out / "text/logits.npy").data == logits.data);

  r = sinklab("grad --weights '" + weights.string() + "' --tokens 72,101,108,108,111,32,119 --out '" + out.path.string() + "'");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("loss " + std::to_string(loss).substr(0, 6)));
  const auto g = io::safetensors_file::open(out / "grads.safetensors");
  const auto w = io::safetensors_file::open(weights);
  auto names = [](const io::safetensors_file& f) {
    auto n = f.names();
    std::sort(n.begin(), n.end());
    return n;
  };
  CHECK(names(g) == names(w));
  auto back = make_gradients<gpt2_tiny>();
  io::load_tensors<gpt2_tiny>(g, back.data());
  for (std::size_t i = 0; i < back.size(); ++i) REQUIRE(back[i] == Approx(grads[i]).margin(1e-6));
}

TEST_CASE("sinklab generate: greedy continuation is the argmax of each forward pass, sampling is seeded",
          "[cli][generate]") {
  const fs::path weights = tiny_checkpoint() / "model.safetensors";
  auto r = sinklab("generate --weights '" + weights.string() + "' --tokens 49,43,50 --max-length 12");
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::istringstream lines(r.out);
  std::string ids_line;
  std::getline(lines, ids_line);
  std::vector<int> ids;
  {
    std::istringstream in(ids_line);
    for (int x; in >> x;) ids.push_back(x);
  }
  REQUIRE(ids.size() == 12);
  CHECK(std::vector<int>(ids.begin(), ids.begin() + 3) == std::vector<int>{49, 43, 50});
  // Byte-level model: the second line is the text of those bytes.
  std::string text;
  std::getline(lines, text);
  CHECK(text.size() == 12);
  const auto m = io::load_weights<gpt2_tiny>(weights);
  workspace<gpt2_tiny> ws;
  for (std::size_t t = 3; t < ids.size(); ++t) {
    forward(m, ws, std::span<const int>(ids.data(), t), 1, t);
    const float* last = ws.logits() + (t - 1) * gpt2_tiny::vocab;
    CHECK(ids[t] == int(std::max_element(last, last + gpt2_tiny::vocab) - last));
  }
  const std::string sample = "generate --weights '" + weights.string() + "' --tokens 49,43 --max-length 30 --temperature 1 --top-k 5";
  const auto a = sinklab(sample + " --seed 3"), b = sinklab(sample + " --seed 3"), c = sinklab(sample + " --seed 4");
  REQUIRE(a.code == 0);
  CHECK(a.out == b.out);
  CHECK(a.out != c.out);
  r = sinklab("generate --weights '" + weights.string() + "' --tokens 1,2 --max-length 999");
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Catch::Contains("--max-length 999") && Catch::Contains("context of 128"));
}

TEST_CASE("sinklab dispensability and mitigations share their flags and write a complete report", "[cli][study]") {
  scratch_dir s("studies");
  struct study_case {
    std::string command, variants;
  };
  for (const auto& c : {study_case{"dispensability", "tiny,tiny.no-qbias"}, study_case{"mitigations", "tiny.kv-bias,tiny.softmax1"}}) {
    INFO(c.command);
    const std::string out = s / c.command;
    const auto r = sinklab(c.command + " --budget micro --regimes bos --seeds 1 --steps 4 --lr 0.001 --variants " +
                           c.variants + " --out '" + out + "'");
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.err, Catch::Contains("sinklab " + c.command + ": budget micro, zoo tiny, 1 seeds, 4 steps"));
    CHECK_THAT(r.err, Catch::Contains("lr 0.001"));
    const auto first = c.variants.substr(0, c.variants.find(','));
    const auto second = c.variants.substr(c.variants.find(',') + 1);
    CHECK_THAT(r.out, Catch::Contains(first) && Catch::Contains(second) && Catch::Contains("wrote " + out + "/report.md"));
    const auto results = nlohmann::json::parse(slurp(fs::path(out) / "results.json"));
    CHECK(results.at("variants").size() == 2);
    for (const char* f : {"report.md", "destinations.csv", "runs.csv"}) CHECK(fs::exists(fs::path(out) / f));
  }
  const auto bad = sinklab("mitigations --budget micro --variants tiny.nonsense --out '" + (s / "bad") + "'");
  CHECK(bad.code != 0);
  CHECK_THAT(bad.err, Catch::Contains("unknown variant 'tiny.nonsense'"));
  // The natural-text standard budget trains the 512-context zoo (refused here before any corpus is read,
  // so the test needs no prose cache); an explicit --zoo overrides the budget's.
  const auto prose = sinklab("dispensability --budget standard --corpus prose --variants tiny --out '" + (s / "prose") + "'");
  CHECK(prose.code != 0);
  CHECK_THAT(prose.err, Catch::Contains("budget standard, zoo tiny-512, 3 seeds, 3052 steps x 16 x 512 tokens") &&
                            Catch::Contains("unknown variant 'tiny'; known: tiny-512, tiny-512.no-qbias"));
  const auto mixed = sinklab("dispensability --budget standard --corpus prose --zoo tiny-h16 --variants tiny --out '" +
                             (s / "prose") + "'");
  CHECK(mixed.code != 0);
  CHECK_THAT(mixed.err, Catch::Contains("zoo tiny-h16") && Catch::Contains("known: tiny-h16,"));
}

TEST_CASE("sinklab circuit runs the paper's interventions on a tiny checkpoint", "[cli][circuit]") {
  const fs::path weights = tiny_checkpoint() / "model.safetensors";
  scratch_dir out("circuit");
  {
    std::ofstream csv(out / "inputs.csv");
    csv << "dataset,text\n";
    csv << "nl,\"It was the best of times, it was the worst of times, it was the age of wisdom.\"\n";
    csv << "nl,\"The quick brown fox jumps over the lazy dog, again and again and again today.\"\n";
    csv << "math,\"17 + 25 = 42 and 3 * (4 - 9) = -15, so solve 2x + 3 = 11: x = 4 again.\"\n";
    csv << "math,short\n";
  }
  const auto r = sinklab("circuit --weights '" + weights.string() + "' --inputs '" + (out / "inputs.csv") +
                         "' --out '" + (out / "report") + "' --length 40");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto rows = slurp(out / "report/interventions.csv");
  CHECK(rows.starts_with("dataset,intervention,n,mean,stderr\n"));
  for (const char* id : {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}) {
    CHECK_THAT(rows, Catch::Contains(std::string("all,") + id + ",3,"));
    CHECK_THAT(rows, Catch::Contains(std::string("nl,") + id + ",2,"));
  }
  CHECK(fs::exists(out / "report/interventions_all_layers.csv"));
  CHECK(fs::exists(out / "report/report.md"));
}

TEST_CASE("bad input: one clear error line, non-zero exit, no partial output", "[cli][errors]") {
  const fs::path weights = tiny_checkpoint() / "model.safetensors";
  scratch_dir s("errors");
  struct bad {
    std::string args, expect;
  };
  {
    std::ofstream f(s / "truncated.safetensors", std::ios::binary);
    const auto bytes = slurp(weights);
    f.write(bytes.data(), std::streamsize(bytes.size() / 2));
  }
  const std::vector<bad> cases = {
      {"train --arch tiny.bogus --steps 1 --out '" + (s / "x") + "'", "unknown architecture 'tiny.bogus'"},
      {"train --arch tiny --steps abc --out '" + (s / "x") + "'", "--steps"},
      {"train --arch tiny --corpus '" + (s / "missing.txt") + "' --steps 1 --out '" + (s / "x") + "'", "missing.txt"},
      {"forward --weights '" + (s / "nope.safetensors") + "' --tokens 1,2 --out '" + (s / "f") + "'", "nope.safetensors"},
      {"forward --weights '" + (s / "truncated.safetensors") + "' --tokens 1,2 --out '" + (s / "f") + "'", "truncated.safetensors"},
      {"forward --weights '" + weights.string() + "' --tokens 1,999 --out '" + (s / "f") + "'", "outside the vocabulary"},
      {"forward --weights '" + weights.string() + "' --tokens 1,x --out '" + (s / "f") + "'", "'x' is not a token id"},
      {"forward --weights '" + weights.string() + "' --tokens 1,2 --out /proc/sinkcore-no", "cannot create output directory"},
      {"grad --weights '" + weights.string() + "' --tokens 5 --out '" + (s / "g") + "'", "at least 2 tokens"},
      {"inspect --length 1", "--length"},
      {"nonsense", "nonsense"},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    const auto r = sinklab(c.args);
    INFO(r.err);
    CHECK(r.code != 0);
    CHECK_THAT(r.err, Catch::Contains(c.expect));
  }
  CHECK(!fs::exists(s / "f/logits.npy"));
  CHECK(!fs::exists(s / "g/grads.safetensors"));
}

TEST_CASE("checkpoints with the transformer. prefix load, and mismatches are listed", "[checkpoint]") {
  scratch_dir s("prefix");
  using A = gpt2_tiny;
  const model<A> m(3);
  io::save_tensors<A>(s / "prefixed.safetensors", m.data(), {}, {}, "transformer.");
  const auto back = io::load_weights<A>(s / "prefixed.safetensors");
  CHECK(std::memcmp(back.data(), m.data(), layout<A>::size * sizeof(float)) == 0);
  CHECK(io::detect_architecture(s / "prefixed.safetensors") == "tiny");
  // the fused c_attn holds q | k | v column blocks, as Hugging Face's Conv1D
  const auto f = io::safetensors_file::open(s / "prefixed.safetensors");
  const auto cattn = f.read_float("transformer.h.1.attn.c_attn.weight");
  const auto k = m.tensor(role::k_weight, 1);
  CHECK(cattn[5 * 3 * 128 + 128 + 7] == k[5 * 128 + 7]);
  // a variant's file does not load as another variant: every mismatch is named
  CHECK_THROWS_WITH(io::load_weights<tiny_no_qbias>(s / "prefixed.safetensors"),
                    Catch::Contains("prefixed.safetensors") && Catch::Contains("missing tensor 'transformer.h.0.attn.k.bias'") &&
                        Catch::Contains("unexpected tensor 'transformer.h.0.attn.c_attn.bias'"));
  CHECK_THROWS_WITH(io::load_weights<tiny_rotary>(s / "prefixed.safetensors"),
                    Catch::Contains("unexpected tensor 'transformer.wpe.weight'"));
}
