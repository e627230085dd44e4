#pragma once
/// @file hooks.hpp
/// Compile-time hooks on the forward pass, at the TransformerLens hook points. A hooks object is any
/// type with member templates `template <hook_point P> void on(const activation&)` for the points it
/// cares about; the forward pass calls them with `if constexpr`, so a point nobody hooks costs nothing,
/// and `forward(m, ws, tokens, B, T)` (no hooks) compiles to the code it had before hooks existed.
///
///   struct zero_first_token {                       // intervention f of the paper
///     template <hook_point P> void on(const activation& a) {
///       if constexpr (P == hook_point::embed)
///         for (std::size_t b = 0; b < a.batch; ++b) std::fill_n(a.row(b, 0), a.width, 0.f);
///     }
///   };
///   forward(m, ws, tokens, B, T, zero_first_token{});
///
/// A hook may read (capture), overwrite (ablate, patch from another run) or scale the activation in
/// place; the forward pass continues from what the hook leaves. backward() assumes an unhooked forward.
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace sinkcore {

/// The hook points, in forward order. Their TransformerLens names are in hook_name().
enum class hook_point {
  embed,       ///< hook_embed            [B, T, d]   wte[token], before positions are added
  pos_embed,   ///< hook_pos_embed        [B, T, d]   wpe[t] (learned positions only)
  resid_pre,   ///< blocks.l.hook_resid_pre
  ln1,         ///< blocks.l.ln1.hook_normalized
  q, k, v,     ///< blocks.l.attn.hook_q/k/v   [B, T, H*dh], after bias, normalisation and rotation
  pattern,     ///< blocks.l.attn.hook_pattern [B*H rows of T x T]
  z,           ///< blocks.l.attn.hook_z
  attn_out,    ///< blocks.l.hook_attn_out
  resid_mid,   ///< blocks.l.hook_resid_mid
  ln2,         ///< blocks.l.ln2.hook_normalized (blocks with an MLP)
  mlp_pre,     ///< blocks.l.mlp.hook_pre      [B, T, 4d]
  mlp_post,    ///< blocks.l.mlp.hook_post     [B, T, 4d]
  mlp_out,     ///< blocks.l.hook_mlp_out, before it is added to the residual stream
  resid_post,  ///< blocks.l.hook_resid_post
  ln_final,    ///< ln_final.hook_normalized
  logits,      ///< logits                     [B, T, vocab]
};

/// One activation at a hook point: `batch` x `length` rows of `width` floats (row-major), in layer
/// `layer` (-1 for model-wide points). For `pattern`, rows are (b, h, query) and width is T.
struct activation {
  float* data;
  std::size_t batch, length, width;
  int layer;
  float* row(std::size_t b, std::size_t t) const { return data + (b * length + t) * width; }
};

inline std::string hook_name(hook_point p, int layer) {
  const std::string b = "blocks." + std::to_string(layer) + ".";
  switch (p) {
    case hook_point::embed: return "hook_embed";
    case hook_point::pos_embed: return "hook_pos_embed";
    case hook_point::resid_pre: return b + "hook_resid_pre";
    case hook_point::ln1: return b + "ln1.hook_normalized";
    case hook_point::q: return b + "attn.hook_q";
    case hook_point::k: return b + "attn.hook_k";
    case hook_point::v: return b + "attn.hook_v";
    case hook_point::pattern: return b + "attn.hook_pattern";
    case hook_point::z: return b + "attn.hook_z";
    case hook_point::attn_out: return b + "hook_attn_out";
    case hook_point::resid_mid: return b + "hook_resid_mid";
    case hook_point::ln2: return b + "ln2.hook_normalized";
    case hook_point::mlp_pre: return b + "mlp.hook_pre";
    case hook_point::mlp_post: return b + "mlp.hook_post";
    case hook_point::mlp_out: return b + "hook_mlp_out";
    case hook_point::resid_post: return b + "hook_resid_post";
    case hook_point::ln_final: return "ln_final.hook_normalized";
    case hook_point::logits: return "logits";
  }
  return {};
}

/// No hooks: the plain forward pass.
struct no_hooks {};

/// A hook point as a value, for components that call the forward pass's hook themselves:
/// `hook(at_point<hook_point::pos_embed>, data, width)` (positions.hpp).
template <hook_point P>
inline constexpr std::integral_constant<hook_point, P> at_point{};

template <class Hooks, hook_point P>
concept hooks_at = requires(Hooks& h, const activation& a) { h.template on<P>(a); };

namespace detail {
template <hook_point P, class Hooks>
inline void run_hook(Hooks& h, float* data, std::size_t batch, std::size_t length, std::size_t width, int layer) {
  if constexpr (hooks_at<Hooks, P>) h.template on<P>(activation{data, batch, length, width, layer});
}
template <hook_point P, class Hooks>
constexpr bool hooked = hooks_at<Hooks, P>;

/// The forward pass's hook for the points of one block (layer -1: the model-wide points):
/// hook(at_point<P>, data, width) runs the hooks object at P, if it has P; listens<P> says whether it does,
/// so that a component may fuse its work across a point that nobody hooks (GELU into c_fc's product, the
/// residual additions into the projections' products: kernels::gemm_epilogue).
template <class Hooks>
struct block_hook {
  Hooks& hooks;
  std::size_t batch, length;
  int layer;
  template <hook_point P>
  static constexpr bool listens = hooks_at<Hooks, P>;
  template <hook_point P>
  void operator()(std::integral_constant<hook_point, P>, float* data, std::size_t width) const {
    run_hook<P>(hooks, data, batch, length, width, layer);
  }
};

/// Whether `hook` (a block_hook, or any callable taking at_point<P>) may act at P: true unless it says not.
template <class Hook, hook_point P>
constexpr bool hook_listens() {
  using H = std::remove_cvref_t<Hook>;
  if constexpr (requires { H::template listens<P>; })
    return H::template listens<P>;
  else
    return true;
}
}  // namespace detail

/// Any hooks object behind one pointer and one function: `forward(m, ws, tokens, B, T, any_hooks(h))` is
/// one instantiation of the forward pass for every hooks type it wraps (the paper's interventions, their
/// compositions), at the cost of an indirect call per hook point. The wrapped object must outlive it.
class any_hooks {
 public:
  template <class H>
  explicit any_hooks(H& h) : self_(&h), call_(&dispatch<H>) {}
  template <hook_point P>
  void on(const activation& a) {
    call_(self_, P, a);
  }

 private:
  template <class H>
  static void dispatch(void* self, hook_point p, const activation& a) {
    [&]<int... I>(std::integer_sequence<int, I...>) {
      ((p == hook_point(I) ? call<H, hook_point(I)>(self, a) : void()), ...);
    }(std::make_integer_sequence<int, int(hook_point::logits) + 1>{});
  }
  template <class H, hook_point P>
  static void call(void* self, const activation& a) {
    if constexpr (hooks_at<H, P>) static_cast<H*>(self)->template on<P>(a);
  }
  void* self_;
  void (*call_)(void*, hook_point, const activation&);
};

/// Several hooks objects, called in order at each point: compose(capture, intervention).
template <class... Hs>
struct compose {
  std::tuple<Hs&...> parts;
  explicit compose(Hs&... hs) : parts(hs...) {}
  template <hook_point P>
    requires(hooks_at<Hs, P> || ...)
  void on(const activation& a) {
    std::apply([&](auto&... h) { (call<P>(h, a), ...); }, parts);
  }

 private:
  template <hook_point P, class H>
  static void call(H& h, const activation& a) {
    if constexpr (hooks_at<H, P>) h.template on<P>(a);
  }
};

}  // namespace sinkcore
