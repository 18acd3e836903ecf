// SPDX-License-Identifier: Apache-2.0
// Loader: scenes -> Batches, with background worker threads.
//   Order: epoch e visits the dataset in a permutation drawn from Rng(hash(seed, e)) (identity without
//   shuffle), cut into batches of batch_size (the last one shorter unless drop_last). Scene i of epoch e is
//   augmented with seed hash(seed, e, i) (teacher view: a second seed derived from it), so batch j of epoch e
//   is a pure function of (source, options, e, j): identical for any worker count and any consumer speed.
//   Workers: N threads claim batch indices in order, build whole batches and park them in a reorder buffer;
//   at most `prefetch` batches are built ahead of the consumer (bounded memory). next() hands them out in
//   index order. num_workers = 0 builds each batch in the consumer's thread.
//   Errors: an exception while building batch j (unreadable file, bad scene) is stored and rethrown by the
//   next() that reaches j, with the scene's name and location in the message; later batches still arrive.
//   Shutdown: start_epoch() and the destructor stop and join the workers (pending batches are dropped).
//   Labels: a semi-supervised split (labelled scene names; the others are all -1 and flagged unlabelled) and
//   weak point labels (a saved table, or a WeakLabelSpec applied on the fly: both are deterministic).
//   Paired semi-supervised batches (labelled_per_batch = L > 0, needs a split): as MeanTeacher codebases draw
//   one labelled and one unlabelled loader per step, every batch holds batch_size − L unlabelled scenes (an
//   epoch is one pass over the unlabelled scenes, in a permutation drawn as above) followed by L labelled scenes
//   drawn from an endless stream over the labelled set: labelled draw g = (e·num_batches + j)·L + k takes
//   position g mod n_L of the permutation Rng(hash(seed, 0x1AB, g div n_L)) of the labelled scenes, augmented
//   with seed hash(seed, 0x1AB, g) (each draw sees a fresh augmentation). Still a pure function of (e, j).
//   Data-parallel shards (shard_count = K > 1, shard_rank = r): batch j of epoch e is the global batch of
//   batch_size·K scenes that one process with batch_size·K would see (same permutation, same augmentation
//   seeds), and rank r builds only its contiguous slice: of a global batch of m scenes, positions
//   [floor(r·m/K), floor((r+1)·m/K)) — batch_size each for a full batch. Paired batches take rank r's share of the
//   unlabelled part the same way and the labelled draws g = (e·num_batches + j)·L·K + r·L + k. A last global
//   batch with fewer than K scenes is dropped (every rank must take part in every step) unless shard_keep_short
//   (evaluation: every scene once; a rank whose slice is empty skips it).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/datasets/scene_io.h"
#include "io/loader/batch.h"
#include "io/loader/splits.h"
#include "io/scene.h"

namespace leseg::io::loader {

// Where scenes come from. load() is called concurrently from worker threads.
class SceneSource {
 public:
  virtual ~SceneSource() = default;
  virtual int64_t size() const = 0;
  virtual std::string name(int64_t i) const = 0;
  virtual std::string location(int64_t i) const { return name(i); }  // a file path for error messages
  virtual Scene load(int64_t i) const = 0;
};

// Scene folders in our layout: <root>/scenes/<name> for the names in <root>/<split>.txt.
std::shared_ptr<SceneSource> directory_source(const std::string& root, const std::string& split,
                                              const SceneReadOptions& read = {});
// Explicit scene folders (the scene name is the folder's last component).
std::shared_ptr<SceneSource> directory_source(const std::vector<std::string>& scene_dirs,
                                              const SceneReadOptions& read = {});
// Scenes already in memory (e.g. from the synthetic generator); shared, never modified.
std::shared_ptr<SceneSource> memory_source(std::vector<Scene> scenes);
// Scenes made on demand (e.g. synth::generate_indoor_scene(seed_i, ...)); `make` must be thread-safe.
std::shared_ptr<SceneSource> function_source(int64_t size, std::function<std::string(int64_t)> name,
                                             std::function<Scene(int64_t)> make);

struct LabelPolicy {
  std::optional<std::set<std::string>> labelled_scenes;  // semi-supervised split; nullopt = all labelled
  std::shared_ptr<const WeakLabelTable> weak_table;      // saved weak labels (takes precedence)
  std::optional<WeakLabelSpec> weak_spec;                // weak labels computed on the fly
  // Weak pixel labels of the views (ERDA's 2D variant): each view's full label image (Scene::View::gt_labels)
  // keeps max(floor(r n_c), 1) pixels per class (or N per view), drawn like the point labels with the key
  // "<scene>/view<k>", BEFORE any crop or resize, so a view's labelled pixels are the same in every epoch.
  std::optional<WeakLabelSpec> weak_view_spec;
};

struct LoaderOptions {
  int64_t batch_size = 8;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int num_workers = 2;
  int prefetch = 4;        // batches built ahead of the consumer (>= 1)
  bool two_views = false;  // MeanTeacher: Batch::teacher holds a second, independent augmentation
  bool teacher_views = false;  // pair / crop views in the teacher batch too
  int64_t labelled_per_batch = 0;  // > 0: paired semi-supervised batches (see the top of this file)
  int shard_rank = 0, shard_count = 1;  // data-parallel shard (see the top of this file)
  bool shard_keep_short = false;
  BatchOptions batch;
  LabelPolicy labels;
};

class Loader {
 public:
  Loader(std::shared_ptr<const SceneSource> source, LoaderOptions opt);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t num_scenes() const { return source_->size(); }
  int64_t num_batches() const;  // per epoch
  const LoaderOptions& options() const { return opt_; }

  // Starts (or restarts) epoch `epoch` at batch `first_batch` (resume mid-epoch); stops the previous one.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the current epoch, false at its end. Rethrows a worker's error for that batch.
  bool next(Batch& out);
  // Batch `index` of `epoch` built synchronously (same result as the workers give).
  Batch build(int64_t epoch, int64_t index) const;
  // Dataset indices of batch `index` in `epoch`.
  std::vector<int64_t> batch_indices(int64_t epoch, int64_t index) const;
  // ... and the augmentation seed of each of them.
  std::vector<std::pair<int64_t, uint64_t>> batch_items(int64_t epoch, int64_t index) const;

 private:
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };
  void stop_workers();
  void worker_loop();
  Scene load_scene(int64_t i) const;

  std::shared_ptr<const SceneSource> source_;
  LoaderOptions opt_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;  // permutation of the current epoch (of unlab_ when paired)
  std::vector<int64_t> lab_, unlab_;  // paired mode: dataset indices of the labelled / unlabelled scenes

  std::mutex mu_;
  std::condition_variable cv_work_, cv_ready_;
  int64_t next_claim_ = 0, next_deliver_ = 0, end_ = 0;
  bool stop_ = false;
  std::map<int64_t, Slot> ready_;
  std::vector<std::thread> workers_;
};

// Scene seed of dataset index i in epoch e.
uint64_t scene_seed(uint64_t seed, int64_t epoch, int64_t index);
// The permutation of epoch e (identity without shuffle).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

}  // namespace leseg::io::loader
