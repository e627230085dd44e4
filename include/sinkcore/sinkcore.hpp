#pragma once
/// @file sinkcore.hpp
/// Umbrella header: the type system of models, kernels, the forward pass.
#include "architecture.hpp"
#include "error.hpp"
#include "model/forward.hpp"
#include "model/model.hpp"
#include "model/params.hpp"
#include "model/workspace.hpp"
#include "interp/metrics.hpp"
#include "shape.hpp"
#include "zoo.hpp"
