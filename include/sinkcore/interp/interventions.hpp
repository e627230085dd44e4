#pragma once
/// @file interventions.hpp
/// The ten interventions of Ran-Milo et al. 2026 (Table 1), their parametric relatives, composition and
/// activation patching, as small objects. An intervention has
///
///   std::string id, name;                                  // "b", "no query bias"
///   static constexpr bool changes_weights;                 // true: runs on a transformed copy of the model
///   template <architecture_type A> applicability check() const;   // applies to A? else a reason
///   template <architecture_type A> void prepare(const model<A>&);  // read what it needs (EPE, p_1, ...)
///   template <architecture_type A> void transform(model<A>&) const; // the weight change (on a copy)
///   template <hook_point P> void on(const activation&);    // optional: forward-pass hooks (hooks.hpp)
///
/// | id | object                                    | operation                                              |
/// |----|-------------------------------------------|--------------------------------------------------------|
/// | a  | baseline                                  | nothing                                                |
/// | b  | scale_query_bias{0}                       | weights: b_Q *= alpha in every layer (b: alpha = 0)    |
/// | c  | replace_position{0, 1}                    | hook pos_embed: position 0 gets p_1                    |
/// | d  | swap_first_positions{direction::epe}      | hook blocks.0.hook_mlp_out: swap along EPE_0 / EPE_1   |
/// | e  | swap_first_positions{direction::pe}       | the same along the raw p_0 / p_1 (control)             |
/// | f  | nullify_first_token                       | hook embed: wte row of position 0 set to 0             |
/// | g  | skip_mlp                                  | hook mlp_out: zero in every layer                      |
/// | h  | no_positional_embedding                   | hook pos_embed: zero everywhere                        |
/// | i  | zero_key_inputs::top_epe0(3)              | weights: zero 3 input rows of W_K, largest abs(EPE_0)  |
/// | j  | zero_key_inputs::random(3, seed)          | weights: zero 3 seeded random input rows of W_K        |
///
/// **W_K's "input columns".** The paper writes W_K as (out, in) (PyTorch's nn.Linear), so an input
/// coordinate d of the residual stream is a *column* there. sinkcore stores every projection as
/// Hugging Face's Conv1D does, (in, out) with k = x W_K + b_K: input coordinate d is *row* d of our
/// W_K (d_model contiguous floats at offset d * d_model). zero_key_inputs zeroes rows. For low-rank keys
/// (k = x A B + b_K) the input coordinate is row d of A, which it zeroes instead: the same operation.
///
/// Run one with intervened_model (a transformed copy when needed, plus the hooks) or evaluate_intervention
/// (BOS attention per input and layer, Sink^eps and next-token cross-entropy):
///
///   intervened_model run(m, swap_first_positions{swap_first_positions::direction::epe});
///   run.forward(ws, tokens, B, T);
///   auto both = combine(scale_query_bias{0.0}, replace_position{0, 1});    // b with c
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../model/forward.hpp"
#include "../model/hooks.hpp"
#include "../model/model.hpp"
#include "../model/workspace.hpp"
#include "epe.hpp"
#include "metrics.hpp"

namespace sinkcore {

/// Whether an intervention applies to an architecture; if not, a machine-readable code and a sentence.
/// Codes: needs-query-bias, needs-learned-positions, needs-first-mlp, needs-key-input-matrix, needs-mlp,
/// no-such-hook-point.
struct applicability {
  bool applies = true;
  std::string code, reason;
  static applicability yes() { return {}; }
  static applicability no(std::string code, std::string reason) { return {false, std::move(code), std::move(reason)}; }
};

namespace detail {
template <architecture_type A>
applicability need_query_bias() {
  if constexpr (A::query::has_bias) return applicability::yes();
  else return applicability::no("needs-query-bias", A::name() + " has no query bias b_Q");
}
template <architecture_type A>
applicability need_learned_positions() {
  if constexpr (A::positions::absolute) return applicability::yes();
  else return applicability::no("needs-learned-positions", A::name() + " has no learned positional embedding (wpe)");
}
template <architecture_type A>
applicability need_epe() {
  if constexpr (!A::positions::absolute) return need_learned_positions<A>();
  else if constexpr (!A::first_mlp::has_mlp0)
    return applicability::no("needs-first-mlp", A::name() + " has no layer-0 MLP, so no effective positional embedding");
  else return applicability::yes();
}

inline std::vector<double> to_double(std::span<const float> v) { return {v.begin(), v.end()}; }
}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// a. baseline

struct baseline {
  std::string id = "a", name = "baseline";
  static constexpr bool changes_weights = false;
  template <architecture_type A> applicability check() const { return applicability::yes(); }
  template <architecture_type A> void prepare(const model<A>&) {}
  template <architecture_type A> void transform(model<A>&) const {}
};

// ---------------------------------------------------------------------------------------------------
// b. b_Q = 0, and its relative b_Q *= alpha

/// b_Q *= alpha in every layer (or in `layers` when not empty); b_K and b_V kept. alpha = 0 is the
/// paper's intervention b.
struct scale_query_bias {
  double alpha = 0.0;
  std::vector<int> layers{};
  std::string id = "b", name = "no query bias";
  static constexpr bool changes_weights = true;

  scale_query_bias() = default;
  explicit scale_query_bias(double a, std::vector<int> only_layers = {}) : alpha(a), layers(std::move(only_layers)) {
    if (alpha != 0.0) {
      id = "b*" + std::to_string(alpha);
      name = "query bias x " + std::to_string(alpha);
    }
  }
  template <architecture_type A> applicability check() const { return detail::need_query_bias<A>(); }
  template <architecture_type A> void prepare(const model<A>&) {}
  template <architecture_type A>
    requires(A::query::has_bias)
  void transform(model<A>& m) const {
    for (int l = 0; l < int(A::layers); ++l) {
      if (!layers.empty() && std::find(layers.begin(), layers.end(), l) == layers.end()) continue;
      float* bq = A::query::template bias_of<layout<A>>(m.data(), l);
      for (std::size_t c = 0; c < A::d_model; ++c) bq[c] = float(double(bq[c]) * alpha);
    }
  }
  template <architecture_type A> void transform(model<A>&) const {}  // never called: check() refuses
};

// ---------------------------------------------------------------------------------------------------
// c. remove the first positional embedding

/// Position `target` gets the learned positional embedding of position `source` instead of its own
/// (hook on hook_pos_embed). The paper's c: target 0, source 1.
struct replace_position {
  std::size_t target = 0, source = 1;
  std::string id = "c", name = "remove first PE";
  std::vector<float> row{};
  static constexpr bool changes_weights = false;

  replace_position() = default;
  replace_position(std::size_t t, std::size_t s) : target(t), source(s) {
    if (t != 0 || s != 1) {
      id = "pos" + std::to_string(t) + "<-" + std::to_string(s);
      name = "position " + std::to_string(t) + " gets p_" + std::to_string(s);
    }
  }
  template <architecture_type A> applicability check() const {
    auto a = detail::need_learned_positions<A>();
    if (a.applies && (source >= A::context || target >= A::context))
      return applicability::no("position-outside-context", "position outside the context of " + A::name());
    return a;
  }
  template <architecture_type A> void prepare(const model<A>& m) {
    if constexpr (A::positions::absolute) {
      const float* p = A::positions::template embedding<layout<A>>(m.data(), source, A::d_model);
      row.assign(p, p + A::d_model);
    }
  }
  template <architecture_type A> void transform(model<A>&) const {}
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::pos_embed) {
      if (target >= a.length) return;
      if (row.size() != a.width) throw error("replace_position: prepare() was not called for this model");
      for (std::size_t b = 0; b < a.batch; ++b) std::copy(row.begin(), row.end(), a.row(b, target));
    }
  }
};

// ---------------------------------------------------------------------------------------------------
// d. swap EPE, e. swap PE (control)

/// On the layer-0 MLP output m (before it is added to the residual), per sequence:
///   alpha = m[0] . u0;  m[0] += alpha (u1 - u0);  m[1] += alpha (u0 - u1)
/// with u0, u1 the unit EPE_0, EPE_1 (d) or the unit raw p_0, p_1 (e). Rows 0 and 1 change, their sum
/// does not.
struct swap_first_positions {
  enum class direction { epe, pe };
  direction dir = direction::epe;
  std::string id = "d", name = "swap EPE";
  std::vector<double> u0{}, u1{};
  static constexpr bool changes_weights = false;

  swap_first_positions() = default;
  explicit swap_first_positions(direction d) : dir(d) {
    if (d == direction::pe) {
      id = "e";
      name = "swap PE (control)";
    }
  }
  template <architecture_type A> applicability check() const { return detail::need_epe<A>(); }
  template <architecture_type A> void prepare(const model<A>& m) {
    if constexpr (has_effective_positional_embedding<A>) {
      if (dir == direction::epe) {
        u0 = unit_vector(effective_positional_embedding(m, 0), "EPE_0");
        u1 = unit_vector(effective_positional_embedding(m, 1), "EPE_1");
      } else {
        u0 = unit_vector(positional_embedding(m, 0), "p_0");
        u1 = unit_vector(positional_embedding(m, 1), "p_1");
      }
    }
  }
  template <architecture_type A> void transform(model<A>&) const {}
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::mlp_out) {
      if (a.layer != 0 || a.length < 2) return;
      if (u0.size() != a.width) throw error("swap_first_positions: prepare() was not called for this model");
      for (std::size_t b = 0; b < a.batch; ++b) {
        float* m0 = a.row(b, 0);
        float* m1 = a.row(b, 1);
        double alpha = 0;
        for (std::size_t c = 0; c < a.width; ++c) alpha += double(m0[c]) * u0[c];
        for (std::size_t c = 0; c < a.width; ++c) {
          const double delta = alpha * (u1[c] - u0[c]);
          m0[c] = float(double(m0[c]) + delta);
          m1[c] = float(double(m1[c]) - delta);
        }
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------------
// f. nullify the first token

/// The token embedding at position 0 is set to 0 (hook on hook_embed); the positional embedding is
/// still added.
struct nullify_first_token {
  std::string id = "f", name = "nullify first token (control)";
  static constexpr bool changes_weights = false;
  template <architecture_type A> applicability check() const { return applicability::yes(); }
  template <architecture_type A> void prepare(const model<A>&) {}
  template <architecture_type A> void transform(model<A>&) const {}
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::embed)
      for (std::size_t b = 0; b < a.batch; ++b) std::fill_n(a.row(b, 0), a.width, 0.f);
  }
};

// ---------------------------------------------------------------------------------------------------
// g. no MLP

/// Skip the MLP in every layer (or in `layers` when not empty): its output is zeroed before it is added
/// to the residual stream.
struct skip_mlp {
  std::vector<int> layers{};
  std::string id = "g", name = "no MLP";
  static constexpr bool changes_weights = false;
  template <architecture_type A> applicability check() const {
    for (std::size_t l = 0; l < A::layers; ++l)
      if (A::has_mlp(l)) return applicability::yes();
    return applicability::no("needs-mlp", A::name() + " has no MLP");
  }
  template <architecture_type A> void prepare(const model<A>&) {}
  template <architecture_type A> void transform(model<A>&) const {}
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::mlp_out) {
      if (!layers.empty() && std::find(layers.begin(), layers.end(), a.layer) == layers.end()) return;
      std::fill_n(a.data, a.batch * a.length * a.width, 0.f);
    }
  }
};

// ---------------------------------------------------------------------------------------------------
// h. no PE

/// No positional embedding anywhere (hook_pos_embed zeroed).
struct no_positional_embedding {
  std::string id = "h", name = "no PE";
  static constexpr bool changes_weights = false;
  template <architecture_type A> applicability check() const { return detail::need_learned_positions<A>(); }
  template <architecture_type A> void prepare(const model<A>&) {}
  template <architecture_type A> void transform(model<A>&) const {}
  template <hook_point P>
  void on(const activation& a) {
    if constexpr (P == hook_point::pos_embed) std::fill_n(a.data, a.batch * a.length * a.width, 0.f);
  }
};

// ---------------------------------------------------------------------------------------------------
// i. zero the top-3 W_K inputs, j. zero 3 random W_K inputs (control)

/// Zero input coordinates of W_K (rows of our (in, out) W_K; rows of A for low-rank keys) in every layer
/// (or in `layers`). The coordinates are given explicitly, or chosen in prepare(): the `count` with the
/// largest abs(EPE_0) (i), or `count` distinct ones drawn uniformly from [0, d_model) with a seeded
/// generator (j; `exclude_top_epe0` also keeps the draw off the top-`count` EPE_0 coordinates).
struct zero_key_inputs {
  enum class selection { given, top_epe0, random };
  selection mode = selection::given;
  std::size_t count = 3;
  std::uint64_t seed = 0;
  bool exclude_top_epe0 = false;
  std::vector<std::size_t> coordinates{};
  std::vector<int> layers{};
  std::string id = "zero-wk", name = "zero W_K inputs";
  static constexpr bool changes_weights = true;

  static zero_key_inputs given(std::vector<std::size_t> coords) {
    zero_key_inputs z;
    z.coordinates = std::move(coords);
    return z;
  }
  static zero_key_inputs top_epe0(std::size_t k = 3) {
    zero_key_inputs z;
    z.mode = selection::top_epe0;
    z.count = k;
    z.id = "i";
    z.name = "zero top-" + std::to_string(k) + " W_K";
    return z;
  }
  static zero_key_inputs random(std::size_t k = 3, std::uint64_t seed = 0, bool exclude_top_epe0 = false) {
    zero_key_inputs z;
    z.mode = selection::random;
    z.count = k;
    z.seed = seed;
    z.exclude_top_epe0 = exclude_top_epe0;
    z.id = "j";
    z.name = "zero random W_K (control)";
    return z;
  }

  template <architecture_type A> applicability check() const {
    if constexpr (!A::keys::has_input_matrix)
      return applicability::no("needs-key-input-matrix", A::name() + " has no key input matrix W_K");
    else if (mode == selection::top_epe0 || (mode == selection::random && exclude_top_epe0))
      return detail::need_epe<A>();
    else if (mode == selection::random && count > A::d_model)
      return applicability::no("too-many-coordinates", "more coordinates than d_model");
    else
      return applicability::yes();
  }

  /// The `k` coordinates with the largest abs(v), largest first (ties: lower index first).
  static std::vector<std::size_t> top_abs(std::span<const double> v, std::size_t k) {
    std::vector<std::size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), std::size_t(0));
    k = std::min(k, v.size());
    std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(), [&](std::size_t a, std::size_t b) {
      return std::abs(v[a]) > std::abs(v[b]) || (std::abs(v[a]) == std::abs(v[b]) && a < b);
    });
    idx.resize(k);
    return idx;
  }

  template <architecture_type A> void prepare(const model<A>& m) {
    if (mode == selection::given) return;
    std::vector<std::size_t> excluded;
    if constexpr (has_effective_positional_embedding<A>) {
      if (mode == selection::top_epe0 || exclude_top_epe0) excluded = top_abs(effective_positional_embedding(m, 0), count);
    }
    if (mode == selection::top_epe0) {
      coordinates = excluded;
      return;
    }
    // Partial Fisher-Yates over the allowed coordinates, with the deterministic splitmix64 generator.
    std::vector<std::size_t> pool;
    for (std::size_t c = 0; c < A::d_model; ++c)
      if (std::find(excluded.begin(), excluded.end(), c) == excluded.end()) pool.push_back(c);
    if (count > pool.size()) throw error("zero_key_inputs: cannot draw " + std::to_string(count) + " coordinates");
    detail::init_rng rng{seed};
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t j = i + std::size_t(rng.next() % (pool.size() - i));
      std::swap(pool[i], pool[j]);
    }
    coordinates.assign(pool.begin(), pool.begin() + std::ptrdiff_t(count));
  }

  template <architecture_type A> void transform(model<A>& m) const {
    if constexpr (A::keys::has_input_matrix) {
      for (std::size_t c : coordinates)
        if (c >= A::d_model) throw error("zero_key_inputs: coordinate " + std::to_string(c) + " is outside d_model");
      for (int l = 0; l < int(A::layers); ++l) {
        if (!layers.empty() && std::find(layers.begin(), layers.end(), l) == layers.end()) continue;
        A::keys::template zero_inputs<layout<A>>(m.data(), l, coordinates);
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------------
// Activation capture and patching (any hook point)

namespace detail {
template <architecture_type A>
applicability hook_point_exists(hook_point p, int layer) {
  const bool model_wide = p == hook_point::embed || p == hook_point::pos_embed || p == hook_point::ln_final ||
                          p == hook_point::logits;
  if (model_wide != (layer < 0) || layer >= int(A::layers))
    return applicability::no("no-such-hook-point", "hook point " + hook_name(p, layer) + " needs a valid layer");
  if (p == hook_point::pos_embed && !A::positions::absolute) return need_learned_positions<A>();
  const bool mlp_point = p == hook_point::ln2 || p == hook_point::mlp_pre || p == hook_point::mlp_post ||
                         p == hook_point::mlp_out;
  if (mlp_point && !A::has_mlp(std::size_t(layer)))
    return applicability::no("no-such-hook-point", A::name() + " has no MLP in block " + std::to_string(layer));
  return applicability::yes();
}
}  // namespace detail

/// Records the activation at one (point, layer) of a forward pass (layer -1 for model-wide points).
struct capture_activation {
  hook_point point = hook_point::resid_pre;
  int layer = 0;
  std::vector<float> data{};
  std::size_t batch = 0, length = 0, width = 0;
  template <hook_point P>
  void on(const activation& a) {
    if (P != point || a.layer != layer) return;
    data.assign(a.data, a.data + a.batch * a.length * a.width);
    batch = a.batch;
    length = a.length;
    width = a.width;
  }
};

/// Overwrites the activation at one (point, layer) with a captured one (from another run: capture, then
/// replay), at every position or only at `positions` (for `pattern`, a position is a query row).
struct patch_activation {
  hook_point point = hook_point::resid_pre;
  int layer = 0;
  std::vector<float> data{};
  std::vector<std::size_t> positions{};
  std::string id = "patch", name = "activation patch";
  static constexpr bool changes_weights = false;

  patch_activation() = default;
  explicit patch_activation(const capture_activation& c, std::vector<std::size_t> only = {})
      : point(c.point), layer(c.layer), data(c.data), positions(std::move(only)) {
    name = "patch " + hook_name(point, layer);
  }
  template <architecture_type A> applicability check() const { return detail::hook_point_exists<A>(point, layer); }
  template <architecture_type A> void prepare(const model<A>&) {}
  template <architecture_type A> void transform(model<A>&) const {}
  template <hook_point P>
  void on(const activation& a) {
    if (P != point || a.layer != layer) return;
    const std::size_t n = a.batch * a.length * a.width;
    if (data.size() != n)
      throw error("patch at " + hook_name(point, layer) + ": captured " + std::to_string(data.size()) +
                  " values, this run has " + std::to_string(n));
    if (positions.empty()) {
      std::copy(data.begin(), data.end(), a.data);
      return;
    }
    for (std::size_t b = 0; b < a.batch; ++b)
      for (std::size_t t : positions)
        if (t < a.length) std::copy_n(data.begin() + std::ptrdiff_t((b * a.length + t) * a.width), a.width, a.row(b, t));
  }
};

// ---------------------------------------------------------------------------------------------------
// Composition

/// Two interventions at once (e.g. b with c): both check, both prepare (on the unmodified model), both
/// transform the copy (first, then second), and both hook, first then second at each point.
template <class I1, class I2>
struct combined {
  I1 first;
  I2 second;
  std::string id, name;
  static constexpr bool changes_weights = I1::changes_weights || I2::changes_weights;

  combined(I1 a, I2 b) : first(std::move(a)), second(std::move(b)) {
    id = first.id + "+" + second.id;
    name = first.name + " + " + second.name;
  }
  template <architecture_type A> applicability check() const {
    auto a = first.template check<A>();
    return a.applies ? second.template check<A>() : a;
  }
  template <architecture_type A> void prepare(const model<A>& m) {
    first.prepare(m);
    second.prepare(m);
  }
  template <architecture_type A> void transform(model<A>& m) const {
    first.transform(m);
    second.transform(m);
  }
  template <hook_point P>
    requires(hooks_at<I1, P> || hooks_at<I2, P>)
  void on(const activation& a) {
    if constexpr (hooks_at<I1, P>) first.template on<P>(a);
    if constexpr (hooks_at<I2, P>) second.template on<P>(a);
  }
};
template <class I1, class I2>
combined<I1, I2> combine(I1 a, I2 b) {
  return {std::move(a), std::move(b)};
}

/// The paper's ten interventions a..j, in order (j seeded with `seed`).
inline auto paper_interventions(std::uint64_t seed = 0) {
  return std::make_tuple(baseline{}, scale_query_bias{}, replace_position{},
                         swap_first_positions{swap_first_positions::direction::epe},
                         swap_first_positions{swap_first_positions::direction::pe}, nullify_first_token{}, skip_mlp{},
                         no_positional_embedding{}, zero_key_inputs::top_epe0(3), zero_key_inputs::random(3, seed));
}

// ---------------------------------------------------------------------------------------------------
// Running

/// A model under an intervention: checked and prepared once, with a transformed copy of the weights
/// when the intervention changes them (the original is never modified), and the hooks for forward().
template <architecture_type A, class I>
class intervened_model {
 public:
  /// @throws sinkcore::error if the intervention does not apply to A (the message gives the reason).
  intervened_model(const model<A>& m, I iv) : base_(&m), iv_(std::move(iv)) {
    const applicability a = iv_.template check<A>();
    if (!a.applies)
      throw error("intervention " + iv_.id + " (" + iv_.name + ") does not apply to " + A::name() + ": " + a.reason);
    iv_.prepare(m);
    if constexpr (I::changes_weights) {
      copy_ = std::make_unique<model<A>>(m);
      iv_.transform(*copy_);
    }
  }
  /// The intervened model reads `m` on every forward pass (when it keeps no copy): not a temporary.
  intervened_model(const model<A>&& m, I iv) = delete;
  const model<A>& weights() const { return copy_ ? *copy_ : *base_; }
  I& intervention() { return iv_; }
  const I& intervention() const { return iv_; }

  /// The forward pass under the intervention. Its hooks go through any_hooks, so every intervention of an
  /// architecture shares one instantiation of the forward pass (the results are those of the hooks called
  /// directly: the same operations in the same order).
  void forward(workspace<A>& ws, std::span<const int> tokens, std::size_t B, std::size_t T) {
    sinkcore::forward(weights(), ws, tokens, B, T, any_hooks(iv_));
  }
  /// The forward pass with more hooks after the intervention's own (e.g. a capture).
  template <class Extra>
  void forward(workspace<A>& ws, std::span<const int> tokens, std::size_t B, std::size_t T, Extra& extra) {
    auto both = compose(iv_, extra);
    sinkcore::forward(weights(), ws, tokens, B, T, any_hooks(both));
  }

 private:
  const model<A>* base_;
  I iv_;
  std::unique_ptr<model<A>> copy_;
};

/// What one intervention does on a set of inputs.
struct intervention_outcome {
  std::string id, name;
  applicability status;                             ///< !status.applies: skipped, every vector empty
  std::vector<std::vector<double>> bos_by_layer;    ///< [input][layer]: BOS attention, mean over heads
  std::vector<std::vector<double>> bos_by_head;     ///< [layer][head]: mean over inputs
  std::vector<double> sink_rate;                    ///< [input]: Sink_0^0.3 over all layers (Gu et al.)
  std::vector<double> cross_entropy;                ///< [input]: mean next-token cross-entropy, nats

  /// Per input: BOS attention averaged over the layers of r.
  std::vector<double> bos(layer_range r) const {
    std::vector<double> out;
    out.reserve(bos_by_layer.size());
    for (const auto& v : bos_by_layer) out.push_back(mean_over_layers(v, r));
    return out;
  }
  /// Mean and standard error over the inputs of `subset` (all inputs when empty).
  stats::summary bos_summary(layer_range r, const std::vector<std::size_t>& subset = {}) const {
    const auto all = bos(r);
    if (subset.empty()) return stats::summarize(all);
    std::vector<double> v;
    for (std::size_t i : subset) v.push_back(all.at(i));
    return stats::summarize(v);
  }
};

/// Runs intervention `iv` on every input (all of the same length T >= 2), `batch` inputs per forward
/// pass. An intervention that does not apply returns its status and empty vectors (no throw).
template <architecture_type A, class I>
intervention_outcome evaluate_intervention(const model<A>& m, I iv, const std::vector<std::vector<int>>& inputs,
                                           std::size_t batch = 8) {
  intervention_outcome out;
  out.id = iv.id;
  out.name = iv.name;
  out.status = iv.template check<A>();
  if (!out.status.applies || inputs.empty()) return out;
  const std::size_t T = inputs[0].size();
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].size() != T)
      throw error("evaluate_intervention: input " + std::to_string(i) + " has " + std::to_string(inputs[i].size()) +
                  " tokens, input 0 has " + std::to_string(T) + " (all must have the same length)");
  intervened_model<A, I> run(m, std::move(iv));
  workspace<A> ws;
  out.bos_by_head.assign(A::layers, std::vector<double>(A::heads, 0.0));
  batch = std::max<std::size_t>(1, batch);
  for (std::size_t start = 0; start < inputs.size(); start += batch) {
    const std::size_t B = std::min(batch, inputs.size() - start);
    std::vector<int> tokens;
    tokens.reserve(B * T);
    for (std::size_t b = 0; b < B; ++b) tokens.insert(tokens.end(), inputs[start + b].begin(), inputs[start + b].end());
    run.forward(ws, tokens, B, T);
    const auto ce = cross_entropy_per_sequence(ws);
    for (std::size_t b = 0; b < B; ++b) {
      const auto heads = bos_attention_by_head(ws, b);
      std::vector<double> layers(A::layers);
      for (std::size_t l = 0; l < A::layers; ++l) {
        layers[l] = stats::mean(heads[l]);
        for (std::size_t h = 0; h < A::heads; ++h) out.bos_by_head[l][h] += heads[l][h] / double(inputs.size());
      }
      out.bos_by_layer.push_back(std::move(layers));
      out.sink_rate.push_back(sink_rate(ws, b, 0, 0.3));
      out.cross_entropy.push_back(ce[b]);
    }
  }
  return out;
}

}  // namespace sinkcore
