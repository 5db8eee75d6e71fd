# Dependencies of fedsim. Every target links what it needs; nothing here sets global flags.
#
# Kokkos: Debian 12's libtrilinos-kokkos-dev (3.4.1, Serial) or a user's own install given by
# -DKokkos_ROOT=... (3.4+ or 4.x, any backend).
find_package(Kokkos REQUIRED)
if(NOT Kokkos_ROOT AND NOT DEFINED ENV{Kokkos_ROOT} AND EXISTS /usr/include/trilinos/Kokkos_Core.hpp)
  # Debian's KokkosConfig.cmake points Kokkos::kokkos at /usr/lib/include, which does not exist
  # and makes generation fail. The headers live in /usr/include/trilinos.
  set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES /usr/include/trilinos)
  set(FEDSIM_DEBIAN_KOKKOS ON)
else()
  set(FEDSIM_DEBIAN_KOKKOS OFF)
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
message(STATUS "fedsim: Kokkos ${Kokkos_VERSION} (Debian package: ${FEDSIM_DEBIAN_KOKKOS}), Kokkos Kernels: ${FEDSIM_HAVE_KOKKOSKERNELS}")

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
