# SPDX-License-Identifier: Apache-2.0
"""Every subcommand with RANDOMLY INITIALISED models of the real architectures (open_clip ViT-B-16, SAM vit_b, BLIP
base; no weights anywhere) on the tiny fixture: shapes, dtypes, the id rules, provenance, and that
`leseg data inspect` (LESEG_BIN) reads the result. Slow (minutes on 2 CPU cores: SAM's encoder runs at 1024 px)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import fixture  # noqa: E402
from leseg_export import cli, layout  # noqa: E402


class RandomInitExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = fixture.make_root(os.path.join(cls.tmp.name, "data"), views=1)  # SAM at 1024 px is the slow part
        tmpl = os.path.join(cls.tmp.name, "templates.txt")  # outside the root: inspect reads every *.txt there as a split
        with open(tmpl, "w") as f:
            f.write("a photo of a {}.\nthere is a {} in the scene.\n")
        cli.main(["text", cls.root, "--random-init", "--templates", tmpl])
        cli.main(["maskclip", cls.root, "--random-init", "--short-side", "224"])
        cli.main(["sam", cls.root, "--random-init", "--max-views", "1", "--points-per-side", "4", "--pred-iou-thresh", "0",
                  "--stability-thresh", "0"])
        cli.main(["captions", cls.root, "--random-init", "--max-views", "1", "--max-objects", "2",
                  "--max-tokens", "4", "--min-object-pixels", "1"])
        cls.v0 = os.path.join(cls.root, "scenes", "room0", "views", "0")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_text(self):
        e = np.load(os.path.join(self.root, "text_embeddings.npy"))
        self.assertEqual((e.shape, e.dtype), ((3, 512), np.float32))
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, rtol=1e-5)
        self.assertEqual(layout.read_dataset_json(self.root)["text_dim"], 512)

    def test_maskclip(self):
        lab = layout.read_label_png(os.path.join(self.v0, "clip_label.png"))
        self.assertEqual(lab.shape, (96, 128))
        self.assertTrue(((lab >= 0) & (lab < 3)).all())
        lo = np.load(os.path.join(self.v0, "clip_logits.npy"))
        fe = np.load(os.path.join(self.v0, "clip_feat.npy"))
        # 96x128 -> short side 224 -> 224 x 304 (multiples of 16) -> a 14 x 19 patch grid
        self.assertEqual((lo.shape, lo.dtype), ((14, 19, 3), np.float16))
        self.assertEqual((fe.shape, fe.dtype), ((14, 19, 512), np.float16))
        np.testing.assert_allclose(np.linalg.norm(fe.astype(np.float32), axis=-1), 1, atol=2e-3)
        # logits are the scaled cosines with the text embeddings
        te = np.load(os.path.join(self.root, "text_embeddings.npy"))
        cos = fe.astype(np.float32) @ te.T
        ratio = lo.astype(np.float32) / np.where(np.abs(cos) > 1e-2, cos, np.nan)
        self.assertLess(np.nanstd(ratio) / np.nanmean(ratio), 0.02)

    def test_sam(self):
        ids = np.load(os.path.join(self.v0, "sam_mask.npy"))
        self.assertEqual((ids.shape, ids.dtype), ((96, 128), np.int32))
        self.assertGreaterEqual(ids.min(), -1)
        feat = np.load(os.path.join(self.v0, "sam_feat.npy"))
        self.assertEqual((feat.shape, feat.dtype), ((48, 64, 64), np.float16))  # 1024/128 = 8x: 768 x 1024 -> 48 x 64
        proj = np.load(os.path.join(self.root, "sam_feat_projection.npy"))
        self.assertEqual(proj.shape, (256, 64))
        with open(os.path.join(self.root, "export.json")) as f:
            rec = json.load(f)
        self.assertIn("smaller wins", rec["sam"]["sam_mask"])
        self.assertEqual(set(rec), {"text", "maskclip", "sam", "captions"})

    def test_captions(self):
        cs = np.load(os.path.join(self.v0, "caption_scene.npy"))
        self.assertEqual((cs.shape, cs.dtype), ((512,), np.float32))
        self.assertAlmostEqual(float(np.linalg.norm(cs)), 1.0, places=4)
        ids = np.load(os.path.join(self.v0, "sam_mask.npy"))
        if (ids >= 0).any():
            co = np.load(os.path.join(self.v0, "caption_objects.npy"))
            ci = np.load(os.path.join(self.v0, "caption_object_ids.npy"))
            self.assertEqual(ci.dtype, np.int32)
            self.assertEqual(co.shape, (len(ci), 512))
            self.assertTrue(set(ci.tolist()) <= set(np.unique(ids[ids >= 0]).tolist()))

    def test_leseg_inspect_reads_it(self):
        exe = os.environ.get("LESEG_BIN")
        if not exe or not os.path.exists(exe):
            self.skipTest("LESEG_BIN not set: `leseg data inspect` not run")
        r = subprocess.run([exe, "data", "inspect", self.root], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("calibration on 1 scenes", r.stdout + r.stderr)
        self.assertIn("after SAM-mask voting", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
