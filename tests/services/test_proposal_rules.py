"""Hiding is never deleting (settings re-derive from the kept prediction) and the one write rule
(defect 6: images whose proposals came from an older model version are proposed again)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from segdesk.core.document import Document
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.project import Project
from segdesk.core.shapes import Shape
from segdesk.services.proposal_files import wants_proposals, write_proposals
from segdesk.services.proposals import KeptPredictions, PredictionResult, ProposalSettings, rederive


def _prediction(version: str = "v1") -> PredictionResult:
    """Three cells the model is 90%, 70% and 55% sure of."""
    cm = np.zeros((60, 90), np.uint8)
    conf = np.full((60, 90), 0.99, np.float32)
    for i, sure in enumerate((0.9, 0.7, 0.55)):
        cm[10:30, 5 + 30 * i : 25 + 30 * i] = 1
        conf[10:30, 5 + 30 * i : 25 + 30 * i] = sure
    return PredictionResult(Path("a.png"), version, ["_background_", "cell"], cm, conf, 0.1)


def _points(shapes: list[Shape]) -> list[list[list[float]]]:
    return [np.asarray(s.points).tolist() for s in shapes]


def test_a_stricter_setting_hides_proposals_and_relaxing_it_brings_them_back() -> None:
    result = _prediction()
    before = _points(rederive(result, ProposalSettings(threshold=0.5)))
    assert len(before) == 3
    assert rederive(result, ProposalSettings(threshold=0.95)) == []
    assert len(rederive(result, ProposalSettings(threshold=0.8))) == 1
    assert len(rederive(result, ProposalSettings(threshold=0.5, min_area=10_000))) == 0
    assert _points(rederive(result, ProposalSettings(threshold=0.5))) == before  # all back, same points
    assert result.class_map.sum() == 3 * 400  # the kept prediction itself never changes


def test_kept_predictions_survive_a_model_switch_and_back() -> None:
    kept = KeptPredictions(size=2)
    v1, v2 = _prediction("v1"), _prediction("v2")
    kept.put(v1)
    kept.put(v2)
    assert kept.get(Path("a.png"), "v1") is v1 and kept.get(Path("a.png"), "v2") is v2
    kept.put(PredictionResult(Path("b.png"), "v1", v1.class_names, v1.class_map, v1.confidence, 0.1))
    assert kept.get(Path("a.png"), "v1") is None  # bounded: the oldest goes first
    small = KeptPredictions(size=8, max_bytes=2 * (v1.class_map.nbytes + v1.confidence.nbytes))
    for version in ("v1", "v2", "v3"):
        small.put(_prediction(version))
    assert small.get(Path("a.png"), "v1") is None and small.get(Path("a.png"), "v3") is not None
    tiny = KeptPredictions(max_bytes=1)
    tiny.put(v1)
    assert tiny.get(Path("a.png"), "v1") is v1  # the latest is always kept


def _shape(label: str, x: float, **extra: object) -> Shape:
    pts = [[x, 5.0], [x + 10, 5.0], [x + 10, 15.0], [x, 15.0]]
    return Shape(label, np.array(pts), extra=dict(extra))


def _project(root: Path) -> Project:
    for name in ("new", "old", "mixed", "started", "reviewed", "current"):
        cv2.imwrite(str(root / f"{name}.png"), np.zeros((40, 60), np.uint8))
    old = {"source": "model", "proposal": True, "model_version": "v1"}
    now = {"source": "model", "proposal": True, "model_version": "v2"}
    files = {
        "old": ([_shape("cell", 1, **old)], "proposed"),
        "mixed": ([_shape("cell", 1), _shape("cell", 30, **old)], "proposed"),
        "started": ([_shape("cell", 1)], None),
        "reviewed": ([_shape("cell", 1, **old)], "reviewed"),
        "current": ([_shape("cell", 1, **now)], "proposed"),
    }
    for name, (shapes, status) in files.items():
        doc = Document(f"{name}.png", 40, 60, shapes=shapes)
        if status:
            doc.set_status(status)
        save_document(doc, root / f"{name}.json")
    return Project(root)


def test_predict_all_reproposes_images_with_proposals_of_an_older_model(tmp_path: Path) -> None:
    project = _project(tmp_path)
    chosen = [e.image_path.stem for e in project.entries() if wants_proposals(project, e, "v2")]
    # never: a reviewed file, a person's own start (no proposals), proposals of this very model
    assert sorted(chosen) == ["mixed", "new", "old"]


def test_writing_replaces_only_proposals_and_never_a_reviewed_file(tmp_path: Path) -> None:
    project = _project(tmp_path)
    entries = {e.image_path.stem: e for e in project.entries()}
    reviewed_bytes = entries["reviewed"].json_path.read_bytes()
    fresh = [_shape("cell", 40, source="model", proposal=True, model_version="v2", confidence=0.8)]
    assert not write_proposals(project, entries["reviewed"], fresh, None).written
    assert entries["reviewed"].json_path.read_bytes() == reviewed_bytes
    assert write_proposals(project, entries["mixed"], fresh, {"model_version": "v2"}).written
    mixed = load_document(entries["mixed"].json_path)
    assert [s.is_proposal for s in mixed.shapes] == [False, True]
    assert mixed.shapes[0].points[0].tolist() == [1.0, 5.0]  # the person's shape, untouched
    # a person's shape beside the proposals: the image is "in progress" (core/review.py), never reviewed
    assert mixed.shapes[1].extra["model_version"] == "v2" and mixed.status == "in_progress"


def test_the_apps_batch_job_follows_the_rule(tmp_path: Path, monkeypatch) -> None:
    """The app's Predict all (ui/job_functions.batch_job) uses the same rule: defect 6 end to end."""
    from segdesk.services import proposals as service
    from segdesk.ui import job_functions

    class FakePredictor:
        class_names = ["_background_", "cell"]
        model_version = "v2"

        def predict(self, image, cancel=None, progress=None):
            from types import SimpleNamespace

            cm = np.zeros(image.shape[:2], np.uint8)
            cm[20:35, 40:55] = 1
            conf = np.full(image.shape[:2], 0.9, np.float32)
            return SimpleNamespace(class_map=cm, confidence=conf, mean_entropy=0.2, tiles=1)

    project = _project(tmp_path)
    monkeypatch.setattr(job_functions, "load_predictor", lambda _path: FakePredictor())
    monkeypatch.setattr(service, "load_predictor", lambda _path: FakePredictor())
    targets = list(enumerate(project.entries()))
    before = {i: e.json_path.read_bytes() for i, e in targets if e.json_path.is_file()}
    outcome = job_functions.batch_job(tmp_path, targets, tmp_path / "m", ProposalSettings(), write=True)(
        threading.Event(), lambda _s: None
    )
    names = {i: e.image_path.stem for i, e in targets}
    assert sorted(names[i] for i in outcome.written) == ["mixed", "new", "old"]
    for i, e in targets:
        if names[i] in ("started", "reviewed", "current"):
            assert e.json_path.read_bytes() == before[i]
        else:
            doc = load_document(e.json_path)
            assert [s.extra.get("model_version") for s in doc.proposals] == ["v2"]
