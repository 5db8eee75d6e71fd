# Sanitizer and fuzzing builds (.ci/sanitize.sh, .ci/fuzz.sh; tests/fuzz/README.md).
#
#   -DFEDSIM_SANITIZE=address,undefined   every fedsim target and test is built and linked with
#                                          these sanitizers (g++ or clang++); findings abort.
#   -DFEDSIM_FUZZ=ON                       clang only: libraries get libFuzzer's coverage
#                                          instrumentation and tests/fuzz builds one libFuzzer
#                                          binary per target (EXCLUDE_FROM_ALL: target fedsim_fuzz).
# Flags reach every target through fedsim_sanitize, which fedsim_common links PUBLIC.
set(FEDSIM_SANITIZE "" CACHE STRING "Sanitizers for every fedsim target, e.g. address,undefined (empty = none)")
option(FEDSIM_FUZZ "Build the libFuzzer targets of tests/fuzz (clang only)" OFF)

add_library(fedsim_sanitize INTERFACE)
if(FEDSIM_SANITIZE)
  # No recovery: a UBSan report must fail the test that triggered it, not scroll past.
  target_compile_options(fedsim_sanitize INTERFACE -fsanitize=${FEDSIM_SANITIZE} -fno-sanitize-recover=all
    -fno-omit-frame-pointer -g)
  target_link_options(fedsim_sanitize INTERFACE -fsanitize=${FEDSIM_SANITIZE} -fno-sanitize-recover=all)
endif()
if(FEDSIM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "FEDSIM_FUZZ=ON needs clang (libFuzzer); this is ${CMAKE_CXX_COMPILER_ID}.\n"
                        "HINT: configure with -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  target_compile_options(fedsim_sanitize INTERFACE -fsanitize=fuzzer-no-link)
endif()
message(STATUS "fedsim: sanitizers '${FEDSIM_SANITIZE}', fuzz targets ${FEDSIM_FUZZ}")
