# Dependencies of fedsim. Every target links what it needs; nothing here sets global flags.
#
# Kokkos: setup.sh's Kokkos 3.4.1 with OpenMP (cmake/kokkos-openmp.sh), Debian 12's
# libtrilinos-kokkos-dev (3.4.1, Serial), or a user's own install given by -DKokkos_ROOT=...
# (3.4+ or 4.x, any backend; README "Building by hand").
find_package(Kokkos REQUIRED)
if(Kokkos_DIR MATCHES "^/usr/lib/" AND EXISTS /usr/include/trilinos/Kokkos_Core.hpp)
  # Debian's KokkosConfig.cmake points Kokkos::kokkos at /usr/lib/include, which does not exist
  # and makes generation fail. The headers live in /usr/include/trilinos.
  set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES /usr/include/trilinos)
  set(FEDSIM_DEBIAN_KOKKOS ON)
else()
  set(FEDSIM_DEBIAN_KOKKOS OFF)
endif()

# A known-bad pair: with Kokkos 4.5.x-4.6.x, GCC 12.2-12.4 skip the constexpr constructor of
# Kokkos's SharedAllocationTracker, so copying a default-constructed View dereferences a null
# allocation record at run time (kokkos/kokkos#8187, fixed by #8223 for 4.7). fedsim copies no
# such View (models/README.md "Kokkos versions"), but Kokkos's own code does; fail here, not in a run.
option(FEDSIM_ALLOW_KNOWN_BAD_KOKKOS "Configure even with a known-bad Kokkos/compiler pair" OFF)
if(Kokkos_VERSION VERSION_GREATER_EQUAL 4.5 AND Kokkos_VERSION VERSION_LESS 4.7 AND NOT FEDSIM_ALLOW_KNOWN_BAD_KOKKOS)
  include(CheckCXXSourceCompiles)
  # The compiler that compiles Kokkos's headers for the host: the C++ compiler itself, or the
  # host compiler behind nvcc (its __GNUC__); clang and icpx define __clang__.
  check_cxx_source_compiles("
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12 && __GNUC_MINOR__ >= 2 && __GNUC_MINOR__ <= 4
#error bad
#endif
int main() { return 0; }" FEDSIM_HOST_COMPILER_NOT_GCC_12_2_TO_12_4)
  if(NOT FEDSIM_HOST_COMPILER_NOT_GCC_12_2_TO_12_4)
    message(FATAL_ERROR
      "Kokkos ${Kokkos_VERSION} (${Kokkos_DIR}) with ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} "
      "(host GCC 12.2-12.4) is a known-bad pair: GCC 12.2-12.4 skip the constructor of Kokkos's "
      "SharedAllocationTracker in Kokkos 4.5.x-4.6.x, and copying a default-constructed View segfaults "
      "at run time (kokkos/kokkos#8187, fixed in 4.7 by #8223).\n"
      "HINT: use Kokkos 4.7 or newer (or 4.4.x, or setup.sh's 3.4.1), or build with another compiler "
      "(GCC 12.1 or older, GCC 13+, clang); -DFEDSIM_ALLOW_KNOWN_BAD_KOKKOS=ON configures anyway.")
  endif()
endif()

# Kokkos Kernels (dense products through KokkosBlas::gemm; OpenBLAS on the host, cuBLAS on CUDA).
# Optional: without it fedsim uses its own tiled Kokkos gemm.
set(FEDSIM_USE_KOKKOSKERNELS AUTO CACHE STRING "Use Kokkos Kernels for dense products (AUTO, ON, OFF)")
set_property(CACHE FEDSIM_USE_KOKKOSKERNELS PROPERTY STRINGS AUTO ON OFF)
add_library(fedsim_kokkoskernels INTERFACE)
set(FEDSIM_HAVE_KOKKOSKERNELS OFF)
if(NOT FEDSIM_USE_KOKKOSKERNELS STREQUAL "OFF")
  if(FEDSIM_DEBIAN_KOKKOS AND EXISTS /usr/include/trilinos/KokkosBlas3_gemm.hpp)
    # Debian's TriBITS export of Kokkos Kernels is not usable on its own: link the library and
    # the BLAS it was built against directly.
    find_library(FEDSIM_KK_LIB trilinos_kokkoskernels)
    find_library(FEDSIM_BLAS_LIB blas)
    if(FEDSIM_KK_LIB AND FEDSIM_BLAS_LIB)
      target_link_libraries(fedsim_kokkoskernels INTERFACE ${FEDSIM_KK_LIB} ${FEDSIM_BLAS_LIB})
      set(FEDSIM_HAVE_KOKKOSKERNELS ON)
    endif()
  else()
    find_package(KokkosKernels CONFIG QUIET)
    if(TARGET Kokkos::kokkoskernels)
      target_link_libraries(fedsim_kokkoskernels INTERFACE Kokkos::kokkoskernels)
      set(FEDSIM_HAVE_KOKKOSKERNELS ON)
    endif()
  endif()
  if(FEDSIM_USE_KOKKOSKERNELS STREQUAL "ON" AND NOT FEDSIM_HAVE_KOKKOSKERNELS)
    message(FATAL_ERROR "FEDSIM_USE_KOKKOSKERNELS=ON but Kokkos Kernels was not found.\n"
                        "HINT: install libtrilinos-kokkos-kernels-dev, or pass -DFEDSIM_USE_KOKKOSKERNELS=OFF")
  endif()
endif()
if(FEDSIM_HAVE_KOKKOSKERNELS)
  target_compile_definitions(fedsim_kokkoskernels INTERFACE FEDSIM_HAVE_KOKKOSKERNELS=1)
endif()

# Host BLAS through its C interface: dense products on host memory spaces call cblas_?gemm
# directly (models/kernels/gemm.hpp), threaded by the BLAS. With Kokkos's OpenMP backend this is
# Debian's OpenMP-threaded OpenBLAS (libopenblas0-openmp), linked by path so that it, not the
# system's libblas alternative, is loaded: it runs its threads in the OpenMP runtime Kokkos uses,
# instead of a second pool of spinning threads. Serial builds use the BLAS Kokkos Kernels uses.
# The target keeps its historical name: it carries every dense-product library.
set(FEDSIM_HOST_BLAS AUTO CACHE STRING "CBLAS library for host dense products: AUTO, OFF, or a library path")
set(FEDSIM_HAVE_CBLAS OFF)
set(FEDSIM_HOST_BLAS_NAME none)
if(NOT FEDSIM_HOST_BLAS STREQUAL "OFF")
  set(_blas "")
  if(NOT FEDSIM_HOST_BLAS STREQUAL "AUTO")
    set(_blas ${FEDSIM_HOST_BLAS})
  elseif(Kokkos_ENABLE_OPENMP)
    find_library(FEDSIM_OPENBLAS_OPENMP NAMES libopenblas.so.0 openblas
                 PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
    set(_blas ${FEDSIM_OPENBLAS_OPENMP})
  elseif(FEDSIM_HAVE_KOKKOSKERNELS AND FEDSIM_BLAS_LIB)
    set(_blas ${FEDSIM_BLAS_LIB})
  endif()
  if(NOT _blas)
    find_library(FEDSIM_OPENBLAS NAMES openblas)
    set(_blas ${FEDSIM_OPENBLAS})
  endif()
  find_path(FEDSIM_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas)
  if(_blas AND FEDSIM_CBLAS_INCLUDE)
    target_include_directories(fedsim_kokkoskernels SYSTEM INTERFACE ${FEDSIM_CBLAS_INCLUDE})
    target_link_libraries(fedsim_kokkoskernels INTERFACE ${_blas})
    target_compile_definitions(fedsim_kokkoskernels INTERFACE FEDSIM_HAVE_CBLAS=1)
    set(FEDSIM_HAVE_CBLAS ON)
    set(FEDSIM_HOST_BLAS_NAME ${_blas})
  elseif(NOT FEDSIM_HOST_BLAS STREQUAL "AUTO")
    message(FATAL_ERROR "FEDSIM_HOST_BLAS=${FEDSIM_HOST_BLAS}: no cblas.h found.\n"
                        "HINT: install libopenblas-dev, or pass -DFEDSIM_HOST_BLAS=OFF")
  endif()
endif()
# The row kernels' loops (kmath::fexp's clamps and float -> int conversion, selects) vectorize
# only when the compiler may evaluate both sides of a select: -fno-trapping-math. It changes no
# value (fedsim never reads the floating-point exception flags), so results stay bit-identical.
target_compile_options(fedsim_kokkoskernels INTERFACE $<$<CXX_COMPILER_ID:GNU,Clang>:-fno-trapping-math>)
# Wider vectors for fedsim's own host loops (GELU, softmax, dropout and the other row kernels):
# -mavx2 where the compiler takes it and the machine that builds has AVX2 (auto). Never -mfma:
# nothing is contracted into fused multiply-adds, so every value is the one the SSE2 baseline
# computes (README "Reproducibility"); the loops are only wider. OFF keeps the compiler's
# baseline, for a binary that must run on processors older than the one that built it. Host
# backends only (a device build's kernels do not run on these vectors).
set(FEDSIM_HOST_SIMD "auto" CACHE STRING "Host vector instructions of fedsim's loops: auto | avx2 | off")
set_property(CACHE FEDSIM_HOST_SIMD PROPERTY STRINGS auto avx2 off)
string(TOLOWER "${FEDSIM_HOST_SIMD}" _simd)
if(NOT _simd MATCHES "^(auto|avx2|off)$")
  message(FATAL_ERROR "FEDSIM_HOST_SIMD=${FEDSIM_HOST_SIMD}: accepted: auto, avx2, off")
endif()
set(FEDSIM_HOST_SIMD_NAME "baseline")
if(NOT _simd STREQUAL "off" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang"
   AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND NOT Kokkos_DEVICES MATCHES "CUDA|HIP|SYCL|OPENMPTARGET")
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-mavx2 FEDSIM_CXX_HAS_MAVX2)
  set(_use_avx2 OFF)
  if(_simd STREQUAL "avx2" AND NOT FEDSIM_CXX_HAS_MAVX2)
    message(FATAL_ERROR "FEDSIM_HOST_SIMD=avx2: ${CMAKE_CXX_COMPILER} does not take -mavx2; accepted: auto, off")
  elseif(_simd STREQUAL "avx2")
    set(_use_avx2 ON)
  elseif(FEDSIM_CXX_HAS_MAVX2 AND NOT CMAKE_CROSSCOMPILING)
    if(NOT DEFINED FEDSIM_BUILD_CPU_AVX2)
      try_run(_avx2_run _avx2_compiled ${CMAKE_BINARY_DIR}/cpu_avx2 ${CMAKE_CURRENT_LIST_DIR}/cpu_avx2.cpp)
      if(_avx2_compiled AND _avx2_run EQUAL 0)
        set(FEDSIM_BUILD_CPU_AVX2 ON CACHE INTERNAL "the build machine has AVX2")
      else()
        set(FEDSIM_BUILD_CPU_AVX2 OFF CACHE INTERNAL "the build machine has AVX2")
      endif()
    endif()
    set(_use_avx2 ${FEDSIM_BUILD_CPU_AVX2})
  endif()
  if(_use_avx2)
    target_compile_options(fedsim_kokkoskernels INTERFACE -mavx2 -mno-fma)
    set(FEDSIM_HOST_SIMD_NAME "avx2")
  endif()
elseif(_simd STREQUAL "avx2")
  message(FATAL_ERROR "FEDSIM_HOST_SIMD=avx2 needs g++ or clang++ on x86-64 and a host Kokkos backend")
endif()
target_compile_definitions(fedsim_kokkoskernels INTERFACE FEDSIM_HOST_SIMD_NAME="${FEDSIM_HOST_SIMD_NAME}")
# Test configuration (.ci/host-teams.sh): the device code paths of the team kernels on the host
# (models/kernels/team.hpp kTeamLoops).
option(FEDSIM_HOST_TEAMS "Run the team kernels' device code paths on host backends (testing)" OFF)
if(FEDSIM_HOST_TEAMS)
  target_compile_definitions(fedsim_kokkoskernels INTERFACE FEDSIM_HOST_TEAMS=1)
endif()
message(STATUS "fedsim: Kokkos ${Kokkos_VERSION} [${Kokkos_DEVICES}] (Debian package: ${FEDSIM_DEBIAN_KOKKOS}), "
               "Kokkos Kernels: ${FEDSIM_HAVE_KOKKOSKERNELS}, host CBLAS: ${FEDSIM_HOST_BLAS_NAME}, host teams: ${FEDSIM_HOST_TEAMS}, "
               "host vectors: ${FEDSIM_HOST_SIMD_NAME}")

# HDF5 with the C++ API (Debian: libhdf5-dev, serial flavour).
find_package(HDF5 REQUIRED COMPONENTS C CXX)
add_library(fedsim_hdf5 INTERFACE)
target_include_directories(fedsim_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(fedsim_hdf5 INTERFACE ${HDF5_CXX_LIBRARIES} ${HDF5_LIBRARIES})
target_compile_definitions(fedsim_hdf5 INTERFACE ${HDF5_DEFINITIONS})

find_package(yaml-cpp REQUIRED)
if(TARGET yaml-cpp::yaml-cpp)
  set(FEDSIM_YAML_TARGET yaml-cpp::yaml-cpp)
elseif(TARGET yaml-cpp)
  set(FEDSIM_YAML_TARGET yaml-cpp)
else()
  set(FEDSIM_YAML_TARGET ${YAML_CPP_LIBRARIES})
endif()

find_package(Boost 1.71 REQUIRED COMPONENTS program_options)

if(FEDSIM_BUILD_TESTS)
  find_package(doctest REQUIRED)
endif()

# MPI (optional): sweeps over ranks and one run's training over ranks (sim/mpi/). AUTO: used when
# found. Without it fedsim compiles the same code as one rank.
set(FEDSIM_MPI AUTO CACHE STRING "Build with MPI (AUTO, ON, OFF)")
set_property(CACHE FEDSIM_MPI PROPERTY STRINGS AUTO ON OFF)
set(FEDSIM_HAVE_MPI OFF)
if(NOT FEDSIM_MPI STREQUAL "OFF")
  set(MPI_CXX_SKIP_MPICXX ON)  # the C API only; not the removed C++ bindings
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(FEDSIM_HAVE_MPI ON)
  elseif(FEDSIM_MPI STREQUAL "ON")
    message(FATAL_ERROR "FEDSIM_MPI=ON but MPI was not found.\n"
                        "HINT: install libopenmpi-dev openmpi-bin, or pass -DFEDSIM_MPI=OFF")
  endif()
endif()
message(STATUS "fedsim: MPI: ${FEDSIM_HAVE_MPI} ${MPI_CXX_VERSION}")
