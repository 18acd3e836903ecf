// SPDX-License-Identifier: Apache-2.0
#include "train/prefetch.h"

#include <cstring>
#include <optional>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/stream_pool.h"

namespace leseg::train {

namespace {
std::unique_ptr<TransferModel> model_for(Device d) {
#if LESEG_WITH_CUDA
  if (d.is_cuda()) return make_cuda_transfer_model(d);
#endif
  LESEG_CHECK(d.is_cpu(), "train.prefetch: no CUDA in this build for device ", d.str());
  return std::make_unique<HostTransferModel>();
}
void* aligned_alloc_host(size_t n) { return alloc_bytes(Device::cpu(), n); }
void aligned_free_host(void* p) { free_bytes(Device::cpu(), p); }
}  // namespace

PrefetchingBatchSource::PrefetchingBatchSource(BatchSource& src, TransferModel& model, PinnedBlockPool& pool)
    : src_(src), model_(model), pool_(pool) {}

PrefetchingBatchSource::PrefetchingBatchSource(BatchSource& src, Device d)
    : src_(src),
      own_model_(model_for(d)),
      own_pool_(d.is_cpu() ? std::make_unique<PinnedBlockPool>(own_model_.get(),
                                                               PinnedBlockPool::System{&aligned_alloc_host,
                                                                                       &aligned_free_host})
                           : nullptr),
      model_(*own_model_),
      pool_(own_pool_ ? *own_pool_ : pinned_pool()) {}

// A staged batch that is dropped (epoch restart, destruction) waits for its copies first: its device tensors are
// freed here, and a model whose memory is freed at once (the CPU's) must not let a queued copy write into it later.
void PrefetchingBatchSource::drop_staged() {
  if (!staged_) return;
  if (staged_->done) {
    model_.wait(staged_->done);
    model_.release(staged_->done);
  }
  staged_.reset();
}

// A destructor must not throw: after a device fault (a sticky CUDA error) the wait fails, and throwing here, while
// the fault's own exception unwinds, would end the process and lose that error. The staged tensors are then freed
// without waiting; the context is unusable anyway.
PrefetchingBatchSource::~PrefetchingBatchSource() {
  try {
    drop_staged();
  } catch (...) {
    staged_.reset();
  }
}

Tensor PrefetchingBatchSource::stage(const Tensor& t) {
  if (!t.defined()) return t;
  const Device d = model_.device();
  const size_t n = t.nbytes();
  if (n == 0) return Tensor::empty(t.shape(), t.dtype(), d);  // nothing to copy (and no storage to record)
  Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
  void* p = pool_.allocate(n);
  std::memcpy(p, host.data_ptr(), n);
  Tensor dst;
  {
    // Allocated on the copy stream: the block is ordered after that stream's earlier work, and record_stream on the
    // compute stream keeps it from being reused before the compute work queued before its free has run.
    StreamGuard g(d, model_.copy_stream());
    dst = Tensor::empty(t.shape(), t.dtype(), d);
  }
  record_stream(dst, model_.compute_stream());
  model_.copy_async(dst.data_ptr(), p, n, model_.copy_stream());
  std::optional<CudaDeviceGuard> dg;
  if (d.is_cuda()) dg.emplace(d);  // the pool records its event on the copy stream of d
  pool_.record_stream(p, model_.copy_stream());
  pool_.free(p);  // cached again once the copy queued above has run
  return dst;
}

void PrefetchingBatchSource::stage_batch(Batch& b, std::pair<Tensor, Tensor>& input) {
  for (Tensor* t : {&b.inverse, &b.voxel_counts, &b.voxel_labels, &b.points, &b.point_batch, &b.point_feats, &b.labels,
                    &b.pseudo_labels, &b.point_sam_ids, &b.segments, &b.pairs, &b.view_scene, &b.view_source, &b.images,
                    &b.view_clip_labels, &b.view_sam_masks, &b.view_gt_labels, &b.view_sam_features,
                    &b.view_clip_features, &b.caption_scene, &b.caption_objects, &b.caption_object_ids,
                    &b.caption_object_view, &b.unlabelled_points, &b.unlabelled_voxels, &b.unlabelled_pixels})
    *t = stage(*t);
  if (b.input.defined()) {
    input = {stage(b.input.coords()), stage(b.input.feats())};
    b.input = SparseTensor();
  }
}

void PrefetchingBatchSource::stage_next() {
  if (staged_ || ended_) return;
  std::optional<Batch> b = src_.next();
  if (!b) {
    ended_ = true;
    return;
  }
  NoGradGuard ng;
  staged_.emplace();
  Staged& s = *staged_;
  s.batch = std::move(*b);
  // The host original stays with the staged batch (Batch::host()): what a regime derives from it is read there.
  if (!s.batch.host_copy) s.batch.host_copy = std::make_shared<const Batch>(s.batch);
  stage_batch(s.batch, s.inputs[0]);
  if (s.batch.teacher) {  // a copy: the loader's teacher batch is left as it was
    s.batch.teacher = std::make_shared<Batch>(*s.batch.teacher);
    if (!s.batch.teacher->host_copy) s.batch.teacher->host_copy = std::make_shared<const Batch>(*s.batch.teacher);
    stage_batch(*s.batch.teacher, s.inputs[1]);
  }
  s.done = model_.record(model_.copy_stream());
  ++batches_staged_;
}

void PrefetchingBatchSource::begin_epoch(int64_t epoch, int64_t start) {
  drop_staged();
  ended_ = false;
  src_.begin_epoch(epoch, start);
}

std::optional<Batch> PrefetchingBatchSource::next() {
  if (!staged_) stage_next();
  if (!staged_) return std::nullopt;
  Staged s = std::move(*staged_);
  staged_.reset();
  model_.stream_wait(model_.compute_stream(), s.done);  // the compute stream's next work runs after the copies
  model_.release(s.done);
  NoGradGuard ng;
  if (s.inputs[0].first.defined())
    s.batch.input = SparseTensor(s.inputs[0].first, s.inputs[0].second, 1, s.batch.num_scenes);
  if (s.inputs[1].first.defined())
    s.batch.teacher->input = SparseTensor(s.inputs[1].first, s.inputs[1].second, 1, s.batch.teacher->num_scenes);
  return std::move(s.batch);
}

}  // namespace leseg::train
