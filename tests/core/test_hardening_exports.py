"""Issue 14 items 6 and 10: huge coordinates and odd labels, in every export and in check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core.check import check_folder
from segdesk.core.errors import ExportError
from segdesk.core.export.masks import FORMATS, export_masks
from segdesk.core.label_rules import label_problem
from segdesk.core.rasterize import shape_to_mask


def _project(tmp_path: Path, shapes: list[dict]) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    PIL.Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(root / "a.png")
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": "a.png",
        "imageData": None,
        "imageHeight": 20,
        "imageWidth": 30,
        "segdesk": {"status": "reviewed", "reviewed": {"how": "marked", "at": "2026-01-01T00:00:00+00:00"}},
    }
    (root / "a.json").write_text(json.dumps(doc))
    return root


def _shape(label: str, points: list, kind: str = "polygon") -> dict:
    return {"label": label, "points": points, "group_id": None, "shape_type": kind, "flags": {}}


def test_a_circle_around_everything_is_filled() -> None:
    mask = shape_to_mask((20, 30), _shape("c", [[10, 10], [1e308, 10]], "circle"))
    assert mask.all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_huge_circle_exports_in_every_format(tmp_path: Path, fmt: str) -> None:
    root = _project(tmp_path, [_shape("cell", [[100, 100], [1e308, 100]], "circle")])
    report = export_masks(root, tmp_path / "out", fmt=fmt)
    assert report.skipped == [] and report.images == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_huge_polygon_is_skipped_with_a_reason_in_every_format(tmp_path: Path, fmt: str) -> None:
    root = _project(tmp_path, [_shape("cell", [[0, 0], [1e308, 0], [5, 5]])])
    report = export_masks(root, tmp_path / "out", fmt=fmt)
    assert len(report.skipped) == 1 and "beyond" in report.skipped[0]


def test_check_flags_huge_coordinates(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        [_shape("cell", [[0, 0], [1e308, 0], [5, 5]]), _shape("cell", [[1, 1], [1e308, 1]], "circle")],
    )
    problems = check_folder(root)
    assert [(p.place, "beyond" in p.message) for p in problems] == [("shapes[0].points", True)]


@pytest.mark.parametrize("label", ["a\nb", "nul\x00", "", "  ", "x\u2028y", "bell\x07", "cell::boundary"])
def test_odd_labels_are_refused_by_every_export_and_flagged(tmp_path: Path, label: str) -> None:
    root = _project(
        tmp_path, [_shape(label, [[0, 0], [5, 0], [5, 5]]), _shape("ok", [[9, 9], [12, 9], [12, 12]])]
    )
    for fmt in FORMATS:
        with pytest.raises(ExportError, match="cannot be exported"):
            export_masks(root, tmp_path / f"out-{fmt}", fmt=fmt)
        assert not (tmp_path / f"out-{fmt}").exists()
    problems = check_folder(root)
    assert [p.place for p in problems] == ["shapes[0].label"]


def test_good_labels_pass() -> None:
    assert label_problem("cell") is None and label_problem("tab\there") is None
    assert label_problem("Zelle ü 細胞") is None
    assert label_problem("a::b") is None and label_problem("boundary") is None
    assert "reserved" in (label_problem("nucleus::boundary") or "")  # a model's object boundaries


@pytest.mark.parametrize("name", ["a\nb", "nul\x00", " "])
def test_import_masks_refuses_odd_labels(name: str) -> None:
    from segdesk.core.errors import ProjectError
    from segdesk.core.import_masks import parse_labels_spec

    with pytest.raises(ProjectError, match="--labels"):
        parse_labels_spec({1: name})
