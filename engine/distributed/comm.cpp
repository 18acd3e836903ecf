// SPDX-License-Identifier: Apache-2.0
#include "engine/distributed/comm.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include <unistd.h>

#include "engine/distributed/backends.h"
#include "engine/error.h"

namespace leseg::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "?";
}

namespace {
struct DoneWork : Work {
  void wait() override {}
};
}  // namespace

std::unique_ptr<Work> Communicator::all_reduce_start(Tensor& t, ReduceOp op) {
  all_reduce(t, op);
  return std::make_unique<DoneWork>();
}

void Communicator::set_timeout_s(double s) {
  LESEG_CHECK(s > 0, "distributed: timeout ", s, " s must be > 0");
  timeout_s_ = s;
}

void Communicator::all_reduce(std::vector<double>& v, ReduceOp op) {
  if (v.empty()) return;
  Tensor t = Tensor::from_vector(v, Shape{int64_t(v.size())});
  all_reduce(t, op);
  std::memcpy(v.data(), t.data_ptr(), v.size() * sizeof(double));
}

void Communicator::all_reduce(std::vector<int64_t>& v, ReduceOp op) {
  if (v.empty()) return;
  Tensor t = Tensor::from_vector(v, Shape{int64_t(v.size())});
  all_reduce(t, op);
  std::memcpy(v.data(), t.data_ptr(), v.size() * sizeof(int64_t));
}

void Communicator::broadcast(std::string& s, int root) {
  std::vector<int64_t> n{int64_t(s.size())};
  Tensor len = Tensor::from_vector(n, Shape{1});
  broadcast(len, root);
  const int64_t m = len.data<int64_t>()[0];
  Tensor bytes = Tensor::zeros(Shape{std::max<int64_t>(m, 1)}, DType::u8);
  if (rank() == root) std::memcpy(bytes.data_ptr(), s.data(), size_t(m));
  broadcast(bytes, root);
  s.assign(static_cast<const char*>(bytes.data_ptr()), size_t(m));
}

std::vector<uint64_t> Communicator::all_gather(uint64_t v) {
  Tensor t = Tensor::from_vector(std::vector<int64_t>{int64_t(v)}, Shape{1});
  Tensor g = all_gather(t);
  std::vector<uint64_t> out(static_cast<size_t>(size()));
  std::memcpy(out.data(), g.data_ptr(), out.size() * sizeof(uint64_t));
  return out;
}

std::vector<std::string> Communicator::all_gather(const std::string& s) {
  std::vector<uint64_t> lens = all_gather(uint64_t(s.size()));
  uint64_t mx = 1;
  for (uint64_t l : lens) mx = std::max(mx, l);
  Tensor bytes = Tensor::zeros(Shape{int64_t(mx)}, DType::u8);
  std::memcpy(bytes.data_ptr(), s.data(), s.size());
  Tensor g = all_gather(bytes);
  std::vector<std::string> out;
  const char* p = static_cast<const char*>(g.data_ptr());
  for (size_t r = 0; r < lens.size(); ++r) out.emplace_back(p + r * mx, size_t(lens[r]));
  return out;
}

namespace {

class LocalCommunicator : public Communicator {
 public:
  std::string backend() const override { return "local"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce(Tensor& t, ReduceOp) override { check(t, "all_reduce"); }
  void broadcast(Tensor& t, int root) override {
    check(t, "broadcast");
    LESEG_CHECK(root == 0, "distributed (local): broadcast root ", root, " outside [0, 1)");
  }
  Tensor all_gather(const Tensor& t) override {
    check(t, "all_gather");
    return t.clone();
  }
  Tensor reduce_scatter(const Tensor& t, ReduceOp) override {
    check(t, "reduce_scatter");
    return t.clone();
  }
  void barrier() override {}

 private:
  static void check(const Tensor& t, const char* what) {
    LESEG_CHECK(t.defined(), "distributed (local): ", what, " of an undefined tensor");
  }
};

class HybridCommunicator : public Communicator {
 public:
  HybridCommunicator(Communicator& cpu, Communicator& gpu) : cpu_(cpu), gpu_(gpu) {
    LESEG_CHECK(cpu.size() == gpu.size() && cpu.rank() == gpu.rank(), "distributed: hybrid of rank ", cpu.rank(), "/",
                cpu.size(), " (", cpu.backend(), ") and ", gpu.rank(), "/", gpu.size(), " (", gpu.backend(), ")");
    timeout_s_ = cpu.timeout_s();
  }
  std::string backend() const override { return cpu_.backend() + "+" + gpu_.backend(); }
  int rank() const override { return cpu_.rank(); }
  int size() const override { return cpu_.size(); }
  int local_rank() const override { return cpu_.local_rank(); }
  int local_size() const override { return cpu_.local_size(); }
  void all_reduce(Tensor& t, ReduceOp op) override { pick(t).all_reduce(t, op); }
  std::unique_ptr<Work> all_reduce_start(Tensor& t, ReduceOp op) override { return pick(t).all_reduce_start(t, op); }
  void broadcast(Tensor& t, int root) override { pick(t).broadcast(t, root); }
  Tensor all_gather(const Tensor& t) override { return pick(t).all_gather(t); }
  Tensor reduce_scatter(const Tensor& t, ReduceOp op) override { return pick(t).reduce_scatter(t, op); }
  void barrier() override { cpu_.barrier(); }

 private:
  Communicator& pick(const Tensor& t) {
    LESEG_CHECK(t.defined(), "distributed: collective of an undefined tensor");
    return t.device().is_cuda() ? gpu_ : cpu_;
  }
  Communicator& cpu_;
  Communicator& gpu_;
};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

Communicator* g_sync_bn = nullptr;

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() { return std::make_unique<LocalCommunicator>(); }
std::unique_ptr<Communicator> make_hybrid_communicator(Communicator& cpu, Communicator& gpu) {
  return std::make_unique<HybridCommunicator>(cpu, gpu);
}

bool launched_multi_rank() {
  return env_int("OMPI_COMM_WORLD_SIZE", 1) > 1 || env_int("PMI_SIZE", 1) > 1 || env_int("PMIX_SIZE", 1) > 1;
}
bool mpi_built() { return LESEG_WITH_MPI != 0; }
bool nccl_built() { return LESEG_WITH_NCCL != 0; }

namespace {
std::mutex g_world_mu;
std::unique_ptr<Communicator> g_world;
std::unique_ptr<Communicator> g_nccl;
}  // namespace

Communicator& world() {
  std::lock_guard<std::mutex> lk(g_world_mu);
  if (!g_world) {
    const bool under_mpi = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
    if (under_mpi && mpi_built()) {
      g_world = make_mpi_world();
    } else {
      LESEG_CHECK(!launched_multi_rank(),
                  "distributed: this process was launched as one of several MPI ranks, but leseg was built without "
                  "MPI (install libopenmpi-dev and rebuild: scripts/setup.sh && scripts/build.sh)");
      g_world = make_local_communicator();
    }
    if (const char* t = std::getenv("LESEG_DIST_TIMEOUT"); t && *t) g_world->set_timeout_s(std::atof(t));
  }
  return *g_world;
}

Communicator& world_nccl(Device device) {
  Communicator& w = world();
  std::lock_guard<std::mutex> lk(g_world_mu);
  if (!g_nccl) {
    LESEG_CHECK(nccl_built(), "distributed: the NCCL backend is not built (CUDA build with NCCL needed)");
    g_nccl = make_nccl_communicator(w, device);
    g_nccl->set_timeout_s(w.timeout_s());
  }
  return *g_nccl;
}

int world_size_if_started() {
  std::lock_guard<std::mutex> lk(g_world_mu);
  return g_world ? g_world->size() : 1;
}

Communicator& world_for(Device device) {
  Communicator& w = world();
  if (w.size() == 1 || !device.is_cuda() || !nccl_built()) return w;  // CUDA tensors without NCCL: MPI host copies
  Communicator& n = world_nccl(device);
  static std::unique_ptr<Communicator> hybrid;
  static std::mutex mu;
  std::lock_guard<std::mutex> lk(mu);
  if (!hybrid) hybrid = make_hybrid_communicator(w, n);
  return *hybrid;
}

void abort_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  Communicator* w = nullptr;
  {
    std::lock_guard<std::mutex> lk(g_world_mu);
    w = g_world.get();
  }
  if (w && w->size() > 1) mpi_abort(code);
  std::_Exit(code);
}

void maybe_inject_fault(const Communicator& comm, int64_t step) {
  const char* f = std::getenv("LESEG_DIST_FAULT");
  if (!f || !*f) return;
  char kind[16] = {0};
  int rank = -1;
  long long at = -1;
  LESEG_CHECK(std::sscanf(f, "%15[a-z]:%d:%lld", kind, &rank, &at) == 3 &&
                  (std::strcmp(kind, "kill") == 0 || std::strcmp(kind, "hang") == 0),
              "LESEG_DIST_FAULT='", f, "': expected kill:<rank>:<step> or hang:<rank>:<step>");
  if (rank != comm.rank() || at != step) return;
  std::fprintf(stderr, "leseg: rank %d: LESEG_DIST_FAULT=%s: %s at step %lld\n", comm.rank(), f,
               kind[0] == 'k' ? "killing myself" : "hanging", at);
  std::fflush(stderr);
  if (kind[0] == 'k') std::raise(SIGKILL);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

SyncBatchNormScope::SyncBatchNormScope(Communicator* comm) : prev_(g_sync_bn) {
  g_sync_bn = comm && comm->size() > 1 ? comm : nullptr;
}
SyncBatchNormScope::~SyncBatchNormScope() { g_sync_bn = prev_; }
Communicator* sync_batch_norm_comm() { return g_sync_bn; }

namespace {
Communicator* g_group = nullptr;
}
TrainingGroupScope::TrainingGroupScope(Communicator* comm) : prev_(g_group) {
  g_group = comm && comm->size() > 1 ? comm : nullptr;
}
TrainingGroupScope::~TrainingGroupScope() { g_group = prev_; }
Communicator* training_group() { return g_group; }

}  // namespace leseg::dist
