#pragma once
// An independent GPT-2 for parity checks: random weights laid out exactly as Hugging Face stores them
// (Conv1D [in, out] matrices, q|k|v fused in c_attn, mask buffers, optional "transformer." prefix), written
// to a safetensors file, and a plain double-precision forward pass computed from those tensors by their
// Hugging Face names. Nothing here uses sinkcore's model, layout, kernels or checkpoint mapping: only the
// safetensors writer and the half/bfloat16 rounding (tested on their own in test_io).
// Used by tests/test_io.cpp (micro size) and bench/bench_parity.cpp (GPT-2 small).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <sinkcore/io/half.hpp>
#include <sinkcore/io/safetensors.hpp>

namespace hf_reference {

struct config {
  std::size_t layers, d_model, heads, context, vocab;
};

struct tensor {
  std::vector<std::size_t> shape;
  std::vector<float> data;
};

/// Tensors by Hugging Face name (no prefix), in state-dict order.
struct weights {
  std::vector<std::string> order;
  std::map<std::string, tensor> by_name;
  const float* operator()(const std::string& n) const { return by_name.at(n).data.data(); }
};

/// Random GPT-2 weights, larger than GPT-2's initialisation so attention patterns are far from uniform:
/// matrices U(+-1.5/sqrt(rows)), biases U(+-0.5), layer-norm gains 1 + U(+-0.5), embeddings U(+-1).
inline weights random_gpt2(const config& c, unsigned seed) {
  std::mt19937 rng(seed);
  weights w;
  auto add = [&](const std::string& name, std::vector<std::size_t> shape, float scale, float offset = 0.f) {
    std::size_t n = 1;
    for (auto s : shape) n *= s;
    tensor t{shape, std::vector<float>(n)};
    std::uniform_real_distribution<float> u(-scale, scale);
    for (auto& x : t.data) x = offset + u(rng);
    w.order.push_back(name);
    w.by_name[name] = std::move(t);
  };
  const std::size_t d = c.d_model;
  const float md = 1.5f / std::sqrt(float(d)), m4 = 1.5f / std::sqrt(float(4 * d));
  add("wte.weight", {c.vocab, d}, 1.f);
  add("wpe.weight", {c.context, d}, 1.f);
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    add(p + "ln_1.weight", {d}, 0.5f, 1.f);
    add(p + "ln_1.bias", {d}, 0.5f);
    add(p + "attn.c_attn.weight", {d, 3 * d}, md);
    add(p + "attn.c_attn.bias", {3 * d}, 0.5f);
    add(p + "attn.c_proj.weight", {d, d}, md);
    add(p + "attn.c_proj.bias", {d}, 0.5f);
    add(p + "ln_2.weight", {d}, 0.5f, 1.f);
    add(p + "ln_2.bias", {d}, 0.5f);
    add(p + "mlp.c_fc.weight", {d, 4 * d}, md);
    add(p + "mlp.c_fc.bias", {4 * d}, 0.5f);
    add(p + "mlp.c_proj.weight", {4 * d, d}, m4);
    add(p + "mlp.c_proj.bias", {d}, 0.5f);
  }
  add("ln_f.weight", {d}, 0.5f, 1.f);
  add("ln_f.bias", {d}, 0.5f);
  return w;
}

/// Writes `w` as `stored` (F32, F16 or BF16), names prefixed by `prefix`, with Hugging Face's mask buffers
/// (`h.N.attn.bias` [1,1,C,C] lower-triangular, `h.N.attn.masked_bias` scalar -1e4) when `masks`. Rounds the
/// values held in `w` to what the file stores, so a reference computed from `w` afterwards sees the file.
inline void write(const std::filesystem::path& path, weights& w, const config& c, sinkcore::io::dtype stored,
                  const std::string& prefix = "", bool masks = true) {
  namespace io = sinkcore::io;
  for (auto& [name, t] : w.by_name)
    for (auto& x : t.data) {
      if (stored == io::dtype::f16) x = io::half_to_float(io::float_to_half(x));
      if (stored == io::dtype::bf16) x = io::bf16_to_float(io::float_to_bf16(x));
    }
  std::vector<float> tril(c.context * c.context, 0.f);
  for (std::size_t i = 0; i < c.context; ++i)
    for (std::size_t j = 0; j <= i; ++j) tril[i * c.context + j] = 1.f;
  const float masked_bias = -1e4f;
  std::vector<io::named_tensor> out;
  for (const auto& n : w.order) {
    out.push_back({prefix + n, w.by_name.at(n).shape, w.by_name.at(n).data.data()});
    if (masks && n.ends_with("attn.c_proj.bias")) {
      const std::string block = n.substr(0, n.size() - std::string("c_proj.bias").size());
      out.push_back({prefix + block + "bias", {1, 1, c.context, c.context}, tril.data()});
      out.push_back({prefix + block + "masked_bias", {}, &masked_bias});
    }
  }
  io::write_safetensors(path, std::span<const io::named_tensor>(out), {{"format", "pt"}}, stored);
}

struct output {
  std::vector<double> logits;   // [T, vocab]
  std::vector<double> pattern;  // [layers, heads, T, T]
};

/// GPT-2's forward pass in double precision, straight from the Hugging Face tensors (one sequence).
inline output forward(const weights& w, const config& c, const std::vector<int>& tok) {
  using mat = std::vector<double>;
  const std::size_t T = tok.size(), d = c.d_model, H = c.heads, dh = d / H, V = c.vocab;
  auto ln = [&](const mat& x, const std::string& n) {
    const float *g = w(n + ".weight"), *b = w(n + ".bias");
    mat y(T * d);
    for (std::size_t i = 0; i < T; ++i) {
      double mu = 0, var = 0;
      for (std::size_t k = 0; k < d; ++k) mu += x[i * d + k];
      mu /= double(d);
      for (std::size_t k = 0; k < d; ++k) var += (x[i * d + k] - mu) * (x[i * d + k] - mu);
      var /= double(d);
      for (std::size_t k = 0; k < d; ++k) y[i * d + k] = (x[i * d + k] - mu) / std::sqrt(var + 1e-5) * g[k] + b[k];
    }
    return y;
  };
  auto conv1d = [&](const mat& x, std::size_t in, std::size_t out, const std::string& n) {
    const float *W = w(n + ".weight"), *b = w(n + ".bias");
    mat y(T * out);
    for (std::size_t i = 0; i < T; ++i) {
      double* yi = y.data() + i * out;
      for (std::size_t o = 0; o < out; ++o) yi[o] = b[o];
      for (std::size_t k = 0; k < in; ++k) {
        const double xk = x[i * in + k];
        const float* Wk = W + k * out;
        for (std::size_t o = 0; o < out; ++o) yi[o] += xk * Wk[o];
      }
    }
    return y;
  };
  output out;
  out.pattern.assign(c.layers * H * T * T, 0.0);
  mat x(T * d);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t k = 0; k < d; ++k)
      x[t * d + k] = double(w("wte.weight")[std::size_t(tok[t]) * d + k]) + w("wpe.weight")[t * d + k];
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    const mat qkv = conv1d(ln(x, p + "ln_1"), d, 3 * d, p + "attn.c_attn");
    mat z(T * d, 0.0);
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < T; ++i) {
        std::vector<double> s(i + 1);
        double mx = -1e300;
        for (std::size_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (std::size_t e = 0; e < dh; ++e) dot += qkv[i * 3 * d + h * dh + e] * qkv[j * 3 * d + d + h * dh + e];
          s[j] = dot / std::sqrt(double(dh));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= i; ++j) {
          const double a = s[j] / sum;
          out.pattern[((l * H + h) * T + i) * T + j] = a;
          for (std::size_t e = 0; e < dh; ++e) z[i * d + h * dh + e] += a * qkv[j * 3 * d + 2 * d + h * dh + e];
        }
      }
    const mat ao = conv1d(z, d, d, p + "attn.c_proj");
    for (std::size_t i = 0; i < T * d; ++i) x[i] += ao[i];
    mat f = conv1d(ln(x, p + "ln_2"), d, 4 * d, p + "mlp.c_fc");
    for (auto& e : f) e = 0.5 * e * (1 + std::tanh(std::sqrt(2 / M_PI) * (e + 0.044715 * e * e * e)));
    const mat mo = conv1d(f, 4 * d, d, p + "mlp.c_proj");
    for (std::size_t i = 0; i < T * d; ++i) x[i] += mo[i];
  }
  const mat hf = ln(x, "ln_f");
  out.logits.assign(T * V, 0.0);
  const float* wte = w("wte.weight");
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t v = 0; v < V; ++v) {
      double s = 0;
      for (std::size_t k = 0; k < d; ++k) s += hf[t * d + k] * wte[v * d + k];
      out.logits[t * V + v] = s;
    }
  return out;
}

/// Largest differences between a model's activations and the reference: `ws` is anything with `logits()`
/// ([T, vocab]) and `block(l).pattern` ([heads, T, T]) for one sequence of T tokens (sinkcore's workspace).
struct errors {
  double logit = 0, logit_scale = 0, pattern = 0;  // max |logit diff|, max |reference logit|, max |pattern diff|
};
template <class Workspace>
errors compare(const Workspace& ws, const output& ref, const config& c, std::size_t T) {
  errors e;
  for (std::size_t i = 0; i < T * c.vocab; ++i) {
    e.logit = std::max(e.logit, std::abs(double(ws.logits()[i]) - ref.logits[i]));
    e.logit_scale = std::max(e.logit_scale, std::abs(ref.logits[i]));
  }
  const std::size_t per_layer = c.heads * T * T;
  for (std::size_t l = 0; l < c.layers; ++l)
    for (std::size_t i = 0; i < per_layer; ++i)
      e.pattern = std::max(e.pattern, std::abs(double(ws.block(l).pattern[i]) - ref.pattern[l * per_layer + i]));
  return e;
}

}  // namespace hf_reference
