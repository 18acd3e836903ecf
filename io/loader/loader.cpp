// SPDX-License-Identifier: Apache-2.0
#include "io/loader/loader.h"

#include <filesystem>
#include <numeric>

#include "engine/autograd.h"
#include "io/synthetic/random.h"

namespace leseg::io::loader {

namespace fs = std::filesystem;
using synth::hash_combine;

namespace {

class DirectorySource : public SceneSource {
 public:
  DirectorySource(std::vector<std::string> dirs, SceneReadOptions read) : dirs_(std::move(dirs)), read_(read) {
    for (const std::string& d : dirs_) {
      std::string n = fs::path(d).filename().string();
      if (n.empty()) n = fs::path(d).parent_path().filename().string();
      names_.push_back(n);
    }
  }
  int64_t size() const override { return int64_t(dirs_.size()); }
  std::string name(int64_t i) const override { return names_.at(size_t(i)); }
  std::string location(int64_t i) const override { return dirs_.at(size_t(i)); }
  Scene load(int64_t i) const override {
    Scene s = read_scene(dirs_.at(size_t(i)), read_);
    s.name = names_[size_t(i)];
    return s;
  }

 private:
  std::vector<std::string> dirs_, names_;
  SceneReadOptions read_;
};

class MemorySource : public SceneSource {
 public:
  explicit MemorySource(std::vector<Scene> scenes) : scenes_(std::move(scenes)) {}
  int64_t size() const override { return int64_t(scenes_.size()); }
  std::string name(int64_t i) const override { return scenes_.at(size_t(i)).name; }
  std::string location(int64_t i) const override { return "<memory scene " + std::to_string(i) + ">"; }
  Scene load(int64_t i) const override { return scenes_.at(size_t(i)); }  // shallow: tensors are shared, never written

 private:
  std::vector<Scene> scenes_;
};

class FunctionSource : public SceneSource {
 public:
  FunctionSource(int64_t n, std::function<std::string(int64_t)> name, std::function<Scene(int64_t)> make)
      : n_(n), name_(std::move(name)), make_(std::move(make)) {}
  int64_t size() const override { return n_; }
  std::string name(int64_t i) const override { return name_(i); }
  Scene load(int64_t i) const override {
    Scene s = make_(i);
    if (s.name.empty()) s.name = name_(i);
    return s;
  }

 private:
  int64_t n_;
  std::function<std::string(int64_t)> name_;
  std::function<Scene(int64_t)> make_;
};

}  // namespace

std::shared_ptr<SceneSource> directory_source(const std::string& root, const std::string& split,
                                              const SceneReadOptions& read) {
  std::vector<std::string> dirs;
  for (const std::string& n : read_split(root, split)) dirs.push_back((fs::path(root) / "scenes" / n).string());
  return std::make_shared<DirectorySource>(std::move(dirs), read);
}

std::shared_ptr<SceneSource> directory_source(const std::vector<std::string>& scene_dirs, const SceneReadOptions& read) {
  return std::make_shared<DirectorySource>(scene_dirs, read);
}

std::shared_ptr<SceneSource> memory_source(std::vector<Scene> scenes) {
  return std::make_shared<MemorySource>(std::move(scenes));
}

std::shared_ptr<SceneSource> function_source(int64_t size, std::function<std::string(int64_t)> name,
                                             std::function<Scene(int64_t)> make) {
  LESEG_CHECK(size >= 0 && name && make, "function_source: needs a size >= 0, a name and a make function");
  return std::make_shared<FunctionSource>(size, std::move(name), std::move(make));
}

uint64_t scene_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return hash_combine(hash_combine(seed, uint64_t(epoch)), uint64_t(index));
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (shuffle) {
    synth::Rng rng(hash_combine(seed, uint64_t(epoch)), 0x0DE5);
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(rng.below(uint64_t(i + 1)))]);
  }
  return order;
}

Loader::Loader(std::shared_ptr<const SceneSource> source, LoaderOptions opt) : source_(std::move(source)), opt_(std::move(opt)) {
  LESEG_CHECK(source_ != nullptr, "Loader: no scene source");
  LESEG_CHECK(opt_.batch_size >= 1, "Loader: batch_size ", opt_.batch_size, " must be >= 1");
  LESEG_CHECK(opt_.num_workers >= 0, "Loader: num_workers ", opt_.num_workers, " must be >= 0");
  LESEG_CHECK(opt_.prefetch >= 1, "Loader: prefetch ", opt_.prefetch, " must be >= 1");
  LESEG_CHECK(opt_.shard_count >= 1 && opt_.shard_rank >= 0 && opt_.shard_rank < opt_.shard_count, "Loader: shard ",
              opt_.shard_rank, " of ", opt_.shard_count, " is not a rank of the group");
  if (opt_.labelled_per_batch > 0) {
    const int64_t L = opt_.labelled_per_batch;
    LESEG_CHECK(opt_.labels.labelled_scenes.has_value(), "Loader: labelled_per_batch = ", L,
                " needs a semi-supervised split (data.labelled_fraction < 1)");
    LESEG_CHECK(L < opt_.batch_size, "Loader: labelled_per_batch = ", L, " must be below batch_size = ",
                opt_.batch_size, " (each batch also holds unlabelled scenes)");
    for (int64_t i = 0; i < source_->size(); ++i)
      (opt_.labels.labelled_scenes->count(source_->name(i)) ? lab_ : unlab_).push_back(i);
    LESEG_CHECK(!lab_.empty(), "Loader: labelled_per_batch = ", L, " but no scene of the source is labelled");
    LESEG_CHECK(!unlab_.empty(), "Loader: labelled_per_batch = ", L, " but every scene of the source is labelled");
  }
}

Loader::~Loader() { stop_workers(); }

int64_t Loader::num_batches() const {
  const bool paired = opt_.labelled_per_batch > 0;
  const int64_t n = paired ? int64_t(unlab_.size()) : source_->size();
  const int64_t b = (paired ? opt_.batch_size - opt_.labelled_per_batch : opt_.batch_size) * opt_.shard_count;
  int64_t nb = opt_.drop_last ? n / b : (n + b - 1) / b;
  if (opt_.shard_count > 1 && !opt_.shard_keep_short && nb > 0 && n - (nb - 1) * b < opt_.shard_count) --nb;
  return nb;
}

std::vector<std::pair<int64_t, uint64_t>> Loader::batch_items(int64_t epoch, int64_t index) const {
  LESEG_CHECK(index >= 0 && index < num_batches(), "Loader: batch ", index, " outside [0, ", num_batches(), ")");
  const bool paired = opt_.labelled_per_batch > 0;
  const int64_t n = paired ? int64_t(unlab_.size()) : source_->size();
  const int64_t K = opt_.shard_count, r = opt_.shard_rank;
  const int64_t b = (paired ? opt_.batch_size - opt_.labelled_per_batch : opt_.batch_size) * K;
  const std::vector<int64_t> order = epoch == epoch_ ? order_ : epoch_order(n, opt_.seed, epoch, opt_.shuffle);
  const int64_t glo = index * b, ghi = std::min<int64_t>(glo + b, int64_t(order.size())), m = ghi - glo;
  const int64_t lo = glo + r * m / K, hi = glo + (r + 1) * m / K;  // this shard's slice of the global batch
  std::vector<std::pair<int64_t, uint64_t>> items;
  for (int64_t k = lo; k < hi; ++k) {
    const int64_t i = paired ? unlab_[size_t(order[size_t(k)])] : order[size_t(k)];
    items.emplace_back(i, scene_seed(opt_.seed, epoch, i));
  }
  if (paired) {
    const int64_t L = opt_.labelled_per_batch, nl = int64_t(lab_.size());
    const uint64_t lseed = hash_combine(opt_.seed, 0x1AB);
    for (int64_t k = 0; k < L; ++k) {
      const int64_t g = (epoch * num_batches() + index) * L * K + r * L + k;
      const std::vector<int64_t> perm = epoch_order(nl, lseed, g / nl, true);
      items.emplace_back(lab_[size_t(perm[size_t(g % nl)])], hash_combine(lseed, uint64_t(g)));
    }
  }
  return items;
}

std::vector<int64_t> Loader::batch_indices(int64_t epoch, int64_t index) const {
  std::vector<int64_t> idx;
  for (auto& [i, seed] : batch_items(epoch, index)) idx.push_back(i);
  return idx;
}

Scene Loader::load_scene(int64_t i) const {
  Scene s;
  try {
    s = source_->load(i);
  } catch (const std::exception& e) {
    LESEG_FAIL("loader: cannot read scene '", source_->name(i), "' (", source_->location(i), "): ", e.what());
  }
  if (s.name.empty()) s.name = source_->name(i);
  const LabelPolicy& lp = opt_.labels;
  if (s.labels.defined() && (lp.weak_table || lp.weak_spec)) {
    if (lp.weak_table) {
      auto it = lp.weak_table->find(s.name);
      LESEG_CHECK(it != lp.weak_table->end(), "loader: scene '", s.name, "' (", source_->location(i),
                  ") is missing from the weak label table");
      s.labels = apply_weak_labels(s.labels, it->second);
    } else {
      s.labels = apply_weak_labels(s.labels, weak_label_indices(s.labels, s.name, *lp.weak_spec, s.coords));
    }
  }
  if (lp.weak_view_spec)
    for (size_t k = 0; k < s.views.size(); ++k) {
      View& v = s.views[k];
      if (!v.gt_labels.defined()) continue;
      LESEG_CHECK(v.gt_labels.ndim() == 2 && v.gt_labels.dtype() == DType::i32, "loader: scene '", s.name, "' (",
                  source_->location(i), ") view ", k, ": label image must be (H, W) i32, got ", v.gt_labels.str());
      const Tensor flat = v.gt_labels.reshape(Shape{v.gt_labels.numel()});
      v.gt_labels = apply_weak_labels(flat, weak_label_indices(flat, s.name + "/view" + std::to_string(k), *lp.weak_view_spec))
                        .reshape(v.gt_labels.shape());
    }
  return s;
}

Batch Loader::build(int64_t epoch, int64_t index) const {
  NoGradGuard no_grad;
  const std::vector<std::pair<int64_t, uint64_t>> chosen = batch_items(epoch, index);
  if (chosen.empty()) return Batch{};  // an empty shard of a short last batch (shard_keep_short)
  std::vector<int64_t> idx;
  std::vector<Scene> scenes;
  scenes.reserve(chosen.size());
  for (auto& [i, seed] : chosen) {
    idx.push_back(i);
    scenes.push_back(load_scene(i));
  }
  std::vector<BatchItem> items;
  for (size_t k = 0; k < idx.size(); ++k) {
    const Scene& s = scenes[k];
    const bool labelled = !opt_.labels.labelled_scenes || opt_.labels.labelled_scenes->count(s.name) > 0;
    items.push_back(BatchItem{&s, labelled, chosen[k].second});
  }
  auto make = [&](const std::vector<BatchItem>& it, const BatchOptions& bo) {
    try {
      return make_batch(it, bo);
    } catch (const std::exception& e) {
      std::string names;
      for (size_t k = 0; k < idx.size(); ++k) names += (k ? ", " : "") + source_->location(idx[k]);
      LESEG_FAIL(e.what(), " [batch ", index, " of epoch ", epoch, ": ", names, "]");
    }
  };
  Batch b = make(items, opt_.batch);
  b.view_labels_weak = opt_.labels.weak_view_spec.has_value() && b.view_gt_labels.defined();
  if (opt_.two_views) {
    std::vector<BatchItem> t = items;
    for (BatchItem& it : t) it.seed = hash_combine(it.seed, 0x7EAC);
    BatchOptions bo = opt_.batch;
    bo.views.enabled = opt_.teacher_views && bo.views.enabled;
    b.teacher = std::make_shared<Batch>(make(t, bo));
  }
  return b;
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  ready_.clear();
  stop_ = false;
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop_workers();
  LESEG_CHECK(epoch >= 0, "Loader: epoch ", epoch, " must be >= 0");
  LESEG_CHECK(first_batch >= 0 && first_batch <= num_batches(), "Loader: first batch ", first_batch, " outside [0, ",
              num_batches(), "]");
  epoch_ = epoch;
  order_ = epoch_order(opt_.labelled_per_batch > 0 ? int64_t(unlab_.size()) : source_->size(), opt_.seed, epoch,
                       opt_.shuffle);
  next_claim_ = next_deliver_ = first_batch;
  end_ = num_batches();
  for (int w = 0; w < opt_.num_workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

void Loader::worker_loop() {
  for (;;) {
    int64_t j;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || next_claim_ >= end_ || next_claim_ < next_deliver_ + opt_.prefetch; });
      if (stop_ || next_claim_ >= end_) return;
      j = next_claim_++;
    }
    Slot slot;
    try {
      slot.batch = build(epoch_, j);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      ready_[j] = std::move(slot);
    }
    cv_ready_.notify_all();
  }
}

bool Loader::next(Batch& out) {
  LESEG_CHECK(epoch_ >= 0, "Loader: next() before start_epoch()");
  if (next_deliver_ >= end_) return false;
  if (workers_.empty()) {
    out = build(epoch_, next_deliver_++);
    return out.num_scenes > 0 || next(out);  // skip an empty shard
  }
  Slot slot;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_ready_.wait(lk, [&] { return ready_.count(next_deliver_) > 0; });
    auto it = ready_.find(next_deliver_);
    slot = std::move(it->second);
    ready_.erase(it);
    ++next_deliver_;
  }
  cv_work_.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  out = std::move(*slot.batch);
  return out.num_scenes > 0 || next(out);  // skip an empty shard
}

}  // namespace leseg::io::loader
