# SPDX-License-Identifier: Apache-2.0
"""python -m leseg_export {text,maskclip,sam,captions} ROOT [options]   (docs/real-data.md)"""
import argparse
import os
import sys
import time

import numpy as np

from . import layout


def _common(p):
    p.add_argument("root", help="a leseg dataset root (leseg data convert's output)")
    p.add_argument("--weights", help="the model's weight file (no download: this tool never reaches a model hub)")
    p.add_argument("--random-init", action="store_true", help="random weights of the same architecture (tests only)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-views", type=int, default=-1, help="at most this many views (-1 = all)")


def cmd_text(a):
    import torch
    from . import models, templates
    info = layout.read_dataset_json(a.root)
    model, tok = models.load_clip(a.arch, a.weights, a.random_init, a.device)
    tmpl = templates.load_templates(a.templates)
    emb = models.class_embeddings(model, tok, info["classes"], tmpl, a.device).cpu().numpy()
    layout.write_text_embeddings(a.root, emb)
    layout.record(a.root, "text", {"model": f"open_clip {a.arch}", "weights": a.weights or "random-init",
                                   "templates": a.templates or "80 CLIP ImageNet templates",
                                   "ensembling": "per template L2-normalise, average, normalise",
                                   "shape": list(emb.shape)})
    print(f"text: {emb.shape[0]} classes x {emb.shape[1]} -> {a.root}/text_embeddings.npy")


def cmd_maskclip(a):
    import torch
    import torch.nn.functional as F
    from . import models
    te_path = os.path.join(a.root, "text_embeddings.npy")
    if not os.path.exists(te_path):
        raise SystemExit(f"maskclip: {te_path} missing: run `text` first (same CLIP model)")
    text = torch.from_numpy(np.load(te_path)).float()
    model, _ = models.load_clip(a.arch, a.weights, a.random_init, a.device)
    scale = float(model.logit_scale.detach().exp()) if hasattr(model, "logit_scale") else 100.0
    n = 0
    for vd in layout.view_dirs(a.root, a.max_views):
        img = layout.read_color(vd)
        H, W = img.shape[:2]
        x = models.preprocess(img, a.short_side).to(a.device)
        feat = models.maskclip_dense(model, x).cpu()  # (h, w, D) unit
        if feat.shape[-1] != text.shape[1]:
            raise SystemExit(f"maskclip: feature dim {feat.shape[-1]} != text_embeddings dim {text.shape[1]}")
        logits = scale * feat @ text.T  # (h, w, C)
        up = F.interpolate(logits.permute(2, 0, 1)[None], size=(H, W), mode="bilinear", align_corners=False)[0]
        layout.write_label_png(os.path.join(vd, "clip_label.png"), up.argmax(0).numpy().astype(np.int32))
        layout.write_f16(os.path.join(vd, "clip_logits.npy"), logits.numpy(), 3)
        layout.write_f16(os.path.join(vd, "clip_feat.npy"), feat.numpy(), 3)
        n += 1
    layout.record(a.root, "maskclip", {
        "model": f"open_clip {a.arch}, MaskCLIP value path in the last block", "weights": a.weights or "random-init",
        "preprocess": f"bicubic resize, short side {a.short_side}, sides multiples of 16; mean {models.CLIP_MEAN} std {models.CLIP_STD}",
        "logits": f"logit_scale ({scale:.2f}) x cosine with text_embeddings.npy, (h, w, C) f16 at the patch grid",
        "clip_label": "argmax of the logits bilinearly upsampled to the full image", "views": n})
    print(f"maskclip: {n} views")


def cmd_sam(a):
    import torch
    from segment_anything import SamAutomaticMaskGenerator
    from . import models
    sam = models.load_sam(a.arch, a.weights, a.random_init, a.device)
    gen = SamAutomaticMaskGenerator(sam, points_per_side=a.points_per_side, pred_iou_thresh=a.pred_iou_thresh,
                                    stability_score_thresh=a.stability_thresh, min_mask_region_area=0)
    # The generator (crop_n_layers = 0: one crop, the whole image) resets its predictor after the crop; keep the
    # image encoder's output just before that, so the features cost no second encoder pass.
    kept = {}
    reset = gen.predictor.reset_image

    def reset_keeping_features():
        if gen.predictor.is_image_set:
            kept["features"] = gen.predictor.features
        reset()

    gen.predictor.reset_image = reset_keeping_features
    proj = None
    if a.feat_dim > 0:
        rng = np.random.default_rng(a.proj_seed)
        proj = (rng.standard_normal((256, a.feat_dim)) / np.sqrt(a.feat_dim)).astype(np.float32)
        np.save(os.path.join(a.root, "sam_feat_projection.npy"), proj)
    n, masks_total = 0, 0
    for vd in layout.view_dirs(a.root, a.max_views):
        img = layout.read_color(vd)
        H, W = img.shape[:2]
        kept.clear()
        masks = gen.generate(img)
        if "features" not in kept:
            raise RuntimeError("sam: the image encoder's features were not captured (segment_anything changed?)")
        ids, _ = layout.flatten_masks([m["segmentation"] for m in masks], H, W)
        np.save(os.path.join(vd, "sam_mask.npy"), ids)
        emb = kept["features"][0].permute(1, 2, 0).cpu().numpy()  # (64, 64, 256) of the padded 1024
        s = 1024.0 / max(H, W)
        h, w = int(np.ceil(H * s / 16)), int(np.ceil(W * s / 16))
        emb = emb[:h, :w]
        if proj is not None:
            emb = emb @ proj
        layout.write_f16(os.path.join(vd, "sam_feat.npy"), emb, 3)
        n += 1
        masks_total += len(masks)
    layout.record(a.root, "sam", {
        "model": f"segment_anything {a.arch}, SamAutomaticMaskGenerator(points_per_side={a.points_per_side}, "
                 f"pred_iou_thresh={a.pred_iou_thresh}, stability_score_thresh={a.stability_thresh})",
        "weights": a.weights or "random-init",
        "sam_mask": "masks painted by descending area (smaller wins), id = rank, uncovered -1",
        "sam_feat": "image-encoder output (256 ch, 1/16 of the 1024-long-side input, padding cropped)" +
                    (f", projected to {a.feat_dim} by sam_feat_projection.npy (N(0, 1/{a.feat_dim}), seed {a.proj_seed})" if proj is not None else ""),
        "views": n, "masks": masks_total})
    print(f"sam: {n} views, {masks_total} masks")


def cmd_captions(a):
    import torch
    from PIL import Image
    from . import models
    model, proc = models.load_captioner(a.captioner, a.random_init, a.device)
    clip, tok = models.load_clip(a.arch, a.weights, a.random_init, a.device)

    def caption(images):
        inp = proc(images=images, return_tensors="pt").to(a.device)
        with torch.no_grad():
            out = model.generate(**inp, max_new_tokens=a.max_tokens)
        return [t.strip() or "an object" for t in proc.batch_decode(out, skip_special_tokens=True)]

    n = 0
    for vd in layout.view_dirs(a.root, a.max_views):
        img = layout.read_color(vd)
        scene_txt = caption([Image.fromarray(img)])
        e = models.encode_texts(clip, tok, scene_txt, a.device)[0].cpu().numpy()
        np.save(os.path.join(vd, "caption_scene.npy"), e.astype(np.float32))
        mp = os.path.join(vd, "sam_mask.npy")
        if os.path.exists(mp):
            ids = np.load(mp)
            present, counts = np.unique(ids[ids >= 0], return_counts=True)
            keep = present[np.argsort(-counts, kind="stable")][: a.max_objects]
            crops, kept = [], []
            for mid in keep:
                ys, xs = np.nonzero(ids == mid)
                if ys.size < a.min_object_pixels:
                    continue
                crops.append(Image.fromarray(img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]))
                kept.append(int(mid))
            if kept:
                emb = models.encode_texts(clip, tok, caption(crops), a.device).cpu().numpy().astype(np.float32)
                np.save(os.path.join(vd, "caption_objects.npy"), emb)
                np.save(os.path.join(vd, "caption_object_ids.npy"), np.asarray(kept, dtype=np.int32))
        n += 1
    layout.record(a.root, "captions", {
        "captioner": f"BLIP (transformers BlipForConditionalGeneration) from {a.captioner or 'random-init'}",
        "text_encoder": f"open_clip {a.arch} ({a.weights or 'random-init'}), caption embeddings L2-normalised",
        "objects": f"bounding-box crops of the {a.max_objects} largest sam_mask ids (>= {a.min_object_pixels} px)",
        "views": n})
    print(f"captions: {n} views")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="leseg_export", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("text", help="class text embeddings (prompt ensembling) -> text_embeddings.npy")
    _common(p)
    p.add_argument("--arch", default="ViT-B-16")
    p.add_argument("--templates", help="template file (one per line, {} = class name)")
    p.set_defaults(fn=cmd_text)
    p = sub.add_parser("maskclip", help="MaskCLIP dense labels -> clip_label.png, clip_logits.npy, clip_feat.npy")
    _common(p)
    p.add_argument("--arch", default="ViT-B-16")
    p.add_argument("--short-side", type=int, default=448)
    p.set_defaults(fn=cmd_maskclip)
    p = sub.add_parser("sam", help="SAM automatic masks + image features -> sam_mask.npy, sam_feat.npy")
    _common(p)
    p.add_argument("--arch", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    p.add_argument("--points-per-side", type=int, default=32)
    p.add_argument("--pred-iou-thresh", type=float, default=0.88)
    p.add_argument("--stability-thresh", type=float, default=0.95)
    p.add_argument("--feat-dim", type=int, default=64, help="project the 256 channels to this many (0 = keep 256)")
    p.add_argument("--proj-seed", type=int, default=0)
    p.set_defaults(fn=cmd_sam)
    p = sub.add_parser("captions", help="scene / object captions encoded by CLIP -> caption_*.npy")
    _common(p)
    p.add_argument("--arch", default="ViT-B-16", help="CLIP text encoder (same as `text`)")
    p.add_argument("--captioner", help="local BLIP directory (config, weights, tokenizer)")
    p.add_argument("--max-objects", type=int, default=16)
    p.add_argument("--min-object-pixels", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=20)
    p.set_defaults(fn=cmd_captions)
    a = ap.parse_args(argv)
    t0 = time.time()
    a.fn(a)
    print(f"({a.cmd}: {time.time() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
