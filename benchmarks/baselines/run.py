#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Framework-baseline harness: leseg against spconv 2.x and plain PyTorch on the same inputs, in one run.

Driven by scripts/baselines.sh (which makes the venv and builds the worker); docs/benchmarks.md is the user guide.
Every row: (1) the inputs are written once as .npy / safetensors (the room by the leseg worker, the rest here);
(2) leseg (the long-lived `leseg_baselines` worker) and each baseline compute the same thing from those files and
the outputs and gradients are compared within the row's tolerance (a cross-framework oracle); (3) only when they
agree, warm-up and interleaved repetitions (leseg, baseline 1, baseline 2, leseg, ...), min and median of each,
ratio = leseg / baseline of the medians. Both sides use the same thread count (OMP_NUM_THREADS for the worker,
torch.set_num_threads here); the load average is recorded before and after every row.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", default=os.path.join(ROOT, "build", "leseg_baselines"))
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["f32", "tf32", "bf16", "f16"], default="f32",
                   help="sparse-conv rows: leseg's train.precision (worker command `precision`) and the peers' "
                        "matching mode (torch.autocast for bf16/f16, allow_tf32 for tf32); rows get a /<precision> "
                        "suffix and the tolerance of that precision (docs/sparse-conv.md)")
    p.add_argument("--conv-variant", default="",
                   help="leseg's sparse-conv variant for every conv (a conv_variant_name, or 'auto' for the "
                        "per-layer autotune); default: the worker's default")
    p.add_argument("--filter", default="", help="regex on row names (e.g. 'conv/subm3' or 'train')")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    p.add_argument("--work", default=os.path.join(ROOT, "build", "baselines-data"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--voxels", default="100000", help="comma list of room sizes for the sparse-conv rows")
    p.add_argument("--large-voxels", default="1000000",
                   help="comma list of large rooms with a subset of the sparse-conv rows ('' for none)")
    p.add_argument("--train-voxels", type=int, default=100000)
    p.add_argument("--channels", default="32,64,128,256")
    p.add_argument("--spconv-threads", type=int, default=1,
                   help="thread count of the rows with an spconv baseline, on every side of the row (spconv 2.3.8's "
                        "CPU forward gives wrong sums now and then with more than one torch thread: "
                        "benchmarks/baselines/spconv_race.py)")
    p.add_argument("--budget", type=float, default=8.0, help="seconds per side per row for the repetitions")
    p.add_argument("--min-rounds", type=int, default=3)
    p.add_argument("--max-rounds", type=int, default=15)
    p.add_argument("--check-only", action="store_true", help="correctness only (no timing, no table files)")
    p.add_argument("--small", action="store_true", help="small sizes (the slow CTest case)")
    p.add_argument("--name", default="baselines", help="basename of the result files")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows of an earlier run's JSON that passed and were timed; run the others")
    p.add_argument("--merge", nargs="*", default=[],
                   help="with --resume: also keep the passed, timed rows of these result JSON files")
    return p.parse_args()


ARGS = parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # no spinning threads while the other side runs

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, HERE)
import peers  # noqa: E402

torch.set_num_threads(ARGS.threads)
DEV = torch.device(ARGS.device)
if DEV.type == "cuda":  # TF32 only when asked, on every side
    torch.backends.cuda.matmul.allow_tf32 = ARGS.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = ARGS.precision == "tf32"
CONV_TOL = {"f32": 1e-5, "tf32": 3e-3, "bf16": 3e-2, "f16": 5e-3}[ARGS.precision]


def amp():
    """The peers' side of leseg's bf16/f16 autocast (sparse-conv rows)."""
    if ARGS.precision in ("bf16", "f16"):
        return torch.autocast(device_type=DEV.type, dtype=torch.bfloat16 if ARGS.precision == "bf16" else torch.float16)
    return contextlib.nullcontext()


def lowp(t):
    """Cast to the low type of --precision bf16/f16 (differentiable); identity otherwise."""
    if ARGS.precision in ("bf16", "f16"):
        return t.to(torch.bfloat16 if ARGS.precision == "bf16" else torch.float16)
    return t


def as_f32(t):
    return t.float() if isinstance(t, torch.Tensor) else t
SPCONV_THREADS = ARGS.spconv_threads if ARGS.device == "cpu" else ARGS.threads


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


# ---- the leseg worker -----------------------------------------------------------------------------------------------
class Worker:
    def __init__(self, path):
        if not os.path.exists(path):
            sys.exit(f"baselines: the leseg worker {path} is missing (build the target leseg_baselines)")
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def cmd(self, *words):
        self.p.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"leseg worker died on: {' '.join(map(str, words))}")
        if line.startswith("err"):
            raise RuntimeError(f"leseg: {line[4:]}")
        return line.split()[1:]

    def run1(self):
        return float(self.cmd("run", 1)[0])

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()


# ---- helpers ----------------------------------------------------------------------------------------------------------
def rel_err(a, b):
    """max |a - b| / max |b| (b the baseline), as float64."""
    a = np.asarray(a.detach().cpu() if torch.is_tensor(a) else a, dtype=np.float64)
    b = np.asarray(b.detach().cpu() if torch.is_tensor(b) else b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: leseg {a.shape} vs baseline {b.shape}")
    scale = max(float(np.abs(b).max()) if b.size else 0.0, 1e-30)
    return float(np.abs(a - b).max()) / scale if a.size else 0.0


def load(d, name):
    return np.load(os.path.join(d, name + ".npy"))


def save(d, **arrays):
    os.makedirs(d, exist_ok=True)
    for n, a in arrays.items():
        np.save(os.path.join(d, n + ".npy"), a)


def link(src_dir, dst_dir, name):
    os.makedirs(dst_dir, exist_ok=True)
    s, t = os.path.join(src_dir, name + ".npy"), os.path.join(dst_dir, name + ".npy")
    if not os.path.exists(t):
        os.link(s, t)


def leaf(a):
    return torch.from_numpy(np.ascontiguousarray(a)).to(DEV).requires_grad_(True)


def const(a):
    return torch.from_numpy(np.ascontiguousarray(a)).to(DEV)


def rss_peak_mib(fn):
    """Peak resident memory of one call above the resident memory before it (malloc_trim(0), then VmHWM reset by
    clear_refs 5); the worker measures leseg the same way."""
    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return float(line.split()[1]) / 1024.0
        return float("nan")
    import ctypes
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # free heap pages go back to the OS first (the worker does the same)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS:")
    fn()
    return status("VmHWM:") - base


def set_threads(worker, n):
    """Same thread count on both sides: the worker's OpenMP and torch's intra-op pool."""
    worker.cmd("threads", n)
    torch.set_num_threads(n)
    return n


class Row:
    def __init__(self, name, group, size, tol, threads=None):
        self.d = {"case": name, "group": group, "size": size, "tol": tol, "check": {}, "times": {},
                  "notes": [], "unavailable": {}, "threads": threads or ARGS.threads}

    def check(self, baseline, errs, tols=None):
        """errs: {output name: rel err}; passes when every one is <= its tolerance (tols[name] or the row's)."""
        tol = lambda k: (tols or {}).get(k, self.d["tol"])
        worst = max(errs.items(), key=lambda kv: kv[1] / max(tol(kv[0]), 1e-300)) if errs else ("-", 0.0)
        ok = all(v <= tol(k) for k, v in errs.items())
        self.d["check"][baseline] = {"pass": ok, "max_rel_err": worst[1], "worst": worst[0],
                                     "worst_tol": tol(worst[0]), "errs": {k: float(v) for k, v in errs.items()}}
        return ok


def rounds_for(est):
    if ARGS.check_only:
        return 0
    return int(max(ARGS.min_rounds, min(ARGS.max_rounds, ARGS.budget / max(est, 1e-6))))


def measure(row, worker, baselines):
    """Warm-up (1 each), then interleaved rounds: leseg, each baseline, leseg, ... Only baselines whose check
    passed are timed; leseg is timed when at least one check passed or no baseline can run."""
    if ARGS.check_only:
        return
    row.d["load_before"] = os.getloadavg()
    t0 = time.perf_counter()
    worker.run1()
    est = time.perf_counter() - t0
    for f in baselines.values():
        t0 = time.perf_counter()
        f()
        sync()
        est = max(est, time.perf_counter() - t0)
    n = rounds_for(est)
    times = {"leseg": []}
    times.update({k: [] for k in baselines})
    for _ in range(n):
        times["leseg"].append(worker.run1())
        for k, f in baselines.items():
            t0 = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t0)
    row.d["load_after"] = os.getloadavg()
    for k, v in times.items():
        row.d["times"][k] = {"min": min(v), "median": statistics.median(v), "n": len(v), "all": v}


# ---- rooms ------------------------------------------------------------------------------------------------------------
ROOMS = {}


def room(worker, voxels):
    if voxels in ROOMS:
        return ROOMS[voxels]
    d = os.path.join(ARGS.work, f"room_{voxels}")
    meta_p = os.path.join(d, "room.json")
    if os.path.exists(meta_p):
        meta = json.load(open(meta_p))
    else:
        m, vs = worker.cmd("room", voxels, d)
        meta = {"voxels": int(m), "voxel_size_m": float(vs)}
        json.dump(meta, open(meta_p, "w"))
    meta["dir"] = d
    ROOMS[voxels] = meta
    return meta


# ---- rows: kernel map ---------------------------------------------------------------------------------------------------
def row_kmap(worker, voxels, K, stride):
    r = room(worker, voxels)
    name = f"kmap/K{K}s{stride}/{r['voxels']}"
    row = Row(name, "sparse conv", f"{r['voxels']} voxels", 0.0)
    d = os.path.join(ARGS.work, f"kmap_{voxels}_K{K}s{stride}")
    link(r["dir"], d, "coords")
    worker.cmd("setup", "kmap", d, K, stride)
    coords = load(d, "coords")
    lin, lout, lk = load(d, "leseg_kmap_in"), load(d, "leseg_kmap_out"), load(d, "leseg_kmap_k")
    lout_coords = coords if stride == 1 else load(d, "leseg_kmap_out_coords")
    n_out = len(lout_coords)
    ref = np.sort((lk.astype(np.int64) * len(coords) + lin) * n_out + lout)

    def pair_keys(pairs_by_k, out_perm_inv):
        keys = []
        for k, (i, o) in enumerate(pairs_by_k):
            o = out_perm_inv[np.asarray(o, dtype=np.int64)]
            keys.append((k * len(coords) + np.asarray(i, dtype=np.int64)) * n_out + o)
        return np.sort(np.concatenate(keys)) if keys else np.zeros(0, np.int64)

    def agree(keys):
        return 0.0 if np.array_equal(keys, ref) else 1.0

    baselines = {}
    ct = torch.from_numpy(coords)
    # plain torch (sorted keys + searchsorted)
    co, pairs = peers.torch_kernel_map(ct, K, stride)
    perm = peers.row_permutation(lout_coords, co.numpy())  # co[perm] == leseg rows
    inv = np.empty(len(perm), np.int64)
    inv[perm] = np.arange(len(perm))
    tk = pair_keys([(i.numpy(), o.numpy()) for i, o in pairs], inv)
    if row.check("torch", {"pairs": agree(tk)}):
        baselines["torch"] = lambda: peers.torch_kernel_map(ct, K, stride)
    # spconv
    if peers.spconv is None:
        row.d["unavailable"]["spconv"] = peers.SPCONV_ERROR
    else:
        idx, shape, shift = peers.spconv_indices(coords)
        idx = idx.to(DEV)

        def sp():
            return peers.spops.get_indice_pairs(idx, 1, shape, peers.ConvAlgo.Native, [K] * 3, [stride] * 3,
                                                [K // 2 if stride == 1 else 0] * 3, [1] * 3, [0] * 3,
                                                subm=(stride == 1))
        outids, ip, ipn = sp()
        ip, ipn = ip.cpu().numpy(), ipn.cpu().numpy()
        if stride == 1:
            inv_sp = np.arange(len(coords))
        else:
            oc = outids.cpu().numpy().astype(np.int64)
            oc[:, 1:] = oc[:, 1:] * 2 + shift
            perm = peers.row_permutation(lout_coords, oc)
            inv_sp = np.empty(len(perm), np.int64)
            inv_sp[perm] = np.arange(len(perm))
        ksp = peers.spconv_k_of_leseg_k(K)
        sp_pairs = [(ip[0, ksp[k], :ipn[ksp[k]]], ip[1, ksp[k], :ipn[ksp[k]]]) for k in range(K ** 3)]
        if stride == 1:
            # spconv's submanifold map stores only the offsets up to the centre: the pairs of offset -d are the
            # pairs of +d with in and out swapped (symmetric kernel); expand them for the comparison.
            V = K ** 3
            for k in range(K ** 3):
                if ksp[k] == V // 2 and ipn[ksp[k]] == 0:  # the centre is the identity, implied too
                    sp_pairs[k] = (np.arange(len(coords)), np.arange(len(coords)))
                elif ksp[k] > V // 2 and ipn[ksp[k]] == 0:
                    km = int(np.nonzero(ksp == V - 1 - ksp[k])[0][0])
                    i, o = sp_pairs[km]
                    sp_pairs[k] = (o, i)
            row.d["notes"].append("spconv stores half of the submanifold map (mirror offsets and the identity centre implied)")
        if row.check("spconv", {"pairs": agree(pair_keys(sp_pairs, inv_sp))}):
            baselines["spconv"] = sp
    row.d["notes"].append(f"{len(lk)} pairs; timed: coordinate hash + map from raw coordinates")
    measure(row, worker, baselines)
    return row


# ---- rows: sparse conv ------------------------------------------------------------------------------------------------
def row_conv(worker, voxels, mode, C, bwd):
    r = room(worker, voxels)
    K = 3 if mode == "subm3" else 2
    name = f"conv/{mode}/{'fwd+bwd' if bwd else 'fwd'}/C{C}/{r['voxels']}"
    if ARGS.precision != "f32":
        name += f"/{ARGS.precision}"
    row = Row(name, "sparse conv", f"{r['voxels']} voxels, C {C}->{C}", CONV_TOL, SPCONV_THREADS)
    d = os.path.join(ARGS.work, f"conv_{voxels}_{mode}_C{C}_{int(bwd)}")
    link(r["dir"], d, "coords")
    coords = load(d, "coords")
    N = len(coords)
    coarse = None
    if mode != "subm3":
        worker.cmd("coarse", d)
        coarse = load(d, "coarse_coords")
    n_in = len(coarse) if mode == "up2" else N
    n_out = len(coarse) if mode == "down2" else N
    rng = np.random.default_rng(1000 * C + K)
    x = rng.standard_normal((n_in, C), dtype=np.float32)
    w = (rng.standard_normal((K ** 3, C, C), dtype=np.float32) / np.sqrt(C * K ** 3)).astype(np.float32)
    gy = rng.standard_normal((n_out, C), dtype=np.float32)
    save(d, x=x, w=w, gy=gy)
    worker.cmd("setup", "conv", d, mode, int(bwd))
    ly = load(d, "leseg_y")
    lgx = load(d, "leseg_gx") if bwd else None
    lgw = load(d, "leseg_gw") if bwd else None
    baselines = {}

    def errs(y, gx=None, gw=None):
        e = {"y": rel_err(ly, as_f32(y))}
        if bwd:
            e["grad_x"] = rel_err(lgx, as_f32(gx))
            e["grad_w"] = rel_err(lgw, as_f32(gw))
        return e

    # plain torch: gather, matmul, index_add on a searchsorted map (built once, outside the timed region)
    ct = torch.from_numpy(coords).to(DEV)
    co, pairs = peers.torch_kernel_map(ct, K, 1 if mode == "subm3" else 2)
    pairs = [(i.to(DEV), o.to(DEV)) for i, o in pairs]
    if mode == "subm3":
        perm_in = perm_out = None
    else:
        perm_c = peers.row_permutation(coarse, co.cpu().numpy())  # co[perm_c] == leseg coarse rows
    wt = leaf(w)
    if mode == "up2":
        xt_np = np.empty_like(x)
        xt_np[perm_c] = x
        gy_t = const(gy)
    else:
        xt_np = x
        if mode == "down2":
            g = np.empty_like(gy)
            g[perm_c] = gy
            gy_t = const(g)
        else:
            gy_t = const(gy)
    xt = leaf(xt_np)

    def torch_run():
        xt.grad = None
        wt.grad = None
        # plain torch in the low type (inputs cast like autocast would; index_add accumulates in that type)
        if mode == "up2":
            y = peers.torch_sparse_conv(lowp(xt), lowp(wt), pairs, N, transposed=True)
        else:
            y = peers.torch_sparse_conv(lowp(xt), lowp(wt), pairs, len(co) if mode == "down2" else N)
        if bwd:
            y.backward(gy_t.to(y.dtype))
        return y
    with torch.no_grad() if not bwd else torch.enable_grad():
        y = torch_run()
    if mode == "down2":
        y = y[perm_c]
    gx = None
    if bwd:
        gx = xt.grad[perm_c] if mode == "up2" else xt.grad
    if row.check("torch", errs(y, gx, wt.grad if bwd else None)):
        baselines["torch"] = (lambda: torch_run()) if bwd else (lambda: torch.no_grad()(torch_run)())

    # spconv
    if peers.spconv is None:
        row.d["unavailable"]["spconv"] = peers.SPCONV_ERROR
    else:
        sp = peers.spconv
        idx, shape, shift = peers.spconv_indices(coords)
        idx = idx.to(DEV)
        fine = sp.SparseConvTensor(torch.ones(N, 1, device=DEV), idx, shape, 1)
        if mode == "subm3":
            conv = sp.SubMConv3d(C, C, 3, bias=False, indice_key="s").to(DEV)
            base = fine
            perm_sp = None
        elif mode == "down2":
            conv = sp.SparseConv3d(C, C, 2, stride=2, bias=False, indice_key="d").to(DEV)
            base = fine
        else:
            down = sp.SparseConv3d(1, 1, 2, stride=2, bias=False, indice_key="d").to(DEV)
            with torch.no_grad():
                base = down(fine)
            oc = base.indices.cpu().numpy().astype(np.int64)
            oc[:, 1:] = oc[:, 1:] * 2 + shift
            perm_sp = peers.row_permutation(coarse, oc)  # spconv coarse rows [perm_sp] == leseg rows
            conv = sp.SparseInverseConv3d(C, C, 2, bias=False, indice_key="d").to(DEV)
        with torch.no_grad():
            conv.weight.copy_(peers.leseg_to_spconv_weight(torch.from_numpy(w), K))
        if mode == "up2":
            xs_np = np.empty_like(x)
            xs_np[perm_sp] = x
        else:
            xs_np = x
        xs = leaf(xs_np)
        base = base.replace_feature(xs)
        if mode == "subm3":
            with torch.no_grad():
                conv(base)  # fills the indice_dict: the map is built outside the timed region
            gys = const(gy)
        elif mode == "down2":
            with torch.no_grad():
                y0 = conv(base)
            oc = y0.indices.cpu().numpy().astype(np.int64)
            oc[:, 1:] = oc[:, 1:] * 2 + shift
            perm_sp = peers.row_permutation(coarse, oc)
            g = np.empty_like(gy)
            g[perm_sp] = gy
            gys = const(g)
        else:
            gys = const(gy)

        def sp_run():
            xs.grad = None
            conv.weight.grad = None
            with amp():
                y = conv(base)
            if bwd:
                y.features.backward(gys.to(y.features.dtype))
            return y.features
        try:
            if bwd:
                y = sp_run()
            else:
                with torch.no_grad():
                    y = sp_run()
        except (KeyError, RuntimeError, NotImplementedError) as e:  # e.g. spconv's CPU kernels have no bf16
            if ARGS.precision == "f32":
                raise
            row.d["unavailable"]["spconv"] = f"spconv cannot run {ARGS.precision} here: {type(e).__name__} {e}"
            y = None
        if y is not None:
            if mode == "down2":
                y = y[perm_sp]
            gx = gw = None
            if bwd:
                gx = xs.grad[perm_sp] if mode == "up2" else xs.grad
                gw = peers.spconv_to_leseg_weight(conv.weight.grad)
            if row.check("spconv", errs(y, gx, gw)):
                baselines["spconv"] = sp_run if bwd else (lambda: torch.no_grad()(sp_run)())
    row.d["notes"].append("map built before timing on every side")
    measure(row, worker, baselines)
    return row


# ---- rows: losses, segment reductions, attention -------------------------------------------------------------------
def row_loss(worker, N, which):
    C = 20
    name = f"loss/{which}/{N}x{C}"
    row = Row(name, "losses", f"{N} x {C} logits", 1e-5)
    d = os.path.join(ARGS.work, f"loss_{N}_{which}")
    rng = np.random.default_rng(7)
    z = (2 * rng.standard_normal((N, C))).astype(np.float32)
    labels = rng.integers(0, C, N).astype(np.int64)
    labels[rng.random(N) < 0.05] = -1
    t = rng.standard_normal((N, C))
    t = np.exp(t) / np.exp(t).sum(1, keepdims=True)
    zq = (2 * rng.standard_normal((N, C))).astype(np.float32)
    save(d, logits=z, labels=labels, target=t.astype(np.float32), logits_q=zq)
    worker.cmd("setup", "loss", d, which)
    zt, zqt, lt, tt = leaf(z), leaf(zq), const(labels), const(t.astype(np.float32))

    def torch_run():
        zt.grad = None
        zqt.grad = None
        if which == "ce":
            loss = F.cross_entropy(zt, lt, ignore_index=-1)
        elif which == "soft_ce":
            loss = -(tt * F.log_softmax(zt, 1)).sum(1).mean()
        elif which == "kl":  # KL(p || q), p = softmax(z), q = softmax(z_q), batch mean
            loss = F.kl_div(F.log_softmax(zqt, 1), F.log_softmax(zt, 1), reduction="batchmean", log_target=True)
        else:
            loss = -(F.softmax(zt, 1) * F.log_softmax(zt, 1)).sum(1).mean()
        loss.backward()
        return loss
    loss = torch_run()
    e = {"loss": rel_err(load(d, "leseg_loss"), loss.reshape(1)), "grad": rel_err(load(d, "leseg_grad"), zt.grad)}
    if which == "kl":
        e["grad_q"] = rel_err(load(d, "leseg_grad_q"), zqt.grad)
    if row.check("torch", e):
        measure(row, worker, {"torch": torch_run})
    row.d["notes"].append("forward + backward; baseline: torch.nn.functional")
    return row


def row_segment(worker, N, op):
    Cf, G, NC = 32, max(N // 100, 1), 20
    name = f"segment/{op}/{N}"
    row = Row(name, "segment", f"{N} rows x {Cf}, {G} groups" if op != "vote" else f"{N} labels, {G} groups, {NC} classes",
              0.0 if op in ("max", "vote") else 1e-5)
    d = os.path.join(ARGS.work, f"segment_{N}_{op}")
    rng = np.random.default_rng(11)
    group = rng.integers(0, G, N).astype(np.int64)
    x = rng.standard_normal((N, Cf), dtype=np.float32)
    gy = rng.standard_normal((G, Cf), dtype=np.float32)
    labels = rng.integers(0, NC, N).astype(np.int64)
    labels[rng.random(N) < 0.1] = -1
    save(d, group=group, x=x, gy=gy, labels=labels, num_groups=np.array(G, np.int64),
         num_classes=np.array(NC, np.int64))
    worker.cmd("setup", "segment", d, op)
    gt, xt, gyt, lt = const(group), leaf(x), const(gy), const(labels)
    idx = gt[:, None].expand(-1, Cf)

    if op == "vote":
        def torch_run():
            valid = lt >= 0
            key = gt[valid] * NC + lt[valid]
            counts = torch.zeros(G * NC, device=DEV).scatter_reduce(0, key, torch.ones_like(key, dtype=torch.float32),
                                                                    "sum", include_self=True).view(G, NC)
            mode = counts.argmax(1)  # first maximum -> smallest class on ties
            return torch.where(counts.amax(1) > 0, mode, torch.full_like(mode, -1))
        y = torch_run()
        e = {"group_mode": rel_err(load(d, "leseg_y"), y)}
    else:
        red = {"sum": "sum", "mean": "mean", "max": "amax"}[op]

        def torch_run():
            xt.grad = None
            y = torch.zeros(G, Cf, device=DEV).scatter_reduce(0, idx, xt, red, include_self=False)
            y.backward(gyt)
            return y
        y = torch_run()
        e = {"y": rel_err(load(d, "leseg_y"), y), "grad_x": rel_err(load(d, "leseg_gx"), xt.grad)}
    if row.check("torch", e):
        measure(row, worker, {"torch": torch_run})
    row.d["notes"].append("baseline: torch.Tensor.scatter_reduce" + ("" if op == "vote" else ", forward + backward"))
    return row


def row_attn(worker, T, B=8, H=4, D=32):
    name = f"attention/varlen/{T}"
    row = Row(name, "attention", f"{B} sequences, {T} tokens, {H} heads x {D}", 1e-5)
    d = os.path.join(ARGS.work, f"attn_{T}")
    rng = np.random.default_rng(5)
    lens = rng.integers(T // (2 * B), 3 * T // (2 * B), B)
    lens[-1] = max(1, T - lens[:-1].sum())
    cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    Tt = int(cu[-1])
    q, k, v, gy = (rng.standard_normal((Tt, H, D), dtype=np.float32) for _ in range(4))
    save(d, q=q, k=k, v=v, gy=gy, cu=cu)
    worker.cmd("setup", "attn", d)
    qt, kt, vt, gyt = leaf(q), leaf(k), leaf(v), const(gy)
    backend = torch.nn.attention.SDPBackend.MATH if DEV.type == "cpu" else torch.nn.attention.SDPBackend.FLASH_ATTENTION

    def torch_run():
        for t in (qt, kt, vt):
            t.grad = None
        outs = []
        with torch.nn.attention.sdpa_kernel(backend):
            for b in range(B):
                s = slice(int(cu[b]), int(cu[b + 1]))
                # (L, H, D) -> (1, H, L, D)
                o = F.scaled_dot_product_attention(*(t[s].transpose(0, 1)[None] for t in (qt, kt, vt)))
                outs.append(o[0].transpose(0, 1))
        y = torch.cat(outs, 0)
        y.backward(gyt)
        return y
    y = torch_run()
    e = {"y": rel_err(load(d, "leseg_y"), y), "grad_q": rel_err(load(d, "leseg_gq"), qt.grad),
         "grad_k": rel_err(load(d, "leseg_gk"), kt.grad), "grad_v": rel_err(load(d, "leseg_gv"), vt.grad)}
    if row.check("torch", e):
        measure(row, worker, {"torch": torch_run})
    row.d["notes"].append(f"forward + backward; baseline: SDPA {backend.name} backend, one call per sequence")
    return row


def row_sdpa(worker, variant, D, B, L, Lq=None, H=8):
    """Issue 17: leseg attention (variant tensor_core | reference) vs PyTorch SDPA, bf16 inputs, forward + backward.
    Self-attention: B sets of L tokens (equal lengths, so SDPA runs them as one (B, H, L, D) batch, its best case).
    Cross-attention (Lq given): B sets of Lq queries over L keys (erda2d: 20 class queries x 100k pixels)."""
    cross = Lq is not None
    name = f"attention/sdpa/{variant}/{'cross' if cross else 'self'}/d{D}/{B}x{(str(Lq) + 'x') if cross else ''}{L}"
    size = f"{B} x ({Lq} queries x {L} keys)" if cross else f"{B} sets x {L} tokens"
    # bf16 inputs on both sides; the two bf16 results differ by P/dS/output roundings (unit roundoff 2^-8).
    row = Row(name, "attention", f"{size}, {H} heads x {D}, bf16", 3e-2)
    d = os.path.join(ARGS.work, f"sdpa_{'c' if cross else 's'}_{D}_{B}_{L}_{Lq}")
    rng = np.random.default_rng(17)
    nq = Lq if cross else L
    q, gy = (rng.standard_normal((B * nq, H, D), dtype=np.float32) for _ in range(2))
    k, v = (rng.standard_normal((B * L, H, D), dtype=np.float32) for _ in range(2))
    cu_q = (np.arange(B + 1) * nq).astype(np.int64)
    cu_k = (np.arange(B + 1) * L).astype(np.int64)
    save(d, q=q, k=k, v=v, gy=gy, cu_q=cu_q, cu_k=cu_k)
    worker.cmd("setup", "sdpa", d, variant)
    bf = lambda a: torch.from_numpy(a).to(DEV).to(torch.bfloat16).requires_grad_(True)
    qt, kt, vt = bf(q), bf(k), bf(v)
    gyt = const(gy).to(torch.bfloat16)
    backend = torch.nn.attention.SDPBackend.MATH if DEV.type == "cpu" else torch.nn.attention.SDPBackend.FLASH_ATTENTION

    def torch_run():
        for t in (qt, kt, vt):
            t.grad = None
        with torch.nn.attention.sdpa_kernel(backend):
            # (B * L, H, D) -> (B, H, L, D)
            qb, kb, vb = (t.view(B, -1, H, D).transpose(1, 2) for t in (qt, kt, vt))
            y = F.scaled_dot_product_attention(qb, kb, vb).transpose(1, 2).reshape(B * nq, H, D)
        y.backward(gyt)
        return y
    y = torch_run()
    e = {"y": rel_err(load(d, "leseg_y"), y.float()), "grad_q": rel_err(load(d, "leseg_gq"), qt.grad.float()),
         "grad_k": rel_err(load(d, "leseg_gk"), kt.grad.float()), "grad_v": rel_err(load(d, "leseg_gv"), vt.grad.float())}
    if row.check("torch", e):
        measure(row, worker, {"torch": torch_run})
    row.d["notes"].append(f"forward + backward, bf16; baseline: SDPA {backend.name} backend, one batched call; "
                          f"leseg variant {variant}")
    return row


# Training steps: float32 gradients of these networks at a fresh initialisation (BN after every conv, random-ish
# labels) agree between two float32 implementations only to ~1e-2 of each tensor's max (the BN backward cancels
# large terms), so both float32 runs are held against a float64 run of the baseline: leseg passes when each of its
# distances is within 3x the baseline's own float32 distance, or within a floor.
F64_FLOORS = {"loss": 1e-5, "logits": 1e-4, "grad worst": 1e-2, "grad median": 1e-2}
F64_TOL_TEXT = ("distance to the baseline's float64 step (each tensor relative to its max) <= max(floor, 3 x the "
                "baseline float32 step's distance); floors: loss 1e-5, logits 1e-4, worst and median gradient "
                "tensor 1e-2")


def f64_tols(peer_errs):
    return {k: max(F64_FLOORS[k], 3 * peer_errs[k]) for k in F64_FLOORS}


# ---- rows: training step -------------------------------------------------------------------------------------------------
def row_train(worker, voxels, model):
    r = room(worker, voxels)
    name = f"train/{model}/{r['voxels']}"
    row = Row(name, "training step", f"{r['voxels']} voxels, 20 classes", 1e-2, SPCONV_THREADS)
    d = r["dir"]
    weights = os.path.join(d, f"{model}_init.safetensors")
    worker.cmd("setup", "train", d, model, weights)
    if peers.spconv is None:
        row.d["unavailable"]["spconv"] = peers.SPCONV_ERROR
        measure(row, worker, {})
        return row
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(weights, "pt") as f:
        meta = f.metadata()
    init = load_file(weights)
    m = peers.SpTrainModel(meta).to(DEV)
    peers.load_leseg_state(m, init)
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    coords = load(d, "coords")
    idx, shape, _ = peers.spconv_indices(coords)
    idx = idx.to(DEV)
    feats = const(load(d, "feats"))
    labels = const(load(d, "labels"))

    def step(record=False):
        x = peers.spconv.SparseConvTensor(feats, idx, shape, 1)  # fresh indice pairs every step, as leseg
        logits = m(x)
        loss = F.cross_entropy(logits, labels, ignore_index=-1)
        opt.zero_grad()
        loss.backward()
        rec = None
        if record:
            rec = (loss.detach().clone(), logits.detach().clone(),
                   peers.grads_in_leseg_layout(m, [n for n in init if not re.search(r"running|num_batches", n)]))
        opt.step()
        sync()
        return rec
    loss, logits, grads = step(record=True)
    # The oracle: the same step in float64 (spconv, same weights and inputs). f32 gradients of this network (BN
    # after every conv, fresh initialisation) agree only to ~1e-2 of their max between any two f32 runs, so both
    # f32 runs are held against the f64 one: leseg must be within tolerance of it, and spconv's own f32 distance
    # is recorded for scale.
    names = [n for n in init if not re.search(r"running|num_batches", n)]
    m64 = peers.SpTrainModel(meta).to(DEV)
    peers.load_leseg_state(m64, init)
    m64 = m64.double().train()
    x64 = peers.spconv.SparseConvTensor(feats.double(), idx, shape, 1)
    lg64 = m64(x64)
    l64 = F.cross_entropy(lg64, labels, ignore_index=-1)
    l64.backward()
    g64 = peers.grads_in_leseg_layout(m64, names)
    del m64, x64
    lg = load_file(os.path.join(d, "leseg_grads.safetensors"))

    def errs_of(loss_, logits_, grads_):
        per = {n: rel_err(grads_[n], g64[n]) for n in names}
        worst = max(per.items(), key=lambda kv: kv[1])
        return {"loss": rel_err(loss_, l64.detach().reshape(1)), "logits": rel_err(logits_, lg64.detach()),
                "grad worst": worst[1], "grad median": float(np.median(list(per.values())))}, worst[0]
    e, wn = errs_of(load(d, "leseg_loss"), load(d, "leseg_logits"), lg)
    e_sp, wn_sp = errs_of(loss.reshape(1), logits, grads)
    tols = f64_tols(e_sp)
    row.d["baseline_f32_vs_f64"] = e_sp
    row.d["notes"].append(f"oracle: the spconv float64 step; leseg's worst gradient: {wn}; spconv float32 vs "
                          "float64: " + ", ".join(f"{k} {v:.1e}" for k, v in e_sp.items()) + f" (worst: {wn_sp})")
    row.d["tol_detail"] = F64_TOL_TEXT
    row.d["tol"] = tols["grad worst"]
    if row.check("spconv", e, tols) and not ARGS.check_only:
        row.d["memory_MiB"] = {}
        lm = worker.cmd("mem")
        row.d["memory_MiB"]["leseg_rss"] = float(lm[0])
        row.d["memory_MiB"]["leseg_allocator"] = float(lm[1])
        row.d["memory_MiB"]["spconv_rss"] = rss_peak_mib(step)
        measure(row, worker, {"spconv": step})
    row.d["notes"].append("fresh coordinate maps every step on both sides; SGD lr 0.01 momentum 0.9 wd 1e-4")
    return row


# ---- rows: DeepLabV3-R50 step vs torchvision ------------------------------------------------------------------------------
def row_deeplab(worker, N, H):
    name = f"train/deeplabv3_resnet50/{N}x{H}x{H}"
    row = Row(name, "training step", f"{N} images {H}x{H}, OS 8, 21 classes", 1e-2)
    d = os.path.join(ARGS.work, f"deeplab_{N}_{H}")
    rng = np.random.default_rng(3)
    save(d, images=rng.standard_normal((N, 3, H, H), dtype=np.float32),
         labels2d=rng.integers(0, 21, (N, H, H)).astype(np.int64))
    weights = os.path.join(d, "deeplabv3_resnet50_init.safetensors")
    worker.cmd("setup", "deeplab", d, weights)
    try:
        import torchvision
    except Exception as e:
        row.d["unavailable"]["torch"] = f"torchvision import failed: {e}"
        measure(row, worker, {})
        return row
    from safetensors.torch import load_file
    init = load_file(weights)

    def build(dtype):
        m = torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21,
                                                               aux_loss=False)
        for mod in m.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0  # leseg runs with dropout 0 too: the same function on both sides
        sd = m.state_dict()
        missing = {k for k in sd if not k.endswith("num_batches_tracked")}
        for n, t in init.items():
            if n not in sd:
                raise KeyError(f"leseg tensor {n} has no torchvision counterpart")
            sd[n] = t.reshape(sd[n].shape).to(sd[n].dtype)
            missing.discard(n)
        if missing:
            raise KeyError(f"torchvision tensors not in the leseg checkpoint: {sorted(missing)[:5]}")
        m.load_state_dict(sd)
        return m.to(DEV).to(dtype).train()
    m = build(torch.float32)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, labels = const(load(d, "images")), const(load(d, "labels2d"))

    def step(record=False):
        logits = m(images)["out"]
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        rec = None
        if record:
            rec = (loss.detach().clone(), logits.detach().clone(),
                   {n: p.grad.detach().clone() for n, p in m.named_parameters()})
        opt.step()
        sync()
        return rec
    loss, logits, grads = step(record=True)
    m64 = build(torch.float64)
    lg64 = m64(images.double())["out"]
    l64 = F.cross_entropy(lg64, labels)
    l64.backward()
    g64 = {n: p.grad for n, p in m64.named_parameters()}
    lg = load_file(os.path.join(d, "leseg_grads.safetensors"))

    def errs_of(loss_, logits_, grads_):
        per = {n: rel_err(grads_[n], g64[n]) for n in g64}
        worst = max(per.items(), key=lambda kv: kv[1])
        return {"loss": rel_err(loss_, l64.detach().reshape(1)), "logits": rel_err(logits_, lg64.detach()),
                "grad worst": worst[1], "grad median": float(np.median(list(per.values())))}, worst[0]
    e, wn = errs_of(load(d, "leseg_loss"), load(d, "leseg_logits"), lg)
    e_tv, wn_tv = errs_of(loss.reshape(1), logits, grads)
    del m64, lg64, g64
    tols = f64_tols(e_tv)
    row.d["tol"] = tols["grad worst"]
    row.d["baseline_f32_vs_f64"] = e_tv
    row.d["notes"].append(f"oracle: the torchvision float64 step; leseg's worst gradient: {wn}; torchvision float32 "
                          "vs float64: " + ", ".join(f"{k} {v:.1e}" for k, v in e_tv.items()) + f" (worst: {wn_tv})")
    row.d["tol_detail"] = F64_TOL_TEXT
    if row.check("torch", e, tols) and not ARGS.check_only:
        row.d["memory_MiB"] = {"leseg_rss": float(worker.cmd("mem")[0]), "torch_rss": rss_peak_mib(step)}
        measure(row, worker, {"torch": step})
    row.d["notes"].append("dropout 0 on both sides; CE over all pixels; SGD lr 0.01 momentum 0.9 wd 1e-4")
    return row


# ---- driver ---------------------------------------------------------------------------------------------------------------
def plan():
    """Rows in priority order (results are written after every row, so a cut-short run keeps what it did)."""
    voxels = [int(v) for v in ARGS.voxels.split(",")]
    chans = [int(c) for c in ARGS.channels.split(",")]
    rows = []
    for V in voxels:
        rows.append((f"kmap/K3s1/{V}", lambda w, V=V: row_kmap(w, V, 3, 1)))
        rows.append((f"kmap/K2s2/{V}", lambda w, V=V: row_kmap(w, V, 2, 2)))
        for mode in ("subm3", "down2", "up2"):
            for C in chans:
                for bwd in (False, True):
                    n = f"conv/{mode}/{'fwd+bwd' if bwd else 'fwd'}/C{C}/{V}"
                    rows.append((n, lambda w, V=V, mode=mode, C=C, bwd=bwd: row_conv(w, V, mode, C, bwd)))
    tv = ARGS.train_voxels
    for model in ("MinkUNet14A", "MinkUNet34C"):
        rows.append((f"train/{model}/{tv}", lambda w, model=model: row_train(w, tv, model)))
    N = 20000 if ARGS.small else 100000
    for which in ("ce", "soft_ce", "kl", "entropy"):
        rows.append((f"loss/{which}/{N}", lambda w, which=which: row_loss(w, N, which)))
    for op in ("sum", "mean", "max", "vote"):
        rows.append((f"segment/{op}/{N}", lambda w, op=op: row_segment(w, N, op)))
    T = 4000 if ARGS.small else 16000
    rows.append((f"attention/varlen/{T}", lambda w: row_attn(w, T)))
    # Issue 17: each leseg variant vs SDPA (flash on a GPU) at d = 16 / 64, 1k tokens per set, and 20 x 100k cross.
    SB, SL, CL = (2, 256, 5000) if ARGS.small else (16, 1024, 100000)
    for var in ("tensor_core", "reference"):
        for D in (16, 64):
            rows.append((f"attention/sdpa/{var}/self/d{D}/{SB}x{SL}",
                         lambda w, var=var, D=D: row_sdpa(w, var, D, SB, SL)))
        rows.append((f"attention/sdpa/{var}/cross/d32/1x20x{CL}",
                     lambda w, var=var: row_sdpa(w, var, 32, 1, CL, Lq=20)))
    # N >= 2: the ASPP pooling branch batch-normalises (N, 256, 1, 1)
    DN, DH = (2, int(os.environ.get("LESEG_DEEPLAB_SMALL", 64))) if ARGS.small else (2, 224)
    rows.append((f"train/deeplabv3_resnet50/{DN}x{DH}x{DH}", lambda w: row_deeplab(w, DN, DH)))
    for V in [int(v) for v in ARGS.large_voxels.split(",") if v and not ARGS.small]:
        rows.append((f"kmap/K3s1/{V}", lambda w, V=V: row_kmap(w, V, 3, 1)))
        rows.append((f"kmap/K2s2/{V}", lambda w, V=V: row_kmap(w, V, 2, 2)))
        for mode, C, bwd in (("subm3", 32, False), ("subm3", 32, True), ("subm3", 64, False), ("subm3", 64, True),
                             ("down2", 64, True), ("up2", 64, True)):
            n = f"conv/{mode}/{'fwd+bwd' if bwd else 'fwd'}/C{C}/{V}"
            rows.append((n, lambda w, V=V, mode=mode, C=C, bwd=bwd: row_conv(w, V, mode, C, bwd)))
    return [(n, f) for n, f in rows if re.search(ARGS.filter, n)]


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2 ** 20:.0f} GiB"
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "threads": ARGS.threads, "device": ARGS.device,
            "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "spconv": None, "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")}
    try:
        import spconv
        info["spconv"] = spconv.__version__
    except Exception:
        pass
    if ARGS.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def fmt_t(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def markdown(rows, info):
    out = [f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; device {info['device']}"
           + (f" ({info.get('gpu')})" if info.get("gpu") else "") + "; each row runs at the same thread count on every side "
           f"(column threads: {info['threads']}, or {SPCONV_THREADS} for the sparse-conv and MinkUNet rows).",
           f"Peers: PyTorch {info['torch']}, spconv {info['spconv']} (Python {info['python']}); "
           + (f"rows from harness runs started {min(dates)} to {max(dates)} UTC." if (dates := sorted(
               r.get("source", {}).get("date_utc") or info["date_utc"] for r in rows)) else ""),
           "Ratio = leseg / baseline of the medians (< 1: leseg faster). Times: median (min) over interleaved "
           "repetitions n; load = 1-min load average before -> after the row.", "",
           "| case | size | check: worst output, rel err (tol) | threads | leseg | spconv | ratio vs spconv | torch | ratio vs torch | n | load |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["times"]
        chk = []
        for b, c in r["check"].items():
            tol = c.get("worst_tol")
            if tol is None:  # rows written before worst_tol was recorded
                tol = f64_tols(r["baseline_f32_vs_f64"])[c["worst"]] if "baseline_f32_vs_f64" in r else r["tol"]
            what = "" if c["worst"] in ("y", "pairs") else f"{c['worst']} "
            chk.append(f"{b} {'ok' if c['pass'] else 'FAIL'} {what}{c['max_rel_err']:.1e} (tol {tol:.0e})")
        for b, why in r["unavailable"].items():
            chk.append(f"{b}: n/a ({why})")
        if r.get("error"):
            chk.append(f"error: {r['error']}")
        cells = [r["case"], r["size"], "; ".join(chk), str(r["threads"])]
        cells.append(f"{fmt_t(t['leseg']['median'])} ({fmt_t(t['leseg']['min'])})" if "leseg" in t else "-")
        for b in ("spconv", "torch"):
            if b in t:
                cells.append(f"{fmt_t(t[b]['median'])} ({fmt_t(t[b]['min'])})")
                cells.append(f"**{t['leseg']['median'] / t[b]['median']:.2f}**")
            else:
                cells += ["-", "-"]
        cells.append(str(t["leseg"]["n"]) if "leseg" in t else "-")
        lb, la = r.get("load_before"), r.get("load_after")
        cells.append(f"{lb[0]:.2f} -> {la[0]:.2f}" if lb and la else "-")
        out.append("| " + " | ".join(cells) + " |")
    mem = [r for r in rows if "memory_MiB" in r]
    if mem:
        out += ["", "Peak memory of one training step (resident-set high-water mark above the resident set before the "
                "step, same method both sides; leseg's allocator peak in brackets):", "",
                "| case | leseg | baseline | ratio |", "|---|---|---|---|"]
        for r in mem:
            m = r["memory_MiB"]
            peer = "spconv_rss" if "spconv_rss" in m else "torch_rss"
            alloc = f" ({m['leseg_allocator']:.0f} MiB)" if "leseg_allocator" in m else ""
            out.append(f"| {r['case']} | {m['leseg_rss']:.0f} MiB{alloc} | {m[peer]:.0f} MiB ({peer[:-4]}) | "
                       f"{m['leseg_rss'] / max(m[peer], 1e-9):.2f} |")
    return "\n".join(out) + "\n"


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels, vals, colors = [], [], []
    for r in rows:
        for b, c in (("spconv", "tab:blue"), ("torch", "tab:orange")):
            if b in r["times"]:
                labels.append(f"{r['case']} vs {b}")
                vals.append(r["times"]["leseg"]["median"] / r["times"][b]["median"])
                colors.append(c)
    if not vals:
        return
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(vals) + 1.2), dpi=72)
    y = np.arange(len(vals))
    ax.barh(y, vals, color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("leseg / baseline time (median; < 1: leseg faster)")
    ax.set_title("leseg vs spconv (blue) and plain PyTorch (orange)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    os.makedirs(ARGS.work, exist_ok=True)
    info = machine()
    info["load_start"] = os.getloadavg()
    todo = plan()
    if not todo and not ARGS.resume:
        sys.exit(f"baselines: no row matches --filter {ARGS.filter!r}")
    base = os.path.join(ARGS.out, ARGS.name)
    kept = {}
    for src in ([base + ".json"] + ARGS.merge) if ARGS.resume else []:
        if not os.path.exists(src):
            continue
        got = json.load(open(src))
        for r in got["rows"]:
            if r.get("plan") and all(c["pass"] for c in r["check"].values()) and "leseg" in r["times"]:
                r.setdefault("source", {"file": os.path.basename(src), "date_utc": got["machine"].get("date_utc")})
                kept[r["plan"]] = r
        print(f"resume: {len(kept)} rows kept after {src}", flush=True)

    def write(rows_now):
        if ARGS.check_only:
            return
        os.makedirs(ARGS.out, exist_ok=True)
        info["load_end"] = os.getloadavg()
        order = {n: i for i, (n, _) in enumerate(plan_full)}
        ordered = sorted(rows_now, key=lambda r: order.get(r.get("plan"), 1 << 30))
        json.dump({"machine": info, "rows": ordered}, open(base + ".json", "w"), indent=1)
        open(base + ".md", "w").write(markdown(ordered, info))
        chart(ordered, base + ".png")

    saved_filter, ARGS.filter = ARGS.filter, ""
    plan_full = plan()  # the order of the table, whatever --filter ran
    ARGS.filter = saved_filter
    worker = Worker(ARGS.worker)
    worker.cmd("device", ARGS.device)  # leseg runs its side on the same device as the baselines
    worker.cmd("precision", ARGS.precision)
    if ARGS.conv_variant:
        worker.cmd("conv_variant", ARGS.conv_variant)
    rows, failed = list(kept.values()), 0
    try:
        for name, f in todo:
            if name in kept:
                continue
            t0 = time.time()
            set_threads(worker, SPCONV_THREADS if re.match(r"(conv|train)/", name) else ARGS.threads)
            try:
                row = f(worker).d
            except Exception as e:  # a row that cannot run says why; the others go on
                row = Row(name, name.split("/")[0], "-", 0).d
                row["error"] = f"{type(e).__name__}: {e}"
            row["plan"] = name
            rows.append(row)
            bad = [b for b, c in row["check"].items() if not c["pass"]]
            status = "ERROR " + row["error"] if row.get("error") else ("FAIL " + ",".join(bad) if bad else "ok")
            if bad or row.get("error"):
                failed += 1
            desc = "; ".join(f"{b} {c['max_rel_err']:.2e} ({c['worst']})" for b, c in row["check"].items())
            if bad:
                desc += " " + json.dumps({b: row["check"][b]["errs"] for b in bad})
            if "baseline_f32_vs_f64" in row:
                desc += " | baseline f32 vs f64: " + json.dumps(row["baseline_f32_vs_f64"])
            tim = ""
            if "leseg" in row["times"]:
                tim = " | " + ", ".join(f"{k} {fmt_t(v['median'])}" for k, v in row["times"].items())
            print(f"[{time.time() - t0:6.1f}s] {row['case']}: {status} {desc}{tim}", flush=True)
            write(rows)
    finally:
        worker.close()
    write(rows)
    if not ARGS.check_only:
        print(f"wrote {base}.md, .json, .png")
    print(f"rows: {len(rows) - failed} agree, {failed} disagree or fail")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
