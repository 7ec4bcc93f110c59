"""Complete, plain PNG files decoded by OpenCV in one call that releases the GIL for the whole image.

Pillow decodes a PNG in Python-level steps of ~64 KB and takes the GIL back after each. Beside a
thread that holds the GIL (the annotation being parsed while the image is read), each step can wait
a switch interval, so a 4000 x 3000 PNG that takes ~0.3 s alone took 0.45-1 s beside the parse.
``cv2.imdecode`` releases the GIL once for the whole decode, so both threads really run in parallel.

Only files this path is sure about take it: a PNG whose chunks are all there up to IEND (walked from
their headers before any pixel is decoded, so a cut-off file never reaches libpng; the checksums of
all but the image data checked, which libpng checks itself), not interlaced, 8 or 16 bits
grey, RGB or RGBA, and nothing OpenCV would read differently from Pillow: no palette, no grey+alpha,
no tRNS transparency key (OpenCV adds an alpha channel, Pillow keeps RGB), no EXIF orientation (an
eXIf chunk or a "Raw profile type exif" text, which Labelme applies), no animation, no iCCP profile
(libpng warns on stderr about some common ones). Everything else returns None and is decoded by
Pillow as before. A PNG that passes the walk but that libpng refuses
(a checksum or the compressed data is wrong) raises ImageReadError: libpng never hands back part of
an image, but it prints its reason ("libpng error: ...") on stderr once.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from segdesk.core.errors import ImageReadError
from segdesk.core.pixel_limit import OPENCV_ENV_VAR, check_pixels

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: (colour type, bit depth) OpenCV decodes exactly as Pillow does: grey, RGB, RGBA.
_FAST_KINDS = {(0, 8), (0, 16), (2, 8), (2, 16), (6, 8), (6, 16)}
#: Chunks that make OpenCV's reading differ from Pillow's (see the module's text), and iCCP, for which
#: libpng prints "known incorrect sRGB profile" warnings on stderr.
_PILLOW_CHUNKS = {b"tRNS", b"eXIf", b"acTL", b"iCCP"}
_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
_EXIF_TEXT = b"raw profile type exif"
_HEADER = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")
_CRC = struct.Struct(">I")
_MAX_CHUNK = 2**31 - 1


def _opencv_pixels() -> int:
    """The pixel count OpenCV refuses beyond: it read OPENCV_IO_MAX_IMAGE_PIXELS once, at its import
    (set by pixel_limit before). A limit raised later (``--max-image-pixels``) reaches Pillow only."""
    try:
        return int(os.environ.get(OPENCV_ENV_VAR) or 1 << 30)
    except ValueError:
        return 0  # OpenCV would misread it too: leave every PNG to Pillow


#: Bigger images take Pillow's path, which follows segdesk's own limit.
OPENCV_PIXELS = _opencv_pixels()


def decode_png(
    raw: bytes, *, source: str | Path | None = None, place: str | None = None
) -> np.ndarray | None:
    """The pixels (RGB channel order, uint8 or uint16) of a complete plain PNG, else None.

    None: not a PNG, or one Pillow decodes (cut off, unusual chunks, palette ...). Raises
    ImageReadError over the pixel limit (from the header, before decoding) and when libpng finds
    the image data damaged.
    """
    kind = _plain_png(raw)
    if kind is None:
        return None
    width, height, colour, depth = kind
    check_pixels(width, height, source, place)
    buf = np.frombuffer(raw, dtype=np.uint8)
    if colour == 2:  # RGB straight from libpng: no channel swap afterwards
        flags = (
            cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION | (cv2.IMREAD_ANYDEPTH if depth == 16 else 0)
        )
    else:
        flags = cv2.IMREAD_UNCHANGED
    try:
        a = cv2.imdecode(buf, flags)
    except cv2.error as exc:  # not damage (OpenCV returns None for that): memory, limits
        reason = str(exc).strip().splitlines()[-1].split("error: ", 1)[-1]
        raise ImageReadError(source, place, f"cannot decode the image: OpenCV: {reason}") from exc
    if a is None or a.shape[:2] != (height, width):
        raise ImageReadError(
            source,
            place,
            "cannot decode the image: the PNG's image data is damaged (a checksum or the compressed "
            "pixels are wrong; libpng refused it)",
        )
    if colour == 6:
        a = cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA)
    return a


def _plain_png(raw: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, colour type, bit depth) when ``raw`` is a complete PNG this path decodes."""
    if not raw.startswith(SIGNATURE):
        return None
    size = len(raw)
    pos = len(SIGNATURE)
    header: tuple[int, ...] | None = None
    seen_idat = False
    while True:
        if pos + 8 > size:
            return None  # cut off: Pillow says so (or decodes what a missing IEND leaves whole)
        length, ctype = _HEADER.unpack_from(raw, pos)
        end = pos + 12 + length
        if length > _MAX_CHUNK or end > size:
            return None
        if (
            ctype != b"IDAT"
            and zlib.crc32(memoryview(raw)[pos + 4 : end - 4]) != _CRC.unpack_from(raw, end - 4)[0]
        ):
            return None  # libpng would warn on stderr (or stop); Pillow's path says what it says today
        if header is None:
            if ctype != b"IHDR" or length != _IHDR.size:
                return None
            header = _IHDR.unpack_from(raw, pos + 8)
        elif ctype == b"IDAT":
            seen_idat = True
        elif ctype == b"IEND":
            break
        elif ctype in _PILLOW_CHUNKS or ctype == b"IHDR":
            return None
        elif ctype in _TEXT_CHUNKS:
            keyword = bytes(raw[pos + 8 : pos + 8 + min(length, 80)]).split(b"\0", 1)[0]
            if keyword.lower().startswith(_EXIF_TEXT):
                return None
        pos = end
    width, height, depth, colour, compression, filtering, interlace = header
    if (colour, depth) not in _FAST_KINDS or compression or filtering or interlace:
        return None
    if not seen_idat or not 0 < width <= _MAX_CHUNK or not 0 < height <= _MAX_CHUNK:
        return None
    if width * height > OPENCV_PIXELS:
        return None
    return width, height, colour, depth


__all__ = ["SIGNATURE", "decode_png"]
