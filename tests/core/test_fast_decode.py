"""Issue 18: plain JPEGs and TIFFs are decoded by OpenCV in one GIL-free call (fast_decode): the same
pixels as Pillow's path, the EXIF orientation still applied as Labelme does, and a cut-off or unusual
file still goes through Pillow (its error naming the file, never part of an image)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest

from segdesk.core import fast_decode, png_fast
from segdesk.core.errors import ImageReadError
from segdesk.core.image_io import decode_image_bytes, read_image
from segdesk.core.orientation import apply_orientation

H, W = 61, 87
RNG = np.random.default_rng(18)


def _smooth_rgb() -> np.ndarray:
    small = RNG.integers(0, 256, (8, 11, 3), dtype=np.uint8)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)


def _jpeg(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    im = PIL.Image.fromarray(array)
    if mode is not None:
        im = im.convert(mode)
    with io.BytesIO() as f:
        im.save(f, format="JPEG", quality=90, **save)
        return f.getvalue()


def _pillow_pixels(raw: bytes) -> np.ndarray:
    with PIL.Image.open(io.BytesIO(raw)) as im:
        im.load()
        return np.array(im.convert("RGB") if im.mode == "CMYK" else im)


def _exif(orientation: int) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


FAST_CASES = {
    "rgb 4:2:0": lambda: _jpeg(_smooth_rgb(), subsampling=2),
    "rgb 4:2:2": lambda: _jpeg(_smooth_rgb(), subsampling=1),
    "rgb 4:4:4": lambda: _jpeg(_smooth_rgb(), subsampling=0),
    "rgb progressive": lambda: _jpeg(_smooth_rgb(), progressive=True),
    "grey": lambda: _jpeg(_smooth_rgb()[:, :, 1]),
    "grey progressive": lambda: _jpeg(_smooth_rgb()[:, :, 0], progressive=True),
    "written by OpenCV": lambda: cv2.imencode(".jpg", _smooth_rgb())[1].tobytes(),
}


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied_as_before(orientation, tmp_path: Path, imdecode_calls):
    raw = _jpeg(_smooth_rgb(), exif=_exif(orientation))
    (tmp_path / "o.jpg").write_bytes(raw)
    loaded = read_image(tmp_path / "o.jpg")
    assert imdecode_calls
    upright = apply_orientation(_pillow_pixels(raw), orientation)
    assert np.array_equal(loaded.data, upright)
    if orientation in (6, 8):
        assert loaded.data.shape[:2] == (W, H)
    # imageData (embedded bytes) is used as stored, without orientation, as Labelme does
    assert np.array_equal(decode_image_bytes(raw, orient=False), _pillow_pixels(raw))


def test_cmyk_goes_through_pillow(imdecode_calls):
    raw = _jpeg(_smooth_rgb(), mode="CMYK")
    got = decode_image_bytes(raw)
    assert not imdecode_calls
    assert np.array_equal(got, _pillow_pixels(raw))


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_cut_off_jpeg_is_refused_naming_the_file_not_shown_in_part(cut, tmp_path: Path, imdecode_calls):
    raw = _jpeg(_smooth_rgb())
    path = tmp_path / "cut.jpg"
    path.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert "cut.jpg" in str(err.value)
    assert not imdecode_calls


def test_data_after_the_end_marker_goes_through_pillow(imdecode_calls):
    raw = _jpeg(_smooth_rgb()) + b"trailing data some cameras append"
    got = decode_image_bytes(raw)
    assert not imdecode_calls
    assert np.array_equal(got, _pillow_pixels(raw))


def test_opencv_failing_leaves_the_file_to_pillow(monkeypatch: pytest.MonkeyPatch):
    raw = _jpeg(_smooth_rgb())
    monkeypatch.setattr(fast_decode.cv2, "imdecode", lambda buf, flags: None)
    assert np.array_equal(decode_image_bytes(raw), _pillow_pixels(raw))


def test_over_opencvs_limit_goes_through_pillow(monkeypatch: pytest.MonkeyPatch, imdecode_calls):
    raw = _jpeg(_smooth_rgb())
    monkeypatch.setattr(png_fast, "OPENCV_PIXELS", H * W - 1)
    assert np.array_equal(decode_image_bytes(raw), _pillow_pixels(raw))
    assert not imdecode_calls


def test_a_png_or_other_data_is_not_this_paths():
    with PIL.Image.open(io.BytesIO(_jpeg(_smooth_rgb()))) as im:
        assert fast_decode.decode_plain(b"not the bytes Pillow opened", im) is None
    with io.BytesIO() as f:
        PIL.Image.fromarray(_smooth_rgb()).save(f, format="BMP")
        with PIL.Image.open(io.BytesIO(f.getvalue())) as im:
            assert fast_decode.decode_plain(f.getvalue(), im) is None


def _tiff(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    im = PIL.Image.fromarray(array)
    if mode is not None:
        im = im.convert(mode)
    with io.BytesIO() as f:
        im.save(f, format="TIFF", **save)
        return f.getvalue()


def _rgba() -> np.ndarray:
    return np.dstack([_smooth_rgb(), RNG.integers(0, 256, (H, W), dtype=np.uint8)])


TIFF_FAST = {
    "rgb plain": lambda: _tiff(_smooth_rgb()),
    "rgb lzw": lambda: _tiff(_smooth_rgb(), compression="tiff_lzw"),
    "rgb deflate": lambda: _tiff(_smooth_rgb(), compression="tiff_adobe_deflate"),
    "rgb packbits": lambda: _tiff(_smooth_rgb(), compression="packbits"),
    "grey lzw": lambda: _tiff(_smooth_rgb()[:, :, 2], compression="tiff_lzw"),
    "written by OpenCV": lambda: cv2.imencode(".tif", _smooth_rgb())[1].tobytes(),
}


@pytest.mark.parametrize(
    "case", [f"JPEG {k}" for k in sorted(FAST_CASES)] + [f"TIFF {k}" for k in sorted(TIFF_FAST)]
)
def test_plain_jpegs_and_tiffs_take_one_opencv_call_with_pillows_pixels(case, imdecode_calls):
    kind, name = case.split(" ", 1)
    raw = (FAST_CASES if kind == "JPEG" else TIFF_FAST)[name]()
    expected = _pillow_pixels(raw)
    got = decode_image_bytes(raw)
    assert imdecode_calls, f"a plain {kind} should take the GIL-free path"
    assert got.dtype == np.uint8 and got.shape == expected.shape
    assert np.array_equal(got, expected)


TIFF_PILLOW = {
    "rgba (OpenCV premultiplies)": lambda: _tiff(_rgba(), compression="tiff_lzw"),
    "jpeg-compressed": lambda: _tiff(_smooth_rgb(), compression="jpeg"),
    "16-bit grey": lambda: cv2.imencode(".tif", RNG.integers(0, 65536, (H, W), dtype=np.uint16))[1].tobytes(),
    "palette": lambda: _tiff(_smooth_rgb(), mode="P"),
    "bilevel": lambda: _tiff(_smooth_rgb()[:, :, 0], mode="1"),
    "cmyk": lambda: _tiff(_smooth_rgb(), mode="CMYK"),
    "turned by its orientation tag": lambda: _tiff(_smooth_rgb(), tiffinfo={0x0112: 6}),
    "two pages": lambda: _two_pages(),
}


def _two_pages() -> bytes:
    a, b = PIL.Image.fromarray(_smooth_rgb()), PIL.Image.fromarray(_smooth_rgb())
    with io.BytesIO() as f:
        a.save(f, format="TIFF", save_all=True, append_images=[b])
        return f.getvalue()


@pytest.mark.parametrize("case", sorted(TIFF_PILLOW))
def test_other_tiffs_go_through_pillow_as_before(case):
    raw = TIFF_PILLOW[case]()
    with PIL.Image.open(io.BytesIO(raw)) as im:
        assert fast_decode.decode_plain(raw, im) is None
    assert decode_image_bytes(raw).size > 0  # still decoded, by Pillow's path


def test_a_cut_off_tiff_is_refused_naming_the_file(tmp_path: Path):
    raw = _tiff(_smooth_rgb(), compression="tiff_lzw")
    path = tmp_path / "cut.tif"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert "cut.tif" in str(err.value)
