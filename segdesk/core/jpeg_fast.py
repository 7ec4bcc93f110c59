"""Complete baseline or progressive JPEGs decoded by OpenCV in one call that releases the GIL throughout.

Pillow decodes a JPEG and then hands the pixels to numpy through ``Image.tobytes``: thousands of
64 KB encoder steps in a Python loop and one ``b"".join`` of the whole image, all holding the GIL
(a 10000 x 10000 JPEG: ~300 MB). A thread beside it that needs the GIL often, as the GUI thread does
(every Qt call back into Python takes it), then waits up to a switch interval (5 ms) each time: a
window opening a 10000 x 10000 JPEG stalled 200-300 ms in some runs. ``cv2.imdecode`` holds the GIL
for none of the decode, and libjpeg-turbo gives the same pixels as Pillow's (both decode with the
library's defaults: islow DCT, fancy upsampling; checked in tests/core/test_jpeg_fast.py).

Only files this path is sure about take it (everything else returns None and goes through Pillow as
before, with Pillow's messages): a JPEG Pillow has opened (its header parsed; nothing decoded yet) as
grey (``L``) or ``RGB`` (not CMYK, which the two libraries convert differently), single-frame, whose
last two bytes are the end-of-image marker (a cut-off file never reaches OpenCV, which would decode the
part that is there without a word), with no more pixels than OpenCV's own limit. The EXIF orientation
is still read and applied by the caller, as Labelme does (OpenCV is told to ignore it).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from segdesk.core import png_fast

EOI = b"\xff\xd9"
_FLAGS = {
    "L": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION,
    "RGB": cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION,
}


def decode_jpeg(raw: bytes, im: Any) -> np.ndarray | None:
    """The pixels (uint8, HxW or HxWx3 RGB) of ``raw``, a complete plain JPEG that Pillow opened as
    ``im`` (format, mode and size read from the header), else None: not such a file, or OpenCV did not
    decode it whole (Pillow then decodes it, or says what is wrong with it)."""
    flags = _FLAGS.get(im.mode)
    if im.format != "JPEG" or flags is None or getattr(im, "n_frames", 1) != 1:
        return None
    if not raw.endswith(EOI):
        return None  # cut off (or followed by other data): Pillow's path says which
    width, height = im.size
    if width * height > png_fast.OPENCV_PIXELS:
        return None  # over OpenCV's limit: Pillow follows segdesk's own
    try:
        a = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flags)
    except cv2.error:
        return None
    if a is None or a.shape[:2] != (height, width) or (a.ndim == 3) != (im.mode == "RGB"):
        return None
    return a


__all__ = ["decode_jpeg"]
