#pragma once
/// @file sinkcore.hpp
/// Umbrella header: the type system of models, kernels, the forward pass.
#include "architecture.hpp"
#include "error.hpp"
#include "model/backward.hpp"
#include "model/forward.hpp"
#include "model/hooks.hpp"
#include "model/model.hpp"
#include "model/params.hpp"
#include "model/workspace.hpp"
#include "interp/metrics.hpp"
#include "shape.hpp"
#include "train/corpora.hpp"
#include "train/data.hpp"
#include "train/optimizer.hpp"
#include "train/rng.hpp"
#include "train/schedule.hpp"
#include "zoo.hpp"
