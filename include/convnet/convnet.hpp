// convnet: a CNN library with a CPU reference backend, hand-written CUDA kernels
// and cuDNN/cuBLAS behind one Tensor/Layer API. Include this one header.
#pragma once

#include "convnet/backend.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/data/dataset.hpp"
#include "convnet/data/idx.hpp"
#include "convnet/device.hpp"
#include "convnet/error.hpp"
#include "convnet/io/safetensors.hpp"
#include "convnet/nn/init.hpp"
#include "convnet/nn/layer.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/nn/loss.hpp"
#include "convnet/nn/optim.hpp"
#include "convnet/nn/sequential.hpp"
#include "convnet/ops.hpp"
#include "convnet/random.hpp"
#include "convnet/shape.hpp"
#include "convnet/tensor.hpp"
#include "convnet/train/schedule.hpp"
#include "convnet/train/trainer.hpp"
#include "convnet/version.hpp"
