"""The demo project the app opens on first start: generated, labelled by our vectorizer, small."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from segdesk.core.image_io import image_size
from segdesk.core.labelme_io import load_document
from segdesk.core.rasterize import class_name_to_value, parse_labels_txt, shapes_to_label

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


def _make_demo_module():
    spec = importlib.util.spec_from_file_location("segdesk_make_demo", ROOT / "resources" / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_make_demo_builds_a_labelled_project(tmp_path):
    make_demo = _make_demo_module()
    paths = make_demo.make_demo(tmp_path, n_images=4, n_labelled=2)
    assert [p.name for p in paths] == [f"cells_0{i}.jpg" for i in range(1, 5)]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["cells_01.json", "cells_02.json"]
    labels = parse_labels_txt(tmp_path / "labels.txt")
    assert labels == ["__ignore__", "_background_", "cell", "nucleus"]
    values = class_name_to_value(labels)
    truth = make_demo.generate(2)
    for item in truth:
        doc = load_document(tmp_path / f"{item.name}.json")
        assert doc.status == "reviewed"
        assert {s.label for s in doc.shapes} == {"cell", "nucleus"}
        cls, _ = shapes_to_label((doc.image_height, doc.image_width), doc.shapes, values)
        for v in (1, 2):
            inter = np.count_nonzero((cls == v) & (item.truth == v))
            assert inter / np.count_nonzero((cls == v) | (item.truth == v)) >= 0.99
    # Deterministic: the same seed gives the same truth and pixels.
    again = make_demo.generate(2)
    assert all(
        np.array_equal(a.truth, b.truth) and np.array_equal(a.rgb, b.rgb)
        for a, b in zip(truth, again, strict=True)
    )


def test_shipped_demo_is_whole_and_small():
    if not DEMO.is_dir():
        pytest.fail(f"{DEMO} is missing; run python resources/make_demo.py")
    images = sorted(DEMO.glob("*.jpg"))
    assert len(images) == 6
    jsons = sorted(DEMO.glob("*.json"))
    assert len(jsons) == 3
    for path in jsons:
        doc = load_document(path)
        assert doc.status == "reviewed" and doc.shapes
        assert (doc.image_height, doc.image_width) == image_size(DEMO / doc.image_path)
    assert "make_demo.py" in (DEMO / "README.md").read_text() and "MIT" in (DEMO / "README.md").read_text()
    assert sum(p.stat().st_size for p in DEMO.iterdir()) < 1.5e6
