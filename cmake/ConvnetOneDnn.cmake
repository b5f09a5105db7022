# Decides CONVNET_WITH_ONEDNN from CONVNET_ONEDNN (AUTO|ON|OFF): the oneDNN
# backend (src/onednn) is built when oneDNN's CMake package is found (Debian:
# libdnnl-dev, oneDNN 2.6 on GNU OpenMP; scripts/install_deps.sh). ON makes a
# missing oneDNN an error; AUTO builds without it and says so.
set(CONVNET_WITH_ONEDNN OFF)
if(NOT CONVNET_ONEDNN STREQUAL "OFF")
  # Debian's dnnl-config.cmake requires OpenCL's headers (ocl-icd-opencl-dev, only
  # Recommended by libdnnl-dev, so --no-install-recommends leaves it out) and
  # fails configuring without them: ask first.
  find_package(OpenCL QUIET)
  if(OpenCL_FOUND)
    find_package(dnnl 2.6 CONFIG QUIET)
  endif()
  if(dnnl_FOUND)
    set(CONVNET_WITH_ONEDNN ON)
  else()
    if(NOT OpenCL_FOUND)
      set(why "OpenCL's headers, which Debian's oneDNN CMake config needs, were not found (ocl-icd-opencl-dev)")
    else()
      set(why "oneDNN 2.6+ was not found (Debian: libdnnl-dev)")
    endif()
    if(CONVNET_ONEDNN STREQUAL "ON")
      message(FATAL_ERROR "CONVNET_ONEDNN=ON but ${why}")
    endif()
    message(STATUS "convnet: ${why}; building without the onednn backend")
  endif()
endif()
