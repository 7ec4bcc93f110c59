"""EXIF orientation as Labelme 6.3.1 applies it (``labelme.utils.apply_exif_orientation``), and the
orientation Pillow itself applies to TIFF images when it loads them."""

from __future__ import annotations

import numpy as np
import PIL.Image

EXIF_ORIENTATION_TAG = 0x0112


def exif_orientation(im: PIL.Image.Image, *, allow_load: bool = True) -> int:
    """EXIF orientation where Labelme looks for it (classes with ``_getexif``), else 1."""
    getexif = getattr(im, "_getexif", None)
    if getexif is None:
        return 1
    if not allow_load and im.format == "PNG" and "exif" not in im.info:
        return 1  # an eXIf chunk after the pixel data would need a full decode to find
    try:
        exif = getexif()
    except Exception:  # a damaged EXIF block: Labelme would fail; showing the image unrotated is kinder
        return 1
    if not exif:
        return 1
    value = exif.get(EXIF_ORIENTATION_TAG)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def tiff_orientation(im: PIL.Image.Image) -> int:
    """The orientation Pillow itself applies to a TIFF when it loads it (0 for none or not TIFF)."""
    if im.format != "TIFF":
        return 0
    value = getattr(im, "tag_v2", {}).get(EXIF_ORIENTATION_TAG)
    return value if isinstance(value, int) and 2 <= value <= 8 else 0


def apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Labelme's apply_exif_orientation on arrays (ROTATE_270 = a quarter turn clockwise)."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = np.rot90(a, -1)[:, ::-1]
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = np.rot90(a, 1)[:, ::-1]
    elif orientation == 8:
        a = np.rot90(a, 1)
    else:
        return a
    return np.ascontiguousarray(a)


__all__ = ["EXIF_ORIENTATION_TAG", "apply_orientation", "exif_orientation", "tiff_orientation"]
