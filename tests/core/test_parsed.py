"""One parse per open: readers that only look share the last parse; the editor takes it over."""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import pytest

from segdesk.core import _labelme_json, parsed
from segdesk.core.document import Document
from segdesk.core.errors import AnnotationReadError
from segdesk.core.labelme_io import save_document
from segdesk.core.project import Project
from segdesk.core.shapes import Shape


@pytest.fixture
def parses(monkeypatch):
    calls: list[str] = []
    real = _labelme_json.parse_json_bytes

    def counting(path, raw):
        calls.append(str(path))
        return real(path, raw)

    monkeypatch.setattr(_labelme_json, "parse_json_bytes", counting)
    parsed.forget()
    yield calls
    parsed.forget()


def _project(tmp_path, *, height: int = 20) -> Project:
    PIL.Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    doc = Document("a.png", height, 30, shapes=[Shape("cell", [[1, 1], [9, 1], [9, 9]])])
    save_document(doc, tmp_path / "a.json")
    return Project(tmp_path)


def test_status_then_load_parses_once_and_hands_over(tmp_path, parses) -> None:
    project = _project(tmp_path)
    entry = project.entries()[0]
    assert parsed.peek_document(entry.json_path).image_path == "a.png"
    project.status(entry)
    document = project.load(entry)
    assert len(parses) == 1
    document.shapes[0].label = "edited"  # the owner's edits never show through to lookers
    document.set_status("proposed")
    look = parsed.peek_document(entry.json_path)
    assert look is not document and look.labels == ["cell"] and len(parses) == 1
    again = project.load(entry)  # a second owner gets its own parse
    assert again is not document and again is not look and len(parses) == 2


def test_a_changed_file_is_parsed_again(tmp_path, parses) -> None:
    project = _project(tmp_path)
    entry = project.entries()[0]
    first = parsed.peek_document(entry.json_path)
    doc = Document("a.png", 20, 30, shapes=[])
    save_document(doc, entry.json_path)
    st = entry.json_path.stat()
    os.utime(entry.json_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    loaded = project.load(entry)
    assert loaded is not first and loaded.shapes == [] and len(parses) == 2


def test_take_still_checks_the_image_size(tmp_path, parses) -> None:
    project = _project(tmp_path, height=21)  # the image is 20 high
    entry = project.entries()[0]
    parsed.peek_document(entry.json_path)
    with pytest.raises(AnnotationReadError, match="imageHeight"):
        project.load(entry)
