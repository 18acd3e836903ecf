// SPDX-License-Identifier: Apache-2.0
// The kernel headers first: their unqualified sqrt must not see leseg::sqrt(Tensor) (declared by engine headers).
#include "kernels/clip_grad/clip_grad.h"
#include "kernels/common/sync_mode.h"
#include "kernels/optim/optim.h"
#include "kernels/optim_graph/optim_graph.h"
#include "train/optimizer_graph.h"

#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/host_sync.h"
#include "engine/optim/clip_grad.h"
#include "engine/pinned_pool.h"

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace leseg::train {

void require_sync_free(const std::string& what, const std::function<void()>& body) {
  HostSyncCounter counter(/*capture_stacks=*/false);
  body();
  LESEG_CHECK(counter.total() == 0, what, ": ", counter.total(),
              " host synchronisation(s) inside the region to capture, which a CUDA graph cannot hold:\n",
              counter.report());
}

namespace {
enum class Kind { Sgd, Adam, AdamW };
Kind kind_of(const Optimizer& o) {
  const std::string n = o.name();
  if (n == "SGD") return Kind::Sgd;
  if (n == "Adam") return Kind::Adam;
  if (n == "AdamW") return Kind::AdamW;
  LESEG_FAIL("train.cuda_graph: optimizer '", n, "' has no graph-replayable update (SGD, Adam and AdamW have)");
}
}  // namespace

void check_optimizer_graph_supported(std::vector<OptimizerSlot>& slots, Device d, Precision precision,
                                     bool host_emulation) {
  if (!(host_emulation && d.is_cpu())) {
    LESEG_CHECK(d.is_cuda(), "train.cuda_graph: needs a CUDA device, this run is on ", d.str(),
                " (set train.cuda_graph=false)");
    LESEG_CHECK(LESEG_WITH_CUDA, "train.cuda_graph: this build has no CUDA");
  }
  LESEG_CHECK(precision != Precision::f16, "train.cuda_graph: not with train.precision=f16: the loss scaler's finite "
                                           "check decides on the host whether the optimizer step runs");
  for (auto& slot : slots) {
    (void)kind_of(*slot.optimizer);
    for (auto& g : slot.optimizer->param_groups())
      for (auto& p : g.params)
        LESEG_CHECK(p.dtype() == DType::f32 && p.device() == d, "train.cuda_graph: optimizer '", slot.name,
                    "' updates ", p.str(), "; the captured update handles f32 parameters on ", d.str());
  }
}

namespace {
#if LESEG_WITH_CUDA
void cuda_ok(cudaError_t r, const char* what) {
  if (r == cudaSuccess) return;
  cudaGetLastError();
  LESEG_FAIL("train.cuda_graph: ", what, " failed: ", cudaGetErrorString(r));
}
#endif
// A CUDA kernel call, compiled only where the kernels exist (a CPU-only build never reaches it: the constructor
// refuses a CUDA device there).
#if LESEG_WITH_CUDA
#define LESEG_OG_CUDA(stmt) stmt
#else
#define LESEG_OG_CUDA(stmt) LESEG_FAIL("train.cuda_graph: this build has no CUDA")
#endif
constexpr size_t kHpSlot = 64;  // bytes per group's hyper-parameters (SgdParams<float> / AdamParams<float>)
static_assert(sizeof(kernels::SgdParams<float>) <= kHpSlot && sizeof(kernels::AdamParams<float>) <= kHpSlot);
}  // namespace

struct OptimizerGraph::Impl {
  struct Param {
    Tensor p, g;  // the parameter and its static gradient buffer
  };
  struct Update {
    Tensor p, g, a, b, c;  // parameter, static gradient, state buffers (SGD: a = momentum; Adam: a, b, c = m, v, vmax)
    size_t state_index;
    Optimizer* opt;
    size_t hp;  // group's slot in the hyper-parameter buffer
  };
  struct Group {
    Optimizer* opt;
    size_t group;
    Kind kind;
    size_t first_state;  // a parameter of the group (Adam's step count)
    bool any = false;
  };
  std::map<const void*, Tensor> static_grad;  // parameter (TensorImpl) -> static gradient
  std::vector<Param> clipped;                 // clip order: the slots' params (the eager clip's order)
  std::vector<Update> updates;
  std::vector<Group> groups;
  Tensor hp_dev, partials, clip_out;
  std::vector<unsigned char> hp_host;
  int64_t np = 0;
  bool built = false;
#if LESEG_WITH_CUDA
  cudaStream_t capture_stream = nullptr;
  cudaGraphExec_t exec = nullptr;

  ~Impl() {
    if (exec) cudaGraphExecDestroy(exec);
    if (capture_stream) cudaStreamDestroy(capture_stream);
  }
#endif

  Tensor& static_of(const Tensor& p) {
    // Keyed by the parameter (its TensorImpl), not its storage: two parameters viewing one buffer need two.
    auto it = static_grad.find(p.impl().get());
    if (it == static_grad.end()) it = static_grad.emplace(p.impl().get(), zeros_like(p.detach())).first;
    return it->second;
  }

  void build(std::vector<OptimizerSlot>& slots, double clip, Device d) {
    NoGradGuard ng;
    if (clip > 0)
      for (auto& slot : slots)
        for (auto& p : slot.params) {
          LESEG_CHECK(p.grad().defined(), "train.cuda_graph: parameter ", p.str(), " of optimizer '", slot.name,
                      "' has no gradient at capture; the captured clip includes every parameter every step");
          clipped.push_back({p, static_of(p)});
          np += kernels::norm_partials_count(p.numel());
        }
    for (auto& slot : slots) {
      Optimizer* opt = slot.optimizer.get();
      const Kind k = kind_of(*opt);
      size_t idx = 0;
      auto& gs = opt->param_groups();
      for (size_t gi = 0; gi < gs.size(); ++gi) {
        Group grp{opt, gi, k, idx};
        for (auto& p : gs[gi].params) {
          const size_t si = idx++;
          LESEG_CHECK(p.grad().defined(), "train.cuda_graph: a parameter of optimizer '", slot.name, "' (", p.str(),
                      ") has no gradient at capture; the captured update changes every parameter every step");
          auto& bufs = opt->state_buffers(si);
          auto need = [&](const char* name) {
            auto it = bufs.find(name);
            LESEG_CHECK(it != bufs.end(), "train.cuda_graph: optimizer '", slot.name, "' has no '", name,
                        "' state for ", p.str(), " at capture");
            return it->second;
          };
          Update u{p, static_of(p), {}, {}, {}, si, opt, groups.size() * kHpSlot};
          if (k == Kind::Sgd) {
            if (gs[gi].momentum != 0) u.a = need("momentum_buffer");
          } else {
            u.a = need("exp_avg");
            u.b = need("exp_avg_sq");
            if (gs[gi].amsgrad) u.c = need("max_exp_avg_sq");
            LESEG_CHECK(opt->state_step(si) == opt->state_step(grp.first_state), "train.cuda_graph: optimizer '",
                        slot.name, "' group ", gi, " has parameters at different step counts");
          }
          updates.push_back(u);
          grp.any = true;
        }
        groups.push_back(grp);
      }
    }
    hp_host.assign(groups.size() * kHpSlot, 0);
    hp_dev = Tensor::empty(Shape{int64_t(std::max<size_t>(hp_host.size(), 8) / 8)}, DType::f64, d);
    partials = Tensor::empty(Shape{std::max<int64_t>(np, 1)}, DType::f64, d);
    clip_out = Tensor::empty(Shape{2}, DType::f64, d);
  }

  // Everything captured, issued on `s` with fixed pointers only (no allocation, no host read). On the CPU (host
  // emulation, tests) the same sequence runs at once through the CPU twins.
  void record(kernels::StreamHandle s, double clip, Device d) {
    using kernels::NormKind;
    const bool cpu = d.is_cpu();
    if (clip > 0) {
      int64_t off = 0;
      for (auto& c : clipped) {
        double* part = partials.data<double>() + off;
        if (cpu) kernels::norm_partials_cpu<float>(c.g.data<float>(), c.g.numel(), NormKind::L2, part);
        else LESEG_OG_CUDA(kernels::norm_partials_cuda<float>(c.g.data<float>(), c.g.numel(), NormKind::L2, part, s));
        off += kernels::norm_partials_count(c.g.numel());
      }
      if (cpu) kernels::clip_finish_cpu(partials.data<double>(), np, NormKind::L2, clip, clip_out.data<double>());
      else LESEG_OG_CUDA(kernels::clip_finish_cuda(partials.data<double>(), np, NormKind::L2, clip, clip_out.data<double>(), s));
      for (auto& c : clipped) {
        if (cpu) kernels::scale_by_cpu<float>(c.g.data<float>(), c.g.numel(), clip_out.data<double>());
        else LESEG_OG_CUDA(kernels::scale_by_cuda<float>(c.g.data<float>(), c.g.numel(), clip_out.data<double>(), s));
      }
    }
    auto* hp = static_cast<unsigned char*>(hp_dev.data_ptr());
    for (auto& u : updates) {
      const float* g = u.g.data<float>();
      float* p = u.p.data<float>();
      auto ptr = [](Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
      if (kind_of(*u.opt) == Kind::Sgd) {
        const auto* h = reinterpret_cast<const kernels::SgdParams<float>*>(hp + u.hp);
        if (cpu) kernels::sgd_step_hp_cpu<float>(p, g, ptr(u.a), u.p.numel(), h);
        else LESEG_OG_CUDA(kernels::sgd_step_hp_cuda<float>(p, g, ptr(u.a), u.p.numel(), h, s));
      } else {
        const auto* h = reinterpret_cast<const kernels::AdamParams<float>*>(hp + u.hp);
        if (cpu) kernels::adam_step_hp_cpu<float>(p, g, ptr(u.a), ptr(u.b), ptr(u.c), u.p.numel(), h);
        else LESEG_OG_CUDA(kernels::adam_step_hp_cuda<float>(p, g, ptr(u.a), ptr(u.b), ptr(u.c), u.p.numel(), h, s));
      }
    }
  }

  // This step's hyper-parameters, as the eager SGD::step / Adam::step compute them.
  void fill_hyper() {
    for (size_t k = 0; k < groups.size(); ++k) {
      const Group& grp = groups[k];
      const ParamGroup& g = grp.opt->param_groups()[grp.group];
      unsigned char* dst = hp_host.data() + k * kHpSlot;
      if (grp.kind == Kind::Sgd) {
        const kernels::SgdParams<float> h{float(g.lr), float(g.momentum), float(g.dampening), float(g.weight_decay),
                                          g.nesterov, /*first_step=*/false};
        std::memcpy(dst, &h, sizeof h);
      } else if (grp.any) {
        const int64_t t = grp.opt->state_step(grp.first_state) + 1;
        const double bc1 = 1.0 - std::pow(g.beta1, double(t)), bc2 = 1.0 - std::pow(g.beta2, double(t));
        const kernels::AdamParams<float> h{float(g.lr), float(g.beta1), float(g.beta2), float(g.eps),
                                           float(g.weight_decay), float(g.lr / bc1), float(std::sqrt(bc2)),
                                           grp.kind == Kind::AdamW, g.amsgrad};
        std::memcpy(dst, &h, sizeof h);
      }
    }
  }
};

OptimizerGraph::OptimizerGraph(std::vector<OptimizerSlot>& slots, double clip_max_norm, Device d, Precision precision,
                               bool host_emulation)
    : slots_(slots), clip_(clip_max_norm), d_(d) {
  check_optimizer_graph_supported(slots, d, precision, host_emulation);
  impl_ = std::make_unique<Impl>();
}

OptimizerGraph::~OptimizerGraph() = default;

bool OptimizerGraph::captured() const {
#if LESEG_WITH_CUDA
  if (d_.is_cuda()) return impl_ && impl_->exec;
#endif
  return impl_ && impl_->built;
}

Tensor OptimizerGraph::step() {
  ++calls_;
  if (calls_ == 1) {  // eager: creates the optimizer state the graph will update in place
    std::vector<Tensor> all;
    for (auto& slot : slots_) all.insert(all.end(), slot.params.begin(), slot.params.end());
    Tensor n = clip_ > 0 ? clip_grad_norm_device_(all, clip_) : Tensor();
    for (auto& slot : slots_) slot.optimizer->step();
    return n;
  }
  const bool cpu = d_.is_cpu();
  std::optional<CudaDeviceGuard> dg;
  if (!cpu) dg.emplace(d_);
  // A failed build or capture leaves nothing half-made: the next step starts again from a fresh Impl (built is set
  // only once the graph is instantiated).
  if (!impl_->built) impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  if (!m.built) {
    NoGradGuard ng;
    m.build(slots_, clip_, d_);
#if LESEG_WITH_CUDA
    if (!cpu) {
      cuda_ok(cudaStreamCreateWithFlags(&m.capture_stream, cudaStreamNonBlocking), "creating the capture stream");
      cudaGraph_t graph = nullptr;
      {
        kernels::CaptureScope capturing;  // LESEG_CUDA_SYNC=1 must not synchronise inside the capture
        cuda_ok(cudaStreamBeginCapture(m.capture_stream, cudaStreamCaptureModeThreadLocal), "beginning the capture");
        try {
          require_sync_free("train.cuda_graph (optimizer phase)", [&] { m.record(m.capture_stream, clip_, d_); });
        } catch (...) {
          if (cudaStreamEndCapture(m.capture_stream, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
          cudaGetLastError();
          throw;
        }
        cuda_ok(cudaStreamEndCapture(m.capture_stream, &graph), "ending the capture");
      }
      const cudaError_t r = cudaGraphInstantiate(&m.exec, graph, 0);
      cudaGraphDestroy(graph);
      cuda_ok(r, "instantiating the graph");
    }
#endif
    m.built = true;
  }
  // Gradients into the static buffers (the backward allocated new ones), each parameter once.
  const kernels::StreamHandle compute = current_stream(d_);
  auto copy_grad = [&](const Tensor& p, Tensor& g) {
    const Tensor gr = p.grad();
    LESEG_CHECK(gr.defined() && gr.dtype() == DType::f32 && gr.numel() == p.numel() && gr.device() == d_,
                "train.cuda_graph: parameter ", p.str(), " has no f32 gradient on ", d_.str(), " at step ", calls_,
                "; the captured optimizer phase updates every parameter every step");
    if (cpu) {
      std::memcpy(g.data_ptr(), gr.data_ptr(), gr.nbytes());
      return;
    }
#if LESEG_WITH_CUDA
    cuda_ok(cudaMemcpyAsync(g.data_ptr(), gr.data_ptr(), gr.nbytes(), cudaMemcpyDeviceToDevice,
                            static_cast<cudaStream_t>(compute)),
            "copying a gradient into its static buffer");
#endif
  };
  std::map<const void*, bool> copied;
  for (auto& c : m.clipped)
    if (!copied[c.p.impl().get()]) copy_grad(c.p, c.g), copied[c.p.impl().get()] = true;
  for (auto& u : m.updates)
    if (!copied[u.p.impl().get()]) copy_grad(u.p, u.g), copied[u.p.impl().get()] = true;
  // The step's hyper-parameters (on a GPU through a pinned block, reused only after this copy ran).
  m.fill_hyper();
  if (cpu) {
    std::memcpy(m.hp_dev.data_ptr(), m.hp_host.data(), m.hp_host.size());
    m.record(compute, clip_, d_);  // host emulation: the recorded sequence runs now
  } else {
#if LESEG_WITH_CUDA
    const auto cs = static_cast<cudaStream_t>(compute);
    if (!m.hp_host.empty()) {
      PinnedBlockPool& pool = pinned_pool();
      void* pin = pool.allocate(m.hp_host.size());
      std::memcpy(pin, m.hp_host.data(), m.hp_host.size());
      cuda_ok(cudaMemcpyAsync(m.hp_dev.data_ptr(), pin, m.hp_host.size(), cudaMemcpyHostToDevice, cs),
              "copying the hyper-parameters");
      pool.record_stream(pin, compute);
      pool.free(pin);
    }
    cuda_ok(cudaGraphLaunch(m.exec, cs), "launching the graph");
#endif
  }
  ++replays_;
  for (auto& u : m.updates) {  // the state an eager step leaves
    ++u.opt->state_step(u.state_index);
    u.p.bump_version();
    for (Tensor* t : {&u.a, &u.b, &u.c})
      if (t->defined()) t->bump_version();
  }
  // A copy: the static buffer is overwritten by the next replay, and a caller may read the norm later.
  return clip_ > 0 ? m.clip_out.narrow(0, 1).reshape(Shape{}).clone() : Tensor();
}

}  // namespace leseg::train
