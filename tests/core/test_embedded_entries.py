"""Issue 13 interop: Labelme files whose image exists only as embedded imageData open and list."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import PIL.Image

from segdesk.core.export.masks import export_masks
from segdesk.core.image_source import load_image
from segdesk.core.project import Project


def _embedded(folder: Path, stem: str, value: int = 90, image_path: str | None = None) -> Path:
    pixels = np.full((12, 16, 3), value, dtype=np.uint8)
    with io.BytesIO() as f:
        PIL.Image.fromarray(pixels).save(f, format="PNG")
        data = base64.b64encode(f.getvalue()).decode()
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": [{"label": "cell", "points": [[1, 1], [8, 1], [8, 8]], "shape_type": "polygon"}],
        "imagePath": image_path if image_path is not None else f"gone/{stem}.jpg",
        "imageData": data,
        "imageHeight": 12,
        "imageWidth": 16,
        "segdesk": {"status": "reviewed", "reviewed": {"how": "marked", "at": "2026-01-01T00:00:00+00:00"}},
    }
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_folder_of_embedded_files_lists_them(tmp_path: Path) -> None:
    _embedded(tmp_path, "b")
    _embedded(tmp_path, "a", image_path="C:\\data\\a.tif")
    (tmp_path / "notes.json").write_text(json.dumps({"no": "image"}))  # not an annotation: not listed
    PIL.Image.fromarray(np.zeros((12, 16), dtype=np.uint8)).save(tmp_path / "c.png")
    project = Project(tmp_path)
    entries = project.entries()
    assert [e.name for e in entries] == ["a.tif", "b.jpg", "c.png"]
    assert [e.json_path.name for e in entries] == ["a.json", "b.json", "c.json"]
    assert project.status(entries[0]) == "reviewed"
    document = project.load(entries[1])
    pixels = load_image(document, entries[1].json_path, image_file=entries[1].image_path).data
    assert pixels.shape == (12, 16, 3) and int(pixels.max()) == 90


def test_embedded_images_export(tmp_path: Path) -> None:
    _embedded(tmp_path, "a")
    for fmt in ("index", "overlay"):
        report = export_masks(tmp_path, tmp_path.parent / f"out-{fmt}", fmt=fmt)
        assert report.images == 1 and report.skipped == []


def test_embedded_images_train(tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("torch")
    from segdesk.ml.data import training_set_from_project

    _embedded(tmp_path, "a")
    _embedded(tmp_path, "b", value=30)
    training = training_set_from_project(tmp_path, val_fraction=0.5)
    assert {s.name for s in training.train + training.val} == {"a.jpg", "b.jpg"}
