"""Issue 14 item 9: a save does not silently replace what another program wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from segdesk.core.disk_stamps import FileChangedError, has_changed, stamp_for, stamp_of_file
from segdesk.core.labelme_io import load_document, save_document


def _write(path: Path, label: str) -> Path:
    doc = {"shapes": [{"label": label, "points": [[1, 1], [5, 1], [5, 5]]}], "imagePath": "a.png"}
    path.write_text(json.dumps(doc))
    return path


def test_another_programs_write_is_detected(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", "mine")
    document = load_document(path, check_image=False)
    stamp = stamp_for(document)
    assert stamp is not None and not has_changed(path, stamp)
    _write(path, "labelme's")  # Labelme saves the file meanwhile
    with pytest.raises(FileChangedError, match="another program") as info:
        save_document(document, path, if_unchanged=stamp)
    assert str(path) in str(info.value)
    assert json.loads(path.read_text())["shapes"][0]["label"] == "labelme's"


def test_own_saves_move_the_stamp(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", "x")
    document = load_document(path, check_image=False)
    for label in ("y", "z"):
        document.shapes[0].label = label
        save_document(document, path, if_unchanged=stamp_for(document))
    assert load_document(path, check_image=False).shapes[0].label == "z"


def test_same_bytes_with_a_new_mtime_is_not_a_change(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", "x")
    document = load_document(path, check_image=False)
    os.utime(path, ns=(1, 1))  # a touch, a sync tool
    save_document(document, path, if_unchanged=stamp_for(document))


def test_a_file_created_since_counts_as_changed(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    document = load_document(_write(tmp_path / "src.json", "x"), check_image=False)
    assert stamp_of_file(path) is None
    _write(path, "other")
    with pytest.raises(FileChangedError, match="created"):
        save_document(document, path, if_unchanged=None)


def test_without_a_stamp_no_check(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", "x")
    document = load_document(path, check_image=False)
    _write(path, "other")
    save_document(document, path)  # callers that do not ask for the check are unchanged
    assert load_document(path, check_image=False).shapes[0].label == "x"
