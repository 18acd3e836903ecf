// SPDX-License-Identifier: Apache-2.0
#include "engine/autograd.h"
#include "engine/profiler.h"

#include <atomic>
#include <queue>
#include <unordered_map>

#include "kernels/axpy/axpy.h"

namespace leseg {

namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_node_seq{0};
}  // namespace

Node::~Node() {
  thread_local bool draining = false;
  thread_local std::vector<std::shared_ptr<Node>> pending;
  for (auto& e : next)
    if (e.fn && e.fn.use_count() == 1) pending.push_back(std::move(e.fn));
  next.clear();
  fn = nullptr;
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    n.reset();  // its destructor only queues its own children
  }
  draining = false;
}

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }

bool needs_grad(const Tensor& t) { return t.defined() && (t.impl()->requires_grad || t.impl()->grad_fn); }

bool any_needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const auto& t : inputs)
    if (needs_grad(t)) return true;
  return false;
}

Tensor record(const char* name, const std::vector<Tensor>& inputs, std::vector<Tensor> outputs, BackwardFn fn) {
  LESEG_CHECK(!outputs.empty(), "record(", name, "): no outputs");
  if (profiler::enabled()) profiler::mark_op(name);
  if (!any_needs_grad(inputs)) return outputs[0];
  auto node = std::make_shared<Node>();
  node->name = name;
  node->seq = g_node_seq.fetch_add(1);
  node->fn = std::move(fn);
  node->device = outputs[0].device();
  for (const auto& in : inputs) {
    Edge e;
    if (needs_grad(in)) {
      if (in.impl()->grad_fn) {
        e.fn = in.impl()->grad_fn;
        e.output_nr = in.impl()->output_nr;
      } else {
        e.leaf = in.impl();
      }
    }
    node->next.push_back(e);
    node->input_shapes.push_back(in.defined() ? in.shape() : Shape{});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto& impl = outputs[i].impl();
    LESEG_CHECK(!impl->grad_fn && !impl->requires_grad, "record(", name, "): output ", i, " already has history");
    impl->grad_fn = node;
    impl->output_nr = int(i);
    node->output_shapes.push_back(outputs[i].shape());
    node->output_dtypes.push_back(outputs[i].dtype());
  }
  return outputs[0];
}

Tensor add_grads(const Tensor& a, const Tensor& b) {
  LESEG_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype() && a.device() == b.device(),
              "gradient accumulation: ", a.str(), " + ", b.str());
  if (a.dtype() == DType::f16 || a.dtype() == DType::bf16)  // half gradients: sum in f32, one rounding
    return add_grads(a.detach().to(DType::f32), b.detach().to(DType::f32)).to(a.dtype());
  Tensor r = a.detach().clone();
  int64_t n = r.numel();
  Device d = r.device();
  LESEG_DISPATCH_FLOAT(r.dtype(), "add_grads", {
    LESEG_DISPATCH_DEVICE(d, "add_grads", kernels::axpy_cpu<scalar_t>(r.data<scalar_t>(), b.data<scalar_t>(), n, scalar_t(1)),
                          kernels::axpy_cuda<scalar_t>(r.data<scalar_t>(), b.data<scalar_t>(), n, scalar_t(1), current_stream(d)));
  });
  return r;
}

namespace {
void accumulate_leaf(const std::shared_ptr<TensorImpl>& leaf, const Tensor& g) {
  Tensor lt(leaf);
  LESEG_CHECK(g.shape() == lt.shape(), "backward: gradient ", g.shape().str(), " for a leaf of shape ", lt.shape().str());
  Tensor gg = g.dtype() == lt.dtype() ? g : g.to(lt.dtype());
  if (gg.device() != lt.device()) gg = gg.to(lt.device());
  if (!leaf->grad) {
    leaf->grad = gg.detach().clone().impl();
  } else {
    leaf->grad = add_grads(Tensor(leaf->grad), gg).impl();
  }
}

struct SeqLess {
  bool operator()(const Node* a, const Node* b) const { return a->seq < b->seq; }  // max-heap on seq
};
}  // namespace

namespace {
thread_local BackwardObserver* tl_observer = nullptr;
}
void set_backward_observer(BackwardObserver* observer) { tl_observer = observer; }
BackwardObserver* backward_observer() { return tl_observer; }

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  LESEG_CHECK(roots.size() == grads.size(), "backward: ", roots.size(), " roots but ", grads.size(), " gradients");
  NoGradGuard no_grad;
  BackwardObserver* const obs = tl_observer;
  std::unordered_map<const TensorImpl*, int> leaf_deps;  // edges into each leaf (observer only)

  // 1. Collect the graph iteratively and count dependencies (edges into each node).
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::shared_ptr<Node>> keep;
  std::vector<Node*> stack;
  for (const auto& r : roots) {
    LESEG_CHECK(r.defined(), "backward: undefined root tensor");
    LESEG_CHECK(needs_grad(r), "backward: ", r.str(), " does not require grad and has no grad_fn");
    if (r.impl()->grad_fn) {
      Node* n = r.impl()->grad_fn.get();
      if (!keep.count(n)) {
        keep[n] = r.impl()->grad_fn;
        deps[n];
        stack.push_back(n);
      }
    }
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    LESEG_CHECK(!n->released, "backward: trying to backward through the graph a second time: the saved tensors of `",
                n->name, "` were freed by the first backward (pass retain_graph=true to keep them)");
    for (auto& e : n->next) {
      if (obs && e.leaf) leaf_deps[e.leaf.get()]++;
      if (!e.fn) continue;
      Node* m = e.fn.get();
      deps[m]++;
      if (!keep.count(m)) {
        keep[m] = e.fn;
        stack.push_back(m);
      }
    }
  }

  // 2. Seed root gradients.
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  auto add_to_buffer = [&](Node* n, int output_nr, const Tensor& g) {
    auto& buf = buffers[n];
    if (buf.empty()) buf.resize(n->output_shapes.size());
    LESEG_CHECK(g.shape() == n->output_shapes[output_nr], "backward: gradient of shape ", g.shape().str(),
                " for output ", output_nr, " of `", n->name, "` with shape ", n->output_shapes[output_nr].str());
    buf[output_nr] = buf[output_nr].defined() ? add_grads(buf[output_nr], g) : g;
  };
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    LESEG_CHECK(grads[i].defined() && grads[i].shape() == r.shape(), "backward: gradient ",
                grads[i].defined() ? grads[i].shape().str() : std::string("undefined"), " for root of shape ", r.shape().str());
    if (r.impl()->grad_fn) add_to_buffer(r.impl()->grad_fn.get(), r.impl()->output_nr, grads[i]);
    else accumulate_leaf(r.impl(), grads[i]);
  }

  // 3. Process ready nodes, latest-created first (deterministic).
  std::priority_queue<Node*, std::vector<Node*>, SeqLess> ready;
  for (auto& [n, d] : deps)
    if (d == 0) ready.push(n);
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    auto& buf = buffers[n];
    if (buf.empty()) buf.resize(n->output_shapes.size());
    for (size_t i = 0; i < buf.size(); ++i)
      if (!buf[i].defined()) buf[i] = Tensor::zeros(n->output_shapes[i], n->output_dtypes[i], n->device);
    LESEG_CHECK(n->fn, "backward: node `", n->name, "` has no backward function (released?)");
    std::vector<Tensor> in_grads;
    if (profiler::enabled()) {
      const std::string pname = "bwd:" + n->name;
      profiler::Scope ps(pname.c_str());
      in_grads = n->fn(buf);
    } else {
      in_grads = n->fn(buf);
    }
    buffers.erase(n);
    LESEG_CHECK(in_grads.size() == n->next.size(), "backward of `", n->name, "` returned ", in_grads.size(),
                " gradients for ", n->next.size(), " inputs");
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      if (!e.valid()) continue;
      const Tensor& g = in_grads[i];
      if (g.defined())
        LESEG_CHECK(g.shape() == n->input_shapes[i], "backward of `", n->name, "`: gradient ", i, " has shape ",
                    g.shape().str(), " but the input had ", n->input_shapes[i].str());
      if (e.leaf) {
        if (g.defined()) accumulate_leaf(e.leaf, g);
        if (obs && --leaf_deps[e.leaf.get()] == 0) obs->leaf_ready(e.leaf.get());
      } else {
        Node* m = e.fn.get();
        if (g.defined()) add_to_buffer(m, e.output_nr, g);
        if (--deps[m] == 0) ready.push(m);
      }
    }
    if (!retain_graph) {
      n->fn = nullptr;
      n->released = true;
    }
    if (obs) obs->node_done();
  }
}

}  // namespace leseg
