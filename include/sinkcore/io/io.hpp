#pragma once
/// @file io.hpp
/// Umbrella header for sinkcore's file formats: safetensors (read/write), .npy (read/write), GPT-2's
/// byte-level BPE tokenizer, and atomic file writes.
#include "sinkcore/io/atomic_file.hpp"
#include "sinkcore/io/bpe.hpp"
#include "sinkcore/io/half.hpp"
#include "sinkcore/io/npy.hpp"
#include "sinkcore/io/safetensors.hpp"
