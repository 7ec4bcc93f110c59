"""A folder with no images of its own says where the images are (subfolders) or what it holds instead,
the same words in the app and in every command (core/image_folders)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core import image_folders
from segdesk.core.check import run_check
from segdesk.core.errors import ExportError, ProjectError
from segdesk.core.export.masks import export_masks
from segdesk.core.image_folders import look_inside, no_images_text
from segdesk.core.import_masks import import_masks


def _img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


def _nested(root: Path) -> Path:
    for i in range(3):
        _img(root / "day1" / f"a{i}.png")
    _img(root / "day10" / "b.jpg")
    _img(root / "day2" / "2024" / "c.tif")  # two levels down
    _img(root / ".segdesk" / "hidden.png")  # hidden folders are not where a person keeps images
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("x")
    return root


def test_subfolders_holding_images_are_named_with_their_counts(tmp_path: Path) -> None:
    root = _nested(tmp_path / "scans")
    contents = look_inside(root)
    assert [(p.relative_to(root).as_posix(), n) for p, n in contents.subfolders] == [
        ("day1", 3),
        ("day2/2024", 1),
        ("day10", 1),  # natural order: day2 before day10
    ]
    assert contents.complete and contents.other_kinds == ()
    text = no_images_text(root)
    assert text.startswith(f"{root}: no images of its own.")
    assert "Its subfolders hold 5 images: day1 (3 images), day2/2024 (1), day10 (1)." in text
    assert "choose one of these folders" in text


def test_files_of_other_kinds_are_named(tmp_path: Path) -> None:
    for name in ("a.czi", "b.czi", "c.nd2", "d.json", "labels.txt"):
        (tmp_path / name).write_bytes(b"x")
    text = no_images_text(tmp_path)
    assert "It holds 2 .czi and 1 .nd2 files, which segdesk does not open" in text
    assert "PNG, JPEG, TIFF, BMP and WebP" in text and ".json" not in text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert no_images_text(empty) == (
        f"{empty}: no images (segdesk opens PNG, JPEG, TIFF, BMP and WebP files directly in the folder)."
    )


def test_the_look_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A home folder must not be walked whole: the look stops after MAX_FOLDERS listings and says
    'at least'; deeper than MAX_DEPTH is not looked into; more than NAMED folders are counted."""
    for i in range(8):
        _img(tmp_path / f"f{i}" / "x.png")
    _img(tmp_path / "a" / "b" / "c" / "d" / "deep.png")  # depth 4
    contents = look_inside(tmp_path)
    assert len(contents.subfolders) == 8 and contents.complete
    assert "and 3 more folders" in no_images_text(tmp_path)
    monkeypatch.setattr(image_folders, "MAX_FOLDERS", 4)
    partial = look_inside(tmp_path)
    assert not partial.complete and len(partial.subfolders) < 8
    assert "hold at least" in no_images_text(tmp_path)


def test_check_says_why_nothing_was_checked_and_recursive_checks_the_subfolders(tmp_path: Path) -> None:
    root = _nested(tmp_path / "scans")
    (root / "day1" / "a0.json").write_text(json.dumps({"shapes": 5}))
    out = io.StringIO()
    assert run_check(root, out) == 1  # an empty pass would read as "every file is good"
    assert "day1 (3 images)" in out.getvalue() and "--recursive" in out.getvalue()
    out = io.StringIO()
    assert run_check(root, out, recursive=True) == 1
    assert "a0.json" in out.getvalue()
    out = io.StringIO()
    assert run_check(root / "day1", out) == 1 and "no images of its own" not in out.getvalue()


def test_export_and_import_masks_name_the_subfolders(tmp_path: Path) -> None:
    root = _nested(tmp_path / "scans")
    with pytest.raises(ExportError, match=r"day1 \(3 images\)"):
        export_masks(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    masks = tmp_path / "masks"
    masks.mkdir()
    with pytest.raises(ProjectError, match=r"day1 \(3 images\)"):
        import_masks(root, masks, "0=_background_,255=cell")
