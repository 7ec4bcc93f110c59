"""Issue 14 items 11 and 14: truncated images are refused by import-masks; messages stay clean."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core.errors import ImageReadError, ProjectError
from segdesk.core.image_io import decode_image_bytes, read_image
from segdesk.core.import_masks import import_masks
from segdesk.core.labelme_io import load_document


def _image_bytes(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    with io.BytesIO() as f:
        PIL.Image.fromarray(pixels).save(f, format=fmt)
        return f.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_refused(fmt: str) -> None:
    raw = _image_bytes(fmt)
    with pytest.raises(ImageReadError, match="cannot decode") as info:
        decode_image_bytes(raw[: len(raw) * 2 // 3], source="cut.img")
    assert "BytesIO" not in str(info.value) and "cut.img" in str(info.value)


def test_unknown_data_has_no_object_repr() -> None:
    with pytest.raises(ImageReadError) as info:
        decode_image_bytes(b"this is not an image at all", source="x.png")
    assert "object at 0x" not in str(info.value)
    assert "not an image format" in str(info.value)


def test_bad_mask_shape_message_has_no_object_repr(tmp_path: Path) -> None:
    doc = {
        "shapes": [
            {
                "label": "a",
                "points": [[0, 0], [3, 3]],
                "shape_type": "mask",
                "mask": base64.b64encode(b"junk").decode(),
            }
        ],
        "imagePath": "a.png",
    }
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(Exception) as info:
        load_document(tmp_path / "a.json")
    assert "object at 0x" not in str(info.value) and "shapes[0].mask" in str(info.value)


def _read_in_a_process(path: Path) -> subprocess.CompletedProcess:
    """``read_image(path)`` in a fresh interpreter: stdout "ErrorType message", stderr what leaked."""
    code = (
        "import sys\n"
        "from segdesk.core.image_io import read_image\n"
        "try:\n    read_image(sys.argv[1])\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=60
    )


def test_no_stray_libpng_line(tmp_path: Path) -> None:
    raw = _image_bytes("PNG")
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])
    proc = _read_in_a_process(tmp_path / "cut.png")
    assert proc.stdout.startswith("ImageReadError ")
    assert "libpng" not in proc.stderr, proc.stderr


def _pair(folder: Path, name: str, image: bytes) -> None:
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    (folder / "images" / name).write_bytes(image)
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[10:30, 10:40] = 1
    PIL.Image.fromarray(mask).save(folder / "masks" / (Path(name).stem + ".png"))


@pytest.mark.parametrize("fmt, ext", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_import_masks_refuses_a_truncated_image(tmp_path: Path, fmt: str, ext: str) -> None:
    raw = _image_bytes(fmt)
    _pair(tmp_path, "good" + ext, raw)
    _pair(tmp_path, "cut" + ext, raw[: len(raw) * 2 // 3])
    with pytest.raises(ProjectError) as info:
        import_masks(tmp_path / "images", tmp_path / "masks", "1=cell")
    assert "cut" + ext in str(info.value)
    assert list((tmp_path / "images").glob("*.json")) == []  # nothing marked reviewed


def test_import_masks_reads_good_images(tmp_path: Path) -> None:
    _pair(tmp_path, "good.png", _image_bytes("PNG"))
    report = import_masks(tmp_path / "images", tmp_path / "masks", "1=cell")
    assert len(report.json_paths) == 1
    assert read_image(tmp_path / "images" / "good.png").shape == (48, 64)


def test_a_damaged_png_signature_prints_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    proc = _read_in_a_process(tmp_path / "bad.png")
    assert proc.stdout.startswith("ImageReadError ")
    assert proc.stderr == "", proc.stderr


def _tiff(samples: int, height: int = 4, width: int = 4) -> bytes:
    """An uncompressed little-endian 8-bit TIFF of ``samples`` interleaved bands, built by hand."""
    import struct

    n_tags = 10
    ifd_at = 8
    bits_at = ifd_at + 2 + 12 * n_tags + 4
    data_at = bits_at + 2 * samples
    size = height * width * samples
    entries = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, samples, bits_at if samples > 2 else 8),
        (259, 3, 1, 1),
        (262, 3, 1, 2 if samples == 3 else 1),  # RGB, else grey with extra bands
        (273, 4, 1, data_at),
        (277, 3, 1, samples),
        (278, 3, 1, height),
        (279, 4, 1, size),
        (284, 3, 1, 1),
    ]
    out = b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack("<H", n_tags)
    for tag, kind, count, value in entries:
        out += struct.pack("<HHI", tag, kind, count) + struct.pack(
            "<I" if kind == 4 else "<HH", *((value,) if kind == 4 else (value, 0))
        )
    out += struct.pack("<I", 0) + struct.pack(f"<{samples}H", *([8] * samples))
    return out + bytes(range(256)) * (size // 256) + bytes(size % 256)


def test_a_tiff_of_many_bands_says_what_it_holds_and_prints_nothing(tmp_path: Path) -> None:
    """Remote-sensing exports of 8 or 13 bands: the message names the bands, not "not an image"."""
    assert decode_image_bytes(_tiff(3)).shape == (4, 4, 3)  # the hand-built file is a good TIFF
    (tmp_path / "bands.tif").write_bytes(_tiff(8))
    proc = _read_in_a_process(tmp_path / "bands.tif")
    assert proc.stdout.startswith(
        f"ImageReadError {tmp_path / 'bands.tif'}: a TIFF segdesk cannot decode (8 bands, 8-bit unsigned integer"
    )
    assert "1 to 4 channels" in proc.stdout and "gdal_translate" in proc.stdout
    assert proc.stderr == "", proc.stderr


def test_a_multi_page_tiff_says_how_many_pages_it_holds(tmp_path: Path) -> None:
    """A z-stack or time series: the first page is read (as Labelme does) and the count is known, so
    the window and ``segdesk predict`` can say "page 1 of N"."""
    from segdesk.core.tiff_header import count_pages

    frames = [PIL.Image.fromarray(np.full((6, 8), 40 * k, np.uint8)) for k in range(5)]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    loaded = read_image(tmp_path / "stack.tif")
    assert loaded.pages == 5 and loaded.data.shape == (6, 8) and int(loaded.data.max()) == 0
    frames[0].save(tmp_path / "one.tif")
    assert read_image(tmp_path / "one.tif").pages == 1
    assert count_pages(b"II*\x00" + bytes(4)) == 1 and count_pages(b"not a tiff") == 1
    raw = (tmp_path / "stack.tif").read_bytes()
    assert count_pages(raw[: len(raw) // 3]) >= 1  # a cut chain stops, never raises
