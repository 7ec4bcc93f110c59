"""Images read as Labelme reads them, keeping the original values for training.

Labelme 6.3.1 opens images with Pillow and applies the EXIF orientation where Pillow's image class
offers ``_getexif`` (JPEG, WebP and PNG with an eXIf chunk), with its own mapping of the eight
orientations; Pillow itself turns TIFF images upright when it loads them. segdesk does the same, so
``imageHeight``/``imageWidth`` agree with Labelme.
Embedded ``imageData`` is used as stored (Labelme checks its size without orientation).

``LoadedImage.data`` keeps the decoded values (uint8, uint16, int32 or float32; HxW or HxWxC with RGB
channel order); ``LoadedImage.display`` is uint8 HxWx3 RGB, with 16-bit and float images stretched
between robust minimum and maximum values. Plain PNGs (``png_fast``) and plain JPEGs and TIFFs
(``fast_decode``) are decoded by OpenCV in one GIL-free call, with Pillow's pixels; Pillow decodes the
rest that it can without loss; OpenCV takes what is left (16-bit colour PNG/TIFF, which Pillow
truncates to 8 bits, and multi-channel float TIFF).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from segdesk.core.errors import ImageReadError
from segdesk.core.fast_decode import decode_plain
from segdesk.core.orientation import apply_orientation, exif_orientation, tiff_orientation
from segdesk.core.pixel_limit import check_pixels, too_large_message
from segdesk.core.png_fast import decode_png
from segdesk.core.tiff_header import count_pages, describe_tiff

# Pillow logs what it cannot decode ("More samples per pixel than can be decoded") to stderr when no
# logging is set up; segdesk says it in its own error, naming the file.
logging.getLogger("PIL").addHandler(logging.NullHandler())

#: Image file extensions segdesk opens (lower case, with the dot).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: Formats Pillow decodes completely (16-bit colour PNG aside, which it opens and OpenCV decodes).
_PIL_DECODES_ALL = {"PNG", "JPEG", "MPO", "BMP", "WEBP", "GIF"}
#: Signatures of those formats: data that starts so and that Pillow cannot open is damaged, and
#: OpenCV would only print a stray error line ("IHDR chunk shall be first", "libpng error") to stderr.
_PIL_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
_TO_RGB_MODES = {"CMYK", "YCbCr", "LAB", "HSV", "RGBX"}
_TO_RGBA_MODES = {"PA", "RGBa", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_ROBUST_PERCENTILES = (0.5, 99.5)
_ROBUST_SAMPLE = 1 << 20  # percentiles of a ~1M-value sample are as good as of all values


@dataclass
class LoadedImage:
    """A decoded image: ``data`` with its original values, ``display`` as uint8 RGB."""

    data: np.ndarray
    display: np.ndarray
    path: Path | None = None
    pages: int = 1  # a multi-page TIFF (a z-stack, a time series): only the first page is read

    @property
    def height(self) -> int:
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width)."""
        return (self.height, self.width)


# --- public API ---------------------------------------------------------------------------------


def read_image(path: str | Path, *, after_read: Callable[[], object] | None = None) -> LoadedImage:
    """Read an image file with EXIF orientation applied as Labelme does.

    ``after_read`` is called once the file's bytes are in memory (or could not be read), before
    decoding. Raises ImageReadError (naming the file) when it is missing, unreadable or not an image.
    """
    path = Path(path)
    try:
        raw = _read_bytes(path)
    finally:
        if after_read is not None:
            after_read()
    data = decode_image_bytes(raw, source=path, orient=True)
    return LoadedImage(data=data, display=to_display(data), path=path, pages=count_pages(raw))


def decode_image_data(image_data: str | bytes, *, source: str | Path | None = None) -> LoadedImage:
    """Decode Labelme's base64 ``imageData``; ``source`` (the JSON file) names errors."""
    raw = _b64decode(image_data, source)
    data = decode_image_bytes(raw, source=source, place="imageData", orient=False)
    return LoadedImage(data=data, display=to_display(data), path=None)


def encode_image_data(path: str | Path) -> str:
    """The base64 text to embed as ``imageData`` for an image file.

    As Labelme: the file's own bytes for an unrotated JPEG or PNG. Otherwise the oriented image is
    re-encoded: JPEG (quality 95) when the source is a JPEG without alpha, lossless PNG in every other
    case (Labelme uses JPEG there too; PNG keeps the pixels). Other 16-bit images become 16-bit PNG;
    float images are embedded as their 8-bit display version, which is all Labelme can show.
    """
    path = Path(path)
    raw = _read_bytes(path)
    ext = path.suffix.lower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with PIL.Image.open(io.BytesIO(raw)) as im:
                orientation = exif_orientation(im)
                fmt = im.format
        except Exception:
            orientation, fmt = 1, None
    if orientation in (0, 1) and ext in (".jpg", ".jpeg", ".png") and fmt in ("JPEG", "MPO", "PNG"):
        return base64.b64encode(raw).decode("ascii")
    data = decode_image_bytes(raw, source=path, orient=True)
    return base64.b64encode(_encode_for_embedding(data, path, jpeg=fmt in ("JPEG", "MPO"))).decode("ascii")


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file after EXIF orientation, without decoding the pixels."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, None, "image file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with PIL.Image.open(path) as im:
                width, height = im.size  # a TIFF's size is already upright
                orientation = exif_orientation(im, allow_load=False)
    except PIL.Image.DecompressionBombError as exc:
        raise ImageReadError(path, None, too_large_message()) from exc
    except Exception:
        # Pillow cannot read the header (float colour TIFF, ...): decode it fully instead (OpenCV,
        # within the pixel limit).
        return read_image(path).shape
    check_pixels(width, height, path)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return (height, width)


def embedded_image_size(image_data: str | bytes, *, source: str | Path | None = None) -> tuple[int, int]:
    """(height, width) of a base64 ``imageData`` as Labelme measures it (no orientation)."""
    raw = _b64decode(image_data, source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with PIL.Image.open(io.BytesIO(raw)) as im:
                width, height = im.size
    except PIL.Image.DecompressionBombError as exc:
        raise ImageReadError(source, "imageData", too_large_message()) from exc
    except Exception:
        data = decode_image_bytes(raw, source=source, place="imageData", orient=False)
        return (int(data.shape[0]), int(data.shape[1]))
    check_pixels(width, height, source, "imageData")
    return (height, width)


def decode_image_bytes(
    raw: bytes,
    *,
    source: str | Path | None = None,
    place: str | None = None,
    orient: bool = True,
) -> np.ndarray:
    """Decode an encoded image to an array with its original values (RGB channel order)."""
    if not raw:
        raise ImageReadError(source, place, "the image is empty (0 bytes)")
    fast = decode_png(raw, source=source, place=place)  # one GIL-free call (png_fast says when)
    if fast is not None:
        return fast  # no EXIF orientation in a PNG that takes this path
    orientation = 1
    data: np.ndarray | None = None
    pil_error: Exception | None = None
    pil_format: str | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with PIL.Image.open(io.BytesIO(raw)) as im:
                pil_format = im.format
                check_pixels(*im.size, source, place)  # before any pixel is decoded
                truncates = _pil_truncates(im)  # before load(), which clears the tile list
                tiff_turn = tiff_orientation(im)  # Pillow applies it in load() and drops the tag
                data = decode_plain(raw, im)  # one GIL-free call (fast_decode says when), else Pillow's
                if data is None:
                    im.load()
                orientation = exif_orientation(im) if orient else 1
                if data is None and not truncates:
                    data = _pil_to_array(im)
                elif orient and tiff_turn:
                    orientation = tiff_turn
    except ImageReadError:
        raise
    except PIL.Image.DecompressionBombError as exc:
        raise ImageReadError(source, place, too_large_message()) from exc
    except Exception as exc:  # Pillow raises many types for bad data; OpenCV gets a chance next
        pil_error = exc
    if pil_format is None and raw.startswith(_PIL_MAGIC):
        pil_format = "known"  # a PNG/JPEG/BMP/GIF signature Pillow could not open: damaged, not exotic
    if pil_error is not None and (
        pil_format in _PIL_DECODES_ALL or pil_format == "known" or "truncated" in str(pil_error).lower()
    ):
        # Pillow knows this format and found it damaged: OpenCV would decode part of a truncated
        # JPEG silently, or print a stray "libpng error" line.
        raise ImageReadError(source, place, f"cannot decode the image: {pil_message(pil_error)}")
    if data is None:
        data = _cv2_decode(raw)
    if data is None:
        tiff = describe_tiff(raw)
        reason = f": {pil_message(pil_error)}" if pil_error is not None else ""
        raise ImageReadError(source, place, tiff or f"cannot decode the image{reason}")
    return apply_orientation(data, orientation)


def pil_message(exc: BaseException) -> str:
    """A Pillow error as a sentence: no ``<_io.BytesIO object at 0x...>``, a hint for truncation."""
    if isinstance(exc, PIL.UnidentifiedImageError):
        return "not an image format segdesk reads (the data is not a PNG, JPEG, TIFF, BMP or WebP image)"
    text = _OBJECT_REPR.sub("the data", str(exc)) or type(exc).__name__
    if "truncated" in text.lower() and "(" not in text:
        text += " (the file ends before the image data does: cut off while copying or saving?)"
    return text


def to_display(data: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB for showing: alpha dropped, grey repeated, 16-bit/float stretched robustly."""
    a = np.asarray(data)
    if a.ndim == 3 and a.shape[2] in (1, 2):
        a = a[:, :, 0]  # grey (+ alpha)
    elif a.ndim == 3 and a.shape[2] > 3:
        a = a[:, :, :3]
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC image, got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = _stretch_to_uint8(a)
    if a.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(a)


# --- decoding helpers ---------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageReadError(path, None, "image file not found") from exc
    except IsADirectoryError as exc:
        raise ImageReadError(path, None, "is a folder, not an image") from exc
    except OSError as exc:
        raise ImageReadError(path, None, f"cannot read the file: {exc.strerror or exc}") from exc


def _b64decode(image_data: str | bytes, source: str | Path | None) -> bytes:
    if not isinstance(image_data, (str, bytes)):
        raise ImageReadError(source, "imageData", "expected base64 text")
    try:
        return base64.b64decode(image_data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageReadError(source, "imageData", f"not valid base64: {exc}") from exc


def _pil_truncates(im: PIL.Image.Image) -> bool:
    """Pillow opens 16-bit colour images as 8-bit RGB(A)/LA; OpenCV keeps the 16 bits."""
    if im.mode not in ("RGB", "RGBA", "LA"):
        return False
    tile = getattr(im, "tile", None) or []
    rawmode = ""
    if tile:
        args = tile[0].args if hasattr(tile[0], "args") else tile[0][3]
        rawmode = args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else "")
    if ";16" in rawmode:
        return True
    bits = getattr(im, "tag_v2", {}).get(258) if im.format == "TIFF" else None
    return bool(bits) and max(bits if isinstance(bits, tuple) else (bits,)) > 8


def _pil_to_array(im: PIL.Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode in _TO_RGB_MODES:
        im = im.convert("RGB")
    elif mode in _TO_RGBA_MODES:
        im = im.convert("RGBA")
    a = np.asarray(im)
    if mode in _SIXTEEN_BIT_MODES:
        a = a.astype(np.uint16, copy=False)
    elif a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    return np.array(a, copy=True) if not a.flags.writeable else a


def _cv2_decode(raw: bytes) -> np.ndarray | None:
    buf = np.frombuffer(raw, dtype=np.uint8)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # the caller says what failed
    try:
        a = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if a is None or a.size == 0:
        return None
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(a, cv2.COLOR_BGR2RGB)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA)
    return a


def _stretch_to_uint8(a: np.ndarray) -> np.ndarray:
    values = a.reshape(-1)
    step = max(1, values.size // _ROBUST_SAMPLE)
    sample = values[::step].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.zeros(a.shape, dtype=np.uint8)
    lo, hi = np.percentile(sample, _ROBUST_PERCENTILES)
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
    if not hi > lo:
        return np.zeros(a.shape, dtype=np.uint8)
    scaled = (a.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _encode_for_embedding(data: np.ndarray, path: Path, *, jpeg: bool) -> bytes:
    has_alpha = data.ndim == 3 and data.shape[2] in (2, 4)
    if data.dtype == np.uint16:
        out = data if data.ndim == 2 else data[:, :, :3]
        if out.ndim == 3:
            out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(out))
        if not ok:
            raise ImageReadError(path, None, "cannot encode the image as PNG")
        return buf.tobytes()
    if data.dtype != np.uint8:
        data = to_display(data)
        has_alpha = False
    im = PIL.Image.fromarray(np.ascontiguousarray(data))
    with io.BytesIO() as f:
        if jpeg and not has_alpha:
            im.save(f, format="JPEG", quality=95)
        else:
            im.save(f, format="PNG")
        return f.getvalue()


__all__ = [
    "IMAGE_EXTENSIONS",
    "LoadedImage",
    "decode_image_bytes",
    "decode_image_data",
    "embedded_image_size",
    "encode_image_data",
    "image_size",
    "pil_message",
    "read_image",
    "to_display",
]
