# SPDX-License-Identifier: Apache-2.0
"""leseg-export: real foundation-model outputs (CLIP / MaskCLIP, SAM, a captioner) written in leseg's scene layout
(io/scene.h). See docs/real-data.md. `python -m leseg_export {text,maskclip,sam,captions} ROOT ...`."""
__version__ = "0.1.0"
