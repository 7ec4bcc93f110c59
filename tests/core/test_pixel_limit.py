"""Issue 14 item 3: one pixel limit for every decoder, raised by an option or the environment."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core import pixel_limit
from segdesk.core.check import check_folder
from segdesk.core.errors import AnnotationReadError, ImageReadError
from segdesk.core.image_io import decode_image_bytes, embedded_image_size, image_size, read_image
from segdesk.core.labelme_io import load_document


@pytest.fixture
def small_limit() -> Iterator[int]:
    pixel_limit.set_max_image_pixels(10_000)
    try:
        yield 10_000
    finally:
        pixel_limit.set_max_image_pixels(pixel_limit.DEFAULT_MAX_IMAGE_PIXELS)


def _png(path: Path, side: int) -> Path:
    PIL.Image.fromarray(np.zeros((side, side), dtype=np.uint8)).save(path)
    return path


def test_default_limit_and_pillow_follows_it(small_limit: int) -> None:
    pixel_limit.set_max_image_pixels(pixel_limit.DEFAULT_MAX_IMAGE_PIXELS)
    assert pixel_limit.max_image_pixels() == 2**28
    assert PIL.Image.MAX_IMAGE_PIXELS * 2 == 2**28  # (labelme, imported by other tests, sets None)


@pytest.mark.parametrize("side", [120, 150])  # over the limit, and over Pillow's own (twice its value)
def test_image_size_refuses_over_the_limit(tmp_path: Path, small_limit: int, side: int) -> None:
    path = _png(tmp_path / "big.png", side)
    with pytest.raises(ImageReadError, match="over the limit of 10000 pixels") as info:
        image_size(path)
    assert str(path) in str(info.value) and "--max-image-pixels" in str(info.value)
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(path)


def test_opencv_is_not_asked_to_decode_what_pillow_refused(
    tmp_path: Path, small_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segdesk.core import image_io

    calls = []
    monkeypatch.setattr(image_io, "_cv2_decode", lambda raw: calls.append(1))
    raw = _png(tmp_path / "big.png", 400).read_bytes()  # 16x the limit: Pillow raises its bomb error
    with pytest.raises(ImageReadError, match="over the limit"):
        decode_image_bytes(raw, source="x.png")
    assert calls == []


def test_under_the_limit_reads(tmp_path: Path, small_limit: int) -> None:
    assert image_size(_png(tmp_path / "ok.png", 100)) == (100, 100)


def test_embedded_bomb_is_an_annotation_error(tmp_path: Path, small_limit: int) -> None:
    raw = _png(tmp_path / "big.png", 200).read_bytes()
    data = base64.b64encode(raw).decode()
    with pytest.raises(ImageReadError, match="over the limit"):
        embedded_image_size(data, source="a.json")
    doc = {"shapes": [], "imagePath": "none.png", "imageData": data}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(AnnotationReadError, match="over the limit"):
        load_document(tmp_path / "a.json")


def test_check_reports_the_limit(tmp_path: Path, small_limit: int) -> None:
    _png(tmp_path / "a.png", 200)
    (tmp_path / "a.json").write_text(json.dumps({"shapes": [], "imagePath": "a.png"}))
    problems = check_folder(tmp_path)
    assert len(problems) == 1 and "over the limit" in problems[0].message


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError):
        pixel_limit.set_max_image_pixels(0)
    with pytest.raises(Exception, match="whole number"):
        pixel_limit.parse_pixels("lots")


def _check_cli(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    run_env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "segdesk", *args, "check", str(folder)],
        capture_output=True,
        text=True,
        env=run_env,
        timeout=120,
    )


def test_environment_variable_and_option_raise_the_limit(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 200)
    (tmp_path / "a.json").write_text(json.dumps({"shapes": [], "imagePath": "a.png"}))
    low = _check_cli(tmp_path, env={pixel_limit.ENV_VAR: "10000"})
    assert low.returncode == 1 and "over the limit of 10000" in low.stdout
    raised = _check_cli(tmp_path, "--max-image-pixels", "50000", env={pixel_limit.ENV_VAR: "10000"})
    assert raised.returncode == 0, raised.stdout + raised.stderr
    bad = _check_cli(tmp_path, "--max-image-pixels=many")
    assert bad.returncode == 2 and "--max-image-pixels" in bad.stderr and "Traceback" not in bad.stderr


def test_import_masks_refuses_an_image_over_the_limit(tmp_path: Path, small_limit: int) -> None:
    from segdesk.core.errors import ProjectError
    from segdesk.core.import_masks import import_masks

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    _png(tmp_path / "images" / "a.png", 200)
    _png(tmp_path / "masks" / "a.png", 200)
    with pytest.raises(ProjectError, match="over the limit"):
        import_masks(tmp_path / "images", tmp_path / "masks", "1=cell")
    assert not (tmp_path / "images" / "a.json").exists()
