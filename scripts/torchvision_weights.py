#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""torchvision weights for leseg's DeepLabV3 backbone (`model2d.init` in a cns / erda2d config).

Needs PyTorch and torchvision (pip install torch torchvision) on the machine that runs it; leseg itself does not.

  export ARCH OUT.safetensors [--weights NAME]
      ARCH: resnet18 | resnet34 | resnet50 | deeplabv3_resnet50. NAME: a torchvision weights enum member
      (default DEFAULT, e.g. ImageNet IMAGENET1K_V1 for the resnets; downloads from download.pytorch.org) or
      "none" for a random initialisation. Writes the state dict as safetensors under torchvision's names.
  crosscheck DIR
      Writes a fixture for leseg's cross-check test: a randomly initialised resnet50 with random BN statistics
      (weights.safetensors), an input batch (input.npy) and torchvision's layer4 output in eval mode for output
      strides 8 and 16 (expected_os8.npy, expected_os16.npy). Then:
      LESEG_TORCHVISION_FIXTURE=DIR build/test_train --gtest_filter='TorchvisionCrossCheck.*'
"""
import argparse
import json
import struct
import sys

import numpy as np


def save_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer (the format: u64 header length, JSON header, raw little-endian data)."""
    names = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("float16"): "F16",
             np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.array(tensors[k], order="C")  # (not ascontiguousarray: it turns 0-d into 1-d)
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[k] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def state_to_numpy(model):
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def export(arch, out, weights):
    import torchvision.models as tvm
    import torchvision.models.segmentation as tvs
    ctor = {"resnet18": tvm.resnet18, "resnet34": tvm.resnet34, "resnet50": tvm.resnet50,
            "deeplabv3_resnet50": tvs.deeplabv3_resnet50}[arch]
    model = ctor(weights=None if weights == "none" else weights)
    save_safetensors(out, state_to_numpy(model), {"source": f"torchvision {arch} weights={weights}"})
    print(f"wrote {out}: {arch}, weights {weights}, {len(model.state_dict())} tensors")


def crosscheck(d):
    import os
    import torch
    import torchvision.models as tvm
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    ref = tvm.resnet50(weights=None)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics and affine terms
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.num_batches_tracked.fill_(7)
    save_safetensors(os.path.join(d, "weights.safetensors"), state_to_numpy(ref), {"source": "crosscheck resnet50"})
    x = torch.randn(2, 3, 64, 80, generator=g)
    np.save(os.path.join(d, "input.npy"), x.numpy())
    for os_, dil in ((8, [False, True, True]), (16, [False, False, True])):
        net = tvm.resnet50(weights=None, replace_stride_with_dilation=dil)
        net.load_state_dict(ref.state_dict())
        net.eval()
        with torch.no_grad():
            h = net.maxpool(net.relu(net.bn1(net.conv1(x))))
            h = net.layer4(net.layer3(net.layer2(net.layer1(h))))
        np.save(os.path.join(d, f"expected_os{os_}.npy"), h.numpy())
        print(f"output stride {os_}: layer4 {tuple(h.shape)}")
    print(f"wrote {d}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("arch", choices=["resnet18", "resnet34", "resnet50", "deeplabv3_resnet50"])
    e.add_argument("out")
    e.add_argument("--weights", default="DEFAULT")
    c = sub.add_parser("crosscheck")
    c.add_argument("dir")
    a = p.parse_args()
    if a.cmd == "export":
        export(a.arch, a.out, a.weights)
    else:
        crosscheck(a.dir)


if __name__ == "__main__":
    sys.exit(main())
