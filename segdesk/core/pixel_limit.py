"""One limit on the pixels of any image segdesk decodes (a decompression bomb is refused, not decoded).

The limit (default 2**28 pixels, e.g. 16384 x 16384) applies to Pillow, to OpenCV and to segdesk's
own checks before it decodes: a 1 MB PNG of 32768 x 32768 zeros would otherwise cost gigabytes.
A person with real gigapixel slides raises it with ``--max-image-pixels`` on the command line or the
``SEGDESK_MAX_IMAGE_PIXELS`` environment variable (the tiled paths handle such images).

* Pillow: ``PIL.Image.MAX_IMAGE_PIXELS`` is set to half the limit, because Pillow refuses
  (DecompressionBombError) only beyond twice its value and merely warns below.
* OpenCV reads ``OPENCV_IO_MAX_IMAGE_PIXELS`` once, when ``cv2`` is imported: this module sets it
  (unless the person did) and is imported by ``image_io`` before ``cv2``. segdesk also checks the
  size from the header before calling OpenCV wherever a header can be read.
"""

from __future__ import annotations

import os
from pathlib import Path

import PIL.Image

from segdesk.core.errors import ImageReadError

DEFAULT_MAX_IMAGE_PIXELS = 2**28
ENV_VAR = "SEGDESK_MAX_IMAGE_PIXELS"
OPENCV_ENV_VAR = "OPENCV_IO_MAX_IMAGE_PIXELS"

_limit = DEFAULT_MAX_IMAGE_PIXELS


def _parse(value: str, source: str) -> int:
    try:
        number = int(value.replace("_", "").strip())
    except ValueError as exc:
        raise ValueError(f"{source}: expected a whole number of pixels, got {value!r}") from exc
    if number < 1:
        raise ValueError(f"{source}: expected a positive number of pixels, got {number}")
    return number


def max_image_pixels() -> int:
    """The current limit in pixels."""
    return _limit


def set_max_image_pixels(pixels: int) -> None:
    """Set the limit for every decoder (Pillow now; OpenCV for a ``cv2`` imported later)."""
    global _limit
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
        raise ValueError(f"the pixel limit must be a positive whole number, got {pixels!r}")
    _limit = pixels
    PIL.Image.MAX_IMAGE_PIXELS = max(1, pixels // 2)  # Pillow raises beyond twice this value
    os.environ[OPENCV_ENV_VAR] = str(pixels)


def check_pixels(width: int, height: int, source: str | Path | None, place: str | None = None) -> None:
    """Raise ImageReadError when a ``width`` x ``height`` image is over the limit."""
    if int(width) * int(height) > _limit:
        raise ImageReadError(source, place, too_large_message(int(width), int(height)))


def too_large_message(width: int | None = None, height: int | None = None) -> str:
    size = f"{width} x {height} pixels is" if width is not None and height is not None else "the image is"
    return (
        f"{size} over the limit of {_limit} pixels (a decompression bomb?); raise the limit with "
        f"--max-image-pixels or {ENV_VAR} for a real image this large"
    )


def _from_environment() -> None:
    value = os.environ.get(ENV_VAR)
    pixels = DEFAULT_MAX_IMAGE_PIXELS
    if value:
        try:
            pixels = _parse(value, ENV_VAR)
        except ValueError:
            pixels = DEFAULT_MAX_IMAGE_PIXELS  # a bad value must not stop the app; the CLI reports it
    opencv = os.environ.get(OPENCV_ENV_VAR)
    set_max_image_pixels(pixels)
    if opencv and not value:  # the person's own OpenCV setting stays when segdesk's is not given
        os.environ[OPENCV_ENV_VAR] = opencv


def parse_pixels(value: str) -> int:
    """argparse type for ``--max-image-pixels``."""
    try:
        return _parse(value, "--max-image-pixels")
    except ValueError as exc:
        import argparse

        raise argparse.ArgumentTypeError(str(exc)) from exc


_from_environment()

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "ENV_VAR",
    "check_pixels",
    "max_image_pixels",
    "parse_pixels",
    "set_max_image_pixels",
    "too_large_message",
]
