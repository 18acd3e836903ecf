# SPDX-License-Identifier: Apache-2.0
"""The foundation models, through the real libraries: open_clip (CLIP / MaskCLIP), segment_anything (SAM),
transformers (BLIP captioner). Weights only from the user's files (`--weights`, a local directory for the
captioner); `random_init=True` builds the same architecture with random weights (tests; no download anywhere)."""
import math

import numpy as np
import torch
import torch.nn.functional as F

# OpenAI CLIP's image normalisation (open_clip.constants.OPENAI_DATASET_MEAN / STD), recorded in export.json.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def load_clip(arch="ViT-B-16", weights=None, random_init=False, device="cpu"):
    import open_clip
    if not random_init and not weights:
        raise ValueError("CLIP: pass --weights FILE (an open_clip / OpenAI checkpoint) or --random-init (tests)")
    model = open_clip.create_model(arch, pretrained=None if random_init else weights, device=device)
    if random_init:
        torch.manual_seed(0)
    model.eval()
    tokenizer = open_clip.get_tokenizer(arch)  # the BPE vocabulary ships inside open_clip
    return model, tokenizer


@torch.no_grad()
def encode_texts(model, tokenizer, texts, device="cpu", batch=256):
    out = []
    for i in range(0, len(texts), batch):
        e = model.encode_text(tokenizer(texts[i:i + batch]).to(device)).float()
        out.append(F.normalize(e, dim=-1))
    return torch.cat(out)


@torch.no_grad()
def class_embeddings(model, tokenizer, classes, templates, device="cpu"):
    """Prompt ensembling: per class, every template encoded and L2-normalised, averaged, normalised."""
    rows = []
    for c in classes:
        name = c.replace("_", " ")
        e = encode_texts(model, tokenizer, [t.format(name) for t in templates], device)
        rows.append(F.normalize(e.mean(0), dim=-1))
    return torch.stack(rows)


def preprocess(image, short_side, patch=16, mean=CLIP_MEAN, std=CLIP_STD):
    """(H, W, 3) u8 -> (1, 3, H', W') f32: bicubic resize so the short side is `short_side` and both sides are
    multiples of the patch size, then CLIP's mean/std normalisation."""
    h, w = image.shape[:2]
    s = short_side / min(h, w)
    hh, ww = max(patch, int(round(h * s / patch)) * patch), max(patch, int(round(w * s / patch)) * patch)
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    x = F.interpolate(x, size=(hh, ww), mode="bicubic", align_corners=False).clamp(0, 1)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    sd = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / sd


@torch.no_grad()
def maskclip_dense(model, x):
    """MaskCLIP's dense CLIP features for an open_clip ViT: the usual forward up to the last block; in the last
    block the attention is replaced by its value path (v = W_v ln_1(x) + b_v, then the output projection; no
    query-key mixing), residual and MLP kept, then ln_post and the visual projection into the text space (the
    conversion CLIP2Scene uses). Returns (h, w, D) unit vectors on the patch grid."""
    v = model.visual
    if not hasattr(v, "transformer") or not hasattr(v, "conv1"):
        raise ValueError("maskclip: an open_clip VisionTransformer is needed (ViT-B-16); ResNet CLIPs are not supported")
    tokens = v.conv1(x)  # (1, width, h, w)
    _, width, h, w = tokens.shape
    tokens = tokens.reshape(1, width, h * w).permute(0, 2, 1)
    cls = v.class_embedding.to(tokens.dtype).view(1, 1, width)
    tokens = torch.cat([cls, tokens], dim=1)
    pos = v.positional_embedding.to(tokens.dtype)
    g = int(math.isqrt(pos.shape[0] - 1))
    grid = pos[1:].reshape(1, g, g, width).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(h * w, width)
    tokens = tokens + torch.cat([pos[:1], grid])[None]
    tokens = v.ln_pre(tokens)
    blocks = v.transformer.resblocks
    batch_first = getattr(v.transformer, "batch_first", True)
    t = tokens if batch_first else tokens.permute(1, 0, 2)
    for blk in blocks[:-1]:
        t = blk(t)
    if not batch_first:
        t = t.permute(1, 0, 2)
    last = blocks[-1]
    attn = last.attn
    y = last.ln_1(t)
    wv = attn.in_proj_weight[2 * width:]
    bv = attn.in_proj_bias[2 * width:] if attn.in_proj_bias is not None else None
    val = attn.out_proj(F.linear(y, wv, bv))
    ls1 = getattr(last, "ls_1", torch.nn.Identity())
    ls2 = getattr(last, "ls_2", torch.nn.Identity())
    t = t + ls1(val)
    t = t + ls2(last.mlp(last.ln_2(t)))
    t = v.ln_post(t[:, 1:])
    if v.proj is not None:
        t = t @ v.proj
    return F.normalize(t.reshape(h, w, -1).float(), dim=-1)


def load_sam(arch="vit_b", weights=None, random_init=False, device="cpu"):
    from segment_anything import sam_model_registry
    if not random_init and not weights:
        raise ValueError("SAM: pass --weights FILE (e.g. sam_vit_b_01ec64.pth) or --random-init (tests)")
    if random_init:
        torch.manual_seed(0)
    sam = sam_model_registry[arch](checkpoint=None if random_init else weights)
    return sam.to(device).eval()


def load_captioner(model_dir=None, random_init=False, device="cpu"):
    """BLIP (transformers' BlipForConditionalGeneration) from a local directory (config, weights, tokenizer:
    e.g. a saved Salesforce/blip-image-captioning-base). random_init: the same architecture from the default
    BlipConfig with random weights and a stand-in word-piece vocabulary of the right size (tests only)."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor, BertTokenizer
    if random_init:
        import os
        import tempfile
        torch.manual_seed(0)
        cfg = BlipConfig()
        model = BlipForConditionalGeneration(cfg)
        d = tempfile.mkdtemp(prefix="leseg_blip_vocab_")
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        vocab += [f"w{i}" for i in range(cfg.text_config.vocab_size - len(vocab))]
        with open(os.path.join(d, "vocab.txt"), "w") as f:
            f.write("\n".join(vocab) + "\n")
        tok = BertTokenizer(os.path.join(d, "vocab.txt"))
        tok.bos_token = "[CLS]"
        proc = BlipProcessor(image_processor=BlipImageProcessor(), tokenizer=tok)
    else:
        if not model_dir:
            raise ValueError("captions: pass --captioner DIR (a local BLIP directory) or --random-init (tests)")
        model = BlipForConditionalGeneration.from_pretrained(model_dir, local_files_only=True)
        proc = BlipProcessor.from_pretrained(model_dir, local_files_only=True)
    return model.to(device).eval(), proc
