#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Shows the disagreement that makes the harness run its spconv rows at one thread (docs/benchmarks.md).

spconv 2.3.8's CPU SubMConv3d forward (ops.indice_conv: gather_cpu / torch.mm / scatter_add_cpu per offset) returns
wrong sums now and then when torch runs more than one intra-op thread; with one thread it matches a plain PyTorch
gather/matmul/index_add reference to ~1e-7 every time. The indice pairs themselves are identical at 1 and 2 threads.
Usage: .venv-baselines/bin/python benchmarks/baselines/spconv_race.py [reps]
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rng = np.random.default_rng(0)
    # a 2.5D "floor + walls" of ~60k voxels
    pts = rng.integers(0, 400, (120000, 3))
    pts[:60000, 2] = rng.integers(0, 3, 60000)
    pts[60000:, 0] = rng.integers(0, 3, 60000)
    c = np.unique(pts, axis=0)
    coords = np.concatenate([np.zeros((len(c), 1), np.int64), c], 1).astype(np.int32)
    idx, shape, _ = peers.spconv_indices(coords)
    _, pairs = peers.torch_kernel_map(torch.from_numpy(coords), 3, 1)
    C = 32
    f = torch.randn(len(coords), C)
    w = torch.randn(27, C, C)
    conv = peers.spconv.SubMConv3d(C, C, 3, bias=False, indice_key="a")
    with torch.no_grad():
        conv.weight.copy_(peers.leseg_to_spconv_weight(w, 3))
        ref = peers.torch_sparse_conv(f, w, pairs, len(coords))
        st = peers.spconv.SparseConvTensor(f, idx, shape, 1)
        conv(st)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            errs = []
            for _ in range(reps):
                y = conv(st.replace_feature(f)).features
                errs.append((y - ref).abs().max().item() / ref.abs().max().item())
            bad = sum(e > 1e-5 for e in errs)
            print(f"{len(coords)} voxels, C {C}, torch threads {threads}: {bad}/{reps} forwards off by > 1e-5 "
                  f"(max rel err {max(errs):.1e})")


if __name__ == "__main__":
    main()
