#pragma once
/// @file src.hpp
/// The bodies of sinkcore's non-template functions (impl/*.ipp), for separate compilation (config.hpp):
/// include this in exactly one translation unit of a program whose every unit defines
/// SINKCORE_SEPARATE_COMPILATION. Header-only programs (the default) need not include it; there it only
/// includes the headers.
#include "config.hpp"

#include "impl/bpe.ipp"
#include "impl/budget.ipp"
#include "impl/checkpoint.ipp"
#include "impl/distributed.ipp"
#include "impl/kernels.ipp"
#include "impl/prose.ipp"
#include "impl/published.ipp"
#include "impl/report.ipp"
#include "impl/result.ipp"
#include "impl/run.ipp"
#include "impl/safetensors.ipp"
#include "impl/summary.ipp"
#include "impl/trainer.ipp"
