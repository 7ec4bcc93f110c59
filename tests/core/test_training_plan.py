"""Review status and the one rule of which images train (core/review.py, core/training_plan.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image

from segdesk.core import review
from segdesk.core.document import Document
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.project import Project
from segdesk.core.shapes import Shape
from segdesk.core.training_plan import confirm_elsewhere, plan_training


def _tri(label: str = "cell", **extra) -> Shape:
    return Shape(label, [[1, 1], [9, 1], [5, 8]], extra=extra)


def _file(root: Path, stem: str, shapes: list[Shape], extra: dict | None) -> Path:
    PIL.Image.fromarray(np.zeros((12, 12), np.uint8)).save(root / f"{stem}.png")
    doc = Document(f"{stem}.png", 12, 12, shapes=shapes, extra=dict(extra) if extra is not None else {})
    save_document(doc, root / f"{stem}.json")
    return root / f"{stem}.json"


def test_save_keeps_the_status_only_marking_reviews() -> None:
    doc = Document("a.png", 12, 12, extra={"status": "unlabeled"})
    assert review.status_for_save(doc) == "unlabeled"
    doc.shapes.append(_tri(source="model", proposal=True))
    assert review.status_for_save(doc) == "proposed"
    doc.shapes.append(_tri())
    assert review.status_for_save(doc) == "in_progress"
    review.mark_reviewed(doc)
    assert doc.status == "reviewed" and doc.extra["reviewed"]["how"] == "marked"
    doc.shapes.clear()  # editing a reviewed image keeps it reviewed
    assert review.status_for_save(doc) == "reviewed"
    review.unreview(doc)
    assert doc.status == "unlabeled" and "reviewed" not in doc.extra


def test_old_bare_reviewed_and_foreign_files_are_elsewhere() -> None:
    assert Document("a.png", extra={"status": "reviewed"}, shapes=[_tri()]).status == "elsewhere"
    assert Document("a.png", shapes=[_tri()]).status == "elsewhere"  # Labelme's file
    bad = {"status": "reviewed", "reviewed": {"how": "guessed", "at": "x"}}
    assert Document("a.png", extra=bad, shapes=[_tri()]).status == "elsewhere"
    foreign = Document("a.png", shapes=[_tri()])
    assert review.status_for_save(foreign) == "elsewhere"  # a save does not turn it into segdesk's


def test_plan_trains_reviewed_only_and_names_what_to_ask(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    _file(tmp_path, "a", [_tri()], review.reviewed_extra())
    _file(tmp_path, "b", [], review.reviewed_extra())  # reviewed, no shape
    _file(tmp_path, "c", [_tri("dog")], review.reviewed_extra())  # a label labels.txt lacks
    _file(tmp_path, "d", [_tri()], None)  # labelled elsewhere
    _file(tmp_path, "e", [_tri()], {"status": "in_progress"})
    _file(tmp_path, "f", [_tri(source="model", proposal=True)], {"status": "proposed"})
    project = Project(tmp_path)
    plan = plan_training(project)
    assert [e.name for e in plan.entries] == ["a.png", "b.png", "c.png"]
    assert [e.name for e in plan.elsewhere] == ["d.png"]
    assert [e.name for e in plan.empty_reviewed] == ["b.png"]
    assert plan.unknown_labels == ("dog",)
    text = "\n".join(plan.describe())
    assert "3 image(s) will train" in text and "all background: b.png" in text and "dog" in text
    assert "labelled elsewhere are left out until confirmed: d.png" in text
    skipped = plan_training(project, skip_empty=True, use_elsewhere=True)
    assert [e.name for e in skipped.entries] == ["a.png", "c.png", "d.png"]


def test_confirming_elsewhere_records_how(tmp_path: Path) -> None:
    path = _file(tmp_path, "d", [_tri()], None)
    project = Project(tmp_path)
    plan = plan_training(project)
    assert plan.entries == () and len(plan.elsewhere) == 1
    assert confirm_elsewhere(project, plan.elsewhere) == 1
    data = json.loads(path.read_text())
    assert data["segdesk"]["status"] == "reviewed" and data["segdesk"]["reviewed"]["how"] == "confirmed"
    assert np.asarray(load_document(path).shapes[0].points).tolist() == [[1, 1], [9, 1], [5, 8]]
    assert [e.name for e in plan_training(project).entries] == ["d.png"]
