// flowgrad: normalizing flows and flow matching in C++20. This header includes the whole public
// API; each part also has its own header:
//   flowgrad/tensor/    Tensor (views, dtypes, devices), the op API (ops.h), random numbers,
//                       small linear algebra, devices and their settings, engine counters
//   flowgrad/autograd/  Var and reverse-mode autodiff (var.h), differentiable functions
//                       (functional.h), gradient checks, the op profiler
//   flowgrad/nn/        Module and layers, initializers, optimizers and schedules, losses,
//                       checkpoints (safetensors), MNIST and IDX files, data loading, PNG output
//   flowgrad/flows/     the Flow interface and its layers (coupling, dequantization, multi-scale,
//                       Glow), image models, the model registry, 2-D flows, checks for your own
//                       layers; flows/continuous/: ODE solvers, flow matching, CNF likelihoods
//   flowgrad/train/     the training loop (metrics, checkpoints, resume), progress bars, plots
// See docs/guide.md for a walk through them, and examples/ for programs to start from.
#pragma once

#include "flowgrad/tensor/counters.h"
#include "flowgrad/tensor/device.h"
#include "flowgrad/tensor/dtype.h"
#include "flowgrad/tensor/error.h"
#include "flowgrad/tensor/linalg.h"
#include "flowgrad/tensor/ops.h"
#include "flowgrad/tensor/random.h"
#include "flowgrad/tensor/shape.h"
#include "flowgrad/tensor/tensor.h"

#include "flowgrad/autograd/functional.h"
#include "flowgrad/autograd/gradcheck.h"
#include "flowgrad/autograd/profiler.h"
#include "flowgrad/autograd/var.h"

#include "flowgrad/nn/atomic_file.h"
#include "flowgrad/nn/checkpoint.h"
#include "flowgrad/nn/data_loader.h"
#include "flowgrad/nn/ema.h"
#include "flowgrad/nn/idx.h"
#include "flowgrad/nn/image.h"
#include "flowgrad/nn/init.h"
#include "flowgrad/nn/layers.h"
#include "flowgrad/nn/losses.h"
#include "flowgrad/nn/mnist.h"
#include "flowgrad/nn/module.h"
#include "flowgrad/nn/optim.h"
#include "flowgrad/nn/safetensors.h"

#include "flowgrad/flows/aeflow.h"
#include "flowgrad/flows/check.h"
#include "flowgrad/flows/continuous/assignment.h"
#include "flowgrad/flows/continuous/cnf.h"
#include "flowgrad/flows/continuous/image_fm.h"
#include "flowgrad/flows/continuous/matching.h"
#include "flowgrad/flows/continuous/ode.h"
#include "flowgrad/flows/continuous/velocity.h"
#include "flowgrad/flows/conditional.h"
#include "flowgrad/flows/conv_chain.h"
#include "flowgrad/flows/coupling.h"
#include "flowgrad/flows/dequantization.h"
#include "flowgrad/flows/flow.h"
#include "flowgrad/flows/gated_conv.h"
#include "flowgrad/flows/glow.h"
#include "flowgrad/flows/image_flow.h"
#include "flowgrad/flows/image_model.h"
#include "flowgrad/flows/models.h"
#include "flowgrad/flows/multiscale.h"
#include "flowgrad/flows/toy2d.h"
#include "flowgrad/flows/toy_data.h"

#include "flowgrad/train/plot.h"
#include "flowgrad/train/progress.h"
#include "flowgrad/train/train_loop.h"
