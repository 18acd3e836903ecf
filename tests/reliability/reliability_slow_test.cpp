// SPDX-License-Identifier: Apache-2.0
// Issue 21's reliability suite (CTest label `slow`). Figures are printed as "[figure] ..." lines and copied
// into docs/reliability.md.
//   - SIGKILL at random moments of checkpoint writes (50 kills of a process writing checkpoints back to back,
//     overwrites included) never leaves the run without a loadable, complete checkpoint; the same for 20
//     kills of a real `leseg train` writing a checkpoint every step;
//   - a 2,000-step soak of a small model: resident memory stays flat (least-squares slope reported);
//   - a scene of more than 2^24 points through voxelisation, sparse conv and devoxelisation (exact values);
//   - points at the voxel grid's limits ±2^20 (no wrap-around between the two ends), one beyond is an error.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "engine/autograd.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/error.h"
#include "engine/sparse/sparse_ops.h"
#include "tests/train/train_fixture.h"
#include "io/datasets/scene_io.h"
#include "io/loader/loader.h"
#include "train/batch.h"
#include "train/job.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using namespace leseg;
using leseg::train::testing::scratch;
using leseg::train::testing::tiny_config;
using leseg::train::testing::tiny_dataset;

namespace {

double rss_mib() {
  long pages = 0, rss = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    std::fclose(f);
  }
  return double(rss) * double(::sysconf(_SC_PAGESIZE)) / double(1 << 20);
}

double peak_rss_mib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

// Every stale *.tmp-* directory left under root (a kill that fell inside a write).
int count_tmp(const std::string& root) {
  int n = 0;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root, ec))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) ++n;
  return n;
}

// A checkpoint whose every model value is `step` (a torn write shows as a mismatch or a load error).
Checkpoint make_checkpoint(int64_t floats) {
  Checkpoint ck;
  ck.model["layer.weight"] = Tensor::zeros(Shape{floats}, DType::f32);
  ck.model["layer.bias"] = Tensor::zeros(Shape{64}, DType::f32);
  ck.optimizer["model.momentum.0"] = Tensor::zeros(Shape{floats}, DType::f32);
  return ck;
}

void set_step(Checkpoint& ck, int64_t step) {
  ck.step = step;
  for (auto* d : {&ck.model, &ck.optimizer})
    for (auto& [k, t] : *d) std::fill(t.data<float>(), t.data<float>() + t.numel(), float(step));
}

void verify_loadable(const std::string& root, int64_t* step_out) {
  std::optional<std::string> dir = latest_checkpoint(root);
  ASSERT_TRUE(dir.has_value()) << "no loadable checkpoint under " << root;
  Checkpoint c = load_checkpoint(*dir);
  for (auto* d : {&c.model, &c.optimizer})
    for (auto& [k, t] : *d) {
      std::vector<float> v = t.to_vector<float>();
      for (float x : v) ASSERT_EQ(x, float(c.step)) << *dir << " " << k << " is torn";
    }
  *step_out = c.step;
}

std::string leseg_binary() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "leseg").string();
}

}  // namespace

// Runs first in the file: the forked child only writes files (no OpenMP region is entered after the fork).
TEST(ReliabilitySlow, SigkillDuringCheckpointWritesNeverLosesTheRun) {
  const std::string root = scratch("sigkill_direct") + "/checkpoints";
  fs::create_directories(root);
  Checkpoint ck = make_checkpoint(1 << 18);  // 2 x 1 MiB: a write takes a few ms (fsyncs included)
  std::mt19937_64 rng(21);
  int64_t step = 0;
  int mid_write = 0, survived = 0;
  const int kKills = 50;
  for (int k = 0; k < kKills; ++k) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The run continues from the loaded step: new names (pruned to the newest 2, as the trainer does) and
      // every third save overwriting the newest name (the pre-/post-evaluation pair of the trainer).
      int64_t s = step;
      for (;;) {
        const bool overwrite = s > 0 && s % 3 == 0;
        if (!overwrite) ++s;
        set_step(ck, s);
        char name[32];
        std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(s));
        save_checkpoint(root, name, ck);
        std::vector<fs::path> dirs;
        for (auto& e : fs::directory_iterator(root)) {
          const std::string n = e.path().filename().string();
          if (e.is_directory() && n.rfind("step_", 0) == 0 && n.find(".tmp") == std::string::npos) dirs.push_back(e.path());
        }
        std::sort(dirs.begin(), dirs.end());
        for (size_t i = 0; i + 2 < dirs.size(); ++i) fs::remove_all(dirs[i]);
        if (overwrite) ++s;
      }
    }
    // wait for the first checkpoint of the run, then kill at a random moment
    for (int w = 0; w < 2000 && !latest_checkpoint(root); ++w) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const int stale = count_tmp(root);
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 250000)(rng)));
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFSIGNALED(st)) << "child ended on its own";
    if (count_tmp(root) > stale) ++mid_write;
    int64_t got = -1;
    verify_loadable(root, &got);
    if (HasFatalFailure()) return;
    EXPECT_GE(got, step);  // never older than what was already durable
    step = got;
    ++survived;
  }
  std::printf("[figure] SIGKILL during checkpoint writes: %d/%d kills survived (%d fell inside a write, leaving a "
              "*.tmp-* directory); run reached step %lld\n",
              survived, kKills, mid_write, static_cast<long long>(step));
  EXPECT_EQ(survived, kKills);
  EXPECT_GT(mid_write, 0) << "no kill landed inside a write: the test did not test much";
}

TEST(ReliabilitySlow, SigkillOfARealTrainingNeverLosesTheRun) {
  const std::string dir = scratch("sigkill_train");
  const std::string cfg = dir + "/tiny.yaml";
  fs::create_directories(dir);
  std::ofstream(cfg) << "seed: 1\nregime: supervised\n"
                     << "data: {root: " << tiny_dataset() << ", batch_size: 1, voxel_size: 0.2, workers: 1}\n"
                     << "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n"
                     << "optim: {name: sgd, lr: 0.05, momentum: 0.9}\n"
                     << "train: {epochs: 1000, ckpt_every: 1, eval_every: -1, log_every: 1000}\n";
  const std::string run = dir + "/run";
  const std::string bin = leseg_binary();
  ASSERT_TRUE(fs::exists(bin)) << bin;
  std::mt19937_64 rng(7);
  int survived = 0, mid_write = 0;
  int64_t last = 0;
  const int kKills = 20;
  for (int k = 0; k < kKills; ++k) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (FILE* f = std::freopen("/dev/null", "w", stdout)) (void)f;
      if (k == 0) ::execl(bin.c_str(), bin.c_str(), "train", cfg.c_str(), "--out", run.c_str(), (char*)nullptr);
      else ::execl(bin.c_str(), bin.c_str(), "train", cfg.c_str(), "--resume", run.c_str(), (char*)nullptr);
      ::_exit(127);
    }
    // kill at a random moment after the run has written one more checkpoint than it resumed from
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      std::optional<std::string> l = latest_checkpoint(run + "/checkpoints");
      if (l && load_checkpoint(*l).step > last) break;
      int st = 0;
      ASSERT_EQ(::waitpid(pid, &st, WNOHANG), 0) << "leseg train exited early (status " << st << ")";
      ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(120)) << "no checkpoint appeared";
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const int stale = count_tmp(run + "/checkpoints");
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 300000)(rng)));
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFSIGNALED(st)) << "leseg train ended on its own (status " << st << ")";
    if (count_tmp(run + "/checkpoints") > stale) ++mid_write;
    std::optional<std::string> l = latest_checkpoint(run + "/checkpoints");
    ASSERT_TRUE(l.has_value());
    Checkpoint c = load_checkpoint(*l);
    EXPECT_GE(c.step, last);
    last = c.step;
    ++survived;
  }
  // each resumed run removed the temporaries of the kill before it: at most the last kill's remain
  EXPECT_LE(count_tmp(run + "/checkpoints"), 2);
  std::printf("[figure] SIGKILL of `leseg train` (checkpoint every step): %d/%d kills survived and resumed (%d "
              "inside a write), %lld steps in all\n",
              survived, kKills, mid_write, static_cast<long long>(last));
  EXPECT_EQ(survived, kKills);
}

TEST(ReliabilitySlow, SoakOf2000StepsKeepsResidentMemoryFlat) {
  const char* env = std::getenv("LESEG_SOAK_STEPS");  // shorter runs while developing; the suite runs 2000
  const int64_t steps = env ? std::atoll(env) : 2000;
  const std::string out = scratch("soak");
  train::Config cfg = tiny_config(out);
  cfg.apply_overrides({"train.epochs=1000", "data.voxel_size=0.3", "data.workers=1"});
  train::Job job = train::build_job(cfg, train::JobKind::Train);
  // Small in-memory scenes (the first 1500 points of each training room): the soak measures the engine, the
  // trainer and the loader's per-step allocations, not the disk.
  std::vector<io::Scene> scenes;
  for (const auto& n : io::read_split(tiny_dataset(), "train")) {
    io::Scene s = io::read_scene(tiny_dataset() + "/scenes/" + n);
    const int64_t k = std::min<int64_t>(1500, s.num_points());
    for (Tensor* t : {&s.coords, &s.colors, &s.normals, &s.labels, &s.instances, &s.segments})
      if (t->defined()) *t = t->narrow(0, k).detach();
    scenes.push_back(std::move(s));
  }
  io::loader::LoaderOptions lopt;
  lopt.batch_size = 1;
  lopt.num_workers = 1;
  lopt.seed = 5;
  lopt.batch.voxel_size = 0.3;
  lopt.batch.views.enabled = false;
  train::LoaderBatchSource source(io::loader::memory_source(std::move(scenes)), lopt);
  train::TrainerOptions to = job.trainer;
  to.verbose = false;
  to.out_dir = "";  // no files: memory only
  to.epochs = 1 << 20;
  to.max_steps = steps;
  to.eval_every = -1;
  std::atomic<bool> done{false};
  std::vector<std::pair<double, double>> samples;  // (seconds, MiB)
  const auto t0 = std::chrono::steady_clock::now();
  std::thread sampler([&] {
    while (!done) {
      samples.emplace_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), rss_mib());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  train::Trainer t(*job.regime, source, nullptr, to);
  train::TrainResult r = t.run();
  done = true;
  sampler.join();
  ASSERT_EQ(r.steps, steps);
  ASSERT_GT(samples.size(), 20u);
  // least-squares slope over the last three quarters of the run (the first quarter warms caches and pools)
  const double T = samples.back().first;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, lo = 1e30, hi = 0;
  for (auto [x, y] : samples) {
    if (x < 0.25 * T) continue;
    n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
    lo = std::min(lo, y), hi = std::max(hi, y);
  }
  const double slope_per_s = (n * sxy - sx * sy) / (n * sxx - sx * sx);  // MiB / s
  const double steps_per_s = double(r.steps) / r.seconds;
  const double kib_per_step = slope_per_s / steps_per_s * 1024.0;
  std::printf("[figure] soak: %lld steps in %.1f s, RSS %.1f -> %.1f MiB over the last 3/4 (min %.1f, max %.1f), "
              "slope %.3f KiB/step (%.2f MiB per 1000 steps)\n",
              static_cast<long long>(steps), r.seconds, samples.front().second, samples.back().second, lo, hi, kib_per_step,
              kib_per_step * 1000 / 1024);
  // flat: well under one small tensor a step (a leak of a 2 KiB buffer per step would show as 2 KiB/step)
  EXPECT_LT(kib_per_step, 1.0);
  EXPECT_LT(hi - lo, 32.0);
}

TEST(ReliabilitySlow, SceneOfMoreThan2To24PointsThroughVoxelConvDevox) {
  NoGradGuard ng;
  const int64_t W = 4096, H = 4352, N = W * H;  // 17,825,792 points > 2^24 = 16,777,216
  static_assert(4096LL * 4352LL > (1LL << 24));
  const double v = 0.25;  // 4 x 4 points per voxel: points at (k + 0.5) * 0.0625 never touch a voxel face
  const auto t0 = std::chrono::steady_clock::now();
  Tensor pts = Tensor::empty(Shape{N, 3}, DType::f32);
  Tensor feats = Tensor::empty(Shape{N, 1}, DType::f32);
  {
    float* p = pts.data<float>();
    float* f = feats.data<float>();
    for (int64_t i = 0; i < N; ++i) {
      const int64_t a = i % W, b = i / W;
      p[3 * i] = float((double(a) + 0.5) * 0.0625);
      p[3 * i + 1] = float((double(b) + 0.5) * 0.0625);
      p[3 * i + 2] = 0.1f;
      f[i] = p[3 * i];  // feature = x
    }
  }
  Tensor batch = Tensor::zeros(Shape{N}, DType::i32);
  Voxelized vx = voxelize(pts, batch, feats, v);
  const int64_t M = vx.voxels.size();
  EXPECT_EQ(M, (W / 4) * (H / 4));
  ASSERT_EQ(vx.inverse.numel(), N);
  {
    const int32_t* c = vx.counts.data<int32_t>();
    for (int64_t m = 0; m < M; ++m) ASSERT_EQ(c[m], 16) << m;
  }
  // submanifold 3x3x3 conv with all-one weights, 1 -> 2 channels: an interior voxel sums its 9 in-plane
  // neighbours' mean x = 3 * (m(a-1) + m(a) + m(a+1)) = 9 m(a), m(a) = (4a + 2) * 0.0625 = the voxel's mean x
  Tensor w = Tensor::full(Shape{27, 1, 2}, 1.0, DType::f32);
  SparseTensor y = sparse_conv3d(vx.voxels, w);
  ASSERT_EQ(y.size(), M);
  Tensor back = devoxelize_nearest(y, vx.inverse);  // (N, 2)
  ASSERT_EQ(back.size(0), N);
  const float* o = back.data<float>();
  const float* p = pts.data<float>();
  int64_t checked = 0;
  for (int64_t i = 0; i < N; i += 9973) {
    const int64_t a = (i % W) / 4, b = (i / W) / 4;
    if (a == 0 || b == 0 || a == W / 4 - 1 || b == H / 4 - 1) continue;  // border voxels have fewer neighbours
    const double expect = 9.0 * (4.0 * double(a) + 2.0) * 0.0625;
    ASSERT_NEAR(o[2 * i], expect, 1e-3 * std::max(1.0, expect)) << "point " << i << " x " << p[3 * i];
    ASSERT_EQ(o[2 * i], o[2 * i + 1]);
    ++checked;
  }
  EXPECT_GT(checked, 1000);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[figure] largest scene: %lld points (2^24 + %lld) -> %lld voxels, voxelise + subm. conv 3^3 + "
              "devoxelise in %.1f s, peak RSS %.0f MiB\n",
              static_cast<long long>(N), static_cast<long long>(N - (int64_t(1) << 24)), static_cast<long long>(M), s,
              peak_rss_mib());
}

TEST(ReliabilitySlow, PointsAtTheVoxelGridLimits) {
  NoGradGuard ng;
  const double L = double(1 << 20);
  // one point per axis at each end of [-2^20, 2^20 - 1]: across the wrap-around the two ends must not be
  // neighbours (a packed key that wrapped would make them so), every other coordinate far apart
  std::vector<float> p = {
      float(L - 0.5), 0.5f, 0.5f,          float(-L + 0.5), 0.5f, 0.5f,           // x ends
      0.5f, float(L - 0.5) , 1000.5f,      0.5f, float(-L + 0.5), 1000.5f,       // y ends
      2000.5f, 0.5f, float(L - 0.5),       2000.5f, 0.5f, float(-L + 0.5),       // z ends
  };
  const int64_t n = 6;
  Tensor pts = Tensor::from_vector(p, Shape{n, 3});
  Tensor feats = Tensor::from_vector<float>({1, 10, 100, 1000, 10000, 100000}, Shape{n, 1});
  Voxelized vx = voxelize(pts, Tensor::zeros(Shape{n}, DType::i32), feats, 1.0);
  ASSERT_EQ(vx.voxels.size(), n);
  std::vector<int32_t> c = vx.voxels.coords().to_vector<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int axis = int(i / 2);
    EXPECT_EQ(c[size_t(4 * i + 1 + axis)], i % 2 == 0 ? (1 << 20) - 1 : -(1 << 20)) << "point " << i;
  }
  Tensor w = Tensor::full(Shape{27, 1, 1}, 1.0, DType::f32);
  for (int k : {3, 5}) {
    SparseConvOptions o;
    o.kernel_size = k;
    Tensor wk = Tensor::full(Shape{int64_t(k) * k * k, 1, 1}, 1.0, DType::f32);
    SparseTensor y = sparse_conv3d(vx.voxels, wk, Tensor(), o);
    std::vector<float> out = devoxelize_nearest(y, vx.inverse).to_vector<float>();
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[size_t(i)], feats.data<float>()[i]) << "K " << k << " point " << i;
  }
  (void)w;
  // one voxel beyond: an error naming the value
  Tensor beyond = Tensor::from_vector<float>({float(L + 0.5), 0.5f, 0.5f}, Shape{1, 3});
  try {
    voxelize(beyond, Tensor::zeros(Shape{1}, DType::i32), Tensor::zeros(Shape{1, 1}), 1.0);
    ADD_FAILURE() << "a point beyond 2^20 - 1 voxels must be an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("1048576"), std::string::npos) << e.what();
  }
}
