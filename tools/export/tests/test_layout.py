# SPDX-License-Identifier: Apache-2.0
"""File-writing helpers without torch: label PNG round trip (65535 = none), f16 arrays, text embeddings and
dataset.json, the SAM flattening rule, provenance records."""
import json
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from leseg_export import layout  # noqa: E402
import fixture  # noqa: E402


class LayoutTest(unittest.TestCase):
    def test_no_torch_needed(self):
        self.assertNotIn("torch", sys.modules)

    def test_label_png_round_trip(self):
        with tempfile.TemporaryDirectory() as d:
            lab = np.array([[-1, 0, 1], [2, 65534, -1]], dtype=np.int32)
            p = os.path.join(d, "clip_label.png")
            layout.write_label_png(p, lab)
            np.testing.assert_array_equal(layout.read_label_png(p), lab)
            from PIL import Image
            raw = np.asarray(Image.open(p))
            self.assertEqual(raw[0, 0], 65535)
            with self.assertRaises(ValueError):
                layout.write_label_png(p, np.array([[70000]]))
            with self.assertRaises(ValueError):
                layout.write_label_png(p, np.zeros(3))

    def test_f16_arrays(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "clip_feat.npy")
            layout.write_f16(p, np.ones((2, 3, 4), np.float32) / 3, 3)
            a = np.load(p)
            self.assertEqual(a.dtype, np.float16)
            self.assertEqual(a.shape, (2, 3, 4))
            with self.assertRaises(ValueError):
                layout.write_f16(p, np.ones((2, 3)), 3)

    def test_text_embeddings_unit_rows_and_text_dim(self):
        with tempfile.TemporaryDirectory() as d:
            fixture.make_root(d)
            layout.write_text_embeddings(d, np.arange(1, 13, dtype=np.float64).reshape(3, 4))
            e = np.load(os.path.join(d, "text_embeddings.npy"))
            self.assertEqual(e.dtype, np.float32)
            np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, rtol=1e-6)
            with open(os.path.join(d, "dataset.json")) as f:
                self.assertEqual(json.load(f)["text_dim"], 4)
            with self.assertRaises(ValueError):  # 2 rows for 3 classes
                layout.write_text_embeddings(d, np.ones((2, 4)))
            with self.assertRaises(ValueError):
                layout.write_text_embeddings(d, np.zeros((3, 4)))

    def test_flatten_masks_descending_area_smaller_wins_uncovered_minus_one(self):
        big = np.zeros((4, 6), bool)
        big[:, :4] = True  # area 16
        small = np.zeros((4, 6), bool)
        small[1:3, 2:5] = True  # area 6, overlaps big on columns 2-3
        tiny = np.zeros((4, 6), bool)
        tiny[1, 2] = True  # area 1, inside both
        ids, order = layout.flatten_masks([small, tiny, big], 4, 6)
        self.assertEqual(order, [2, 0, 1])  # ids: 0 = big, 1 = small, 2 = tiny
        self.assertEqual(ids.dtype, np.int32)
        self.assertEqual(ids[0, 0], 0)  # only big
        self.assertEqual(ids[2, 2], 1)  # big and small: small wins
        self.assertEqual(ids[1, 2], 2)  # all three: tiny wins
        self.assertEqual(ids[1, 4], 1)  # only small
        self.assertEqual(ids[0, 5], -1)  # uncovered
        self.assertEqual(ids[3, 5], -1)
        empty, _ = layout.flatten_masks([], 2, 2)
        self.assertTrue((empty == -1).all())
        with self.assertRaises(ValueError):
            layout.flatten_masks([np.ones((3, 3), bool)], 4, 6)

    def test_view_dirs_and_record(self):
        with tempfile.TemporaryDirectory() as d:
            fixture.make_root(d, views=3)
            v = layout.view_dirs(d)
            self.assertEqual([os.path.basename(x) for x in v], ["0", "1", "2"])
            self.assertEqual(len(layout.view_dirs(d, 2)), 2)
            layout.record(d, "sam", {"weights": "x.pth"})
            layout.record(d, "text", {"weights": "y.pt"})
            with open(os.path.join(d, "export.json")) as f:
                self.assertEqual(set(json.load(f)), {"sam", "text"})
            with self.assertRaises(FileNotFoundError):
                layout.view_dirs(os.path.join(d, "nope"))


if __name__ == "__main__":
    unittest.main()
