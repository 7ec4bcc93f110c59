"""Images open as Labelme opens them, with their original values kept for training."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest

from segdesk.core.errors import ImageReadError
from segdesk.core.image_io import (
    decode_image_data,
    embedded_image_size,
    encode_image_data,
    image_size,
    read_image,
    to_display,
)

H, W = 6, 10  # not square, so rotations show


def _rgb() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _check_display(img, shape=(H, W)) -> None:
    assert img.display.dtype == np.uint8
    assert img.display.shape == (*shape, 3)
    assert img.display.flags.c_contiguous


@pytest.mark.parametrize("ext", ["png", "bmp", "tif", "webp"])
def test_lossless_rgb_formats_keep_values(tmp_path: Path, ext: str) -> None:
    data = _rgb()
    path = tmp_path / f"a.{ext}"
    kwargs = {"lossless": True} if ext == "webp" else {}
    PIL.Image.fromarray(data).save(path, **kwargs)
    img = read_image(path)
    assert img.data.dtype == np.uint8
    np.testing.assert_array_equal(img.data, data)
    np.testing.assert_array_equal(img.display, data)
    assert img.path == path
    assert image_size(path) == (H, W)


def test_jpeg_matches_pillow_decoding(tmp_path: Path) -> None:
    path = tmp_path / "a.JPG"
    PIL.Image.fromarray(_rgb()).save(path, format="JPEG", quality=90)
    np.testing.assert_array_equal(read_image(path).data, np.asarray(PIL.Image.open(path)))


def test_greyscale_rgba_and_palette(tmp_path: Path) -> None:
    grey = _rgb()[:, :, 0]
    PIL.Image.fromarray(grey).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    np.testing.assert_array_equal(img.data, grey)
    np.testing.assert_array_equal(img.display, np.dstack([grey] * 3))

    rgba = np.dstack([_rgb(), np.full((H, W), 128, np.uint8)])
    PIL.Image.fromarray(rgba).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img.data, rgba)
    np.testing.assert_array_equal(img.display, rgba[:, :, :3])

    pal = PIL.Image.fromarray(_rgb()).quantize(colors=8)
    pal.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(img.data, np.asarray(pal.convert("RGB")))
    _check_display(img)

    PIL.Image.fromarray(grey > 128).save(tmp_path / "b.png")  # 1-bit
    img = read_image(tmp_path / "b.png")
    assert img.data.dtype == np.uint8
    np.testing.assert_array_equal(img.data, np.where(grey > 128, 255, 0))


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_sixteen_bit_keeps_values(tmp_path: Path, ext: str, channels: int) -> None:
    rng = np.random.default_rng(2)
    data = rng.integers(0, 65536, (H, W, channels), dtype=np.uint16)
    data[0, 0] = 1000  # values above 255 prove nothing was truncated
    path = tmp_path / f"a.{ext}"
    bgr = data[:, :, 0] if channels == 1 else cv2.cvtColor(data, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), bgr)
    img = read_image(path)
    assert img.data.dtype == np.uint16
    np.testing.assert_array_equal(img.data, data[:, :, 0] if channels == 1 else data)
    _check_display(img)
    assert image_size(path) == (H, W)


@pytest.mark.parametrize("channels", [1, 3])
def test_float_tiff_keeps_values(tmp_path: Path, channels: int) -> None:
    data = np.linspace(-3.5, 1e4, H * W * channels, dtype=np.float32).reshape(H, W, channels)
    path = tmp_path / "f.tiff"
    assert cv2.imwrite(str(path), data[:, :, 0] if channels == 1 else data[:, :, ::-1])
    img = read_image(path)
    assert img.data.dtype == np.float32
    np.testing.assert_array_equal(img.data, data[:, :, 0] if channels == 1 else data)
    _check_display(img)
    assert image_size(path) == (H, W)


def test_display_stretch_is_robust_to_outliers() -> None:
    data = np.full((100, 100), 1000, np.uint16)
    data[:, 50:] = 2000
    data[0, 0] = 65535  # one hot pixel must not turn the rest black
    display = to_display(data)
    assert display[50, 10, 0] == 0 and display[50, 90, 0] == 255
    assert to_display(np.full((4, 4), 7.0)).max() == 0  # constant: no division by zero
    nan = np.array([[np.nan, 0.0], [1.0, np.inf]], np.float32)
    assert to_display(nan).shape == (2, 2, 3)


# --- EXIF orientation -----------------------------------------------------------------------------
def _labelme_orient(im: PIL.Image.Image, orientation: int) -> PIL.Image.Image:
    """labelme.utils.apply_exif_orientation's mapping, spelled out."""
    ops = {
        2: lambda i: PIL.ImageOps.mirror(i),
        3: lambda i: i.transpose(PIL.Image.ROTATE_180),
        4: lambda i: PIL.ImageOps.flip(i),
        5: lambda i: PIL.ImageOps.mirror(i.transpose(PIL.Image.ROTATE_270)),
        6: lambda i: i.transpose(PIL.Image.ROTATE_270),
        7: lambda i: PIL.ImageOps.mirror(i.transpose(PIL.Image.ROTATE_90)),
        8: lambda i: i.transpose(PIL.Image.ROTATE_90),
    }
    return ops.get(orientation, lambda i: i)(im)


def _save_with_orientation(path: Path, data: np.ndarray, orientation: int, **kwargs) -> None:
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    PIL.Image.fromarray(data).save(path, exif=exif, **kwargs)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_labelme(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "a.jpg"
    _save_with_orientation(path, _rgb(), orientation, quality=95)
    with PIL.Image.open(path) as im:
        im.load()
        expected = np.asarray(_labelme_orient(im, orientation))
    img = read_image(path)
    np.testing.assert_array_equal(img.data, expected)
    assert image_size(path) == expected.shape[:2]
    # Embedding a rotated JPEG stores the upright pixels, as Labelme does.
    embedded = decode_image_data(encode_image_data(path))
    assert embedded.shape == expected.shape[:2]


def test_png_and_tiff_orientation(tmp_path: Path) -> None:
    data = _rgb()
    _save_with_orientation(tmp_path / "a.png", data, 6)
    assert read_image(tmp_path / "a.png").shape == (W, H)
    assert image_size(tmp_path / "a.png") == (W, H)
    # Pillow turns a TIFF upright when it loads it, which is what Labelme then shows.
    _save_with_orientation(tmp_path / "a.tif", data, 6)
    with PIL.Image.open(tmp_path / "a.tif") as im:
        im.load()
        expected = np.asarray(im)
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif").data, expected)
    assert expected.shape[:2] == (W, H)
    assert image_size(tmp_path / "a.tif") == (W, H)


# --- imageData ------------------------------------------------------------------------------------
def test_encode_keeps_png_and_jpeg_bytes(tmp_path: Path) -> None:
    for name in ("a.png", "a.jpg"):
        PIL.Image.fromarray(_rgb()).save(tmp_path / name)
        assert base64.b64decode(encode_image_data(tmp_path / name)) == (tmp_path / name).read_bytes()


def test_encode_other_formats_losslessly(tmp_path: Path) -> None:
    data = _rgb()
    PIL.Image.fromarray(data).save(tmp_path / "a.bmp")
    b64 = encode_image_data(tmp_path / "a.bmp")
    np.testing.assert_array_equal(decode_image_data(b64).data, data)
    assert embedded_image_size(b64) == (H, W)

    sixteen = np.arange(H * W, dtype=np.uint16).reshape(H, W) * 900
    cv2.imwrite(str(tmp_path / "s.tif"), sixteen)
    np.testing.assert_array_equal(decode_image_data(encode_image_data(tmp_path / "s.tif")).data, sixteen)


def test_decode_image_data_round_trip() -> None:
    data = _rgb()
    buf = io.BytesIO()
    PIL.Image.fromarray(data).save(buf, format="PNG")
    img = decode_image_data(base64.b64encode(buf.getvalue()).decode())
    np.testing.assert_array_equal(img.data, data)
    assert img.path is None


# --- errors ---------------------------------------------------------------------------------------
def test_missing_and_damaged_images_raise_image_read_error(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="missing.png: image file not found"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="missing.png"):
        image_size(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ImageReadError, match="bad.png: cannot decode"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="bad.png"):
        image_size(bad)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_bad_image_data_names_the_place() -> None:
    with pytest.raises(ImageReadError, match=r"a\.json: imageData: .*base64"):
        decode_image_data("not base64 at all!", source="a.json")
    with pytest.raises(ImageReadError, match=r"a\.json: imageData: cannot decode"):
        decode_image_data(base64.b64encode(b"hello").decode(), source="a.json")
