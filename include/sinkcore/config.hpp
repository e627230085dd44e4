#pragma once
/// @file config.hpp
/// Header-only by default; optionally compiled once (separate compilation, as Asio and Boost.JSON offer).
///
/// sinkcore's non-template code (JSON and safetensors reading and writing, the BPE tokenizer, the study's
/// result files) lives in `sinkcore/impl/*.ipp`. By default every header includes its `.ipp`, so including
/// a header is all a program needs. A program with many translation units (sinklab has 20 of them, each
/// instantiating a few architectures) can instead compile that code once: define
/// `SINKCORE_SEPARATE_COMPILATION` in every one of its units and include `<sinkcore/src.hpp>` in exactly one.
/// Then the other units neither parse nlohmann/json's implementation nor emit it, nor any of the functions
/// below marked SINKCORE_DECL. Mixing the two modes in one program is an ODR violation.
///
/// @code
/// // sinkcore_src.cpp, compiled with -DSINKCORE_SEPARATE_COMPILATION like every unit of the program:
/// #include <sinkcore/src.hpp>
/// @endcode
/// CMake: link the target `sinkcore::separate` (it adds the definition and a static library built from
/// src.hpp) instead of `sinkcore::sinkcore`.

#if defined(SINKCORE_SEPARATE_COMPILATION)
/// Non-template functions whose bodies live in impl/*.ipp: `inline` when header-only; external (defined
/// once, in the unit that includes src.hpp) under separate compilation.
#define SINKCORE_DECL
#else
#define SINKCORE_DECL inline
#endif
