# SPDX-License-Identifier: Apache-2.0
"""File writing in leseg's scene layout (io/scene.h). numpy + Pillow only (no torch), so it is testable alone.

Per view folder <root>/scenes/<scene>/views/<k>/:
  clip_label.png        u16 class id per pixel, 65535 = none, full image resolution
  clip_logits.npy       (h, w, C) f16 at the ViT patch grid (1/16 of the processed image)
  clip_feat.npy         (h, w, D) f16 dense CLIP embeddings (unit rows) at the same grid
  sam_mask.npy          (H, W) i4 mask id per pixel, -1 = none (flatten_masks' rule)
  sam_feat.npy          (h, w, F) f16 SAM image-encoder features (F = 256, or 64 after the recorded projection)
  caption_scene.npy     (D,) f4 unit;  caption_objects.npy (M, D) f4 unit + caption_object_ids.npy (M,) i4
Root: text_embeddings.npy (C, D) f4 unit rows; dataset.json gets "text_dim"; export.json records every model,
weight file, pre-processing and projection used (one entry per subcommand).
"""
import json
import os

import numpy as np
from PIL import Image

NONE_U16 = 65535


def scene_names(root):
    d = os.path.join(root, "scenes")
    if not os.path.isdir(d):
        raise FileNotFoundError(f"{root}: no scenes/ folder (not a leseg dataset root)")
    return sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))


def view_dirs(root, max_views=-1):
    """Every views/<k>/ folder holding a color.png, in scene then numeric view order."""
    out = []
    for s in scene_names(root):
        vd = os.path.join(root, "scenes", s, "views")
        if not os.path.isdir(vd):
            continue
        ks = sorted(os.listdir(vd), key=lambda k: (0, int(k), k) if k.isdigit() else (1, 0, k))
        for k in ks:
            if os.path.exists(os.path.join(vd, k, "color.png")):
                out.append(os.path.join(vd, k))
                if 0 <= max_views <= len(out):
                    return out
    return out


def read_color(view_dir):
    return np.asarray(Image.open(os.path.join(view_dir, "color.png")).convert("RGB"))


def read_dataset_json(root):
    p = os.path.join(root, "dataset.json")
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p}: missing (run `leseg data convert` first)")
    with open(p) as f:
        return json.load(f)


def write_dataset_json(root, info):
    with open(os.path.join(root, "dataset.json"), "w") as f:
        json.dump(info, f, indent=1)


def unit_rows(x, what):
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    if not np.all(n > 0):
        raise ValueError(f"{what}: a zero vector cannot be normalised")
    return (x / n).astype(np.float32)


def write_text_embeddings(root, emb):
    emb = unit_rows(emb, "text_embeddings")
    info = read_dataset_json(root)
    if emb.ndim != 2 or emb.shape[0] != len(info["classes"]):
        raise ValueError(f"text_embeddings {emb.shape} vs {len(info['classes'])} classes in dataset.json")
    np.save(os.path.join(root, "text_embeddings.npy"), emb)
    info["text_dim"] = int(emb.shape[1])
    write_dataset_json(root, info)


def write_label_png(path, labels):
    """(H, W) integer labels, -1 = none -> u16 PNG with 65535 = none."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{path}: labels must be (H, W), got {labels.shape}")
    if labels.min(initial=0) < -1 or labels.max(initial=0) >= NONE_U16:
        raise ValueError(f"{path}: labels outside [-1, 65535)")
    u = np.where(labels < 0, NONE_U16, labels).astype(np.uint16)
    Image.fromarray(u).save(path)  # Pillow writes uint16 arrays as 16-bit grey PNG (mode I;16)


def read_label_png(path):
    a = np.asarray(Image.open(path)).astype(np.int32)
    return np.where(a == NONE_U16, -1, a)


def write_f16(path, a, ndim):
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"{path}: expected {ndim} dims, got {a.shape}")
    np.save(path, a.astype(np.float16))


def flatten_masks(masks, height, width):
    """SAM's overlapping masks -> one id per pixel. Rule (documented, tested): masks are sorted by descending area
    (ties: the generator's order) and painted in that order, so where masks overlap the smaller one wins; a mask's id
    is its rank in that order (0 = largest); pixels no mask covers get -1. Returns (ids (H, W) i4, order) where
    order[i] is the index into `masks` of id i."""
    areas = [int(np.asarray(m).sum()) for m in masks]
    order = sorted(range(len(masks)), key=lambda i: -areas[i])
    ids = np.full((height, width), -1, dtype=np.int32)
    for rank, i in enumerate(order):
        m = np.asarray(masks[i], dtype=bool)
        if m.shape != (height, width):
            raise ValueError(f"mask {i}: shape {m.shape}, image is {(height, width)}")
        ids[m] = rank
    return ids, order


def record(root, section, entry):
    """Appends the provenance of one subcommand run to <root>/export.json."""
    p = os.path.join(root, "export.json")
    data = {}
    if os.path.exists(p):
        with open(p) as f:
            data = json.load(f)
    data[section] = entry
    with open(p, "w") as f:
        json.dump(data, f, indent=1)
