"""Mask / VOC / COCO export of a project with every shape type, against labelme 6.3.1 as the oracle."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest

from segdesk.core.errors import Cancelled, ExportError
from segdesk.core.export.coco import polygon_bounds, rle_encode
from segdesk.core.export.masks import (
    STAGING_MARK,
    VOC_DIRS,
    OutputExistsError,
    existing_outputs,
    export_masks,
    export_selection,
)
from segdesk.core.labelme_io import load_document
from segdesk.core.project import Project
from segdesk.core.rasterize import document_to_class_map, shape_to_mask
from segdesk.core.review import reviewed_extra

labelme = pytest.importorskip("labelme")
lm_utils = pytest.importorskip("labelme.utils")

LABELS = ["__ignore__", "_background_", "a", "b", "c"]
CLASSES = ["_background_", "a", "b", "c"]
H, W = 60, 80


def _b64_png(mask: np.ndarray) -> str:
    buf = io.BytesIO()
    PIL.Image.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _shape(label, points, kind, gid=None, **extra):
    d = {
        "label": label,
        "points": points,
        "group_id": gid,
        "description": "",
        "shape_type": kind,
        "flags": {},
    }
    d.update(extra)
    return d


def _every_type_shapes() -> list[dict]:
    crop = np.random.default_rng(3).random((12, 17)) > 0.4
    return [
        _shape("a", [[3.2, 4.7], [40.5, 8.1], [30.0, 35.5], [6.6, 28.2]], "polygon"),
        _shape("b", [[20.4, 10.6], [55.5, 30.5]], "rectangle", 1),
        _shape("c", [[60, 5], [75, 12], [70, 22], [55, 15]], "oriented_rectangle"),
        _shape("a", [[50.3, 40.2], [58.9, 47.7]], "circle", 1),
        _shape("b", [[0.5, 55.5], [79.2, 40.1]], "line"),
        _shape("c", [[10, 50], [25, 42.5], [35.7, 58.2], [45, 45]], "linestrip", 2),
        _shape("a", [[66.6, 33.3]], "point"),
        _shape("b", [[-10.0, -5.0], [30.0, -2.0], [5.0, 20.0]], "polygon", 1),  # partly outside
        _shape("a", [[70.2, 50.9], [95.0, 70.0]], "circle"),  # partly outside
        _shape("c", [[30.0, 20.0], [46.0, 31.0]], "mask", mask=_b64_png(crop)),
        _shape("__ignore__", [[2, 40], [12, 40], [12, 52]], "polygon"),
        _shape("zzz", [[70, 2], [79, 2], [79, 9]], "polygon"),  # not in labels.txt: ignored
        _shape("b", [[5, 5], [6, 5], [6, 6]], "polygon"),  # a sliver
    ]


def _write(root: Path, stem: str, shapes: list[dict], *, status: str | None, seed: int) -> None:
    img = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    PIL.Image.fromarray(img).save(root / f"{stem}.png")
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": f"{stem}.png",
        "imageData": None,
        "imageHeight": H,
        "imageWidth": W,
    }
    if status:
        doc["segdesk"] = reviewed_extra() if status == "reviewed" else {"status": status}
    (root / f"{stem}.json").write_text(json.dumps(doc))


PROPOSAL = _shape(
    "b", [[40, 40], [60, 40], [60, 58], [40, 58]], "polygon", segdesk={"source": "model", "proposal": True}
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    _write(root, "img1", _every_type_shapes(), status="reviewed", seed=1)
    _write(
        root,
        "img2",
        [
            _shape("c", [[1, 1], [30, 2], [20, 25]], "polygon", 4),
            _shape("a", [[35, 5], [55, 25]], "rectangle"),
            PROPOSAL,
        ],
        status="proposed",
        seed=2,
    )
    PIL.Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "img3.png")  # unlabeled: not exported
    return root


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _no_leftovers(parent: Path) -> None:
    assert not [p for p in parent.iterdir() if STAGING_MARK in p.name]


# --- index masks --------------------------------------------------------------------------------
def test_index_masks_equal_core_rasterization(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = export_masks(project, out, fmt="index", include_unreviewed=True)
    assert report.images == 2 and not report.skipped
    assert sorted(p.name for p in out.iterdir()) == ["class_names.txt", "img1.png", "img2.png"]
    assert (out / "class_names.txt").read_text() == "\n".join(CLASSES)
    for stem in ("img1", "img2"):
        doc = load_document(project / f"{stem}.json")
        want = document_to_class_map(doc, CLASSES, ignore_value=255, include_proposals=False)
        got = _read(out / f"{stem}.png")
        assert got.dtype == np.uint8 and np.array_equal(got, want)
    got1 = _read(out / "img1.png")
    assert set(np.unique(got1)) == {0, 1, 2, 3, 255}
    _no_leftovers(tmp_path)


def test_proposals_only_on_request(project: Path, tmp_path: Path) -> None:
    export_masks(project, tmp_path / "with", fmt="index", include_unreviewed=True, with_proposals=True)
    export_masks(project, tmp_path / "without", fmt="index", include_unreviewed=True)
    doc = load_document(project / "img2.json")
    with_p = _read(tmp_path / "with" / "img2.png")
    assert np.array_equal(with_p, document_to_class_map(doc, CLASSES, include_proposals=True))
    assert (with_p[45, 50], _read(tmp_path / "without" / "img2.png")[45, 50]) == (2, 0)


def test_default_exports_reviewed_images_only(project: Path, tmp_path: Path) -> None:
    """img2 is full of shapes but nobody reviewed it: by default it is left out, and the report says so."""
    selection = export_selection(Project(project))
    assert [e.name for e in selection.entries] == ["img1.png"] and selection.left_out == 1
    report = export_masks(project, tmp_path / "reviewed", fmt="index")
    assert report.images == 1 and sorted(p.name for p in (tmp_path / "reviewed").iterdir()) == [
        "class_names.txt",
        "img1.png",
    ]
    assert any("1 annotated image(s) nobody reviewed" in n for n in report.notes)
    every = export_selection(Project(project), include_unreviewed=True)
    assert [e.name for e in every.entries] == ["img1.png", "img2.png"] and every.left_out == 0
    # img3 has no annotation file: never exported, not even on request.
    report = export_masks(project, tmp_path / "all", fmt="index", include_unreviewed=True)
    assert report.images == 2 and not report.notes


def test_ignore_as_background(project: Path, tmp_path: Path) -> None:
    export_masks(project, tmp_path / "o", fmt="index", include_unreviewed=True, ignore_value=0)
    doc = load_document(project / "img1.json")
    ref = document_to_class_map(doc, CLASSES, ignore_value=255, include_proposals=False)
    got = _read(tmp_path / "o" / "img1.png")
    assert np.array_equal(got, np.where(ref == 255, 0, ref))


def test_uint16_when_more_than_255_classes(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    names = [f"k{i}" for i in range(300)]
    (root / "labels.txt").write_text("\n".join(["__ignore__", "_background_", *names]))
    _write(
        root,
        "x",
        [
            _shape("k299", [[2, 2], [40, 2], [20, 30]], "polygon"),
            _shape("__ignore__", [[50, 50], [60, 50], [55, 58]], "polygon"),
        ],
        status="reviewed",
        seed=0,
    )
    report = export_masks(root, tmp_path / "o", fmt="index")
    got = _read(tmp_path / "o" / "x.png")
    assert got.dtype == np.uint16 and got[10, 20] == 300 and got[53, 55] == 65535
    assert any("65535" in n for n in report.notes)


# --- VOC against labelme2voc ---------------------------------------------------------------------
def _labelme2voc(input_dir: Path, out: Path) -> None:
    """labelme 6.3.1's examples/semantic_segmentation/labelme2voc.py, its default options, minus prints.

    (The example is not in the pip package: its steps are repeated here with labelme's own calls.
    The visualizations are left out: they are JPEGs of imgviz drawings with a font, compared by size.)
    """
    import imgviz

    class_name_to_id = {name: i - 1 for i, name in enumerate(LABELS)}
    for d, _ in VOC_DIRS:
        (out / d).mkdir(parents=True)
    (out / "class_names.txt").write_text("\n".join(LABELS[1:]))
    for filename in sorted(input_dir.glob("*.json")):
        label_file = labelme.LabelFile(filename=str(filename))
        base = filename.stem
        img = lm_utils.img_data_to_arr(label_file.image_data)
        imgviz.io.imsave(str(out / "JPEGImages" / f"{base}.jpg"), img)
        # zzz is not in labels.txt: labelme2voc would stop with a KeyError; segdesk ignores it (-1).
        cls, ins = lm_utils.shapes_to_label(img.shape, label_file.shapes, {**class_name_to_id, "zzz": -1})
        ins[cls == -1] = 0
        imgviz.io.lblsave(str(out / "SegmentationClass" / f"{base}.png"), cls.astype(np.uint8))
        np.save(out / "SegmentationClassNpy" / f"{base}.npy", cls)
        imgviz.io.lblsave(str(out / "SegmentationObject" / f"{base}.png"), ins.astype(np.uint8))
        np.save(out / "SegmentationObjectNpy" / f"{base}.npy", ins)


def _strip_proposals(project: Path, dest: Path) -> Path:
    """labelme knows nothing of proposals: give it the files without them."""
    dest.mkdir()
    for p in project.iterdir():
        if p.suffix == ".json":
            data = json.loads(p.read_text())
            data["shapes"] = [s for s in data["shapes"] if not s.get("segdesk", {}).get("proposal")]
            (dest / p.name).write_text(json.dumps(data))
        else:
            (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_voc_matches_labelme2voc(project: Path, tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    export_masks(project, ours, fmt="voc", include_unreviewed=True)
    _labelme2voc(_strip_proposals(project, tmp_path / "plain"), theirs)
    files = sorted(p.relative_to(ours).as_posix() for p in ours.rglob("*") if p.is_file())
    assert files == sorted(
        ["class_names.txt"] + [f"{d}/{s}{ext}" for d, ext in VOC_DIRS for s in ("img1", "img2")]
    )
    assert (ours / "class_names.txt").read_bytes() == (theirs / "class_names.txt").read_bytes()
    for stem in ("img1", "img2"):
        for d in ("SegmentationClassNpy", "SegmentationObjectNpy"):
            a, b = np.load(ours / d / f"{stem}.npy"), np.load(theirs / d / f"{stem}.npy")
            assert a.dtype == b.dtype == np.int32 and np.array_equal(a, b), (d, stem)
        for d in ("SegmentationClass", "SegmentationObject"):
            a, b = PIL.Image.open(ours / d / f"{stem}.png"), PIL.Image.open(theirs / d / f"{stem}.png")
            assert a.mode == b.mode == "P"
            assert np.array_equal(np.asarray(a), np.asarray(b)) and a.getpalette() == b.getpalette()
        a = np.asarray(PIL.Image.open(ours / "JPEGImages" / f"{stem}.jpg"))
        b = np.asarray(PIL.Image.open(theirs / "JPEGImages" / f"{stem}.jpg"))
        assert np.array_equal(a, b)
        viz = PIL.Image.open(ours / "SegmentationClassVisualization" / f"{stem}.jpg")
        assert viz.size == (W, H) and viz.mode == "RGB"
    assert 255 in np.asarray(PIL.Image.open(ours / "SegmentationClass" / "img1.png"))


# --- other mask formats --------------------------------------------------------------------------
def test_binary_instance_overlay(project: Path, tmp_path: Path) -> None:
    doc = load_document(project / "img1.json")
    ref = document_to_class_map(doc, CLASSES, include_proposals=False)
    export_masks(project, tmp_path / "bin", fmt="binary", include_unreviewed=True)
    for value, name in enumerate(CLASSES[1:], start=1):
        got = _read(tmp_path / "bin" / name / "img1.png")
        assert np.array_equal(got, np.where(ref == value, 255, 0))
    assert np.array_equal(_read(tmp_path / "bin" / "__ignore__" / "img1.png"), np.where(ref == 255, 255, 0))

    export_masks(project, tmp_path / "ins", fmt="instance", include_unreviewed=True)
    ins = _read(tmp_path / "ins" / "img1.png")
    index = json.loads((tmp_path / "ins" / "instances.json").read_text())
    instances = index["images"]["img1"]["instances"]
    assert index["class_names"] == CLASSES
    for inst in instances:
        assert int((ins == inst["id"]).sum()) == inst["area"]
        assert np.all(ref[ins == inst["id"]] == inst["class_id"])
    assert {i["id"] for i in instances} == set(np.unique(ins)) - {0}
    # group 1 joins the rectangle and the partly outside polygon of "b" into one instance
    b1 = [i for i in instances if i["label"] == "b" and i["group_id"] == 1]
    assert len(b1) == 1

    export_masks(project, tmp_path / "ov", fmt="overlay", include_unreviewed=True)
    preview = np.asarray(PIL.Image.open(tmp_path / "ov" / "img1.jpg"))
    assert preview.shape == (H, W, 3)


# --- COCO -----------------------------------------------------------------------------------------
def _poly_mask(polygons: list[list[float]]) -> np.ndarray:
    out = np.zeros((H, W), dtype=bool)
    for poly in polygons:
        out |= shape_to_mask(
            (H, W), {"label": "x", "points": np.reshape(poly, (-1, 2)), "shape_type": "polygon"}
        )
    return out


def test_coco_is_valid_and_rasterizes_back(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "coco"
    export_masks(project, out, fmt="coco", include_unreviewed=True)
    data = json.loads((out / "annotations.json").read_text())
    assert data["type"] == "instances"
    assert data["categories"] == [{"supercategory": None, "id": i, "name": n} for i, n in enumerate(CLASSES)]
    assert [im["file_name"] for im in data["images"]] == ["JPEGImages/img1.jpg", "JPEGImages/img2.jpg"]
    for im in data["images"]:
        assert (out / im["file_name"]).is_file() and (im["height"], im["width"]) == (H, W)
    anns = data["annotations"]
    assert len({a["id"] for a in anns}) == len(anns) and min(a["id"] for a in anns) == 1
    assert len({im["id"] for im in data["images"]}) == 2
    cat_ids = {c["id"] for c in data["categories"]}
    doc = load_document(project / "img1.json")
    # the instances labelme2coco forms: (label, group_id), in order of first appearance, known labels
    groups: dict[tuple, list] = {}
    for s in doc.shapes:
        if not s.is_proposal and s.label in CLASSES:
            groups.setdefault((s.label, object() if s.group_id is None else s.group_id), []).append(s)
    refs = []
    for (label, _), members in groups.items():
        m = np.zeros((H, W), bool)
        for s in members:
            m |= shape_to_mask((H, W), s)
        if m.any():
            refs.append((label, members, m))
    img1 = [a for a in anns if a["image_id"] == 1]
    assert len(img1) == len(refs)
    name_of = {c["id"]: c["name"] for c in data["categories"]}
    rles = 0
    for a, (label, members, ref) in zip(img1, refs, strict=True):
        assert a["category_id"] in cat_ids and name_of[a["category_id"]] == label and a["iscrowd"] == 0
        assert a["area"] == float(ref.sum())
        ys, xs = np.nonzero(ref)
        assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        seg = a["segmentation"]
        if isinstance(seg, dict):
            rles += 1
            assert seg["size"] == [H, W] and isinstance(seg["counts"], str)
            assert np.array_equal(_decode_rle(seg), ref)
            continue
        for poly in seg:
            assert len(poly) >= 6 and len(poly) % 2 == 0
        back = _poly_mask(seg)
        if any(s.shape_type == "circle" for s in members):  # a circle's polygon is an approximation
            assert (back & ref).sum() / (back | ref).sum() > 0.85
        else:  # polygons, rectangles (4 corners), oriented rectangles: the same pixels
            assert np.array_equal(back, ref), label
        x0, y0 = np.min([polygon_bounds(p)[:2] for p in seg], axis=0)
        x1, y1 = np.max([polygon_bounds(p)[2:] for p in seg], axis=0)
        bx, by, bw, bh = a["bbox"]
        assert max(0, x0) - 1 <= bx and bx + bw <= min(W, x1 + 1) + 1
        assert max(0, y0) - 1 <= by and by + bh <= min(H, y1 + 1) + 1
    assert rles == 4  # the mask, the line, the linestrip and the point


def _decode_rle(seg: dict) -> np.ndarray:
    try:
        import pycocotools.mask as mask_util
    except ImportError:
        return _decode_rle_py(seg)
    return mask_util.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)


def _decode_rle_py(seg: dict) -> np.ndarray:
    """COCO's compressed RLE decoder (rleFrString), for when pycocotools is not installed."""
    s, counts, p = seg["counts"], [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << 5 * k
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << 5 * k
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    h, w = seg["size"]
    flat = np.repeat(np.arange(len(counts)) % 2, counts).astype(bool)
    return flat.reshape((w, h)).T


def test_coco_with_pycocotools(project: Path, tmp_path: Path) -> None:
    coco_mod = pytest.importorskip("pycocotools.coco")
    mask_util = pytest.importorskip("pycocotools.mask")
    export_masks(project, tmp_path / "coco", fmt="coco", include_unreviewed=True)
    coco = coco_mod.COCO(str(tmp_path / "coco" / "annotations.json"))
    for ann in coco.loadAnns(coco.getAnnIds()):
        m = coco.annToMask(ann)
        assert m.shape == (H, W)
        if isinstance(ann["segmentation"], dict):
            rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"].encode()}
            assert float(mask_util.area(rle)) == ann["area"]
            assert mask_util.toBbox(rle).tolist() == ann["bbox"]


def test_rle_encoding_matches_pycocotools() -> None:
    mask_util = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    for t in range(60):
        m = rng.random(tuple(rng.integers(1, 30, 2))) < rng.random()
        if t == 0:
            m[:] = True
        want = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode()
        assert rle_encode(m)["counts"] == want
        assert np.array_equal(_decode_rle_py(rle_encode(m)), m)


# --- safety -------------------------------------------------------------------------------------
def test_cancel_leaves_nothing(project: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.done == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        export_masks(
            project,
            tmp_path / "sub" / "out",
            fmt="voc",
            include_unreviewed=True,
            cancel=cancel,
            progress=progress,
        )
    assert not (tmp_path / "sub").exists()
    _no_leftovers(tmp_path)


def test_refuses_to_overwrite_then_overwrites(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "img1.png").write_bytes(b"old")
    (out / "keep.txt").write_text("mine")
    assert existing_outputs(project, out, fmt="index") == [out / "img1.png"]
    with pytest.raises(OutputExistsError) as info:
        export_masks(project, out, fmt="index")
    assert "img1.png" in str(info.value) and (out / "img1.png").read_bytes() == b"old"
    assert not (out / "img2.png").exists()
    export_masks(project, out, fmt="index", overwrite=True)
    assert _read(out / "img1.png").shape == (H, W) and (out / "keep.txt").read_text() == "mine"
    _no_leftovers(tmp_path)


def test_read_only_destination(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="read-only|not permitted"):
        export_masks(project, Path("/sys/segdesk-export-test"), fmt="index")
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            with pytest.raises(ExportError, match="read-only"):
                export_masks(project, ro / "out", fmt="index")
        finally:
            ro.chmod(0o755)


def test_full_destination_names_the_file_and_cleans_up(project: Path, tmp_path: Path, monkeypatch) -> None:
    real_open = open
    calls = {"n": 0}

    def full_open(path, mode="r", *args, **kwargs):
        if "w" in mode and STAGING_MARK in str(path):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_open)
    with pytest.raises(ExportError) as info:
        export_masks(project, tmp_path / "out", fmt="index", include_unreviewed=True)
    monkeypatch.undo()
    assert "img2.png" in str(info.value) and "full" in str(info.value)
    assert not (tmp_path / "out").exists()
    _no_leftovers(tmp_path)


def test_bad_options(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown format"):
        export_masks(project, tmp_path / "o", fmt="tiff")  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="project folder"):
        export_masks(project, project, fmt="index")
    with pytest.raises(ExportError, match="class index"):
        export_masks(project, tmp_path / "o", fmt="index", ignore_value=2)


def test_cli_takes_reviewed_images_only_unless_asked(project: Path, tmp_path: Path) -> None:
    """The CLI and the dialog share export_selection: the same default, the same explicit option."""
    import argparse

    from segdesk.commands.export_masks import add_masks_arguments, masks_from_args

    parser = argparse.ArgumentParser()
    add_masks_arguments(parser)
    lines: list[str] = []
    args = parser.parse_args([str(project), "--out", str(tmp_path / "default")])
    assert masks_from_args(args, out=lines.append) == 0
    assert sorted(p.name for p in (tmp_path / "default").iterdir()) == ["class_names.txt", "img1.png"]
    assert any("--include-unreviewed" in line for line in lines)
    args = parser.parse_args([str(project), "--out", str(tmp_path / "all"), "--include-unreviewed"])
    assert masks_from_args(args, out=lines.append) == 0
    assert (tmp_path / "all" / "img2.png").is_file()
    with pytest.raises(SystemExit):  # contradictory options are refused, not silently resolved
        parser.parse_args([str(project), "--out", "x", "--include-unreviewed", "--reviewed-only"])
