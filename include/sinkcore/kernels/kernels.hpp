#pragma once
/// @file kernels.hpp
/// All numeric kernels: GEMM, causal softmax, LayerNorm, GELU, RoPE, the loss's exp, shared SIMD helpers.
#include <sinkcore/kernels/simd.hpp>
#include <sinkcore/kernels/gemm.hpp>
#include <sinkcore/kernels/softmax.hpp>
#include <sinkcore/kernels/layernorm.hpp>
#include <sinkcore/kernels/gelu.hpp>
#include <sinkcore/kernels/rope.hpp>
#include <sinkcore/kernels/exp.hpp>
