// SPDX-License-Identifier: Apache-2.0
// train.cuda_graph: the optimizer phase of a training step captured once in a CUDA graph and replayed every step.
//
// Captured: gradient clipping (norm partials of every gradient, one finish, one scale per gradient) and every
// optimizer slot's update of every parameter (SGD, Adam, AdamW), ~2-4 launches per parameter. Not captured: the
// forward and backward (their shapes change every batch, and the sparse structure sizes are read on the host:
// docs/execution.md), the f16 loss scaler (its finite check decides on the host whether the step runs: refused), the
// schedulers and zero_grad (host-side only).
// What a replay needs that changes every step is fed to fixed addresses before the launch: each gradient is copied
// into a static buffer (the backward allocates new gradients every step: one device-to-device cudaMemcpyAsync per
// parameter, no kernel) and each group's hyper-parameters (lr, bias corrections) into a device buffer the kernels
// read (kernels/optim_graph), through a pinned staging block. The optimizer's own state (buffers, step counts) is
// the eager one, updated in place, so checkpoints and a later eager step see the same state.
// The first step runs eagerly (it creates the optimizer state); the second captures; later ones replay. Capture is
// refused with a clear error on a CPU device, with f16 loss scaling, with another optimizer or non-f32 parameters,
// when a parameter has no gradient or no optimizer state, and when anything inside the captured region would make
// the host wait for the device (require_sync_free, engine/host_sync.h).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/precision.h"
#include "train/regime.h"

namespace leseg::train {

// Runs `body` with a host-sync counter; throws naming `what` and every host synchronisation noted inside it (a
// device read, a stream sync, a structure size): such a region cannot be captured in a CUDA graph.
void require_sync_free(const std::string& what, const std::function<void()>& body);

// Throws the reason when the optimizer phase of these slots cannot be captured on `d` with `precision`
// (host_emulation: a CPU device is accepted, for the tests' emulation below).
void check_optimizer_graph_supported(std::vector<OptimizerSlot>& slots, Device d, Precision precision,
                                     bool host_emulation = false);

class OptimizerGraph {
 public:
  // host_emulation (tests only): on a CPU device, "capture" builds the same static buffers and "replay" runs the
  // recorded sequence at once through the kernels' CPU twins, so the bookkeeping (static gradients, hyper-parameters
  // read from memory, state steps, clip order) is tested bit for bit against eager steps without a GPU. The Trainer
  // never sets it: train.cuda_graph on a CPU device is refused.
  OptimizerGraph(std::vector<OptimizerSlot>& slots, double clip_max_norm, Device d, Precision precision,
                 bool host_emulation = false);
  ~OptimizerGraph();
  OptimizerGraph(const OptimizerGraph&) = delete;
  OptimizerGraph& operator=(const OptimizerGraph&) = delete;

  // One optimizer phase for the gradients now held by the parameters (clip, then every slot's update). Returns the
  // total gradient norm before clipping as a device scalar when clipping, else an undefined tensor.
  Tensor step();
  bool captured() const;
  int64_t replays() const { return replays_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<OptimizerSlot>& slots_;
  double clip_;
  Device d_;
  int64_t calls_ = 0, replays_ = 0;
};

}  // namespace leseg::train
