# SPDX-License-Identifier: Apache-2.0
"""Baseline implementations for the framework-baseline harness (docs/benchmarks.md).

- spconv 2.x: sparse convs, kernel maps (ops.get_indice_pairs) and the MinkUNet written as Pointcept's SpUNet;
- plain PyTorch: a gather / matmul / index_add sparse conv on a searchsorted kernel map.

Layout mapping (checked numerically by every conv row):
  leseg kernel (K^3, Cin, Cout), k = ix + K*(iy + K*iz)   (x fastest, MinkowskiEngine order)
  spconv weight (Cout, K, K, K, Cin), indexed [o, ix, iy, iz, i] when the indices are given as (b, x, y, z)
  so W_sp = W.reshape(K, K, K, Cin, Cout).permute(4, 2, 1, 0, 3)   (axes of the reshape: iz, iy, ix, i, o)
  spconv's flat kernel index (indice_pairs[:, k_sp]) is k_sp = (ix*K + iy)*K + iz.
  K = 1 (the blocks' 1x1 projections): spconv reads the parameter's bytes as (Cin, Cout), see leseg_to_spconv_weight.
"""
import numpy as np
import torch

try:
    import spconv.pytorch as spconv
    from spconv.pytorch import ops as spops
    from spconv.core import ConvAlgo
    SPCONV_ERROR = None
    if not torch.cuda.is_available():
        # spconv 2.3.8's CPU backward (ops.indice_conv_backward and friends) asks torch.cuda.current_stream()
        # unconditionally, which raises "Found no NVIDIA driver" with a CUDA build of torch on a machine without
        # a GPU. The stream is only read by its CUDA kernels: hand it 0 on a CPU-only machine.
        import spconv.pytorch.cppcore as _spcore
        _spcore.get_current_stream = lambda: 0
        spops.get_current_stream = lambda: 0
        import spconv.pytorch.hash as _sphash
        import spconv.pytorch.utils as _sputils
        _sphash.get_current_stream = _sputils.get_current_stream = lambda: 0
except Exception as e:  # the row then says why it cannot run
    spconv = None
    SPCONV_ERROR = f"spconv import failed: {e}"


def leseg_to_spconv_weight(w, K):
    """(K^3, Cin, Cout) leseg -> (Cout, K, K, K, Cin) spconv.
    K = 1 is special: spconv 2.3.8's 1x1 path (SparseConvolution.conv1x1, taken by every K=1 stride-1 conv) reads
    the parameter's memory as weight.view(Cin, Cout) although the parameter is shaped (Cout, 1, 1, 1, Cin) (its
    FILTER_HWIO branches look swapped). The bytes must then be leseg's (Cin, Cout) matrix as they are."""
    V, ci, co = w.shape
    assert V == K ** 3
    if K == 1:
        return w.reshape(ci * co).reshape(co, 1, 1, 1, ci).contiguous()
    return w.reshape(K, K, K, ci, co).permute(4, 2, 1, 0, 3).contiguous()


def spconv_to_leseg_weight(w):
    """(Cout, K, K, K, Cin) spconv -> (K^3, Cin, Cout) leseg (gradients too; K = 1 as above)."""
    co, K, _, _, ci = w.shape
    if K == 1:
        return w.reshape(1, ci, co).contiguous()
    return w.permute(3, 2, 1, 4, 0).reshape(K ** 3, ci, co).contiguous()


def spconv_k_of_leseg_k(K):
    """Array a with a[k_leseg] = k_spconv."""
    k = np.arange(K ** 3)
    ix, iy, iz = k % K, (k // K) % K, k // (K * K)
    return (ix * K + iy) * K + iz


# ---- coordinates ---------------------------------------------------------------------------------------------------
SHIFT_ALIGN = 16  # coordinate shift for spconv (non-negative indices) keeps floor(c / 2^s) of the 4 down levels


def spconv_indices(coords):
    """leseg coords (M, 4) i32 (b, x, y, z) -> (indices int32 torch, spatial_shape, shift (3,))."""
    c = coords.astype(np.int64)
    shift = (c[:, 1:].min(0) // SHIFT_ALIGN) * SHIFT_ALIGN
    idx = c.copy()
    idx[:, 1:] -= shift
    shape = [int(v) + SHIFT_ALIGN for v in idx[:, 1:].max(0)]
    return torch.from_numpy(idx.astype(np.int32)), shape, shift


def coord_keys(c):
    """Unique int64 key of (b, x, y, z) rows (|x|,|y|,|z| < 2^20)."""
    c = np.asarray(c, dtype=np.int64)
    R = 1 << 21
    return ((c[:, 0] * R + (c[:, 1] + (1 << 20))) * R + (c[:, 2] + (1 << 20))) * R + (c[:, 3] + (1 << 20))


def row_permutation(ref_coords, other_coords):
    """perm with other_coords[perm] == ref_coords (row for row); error when the sets differ."""
    kr, ko = coord_keys(ref_coords), coord_keys(other_coords)
    if len(kr) != len(ko):
        raise AssertionError(f"coordinate sets differ in size: {len(kr)} vs {len(ko)}")
    order = np.argsort(ko)
    pos = np.searchsorted(ko[order], kr)
    pos = np.clip(pos, 0, len(ko) - 1)
    if not np.array_equal(ko[order][pos], kr):
        raise AssertionError("coordinate sets differ")
    return order[pos]


# ---- plain PyTorch sparse conv -------------------------------------------------------------------------------------
def torch_offsets(K, tensor_stride):
    k = torch.arange(K ** 3)
    ix, iy, iz = k % K, (k // K) % K, k // (K * K)
    base = (lambda i: i - (K - 1) // 2) if K % 2 == 1 else (lambda i: i)
    return torch.stack([base(ix), base(iy), base(iz)], 1) * tensor_stride  # (V, 3), leseg order


def torch_keys(c):
    R = 1 << 21
    c = c.to(torch.int64)
    return ((c[:, 0] * R + (c[:, 1] + (1 << 20))) * R + (c[:, 2] + (1 << 20))) * R + (c[:, 3] + (1 << 20))


def torch_kernel_map(coords_in, K, stride):
    """Kernel map in plain PyTorch: sorted keys + searchsorted for every (output, offset) query.
    coords_in (N, 4) int32/64 torch. stride 1: output = input; stride 2: output = unique(floor(c/2)*2) (sorted).
    Returns (out_coords, [(in_idx, out_idx)] per leseg kernel index)."""
    ci = coords_in.to(torch.int64)
    if stride == 1:
        co = ci
    else:
        d = ci.clone()
        d[:, 1:] = torch.div(d[:, 1:], 2, rounding_mode="floor") * 2
        co = torch.unique(d, dim=0)
    keys = torch_keys(ci)
    sk, order = torch.sort(keys)
    offs = torch_offsets(K, 1)
    q = co[None, :, :].repeat(K ** 3, 1, 1)
    q[:, :, 1:] += offs[:, None, :]
    qk = torch_keys(q.reshape(-1, 4)).reshape(K ** 3, -1)
    pos = torch.searchsorted(sk, qk).clamp_(max=len(sk) - 1)
    hit = sk[pos] == qk
    pairs = []
    for k in range(K ** 3):
        h = hit[k]
        out_idx = torch.nonzero(h).squeeze(1)
        pairs.append((order[pos[k][h]], out_idx))
    return co, pairs


def torch_sparse_conv(x, w, pairs, n_out, transposed=False):
    """out[o] += x[i] @ w[k] for every pair (i, o, k); transposed swaps the roles of the pairs."""
    y = x.new_zeros((n_out, w.shape[2]))
    for k, (i, o) in enumerate(pairs):
        if len(i) == 0:
            continue
        if transposed:
            i, o = o, i
        y = y.index_add(0, o, x.index_select(0, i) @ w[k])
    return y


# ---- spconv MinkUNet (Pointcept SpUNet layout) ---------------------------------------------------------------------
if spconv is not None:
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, cout, key, momentum):
            super().__init__()
            self.conv1 = spconv.SubMConv3d(cin, cout, 3, bias=False, indice_key=key)
            self.norm1 = nn.BatchNorm1d(cout, eps=1e-5, momentum=momentum)
            self.conv2 = spconv.SubMConv3d(cout, cout, 3, bias=False, indice_key=key)
            self.norm2 = nn.BatchNorm1d(cout, eps=1e-5, momentum=momentum)
            self.downsample = None
            if cin != cout:
                self.downsample = spconv.SparseSequential(
                    spconv.SubMConv3d(cin, cout, 1, bias=False, indice_key=key + "k1"),
                    nn.BatchNorm1d(cout, eps=1e-5, momentum=momentum))

        def forward(self, x):
            h = self.conv1(x)
            h = h.replace_feature(torch.relu(self.norm1(h.features)))
            h = self.conv2(h)
            h = h.replace_feature(self.norm2(h.features))
            res = self.downsample(x).features if self.downsample is not None else x.features
            return h.replace_feature(torch.relu(h.features + res))

    class SpMinkUNet(nn.Module):
        """leseg's MinkUNet (models/minkunet.h) written in spconv as Pointcept's SpUNet does: SubMConv3d blocks,
        SparseConv3d(k2 s2) down, SparseInverseConv3d(k2) up on the down conv's indice_key, concat [up, skip].
        Module names follow leseg's state dict so the checkpoint loads by name (kernel -> weight, permuted)."""

        def __init__(self, layers, planes, in_channels=3, init_dim=32, stem_kernel=3, bn_m=0.05, block_bn_m=0.1):
            super().__init__()
            self.conv0p1s1 = spconv.SubMConv3d(in_channels, init_dim, stem_kernel, bias=False, indice_key="stem")
            self.bn0 = nn.BatchNorm1d(init_dim, eps=1e-5, momentum=bn_m)
            down_names = ["conv1p1s2", "conv2p2s2", "conv3p4s2", "conv4p8s2"]
            up_names = ["convtr4p16s2", "convtr5p8s2", "convtr6p4s2", "convtr7p2s2"]
            inp = init_dim
            s = 1
            for i in range(4):
                setattr(self, down_names[i], spconv.SparseConv3d(inp, inp, 2, stride=2, bias=False,
                                                                 indice_key=f"down{i}"))
                setattr(self, f"bn{i + 1}", nn.BatchNorm1d(inp, eps=1e-5, momentum=bn_m))
                s *= 2
                blocks = []
                for _ in range(layers[i]):
                    blocks.append(Block(inp, planes[i], f"subm{s}", block_bn_m))
                    inp = planes[i]
                setattr(self, f"block{i + 1}", nn.Sequential(*blocks))
            skip = [planes[2], planes[1], planes[0], init_dim]
            for i in range(4):
                setattr(self, up_names[i], spconv.SparseInverseConv3d(inp, planes[4 + i], 2, bias=False,
                                                                      indice_key=f"down{3 - i}"))
                setattr(self, f"bntr{i + 4}", nn.BatchNorm1d(planes[4 + i], eps=1e-5, momentum=bn_m))
                s //= 2
                inp = planes[4 + i] + skip[i]
                blocks = []
                for _ in range(layers[4 + i]):
                    blocks.append(Block(inp, planes[4 + i], f"subm{s}", block_bn_m))
                    inp = planes[4 + i]
                setattr(self, f"block{i + 5}", nn.Sequential(*blocks))
            self.down_names, self.up_names = down_names, up_names

        def forward(self, x):
            h = self.conv0p1s1(x)
            h = h.replace_feature(torch.relu(self.bn0(h.features)))
            skips = [h]
            for i in range(4):
                h = getattr(self, self.down_names[i])(h)
                h = h.replace_feature(torch.relu(getattr(self, f"bn{i + 1}")(h.features)))
                h = getattr(self, f"block{i + 1}")(h)
                if i < 3:
                    skips.append(h)
            for i in range(4):
                h = getattr(self, self.up_names[i])(h)
                h = h.replace_feature(torch.relu(getattr(self, f"bntr{i + 4}")(h.features)))
                h = h.replace_feature(torch.cat([h.features, skips[3 - i].features], 1))
                h = getattr(self, f"block{i + 5}")(h)
            return h

    class SpTrainModel(nn.Module):
        def __init__(self, meta):
            super().__init__()
            ints = lambda s: [int(v) for v in s.split(",")]
            self.backbone = SpMinkUNet(ints(meta["layers"]), ints(meta["planes"]), int(meta["in_channels"]),
                                       int(meta["init_dim"]), int(meta["stem_kernel"]))
            self.head = nn.Module()
            self.head.linear = nn.Linear(ints(meta["planes"])[7], int(meta["num_classes"]))

        def forward(self, x):
            return self.head.linear(self.backbone(x).features)

    def leseg_name_to_torch(name):
        return name[:-len(".kernel")] + ".weight" if name.endswith(".kernel") else name

    def load_leseg_state(model, tensors):
        """tensors: leseg checkpoint {name: torch tensor}. Conv kernels permuted to spconv's layout."""
        sd = model.state_dict()
        missing = set(sd)
        for n, t in tensors.items():
            tn = leseg_name_to_torch(n)
            if tn not in sd:
                raise KeyError(f"leseg tensor {n} has no spconv counterpart ({tn})")
            if n.endswith(".kernel"):
                K = round(t.shape[0] ** (1 / 3))
                t = leseg_to_spconv_weight(t, K)
            if tuple(t.shape) != tuple(sd[tn].shape) and t.numel() == sd[tn].numel():
                t = t.reshape(sd[tn].shape)
            if tuple(t.shape) != tuple(sd[tn].shape):
                raise ValueError(f"{n}: shape {tuple(t.shape)} vs spconv {tuple(sd[tn].shape)}")
            sd[tn] = t.to(sd[tn].dtype)
            missing.discard(tn)
        missing = {m for m in missing if not m.endswith("num_batches_tracked")}
        if missing:
            raise KeyError(f"spconv tensors not in the leseg checkpoint: {sorted(missing)[:5]}")
        model.load_state_dict(sd)

    def grads_in_leseg_layout(model, names):
        params = dict(model.named_parameters())
        out = {}
        for n in names:
            g = params[leseg_name_to_torch(n)].grad
            out[n] = spconv_to_leseg_weight(g) if n.endswith(".kernel") else g
        return out
