# fedsim_add_test(NAME SOURCES... [LIBS libs...] [LABELS labels...] [COST seconds])
# One doctest binary per call, registered with CTest. The shared main (tests/test_main.cpp)
# initialises Kokkos once and traps floating-point invalid operations. Tests run on 2 OpenMP threads
# that sleep rather than spin while they wait (OMP_WAIT_POLICY=passive), so that tests side by side
# (ctest -j) and the MPI tests' ranks do not starve each other of the cores. COST (about its seconds
# under the sanitizers) makes `ctest -j` start the long tests first on a fresh build, so that no
# long test runs alone at the end.
function(fedsim_add_test name)
  cmake_parse_arguments(ARG "" "COST" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE fedsim_test_main ${ARG_LIBS})
  add_test(NAME ${name} COMMAND ${name} --force-colors=0)
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "FEDSIM_SOURCE_DIR=${PROJECT_SOURCE_DIR};FEDSIM_BINARY=$<TARGET_FILE:fedsim>;OMP_NUM_THREADS=2;OMP_PROC_BIND=false;OMP_WAIT_POLICY=passive"
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    LABELS "${ARG_LABELS}"
    TIMEOUT 900)  # a hang fails the suite instead of stalling CI
  if(ARG_COST)
    set_tests_properties(${name} PROPERTIES COST ${ARG_COST})
  endif()
endfunction()
