#pragma once
/// @file block_view.hpp
/// What a component's forward and backward see of one block: the parameters (and, in the backward pass,
/// the gradients) of that block, its activation slabs by name, and the batch's sizes. The forward and
/// backward loops (forward.hpp, backward.hpp) make one per block and hand it to every component:
///
///   template <class V> static void forward(const V& b) {            // query::projection
///     detail::linear_forward(b.act(act::ln1), V::d, b.rows(), V::d, V::d, b.param(role::q_weight),
///                            has_bias ? b.param(role::q_bias) : nullptr, b.act(act::q), V::d);
///   }
///
/// `param(r)` is tensor r of this block (layer -1: the model-wide tensors); `act(a)` is slab a of this block
/// or, for model-wide slabs and backward scratch, the one slab every block shares.
#include <cstddef>

#include "activation_spec.hpp"
#include "params.hpp"

namespace sinkcore {

template <architecture_type A>
struct block_view {
  using arch = A;
  using shape = typename A::shape;
  using layout_type = layout<A>;
  static constexpr std::size_t d = A::d_model, H = A::heads, dh = A::d_head, dm = A::d_mlp, V = A::vocab;

  const float* W = nullptr;      ///< the model's parameters
  float* G = nullptr;            ///< gradients (same layout); null in the forward pass
  int layer = -1;                ///< this block; -1 for the model-wide steps (embedding, unembedding)
  std::size_t B = 0, T = 0;      ///< sequences, tokens per sequence
  float scale = 1.f;             ///< 1 / sqrt(d_head)
  float* const* slabs = nullptr;   ///< this block's slabs, indexed by act (null: not declared for this block)
  float* const* shared = nullptr;  ///< model-wide slabs and backward scratch

  std::size_t rows() const { return B * T; }
  const float* param(role r) const { return W + layout_type::offset(r, layer); }
  float* grad(role r) const { return G + layout_type::offset(r, layer); }
  /// Slab a: this block's, else the shared one. @pre declared (workspace.hpp checks the declarations)
  float* act(sinkcore::act a) const {
    float* p = slabs ? slabs[std::size_t(a)] : nullptr;
    return p ? p : shared[std::size_t(a)];
  }
};

}  // namespace sinkcore
