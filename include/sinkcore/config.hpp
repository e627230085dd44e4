#pragma once
/// @file config.hpp
/// Header-only by default; optionally compiled once (separate compilation, as Asio and Boost.JSON offer).
///
/// sinkcore's non-template code that uses nlohmann/json (safetensors headers, config.json, the BPE
/// vocabulary, a study run's files, the study's report and MPI messages) lives in `sinkcore/impl/*.ipp`. By
/// default every header includes its `.ipp`, so including a header is all a program needs. A program with
/// many translation units (sinklab has 21, 12 of them instantiating a few architectures each) can instead
/// compile that code once: define `SINKCORE_SEPARATE_COMPILATION` in every one of its units and include
/// `<sinkcore/src.hpp>` in exactly one. Then the other units neither parse nlohmann/json's implementation nor
/// emit it, nor any function marked SINKCORE_DECL in the headers, nor the numeric kernels' default-ISA
/// instances (`extern template` there; src.hpp instantiates them, so every unit, src.hpp's included, must be
/// compiled with the same -march). Mixing the two modes in one program is an ODR violation.
///
/// @code
/// // sinkcore_src.cpp, compiled with -DSINKCORE_SEPARATE_COMPILATION like every unit of the program:
/// #include <sinkcore/src.hpp>
/// @endcode
/// sinkcore's own CMake builds this unit as the static library `sinkcore_src` for sinklab and the tests
/// (tests/consumer/separate_*.cpp show the same for a program of your own).

#if defined(SINKCORE_SEPARATE_COMPILATION)
/// Non-template functions whose bodies live in impl/*.ipp: `inline` when header-only; external (defined
/// once, in the unit that includes src.hpp) under separate compilation.
#define SINKCORE_DECL
#else
#define SINKCORE_DECL inline
#endif
