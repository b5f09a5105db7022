# Decides CONVNET_WITH_ONNX and CONVNET_WITH_TENSORBOARD from CONVNET_ONNX and
# CONVNET_TENSORBOARD (AUTO|ON|OFF). Both formats are protobuf messages, read and
# written through Debian's libprotobuf-dev (protoc for our own .proto):
#  - ONNX (src/onnxio) on libonnx-dev, ONNX 1.12's generated messages and
#    its checker;
#  - TensorBoard event files (src/tensorboard) on proto/tensorboard.proto.
# ON makes a missing package an error; AUTO builds without the format, whose
# functions then throw convnet::Error saying so.
set(CONVNET_WITH_ONNX OFF)
set(CONVNET_WITH_TENSORBOARD OFF)
if(NOT (CONVNET_ONNX STREQUAL "OFF" AND CONVNET_TENSORBOARD STREQUAL "OFF"))
  find_package(Protobuf 3.12 QUIET)
endif()
if(NOT CONVNET_ONNX STREQUAL "OFF")
  if(Protobuf_FOUND)
    find_package(ONNX 1.12 CONFIG QUIET)
  endif()
  if(ONNX_FOUND)
    set(CONVNET_WITH_ONNX ON)
  elseif(CONVNET_ONNX STREQUAL "ON")
    message(FATAL_ERROR "CONVNET_ONNX=ON but ONNX 1.12+ or protobuf was not found (Debian: libonnx-dev libprotobuf-dev)")
  else()
    message(STATUS "convnet: ONNX not found (Debian: libonnx-dev libprotobuf-dev); io::export_onnx and import_onnx will throw")
  endif()
endif()
if(NOT CONVNET_TENSORBOARD STREQUAL "OFF")
  if(Protobuf_FOUND AND Protobuf_PROTOC_EXECUTABLE)
    set(CONVNET_WITH_TENSORBOARD ON)
  elseif(CONVNET_TENSORBOARD STREQUAL "ON")
    message(FATAL_ERROR "CONVNET_TENSORBOARD=ON but protobuf and protoc were not found (Debian: libprotobuf-dev protobuf-compiler)")
  else()
    message(STATUS "convnet: protobuf/protoc not found (Debian: libprotobuf-dev protobuf-compiler); TensorBoard logging will throw")
  endif()
endif()
