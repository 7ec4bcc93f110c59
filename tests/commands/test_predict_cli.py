"""``segdesk predict``: reviewed files stay byte-identical, person shapes stay, masks are written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segdesk.commands.predict import (
    add_predict_arguments,
    predict_command,
    predict_from_args,
)
from segdesk.core.document import Document
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.rasterize import document_to_class_map
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape
from segdesk.services.proposal_files import replace_proposals
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model

torch.set_num_threads(1)

#: A file as Labelme writes it (indent 2, its own key order, an unknown key): a person's work.
LABELME_TEXT = """{
  "version": "5.2.1",
  "flags": {},
  "shapes": [
    {
      "label": "cell",
      "points": [[10.0, 10.0], [30.0, 10.0], [30.0, 30.0]],
      "group_id": null,
      "description": "",
      "shape_type": "polygon",
      "flags": {}
    }
  ],
  "imagePath": "a.png",
  "imageData": null,
  "imageHeight": 64,
  "imageWidth": 64,
  "customTool": {"x": 1}
}
"""

PERSON = Shape("cell", np.array([[1.0, 1.0], [12.0, 1.0], [12.0, 9.0]]), extra={"source": "person"})
OLD_PROPOSAL = Shape(
    "cell",
    np.array([[40.0, 40.0], [50.0, 40.0], [50.0, 50.0]]),
    extra={"source": "model", "proposal": True, "model_version": "v0", "confidence": 0.5},
)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    from segdesk.ml.checkpoint import ModelStore

    truth = {}
    for i, name in enumerate("abcd"):
        img, cm = blob_image(64, 64, seed=20 + i, count=5)
        cv2.imwrite(str(tmp_path / f"{name}.png"), img)
        truth[name] = cm
    (tmp_path / "a.json").write_text(LABELME_TEXT, encoding="utf-8")  # reviewed (made in Labelme)
    partly = Document(
        "b.png", 64, 64, shapes=[PERSON.copy(), OLD_PROPOSAL.copy()], extra={"status": "proposed"}
    )
    save_document(partly, tmp_path / "b.json")
    # c has no JSON yet; d was reviewed in segdesk and holds only an accepted-then-untouched proposal.
    done = Document("d.png", 64, 64, shapes=[OLD_PROPOSAL.copy()], extra=reviewed_extra())
    save_document(done, tmp_path / "d.json")
    ModelStore(tmp_path).add_version(fresh_copy(trained_tiny_model()), {"classes": CLASSES})
    np.savez(tmp_path.parent / "truth.npz", **truth)
    return tmp_path


def run(target: Path, **kwargs) -> tuple[int, list[str]]:
    lines: list[str] = []
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("backend", "torch")
    kwargs.setdefault("tile", 64)
    code = predict_command(target, out=lines.append, **kwargs)
    return code, lines


def test_write_never_touches_reviewed_files_and_keeps_person_shapes(project: Path) -> None:
    before = {n: (project / f"{n}.json").read_bytes() for n in "abd"}
    stamps = {n: (project / f"{n}.json").stat().st_mtime_ns for n in "ad"}
    code, lines = run(project, write=True)
    assert code == 0, lines
    for n in "ad":
        assert (project / f"{n}.json").read_bytes() == before[n]
        assert (project / f"{n}.json").stat().st_mtime_ns == stamps[n]
        assert any(line.startswith(f"{n}.png") and "reviewed: left as it is" in line for line in lines)
    b = load_document(project / "b.json")
    assert b.shapes[0].same_as(load_document_shapes(before["b"], project)[0])  # the person's shape
    assert not b.shapes[0].is_proposal and b.status == "in_progress"  # a person's shape, not reviewed
    proposals = b.proposals
    assert proposals and all(s.extra["model_version"] == "v1" for s in proposals)
    assert all(s.extra["source"] == "model" and 0 < s.extra["confidence"] <= 1 for s in proposals)
    c = load_document(project / "c.json")
    assert c.status == "proposed" and c.proposals and len(c.person_shapes) == 0
    # A second run replaces the proposals instead of adding to them.
    assert run(project, write=True)[0] == 0
    again = load_document(project / "b.json")
    assert len(again.shapes) == len(b.shapes) and again.shapes[0].same_as(b.shapes[0])
    assert (project / "a.json").read_bytes() == before["a"]


def load_document_shapes(data: bytes, folder: Path) -> list[Shape]:
    path = folder / "_copy.json"
    path.write_bytes(data)
    try:
        return load_document(path).shapes
    finally:
        path.unlink()


def test_masks_out_writes_the_class_map_the_proposals_draw(project: Path) -> None:
    truth = np.load(project.parent / "truth.npz")
    code, lines = run(project, write=True, masks_out=project / "masks")
    assert code == 0, lines
    for n in "abcd":
        mask = cv2.imread(str(project / "masks" / f"{n}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (64, 64) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
        assert (mask == truth[n]).mean() > 0.95
    c = load_document(project / "c.json")
    drawn = document_to_class_map(c, CLASSES)
    assert np.array_equal(drawn, cv2.imread(str(project / "masks" / "c.png"), cv2.IMREAD_UNCHANGED))
    assert not (project / "masks" / "a.json").exists()


def test_without_write_nothing_is_written(project: Path) -> None:
    before = {p.name: p.read_bytes() for p in project.glob("*.json")}
    code, lines = run(project)
    assert code == 0 and len([line for line in lines if "proposals (" in line]) == 4
    assert {p.name: p.read_bytes() for p in project.glob("*.json")} == before


def test_one_image_an_explicit_model_and_clear_errors(project: Path, tmp_path_factory) -> None:
    code, lines = run(project / "c.png", model="v1", write=True)
    assert code == 0 and sum("proposals (" in line for line in lines) == 1
    assert (project / "c.json").is_file() and not (project / "a.json").read_text().count("segdesk")
    code, lines = run(project, model="v9")
    assert code == 2 and "v9" in lines[-1]
    empty = tmp_path_factory.mktemp("nomodel")
    cv2.imwrite(str(empty / "x.png"), np.zeros((8, 8), np.uint8))
    code, lines = run(empty)
    assert code == 2 and "no model" in lines[-1]
    assert run(empty / "missing.png")[0] == 2
    parent = tmp_path_factory.mktemp("parent")
    (parent / "day1").mkdir()
    cv2.imwrite(str(parent / "day1" / "x.png"), np.zeros((8, 8), np.uint8))
    code, lines = run(parent)  # the parent of the image folder: told where the images are
    assert code == 2 and "day1 (1 image)" in lines[-1]


def test_a_broken_json_is_reported_and_left_alone(project: Path) -> None:
    (project / "c.json").write_text("{not json", encoding="utf-8")
    code, lines = run(project, write=True)
    assert code == 1 and any(line.startswith("c.png: FAILED") for line in lines)
    assert (project / "c.json").read_text(encoding="utf-8") == "{not json"


def test_replace_proposals_keeps_order_of_person_shapes() -> None:
    doc = Document("x.png", 10, 10, shapes=[OLD_PROPOSAL.copy(), PERSON.copy(), OLD_PROPOSAL.copy()])
    new = Shape(
        "cell", np.array([[0.0, 0.0], [5.0, 0.0], [5.0, 5.0]]), extra={"source": "model", "proposal": True}
    )
    seen: list[str] = []
    doc.subscribe(seen.append)
    replace_proposals(doc, [new])
    assert [s.is_proposal for s in doc.shapes] == [False, True] and doc.shapes[1] is new
    assert doc.extra["status"] == "proposed" and doc.status == "in_progress" and seen == ["shapes"]


def test_argparse_options(project: Path) -> None:
    parser = argparse.ArgumentParser()
    add_predict_arguments(parser)
    args = parser.parse_args(
        [
            str(project),
            "--write",
            "--masks-out",
            str(project / "m"),
            "--device",
            "cpu",
            "--tile",
            "64",
            "--backend",
            "torch",
            "--smooth",
            "3",
            "--min-area",
            "4",
            "--max-hole-area",
            "0",
        ]
    )
    lines: list[str] = []
    assert predict_from_args(args, out=lines.append) == 0
    assert len(list((project / "m").glob("*.png"))) == 4
    assert json.loads((project / "a.json").read_text()) == json.loads(LABELME_TEXT)


def test_write_does_not_replace_a_file_another_program_saved_meanwhile(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 9: predict --write checks the file just before each write."""
    from segdesk.core.project import Project

    real_load = Project.load

    def load_then_labelme_saves(self, entry):
        document = real_load(self, entry)
        if entry.json_path.name == "b.json":
            entry.json_path.write_text(LABELME_TEXT.replace('"a.png"', '"b.png"'), encoding="utf-8")
        return document

    monkeypatch.setattr(Project, "load", load_then_labelme_saves)
    code, lines = run(project, write=True)
    assert code == 1
    assert any(line.startswith("b.png") and "another program" in line for line in lines), lines
    assert "customTool" in (project / "b.json").read_text()  # Labelme's save survived
    assert load_document(project / "c.json").proposals  # the others were written


def test_the_projects_proposal_settings_are_the_windows_and_an_option_wins(project: Path) -> None:
    """The Model panel saves its settings in .segdesk/proposals.json; segdesk predict reads them, so
    both turn the same model's output into the same shapes (one rule, one place)."""
    from segdesk.services.proposal_defaults import proposals_path, save_project_proposal_settings
    from segdesk.services.proposals import ProposalSettings

    code, lines = run(project, write=True)
    assert code == 0 and not any("proposal settings" in line for line in lines)
    counted = [line for line in lines if line.startswith("c.png")]
    assert counted and "0 proposals" not in counted[0], lines
    save_project_proposal_settings(project, ProposalSettings(min_area=10**6, smooth=3))
    assert json.loads(proposals_path(project).read_text()) == {"min_area": 1000000, "smooth": 3}
    code, lines = run(project, write=True)
    assert code == 0 and "(.segdesk/proposals.json): min area 1000000 px, smoothing 3" in lines[1], lines
    assert all("0 proposals" in line for line in lines if line.startswith(("b.png", "c.png")))
    code, lines = run(project, write=True, min_area=16, smooth=0)  # options given win
    assert "0 proposals" not in next(line for line in lines if line.startswith("c.png")), lines
    proposals_path(project).write_text('{"smooth": 2}')
    code, lines = run(project, write=True)
    assert code == 2 and lines[-1].endswith("proposals.json: smooth: must be 0 (off) or odd, not 2"), lines
