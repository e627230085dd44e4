#pragma once
/// @file trainer.hpp
/// Training a model of architecture A from scratch on a corpus: random windows (GPT-2 regime) or windows
/// that start with a fixed BOS token, AdamW with warmup + cosine decay, gradient clipping, held-out
/// evaluation, and checkpoints from which a resumed run is bit-identical to an uninterrupted one.
///
///   train::trainer<gpt2_tiny> t(train::load_corpus("nl"), {.steps = 2000});   // owns the corpus it was given
///   while (t.step_count() < t.options().steps) t.step();
///   t.save("run/checkpoint.safetensors");
///
/// Data parallel (docs/scaling.md): after `t.distribute(parallel::communicator::world())` every rank
/// draws the same global batch from the same seeded sampler, runs forward/backward on its contiguous slice
/// of the windows, scales its gradient by (its targets / the batch's targets) and all-reduces it in place
/// in buckets; every rank then applies the same clipping and AdamW step to its identical copy of the model.
/// Losses (training and held-out) are global means. One process is the special case of one rank.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/checkpoint.hpp"
#include "../model/backward.hpp"
#include "../parallel/mpi.hpp"
#include "../profile.hpp"
#include "data.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"

namespace sinkcore::train {

struct train_options {
  std::size_t steps = 2000;          ///< optimizer steps in the whole run
  std::size_t batch = 16;            ///< windows per step
  std::size_t context = 128;         ///< tokens per window (<= the architecture's context)
  float lr = 3e-3f;                  ///< peak learning rate
  float min_lr_fraction = 0.1f;      ///< cosine floor, as a fraction of lr
  std::size_t warmup = 100;          ///< linear warmup steps
  float weight_decay = 0.1f;         ///< AdamW decoupled decay on matrices
  float beta1 = 0.9f, beta2 = 0.95f;
  float grad_clip = 1.0f;            ///< global L2 norm; 0 disables
  std::uint64_t seed = 1;            ///< initialisation and data order
  std::size_t eval_batches = 8;      ///< held-out batches per evaluation (the same windows every time)
  std::optional<token> bos;          ///< the BOS regime: every window starts with this token

  /// As JSON (the `sinkcore.train_options` metadata of checkpoints, a study run's config) and back.
  SINKCORE_DECL nlohmann::json to_json() const;
  static SINKCORE_DECL train_options from_json(const nlohmann::json& j);
  /// to_json() as compact text; its inverse, which throws sinkcore::error with the JSON library's message.
  SINKCORE_DECL std::string to_json_text() const;
  static SINKCORE_DECL train_options from_json_text(const std::string& text);
  /// Whether `text` is the JSON of exactly these options.
  SINKCORE_DECL bool same_as_json_text(const std::string& text) const;
};

namespace detail {
/// What distribute() copies from rank 0: the options, the step and the sampler's position, as one text.
struct train_state {
  train_options options;
  std::uint64_t step = 0;
  std::string sampler;
  SINKCORE_DECL std::string to_text() const;
  static SINKCORE_DECL train_state from_text(const std::string& text);
};
}  // namespace detail

/// Thrown when the loss or the gradient norm is not finite; the model is left as it was before the step.
struct divergence : error {
  using error::error;
};

/// The optimizer's view of a layout: every tensor a range, decayed if it is a trainable matrix
/// (param_spec::decay), frozen tensors untouched.
template <architecture_type A>
std::vector<param_range> optimizer_ranges() {
  std::vector<param_range> r;
  for (const auto& s : layout<A>::specs) r.push_back({s.offset, s.size(), s.trainable, s.decay});
  return r;
}

template <architecture_type A>
class trainer {
 public:
  /// A fresh run: GPT-2 initialisation from options.seed. The trainer reads `data` on every step: it
  /// must outlive the trainer (the study shares one corpus between many trainers this way).
  trainer(const corpus& data, train_options options)
      : trainer(std::shared_ptr<const corpus>(&data, [](const corpus*) {}), options) {}
  /// The same, owning the corpus: `trainer<A> t(load_corpus("nl"), o)` keeps what load_corpus returned.
  trainer(corpus&& data, train_options options)
      : trainer(std::make_shared<const corpus>(std::move(data)), options) {}
  /// Sharing ownership of the corpus with the caller.
  trainer(std::shared_ptr<const corpus> shared, train_options options)
      : data_(std::move(shared)),
        opt_(options),
        model_(options.seed),
        adam_(layout<A>::size, optimizer_ranges<A>(),
              adamw_options{options.beta1, options.beta2, 1e-8f, options.weight_decay}),
        sampler_(data_->train, sampler_options{options.batch, options.context, options.seed, options.bos}),
        grads_(make_gradients<A>()) {
    const corpus& data = *data_;
    if (options.context < 2 || options.context > A::context)
      throw error("context " + std::to_string(options.context) + " is outside [2, " + std::to_string(A::context) +
                  "] for " + A::name());
    if (data.vocab_size > A::vocab)
      throw error("corpus '" + data.name + "' has vocabulary " + std::to_string(data.vocab_size) + " but " + A::name() +
                  " only " + std::to_string(A::vocab));
    if (options.batch == 0 || options.steps == 0) throw error("batch and steps must be >= 1");
    if (data.held_out.size() <= options.context) throw error("corpus '" + data.name + "' has too little held-out text");
  }

  /// One optimizer step; returns the training loss of the batch (before the update).
  /// @throws divergence if the loss or the gradient norm is not finite (nothing is updated then).
  double step() {
    batch_sampler probe = sampler_;  // draw from a copy: a diverging step leaves the data position as it was
    std::optional<profile::zone> data_zone(std::in_place, profile::part::data);
    probe.next(batch_);
    double loss = 0;
    if (!comm_.distributed()) {
      to_int(batch_.inputs, inputs_);
      to_int(batch_.targets, targets_);
      data_zone.reset();
      forward(model_, ws_, inputs_, opt_.batch, opt_.context);
      loss = backward(model_, ws_, targets_, grads_);
    } else {
      // This rank's windows of the global batch; its mean loss and gradient weighted by its share of the
      // batch's targets, so that the all-reduced sums are the global-batch means.
      const auto [lo, hi] = slice();
      const std::size_t T = opt_.context;
      const double share = take_slice(lo, hi);
      data_zone.reset();
      forward(model_, ws_, inputs_, hi - lo, T);
      double part = backward(model_, ws_, targets_, grads_) * share;
      if (share != 1.0) {
        const float w = float(share);
        for (float& g : grads_) g *= w;
      }
      comm_.allreduce_sum(grads_.data(), grads_.size(), bucket_bytes_);
      comm_.allreduce_sum(&part, 1);
      loss = part;
    }
    std::optional<profile::zone> adamw_zone(std::in_place, profile::part::adamw);
    const double norm = opt_.grad_clip > 0 ? adam_.clip_grad_norm(grads_.data(), opt_.grad_clip)
                                           : adam_.grad_norm(grads_.data());
    if (!std::isfinite(loss) || !std::isfinite(norm))
      throw divergence("training diverged at step " + std::to_string(step_count() + 1) + ": loss " +
                       std::to_string(loss) + ", gradient norm " + std::to_string(norm));
    adam_.step(model_.data(), grads_.data(), learning_rate(step_count()));
    adamw_zone.reset();
    sampler_ = probe;
    last_grad_norm_ = norm;
    return loss;
  }

  /// Makes this trainer one rank of a data-parallel group (collective: every rank of `c` calls it). Rank 0's
  /// state (weights, AdamW moments, step, sampler position, options: e.g. after resume() on rank 0 alone) is
  /// copied to every rank, and every rank must hold the same corpus (checked by fingerprint).
  /// @throws parallel::collective_error on every rank when the batch has fewer windows than ranks or the
  /// corpora differ.
  void distribute(const parallel::communicator& c, std::size_t bucket_bytes = parallel::default_bucket_bytes) {
    comm_ = c;
    bucket_bytes_ = bucket_bytes;
    if (!c.distributed()) return;
    std::string state;
    if (c.root()) state = detail::train_state{opt_, step_count(), sampler_.state().to_string()}.to_text();
    c.broadcast(state);
    const auto st = detail::train_state::from_text(state);
    opt_ = st.options;
    batch_sampler s(data_->train, sampler_options{opt_.batch, opt_.context, opt_.seed, opt_.bos});
    s.set_state(sampler_state::from_string(st.sampler));
    sampler_ = s;
    adam_.set_step_count(st.step);
    c.broadcast(model_.data(), layout<A>::size);
    c.broadcast(adam_.m().data(), adam_.m().size());
    c.broadcast(adam_.v().data(), adam_.v().size());
    parallel::require_same(c, parallel::fingerprint(data_->train.data(), data_->train.size() * sizeof(token),
                                                    parallel::fingerprint(data_->held_out.data(), data_->held_out.size() * sizeof(token))),
                           "the corpus '" + data_->name + "'");
    if (opt_.batch < std::size_t(c.size()))
      throw parallel::collective_error("data-parallel training on " + std::to_string(c.size()) + " ranks needs --batch >= " +
                                       std::to_string(c.size()) + " (one window per rank at least), got " +
                                       std::to_string(opt_.batch));
  }
  const parallel::communicator& communicator() const noexcept { return comm_; }

  /// Mean next-token cross-entropy on `eval_batches` windows of `tokens` (by default the held-out split);
  /// the same windows every call (a fixed seed), in the run's regime.
  double evaluate(std::span<const token> tokens) {
    batch_sampler s(tokens, sampler_options{opt_.batch, opt_.context, 0x5eedULL, opt_.bos});
    double total = 0;
    for (std::size_t i = 0; i < opt_.eval_batches; ++i) {
      s.next(batch_);
      if (!comm_.distributed()) {
        to_int(batch_.inputs, inputs_);
        to_int(batch_.targets, targets_);
        forward(model_, ws_, inputs_, opt_.batch, opt_.context);
        total += cross_entropy(ws_, targets_);
      } else {  // collective: this rank's slice, weighted by its share of the targets, summed over ranks
        const auto [lo, hi] = slice();
        const double share = take_slice(lo, hi);
        forward(model_, ws_, inputs_, hi - lo, opt_.context);
        total += cross_entropy(ws_, targets_) * share;
      }
    }
    comm_.allreduce_sum(&total, 1);
    return total / double(opt_.eval_batches);
  }
  double evaluate() { return evaluate(data_->held_out); }

  float learning_rate(std::uint64_t step) const {
    return cosine_schedule{opt_.lr, opt_.warmup, opt_.steps, opt_.min_lr_fraction}(step);
  }

  /// Everything a bit-identical resume needs, in one safetensors file written atomically: weights (under
  /// Hugging Face names), AdamW's m and v, and in the metadata the step, the sampler's state and the options.
  void save(const std::filesystem::path& path, std::map<std::string, std::string> metadata = {}) const {
    metadata["sinkcore.step"] = std::to_string(step_count());
    metadata["sinkcore.sampler"] = sampler_.state().to_string();
    metadata["sinkcore.train_options"] = opt_.to_json_text();
    metadata["sinkcore.corpus"] = data_->name;
    const std::vector<std::size_t> shape{layout<A>::size};
    io::save_tensors<A>(path, model_.data(), metadata,
                        {{"optimizer.m", shape, adam_.m().data()}, {"optimizer.v", shape, adam_.v().data()}});
  }

  /// Resume from a checkpoint written by save(); the options stored there replace the current ones
  /// except `steps` (so a run can be extended).
  void resume(const std::filesystem::path& path) {
    const auto file = io::safetensors_file::open(path);
    const auto& md = file.metadata();
    auto get = [&](const char* key) -> const std::string& {
      auto it = md.find(key);
      if (it == md.end()) throw error(path.string() + ": not a training checkpoint (no '" + std::string(key) + "' metadata)");
      return it->second;
    };
    if (get(io::arch_metadata_key) != A::name())
      throw error(path.string() + ": checkpoint of " + get(io::arch_metadata_key) + ", not " + A::name());
    for (const char* t : {"optimizer.m", "optimizer.v"})
      if (!file.contains(t) || file.info(t).numel() != layout<A>::size)
        throw error(path.string() + ": missing or misshapen tensor '" + std::string(t) + "'");
    train_options o;
    try {
      o = train_options::from_json_text(get("sinkcore.train_options"));
    } catch (const error& e) {
      throw error(path.string() + ": bad 'sinkcore.train_options' metadata: " + e.what());
    }
    o.steps = opt_.steps;
    if (o.context < 2 || o.context > A::context || o.batch == 0)
      throw error(path.string() + ": bad 'sinkcore.train_options' metadata: batch " + std::to_string(o.batch) +
                  ", context " + std::to_string(o.context) + " (context must be in [2, " + std::to_string(A::context) + "])");
    // Validate the scalar metadata before touching the model, and name the file in every message.
    std::uint64_t step = 0;
    {
      const std::string& text = get("sinkcore.step");
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), step);
      if (ec != std::errc{} || end != text.data() + text.size())
        throw error(path.string() + ": bad 'sinkcore.step' metadata '" + text + "' (not a step count)");
    }
    sampler_state sampler_at;
    try {
      sampler_at = sampler_state::from_string(get("sinkcore.sampler"));
    } catch (const error& e) {
      throw error(path.string() + ": bad 'sinkcore.sampler' metadata: " + e.what());
    }
    batch_sampler sampler(data_->train, sampler_options{o.batch, o.context, o.seed, o.bos});
    sampler.set_state(sampler_at);
    io::load_tensors<A>(file, model_.data());
    file.read_float_into("optimizer.m", adam_.m());
    file.read_float_into("optimizer.v", adam_.v());
    adam_.set_step_count(step);
    opt_ = o;
    sampler_ = sampler;
  }

  std::uint64_t step_count() const { return adam_.step_count(); }
  double last_grad_norm() const { return last_grad_norm_; }
  const train_options& options() const { return opt_; }
  model<A>& net() { return model_; }
  const model<A>& net() const { return model_; }
  workspace<A>& activations() { return ws_; }
  std::size_t tokens_per_step() const { return opt_.batch * opt_.context; }

 private:
  static void to_int(const std::vector<token>& in, std::vector<int>& out) {
    out.resize(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) out[i] = int(in[i]);
  }
  /// This rank's windows [lo, hi) of a batch: contiguous, sizes differing by at most one.
  std::pair<std::size_t, std::size_t> slice() const {
    const std::size_t B = opt_.batch, P = std::size_t(comm_.size()), r = std::size_t(comm_.rank());
    return {B * r / P, B * (r + 1) / P};
  }
  /// Copies windows [lo, hi) of batch_ into inputs_/targets_; returns their share of the batch's targets.
  double take_slice(std::size_t lo, std::size_t hi) {
    const std::size_t T = opt_.context;
    inputs_.resize((hi - lo) * T);
    targets_.resize((hi - lo) * T);
    std::size_t mine = 0, all = 0;
    for (std::size_t i = 0; i < batch_.targets.size(); ++i) {
      const int t = int(batch_.targets[i]);
      const bool in = i >= lo * T && i < hi * T;
      all += t >= 0;
      if (in) {
        inputs_[i - lo * T] = int(batch_.inputs[i]);
        targets_[i - lo * T] = t;
        mine += t >= 0;
      }
    }
    return all ? double(mine) / double(all) : 0.0;
  }

  std::shared_ptr<const corpus> data_;  // declared first: the sampler below holds a span into it
  train_options opt_;
  model<A> model_;
  adamw<> adam_;
  batch_sampler sampler_;
  gradients<A> grads_;
  workspace<A> ws_;
  batch batch_;
  std::vector<int> inputs_, targets_;
  double last_grad_norm_ = 0;
  parallel::communicator comm_ = parallel::communicator::self();
  std::size_t bucket_bytes_ = parallel::default_bucket_bytes;
};

}  // namespace sinkcore::train

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "../impl/trainer.ipp"
#endif
