// SPDX-License-Identifier: Apache-2.0
// Define-by-run autograd. An op computes its outputs, then `record(...)` attaches a Node holding the
// backward closure (forward and backward side by side, micrograd-style). backward() walks the graph
// iteratively (no recursion), in a deterministic order (ready nodes by decreasing creation number),
// sums gradients on fan-out and accumulates into leaves. After a backward, closures are released (saved
// tensors freed); going through the same graph again is an error unless retain_graph was asked for.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg {

// grads[i] = dLoss/d(output i) (always defined: missing output grads are zero-filled)
// returns one gradient per input, in input order (undefined = no gradient for that input)
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads)>;

struct Edge {
  std::shared_ptr<Node> fn;           // producer of the input (non-leaf), or
  std::shared_ptr<TensorImpl> leaf;   // the leaf to accumulate into
  int output_nr = 0;
  bool valid() const { return fn || leaf; }
};

struct Node {
  std::string name;
  uint64_t seq = 0;
  std::vector<Edge> next;  // one per input of the op
  std::vector<Shape> input_shapes;
  std::vector<Shape> output_shapes;
  std::vector<DType> output_dtypes;
  Device device;
  BackwardFn fn;
  bool released = false;
  // Destroys long chains iteratively (a 1e6-op graph must not overflow the stack when freed).
  ~Node();
};

// Gradient recording switch (thread-local). NoGradGuard disables it in a scope.
bool grad_enabled();
void set_grad_enabled(bool on);
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when `t` takes part in autograd (leaf with requires_grad, or produced by a recorded op).
bool needs_grad(const Tensor& t);
// True when recording is on and any input needs a gradient.
bool any_needs_grad(const std::vector<Tensor>& inputs);

// Attach a backward Node to `outputs` (which must be freshly created by the op). No-op when nothing
// needs a gradient or recording is off. Returns outputs[0] for convenience.
Tensor record(const char* name, const std::vector<Tensor>& inputs, std::vector<Tensor> outputs, BackwardFn fn);
inline Tensor record(const char* name, const std::vector<Tensor>& inputs, Tensor output, BackwardFn fn) {
  return record(name, inputs, std::vector<Tensor>{std::move(output)}, std::move(fn));
}

// A tensor saved for backward, with the storage version at save time: get() fails clearly when the
// tensor was modified in place between forward and backward.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t) : t_(t), version_(t.defined() ? t.version() : 0) {}
  const Tensor& get(const char* op) const {
    LESEG_CHECK(!t_.defined() || t_.version() == version_, op,
                ": a tensor saved for backward was modified in place after it was saved (version ", version_,
                " -> ", t_.version(), ")");
    return t_;
  }

 private:
  Tensor t_;
  uint64_t version_ = 0;
};

// Observer of the backward passes run on this thread (engine/distributed/grad_reducer.h overlaps gradient
// all-reduces with the backward): leaf_ready(leaf) once the last gradient contribution of this backward reached
// that leaf (its .grad is final for this pass), node_done() after each node (a place to progress communication).
// nullptr = none (the default); the caller keeps it alive while installed.
struct BackwardObserver {
  virtual ~BackwardObserver() = default;
  virtual void leaf_ready(const TensorImpl* leaf) = 0;
  virtual void node_done() {}
};
void set_backward_observer(BackwardObserver* observer);
BackwardObserver* backward_observer();

// Engine entry point (Tensor::backward calls this). `roots` and `grads` pair up.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

// Sum of two gradients on the same device (new tensor; inputs unchanged). Used for fan-out and leaves.
// f16 / bf16 gradients are summed in f32 and rounded once to their dtype.
Tensor add_grads(const Tensor& a, const Tensor& b);

}  // namespace leseg
