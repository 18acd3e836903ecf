// SPDX-License-Identifier: Apache-2.0
// leseg_baselines: the leseg side of the framework-baseline harness (benchmarks/baselines/run.py drives it; see
// docs/benchmarks.md). A long-lived process so that no process start or input parsing ever sits inside a timed
// region: the driver sends one command per line on stdin and reads one reply line ("ok ..." or "err <message>").
//   room <target_voxels> <dir>         ScanNet-like synthetic room (io/synthetic) voxelised to >= target voxels:
//                                      writes coords.npy (M,4 i32), feats.npy (M,3 f32), labels.npy (M, i64)
//                                      -> "ok <M> <voxel_size>"
//   coarse <dir>                       writes coarse_coords.npy: the stride-2 set of coords.npy in leseg's order
//   setup <kind> <dir> [args...]       loads the case's inputs, runs it once, writes leseg_<name>.npy outputs
//   run <n>                            n timed repetitions of the current case -> "ok <s_1> ... <s_n>" (seconds)
//   mem                                one repetition; "ok <rss_peak_MiB> <allocator_peak_MiB>" where the RSS peak
//                                      is VmHWM after malloc_trim(0) and resetting it (/proc/self/clear_refs 5)
//                                      minus VmRSS before
//   device <cpu|cuda[:i]>             where the following cases run (default cpu)
//   precision <f32|tf32|bf16|f16>      train.precision of the following sparse-conv cases (engine/precision.h;
//                                      outputs are written as f32)
//   conv_variant <auto|name>           sparse-conv variant of every conv (engine/sparse/conv_autotune.h)
//   threads <n>                        omp_set_num_threads(n) (rows that run at another thread count)
//   quit
// Kinds: kmap <K> <stride> | conv <subm3|down2|up2> <bwd 0|1> | loss <ce|soft_ce|kl|entropy> |
//        segment <sum|mean|max|vote> | attn | train <model> <weights.safetensors> | deeplab <weights.safetensors>
// Threads: OpenMP reads OMP_NUM_THREADS (the driver sets it to the same count as torch.set_num_threads).
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include <malloc.h>
#include <omp.h>

#include "benchmarks/baselines/case_io.h"
#include "benchmarks/common/synthetic_room.h"
#include "engine/allocator.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/ops/attention.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/ops/segment.h"
#include "engine/optim/sgd.h"
#include "engine/precision.h"
#include "engine/sparse/conv_autotune.h"
#include "engine/sparse/sparse_ops.h"
#include "io/synthetic/generator.h"
#include "engine/ops/linalg.h"
#include "models/deeplabv3.h"
#include "models/heads.h"
#include "models/registry.h"

using namespace leseg;
using baselines::read_case_array;

namespace {

// ---- room -----------------------------------------------------------------------------------------------------
// The dense synthetic room of the training-step benchmark (benchmarks/common/synthetic_room.h); larger targets
// get denser points, small rooms (the slow test's) start from coarser voxels so that they stay small.
std::string cmd_room(int64_t target, const std::string& dir) {
  const io::Scene scene = bench::dense_room_scene(target > 250000 ? 6000.0 * double(target) / 150000.0 : 6000);
  const bench::SyntheticRoom r = bench::voxelize_room(scene, target, target < 60000 ? 0.2 : 0.05);
  baselines::write_case(dir, {{"coords", r.coords}, {"feats", r.feats}, {"labels", r.labels}});
  std::ostringstream s;
  s << "ok " << r.coords.size(0) << " " << r.voxel_size;
  return s.str();
}

std::string cmd_coarse(const std::string& dir) {
  const Tensor coords = read_case_array(dir, "coords", DType::i32);
  SparseTensor x(coords, Tensor::zeros(Shape{coords.size(0), 1}));
  auto set = x.manager()->downsample(1);
  baselines::write_case(dir, {{"coarse_coords", set->coords.clone()}});
  std::ostringstream s;
  s << "ok " << set->size();
  return s.str();
}

// ---- cases ------------------------------------------------------------------------------------------------------
std::function<void()> g_once;  // one repetition of the current case
Device g_dev = Device::cpu();  // `device <cpu|cuda[:i]>`: where the cases run (inputs are read, then moved)

Tensor input(const std::string& dir, const std::string& name, std::optional<DType> dtype = std::nullopt) {
  return read_case_array(dir, name, dtype).to(g_dev);
}

Precision g_prec = Precision::f32;  // `precision <p>`: the sparse-conv cases' train.precision

void out(const std::string& dir, const std::string& name, const Tensor& t) {
  const bool half = t.dtype() == DType::bf16 || t.dtype() == DType::f16;
  io::write_npy(baselines::case_path(dir, "leseg_" + name), half ? t.detach().to(DType::f32) : t.detach());
}

Tensor grad_leaf(const Tensor& t) { return t.detach().clone().requires_grad_(true); }

// Kernel-map build from raw coordinates: a fresh manager (coordinate set + hash table) and the map, as a network's
// first layer pays it. Outputs the pairs (in, out, k) of the map, and for stride 2 the output coordinates.
void setup_kmap(const std::string& dir, int K, int stride) {
  const Tensor coords = input(dir, "coords", DType::i32);
  const Tensor dummy = Tensor::zeros(Shape{coords.size(0), 1}, DType::f32, g_dev);
  auto build = [coords, dummy, K, stride] {
    SparseTensor x(coords, dummy);
    return std::make_pair(x, x.manager()->kernel_map(1, stride == 1 ? 1 : 2, K, 1));
  };
  auto [x, map] = build();
  std::vector<int64_t> kk(size_t(map->num_pairs()));
  for (size_t k = 0; k + 1 < map->offsets.size(); ++k)
    for (int64_t p = map->offsets[k]; p < map->offsets[k + 1]; ++p) kk[size_t(p)] = int64_t(k);
  out(dir, "kmap_in", map->in_idx);
  out(dir, "kmap_out", map->out_idx);
  out(dir, "kmap_k", Tensor::from_vector(kk, Shape{int64_t(kk.size())}));
  if (stride == 2) out(dir, "kmap_out_coords", x.manager()->find(2)->coords);
  g_once = [build] { (void)build(); };
}

// One sparse conv (no bias): subm3 (K=3 stride 1), down2 (K=2 stride 2), up2 (K=2 transposed, coarse -> fine on
// the cached down map). x.npy on the input set (coarse_coords.npy order for up2), w.npy (K^3, Cin, Cout),
// gy.npy the output gradient when bwd.
void setup_conv(const std::string& dir, const std::string& mode, bool bwd) {
  const Tensor coords = input(dir, "coords", DType::i32);
  const Tensor xf = input(dir, "x", DType::f32);
  const Tensor w = grad_leaf(input(dir, "w", DType::f32));
  const Tensor gy = bwd ? input(dir, "gy", DType::f32) : Tensor();
  SparseConvOptions o;
  SparseTensor x;
  if (mode == "subm3") {
    x = SparseTensor(coords, grad_leaf(xf));
  } else if (mode == "down2") {
    o.kernel_size = 2;
    o.stride = 2;
    x = SparseTensor(coords, grad_leaf(xf));
  } else if (mode == "up2") {
    o.kernel_size = 2;
    o.stride = 2;
    o.transposed = true;
    SparseTensor fine(coords, Tensor::zeros(Shape{coords.size(0), 1}, DType::f32, g_dev));
    auto coarse = fine.manager()->downsample(1);
    LESEG_CHECK(coarse->size() == xf.size(0), "conv up2: x.npy has ", xf.size(0), " rows, the coarse set ",
                coarse->size());
    x = SparseTensor(coarse, grad_leaf(xf), fine.manager());
  } else {
    LESEG_CHECK(false, "conv: unknown mode ", mode);
  }
  // Map built (and cached) outside the timed region, as spconv's indice_dict and the torch baseline's map.
  (void)x.manager()->kernel_map(mode == "up2" ? 1 : 1, mode == "subm3" ? 1 : 2, o.kernel_size, 1);
  const Precision prec = g_prec;
  auto step = [x, w, gy, o, bwd, prec]() {
    PrecisionScope ps(prec);
    const_cast<Tensor&>(x.feats()).zero_grad();
    const_cast<Tensor&>(w).zero_grad();
    SparseTensor y = sparse_conv3d(x, w, Tensor(), o);
    if (bwd) y.feats().backward(gy.dtype() == y.feats().dtype() ? gy : gy.to(y.feats().dtype()));
    return y;
  };
  SparseTensor y = step();
  out(dir, "y", y.feats());
  if (mode == "down2") out(dir, "y_coords", y.coords());
  if (bwd) {
    out(dir, "gx", x.feats().grad());
    out(dir, "gw", w.grad());
  }
  g_once = [step] { (void)step(); };
}

// Fused losses, forward + backward (incoming gradient 1).
void setup_loss(const std::string& dir, const std::string& which) {
  const Tensor z = grad_leaf(input(dir, "logits", DType::f32));
  Tensor labels, target, zq;
  if (which == "ce") labels = input(dir, "labels", DType::i64);
  if (which == "soft_ce") target = input(dir, "target", DType::f32);
  if (which == "kl") zq = grad_leaf(input(dir, "logits_q", DType::f32));
  LESEG_CHECK(which == "ce" || which == "soft_ce" || which == "kl" || which == "entropy", "loss: unknown ", which);
  auto step = [=]() {
    const_cast<Tensor&>(z).zero_grad();
    if (zq.defined()) const_cast<Tensor&>(zq).zero_grad();
    Tensor l;
    if (which == "ce") l = cross_entropy(z, labels);
    else if (which == "soft_ce") l = soft_cross_entropy(z, target, /*stop_grad_target=*/true);
    else if (which == "kl") l = kl_div(z, zq, 1.0, KLDirection::PQ, KLReduction::BatchMean);
    else l = entropy(z);
    l.backward();
    return l;
  };
  Tensor l = step();
  out(dir, "loss", l.reshape(Shape{1}));
  out(dir, "grad", z.grad());
  if (zq.defined()) out(dir, "grad_q", zq.grad());
  g_once = [step] { (void)step(); };
}

// Segment reductions (x (N, C), group (N,) i64 in [0, G)) forward + backward, and the mode vote (no gradient).
void setup_segment(const std::string& dir, const std::string& op) {
  const Tensor group = input(dir, "group", DType::i64);
  const Tensor G_t = input(dir, "num_groups", DType::i64);
  const int64_t G = G_t.item<int64_t>();
  if (op == "vote") {
    const Tensor labels = input(dir, "labels", DType::i64);
    const int64_t C = input(dir, "num_classes", DType::i64).item<int64_t>();
    auto step = [=] { return vote_mode(group, labels, G, C, -1); };
    VoteResult r = step();
    out(dir, "y", r.group_mode);
    g_once = [step] { (void)step(); };
    return;
  }
  const Tensor x = grad_leaf(input(dir, "x", DType::f32));
  const Tensor gy = input(dir, "gy", DType::f32);
  LESEG_CHECK(op == "sum" || op == "mean" || op == "max", "segment: unknown op ", op);
  auto step = [=] {
    const_cast<Tensor&>(x).zero_grad();
    Tensor y = op == "sum" ? segment_sum(x, group, G) : op == "mean" ? segment_mean(x, group, G) : segment_max(x, group, G);
    y.backward(gy);
    return y;
  };
  Tensor y = step();
  out(dir, "y", y);
  out(dir, "gx", x.grad());
  g_once = [step] { (void)step(); };
}

// Varlen self-attention q, k, v (T, H, D), cu (B+1) i64, forward + backward with gy.
void setup_attn(const std::string& dir) {
  const Tensor q = grad_leaf(input(dir, "q", DType::f32));
  const Tensor k = grad_leaf(input(dir, "k", DType::f32));
  const Tensor v = grad_leaf(input(dir, "v", DType::f32));
  const Tensor cu = input(dir, "cu", DType::i64);
  const Tensor gy = input(dir, "gy", DType::f32);
  auto step = [=] {
    for (const Tensor* t : {&q, &k, &v}) const_cast<Tensor&>(*t).zero_grad();
    Tensor y = attention(q, k, v, cu, cu);
    y.backward(gy);
    return y;
  };
  Tensor y = step();
  out(dir, "y", y);
  out(dir, "gq", q.grad());
  out(dir, "gk", k.grad());
  out(dir, "gv", v.grad());
  g_once = [step] { (void)step(); };
}

// Attention against PyTorch SDPA (issue 17): q (Tq, H, D), k, v (Tk, H, D), cu_q, cu_k (B+1) i64, gy; inputs
// stored f32, computed in bf16 (the tensor-core variant's dtype; the reference variant reads the same bf16),
// forward + backward; outputs written as f32. variant: tensor_core | reference.
void setup_sdpa(const std::string& dir, const std::string& variant) {
  LESEG_CHECK(variant == "tensor_core" || variant == "reference", "sdpa: unknown variant ", variant);
  auto bf = [&](const char* n) { return grad_leaf(input(dir, n, DType::f32).to(DType::bf16)); };
  const Tensor q = bf("q"), k = bf("k"), v = bf("v");
  const Tensor cu_q = input(dir, "cu_q", DType::i64), cu_k = input(dir, "cu_k", DType::i64);
  const Tensor gy = input(dir, "gy", DType::f32).to(DType::bf16);
  AttentionOptions opts;
  opts.variant = variant == "tensor_core" ? AttentionVariant::tensor_core : AttentionVariant::reference;
  auto step = [=] {
    for (const Tensor* t : {&q, &k, &v}) const_cast<Tensor&>(*t).zero_grad();
    Tensor y = attention(q, k, v, cu_q, cu_k, opts);
    y.backward(gy);
    return y;
  };
  Tensor y = step();
  out(dir, "y", y.to(DType::f32));
  out(dir, "gq", q.grad().to(DType::f32));
  out(dir, "gk", k.grad().to(DType::f32));
  out(dir, "gv", v.grad().to(DType::f32));
  g_once = [step] { (void)step(); };
}

// One training step: backbone + 20-class ProjectionHead (bias), CE (ignore -1), backward, SGD (lr 0.01, momentum
// 0.9, weight decay 1e-4). Weights from `weights` (written here, from the seed-0 initialisation, when absent:
// "backbone.<name>" and "head.<name>"), so the baseline loads the same numbers. A fresh SparseTensor (and so
// fresh coordinate sets and kernel maps) every step, as the data loader gives.
struct TrainState {
  models::Backbone b;
  std::shared_ptr<models::ProjectionHead> head;
  std::unique_ptr<SGD> opt;
  Tensor coords, feats, labels;
};
std::shared_ptr<TrainState> g_train;

void setup_train(const std::string& dir, const std::string& model, const std::string& weights) {
  auto st = std::make_shared<TrainState>();
  models::ModelOptions mo;
  st->b = models::create_backbone(model, mo);
  LESEG_CHECK(st->b.minkunet, "train: ", model, " is not a MinkUNet");
  Generator gen(1);
  st->head = std::make_shared<models::ProjectionHead>(st->b.out_channels, 20, true, gen);
  if (!std::filesystem::exists(weights)) {
    StateDict sd;
    for (auto& [n, t] : st->b.module->state_dict()) sd["backbone." + n] = t;
    for (auto& [n, t] : st->head->state_dict()) sd["head." + n] = t;
    const auto& c = st->b.minkunet->config();
    std::ostringstream layers, planes;
    for (int i = 0; i < 8; ++i) {
      layers << (i ? "," : "") << c.layers[i];
      planes << (i ? "," : "") << c.planes[i];
    }
    save_safetensors(weights, sd,
                     {{"model", model}, {"layers", layers.str()}, {"planes", planes.str()},
                      {"in_channels", std::to_string(c.in_channels)}, {"init_dim", std::to_string(c.init_dim)},
                      {"stem_kernel", std::to_string(c.stem_kernel)}, {"num_classes", "20"}});
  }
  const SafetensorsContent w = load_safetensors(weights);
  StateDict bsd, hsd;
  for (auto& [n, t] : w.tensors) {
    if (n.rfind("backbone.", 0) == 0) bsd[n.substr(9)] = t;
    else if (n.rfind("head.", 0) == 0) hsd[n.substr(5)] = t;
  }
  st->b.module->load_state_dict(bsd);
  st->head->load_state_dict(hsd);
  st->b.module->to(g_dev);
  st->head->to(g_dev);
  st->b.module->train();
  st->head->train();
  std::vector<Tensor> params = st->b.module->parameters();
  for (const Tensor& p : st->head->parameters()) params.push_back(p);
  ParamGroup hyper;
  hyper.lr = 0.01;
  hyper.momentum = 0.9;
  hyper.weight_decay = 1e-4;
  st->opt = std::make_unique<SGD>(params, hyper);
  st->coords = input(dir, "coords", DType::i32);
  st->feats = input(dir, "feats", DType::f32);
  st->labels = input(dir, "labels", DType::i64);
  g_train = st;
  auto step = [st](bool record, const std::string& d) {
    SparseTensor x(st->coords, st->feats);
    Tensor logits = st->head->forward(st->b.minkunet->forward(x).feats());
    Tensor l = cross_entropy(logits, st->labels);
    st->opt->zero_grad();
    l.backward();
    if (record) {
      out(d, "loss", l.reshape(Shape{1}));
      out(d, "logits", logits);
      StateDict g;
      for (auto& [n, p] : st->b.module->named_parameters()) g["backbone." + n] = p.grad();
      for (auto& [n, p] : st->head->named_parameters()) g["head." + n] = p.grad();
      save_safetensors((std::filesystem::path(d) / "leseg_grads.safetensors").string(), g);
    }
    st->opt->step();
  };
  step(true, dir);
  g_once = [step] { step(false, ""); };
}

// DeepLabV3-R50 (output stride 8, 21 classes, dropout 0 so both sides compute the same function) training step:
// images.npy (N, 3, H, W) f32, labels2d.npy (N, H, W) i64; CE over all pixels, backward, SGD as above. Weights
// from `weights` (written from leseg's seed-0 initialisation when absent) under torchvision's names.
struct DeepLabState {
  std::shared_ptr<models::DeepLabV3> m;
  std::unique_ptr<SGD> opt;
  Tensor images, labels;
};
std::shared_ptr<DeepLabState> g_deeplab;

void setup_deeplab(const std::string& dir, const std::string& weights) {
  auto st = std::make_shared<DeepLabState>();
  models::DeepLabV3Config c;
  c.depth = 50;
  c.output_stride = 8;
  c.num_classes = 21;
  c.dropout = 0.0;
  st->m = std::make_shared<models::DeepLabV3>(c);
  if (!std::filesystem::exists(weights)) save_safetensors(weights, st->m->state_dict(), {{"model", "deeplabv3_resnet50"}});
  st->m->load_state_dict(load_safetensors(weights).tensors);
  st->m->to(g_dev);
  st->m->train();
  ParamGroup hyper;
  hyper.lr = 0.01;
  hyper.momentum = 0.9;
  hyper.weight_decay = 1e-4;
  st->opt = std::make_unique<SGD>(st->m->parameters(), hyper);
  st->images = input(dir, "images", DType::f32);
  st->labels = input(dir, "labels2d", DType::i64).flatten();
  g_deeplab = st;
  auto step = [st](bool record, const std::string& d) {
    Tensor logits = st->m->forward(st->images);  // (N, 21, H, W)
    const int64_t C = logits.size(1);
    Tensor flat = permute(logits, {0, 2, 3, 1}).reshape(Shape{-1, C});
    Tensor l = cross_entropy(flat, st->labels);
    st->opt->zero_grad();
    l.backward();
    if (record) {
      out(d, "loss", l.reshape(Shape{1}));
      out(d, "logits", logits);
      StateDict g;
      for (auto& [n, p] : st->m->named_parameters()) g[n] = p.grad();
      save_safetensors((std::filesystem::path(d) / "leseg_grads.safetensors").string(), g);
    }
    st->opt->step();
  };
  step(true, dir);
  g_once = [step] { step(false, ""); };
}

// ---- memory -----------------------------------------------------------------------------------------------------
double proc_status_mib(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(std::string(key).size())) / 1024.0;  // kB
  return -1;
}

std::string dispatch(const std::vector<std::string>& a) {
  const std::string& c = a[0];
  auto need = [&](size_t n) { LESEG_CHECK(a.size() >= n, "command '", c, "' needs ", n - 1, " arguments"); };
  if (c == "room") {
    need(3);
    return cmd_room(std::stoll(a[1]), a[2]);
  }
  if (c == "coarse") {
    need(2);
    return cmd_coarse(a[1]);
  }
  if (c == "setup") {
    need(3);
    g_once = nullptr;
    g_train.reset();
    g_deeplab.reset();
    const std::string& kind = a[1];
    const std::string& dir = a[2];
    if (kind == "kmap") need(5), setup_kmap(dir, std::stoi(a[3]), std::stoi(a[4]));
    else if (kind == "conv") need(5), setup_conv(dir, a[3], a[4] == "1");
    else if (kind == "loss") need(4), setup_loss(dir, a[3]);
    else if (kind == "segment") need(4), setup_segment(dir, a[3]);
    else if (kind == "attn") setup_attn(dir);
    else if (kind == "sdpa") need(4), setup_sdpa(dir, a[3]);
    else if (kind == "train") need(5), setup_train(dir, a[3], a[4]);
    else if (kind == "deeplab") need(4), setup_deeplab(dir, a[3]);
    else LESEG_CHECK(false, "setup: unknown kind ", kind);
    return "ok";
  }
  if (c == "run") {
    need(2);
    LESEG_CHECK(g_once != nullptr, "run: no case set up");
    std::ostringstream s;
    s << "ok";
    for (int i = 0, n = std::stoi(a[1]); i < n; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      g_once();
      synchronize(g_dev);
      const auto t1 = std::chrono::steady_clock::now();
      s << " " << std::chrono::duration<double>(t1 - t0).count();
    }
    return s.str();
  }
  if (c == "device") {
    need(2);
    g_dev = Device::parse(a[1]);
    return "ok";
  }
  if (c == "precision") {
    need(2);
    g_prec = parse_precision(a[1]);
    return "ok";
  }
  if (c == "conv_variant") {
    need(2);
    if (a[1] == "auto") {
      set_conv_variant_override(std::nullopt);
      set_conv_autotune(true);
    } else {
      set_conv_variant_override(parse_conv_variant(a[1]));
      set_conv_autotune(false);
    }
    return "ok";
  }
  if (c == "threads") {
    need(2);
    omp_set_num_threads(std::stoi(a[1]));
    return "ok " + std::to_string(omp_get_max_threads());
  }
  if (c == "mem") {
    LESEG_CHECK(g_once != nullptr, "mem: no case set up");
    malloc_trim(0);  // free heap pages back to the OS, so that the step has to touch what it uses (both sides)
    { std::ofstream("/proc/self/clear_refs") << "5"; }
    const double base = proc_status_mib("VmRSS:");
    reset_peak_memory(g_dev);
    const size_t in_use = memory_stats(g_dev).in_use;
    g_once();
    synchronize(g_dev);
    const double hwm = proc_status_mib("VmHWM:");
    const double alloc = double(memory_stats(g_dev).peak - in_use) / (1 << 20);
    std::ostringstream s;
    s << "ok " << hwm - base << " " << alloc;
    return s.str();
  }
  LESEG_CHECK(false, "unknown command '", c, "'");
  return "";
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream is(line);
    std::vector<std::string> a;
    for (std::string w; is >> w;) a.push_back(w);
    if (a.empty()) continue;
    if (a[0] == "quit") break;
    std::string reply;
    try {
      reply = dispatch(a);
    } catch (const std::exception& e) {
      reply = std::string("err ") + e.what();
      for (char& ch : reply)
        if (ch == '\n') ch = ' ';
    }
    std::cout << reply << std::endl;
  }
  return 0;
}
