"""Labelme 6.3.1 as the oracle: it reads what segdesk writes and segdesk reads what it writes."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # labelme imports PyQt5

import json
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import pytest

labelme = pytest.importorskip("labelme")
from labelme import LabelFile  # noqa: E402
from labelme import utils as lm_utils  # noqa: E402
from labelme._label_file import read_image_file  # noqa: E402

from segdesk.core.document import Document  # noqa: E402
from segdesk.core.image_io import image_size, read_image  # noqa: E402
from segdesk.core.labelme_io import load_document, save_document  # noqa: E402
from segdesk.core.rasterize import shape_to_mask  # noqa: E402
from segdesk.core.review import reviewed_extra  # noqa: E402
from segdesk.core.shapes import Shape  # noqa: E402

REVIEWED = reviewed_extra("marked", "2026-01-01T00:00:00+00:00")

H, W = 48, 64


@pytest.fixture(autouse=True)
def _quiet_labelme() -> None:
    from loguru import logger

    logger.remove()


def _image(folder: Path) -> Path:
    path = folder / "img.png"
    PIL.Image.fromarray(np.full((H, W, 3), 120, np.uint8)).save(path)
    return path


def _all_shapes() -> list[Shape]:
    mask = np.zeros((5, 7), bool)
    mask[1:4, 2:6] = True
    prov = {"source": "model", "proposal": False, "model_version": "v3", "confidence": 0.75, "edited": True}
    return [
        Shape("poly", [[1.5, 2.25], [20.0, 3.0], [10.0, 15.125]], extra=prov, other={"score": 0.5}),
        Shape("rect", [[2, 3], [12.5, 9]], shape_type="rectangle", group_id=3, description="a box"),
        Shape("orect", [[5, 5], [15, 7], [13, 17], [3, 15]], shape_type="oriented_rectangle"),
        Shape("circ", [[30, 20], [35, 20]], shape_type="circle", flags={"occluded": True}),
        Shape("ln", [[1, 30], [50, 35]], shape_type="line"),
        Shape("strip", [[1, 1], [5, 9], [9, 1]], shape_type="linestrip"),
        Shape("pt", [[7, 8]], shape_type="point"),
        Shape("pts", [[1, 2], [3, 4]], shape_type="points"),
        Shape("msk", [[10, 20], [16, 24]], shape_type="mask", mask=mask),
    ]


def _segdesk_file(folder: Path) -> tuple[Path, Document]:
    _image(folder)
    doc = Document(
        image_path="img.png",
        image_height=H,
        image_width=W,
        shapes=_all_shapes(),
        flags={"blurry": False},
        extra=dict(REVIEWED),
        other={"custom": [1, "x"]},
    )
    save_document(doc, folder / "img.json")
    return folder / "img.json", doc


def _compare(ours: Shape, theirs: dict[str, Any]) -> None:
    assert theirs["label"] == ours.label
    assert theirs["shape_type"] == ours.shape_type
    np.testing.assert_array_equal(np.asarray(theirs["points"], float), ours.points)
    assert theirs["group_id"] == ours.group_id
    assert theirs["description"] == ours.description
    assert theirs["flags"] == ours.flags
    if ours.mask is None:
        assert theirs["mask"] is None
    else:
        np.testing.assert_array_equal(theirs["mask"], ours.mask)


def test_labelme_reads_every_shape_type_segdesk_writes(tmp_path: Path) -> None:
    path, doc = _segdesk_file(tmp_path)
    lf = LabelFile(str(path))
    assert len(lf.shapes) == len(doc.shapes)
    for ours, theirs in zip(doc.shapes, lf.shapes, strict=True):
        _compare(ours, theirs)
    assert lf.shapes[0]["other_data"] == {"score": 0.5, "segdesk": doc.shapes[0].extra}
    assert lf.flags == {"blurry": False}
    assert lf.other_data == {"segdesk": REVIEWED, "custom": [1, "x"]}
    assert lf.image_path == "img.png"


def test_segdesk_reads_what_labelme_writes(tmp_path: Path) -> None:
    _image(tmp_path)
    theirs = []
    for s in _all_shapes():
        d = {
            "label": s.label,
            "points": s.points.tolist(),
            "group_id": s.group_id,
            "description": s.description,
            "shape_type": s.shape_type,
            "flags": s.flags,
            "mask": None if s.mask is None else lm_utils.img_arr_to_b64(s.mask.astype(np.uint8)),
        }
        theirs.append(d)
    LabelFile().save(
        str(tmp_path / "img.json"), theirs, "img.png", H, W, other_data={"x": 1}, flags={"f": True}
    )
    doc = load_document(tmp_path / "img.json")
    assert doc.other == {"x": 1} and doc.flags == {"f": True}
    lf = LabelFile(str(tmp_path / "img.json"))
    for ours, loaded in zip(doc.shapes, lf.shapes, strict=True):
        _compare(ours, loaded)
    # And writing it back changes nothing Labelme would see, down to the mask PNG text.
    save_document(doc, tmp_path / "again.json")
    before = json.loads((tmp_path / "img.json").read_text())
    after = json.loads((tmp_path / "again.json").read_text())
    assert after == before


def _save_like_labelme_app(lf: LabelFile, path: Path) -> None:
    """What labelme's window does on save: other_data first, then its own keys (app._shape_to_dict)."""
    shapes = []
    for s in lf.shapes:
        d = dict(s["other_data"])
        d.update(
            label=s["label"],
            points=s["points"],
            group_id=s["group_id"],
            description=s["description"],
            shape_type=s["shape_type"],
            flags=s["flags"],
            mask=None if s["mask"] is None else lm_utils.img_arr_to_b64(s["mask"].astype(np.uint8)),
        )
        shapes.append(d)
    lf.save(str(path), shapes, lf.image_path, H, W, other_data=lf.other_data, flags=lf.flags)


def test_segdesk_state_survives_a_labelme_load_and_save(tmp_path: Path) -> None:
    path, doc = _segdesk_file(tmp_path)
    _save_like_labelme_app(LabelFile(str(path)), tmp_path / "by_labelme.json")
    back = load_document(tmp_path / "by_labelme.json")
    assert back.extra == REVIEWED and back.status == "reviewed"
    assert back.other == {"custom": [1, "x"]}
    for ours, theirs in zip(doc.shapes, back.shapes, strict=True):
        assert theirs.same_as(ours)


def test_four_corner_rectangle_rasterizes_as_labelme_two_point_rectangle(tmp_path: Path) -> None:
    _image(tmp_path)
    corners = [[40.5, 30.2], [10.25, 30.2], [10.25, 5.75], [40.5, 5.75]]
    data = {
        "version": "5.5.0",
        "flags": {},
        "imagePath": "img.png",
        "imageData": None,
        "imageHeight": H,
        "imageWidth": W,
        "shapes": [{"label": "r", "points": corners, "shape_type": "rectangle"}],
    }
    (tmp_path / "four.json").write_text(json.dumps(data))
    doc = load_document(tmp_path / "four.json")
    ours = shape_to_mask((H, W), doc.shapes[0])
    box = lm_utils.shape_to_mask((H, W), [[10.25, 5.75], [40.5, 30.2]], "rectangle")
    np.testing.assert_array_equal(ours, box)
    # Unedited, the other tool's 4 corners are written back as they were (issue 13).
    save_document(doc, tmp_path / "same.json")
    assert json.loads((tmp_path / "same.json").read_text())["shapes"][0]["points"] == corners
    # Moved, it is Labelme's 2-point rectangle.
    doc.shapes[0].points = doc.shapes[0].points + 1.0
    save_document(doc, tmp_path / "two.json")
    written = LabelFile(str(tmp_path / "two.json")).shapes[0]
    assert written["points"] == [[11.25, 6.75], [41.5, 31.2]]


@pytest.mark.parametrize("orientation", [1, 3, 5, 6, 8])
def test_image_size_and_pixels_match_labelme_exif_handling(tmp_path: Path, orientation: int) -> None:
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    data = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    PIL.Image.fromarray(data).save(path, exif=exif, quality=95)
    theirs = lm_utils.img_data_to_pil(read_image_file(str(path)))
    assert image_size(path) == (theirs.height, theirs.width)
    with PIL.Image.open(path) as im:
        im.load()
        upright = np.asarray(lm_utils.apply_exif_orientation(im))
    np.testing.assert_array_equal(read_image(path).data, upright)
