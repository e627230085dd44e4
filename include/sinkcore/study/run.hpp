#pragma once
/// @file run.hpp
/// One run of the dispensability study: architecture A trained from scratch in one data regime with one
/// seed, then measured. Resumable (checkpoint + curve in the run's directory) and never retrained once its
/// result.json matches the budget.
///
/// Metrics (all on held-out windows, the same windows for every variant and seed of a regime):
///  - bos_metric: the paper's BOS attention (metrics.hpp) at T = metric_length (40), second-half queries,
///    mid scope (layer_range::mid: layers [2, 3) of a 4-layer model), on the training distribution's
///    held-out split; bos_metric_all: the same over all layers; bos_metric_ctx: mid scope at the training
///    context.
///  - by_layer, by_head: the paper's quantity per layer and per head (T = metric_length); peak_layer and
///    peak_layer_metric: the strongest layer and its value, the study's primary measure (result.hpp), whose
///    chance level primary_chance is the same statistic of the untrained model (model<A>(seed)) on the same
///    windows; sink_heads: heads above 0.3; by_head_sink: Gu's alpha per head at T = sink_length.
///  - sink: Gu et al.'s Sink_1^eps (eps 0.3) with k indexing the first token (1-based in Gu et al.), i.e.
///    key position 0 here in both regimes (the BOS token in the BOS regime, an arbitrary token otherwise),
///    all layers, at T = sink_length (64); sinkcore::sink_rate(ws, b, 0, 0.3).
///  - loss per corpus: mean next-token cross-entropy (nats/byte) on windows of the training context.
///  - where the attention went (metrics.hpp attention_destinations, the bos_metric's scope and windows):
///    mass on keys >= 1, on a mitigation's extra slot, on "nothing" (softmax + 1), and the row entropy.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "../interp/circuit.hpp"
#include "../interp/epe.hpp"
#include "../interp/interventions.hpp"
#include "../interp/metrics.hpp"
#include "../interp/stats.hpp"
#include "../io/atomic_file.hpp"
#include "../io/checkpoint.hpp"
#include "../train/corpora.hpp"
#include "../train/data.hpp"
#include "../train/trainer.hpp"
#include "budget.hpp"
#include "result.hpp"

namespace sinkcore::study {

namespace fs = std::filesystem;

/// The two data regimes: GPT-2's (random windows, position 0 holds an arbitrary token) and BOS (every
/// window starts with byte 0).
enum class regime { gpt2, bos };
inline std::string regime_name(regime r) { return r == regime::gpt2 ? "gpt2" : "bos"; }
inline regime regime_by_name(std::string_view s) {
  if (s == "gpt2" || s == "no-bos") return regime::gpt2;
  if (s == "bos") return regime::bos;
  throw error("unknown regime '" + std::string(s) + "'; known: gpt2, bos");
}
inline std::optional<train::token> regime_bos(regime r) {
  return r == regime::bos ? std::optional<train::token>(train::byte_bos) : std::nullopt;
}

/// The corpora of a study: the training corpus (its held-out split is "the training distribution") and
/// the held-out domains nl, math, code.
struct study_data {
  train::corpus train;
  std::vector<train::corpus> domains;  ///< nl, math, code
};
inline study_data load_study_data(const std::string& train_corpus, const train::corpus_options& o = {}) {
  study_data d;
  d.train = train::load_corpus(train_corpus, o);
  for (const char* n : {"nl", "math", "code"}) d.domains.push_back(n == d.train.name ? d.train : train::load_corpus(n, o));
  return d;
}

/// Progress of a whole study, reported after every training step of any run (throttle in the callback).
struct progress_info {
  std::string variant, regime;
  std::uint64_t seed = 0, step = 0, steps = 0;
  double tokens_per_s = 0;             ///< this run's training speed
  std::size_t done = 0, total = 0;     ///< steps trained in this session / done + still to train (whole study)
  std::size_t runs_done = 0, runs_total = 0;
  double eta_s = 0;                    ///< estimated seconds until the whole study is done
  bool force = false;                  ///< a run started or ended
};
using progress_callback = std::function<void(const progress_info&)>;

/// Shared across the runs of a study (thread-safe).
class study_progress {
 public:
  study_progress(std::size_t remaining_steps, std::size_t runs_total, std::size_t runs_done, progress_callback cb)
      : total_(remaining_steps), runs_total_(runs_total), runs_done_(runs_done), cb_(std::move(cb)),
        start_(std::chrono::steady_clock::now()) {}
  void step(progress_info info, bool run_finished = false) {
    std::lock_guard<std::mutex> lock(mu_);
    if (info.step > 0 && !info.force && !run_finished) ++done_;
    if (run_finished) ++runs_done_;
    if (!cb_) return;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    info.done = done_;
    info.total = total_;
    info.runs_done = runs_done_;
    info.runs_total = runs_total_;
    info.eta_s = done_ ? el / double(done_) * double(total_ - std::min(done_, total_)) : 0.0;
    info.force = info.force || run_finished;
    cb_(info);
  }
  /// A run ended early (divergence): its remaining steps will never be trained.
  void drop(std::size_t steps) {
    std::lock_guard<std::mutex> lock(mu_);
    total_ -= std::min(steps, total_ - std::min(done_, total_));
  }

 private:
  std::mutex mu_;
  std::size_t done_ = 0, total_, runs_total_, runs_done_;
  progress_callback cb_;
  std::chrono::steady_clock::time_point start_;
};

/// Fixed held-out windows: n windows of T tokens (inputs, and next-token targets) in a regime.
struct window_set {
  std::size_t n = 0, T = 0;
  std::vector<int> inputs, targets;  ///< [n * T]
};
inline window_set make_windows(std::span<const train::token> split, std::size_t n, std::size_t T, regime r,
                               std::uint64_t seed) {
  train::batch_sampler s(split, train::sampler_options{n, T, seed, regime_bos(r)});
  const auto b = s.next();
  window_set w{n, T, {}, {}};
  w.inputs.assign(b.inputs.begin(), b.inputs.end());
  w.targets.assign(b.targets.begin(), b.targets.end());
  return w;
}

/// Per-window metrics of a model on a window set.
struct window_metrics {
  std::vector<double> bos_mid, bos_all, sink;
  std::vector<attention_destinations> where;  ///< mid scope, per window
  std::vector<double> by_head;  ///< [layer * heads + head] the paper's BOS attention, mean over windows
  std::vector<double> alpha;    ///< [layer * heads + head] Gu's alpha: mean attention of every query to key 0
  std::size_t heads = 1;
  double loss = 0;              ///< mean next-token cross-entropy over every position
  /// [layer] by_head averaged over the heads of each layer.
  std::vector<double> by_layer() const {
    std::vector<double> l(by_head.size() / heads, 0.0);
    for (std::size_t i = 0; i < by_head.size(); ++i) l[i / heads] += by_head[i] / double(heads);
    return l;
  }
};

/// The strongest layer of a per-layer measure and its value (the first on ties).
struct peak {
  std::size_t layer = 0;
  double value = 0;
};
inline peak peak_of(std::span<const double> by_layer) {
  peak p{0, by_layer.empty() ? std::nan("") : by_layer[0]};
  for (std::size_t l = 1; l < by_layer.size(); ++l)
    if (by_layer[l] > p.value) p = {l, by_layer[l]};
  return p;
}

template <architecture_type A>
window_metrics measure_windows(const model<A>& m, workspace<A>& ws, const window_set& w, std::size_t chunk = 16) {
  window_metrics out;
  out.heads = A::heads;
  out.by_head.assign(A::layers * A::heads, 0.0);
  out.alpha.assign(A::layers * A::heads, 0.0);
  const layer_range mid = layer_range::mid(A::layers), all = layer_range::all(A::layers);
  const bool can_bos = w.T >= 2;
  for (std::size_t s = 0; s < w.n; s += chunk) {
    const std::size_t B = std::min(chunk, w.n - s);
    std::span<const int> in(w.inputs.data() + s * w.T, B * w.T), tg(w.targets.data() + s * w.T, B * w.T);
    forward(m, ws, in, B, w.T);
    out.loss += cross_entropy(ws, tg) * double(B) / double(w.n);
    if (!can_bos) continue;
    for (std::size_t b = 0; b < B; ++b) {
      const auto heads = bos_attention_by_head(ws, b);
      std::vector<double> layers(A::layers);
      for (std::size_t l = 0; l < A::layers; ++l) {
        layers[l] = stats::mean(heads[l]);
        for (std::size_t h = 0; h < A::heads; ++h) {
          out.by_head[l * A::heads + h] += heads[l][h] / double(w.n);
          out.alpha[l * A::heads + h] += mean_attention_to_key(ws.pattern(l, b, h), w.T, 0) / double(w.n);
        }
      }
      out.bos_mid.push_back(mean_over_layers(layers, mid));
      out.bos_all.push_back(mean_over_layers(layers, all));
      out.sink.push_back(sink_rate(ws, b, 0, 0.3));
      out.where.push_back(attention_destinations_of(ws, b, mid));
    }
  }
  return out;
}

/// The paper's circuit statistics of a trained model, where the components exist (circuit.hpp):
/// Delta (the source-agnostic shift) at key 0 against other keys, and with learned positions and a
/// first MLP, the massive coordinates of EPE_0, mean gamma on them and elsewhere, cos(b_Q, W_K EPE_j).
/// The top-level fields pool the paper's mid layers; `peak_layer` holds the same statistics on layer
/// `peak` alone (the run's strongest layer, where a tiny model's sink sits), with its index as `layer`.
template <architecture_type A>
circuit_stats circuit_statistics(const model<A>& m, const window_set& w, std::size_t peak) {
  circuit_stats j;
  const auto a = circuit_applicability<A>();
  j.applies = a.applies;
  j.reason = a.reason;
  if constexpr (has_source_agnostic_shift<A>) {
    if (peak >= A::layers) throw error("circuit statistics: peak layer " + std::to_string(peak) + " of " + std::to_string(A::layers));
    shift_distribution<A> dist;
    workspace<A> ws;
    const std::size_t chunk = 16;
    for (std::size_t s = 0; s < w.n; s += chunk) {
      const std::size_t B = std::min(chunk, w.n - s);
      forward(m, ws, std::span<const int>(w.inputs.data() + s * w.T, B * w.T), B, w.T);
      dist.add(m, ws);
    }
    std::vector<std::size_t> massive;
    std::vector<std::vector<std::vector<double>>> cos;  // [layer][head][position]
    if constexpr (has_effective_positional_embedding<A>) {
      massive = massive_coordinates(effective_positional_embedding(m, 0));
      cos = query_bias_epe_key_cosines(m, std::min(w.T, A::context));  // positions 0 .. metric T - 1
      j.massive_coordinates = massive;
    }
    auto on = [&](layer_range r, std::map<std::string, double>& o) {
      const double ps[] = {50};
      const auto pooled = dist.pooled_percentiles(r, ps);
      double other = -1e300;
      for (std::size_t k = 1; k < pooled.size(); ++k) other = std::max(other, pooled[k][0]);
      o["shift_median_key0"] = pooled[0][0];
      o["shift_median_other_max"] = other;
      if constexpr (has_effective_positional_embedding<A>) {
        const auto g = mean_gamma(m, massive, r);
        o["gamma_massive"] = g.massive;
        o["gamma_other"] = g.other;
        double c0 = 0, cr = 0;
        std::size_t n0 = 0, nr = 0;
        for (std::size_t l = r.first; l < r.last; ++l)
          for (std::size_t h = 0; h < A::heads; ++h)
            for (std::size_t p = 0; p < cos[l][h].size(); ++p) (p == 0 ? (c0 += cos[l][h][p], ++n0) : (cr += cos[l][h][p], ++nr));
        o["cos_bq_key_epe0"] = n0 ? c0 / double(n0) : 0.0;
        o["cos_bq_key_epe_other"] = nr ? cr / double(nr) : 0.0;
      }
    };
    on(layer_range::mid(A::layers), j.mid);
    j.peak_layer = peak;
    on(layer_range{peak, peak + 1}, j.peak);
  }
  return j;
}

/// The interventions the study runs: a (baseline), b, c, d, i and the controls e, f, j.
inline bool study_intervention(const std::string& id) {
  return id == "a" || id == "b" || id == "c" || id == "d" || id == "e" || id == "f" || id == "i" || id == "j";
}

/// Where a run lives: OUT/runs/<variant>/<regime>/seed<k>/.
inline fs::path run_dir(const fs::path& out, const std::string& variant, regime r, std::uint64_t seed) {
  return out / "runs" / variant / regime_name(r) / ("seed" + std::to_string(seed));
}

/// The training options of a run of A under a budget.
template <architecture_type A>
train::train_options run_options(const budget& b, regime r, std::uint64_t seed) {
  train::train_options o;
  o.steps = b.steps;
  o.batch = b.batch;
  o.context = std::min(b.context, A::context);
  o.lr = b.lr;
  o.warmup = b.warmup;
  o.weight_decay = b.weight_decay;
  o.seed = seed;
  o.eval_batches = 1;
  o.bos = regime_bos(r);
  return o;
}

/// The identity of a run: its architecture, training options, evaluation settings and training corpus (the
/// "config" block of its curve.json and result.json; a stored run is reused only when it matches).
struct run_config {
  std::string arch;
  train::train_options train;
  budget b;  ///< its evaluation settings (budget::eval_json) and train_corpus
};
template <architecture_type A>
run_config config_of(const budget& b, regime r, std::uint64_t seed) {
  return {A::name(), run_options<A>(b, r, seed), b};
}

/// What a run's curve.json holds besides its config.
struct stored_curve {
  std::vector<curve_point> curve;
  double train_seconds = 0;
  std::optional<std::uint64_t> steps;
  std::uint64_t diverged_at = 0;
};

// The run's files (impl/run.ipp). read_result_file: the result if `p` exists, is readable and belongs to `c`.
// read_curve_file: nullopt when the file belongs to another configuration; throws when it cannot be read.
SINKCORE_DECL std::optional<run_result> read_result_file(const fs::path& p, const run_config& c);
SINKCORE_DECL void write_result_file(const fs::path& p, const run_config& c, const run_result& r);
SINKCORE_DECL std::optional<stored_curve> read_curve_file(const fs::path& p, const run_config& c);
SINKCORE_DECL void write_curve_file(const fs::path& p, const run_config& c, const stored_curve& s);

/// A finished run's stored result, if it matches the budget (then the run is neither trained nor evaluated).
template <architecture_type A>
std::optional<run_result> finished_run(const fs::path& dir, const budget& b, regime r, std::uint64_t seed) {
  return read_result_file(dir / "result.json", config_of<A>(b, r, seed));
}

namespace detail {
inline std::uint64_t eval_step(std::size_t k, std::size_t points, std::size_t steps) {
  return std::uint64_t((k * steps + points / 2) / points);
}
}  // namespace detail

/// A run's identity and lengths, before anything is measured: variant, regime, seed, shape, the context it
/// trains at, the metric's T and Sink's T (clamped to that context) and their chance levels.
template <architecture_type A>
run_result run_identity(const budget& b, regime r, std::uint64_t seed) {
  run_result res;
  res.variant = A::name();
  res.regime = regime_name(r);
  res.seed = seed;
  res.layers = A::layers;
  res.heads = A::heads;
  res.context = std::min(b.context, A::context);
  res.metric_length = std::min(b.metric_length, res.context);
  res.sink_length = std::min(b.sink_length, res.context);
  res.chance = bos_attention_chance(res.metric_length);
  res.chance_ctx = bos_attention_chance(res.context);
  return res;
}

/// A run being trained: the trainer and the measurements made along the way (the emergence curve).
template <architecture_type A>
struct trained_run {
  train::trainer<A> trainer;
  run_result result;  ///< identity, chance levels, curve, steps, tokens, train_seconds, diverged_at
};

/// The emergence curve's windows: the paper's T and the training context, on the training corpus's
/// held-out split (the same for every variant and seed of a regime).
struct curve_windows {
  window_set metric_T, context;
};
inline curve_windows make_curve_windows(const study_data& data, const budget& b, regime r, std::size_t T, std::size_t metric_T) {
  const auto& held = data.train.held_out;
  return {make_windows(held, b.curve_windows, metric_T, r, 0xc0ffee), make_windows(held, b.curve_windows, T, r, 0xc0ffef)};
}

/// One point of the emergence curve of the model `t` holds.
template <architecture_type A>
curve_point measure_curve_point(train::trainer<A>& t, workspace<A>& ws, const curve_windows& w) {
  const auto at_metric_T = measure_windows(t.net(), ws, w.metric_T);
  const auto at_context = measure_windows(t.net(), ws, w.context);
  return {t.step_count(), t.step_count() * t.tokens_per_step(), stats::mean(at_metric_T.bos_mid),
          stats::mean(at_metric_T.bos_all), stats::mean(at_context.bos_mid), at_context.loss,
          peak_of(at_metric_T.by_layer()).value};
}

/// Trains (or resumes from DIR's checkpoint and curve) one run to the budget's steps, measuring the
/// emergence curve at the budget's evaluation points and checkpointing as it goes (checkpoint.safetensors,
/// curve.json in `dir`). A diverging step ends training; the last good weights are kept and measured.
template <architecture_type A>
trained_run<A> train_run(const study_data& data, const budget& b, regime r, std::uint64_t seed, const fs::path& dir,
                         study_progress* progress = nullptr, std::ostream* log = nullptr, std::mutex* log_mutex = nullptr) {
  fs::create_directories(dir);
  auto say = [&](const std::string& s) {
    if (!log) return;
    std::unique_lock<std::mutex> lock;
    if (log_mutex) lock = std::unique_lock<std::mutex>(*log_mutex);
    *log << s << std::endl;
  };
  const auto opt = run_options<A>(b, r, seed);
  const run_config config = config_of<A>(b, r, seed);
  const std::size_t T = opt.context, metric_T = std::min(b.metric_length, T);
  const fs::path ckpt = dir / "checkpoint.safetensors", curve_path = dir / "curve.json";

  trained_run<A> run{train::trainer<A>(data.train, opt), run_identity<A>(b, r, seed)};
  auto& t = run.trainer;
  run_result& res = run.result;

  // Resume when the checkpoint and the curve so far belong to this very run.
  if (fs::exists(ckpt) && fs::exists(curve_path)) {
    try {
      const auto file = io::safetensors_file::open(ckpt);
      const auto it = file.metadata().find("sinkcore.train_options");
      const auto stored = read_curve_file(curve_path, config);
      if (it != file.metadata().end() && opt.same_as_json_text(it->second) && stored) {
        t.resume(ckpt);
        for (const auto& p : stored->curve)
          if (p.step <= t.step_count()) res.curve.push_back(p);
        res.train_seconds = stored->train_seconds;
        say("resuming " + A::name() + " " + regime_name(r) + " seed " + std::to_string(seed) + " from step " +
            std::to_string(t.step_count()));
      } else {
        say("ignoring " + ckpt.string() + ": another configuration; training from scratch");
      }
    } catch (const std::exception& e) {
      say("ignoring " + ckpt.string() + " (" + e.what() + "); training from scratch");
      t = train::trainer<A>(data.train, opt);
      res.curve.clear();
    }
  }

  const curve_windows windows = make_curve_windows(data, b, r, T, metric_T);
  workspace<A> ws;
  auto save_curve = [&] {
    write_curve_file(curve_path, config, {res.curve, res.train_seconds, t.step_count(), res.diverged_at});
  };
  if (res.curve.empty() || res.curve.front().step != 0) {
    res.curve.clear();
    if (t.step_count() == 0) res.curve.push_back(measure_curve_point(t, ws, windows));
  }

  // Evaluation points k = 1..eval_points at round(k * steps / eval_points).
  std::size_t k = 1;
  while (k <= b.eval_points && detail::eval_step(k, b.eval_points, b.steps) <= t.step_count()) ++k;
  const auto t0 = std::chrono::steady_clock::now();
  const double seconds_before = res.train_seconds;
  const std::uint64_t first = t.step_count();
  if (progress) progress->step({A::name(), regime_name(r), seed, t.step_count(), b.steps, 0, 0, 0, 0, 0, 0, true});
  while (t.step_count() < b.steps) {
    try {
      t.step();
    } catch (const train::divergence& e) {
      res.diverged_at = t.step_count() + 1;
      say(A::name() + " " + regime_name(r) + " seed " + std::to_string(seed) + ": " + e.what() +
          "; measuring the last good weights");
      if (progress) progress->drop(b.steps - t.step_count());
      break;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (progress)
      progress->step({A::name(), regime_name(r), seed, t.step_count(), b.steps,
                      double((t.step_count() - first) * t.tokens_per_step()) / std::max(secs, 1e-9)});
    if (k <= b.eval_points && t.step_count() == detail::eval_step(k, b.eval_points, b.steps)) {
      res.curve.push_back(measure_curve_point(t, ws, windows));
      res.train_seconds = seconds_before + secs;
      if (k % b.checkpoint_every == 0 || k == b.eval_points) {
        t.save(ckpt, {{"sinkcore.corpus", data.train.name}});
        save_curve();
      }
      ++k;
    }
  }
  res.train_seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (res.diverged_at) {
    res.curve.push_back(measure_curve_point(t, ws, windows));
    t.save(ckpt, {{"sinkcore.corpus", data.train.name}});
    save_curve();
  }
  res.steps = t.step_count();
  res.tokens = t.step_count() * t.tokens_per_step();
  return run;
}

/// The final measurements of a trained model into `res` (whose identity and lengths train_run set): per
/// corpus the loss and the paper's metric, on the training corpus every attention measure, then the
/// interventions and the circuit statistics.
template <architecture_type A>
void measure_run(const model<A>& m, const study_data& data, const budget& b, regime r, std::uint64_t seed, run_result& res) {
  const std::size_t T = res.context, metric_T = res.metric_length, sink_T = res.sink_length;
  workspace<A> ws;
  std::vector<const train::corpus*> corpora{&data.train};
  for (const auto& d : data.domains)
    if (d.name != data.train.name) corpora.push_back(&d);
  for (const train::corpus* c : corpora) {
    const auto w_metric = make_windows(c->held_out, b.eval_windows, metric_T, r, 0x5eed40);
    const auto w_context = make_windows(c->held_out, b.eval_windows, T, r, 0x5eedc7);
    const auto at_metric_T = measure_windows(m, ws, w_metric), at_context = measure_windows(m, ws, w_context);
    res.loss[c->name] = at_context.loss;
    res.bos_by_corpus[c->name] = stats::mean(at_metric_T.bos_mid);
    if (c != &data.train) continue;
    res.bos_metric = stats::mean(at_metric_T.bos_mid);
    res.bos_metric_all = stats::mean(at_metric_T.bos_all);
    res.bos_metric_ctx = stats::mean(at_context.bos_mid);
    auto mean_of = [&](double attention_destinations::*f) {
      double s = 0;
      for (const auto& w : at_metric_T.where) s += w.*f;
      return at_metric_T.where.empty() ? std::nan("") : s / double(at_metric_T.where.size());
    };
    res.mass_rest = mean_of(&attention_destinations::rest);
    res.mass_slot = mean_of(&attention_destinations::slot);
    res.mass_null = mean_of(&attention_destinations::null);
    res.entropy = mean_of(&attention_destinations::entropy);
    res.by_head = at_metric_T.by_head;
    res.by_layer = at_metric_T.by_layer();
    const auto top = peak_of(res.by_layer);
    res.peak_layer = top.layer;
    res.peak_layer_metric = top.value;
    res.primary = top.value;
    res.sink_heads = std::size_t(std::count_if(res.by_head.begin(), res.by_head.end(), [](double x) { return x > 0.3; }));
    // The primary measure's chance level: the same statistic of the untrained model on the same windows.
    const model<A> untrained(seed);
    res.primary_chance = peak_of(measure_windows(untrained, ws, w_metric).by_layer()).value;
    const auto w_sink = make_windows(c->held_out, b.eval_windows, sink_T, r, 0x5eed64);
    const auto at_sink_T = measure_windows(m, ws, w_sink);
    res.sink = stats::mean(at_sink_T.sink);
    res.by_head_sink = at_sink_T.alpha;
  }
  const auto wiv = make_windows(data.train.held_out, b.intervention_windows, metric_T, r, 0x1a7e);
  std::vector<std::vector<int>> inputs(wiv.n);
  for (std::size_t i = 0; i < wiv.n; ++i)
    inputs[i].assign(wiv.inputs.begin() + std::ptrdiff_t(i * metric_T), wiv.inputs.begin() + std::ptrdiff_t((i + 1) * metric_T));
  const layer_range mid = layer_range::mid(A::layers), peak{res.peak_layer, res.peak_layer + 1};
  auto ivs = paper_interventions(seed);
  std::apply([&](auto&... iv) {
    ((study_intervention(iv.id) ? [&] {
       const auto oc = evaluate_intervention(m, iv, inputs, 16);
       intervention_result ir{oc.id, oc.name, oc.status.applies, oc.status.reason};
       if (oc.status.applies) {
         ir.bos_metric = stats::mean(oc.bos(mid));
         ir.peak_layer_metric = stats::mean(oc.bos(peak));
         ir.sink = stats::mean(oc.sink_rate);
         ir.cross_entropy = stats::mean(oc.cross_entropy);
       }
       res.interventions.push_back(ir);
     }() : void()), ...);
  }, ivs);
  res.circuit = circuit_statistics(m, wiv, res.peak_layer);
}

/// A trained run whose measurement was lost (result.json deleted, or written by an older sinkcore): its
/// weights (model.safetensors) and curve.json, when both belong to this very run; measure_run then
/// measures it again without training.
template <architecture_type A>
std::optional<std::pair<model<A>, run_result>> trained_weights(const fs::path& dir, const budget& b, regime r, std::uint64_t seed) {
  const fs::path weights = dir / "model.safetensors", curve_path = dir / "curve.json";
  if (!fs::exists(weights) || !fs::exists(curve_path)) return std::nullopt;
  try {
    const auto stored = read_curve_file(curve_path, config_of<A>(b, r, seed));
    const auto file = io::safetensors_file::open(weights);
    const auto it = file.metadata().find("sinkcore.train_options");
    if (!stored || !stored->steps || it == file.metadata().end() || !run_options<A>(b, r, seed).same_as_json_text(it->second))
      return std::nullopt;
    run_result res = run_identity<A>(b, r, seed);
    res.curve = stored->curve;
    res.train_seconds = stored->train_seconds;
    res.steps = *stored->steps;
    res.diverged_at = stored->diverged_at;
    res.tokens = res.steps * b.batch * res.context;
    return std::pair<model<A>, run_result>{io::load_weights<A>(weights), std::move(res)};
  } catch (const std::exception&) {
    return std::nullopt;  // from another version or damaged: train again
  }
}

/// Trains (or resumes) and measures one run in `dir`. While it trains, checkpoint.safetensors (weights and
/// AdamW state) and curve.json; once measured, model.safetensors (the weights alone, loadable by every
/// sinklab command), curve.json and result.json, and the checkpoint is deleted (a finished tiny run keeps
/// ~1/3 of its checkpoint's bytes). A run whose result.json matches the budget is neither trained nor
/// measured again.
template <architecture_type A>
run_result run_one(const study_data& data, const budget& b, regime r, std::uint64_t seed, const fs::path& dir,
                   study_progress* progress = nullptr, std::ostream* log = nullptr, std::mutex* log_mutex = nullptr) {
  if (auto done = finished_run<A>(dir, b, r, seed)) return *done;
  if (auto trained = trained_weights<A>(dir, b, r, seed)) {
    auto& [m, res] = *trained;
    measure_run(m, data, b, r, seed, res);
    write_result_file(dir / "result.json", config_of<A>(b, r, seed), res);
    if (progress) progress->step({A::name(), regime_name(r), seed, res.steps, b.steps}, true);
    return res;
  }
  auto run = train_run<A>(data, b, r, seed, dir, progress, log, log_mutex);
  measure_run(run.trainer.net(), data, b, r, seed, run.result);
  io::save_weights(dir / "model.safetensors", run.trainer.net(),
                   {{"sinkcore.corpus", data.train.name}, {"sinkcore.train_options", run.trainer.options().to_json_text()}});
  write_result_file(dir / "result.json", config_of<A>(b, r, seed), run.result);
  std::error_code ignored;
  fs::remove(dir / "checkpoint.safetensors", ignored);  // the AdamW state: only a resume needs it
  if (progress) progress->step({A::name(), regime_name(r), seed, run.trainer.step_count(), b.steps}, true);
  return run.result;
}

}  // namespace sinkcore::study

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/run.ipp"
#endif
