"""Issue 14 item 9 in the app: autosave asks (reload / overwrite / cancel) when another program wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core.shapes import Shape
from segdesk.ui.session import Session


def _project(tmp_path: Path) -> Path:
    PIL.Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    _json(tmp_path, "first")
    return tmp_path


def _json(root: Path, label: str) -> None:
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": [{"label": label, "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}],
        "imagePath": "a.png",
        "imageData": None,
        "imageHeight": 20,
        "imageWidth": 20,
    }
    (root / "a.json").write_text(json.dumps(doc))


def _edit(session: Session) -> None:
    session.document.shapes.append(Shape("mine", np.array([[2.0, 2.0], [8.0, 2.0], [8.0, 8.0]])))
    session.undo_stack.resetClean()  # as an edit command leaves the stack: unsaved changes


def _labels(root: Path) -> list[str]:
    return [s["label"] for s in json.loads((root / "a.json").read_text())["shapes"]]


@pytest.mark.parametrize("answer", ["reload", "overwrite", "cancel"])
def test_autosave_asks_when_the_file_changed(qapp, tmp_path: Path, answer: str) -> None:
    root = _project(tmp_path)
    session = Session(autosave=True)
    asked: list[str] = []
    session.ask_changed = lambda name: asked.append(name) or answer
    failures: list[str] = []
    session.failed.connect(failures.append)
    assert session.open_folder(root)
    _edit(session)
    _json(root, "labelme")  # another program saves meanwhile
    result = session.save(by_person=False)
    assert asked == ["a.json"]
    if answer == "overwrite":
        assert result and _labels(root) == ["first", "mine"]
    elif answer == "reload":
        assert result and _labels(root) == ["labelme"]
        assert [s.label for s in session.document.shapes] == ["labelme"] and not session.is_dirty()
    else:
        assert not result and _labels(root) == ["labelme"] and session.is_dirty()
        assert failures and "another program" in failures[-1]


def test_no_question_when_nobody_else_wrote(qapp, tmp_path: Path) -> None:
    root = _project(tmp_path)
    session = Session(autosave=True)
    session.ask_changed = lambda name: pytest.fail("asked without a reason")
    assert session.open_folder(root)
    for _ in range(2):
        _edit(session)
        assert session.save(by_person=False)
    assert _labels(root) == ["first", "mine", "mine"]
