// Hardening (issue 7): malformed inputs of every parser give a sinkcore::error that names the problem and the
// file (never a crash, never a partial output file); the fuzzers' regression inputs stay fixed; `sinklab train`
// killed with SIGKILL at random moments leaves a loadable checkpoint and resumes bit-identically.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <sinkcore/report/circuit_report.hpp>
#include <sinkcore/report/tables.hpp>
#include <sinkcore/sinkcore.hpp>

using namespace sinkcore;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
void put(const fs::path& p, std::string_view bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A scratch_dir directory, removed at the end of the test.
struct scratch_dir {
  fs::path path;
  explicit scratch_dir(const std::string& name)
      : path(fs::temp_directory_path() / ("sinkcore_hard_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_dir() { fs::remove_all(path); }
  fs::path operator/(const std::string& s) const { return path / s; }
};

/// A safetensors file from a raw header (JSON text) and a data buffer of `data_bytes` zero bytes.
std::string safetensors_bytes(const std::string& header, std::size_t data_bytes, std::uint64_t claimed = ~0ull) {
  const std::uint64_t n = claimed == ~0ull ? header.size() : claimed;
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\0');
}

/// All tensors of `src`, as float, rewritten to `dst` after `edit` (which may drop, add or change entries).
struct owned_tensor {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<float> data;
};
void rewrite(const fs::path& src, const fs::path& dst, const std::function<void(std::vector<owned_tensor>&,
                                                                             std::map<std::string, std::string>&)>& edit) {
  const auto f = io::safetensors_file::open(src);
  std::vector<owned_tensor> ts;
  for (const auto& t : f.tensors()) ts.push_back({t.name, t.shape, f.read_float(t.name)});
  auto md = f.metadata();
  edit(ts, md);
  std::vector<io::named_tensor> out;
  for (const auto& t : ts) out.push_back({t.name, t.shape, t.data.data()});
  io::write_safetensors(dst, std::span<const io::named_tensor>(out), md);
}

using io::detail::spelled_byte;
std::string small_vocab_json(bool drop_byte = false) {
  nlohmann::json j = nlohmann::json::object();
  int id = 0;
  for (unsigned b = drop_byte ? 1 : 0; b < 256; ++b) j[spelled_byte(b)] = id++;
  j["th"] = id++;
  j["the"] = id++;
  return j.dump();
}


/// A tiny model's checkpoint file, written once per process.
const fs::path& tiny_weights() {
  static const fs::path p = [] {
    const auto dir = fs::temp_directory_path() / ("sinkcore_hard_model_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const model<gpt2_tiny> m(7);
    io::save_weights(dir / "model.safetensors", m);
    return dir / "model.safetensors";
  }();
  return p;
}

/// Every file in `dir` (recursively), for "no partial output" checks.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  return out;
}

std::vector<int> byte_ids(const std::string& s) {
  std::vector<int> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

}  // namespace

TEST_CASE("malformed inputs give a sinkcore::error naming the problem and the file", "[hardening][errors]") {
  scratch_dir s("bad");
  const fs::path w = tiny_weights();
  // Each case writes its input under `s`, runs one reader and must throw sinkcore::error whose message holds
  // `expect` and the file name `file`.
  struct bad_case {
    std::string name, file, expect;
    std::function<void(const fs::path&)> run;  // gets s.path / file
  };
  const auto st_case = [&](std::string name, std::string bytes, std::string expect) {
    return bad_case{name, name + ".safetensors", expect, [bytes](const fs::path& p) {
                      put(p, bytes);
                      (void)io::safetensors_file::open(p);
                    }};
  };
  const auto load_case = [&](std::string name, std::string expect,
                             std::function<void(std::vector<owned_tensor>&, std::map<std::string, std::string>&)> edit) {
    return bad_case{name, name + ".safetensors", expect, [w, edit](const fs::path& p) {
                      rewrite(w, p, edit);
                      (void)io::load_weights<gpt2_tiny>(p);
                    }};
  };
  const auto tok_case = [&](std::string name, std::string bytes, std::string expect, std::size_t vocab = 256) {
    return bad_case{name, name + ".bin", expect, [bytes, vocab](const fs::path& p) {
                      put(p, bytes);
                      (void)train::read_token_file(p, vocab);
                    }};
  };
  const auto merges_case = [&](std::string name, std::string merges, std::string expect, std::string vocab = small_vocab_json()) {
    return bad_case{name, name + ".bpe", expect, [merges, vocab](const fs::path& p) {
                      put(p.parent_path() / (p.stem().string() + ".json"), vocab);
                      put(p, merges);
                      (void)io::bpe_tokenizer::from_files(p.parent_path() / (p.stem().string() + ".json"), p);
                    }};
  };
  const auto csv_case = [&](std::string name, std::string text, std::string expect) {
    return bad_case{name, name + ".csv", expect, [text](const fs::path& p) {
                      put(p, text);
                      (void)report::read_labelled_inputs(p, 4, byte_ids);
                    }};
  };
  const std::string f32_2x3 = R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  const std::string whole = slurp(w);

  const std::vector<bad_case> cases = {
      // safetensors container
      st_case("st_empty", "", "shorter than the 8-byte header length"),
      st_case("st_five_bytes", "\x01\x02\x03\x04\x05", "shorter than the 8-byte header length"),
      st_case("st_truncated_header", safetensors_bytes(f32_2x3, 0).substr(0, 20), "exceeds the file size"),
      st_case("st_header_past_end", safetensors_bytes(f32_2x3, 24, 4096), "header length 4096 exceeds the file size"),
      st_case("st_header_huge", safetensors_bytes(f32_2x3, 24, 1ull << 62), "exceeds the limit"),
      st_case("st_header_not_json", safetensors_bytes("{\"a\": {\"dtype\": ", 0), "header is not valid JSON"),
      st_case("st_header_array", safetensors_bytes("[1, 2]", 0), "header is not a JSON object"),
      st_case("st_overlap", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
              "overlap tensor 'a'"),
      st_case("st_out_of_range", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 16),
              "out of range of the data buffer (16 bytes)"),
      st_case("st_hole", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
              "leaving a hole in the data buffer at [4, 8)"),
      st_case("st_hole_at_end", safetensors_bytes(f32_2x3, 32), "a hole at the end"),
      st_case("st_unknown_dtype", safetensors_bytes(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8),
              "unknown dtype 'F33'"),
      st_case("st_shape_bytes_mismatch", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}})", 24),
              "needs 32 bytes, but data_offsets span 24"),
      st_case("st_negative_dim", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
              "negative dimension -2"),
      st_case("st_shape_overflow", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
              "overflows"),
      st_case("st_duplicate_name", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
              "duplicate tensor name 'a'"),
      st_case("st_offsets_reversed", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
              "end before they begin"),
      st_case("st_no_dtype", safetensors_bytes(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "entry has no 'dtype'"),
      st_case("st_metadata_not_string", safetensors_bytes(R"({"__metadata__":{"k":1}})", 0), "__metadata__ value for 'k' is not a string"),
      // checkpoints of an architecture
      bad_case{"ckpt_truncated", "ckpt_truncated.safetensors", "out of range of the data buffer",
               [&](const fs::path& p) {
                 put(p, whole.substr(0, whole.size() / 2));
                 (void)io::load_weights<gpt2_tiny>(p);
               }},
      load_case("ckpt_missing_tensor", "missing tensor 'h.3.mlp.c_proj.bias'",
                [](auto& ts, auto&) { std::erase_if(ts, [](const owned_tensor& t) { return t.name == "h.3.mlp.c_proj.bias"; }); }),
      load_case("ckpt_extra_tensor", "unexpected tensor 'extra.weight'",
                [](auto& ts, auto&) { ts.push_back({"extra.weight", {2}, {1, 2}}); }),
      load_case("ckpt_nan_weight", "tensor 'h.1.ln_2.weight' holds a non-finite value at element 5",
                [](auto& ts, auto&) {
                  for (auto& t : ts)
                    if (t.name == "h.1.ln_2.weight") t.data[5] = std::nanf("");
                }),
      load_case("ckpt_wrong_vocab", "tensor 'wte.weight' has shape [300, 128], expected [256, 128]",
                [](auto& ts, auto&) {
                  for (auto& t : ts)
                    if (t.name == "wte.weight") t.shape = {300, 128}, t.data.resize(300 * 128);
                }),
      bad_case{"ckpt_int_dtype", "ckpt_int_dtype.safetensors", "dtype I32 cannot be converted to float",
               [](const fs::path& p) {
                 put(p, safetensors_bytes(R"({"wte.weight":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8));
                 const auto f = io::safetensors_file::open(p);
                 (void)f.read_float("wte.weight");
               }},
      bad_case{"arch_unknown", "arch_unknown.safetensors", "architecture 'tiny.bogus' (from its metadata) is not registered",
               [&](const fs::path& p) {
                 rewrite(w, p, [](auto&, auto& md) { md[io::arch_metadata_key] = "tiny.bogus"; });
                 (void)io::detect_architecture(p);
               }},
      bad_case{"config_bad_n_head", "config.json", "cannot read n_head",
               [&](const fs::path& p) {
                 fs::create_directories(p.parent_path() / "hf");
                 rewrite(w, p.parent_path() / "hf/model.safetensors", [](auto&, auto& md) { md.clear(); });
                 put(p.parent_path() / "hf/config.json", R"({"n_head": "four"})");
                 (void)io::detect_architecture(p.parent_path() / "hf/model.safetensors");
               }},
      bad_case{"config_not_json", "config.json", "cannot read n_head",
               [&](const fs::path& p) {
                 fs::create_directories(p.parent_path() / "hf2");
                 rewrite(w, p.parent_path() / "hf2/model.safetensors", [](auto&, auto& md) { md.clear(); });
                 put(p.parent_path() / "hf2/config.json", "{\"n_head\": 4");
                 (void)io::detect_architecture(p.parent_path() / "hf2/model.safetensors");
               }},
      // token files
      tok_case("tok_odd", std::string("\x01\x00\x02", 3), "3 bytes is an odd count"),
      tok_case("tok_id_too_large", std::string("\x01\x00\x2c\x01", 4), "token id 300 at index 1 is not below the vocabulary size 256"),
      tok_case("tok_gpt2_id_too_large", std::string("\x51\xc4", 2), "token id 50257 at index 0", train::gpt2_vocab_size),
      tok_case("tok_empty", "", "token file is empty"),
      bad_case{"tok_missing", "tok_missing.bin", "cannot open", [](const fs::path& p) { (void)train::read_token_file(p); }},
      // BPE vocabulary and merges
      merges_case("bpe_three_tokens", "#version: 0.2\nt h e\n", "bpe_three_tokens.bpe:2: malformed merge line 't h e'"),
      merges_case("bpe_unknown_token", "#version: 0.2\nt h\nq z\n", "bpe_unknown_token.bpe:3: merge 'q z': the merged token 'qz' is not in the vocabulary"),
      merges_case("bpe_blank_line", "#version: 0.2\nt h\n\nth e\n", "bpe_blank_line.bpe:3: empty line before the last merge"),
      merges_case("bpe_leading_space", " t\n", "malformed merge line"),
      bad_case{"bpe_vocab_not_json", "bpe_vocab_not_json.json", "not valid JSON",
               [](const fs::path& p) {
                 put(p, "{\"a\": 1,");
                 put(p.parent_path() / "m.bpe", "#version: 0.2\n");
                 (void)io::bpe_tokenizer::from_files(p, p.parent_path() / "m.bpe");
               }},
      bad_case{"bpe_vocab_missing_byte", "bpe_vocab_missing_byte.json", "no token for the single byte 0x00",
               [](const fs::path& p) {
                 put(p, small_vocab_json(true));
                 put(p.parent_path() / "m.bpe", "#version: 0.2\n");
                 (void)io::bpe_tokenizer::from_files(p, p.parent_path() / "m.bpe");
               }},
      bad_case{"bpe_no_vocab_dir", "bpe_no_vocab_dir", "no GPT-2 vocabulary found",
               [](const fs::path& p) {
                 fs::create_directories(p);
                 (void)io::bpe_tokenizer::load(p);
               }},
      // inputs CSV of `sinklab circuit`
      csv_case("csv_no_dataset", "text\nhello there\n", "no 'dataset' column"),
      csv_case("csv_no_text", "dataset,x\nnl,1\n", "needs a 'text' or a 'tokens' column"),
      csv_case("csv_unterminated", "dataset,text\nnl,\"open\n", "unterminated quoted field"),
      csv_case("csv_width", "dataset,text\nnl,a,b\n", "record 2 has 3 fields, the header has 2"),
      csv_case("csv_bad_token", "dataset,tokens\nnl,1 2 x 4\n", "record 2: 'x' is not a token id"),
      csv_case("csv_negative_token", "dataset,tokens\nnl,1 -2 3 4\n", "'-2' is not a token id"),
      csv_case("csv_empty", "", "empty CSV file"),
  };
  REQUIRE(cases.size() >= 30);
  for (const auto& c : cases) {
    INFO("case " << c.name);
    const fs::path p = s / c.file;
    bool threw = false;
    try {
      c.run(p);
    } catch (const error& e) {
      threw = true;
      INFO(e.what());
      CHECK_THAT(e.what(), Catch::Contains(c.expect));
      CHECK_THAT(e.what(), Catch::Contains(c.file));
    }
    CHECK(threw);
  }
  // No reader left a temporary or partial file beside its input.
  for (const auto& f : files_in(s.path)) CHECK_FALSE(f.find(".tmp.") != std::string::npos);
}

TEST_CASE("model inputs out of range are refused", "[hardening][errors]") {
  const auto m = io::load_weights<gpt2_tiny>(tiny_weights());
  workspace<gpt2_tiny> ws;
  std::vector<int> too_long(gpt2_tiny::context + 1, 1);
  CHECK_THROWS_WITH(forward(m, ws, too_long, 1, too_long.size()),
                    Catch::Contains("sequence length 129 is outside [1, 128]") && Catch::Contains("tiny"));
  const std::vector<int> bad_id{1, 2, 256};
  CHECK_THROWS_WITH(forward(m, ws, bad_id, 1, 3), Catch::Contains("token 256 at position 2 is outside the vocabulary [0, 256)"));
  const std::vector<int> negative{1, -1};
  CHECK_THROWS_WITH(forward(m, ws, negative, 1, 2), Catch::Contains("token -1 at position 1"));
  CHECK_THROWS_AS(forward(m, ws, bad_id, 2, 3), error);  // size mismatch
}

TEST_CASE("BPE accepts empty and non-UTF-8 text and refuses ids outside the vocabulary", "[hardening][bpe]") {
  scratch_dir s("bpe");
  put(s / "encoder.json", small_vocab_json());
  put(s / "vocab.bpe", "#version: 0.2\nt h\nth e\n");
  const auto tok = io::bpe_tokenizer::load(s.path);
  CHECK(tok.encode("").empty());
  CHECK(tok.decode(std::vector<int>{}).empty());
  for (std::string_view text : {std::string_view("\xFF\xFE\xC0\xAF the \xED\xA0\x80", 13), std::string_view("\x00\x01 x", 4),
                                std::string_view("\xF4\x90\x80\x80 \xE2\x82", 7)}) {
    const auto ids = tok.encode(text);
    CHECK(tok.decode(ids) == text);
  }
  CHECK(tok.encode("the") == std::vector<int>{257});
  CHECK_THROWS_WITH(tok.decode({1, 258}), Catch::Contains("token id 258 at position 1 is out of range [0, 258)") &&
                                              Catch::Contains(s.path.string()));
  CHECK_THROWS_WITH(tok.decode({-3}), Catch::Contains("token id -3"));
}

TEST_CASE("a training checkpoint with corrupt metadata does not resume", "[hardening][train]") {
  scratch_dir s("resume");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "12 + 34 = 46; ";
  const auto data = train::split_tail("inline", train::byte_tokens(text), train::byte_vocab_size, 0.2);
  train::train_options o;
  o.batch = 2;
  o.context = 16;
  o.steps = 2;
  train::trainer<gpt2_tiny> t(data, o);
  t.step();
  t.save(s / "ckpt.safetensors");
  train::trainer<gpt2_tiny> t2(data, o);
  t2.resume(s / "ckpt.safetensors");  // the good one resumes
  CHECK(t2.step_count() == 1);
  struct corrupt {
    std::string key, value, expect;
  };
  for (const auto& c : std::vector<corrupt>{{"sinkcore.step", "many", "sinkcore.step"},
                                            {"sinkcore.step", "18446744073709551616", "sinkcore.step"},
                                            {"sinkcore.sampler", "step=1;rng=zz", "sampler"},
                                            {"sinkcore.train_options", "{\"lr\": ", "sinkcore.train_options"},
                                            {"sinkcore.train_options", "{}", "sinkcore.train_options"},
                                            {io::arch_metadata_key, "tiny.rotary", "checkpoint of tiny.rotary, not tiny"}}) {
    INFO(c.key << " = " << c.value);
    rewrite(s / "ckpt.safetensors", s / "bad.safetensors", [&](auto&, auto& md) { md[c.key] = c.value; });
    train::trainer<gpt2_tiny> t3(data, o);
    CHECK_THROWS_WITH(t3.resume(s / "bad.safetensors"), Catch::Contains("bad.safetensors") && Catch::Contains(c.expect));
  }
  rewrite(s / "ckpt.safetensors", s / "nom.safetensors", [](auto& ts, auto&) {
    std::erase_if(ts, [](const owned_tensor& x) { return x.name == "optimizer.v"; });
  });
  train::trainer<gpt2_tiny> t4(data, o);
  CHECK_THROWS_WITH(t4.resume(s / "nom.safetensors"), Catch::Contains("missing or misshapen tensor 'optimizer.v'"));
}

TEST_CASE("fuzzers' regression inputs are handled without a crash", "[hardening][regressions]") {
  const fs::path root = fs::path(SINKCORE_SOURCE_DIR) / "tests/regressions";
  std::size_t n = 0;
  const auto each = [&](const std::string& target, const std::function<void(const std::string&)>& feed) {
    if (!fs::exists(root / target)) return;
    for (const auto& e : fs::directory_iterator(root / target)) {
      INFO(e.path());
      const std::string bytes = slurp(e.path());
      try {
        feed(bytes);
      } catch (const error&) {
      }
      ++n;
    }
  };
  scratch_dir s("regress");
  each("fuzz_safetensors", [&](const std::string& b) {
    put(s / "x.safetensors", b);
    const auto f = io::safetensors_file::open(s / "x.safetensors");
    for (const auto& t : f.tensors())
      if (io::converts_to_float(t.type)) (void)f.read_float(t.name);
    std::vector<float> buf(layout<gpt2_tiny>::size);
    io::load_tensors<gpt2_tiny>(f, buf.data());
  });
  each("fuzz_token_file", [&](const std::string& b) {
    if (b.empty()) return;
    put(s / "x.bin", b.substr(1));
    (void)train::read_token_file(s / "x.bin", 256);
  });
  each("fuzz_csv", [&](const std::string& b) {
    if (b.empty()) return;
    (void)report::parse_csv(b.substr(1));
    put(s / "x.csv", b.substr(1));
    (void)report::read_labelled_inputs(s / "x.csv", 1 + static_cast<unsigned char>(b[0]) % 16, byte_ids);
  });
  fs::create_directories(s / "hf");
  rewrite(tiny_weights(), s / "hf/model.safetensors", [](auto&, auto& md) { md.clear(); });
  each("fuzz_config", [&](const std::string& b) {
    put(s / "hf/config.json", b);
    (void)io::detect_architecture(s / "hf/model.safetensors");
  });
  each("fuzz_bpe", [&](const std::string& b) {
    put(s / "v/encoder.json", small_vocab_json());
    put(s / "v/vocab.bpe", b.empty() ? std::string() : b.substr(1));
    (void)io::bpe_tokenizer::load(s / "v");
  });
  SUCCEED(n << " regression inputs");
}

#ifdef SINKLAB_EXECUTABLE
namespace {

struct result {
  int code;
  std::string out, err;
};

/// Run sinklab with `args` (a shell fragment), capturing stdout and stderr (as tests/test_cli.cpp).
result sinklab(const std::string& args) {
  static const fs::path dir = fs::temp_directory_path() / ("sinklab_hard_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd = std::string("OMP_NUM_THREADS=2 '") + SINKLAB_EXECUTABLE + "' " + args + " >'" +
                          (dir / "out").string() + "' 2>'" + (dir / "err").string() + "' </dev/null";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, slurp(dir / "out"), slurp(dir / "err")};
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

/// Starts `sinklab args...` in the background (stdout/stderr appended to `log`, OMP_NUM_THREADS=2), returns
/// its pid. posix_spawn, not fork: the test process has OpenMP threads.
pid_t spawn_sinklab(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv{const_cast<char*>(SINKLAB_EXECUTABLE)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_storage{"OMP_NUM_THREADS=2"};
  for (char** e = environ; *e != nullptr; ++e)
    if (!std::string_view(*e).starts_with("OMP_NUM_THREADS=")) env_storage.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, SINKLAB_EXECUTABLE, &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

/// Tensor name -> raw bytes of a safetensors file.
std::map<std::string, std::string> tensor_bytes(const fs::path& p) {
  const auto f = io::safetensors_file::open(p);
  std::map<std::string, std::string> out;
  for (const auto& t : f.tensors()) {
    const auto b = f.bytes(t.name);
    out[t.name] = std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  return out;
}

}  // namespace

TEST_CASE("sinklab: bad files give one error line naming the file and leave no output", "[hardening][cli]") {
  scratch_dir s("cli");
  const fs::path w = tiny_weights();
  rewrite(w, s / "nan.safetensors", [](auto& ts, auto&) {
    for (auto& t : ts)
      if (t.name == "ln_f.bias") t.data[3] = std::numeric_limits<float>::infinity();
  });
  rewrite(w, s / "bogus.safetensors", [](auto&, auto& md) { md[io::arch_metadata_key] = "tiny.bogus"; });
  put(s / "holes.safetensors", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8));
  put(s / "odd.bin", std::string("\x01\x00\x02", 3));
  put(s / "inputs.csv", "dataset,tokens\nnl,1 2 x\n");
  struct bad {
    std::string args, out, expect;
  };
  const auto W = [](const fs::path& p) { return "'" + p.string() + "'"; };
  const std::vector<bad> cases = {
      {"forward --weights " + W(s / "nan.safetensors") + " --tokens 1,2 --out " + W(s / "o1"), "o1",
       "nan.safetensors: tensor 'ln_f.bias' holds a non-finite value"},
      {"forward --weights " + W(s / "bogus.safetensors") + " --tokens 1,2 --out " + W(s / "o2"), "o2",
       "architecture 'tiny.bogus' (from its metadata) is not registered"},
      {"forward --weights " + W(s / "holes.safetensors") + " --tokens 1,2 --out " + W(s / "o3"), "o3",
       "holes.safetensors: tensor 'a': data_offsets start at 4, leaving a hole"},
      {"forward --weights " + W(w) + " --tokens " + [] {
         std::string t = "1";
         for (int i = 0; i < 128; ++i) t += ",1";
         return t;
       }() + " --out " + W(s / "o4"),
       "o4", "129"},
      {"train --arch tiny --corpus " + W(s / "odd.bin") + " --steps 1 --out " + W(s / "o5"), "o5", "odd.bin"},
      {"circuit --weights " + W(w) + " --inputs " + W(s / "inputs.csv") + " --out " + W(s / "o6") + " --length 2", "o6",
       "inputs.csv: record 2: 'x' is not a token id"},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    const auto r = sinklab(c.args);
    INFO(r.err);
    CHECK(r.code != 0);
    CHECK(count_of(r.err, "sinklab: error:") == 1);
    CHECK_THAT(r.err, Catch::Contains(c.expect));
    CHECK(files_in(s / c.out).empty());
  }
}

TEST_CASE("sinklab train killed with SIGKILL leaves a loadable checkpoint and resumes bit-identically",
          "[hardening][cli][crash]") {
  scratch_dir s("kill");
  const auto args = [&](const fs::path& out) {
    return std::vector<std::string>{"train", "--arch", "tiny", "--corpus", "math", "--steps", "40", "--batch", "2",
                                     "--context", "32", "--checkpoint-interval", "2", "--eval-interval", "10",
                                     "--out", out.string()};
  };
  const auto t0 = std::chrono::steady_clock::now();
  // The reference: one uninterrupted run.
  {
    const pid_t pid = spawn_sinklab(args(s / "ref"), s / "ref.log");
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO(slurp(s / "ref.log"));
    REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  const double full_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // The interrupted one: 3 kills at pseudo-random moments: each (re)started run is killed 0-0.15 s after it
  // wrote its first new checkpoint (start-up, corpus generation included, takes most of a second and would
  // otherwise absorb every kill), so kills land between, and during, checkpoint writes and steps.
  std::mt19937 gen(12345);
  std::uniform_real_distribution<double> when(0.0, 0.15);
  const fs::path ckpt = s / "run/checkpoint.safetensors";
  const auto stamp = [&] { return fs::exists(ckpt) ? fs::last_write_time(ckpt) : fs::file_time_type::min(); };
  int killed = 0, resumed = 0;
  for (int k = 0; k < 3; ++k) {
    const bool had_checkpoint = fs::exists(s / "run/checkpoint.safetensors");
    const pid_t pid = spawn_sinklab(args(s / "run"), s / "run.log");
    const auto before = stamp();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int status = 0;
    bool exited = false;
    while (stamp() == before && std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::duration<double>(when(gen)));
      ::kill(pid, SIGKILL);
      REQUIRE(::waitpid(pid, &status, 0) == pid);
    }
    const std::string log = slurp(s / "run.log");
    fs::remove(s / "run.log");
    if (WIFSIGNALED(status)) ++killed;
    else WARN("run " << k << " ended before the kill, status " << status << ": " << log);
    if (had_checkpoint) resumed += count_of(log, "resuming tiny from step") > 0;
    INFO("kill " << k);
    if (fs::exists(s / "run/checkpoint.safetensors")) {
      const auto f = io::safetensors_file::open(s / "run/checkpoint.safetensors");
      CHECK(f.metadata().count("sinkcore.step") == 1);
      CHECK_NOTHROW(io::load_weights<gpt2_tiny>(s / "run/checkpoint.safetensors"));
    }
    if (fs::exists(s / "run/model.safetensors")) CHECK_NOTHROW(io::load_weights<gpt2_tiny>(s / "run/model.safetensors"));
  }
  // Run to completion: resumes from the last checkpoint, ends bit-identical to the reference.
  {
    const bool had_checkpoint = fs::exists(s / "run/checkpoint.safetensors");
    const pid_t pid = spawn_sinklab(args(s / "run"), s / "run.log");
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO(slurp(s / "run.log"));
    REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    if (had_checkpoint) resumed += count_of(slurp(s / "run.log"), "resuming tiny from step") > 0;
  }
  WARN("reference run " << full_s << " s; " << killed << " of 3 runs killed mid-way; " << resumed << " resumed");
  CHECK(killed >= 1);
  CHECK(resumed >= 1);
  const auto ref = tensor_bytes(s / "ref/model.safetensors"), run = tensor_bytes(s / "run/model.safetensors");
  REQUIRE(ref.size() == run.size());
  for (const auto& [name, bytes] : ref) {
    INFO(name);
    CHECK(run.at(name) == bytes);
  }
}
#endif
