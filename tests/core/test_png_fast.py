"""Issue 18: plain PNGs are decoded by OpenCV in one call (png_fast): same pixels as Pillow's path,
and a cut-off or damaged file is still refused with a clear error naming it, never shown in part."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import PIL.PngImagePlugin
import pytest

from segdesk.core import image_io, pixel_limit, png_fast
from segdesk.core.errors import ImageReadError
from segdesk.core.image_io import decode_image_bytes, read_image

H, W = 37, 53
RNG = np.random.default_rng(18)


def _pil_png(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    im = PIL.Image.fromarray(array) if mode is None else PIL.Image.fromarray(array).convert(mode)
    with io.BytesIO() as f:
        im.save(f, format="PNG", **save)
        return f.getvalue()


def _cv2_png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def _u8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def _u16(*shape: int) -> np.ndarray:
    return RNG.integers(0, 65536, shape, dtype=np.uint16)


def _chunks(raw: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, data length) of each chunk."""
    out, pos = [], 8
    while pos + 8 <= len(raw):
        length, ctype = struct.unpack_from(">I4s", raw, pos)
        out.append((pos, ctype, length))
        pos += 12 + length
    return out


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _insert_before_idat(raw: bytes, chunk: bytes) -> bytes:
    at = next(pos for pos, ctype, _ in _chunks(raw) if ctype == b"IDAT")
    return raw[:at] + chunk + raw[at:]


def _replace_idat(raw: bytes, data: bytes) -> bytes:
    """``raw`` with its image data replaced by one IDAT holding ``data`` (valid checksum)."""
    chunks = _chunks(raw)
    first = next(pos for pos, ctype, _ in chunks if ctype == b"IDAT")
    iend = next(pos for pos, ctype, _ in chunks if ctype == b"IEND")
    return raw[:first] + _chunk(b"IDAT", data) + raw[iend:]


def _idat_data(raw: bytes) -> bytes:
    return b"".join(raw[p + 8 : p + 8 + n] for p, ctype, n in _chunks(raw) if ctype == b"IDAT")


def _pillow_path(monkeypatch: pytest.MonkeyPatch, raw: bytes, **kw) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setattr(image_io, "decode_png", lambda *a, **k: None)
        return decode_image_bytes(raw, **kw)


FAST_CASES = {
    "rgb8": lambda: _pil_png(_u8(H, W, 3)),
    "rgba8": lambda: _pil_png(_u8(H, W, 4)),
    "grey8": lambda: _pil_png(_u8(H, W)),
    "grey16": lambda: _cv2_png(_u16(H, W)),
    "rgb16": lambda: _cv2_png(_u16(H, W, 3)),
    "rgba16": lambda: _cv2_png(_u16(H, W, 4)),
    "rgb8 with text and gamma": lambda: _insert_before_idat(
        _pil_png(_u8(H, W, 3), pnginfo=_text("Comment", "hello")), _chunk(b"gAMA", struct.pack(">I", 100000))
    ),
}


def _text(key: str, value: str) -> PIL.PngImagePlugin.PngInfo:
    info = PIL.PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


@pytest.mark.parametrize("case", sorted(FAST_CASES))
def test_fast_path_gives_pillows_pixels(monkeypatch: pytest.MonkeyPatch, imdecode_calls, case: str) -> None:
    raw = FAST_CASES[case]()
    expected = _pillow_path(monkeypatch, raw, source="a.png")
    imdecode_calls.clear()  # Pillow's path calls OpenCV for 16-bit colour
    got = decode_image_bytes(raw, source="a.png")
    assert len(imdecode_calls) == 1  # it took the fast path
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert got.flags.c_contiguous and got.flags.writeable


def _with_trns(raw: bytes) -> bytes:
    return _insert_before_idat(raw, _chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3)))


PILLOW_CASES = {
    "palette": lambda: _pil_png(_u8(H, W, 3), "P"),
    "palette with transparency": lambda: _pil_png(_u8(H, W, 3), "P", transparency=0),
    "grey+alpha": lambda: _pil_png(_u8(H, W, 2)),
    "1 bit": lambda: _pil_png(_u8(H, W) > 127),
    "rgb with tRNS": lambda: _with_trns(_pil_png(_u8(H, W, 3))),
    "exif orientation": lambda: _pil_png(_u8(H, W, 3), exif=_exif(6)),
    "exif in a raw profile text": lambda: _pil_png(_u8(H, W, 3), pnginfo=_text("Raw profile type exif", "x")),
    "iCCP profile": lambda: _pil_png(_u8(H, W, 3), icc_profile=b"not really a profile"),
    "ancillary chunk with a bad checksum": lambda: _bad_text_crc(_pil_png(_u8(H, W, 3))),
    "interlaced": lambda: _interlaced(_pil_png(_u8(H, W, 3))),
}


def _bad_text_crc(raw: bytes) -> bytes:
    chunk = bytearray(_chunk(b"tEXt", b"Comment\0hello"))
    chunk[-1] ^= 0xFF
    return _insert_before_idat(raw, bytes(chunk))


def _interlaced(raw: bytes) -> bytes:
    """The IHDR says Adam7 (the data is not: both paths must agree on what that gives)."""
    pos, _, length = _chunks(raw)[0]
    ihdr = bytearray(raw[pos + 8 : pos + 8 + length])
    ihdr[12] = 1
    return raw[:pos] + _chunk(b"IHDR", bytes(ihdr)) + raw[pos + 12 + length :]


def _exif(orientation: int) -> PIL.Image.Exif:
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("case", sorted(PILLOW_CASES))
def test_other_pngs_keep_the_pillow_path(
    monkeypatch: pytest.MonkeyPatch, imdecode_calls, capfd, case: str
) -> None:
    raw = PILLOW_CASES[case]()
    with monkeypatch.context() as m:
        m.setattr(image_io, "decode_png", lambda *a, **k: None)
        expected = _outcome(raw)
    imdecode_calls.clear()
    got = _outcome(raw)
    assert imdecode_calls == []
    if isinstance(expected, str):
        assert got == expected  # the same error
    else:
        np.testing.assert_array_equal(got, expected)
    assert "libpng" not in capfd.readouterr().err


def _outcome(raw: bytes) -> np.ndarray | str:
    try:
        return decode_image_bytes(raw, source="a.png")
    except ImageReadError as exc:
        return str(exc)


def test_exif_orientation_is_still_applied(tmp_path: Path) -> None:
    data = _u8(H, W, 3)
    (tmp_path / "a.png").write_bytes(_pil_png(data, exif=_exif(6)))
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").data, np.rot90(data, -1))


def _cuts(raw: bytes) -> list[int]:
    chunks = _chunks(raw)
    idat = next((p, n) for p, ctype, n in chunks if ctype == b"IDAT")
    iend = next(p for p, ctype, _ in chunks if ctype == b"IEND")
    return [
        12,  # inside the signature's first chunk header
        idat[0] + 4,  # inside an IDAT's header
        idat[0] + 8 + idat[1] // 2,  # half-way through the pixels
        idat[0] + 8 + idat[1],  # the pixels, without their checksum
        iend,  # every IDAT there, no IEND
        iend + 6,  # half an IEND
    ]


@pytest.mark.parametrize("k", range(6))
def test_a_cut_off_png_never_reaches_libpng(tmp_path: Path, imdecode_calls, capfd, k: int) -> None:
    raw = _pil_png(_u8(H, W, 3))
    cut = raw[: _cuts(raw)[k]]
    path = tmp_path / "cut.png"
    path.write_bytes(cut)
    try:
        data = read_image(path).data
    except ImageReadError as exc:
        assert "cut.png" in str(exc) and "cannot decode" in str(exc)
    else:
        # Only a file with all its pixel data may open (Pillow's path opens it): whole pixels.
        assert k >= 3
        np.testing.assert_array_equal(data, np.asarray(PIL.Image.open(io.BytesIO(raw))))
    assert imdecode_calls == []
    assert "libpng" not in capfd.readouterr().err


def test_a_corrupt_idat_is_refused_naming_the_file(tmp_path: Path, imdecode_calls) -> None:
    raw = bytearray(_pil_png(_u8(H, W, 3)))
    pos, _, length = next(c for c in _chunks(bytes(raw)) if c[1] == b"IDAT")
    raw[pos + 8 + length // 2] ^= 0xFF  # a flipped byte: the chunk's checksum no longer matches
    path = tmp_path / "flipped.png"
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageReadError, match=r"flipped\.png: cannot decode the image: .*damaged"):
        read_image(path)
    assert len(imdecode_calls) == 1


def test_damaged_pixels_with_valid_checksums_are_refused(imdecode_calls) -> None:
    raw = _pil_png(_u8(H, W, 3))
    data = bytearray(_idat_data(raw))
    data[len(data) // 2] ^= 0xFF  # the compressed stream is wrong, the chunk's CRC right
    with pytest.raises(ImageReadError, match=r"bad\.png: cannot decode the image: .*damaged"):
        decode_image_bytes(_replace_idat(raw, bytes(data)), source="bad.png")


def test_too_few_rows_are_refused(imdecode_calls) -> None:
    """A complete file whose compressed stream ends after half the rows (valid checksums)."""
    raw = _pil_png(_u8(H, W, 3))
    rows = zlib.decompress(_idat_data(raw))
    half = _replace_idat(raw, zlib.compress(rows[: len(rows) // 2]))
    with pytest.raises(ImageReadError, match=r"half\.png: cannot decode the image: .*damaged"):
        decode_image_bytes(half, source="half.png")
    assert len(imdecode_calls) == 1


def test_the_pixel_limit_is_checked_before_decoding(imdecode_calls) -> None:
    raw = _pil_png(_u8(120, 120, 3))
    pixel_limit.set_max_image_pixels(10_000)
    try:
        with pytest.raises(ImageReadError, match=r"big\.png: 120 x 120 pixels is over the limit"):
            decode_image_bytes(raw, source="big.png")
    finally:
        pixel_limit.set_max_image_pixels(pixel_limit.DEFAULT_MAX_IMAGE_PIXELS)
    assert imdecode_calls == []


def test_over_opencvs_own_limit_pillow_decodes(monkeypatch: pytest.MonkeyPatch, imdecode_calls) -> None:
    """segdesk's limit raised after OpenCV read its own (``--max-image-pixels``): Pillow's path decodes."""
    data = _u8(H, W, 3)
    monkeypatch.setattr(png_fast, "OPENCV_PIXELS", H * W - 1)
    np.testing.assert_array_equal(decode_image_bytes(_pil_png(data), source="a.png"), data)
    assert imdecode_calls == []


def test_an_opencv_failure_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(buf, flags):
        raise cv2.error("OpenCV(5.1.0) loadsave.cpp:1: error: (-4:Insufficient memory) Failed to allocate")

    monkeypatch.setattr(png_fast.cv2, "imdecode", fail)
    with pytest.raises(
        ImageReadError, match=r"a\.png: cannot decode the image: OpenCV: \(-4:Insufficient memory\)"
    ):
        decode_image_bytes(_pil_png(_u8(H, W, 3)), source="a.png")


def test_embedded_image_data_takes_the_fast_path_too(imdecode_calls) -> None:
    import base64

    data = _u8(H, W, 4)
    loaded = image_io.decode_image_data(base64.b64encode(_pil_png(data)).decode(), source="a.json")
    np.testing.assert_array_equal(loaded.data, data)
    assert len(imdecode_calls) == 1


def test_not_a_png_is_left_alone() -> None:
    assert png_fast.decode_png(b"\xff\xd8\xff\xe0 jpeg-ish") is None
    assert png_fast.decode_png(png_fast.SIGNATURE + bytes(40)) is None  # no IHDR first: Pillow reports it
