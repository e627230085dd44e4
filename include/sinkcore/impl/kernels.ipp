#pragma once
// The default-ISA instances of the numeric kernels (GEMM, causal softmax, LayerNorm, GELU, RoPE, the loss's
// exp), compiled once by sinkcore/src.hpp under separate compilation (config.hpp); every other unit of the
// program sees them as `extern template` (each kernel header's SINKCORE_KERNELS_*_INSTANCES(X) lists its
// signatures, for X = extern template there and X = template here) and calls these. Instances for an ISA
// named explicitly (kernels<Arch>) stay implicit; header-only programs instantiate them all where they are
// used.
#include "sinkcore/kernels/kernels.hpp"

SINKCORE_KERNELS_GEMM_INSTANCES(template);
SINKCORE_KERNELS_SOFTMAX_INSTANCES(template);
SINKCORE_KERNELS_LAYERNORM_INSTANCES(template);
SINKCORE_KERNELS_GELU_INSTANCES(template);
SINKCORE_KERNELS_ROPE_INSTANCES(template);
SINKCORE_KERNELS_EXP_INSTANCES(template);
