"""Proposal rules without Qt: reviewed images and people's shapes are never touched; stale results drop."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdesk.core.document import Document
from segdesk.core.effort import append_csv, correction_ious, recent_trend
from segdesk.core.shapes import Shape
from segdesk.services.proposals import PredictionResult, ProposalSettings
from segdesk.services.proposals import rederive as revectorize
from segdesk.ui.proposals import (
    accept_command,
    is_stale,
    reject_command,
    replace_proposals_command,
)


def _square(label: str, x: float, y: float, s: float, **extra: object) -> Shape:
    pts = [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]
    return Shape(label=label, points=np.array(pts, float), extra=dict(extra))


def _result(path: str = "a.png", version: str = "v1") -> PredictionResult:
    cm = np.zeros((40, 40), np.uint8)
    cm[5:20, 5:20] = 1
    conf = np.full((40, 40), 0.9, np.float32)
    conf[5:20, 5:12] = 0.4  # the left part is unsure
    return PredictionResult(Path(path), version, ["_background_", "cell"], cm, conf, 0.1)


def test_threshold_and_min_area_revectorize_the_kept_prediction() -> None:
    r = _result()
    loose = revectorize(r, ProposalSettings(threshold=0.0, min_area=1))
    strict = revectorize(r, ProposalSettings(threshold=0.5, min_area=1))
    gone = revectorize(r, ProposalSettings(threshold=0.5, min_area=500))
    area = lambda s: np.ptp(s.points[:, 0]) * np.ptp(s.points[:, 1])  # noqa: E731
    assert len(loose) == len(strict) == 1 and area(strict[0]) < area(loose[0])
    assert gone == []
    assert loose[0].is_proposal and loose[0].extra["model_version"] == "v1"
    assert 0.4 <= loose[0].extra["confidence"] <= 0.9


def test_new_proposals_replace_old_ones_but_never_a_persons_shape_or_a_reviewed_image() -> None:
    person = _square("cell", 1, 1, 5)
    old = _square("cell", 20, 20, 5, source="model", proposal=True)
    doc = Document(image_path="a.png", image_height=40, image_width=40, shapes=[person, old])
    doc.set_status("proposed")  # autosaved while the person was still working on it
    new = revectorize(_result(), ProposalSettings(threshold=0.0, min_area=1))
    replace_proposals_command(doc, new).do(doc)  # type: ignore[union-attr]
    assert doc.shapes[0] is person and len(doc.shapes) == 2 and doc.shapes[1].is_proposal
    assert doc.shapes[1].points.min() < 10  # the new one, not the old one at (20, 20)
    doc.set_status("reviewed")
    assert replace_proposals_command(doc, new) is None
    assert reject_command(doc, [0]) is None  # index 0 is the person's
    reject_command(doc, None).do(doc)  # type: ignore[union-attr]
    assert doc.shapes == [person]


def test_accept_keeps_provenance_and_stale_results_are_detected() -> None:
    doc = Document(image_path="a.png", image_height=40, image_width=40)
    replace_proposals_command(
        doc, revectorize(_result(), ProposalSettings(threshold=0.0, min_area=1, tolerance=1.0))
    ).do(doc)  # type: ignore[union-attr]
    accept_command(doc, None).do(doc)  # type: ignore[union-attr]
    extra = doc.shapes[0].extra
    assert extra["source"] == "model" and extra["proposal"] is False and extra["model_version"] == "v1"
    assert accept_command(doc, None) is None
    r = _result("a.png", "v1")
    assert not is_stale(r, image_path=Path("a.png"), model_version="v1")
    assert is_stale(r, image_path=Path("b.png"), model_version="v1")
    assert is_stale(r, image_path=Path("a.png"), model_version="v2")


def test_correction_effort_ious_csv_and_trend(tmp_path: Path) -> None:
    proposed = [_square("cell", 0, 0, 10), _square("dog", 20, 20, 10)]
    saved = [_square("cell", 0, 0, 10), _square("dog", 25, 20, 10)]
    rows = {r.label: r for r in correction_ious(proposed, saved, (40, 40))}
    assert rows["cell"].iou == 1.0
    assert 0.2 < rows["dog"].iou < 0.6
    csv_path = tmp_path / ".segdesk" / "corrections.csv"
    assert recent_trend(csv_path) is None
    append_csv(csv_path, "a.png", "v1", list(rows.values()))
    append_csv(csv_path, "b.png", "v1", correction_ious(proposed, [], (40, 40)))
    n, mean = recent_trend(csv_path)  # type: ignore[misc]
    assert n == 2
    assert mean == (1.0 + rows["dog"].iou) / 2 / 2
    assert csv_path.read_text(encoding="utf-8").startswith("time,image,model_version,class,iou")
