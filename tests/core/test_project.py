"""A project folder: images in natural order, labels as labelme2voc, status per image, cached."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core import parsed as parsed_module
from segdesk.core import project as project_module
from segdesk.core.document import Document
from segdesk.core.errors import AnnotationReadError, ProjectError
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.project import ImageEntry, Project, natural_key
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape

H, W = 8, 12


def _img(folder: Path, name: str) -> Path:
    path = folder / name
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF"}.get(path.suffix.lower()[1:])
    PIL.Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path, format=fmt)
    return path


def _annotate(image: Path, shapes: list[Shape], **extra) -> Path:
    doc = Document(image_path=image.name, image_height=H, image_width=W, shapes=shapes, extra=extra)
    save_document(doc, image.with_suffix(".json"))
    return image.with_suffix(".json")


def _tri(label: str, **extra) -> Shape:
    return Shape(label, [[1, 1], [5, 1], [3, 4]], extra=extra)


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_entries_are_images_in_natural_order(tmp_path: Path) -> None:
    for name in ["10.png", "2.png", "1.PNG", "b.JPEG", "a.jpg", "c.tif", "d.TIFF", "e.bmp", "f.webp"]:
        _img(tmp_path, name)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    _img(tmp_path / "sub", "0.png")
    (tmp_path / "dir.png").mkdir()
    names = [e.name for e in Project(tmp_path).entries()]
    assert names == ["1.PNG", "2.png", "10.png", "a.jpg", "b.JPEG", "c.tif", "d.TIFF", "e.bmp", "f.webp"]
    entry = Project(tmp_path).entries()[1]
    assert entry == ImageEntry(tmp_path / "2.png", tmp_path / "2.json")
    assert not entry.has_annotation


def test_natural_key() -> None:
    names = ["img10.png", "img2.png", "Img1.png", "img2b.png", "img02.png", "a.png"]
    assert sorted(names, key=natural_key) == [
        "a.png",
        "Img1.png",
        "img02.png",
        "img2.png",
        "img2b.png",
        "img10.png",
    ]


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not a folder"):
        Project(tmp_path / "missing")


def test_labels_txt_as_labelme2voc(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text(
        "__ignore__\n_background_\ncell\n\n  nucleus  \ncell\n", encoding="utf-8"
    )
    project = Project(tmp_path)
    assert project.label_names() == ["__ignore__", "_background_", "cell", "nucleus"]
    assert project.class_names() == ["_background_", "cell", "nucleus"]
    assert project.has_ignore
    (tmp_path / "labels.txt").write_text("cell\ndog\n", encoding="utf-8")
    assert project.class_names() == ["_background_", "cell", "dog"]
    assert not project.has_ignore


def test_labels_discovered_without_labels_txt(tmp_path: Path) -> None:
    _annotate(_img(tmp_path, "1.png"), [_tri("zebra"), _tri("cell2")])
    _annotate(_img(tmp_path, "2.png"), [_tri("cell10"), _tri("__ignore__")])
    project = Project(tmp_path)
    assert project.label_names() == ["__ignore__", "cell2", "cell10", "zebra"]
    assert project.class_names() == ["_background_", "cell2", "cell10", "zebra"]
    assert project.has_ignore


def test_write_label_names(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write_label_names(["cell", "_background_", "dog", "cell"])
    assert (tmp_path / "labels.txt").read_text() == "__ignore__\n_background_\ncell\ndog\n"
    assert project.class_names() == ["_background_", "cell", "dog"]
    with pytest.raises(ProjectError):
        project.write_label_names(["bad\nlabel"])


def test_bad_labels_txt(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProjectError, match="labels.txt: not UTF-8"):
        Project(tmp_path).label_names()


def test_status_per_image(tmp_path: Path) -> None:
    """Only a person's review record makes an image reviewed; other tools' files are "elsewhere"."""
    unlabeled = _img(tmp_path, "1.png")
    person = _annotate(_img(tmp_path, "2.png"), [_tri("cell")])  # Labelme's file: no segdesk key
    proposed = _annotate(_img(tmp_path, "3.png"), [_tri("cell", source="model", proposal=True)])
    explicit = _annotate(_img(tmp_path, "4.png"), [_tri("cell", proposal=True)], **reviewed_extra())
    empty = _annotate(_img(tmp_path, "5.png"), [])
    old = _annotate(_img(tmp_path, "6.png"), [], status="reviewed")  # an older segdesk, silently
    started = _annotate(_img(tmp_path, "7.png"), [_tri("cell")], status="in_progress")
    project = Project(tmp_path)
    entries = project.entries()
    assert [project.status(e) for e in entries] == [
        "unlabeled",
        "elsewhere",
        "proposed",
        "reviewed",
        "unlabeled",
        "elsewhere",
        "in_progress",
    ]
    assert [e.name for e in project.reviewed_entries()] == ["4.png"]
    assert project.status_counts() == {
        "unlabeled": 2,
        "in_progress": 1,
        "proposed": 1,
        "reviewed": 1,
        "elsewhere": 2,
    }
    assert unlabeled and person and proposed and explicit and empty and old and started


def test_status_follows_file_changes_and_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _img(tmp_path, "1.png")
    json_path = _annotate(image, [_tri("cell", proposal=True)])
    project = Project(tmp_path)
    entry = project.entries()[0]
    calls = []
    real = parsed_module.load_document  # statuses read through the shared parse (core/parsed.py)
    monkeypatch.setattr(parsed_module, "load_document", lambda *a, **k: calls.append(a) or real(*a, **k))
    parsed_module.forget()
    assert project.status(entry) == "proposed"
    assert project.status(entry) == "proposed"
    project.label_names()
    assert len(calls) == 1  # read once, then served from the cache
    doc = load_document(json_path)
    doc.set_status("reviewed")
    save_document(doc, json_path)
    _touch_later(json_path)
    assert project.status(entry) == "reviewed"
    assert len(calls) == 2
    json_path.unlink()
    assert project.status(entry) == "unlabeled"


def test_unreadable_json_is_unlabeled_with_a_problem(tmp_path: Path) -> None:
    image = _img(tmp_path, "1.png")
    image.with_suffix(".json").write_text('{"shapes": [', encoding="utf-8")
    project = Project(tmp_path)
    entry = project.entries()[0]
    assert project.status(entry) == "unlabeled"
    assert "1.json" in project.problem(entry) and "truncated" in project.problem(entry)
    assert project.reviewed_entries() == []
    with pytest.raises(AnnotationReadError):
        project.load(entry)


def test_images_sharing_a_name_share_one_json_file_owned_by_one(tmp_path: Path) -> None:
    """a.png and a.jpg both map to a.json (as in Labelme): the file is the image's its imagePath names;
    the other image never shows, saves over, trains on or exports that image's shapes."""
    png, jpg = _img(tmp_path, "a.png"), _img(tmp_path, "a.jpg")
    project = Project(tmp_path)
    first, second = project.entries()  # a.jpg, a.png
    assert (first.image_path, second.image_path) == (jpg, png)
    assert project.problem(first) is None and project.problem(second) is None  # nobody has it yet
    doc = project.load(second)  # the first image saved takes the file
    doc.shapes.append(_tri("cell"))
    doc.extra.update(reviewed_extra())
    project.save(second, doc)
    assert json.loads(png.with_suffix(".json").read_text())["imagePath"] == "a.png"
    assert project.status(second) == "reviewed" and project.problem(second) is None
    assert project.status(first) == "unlabeled"
    problem = project.problem(first)
    assert (
        problem is not None and "a.json is the annotation of a.png" in problem and "rename a.jpg" in problem
    )
    assert project.reviewed_entries() == [second]
    with pytest.raises(AnnotationReadError, match="imagePath"):
        project.load(first)
    with pytest.raises(AnnotationReadError, match="rename a.jpg"):
        project.save(first, Document(image_path="a.jpg", image_height=H, image_width=W))
    assert json.loads(png.with_suffix(".json").read_text())["imagePath"] == "a.png"  # untouched
    alone = Project(tmp_path)  # opened on the image itself (segdesk a.jpg)
    assert alone.problem(alone.entry_for(jpg)) == problem
    assert alone.problem(alone.entry_for(png)) is None


def test_load_new_and_save(tmp_path: Path) -> None:
    _img(tmp_path, "a.png")
    project = Project(tmp_path)
    entry = project.entries()[0]
    doc = project.load(entry)
    assert doc.shapes == [] and (doc.image_height, doc.image_width) == (H, W) and doc.image_path == "a.png"
    assert project.status(entry) == "unlabeled"
    doc.shapes.append(_tri("cell"))
    project.save(entry, doc)
    assert entry.has_annotation and project.status(entry) == "in_progress"  # only a person reviews
    raw = json.loads(entry.json_path.read_text())
    assert raw["imagePath"] == "a.png" and raw["imageHeight"] == H
    assert project.load(entry).shapes[0].same_as(doc.shapes[0])
    assert project.label_names() == ["cell"]


def test_open_path(tmp_path: Path) -> None:
    image = _img(tmp_path, "a.png")
    json_path = _annotate(image, [])
    project, entry = Project.open_path(tmp_path)
    assert project.root == tmp_path and entry is None
    project, entry = Project.open_path(image)
    assert project.root == tmp_path and entry == ImageEntry(image, json_path)
    project, entry = Project.open_path(json_path)
    assert entry == ImageEntry(image, json_path)
    # A JSON whose image has another name: found through imagePath.
    (tmp_path / "other.json").write_text(json_path.read_text())
    assert Project.open_path(tmp_path / "other.json")[1] == ImageEntry(image, tmp_path / "other.json")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ProjectError, match="not a folder, an image or a Labelme JSON file"):
        Project.open_path(tmp_path / "notes.txt")
    with pytest.raises(ProjectError, match="no such file or folder"):
        Project.open_path(tmp_path / "nothing")


def test_many_images_list_fast_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _img(tmp_path, "0.png")
    text = _annotate(image, [_tri("cell")]).read_text()
    data = image.read_bytes()
    for i in range(1, 300):
        (tmp_path / f"{i}.png").write_bytes(data)
        (tmp_path / f"{i}.json").write_text(text.replace('"0.png"', f'"{i}.png"'))
    project = Project(tmp_path)
    assert project.status_counts()["elsewhere"] == 300
    monkeypatch.setattr(project_module, "load_document", lambda *a, **k: pytest.fail("not cached"))
    assert project.status_counts()["elsewhere"] == 300
    assert [e.name for e in project.entries()[:3]] == ["0.png", "1.png", "2.png"]


def test_names_differing_in_case_share_a_file_where_the_disk_ignores_case(tmp_path, monkeypatch) -> None:
    """macOS and Windows: A.png and a.jpg write one A.json / a.json. This disk tells the two apart
    (probed), so the probe is replaced to check the rule; the export never writes both a.png and A.png."""
    import segdesk.core.import_masks as import_masks
    import segdesk.core.project as project
    from segdesk.core.export.masks import _stems

    for name in ("A.png", "a.jpg", "b.png"):
        PIL.Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / name)
    assert not project.case_insensitive(tmp_path)  # this disk: two files
    assert project.shared_in_folder(tmp_path) == {}
    monkeypatch.setattr(project, "case_insensitive", lambda folder: True)  # import_masks asks project
    shared = project.shared_in_folder(tmp_path)
    assert shared == {tmp_path / "A.json": ("a.jpg", "A.png"), tmp_path / "a.json": ("a.jpg", "A.png")}
    assert import_masks.stem_clashes([tmp_path / "A.png", tmp_path / "a.jpg", tmp_path / "b.png"])
    entries = Project(tmp_path).entries()
    assert _stems(entries) == ["a_jpg", "A_png", "b"]


def test_the_case_probe_is_not_fooled_by_two_files(tmp_path) -> None:
    from segdesk.core.project import _case_insensitive

    (tmp_path / "x.png").write_bytes(b"1")
    (tmp_path / "X.PNG").write_bytes(b"2")  # two files here; one on a disk that ignores case
    assert not _case_insensitive(str(tmp_path))
