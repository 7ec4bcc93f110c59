"""Complete, plain JPEG and TIFF files decoded by OpenCV in one call that holds the GIL for none of it.

Pillow decodes such a file and then hands the pixels to numpy through ``Image.tobytes``: thousands of
64 KB encoder steps in a Python loop and one ``b"".join`` of the whole image, all holding the GIL
(a 10000 x 10000 JPEG: ~300 MB). A thread beside it that takes the GIL often, as the GUI thread does
(every Qt call back into Python takes it), then waits up to a switch interval (5 ms) each time: a
window opening a 10000 x 10000 JPEG stalled 200-300 ms in some runs (an 8000 x 8000 LZW TIFF: 150-220
ms). ``cv2.imdecode`` holds the GIL for none of the decode. libjpeg-turbo and libtiff there give the
same pixels as Pillow's (checked in tests/core/test_fast_decode.py).

Only files this path is sure about take it; everything else returns None and goes through Pillow as
before, with Pillow's messages. The file must be one Pillow has opened (its header parsed; nothing
decoded yet), single-frame, within OpenCV's pixel limit, and:

- JPEG: grey (``L``) or ``RGB`` (not CMYK, which the two convert differently), its last two bytes the
  end-of-image marker (a cut-off file never reaches OpenCV, which would decode the part that is there
  without a word). Its EXIF orientation is read and applied by the caller, as Labelme does.
- TIFF: 8-bit unsigned grey (black is zero) or RGB, chunky, stored plain or with LZW, Deflate or
  PackBits, and no orientation tag (Pillow turns TIFFs upright as it loads them). Not RGBA: OpenCV's
  libtiff path hands back colours premultiplied by alpha, Pillow the stored ones.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from segdesk.core import png_fast

EOI = b"\xff\xd9"
_JPEG_FLAGS = {
    "L": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION,
    "RGB": cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION,
}
_TIFF_FLAGS = {
    "L": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION,
    "RGB": cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION,
}
#: TIFF tags: (tag, the values this path takes; None = the tag may be absent)
_TIFF_PLAIN = {
    258: {8, (8,), (8, 8, 8)},  # bits per sample
    259: {1, 5, 8, 32946, 32773},  # compression: none, LZW, Deflate (both codes), PackBits
    284: {None, 1},  # planar configuration: chunky
    339: {None, 1, (1,), (1, 1, 1)},  # sample format: unsigned integer
}
_PHOTOMETRIC = {"L": 1, "RGB": 2}
_ORIENTATION_TAG = 0x0112


def decode_plain(raw: bytes, im: Any) -> np.ndarray | None:
    """The pixels (uint8, HxW or HxWx3 RGB) of ``raw``, a complete plain JPEG or TIFF that
    Pillow opened as ``im`` (format, mode, size and tags read from the header), else None: not such a
    file, or OpenCV did not decode it whole (Pillow then decodes it, or says what is wrong with it)."""
    if getattr(im, "n_frames", 1) != 1:
        return None
    if im.format == "JPEG":
        flags = _JPEG_FLAGS.get(im.mode)
        if flags is None or not raw.endswith(EOI):
            return None  # CMYK; or cut off (or followed by other data): Pillow's path says which
    elif im.format == "TIFF":
        flags = _TIFF_FLAGS.get(im.mode)
        if flags is None or not _plain_tiff(im):
            return None
    else:
        return None
    width, height = im.size
    if width * height > png_fast.OPENCV_PIXELS:
        return None  # over OpenCV's limit: Pillow follows segdesk's own
    try:
        a = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flags)
    except cv2.error:
        return None
    if a is None or a.dtype != np.uint8 or a.shape[:2] != (height, width):
        return None
    if (a.ndim == 3) != (im.mode == "RGB"):
        return None
    return a


def _plain_tiff(im: Any) -> bool:
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return False
    for tag, allowed in _TIFF_PLAIN.items():
        if tags.get(tag) not in allowed:
            return False
    return tags.get(262) == _PHOTOMETRIC[im.mode] and tags.get(_ORIENTATION_TAG, 1) == 1


__all__ = ["decode_plain"]
