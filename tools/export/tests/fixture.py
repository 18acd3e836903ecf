# SPDX-License-Identifier: Apache-2.0
"""A tiny leseg dataset root (one scene, two 96x128 views of a box room) written with numpy + Pillow only."""
import json
import os

import numpy as np
from PIL import Image


def make_root(root, classes=("wall", "floor", "chair"), views=2, h=96, w=128):
    s = os.path.join(root, "scenes", "room0")
    os.makedirs(s, exist_ok=True)
    with open(os.path.join(root, "dataset.json"), "w") as f:
        json.dump({"name": "tiny", "classes": list(classes), "ignore_index": -1}, f)
    with open(os.path.join(root, "train.txt"), "w") as f:
        f.write("room0\n")
    rng = np.random.default_rng(0)
    n = 2000
    coord = rng.uniform([-1, -1, 1.5], [1, 1, 3], size=(n, 3)).astype(np.float32)
    np.save(os.path.join(s, "coord.npy"), coord)
    np.save(os.path.join(s, "color.npy"), rng.integers(0, 255, (n, 3), dtype=np.uint8))
    np.save(os.path.join(s, "segment.npy"), (coord[:, 0] > 0).astype(np.int32) + (coord[:, 1] > 0.5))
    K = np.array([[100, 0, w / 2 - 0.5], [0, 100, h / 2 - 0.5], [0, 0, 1]], dtype=np.float32)
    for k in range(views):
        vd = os.path.join(s, "views", str(k))
        os.makedirs(vd, exist_ok=True)
        img = np.zeros((h, w, 3), np.uint8)
        img[:, : w // 2] = (200, 30, 30)
        img[:, w // 2:] = (30, 30, 200)
        img[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = (30, 200, 30)
        Image.fromarray(img).save(os.path.join(vd, "color.png"))
        Image.fromarray(np.full((h, w), 2000 + 100 * k, np.uint16)).save(os.path.join(vd, "depth.png"))
        np.savetxt(os.path.join(vd, "intrinsic.txt"), K)
        np.savetxt(os.path.join(vd, "pose.txt"), np.eye(4, dtype=np.float32))
        lab = np.zeros((h, w), np.int32)
        lab[:, w // 2:] = 1
        lab[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = 2
        Image.fromarray(lab.astype(np.uint16)).save(os.path.join(vd, "label.png"))
    return root
