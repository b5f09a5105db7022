# CONVNET_CUDA=EMULATED (included by the top-level CMakeLists after add_library(convnet)):
# the CUDA backend with no GPU and no toolkit. src/cuda/*.cpp compile unchanged
# and kernels/*.cu compile as C++, all against emu/include (a stand-in for
# cuda_runtime.h and cublas_v2.h, first on the path; the toolkit's include
# folder is never on it); the host-backed runtime and cuBLAS of emu/src go into
# libconvnet itself, so the installed package needs nothing more than Boost.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "CONVNET_CUDA=EMULATED needs clang (-DCMAKE_CXX_COMPILER=clang++): "
          "GCC ignores `section` on static locals of templates, so their shared memory "
          "would escape the poisoning")
endif()
find_package(Boost 1.66 REQUIRED COMPONENTS context)   # Debian: libboost-context-dev

set(_emu_dir ${CMAKE_CURRENT_LIST_DIR})
target_sources(convnet PRIVATE ${_emu_dir}/src/scheduler.cpp ${_emu_dir}/src/fiber.cpp
  ${_emu_dir}/src/runtime.cpp ${_emu_dir}/src/device_memory.cpp ${_emu_dir}/src/cublas.cpp)
# Public for the build tree: tests include src/cuda headers, which include <cuda_runtime.h>.
target_include_directories(convnet BEFORE PUBLIC $<BUILD_INTERFACE:${_emu_dir}/include>)
target_compile_definitions(convnet PRIVATE CONVNET_CUDA_EMULATED=1)
target_link_libraries(convnet PRIVATE Boost::context)

# Device code is compiled as on the device: no FMA contraction beyond what it writes.
file(GLOB _emu_device_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/*.cu)
set_source_files_properties(${_emu_device_sources} PROPERTIES LANGUAGE CXX COMPILE_OPTIONS -ffp-contract=off)

if(CONVNET_BUILD_TESTS)
  find_package(GTest REQUIRED)
  add_executable(emu_runtime_tests ${_emu_dir}/tests/runtime_tests.cpp)
  target_link_libraries(emu_runtime_tests PRIVATE convnet GTest::gtest_main)
  add_test(NAME emu_runtime_tests COMMAND emu_runtime_tests)
endif()
