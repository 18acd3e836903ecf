// SPDX-License-Identifier: Apache-2.0
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/error.h"
#include "engine/host_sync.h"
#include "engine/nvtx.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/shape_ops.h"
#include "engine/optim/clip_grad.h"
#include "train/optimizer_graph.h"
#include "train/prefetch.h"
#include "train/structure_ahead.h"
#include "train/progress.h"
#include "train/report/tensorboard.h"

namespace fs = std::filesystem;

namespace leseg::train {

namespace {

// A kernel's std::vector working buffers ran out of CPU memory (tensor storage failures name their own sizes).
std::string out_of_memory_text() {
  const MemoryStats st = memory_stats(Device::cpu());
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "CPU out of memory (std::bad_alloc in a kernel's working buffers): leseg tensors in use %.2f MiB, "
                "peak %.2f MiB",
                double(st.in_use) / double(1 << 20), double(st.peak) / double(1 << 20));
  return buf;
}

}  // namespace

Trainer::Trainer(Regime& regime, BatchSource& train, BatchSource* val, TrainerOptions opt)
    : regime_(regime), train_(train), val_(val), opt_(std::move(opt)), scaler_(opt_.loss_scaler) {
  LESEG_CHECK(opt_.epochs >= 1, "trainer: epochs = ", opt_.epochs, " must be >= 1");
  LESEG_CHECK(opt_.accumulate >= 1, "trainer: accumulate = ", opt_.accumulate, " must be >= 1");
  LESEG_CHECK(opt_.log_every >= 1, "trainer: log_every = ", opt_.log_every, " must be >= 1");
  LESEG_CHECK(!regime_.optimizers().empty(), "trainer: regime '", regime_.name(), "' built no optimizer");
  if (opt_.distributed.comm && opt_.distributed.comm->rank() != 0) opt_.verbose = false;  // rank 0 prints
}

std::string Trainer::resolve_resume(const std::string& path) const {
  LESEG_CHECK(fs::exists(path), "--resume: '", path, "' does not exist");
  if (fs::exists(fs::path(path) / "meta.json")) return path;
  for (const fs::path& root : {fs::path(path) / "checkpoints", fs::path(path)}) {
    if (auto l = latest_checkpoint(root.string())) return *l;
  }
  LESEG_FAIL("--resume: '", path, "' is neither a checkpoint directory (meta.json) nor a run folder with checkpoints/latest");
}

std::string Trainer::save(int64_t epoch, int64_t batch_in_epoch) {
  HostSyncLabel label("checkpoint");
  Checkpoint ck;
  ck.model = regime_.state();
  for (auto& slot : regime_.optimizers()) {
    for (auto& [k, v] : slot.optimizer->state_dict()) ck.optimizer[slot.name + "." + k] = v;
    if (slot.scheduler) ck.scheduler[slot.name] = slot.scheduler->state();
  }
  if (opt_.precision == Precision::f16)
    for (auto& [k, v] : scaler_.state_dict()) ck.optimizer["loss_scaler." + k] = v;
  ck.step = step_;
  ck.epoch = epoch;
  ck.config = opt_.config;
  ck.rng["default"] = RngState::of(default_generator());
  for (auto& [name, g] : regime_.generators()) ck.rng["regime." + name] = RngState::of(*g);
  ck.extra = {{"regime", regime_.name()}, {"batch_in_epoch", batch_in_epoch}, {"best", best_}};
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(step_));
  std::string dir = save_checkpoint((fs::path(opt_.out_dir) / "checkpoints").string(), name, ck);
  prune_checkpoints();
  return dir;
}

// A process killed inside a checkpoint write leaves <name>.tmp-* (and latest.tmp-*) behind; they are never
// read. Removed when a run starts in the folder. A moved-aside "<name>.old.tmp-*" is kept while `latest` does
// not name an existing directory (it may be the only complete copy then).
void Trainer::remove_stale_temporaries() {
  const fs::path root = fs::path(opt_.out_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return;
  std::string named;
  {
    std::ifstream in(root / "latest");
    std::getline(in, named);
  }
  const bool latest_ok = !named.empty() && fs::is_directory(root / named, ec);
  std::vector<fs::path> stale;
  for (auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp-") == std::string::npos) continue;
    if (n.find(".old.tmp-") != std::string::npos && !latest_ok) continue;
    stale.push_back(e.path());
  }
  for (auto& p : stale) fs::remove_all(p, ec);
}

void Trainer::prune_checkpoints() {
  if (opt_.keep_checkpoints <= 0) return;
  fs::path root = fs::path(opt_.out_dir) / "checkpoints";
  std::vector<fs::path> dirs;
  for (auto& e : fs::directory_iterator(root)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step_", 0) == 0 && n.find(".tmp") == std::string::npos) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (size_t i = 0; i + size_t(opt_.keep_checkpoints) < dirs.size(); ++i) fs::remove_all(dirs[i]);
}

std::string Trainer::restore(const std::string& path) {
  const std::string dir = resolve_resume(path);
  Checkpoint ck = load_checkpoint(dir, Device::cpu());
  const std::string saved_regime = ck.extra.value("regime", std::string());
  LESEG_CHECK(saved_regime == regime_.name(), "--resume: checkpoint '", dir, "' was written by regime '", saved_regime,
              "', this run uses '", regime_.name(), "'");
  regime_.load(ck.model);
  if (opt_.precision == Precision::f16 && ck.optimizer.count("loss_scaler.scale")) {  // f32/bf16 checkpoints have none
    StateDict part;
    for (auto& [k, v] : ck.optimizer)
      if (k.rfind("loss_scaler.", 0) == 0) part[k.substr(12)] = v;
    scaler_.load_state_dict(part);
  }
  for (auto& slot : regime_.optimizers()) {
    StateDict part;
    const std::string p = slot.name + ".";
    for (auto& [k, v] : ck.optimizer)
      if (k.rfind(p, 0) == 0) part[k.substr(p.size())] = v;
    LESEG_CHECK(!part.empty(), "--resume: checkpoint '", dir, "' has no state for optimizer '", slot.name, "'");
    slot.optimizer->load_state_dict(part);
    if (slot.scheduler) {
      LESEG_CHECK(ck.scheduler.contains(slot.name), "--resume: checkpoint '", dir, "' has no scheduler state for '",
                  slot.name, "'");
      slot.scheduler->set_state(ck.scheduler[slot.name].get<int64_t>());
    }
  }
  auto it = ck.rng.find("default");
  if (it != ck.rng.end()) it->second.restore(default_generator());
  for (auto& [name, g] : regime_.generators()) {
    auto r = ck.rng.find("regime." + name);
    LESEG_CHECK(r != ck.rng.end(), "--resume: checkpoint '", dir, "' has no state for generator '", name, "'");
    r->second.restore(*g);
  }
  step_ = ck.step;
  start_epoch_ = ck.epoch;
  start_batch_ = ck.extra.value("batch_in_epoch", int64_t(0));
  best_ = ck.extra.value("best", nlohmann::json::object());
  // A checkpoint taken after the last batch of an epoch (batch_in_epoch == batches_per_epoch) resumes into
  // that epoch's end: its epoch-unit schedulers and evaluation still run.
  if (opt_.verbose) std::printf("resumed from %s (step %lld, epoch %lld, batch %lld)\n", dir.c_str(),
                                static_cast<long long>(step_), static_cast<long long>(start_epoch_),
                                static_cast<long long>(start_batch_));
  return dir;
}

TrainResult Trainer::run() {
  const auto t0 = std::chrono::steady_clock::now();
  TrainResult res;
  DataParallel dp(opt_.distributed, regime_);
  const bool files = !opt_.out_dir.empty() && dp.rank() == 0;  // rank 0 writes checkpoints, logs and metrics
  if (files) fs::create_directories(opt_.out_dir);
  if (!opt_.resume.empty()) res.last_checkpoint = restore(opt_.resume);
  if (files) remove_stale_temporaries();
  dp.start(opt_.config, train_.batches_per_epoch());
  if (opt_.verbose && dp.rank() == 0 && log_format() != LogFormat::Json) {  // JSON: in the CLI's "start" record
    if (opt_.precision == Precision::f16)
      std::printf("precision: f16 (autocast; f32 master weights; dynamic loss scale %g, growth every %lld clean steps)\n",
                  scaler_.scale_value(), static_cast<long long>(opt_.loss_scaler.growth_interval));
    else
      std::printf("precision: %s%s\n", precision_name(opt_.precision),
                  opt_.precision == Precision::bf16 ? " (autocast; f32 master weights and optimizer state)"
                  : opt_.precision == Precision::tf32 ? " (TF32 GEMM inputs, f32 storage)" : "");
    std::fflush(stdout);
  }
  std::optional<dist::SyncBatchNormScope> sync_bn;
  if (opt_.distributed.sync_bn) sync_bn.emplace(opt_.distributed.comm);
  dist::TrainingGroupScope group(opt_.distributed.comm);
  const auto last_good = [&] {
    return res.last_checkpoint.empty() ? std::string("no checkpoint written yet in this run")
                                       : "last good checkpoint " + res.last_checkpoint;
  };
  std::string last_batch_context, last_batch_terms;  // for the gradient check at the optimizer step
  MetricsLog log;
  if (files) log = MetricsLog((fs::path(opt_.out_dir) / "metrics.jsonl").string());
  if (files && opt_.tensorboard) {  // every metrics record also as TensorBoard scalars
    auto tb = std::make_shared<report::TensorBoardWriter>((fs::path(opt_.out_dir) / "tensorboard").string());
    log.mirror([tb](const nlohmann::json& rec) { tb->record(rec); });
  }

  const int64_t nb = train_.batches_per_epoch();
  LESEG_CHECK(nb >= 1, "trainer: the training set yields no batch");
  const int64_t steps_per_epoch = (nb + opt_.accumulate - 1) / opt_.accumulate;
  const int64_t total_steps = opt_.max_steps >= 0 ? std::min(opt_.max_steps, opt_.epochs * steps_per_epoch)
                                                  : opt_.epochs * steps_per_epoch;
  std::optional<Progress> prog;
  if (opt_.verbose) prog.emplace("train", std::max<int64_t>(total_steps - step_, 0), int(opt_.log_every));
  int64_t saved_step = opt_.resume.empty() ? -1 : step_;  // step of the newest checkpoint on disk
  auto write_checkpoint = [&](int64_t epoch, int64_t batch) {
    if (!files) return;
    res.last_checkpoint = save(epoch, batch);
    saved_step = step_;
  };
  auto run_eval = [&](int64_t epoch) {
    if (!val_) return;
    const auto te = std::chrono::steady_clock::now();
    regime_.begin_eval();
    ConfusionMatrix cm = dp.reduce(evaluate(regime_, *val_, opt_.num_classes, opt_.ignore_index, false));
    nlohmann::json rec = cm.to_json(opt_.class_names);
    const nlohmann::json extra = regime_.eval_metrics();  // named: items() of a temporary would dangle in the loop
    for (auto& [k, v] : extra.items()) rec[k] = v;
    rec["type"] = "eval";
    rec["epoch"] = epoch + 1;
    rec["step"] = step_;
    if (cm.num_valid_classes() == 0)
      std::fprintf(stderr, "warning: evaluation after epoch %lld: no validation point carries a label in [0, %d): its "
                           "mIoU scores no class\n", static_cast<long long>(epoch + 1), opt_.num_classes);
    res.last_miou = cm.miou();
    res.last_eval = rec;
    if (best_.empty() || cm.miou() > best_.value("miou", -1.0)) best_ = {{"miou", cm.miou()}, {"epoch", epoch + 1}};
    if (log.open()) log.write(rec);
    if (prog) {  // the progress line: last mIoU; evaluation time out of the step rate, the evaluations to come in the ETA
      const double es = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
      int64_t left = 0;
      for (int64_t e = epoch + 1; e < opt_.epochs; ++e)
        left += e + 1 == opt_.epochs || (opt_.eval_every > 0 && (e + 1) % opt_.eval_every == 0);
      prog->set_miou(cm.miou());
      prog->add_pause(es);
      prog->set_pending(double(left) * es);
    }
    if (opt_.verbose && log_format() == LogFormat::Json) {
      std::printf("%s\n", rec.dump().c_str());
      std::fflush(stdout);
    } else if (opt_.verbose) {
      std::printf("\n%s", cm.table(opt_.class_names).c_str());
      std::printf("epoch %lld  mIoU %.2f  (accuracy %.2f)\n", static_cast<long long>(epoch + 1), 100.0 * cm.miou(),
                  100.0 * cm.accuracy());
      if (rec.contains("miou_2d") && rec["miou_2d"].is_number())
        std::printf("epoch %lld  2D mIoU %.2f\n", static_cast<long long>(epoch + 1), 100.0 * rec["miou_2d"].get<double>());
      std::fflush(stdout);
    }
  };

  // train.prefetch: the batches come through the prefetcher, which stages batch N+1 once step N's backward is queued.
  std::unique_ptr<PrefetchingBatchSource> prefetch;
  if (opt_.prefetch) prefetch = std::make_unique<PrefetchingBatchSource>(train_, opt_.device);
  BatchSource& source = prefetch ? static_cast<BatchSource&>(*prefetch) : train_;

  // train.cuda_graph: the optimizer phase through a captured graph (refused here, before any step, where impossible).
  std::unique_ptr<OptimizerGraph> graph;
  if (opt_.cuda_graph)
    graph = std::make_unique<OptimizerGraph>(regime_.optimizers(), opt_.clip_grad_norm, opt_.device, opt_.precision);

  // Batch N + 1's sparse structure (coordinate sets, kernel maps) is built before its step from what step N's
  // network asked for, so the step itself reads no structure size on the host (train/structure_ahead.h).
  StructureAhead structure_ahead;

  // One process, one batch per optimizer step, no f16 loss scaling (its unscale decides on the host) and no optimizer
  // graph: the optimizer phase follows the batch at once, so its gradient checks are read with the loss values.
  const bool merged_reads = !dp.active() && opt_.accumulate == 1 && opt_.precision != Precision::f16 && !graph;
  std::vector<double> grad_values;  // per optimizer slot, then (with clipping) over every parameter
  bool grads_read = false;

  bool stop = false;
  int64_t epoch = start_epoch_;
  for (; epoch < opt_.epochs && !stop; ++epoch) {
    source.begin_epoch(epoch, epoch == start_epoch_ ? start_batch_ : 0);
    int64_t batch = epoch == start_epoch_ ? start_batch_ : 0;
    regime_.set_training(true);
    int pending = 0;  // batches accumulated since the last optimizer step
    double pending_loss = 0.0;
    int64_t scenes = 0, points = 0;
    std::map<std::string, double> terms_sum;
    std::map<std::string, std::pair<double, int>> stats_sum;  // regime step_stats(): sum, count
    while (!stop) {
      std::optional<Batch> b = source.next();
      if (b) {
        PrecisionScope precision_scope(opt_.precision);  // forward and backward of this batch (engine/precision.h)
        dp.inject_fault(step_);
        NvtxScope step_range("leseg::train_batch");
        std::optional<NvtxScope> phase;
        phase.emplace("leseg::forward");
        // Every error raised inside the batch (kernels, losses, device checks) names the step and its scenes.
        const auto context = [&] {
          std::string names;
          for (const auto& n : b->scene_names) names += (names.empty() ? "" : ", ") + n;
          return " (step " + std::to_string(step_ + 1) + ", epoch " + std::to_string(epoch + 1) + ", batch " +
                 std::to_string(batch) + ", scenes " + names + ")";
        };
        LossTerms lt;
        Tensor total;
        std::vector<double> term_values;
        grads_read = false;
        double total_value = 0.0;
        // The loss terms, their total and the regime's statistics are read on the host once, after the backward
        // has been queued (docs/execution.md): one read, none between the forward and the backward. Data-parallel
        // runs read them before the backward instead, as the all-reduced loss weight scales it.
        // `extra`: device scalars read in the same read (the gradient norms of a merged optimizer phase).
        const auto read_values = [&](const std::vector<Tensor>& extra) {
          std::vector<Tensor> vals;
          for (auto& [n, t] : lt.terms) vals.push_back(t.detach().reshape(Shape{1}).to(DType::f64));
          vals.push_back(total.detach().reshape(Shape{1}).to(DType::f64));
          for (const Tensor& t : extra) vals.push_back(t.detach().reshape(Shape{1}).to(DType::f64));
          {
            HostSyncLabel label("trainer: step values");
            term_values = concat(vals, 0).to_vector<double>();
          }
          grad_values.assign(term_values.end() - int64_t(extra.size()), term_values.end());
          term_values.resize(term_values.size() - extra.size());
          total_value = term_values.back();
          term_values.pop_back();
          HostSyncLabel stats_label("trainer: regime statistics");  // the regime's mechanism logging
          const nlohmann::json st = regime_.step_stats();  // named: items() of a temporary would dangle
          for (auto& [k, v] : st.items())
            if (v.is_number()) stats_sum[k].first += v.get<double>(), ++stats_sum[k].second;
        };
        const auto check_values = [&] {
          for (size_t k = 0; k < lt.terms.size(); ++k)
            LESEG_CHECK(std::isfinite(term_values[k]), "trainer: non-finite loss term '", lt.terms[k].first, "' = ",
                        term_values[k], context(), "; stopped, ", last_good());
        };
        // The step boundary (docs/execution.md): from the regime's forward to the queued backward nothing should
        // make the host wait; a HostSyncCounter reports what does (tests/train/host_sync_regimes_test.cpp).
        std::optional<SyncFreeRegion> step_region;
        try {
          structure_ahead.prepare(*b);  // before the step boundary: the structure syncs happen here
          if (!dp.active()) step_region.emplace("train_step");
          lt = regime_.step(*b, epoch, batch);
          structure_ahead.record(*b);
          total = lt.total();
          if (dp.active()) read_values({});
        } catch (const std::bad_alloc&) {
          LESEG_FAIL(out_of_memory_text(), context());
        } catch (const std::exception& e) {
          LESEG_FAIL(e.what(), context());
        }
        // Data-parallel: this rank's loss weight and the global batch's loss (train/distributed.h).
        DataParallel::Reduced red;
        if (dp.active()) {
          check_values();
          red = dp.reduce_batch(*b, total_value, term_values);
          LESEG_CHECK(std::isfinite(red.loss), "trainer: non-finite total loss ", red.loss, context(), "; stopped, ",
                      last_good());
        }
        Tensor scaled = opt_.accumulate == 1 && red.weight == 1.0 ? total : total * (red.weight / opt_.accumulate);
        if (opt_.precision == Precision::f16) scaled = scaler_.scale(scaled);  // dynamic loss scaling
        phase.reset();
        phase.emplace("leseg::backward");
        dp.before_backward(pending + 1 == opt_.accumulate);  // data-parallel: overlap the gradient all-reduces
        try {
          scaled.backward();
          step_region.reset();
          phase.reset();
          if (prefetch) prefetch->stage_next();  // batch N+1's copies overlap this step's queued kernels
          // Out-of-range labels / group ids a CUDA kernel met in this batch (one host read per step; no-op on CPU).
          check_device_errors(total.device());
          if (!dp.active()) {
            // The step's one read: its loss values and, when the optimizer phase follows at once (merged_reads), the
            // gradient norms it checks (per optimizer slot) and logs (over every clipped parameter).
            std::vector<Tensor> norms;
            if (merged_reads) {
              for (auto& slot : regime_.optimizers()) norms.push_back(grad_norm_device(slot.params));
              if (opt_.clip_grad_norm > 0) {
                std::vector<Tensor> all;
                for (auto& slot : regime_.optimizers()) all.insert(all.end(), slot.params.begin(), slot.params.end());
                norms.push_back(grad_norm_device(all));
              }
            }
            read_values(norms);
            grads_read = merged_reads;
          }
        } catch (const std::bad_alloc&) {
          LESEG_FAIL(out_of_memory_text(), context());
        } catch (const std::exception& e) {
          LESEG_FAIL(e.what(), context());
        }
        if (!dp.active()) {  // a non-finite term stops the run here, before any optimizer update
          check_values();
          red = dp.reduce_batch(*b, total_value, term_values);
          LESEG_CHECK(std::isfinite(red.loss), "trainer: non-finite total loss ", red.loss, context(), "; stopped, ",
                      last_good());
        }
        const double lv = red.loss;
        // What the optimizer step's gradient check names if a gradient is not finite (checked there, after the
        // data-parallel reduction has finished writing the gradients).
        last_batch_context = context();
        last_batch_terms.clear();
        for (size_t k = 0; k < lt.terms.size(); ++k)
          last_batch_terms += (last_batch_terms.empty() ? "" : ", ") + lt.terms[k].first + " = " + std::to_string(term_values[k]);
        for (size_t i = 0; i < lt.terms.size(); ++i) terms_sum[lt.terms[i].first] += red.terms[i] / opt_.accumulate;
        pending_loss += lv / opt_.accumulate;
        ++pending;
        ++batch;
        scenes += red.scenes;
        points += red.points;
      }
      const bool epoch_done = !b;
      if (pending == opt_.accumulate || (epoch_done && pending > 0)) {
        std::vector<Tensor> all;
        if (opt_.clip_grad_norm > 0)
          for (auto& slot : regime_.optimizers()) all.insert(all.end(), slot.params.begin(), slot.params.end());
        NvtxScope opt_range("leseg::optimizer");
        dp.reduce_gradients();  // Σ over ranks, fixed bucket order (no-op for one process)
        // f16: unscale every gradient; an inf/NaN skips this optimizer step and halves the scale.
        bool skip_step = false;
        if (opt_.precision == Precision::f16) {
          bool finite = true;
          for (auto& slot : regime_.optimizers()) finite = scaler_.unscale_(slot.params) && finite;
          scaler_.update(!finite);
          if (!finite) {
            skip_step = true;
            for (auto& slot : regime_.optimizers()) slot.optimizer->zero_grad();
            if (opt_.verbose && dp.rank() == 0)
              std::printf("\nf16: non-finite gradient at step %lld: step skipped, loss scale -> %g\n",
                          static_cast<long long>(step_ + 1), scaler_.scale_value());
          }
        }
        // Non-finite gradients: named by parameter, before the optimizer can write them into the weights.
        for (size_t si = 0; si < regime_.optimizers().size(); ++si) {
          auto& slot = regime_.optimizers()[si];
          if (skip_step) continue;
          if (grads_read) {
            if (std::isfinite(grad_values[si])) continue;
          } else {
            HostSyncLabel label("trainer: gradient check");
            if (std::isfinite(grad_norm(slot.params))) continue;
          }
          std::string pname = "?";
          for (size_t k = 0; k < slot.params.size() && pname == "?"; ++k)
            if (!std::isfinite(grad_norm({slot.params[k]}))) {
              pname = "#" + std::to_string(k);
              for (auto& [n, t] : regime_.state())
                if (t.defined() && t.storage_id() == slot.params[k].storage_id()) pname = n;
            }
          LESEG_FAIL("trainer: non-finite gradient in parameter '", pname, "' of optimizer '", slot.name,
                     "' (loss terms of the last batch: ", last_batch_terms, ")", last_batch_context, "; stopped, ",
                     last_good());
        }
        double gnorm = 0.0;
        if (graph && !skip_step) {  // clip + every slot's update, replayed (train/optimizer_graph.h)
          const Tensor n = graph->step();
          if (opt_.clip_grad_norm > 0) gnorm = n.item<double>();
          for (auto& slot : regime_.optimizers()) {
            if (slot.scheduler && !slot.per_epoch) slot.scheduler->step();
            slot.optimizer->zero_grad();
          }
        } else {
          if (opt_.clip_grad_norm > 0 && !skip_step) {
            if (grads_read) {  // the norm was read with the loss values: clip on the device, read nothing
              (void)clip_grad_norm_device_(all, opt_.clip_grad_norm);
              gnorm = grad_values.back();
            } else {
              HostSyncLabel label("trainer: clip norm");
              gnorm = clip_grad_norm_(all, opt_.clip_grad_norm);
            }
          }
          for (auto& slot : regime_.optimizers()) {
            if (skip_step) break;
            slot.optimizer->step();
            if (slot.scheduler && !slot.per_epoch) slot.scheduler->step();
            slot.optimizer->zero_grad();
          }
        }
        ++step_;
        regime_.after_optimizer_step(step_);
        dp.after_step();
        res.step_losses.push_back(pending_loss);
        if (prog) prog->step(scenes, points, pending_loss);
        if (log.open() && (step_ % opt_.log_every == 0 || step_ == total_steps)) {
          nlohmann::json rec = {{"type", "train"}, {"step", step_}, {"epoch", epoch + 1}, {"batch", batch},
                                {"loss", pending_loss}, {"scenes", scenes}, {"points", points},
                                {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
          for (auto& [n, v] : terms_sum) rec["terms"][n] = v;
          for (auto& [n, s] : stats_sum) rec["stats"][n] = s.first / s.second;
          for (auto& slot : regime_.optimizers()) rec["lr"][slot.name] = slot.optimizer->param_groups()[0].lr;
          if (opt_.clip_grad_norm > 0) rec["grad_norm"] = gnorm;
          log.write(rec);
        }
        pending = 0;
        pending_loss = 0.0;
        scenes = points = 0;
        terms_sum.clear();
        stats_sum.clear();
        if (dp.any(stop_requested())) {  // every rank stops at the same step
          if (opt_.verbose) std::printf("\nsignal %d: checkpoint at step %lld, exiting\n", stop_signal(),
                                        static_cast<long long>(step_));
          res.stopped_by_signal = true;
          write_checkpoint(epoch, batch);
          stop = true;
          break;
        }
        if (opt_.max_steps >= 0 && step_ >= opt_.max_steps) {
          write_checkpoint(epoch, batch);
          stop = true;
          break;
        }
        if (opt_.ckpt_every > 0 && step_ % opt_.ckpt_every == 0 && batch < nb) write_checkpoint(epoch, batch);
      }
      if (epoch_done) break;
    }
    if (stop) break;
    const bool last = epoch + 1 == opt_.epochs;
    const bool eval_now = val_ && opt_.eval_every >= 0 && (last || (opt_.eval_every > 0 && (epoch + 1) % opt_.eval_every == 0));
    // A checkpoint at every epoch's end by default (ckpt_every: 0) and before every evaluation, taken before the
    // epoch-unit schedulers step: resuming from it replays them and the evaluation. An evaluation failure
    // therefore never discards the trained weights.
    if ((opt_.ckpt_every == 0 || eval_now) && step_ != saved_step) write_checkpoint(epoch, batch);
    for (auto& slot : regime_.optimizers())
      if (slot.scheduler && slot.per_epoch) slot.scheduler->step();
    if (eval_now) {
      try {
        run_eval(epoch);
      } catch (const std::exception& e) {
        LESEG_FAIL("evaluation after epoch ", epoch + 1, " failed: ", e.what(), "; the trained weights are safe in ",
                   res.last_checkpoint.empty() ? std::string("(no run folder: nothing is written)") : res.last_checkpoint,
                   " (`leseg eval CONFIG --checkpoint ", opt_.out_dir, "` evaluates them once the data is fixed)");
      }
    }
    if (opt_.ckpt_every > 0 && step_ % opt_.ckpt_every == 0 && !last) write_checkpoint(epoch + 1, 0);
  }
  if (prog) prog->finish();
  res.steps = step_;
  res.epoch = epoch;
  res.finished = !stop;
  if (!stop) write_checkpoint(opt_.epochs, 0);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.comm_seconds = dp.comm_seconds();
  res.overlapped_buckets = dp.overlapped_buckets();
  if (log.open())
    log.write({{"type", "end"}, {"step", step_}, {"epoch", epoch}, {"seconds", res.seconds},
               {"stopped_by_signal", res.stopped_by_signal}, {"best", best_}, {"ranks", dp.size()},
               {"comm_seconds", res.comm_seconds}});
  return res;
}

}  // namespace leseg::train
