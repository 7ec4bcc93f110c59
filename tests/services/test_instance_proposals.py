"""Issue 17 wired: a model with a boundary class proposes one polygon per object, through the services.

A hand-built predictor returns the probabilities a model trained on boundary targets gives (object
interior, a 2-pixel boundary band, background), so these tests are exact and fast; the real model's
path is in tests/services/test_equivalence.py and test_instance_training.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from segdesk.core.document import Document
from segdesk.core.errors import ModelError, ProjectError
from segdesk.core.export.masks import export_masks
from segdesk.core.instance_settings import settings_path, write_object_setting
from segdesk.core.instances import boundary_band, is_boundary_class
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.project import Project
from segdesk.core.rasterize import shapes_to_label
from segdesk.services.proposal_files import write_proposals
from segdesk.services.proposals import (
    KeptPredictions,
    ProposalSettings,
    derive_shapes,
    propose_image,
    rederive,
    with_object_setting,
)

H, W = 64, 96
NAMES = ["_background_", "cell", "cell::boundary", "tissue"]


def two_touching_discs() -> np.ndarray:
    """An instance map: two discs of radius 14 whose outlines touch over a few pixels, and a tissue
    strip (id 3) along the bottom."""
    ins = np.zeros((H, W), np.int32)
    cv2.circle(ins, (30, 28), 14, 1, -1)
    cv2.circle(ins, (57, 28), 14, 2, -1)  # centres 27 apart: radius 14 each, so they overlap by 1 px
    ins[56:62, 10:86] = 3
    return ins


def model_probabilities(ins: np.ndarray, *, boundary: bool = True) -> np.ndarray:
    """(C, H, W) float16 probabilities as a trained boundary model gives them (sure, not certain)."""
    band = boundary_band(np.where(ins == 3, 0, ins), 2) & (ins > 0) & (ins != 3)
    cls = np.zeros(ins.shape, np.int64)
    cls[(ins == 1) | (ins == 2)] = 1
    if boundary:
        cls[band] = 2
    cls[ins == 3] = 3
    probs = np.full((len(NAMES), *ins.shape), 0.04, np.float32)
    np.put_along_axis(probs, cls[None], 0.88, axis=0)
    return probs.astype(np.float16)


@dataclass
class _Pred:
    class_map: np.ndarray
    confidence: np.ndarray
    mean_entropy: float
    probabilities: np.ndarray | None
    tiles: int = 1


class FakePredictor:
    """What ``services.proposals`` needs of a predictor: ``predict``, ``class_names``, ``model_version``."""

    model_version = "v7"

    def __init__(self, probs: np.ndarray, names: list[str] | None = None) -> None:
        self.probs, self.class_names = probs, list(names or NAMES)
        self.calls: list[bool] = []

    def predict(self, image: Any, *, cancel: Any = None, progress: Any = None, **kw: Any) -> _Pred:
        want = bool(kw.get("return_probabilities"))
        self.calls.append(want)
        p = self.probs.astype(np.float32)
        return _Pred(p.argmax(0).astype(np.uint8), p.max(0), 0.1, self.probs if want else None)


def _mask(shape: Any) -> np.ndarray:
    cls, _ = shapes_to_label((H, W), [shape], {shape.label: 1})
    return cls == 1


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_two_touching_discs_come_out_as_two_polygons_each_matching_its_disc() -> None:
    ins = two_touching_discs()
    predictor = FakePredictor(model_probabilities(ins))
    result = propose_image(
        predictor, np.zeros((H, W), np.uint8), ProposalSettings(), image_path=Path("a.png")
    )
    assert predictor.calls == [True]  # a boundary model is asked for its probabilities
    cells = [s for s in result.shapes if s.label == "cell"]
    assert len(cells) == 2 and all(s.shape_type == "polygon" for s in cells)
    for k in (1, 2):
        best = max(_iou(_mask(s), ins == k) for s in cells)
        assert best >= 0.9, (k, best)
    assert all(0.8 < s.extra["confidence"] <= 1.0 for s in cells)  # each object its own confidence
    assert all(s.extra["model_version"] == "v7" and s.is_proposal for s in result.shapes)
    tissue = [s for s in result.shapes if s.label == "tissue"]
    assert len(tissue) == 1 and _iou(_mask(tissue[0]), ins == 3) >= 0.9  # a region, as before
    # the boundary class is folded away: never a label, never in the kept class map's names
    assert result.class_names == ["_background_", "cell", "tissue"]
    assert not any(is_boundary_class(s.label) for s in result.shapes)
    assert int(result.class_map.max()) == 2 and result.rasterized().max() == 2


def test_the_same_touching_discs_without_a_boundary_output_stay_one_region() -> None:
    """Today's path is unchanged: a model without boundary classes proposes connected components."""
    ins = two_touching_discs()
    names = ["_background_", "cell", "tissue"]
    probs = np.delete(model_probabilities(ins, boundary=False), 2, axis=0)
    predictor = FakePredictor(probs, names)
    result = propose_image(predictor, np.zeros((H, W), np.uint8), ProposalSettings())
    assert predictor.calls == [False] and result.probabilities is None
    assert len([s for s in result.shapes if s.label == "cell"]) == 1


def test_a_class_marked_not_an_object_is_never_split(tmp_path: Path) -> None:
    ins = two_touching_discs()
    write_object_setting(tmp_path, {"cell": False, "tissue": True})
    settings = with_object_setting(ProposalSettings(), tmp_path)
    assert settings.not_objects == ("cell",)
    assert settings.to_dict()["not_objects"] == ["cell"]  # part of what made the proposals (the stamp)
    assert "not_objects" not in ProposalSettings().to_dict()  # older stamps stay valid
    result = propose_image(FakePredictor(model_probabilities(ins)), np.zeros((H, W), np.uint8), settings)
    cells = [s for s in result.shapes if s.label == "cell"]
    assert len(cells) == 1  # one region: the boundary band folded into it, no split
    assert _iou(_mask(cells[0]), (ins == 1) | (ins == 2)) >= 0.9
    # the setting is re-read, never cached: back to "from the data" splits again (the model's boundary)
    write_object_setting(tmp_path, {})
    assert (
        len(
            [
                s
                for s in rederive(result, with_object_setting(ProposalSettings(), tmp_path))
                if s.label == "cell"
            ]
        )
        == 2
    )


def test_a_damaged_object_setting_names_the_file_and_field(tmp_path: Path) -> None:
    settings_path(tmp_path).parent.mkdir(parents=True)
    settings_path(tmp_path).write_text('{"objects": {"cell": "yes"}}')
    with pytest.raises(ProjectError) as err:
        with_object_setting(ProposalSettings(), tmp_path)
    assert "instances.json" in str(err.value) and "objects.cell" in str(err.value)


def test_hiding_and_showing_again_rederives_the_same_objects_from_the_kept_prediction() -> None:
    ins = two_touching_discs()
    predictor = FakePredictor(model_probabilities(ins))
    result = propose_image(
        predictor, np.zeros((H, W), np.uint8), ProposalSettings(), image_path=Path("a.png")
    )
    before = [(s.label, np.asarray(s.points).tolist(), s.extra["confidence"]) for s in result.shapes]
    assert rederive(result, ProposalSettings(threshold=0.95)) == []  # every pixel is less sure: hidden
    assert len(rederive(result, ProposalSettings(min_area=2000))) == 0
    again = rederive(result, ProposalSettings())
    assert [(s.label, np.asarray(s.points).tolist(), s.extra["confidence"]) for s in again] == before
    assert len(predictor.calls) == 1  # the model ran once
    # the same step, called directly on the kept arrays (what a settings change does)
    direct = derive_shapes(
        result.class_map,
        result.confidence,
        result.class_names,
        ProposalSettings(),
        model_version="v7",
        probabilities=result.probabilities,
        model_class_names=result.model_class_names,
    )
    assert [np.asarray(s.points).tolist() for s in direct] == [b[1] for b in before]
    # the kept prediction's probabilities count towards the memory bound
    kept = KeptPredictions(max_bytes=result.class_map.nbytes + result.confidence.nbytes + 1)
    kept.put(result)
    assert kept._bytes(result) > result.class_map.nbytes + result.confidence.nbytes


def test_a_renamed_class_renames_its_boundary_and_a_predictor_without_probabilities_is_an_error() -> None:
    ins = two_touching_discs()
    predictor = FakePredictor(model_probabilities(ins))
    renamed = ["_background_", "nucleus", "whatever", "tissue"]
    result = propose_image(predictor, np.zeros((H, W), np.uint8), ProposalSettings(), class_names=renamed)
    assert len([s for s in result.shapes if s.label == "nucleus"]) == 2
    assert result.model_class_names == ["_background_", "nucleus", "nucleus::boundary", "tissue"]

    class NoProbs(FakePredictor):
        def predict(self, image: Any, **kw: Any) -> _Pred:
            return super().predict(image, **{k: v for k, v in kw.items() if k != "return_probabilities"})

    with pytest.raises(ModelError, match="probabilities"):
        propose_image(NoProbs(model_probabilities(ins)), np.zeros((H, W), np.uint8), ProposalSettings())


def _project_with_proposals(root: Path) -> Project:
    cv2.imwrite(str(root / "a.png"), np.full((H, W), 90, np.uint8))
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\ntissue\n")
    project = Project(root)
    result = propose_image(
        FakePredictor(model_probabilities(two_touching_discs())),
        np.zeros((H, W), np.uint8),
        ProposalSettings(),
    )
    entry = project.entries()[0]
    save_document(Document("a.png", H, W), entry.json_path)
    assert write_proposals(project, entry, result.shapes, {"model_version": "v7"}).written
    return project


def test_written_json_holds_one_shape_per_object_and_never_a_boundary_label(tmp_path: Path) -> None:
    _project_with_proposals(tmp_path)
    text = (tmp_path / "a.json").read_text()
    assert "::boundary" not in text
    document = load_document(tmp_path / "a.json")
    assert sorted(s.label for s in document.shapes) == ["cell", "cell", "tissue"]
    assert document.status == "proposed"


def test_coco_and_instance_exports_use_the_proposed_objects(tmp_path: Path) -> None:
    _project_with_proposals(tmp_path)
    export_masks(tmp_path, tmp_path / "coco", fmt="coco", include_unreviewed=True, with_proposals=True)
    coco = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    cells = [a for a in coco["annotations"] if a["category_id"] == 1]
    assert len(cells) == 2  # two touching discs: two COCO objects
    assert all(c["name"] != "cell::boundary" for c in coco["categories"])
    export_masks(tmp_path, tmp_path / "inst", fmt="instance", include_unreviewed=True, with_proposals=True)
    pngs = sorted((tmp_path / "inst").rglob("*.png"))
    assert pngs, list((tmp_path / "inst").rglob("*"))
    ids = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    truth = two_touching_discs()
    objects = [int(i) for i in np.unique(ids[(truth == 1) | (truth == 2)]) if i]
    assert len(objects) == 2  # one instance id per disc
