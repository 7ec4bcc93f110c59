"""segdesk import-masks: mask PNGs to Labelme JSON that labelme rasterizes back to the masks."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import PIL.Image
import pytest

from segdesk.commands.import_masks import run_import_masks
from segdesk.core.errors import Cancelled, ProjectError
from segdesk.core.import_masks import (
    MaskImportError,
    import_masks,
    parse_labels_spec,
)
from segdesk.core.labelme_io import load_document
from segdesk.core.rasterize import class_name_to_value, parse_labels_txt

labelme = pytest.importorskip("labelme")
lm_utils = pytest.importorskip("labelme.utils")

H, W = 64, 80


def _class_mask(seed: int) -> np.ndarray:
    """0 background, 1 cell (with a nucleus 2 inside), 3 a ring with a real hole."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), np.uint8)
    cx, cy = int(rng.integers(20, 30)), int(rng.integers(20, 40))
    cv2.circle(m, (cx, cy), 15, 1, -1)
    cv2.circle(m, (cx + 2, cy), 6, 2, -1)
    cv2.circle(m, (62, 40), 14, 3, -1)
    cv2.circle(m, (62, 40), 6, 0, -1)
    return m


def _write(path, array, mode=None) -> None:
    PIL.Image.fromarray(array, mode=mode).save(path) if mode else PIL.Image.fromarray(array).save(path)


@pytest.fixture
def dataset(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    truth = {}
    for i in range(3):
        m = _class_mask(i)
        _write(images / f"img{i}.png", np.dstack([m * 60] * 3).astype(np.uint8))
        _write(masks / f"img{i}.png", m * 10)  # values 0, 10, 20, 30
        truth[f"img{i}"] = m
    return images, masks, truth


SPEC = "0=_background_,10=cell,20=nucleus,30=ring"


def _labelme_class_map(json_path, labels_txt) -> np.ndarray:
    lf = labelme.LabelFile(str(json_path))
    values = class_name_to_value(parse_labels_txt(labels_txt))
    cls, _ = lm_utils.shapes_to_label((H, W), lf.shapes, values)
    return cls


def test_import_writes_reviewed_json_that_labelme_rasterizes_back(dataset):
    images, masks, truth = dataset
    report = import_masks(images, masks, SPEC, tolerance=0)
    assert [p.name for p in report.json_paths] == ["img0.json", "img1.json", "img2.json"]
    assert report.labels == ["__ignore__", "_background_", "cell", "nucleus", "ring"]
    assert parse_labels_txt(images / "labels.txt") == report.labels
    for json_path in report.json_paths:
        cls = _labelme_class_map(json_path, images / "labels.txt")
        np.testing.assert_array_equal(cls, truth[json_path.stem])
        doc = load_document(json_path)
        assert doc.status == "reviewed" and doc.image_path == f"{json_path.stem}.png"
        assert (doc.image_height, doc.image_width) == (H, W)
        assert all(s.extra["source"] == "person" and not s.is_proposal for s in doc.shapes)
        kinds = {s.label: s.shape_type for s in doc.shapes}
        assert kinds == {"cell": "polygon", "nucleus": "polygon", "ring": "mask"}


def test_default_tolerance_keeps_iou(dataset):
    images, masks, truth = dataset
    report = import_masks(images, masks, SPEC)
    for json_path in report.json_paths:
        cls = _labelme_class_map(json_path, images / "labels.txt")
        m = truth[json_path.stem]
        for v in (1, 2, 3):
            inter = np.count_nonzero((cls == v) & (m == v))
            assert inter / np.count_nonzero((cls == v) | (m == v)) >= 0.97


def test_out_dir_copies_images_and_binary_masks(tmp_path, dataset):
    images, _, truth = dataset
    binary = tmp_path / "binary"
    binary.mkdir()
    for stem, m in truth.items():
        # 1-bit PNGs, named by stem with another extension than the image's.
        PIL.Image.fromarray(m == 1).convert("1").save(binary / f"{stem}.png")
    (images / "img0.png").rename(images / "img0.jpg.png")  # names with dots keep their stem
    (binary / "img0.png").rename(binary / "img0.jpg.png")
    out = tmp_path / "project"
    report = import_masks(images, binary, "255=cell", out_dir=out, tolerance=0)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["img0.jpg.png", "img0.jpg.json", "img1.png", "img1.json", "img2.png", "img2.json", "labels.txt"]
    )
    assert not list(images.glob("*.json"))
    cls = _labelme_class_map(out / "img1.json", out / "labels.txt")
    np.testing.assert_array_equal(cls == 1, truth["img1"] == 1)
    assert report.labels == ["__ignore__", "_background_", "cell"]
    with pytest.raises(MaskImportError, match="img1.json: exists"):
        import_masks(images, binary, "255=cell", out_dir=out)


def test_palette_mask_uses_indices_and_ignore_label(tmp_path, dataset):
    images, _, truth = dataset
    pal = tmp_path / "pal"
    pal.mkdir()
    for stem, m in truth.items():
        idx = np.where(m == 3, 255, m).astype(np.uint8)  # VOC-style 255 = ignore
        im = PIL.Image.fromarray(idx, mode="L").convert("P")
        im.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
        im.save(pal / f"{stem}.png")
    import_masks(images, pal, "0=_background_,1=cell,2=nucleus,255=__ignore__", tolerance=0)
    labels = parse_labels_txt(images / "labels.txt")
    assert labels == ["__ignore__", "_background_", "cell", "nucleus"]
    cls = _labelme_class_map(images / "img2.json", images / "labels.txt")
    np.testing.assert_array_equal(cls, np.where(truth["img2"] == 3, -1, truth["img2"].astype(np.int32)))


def test_problems_name_the_files_and_nothing_is_written(tmp_path, dataset):
    images, masks, _ = dataset
    _write(masks / "img1.png", np.zeros((H + 1, W), np.uint8))  # size mismatch
    (masks / "img2.png").unlink()  # missing
    m = np.zeros((H, W), np.uint8)
    m[3, 3] = 77
    _write(masks / "img0.png", m)  # value not in LABELS
    with pytest.raises(MaskImportError) as info:
        import_masks(images, masks, SPEC)
    problems = info.value.problems
    assert len(problems) == 3
    assert any("img0.png: mask values not in LABELS: 77" in p for p in problems)
    assert any("img1.png: mask is 80x65 (WxH) but image img1.png is 80x64" in p for p in problems)
    assert any("img2.png: no mask in" in p for p in problems)
    assert not list(images.glob("*.json")) and not (images / "labels.txt").exists()


def test_existing_json_needs_overwrite_and_labels_txt_is_merged(dataset):
    images, masks, _ = dataset
    (images / "labels.txt").write_text("__ignore__\n_background_\nmembrane\n")
    import_masks(images, masks, SPEC)
    assert parse_labels_txt(images / "labels.txt") == [
        "__ignore__",
        "_background_",
        "membrane",
        "cell",
        "nucleus",
        "ring",
    ]
    with pytest.raises(MaskImportError, match="img0.json: exists"):
        import_masks(images, masks, SPEC)
    import_masks(images, masks, SPEC, overwrite=True)


def test_labels_spec_parsing():
    assert parse_labels_spec("255=cell") == {255: "cell", 0: "_background_"}
    assert parse_labels_spec(" 0=_background_, 1=a ,2=a") == {0: "_background_", 1: "a", 2: "a"}
    for bad in ("cell", "x=cell", "1=", "", "1=a,1=b"):
        with pytest.raises(ProjectError, match="--labels"):
            parse_labels_spec(bad)


def test_run_import_masks_exit_codes(dataset):
    images, masks, _ = dataset
    out, err = io.StringIO(), io.StringIO()
    assert run_import_masks(images, masks, SPEC, stdout=out, stderr=err) == 0
    assert "imported 3 images" in out.getvalue() and err.getvalue() == ""
    segdesk_key = json.loads((images / "img0.json").read_text())["segdesk"]
    assert segdesk_key["status"] == "reviewed" and segdesk_key["reviewed"]["how"] == "import-masks"
    out, err = io.StringIO(), io.StringIO()
    assert run_import_masks(images, masks, "0=_background_,10=cell", stdout=out, stderr=err) == 1
    assert "mask values not in LABELS: 20, 30" in err.getvalue()
    assert run_import_masks(images, masks / "nope", SPEC, stdout=out, stderr=err) == 1
    assert "folder not found" in err.getvalue()


def test_images_without_a_mask_can_stay_unlabelled(tmp_path, dataset):
    images, masks, truth = dataset
    (masks / "img1.png").unlink()  # a partly labelled folder: img1 has no mask
    with pytest.raises(MaskImportError, match="img1.png: no mask in"):
        import_masks(images, masks, SPEC)  # the default still stops: a forgotten mask is a mistake
    out = tmp_path / "project"
    report = import_masks(images, masks, SPEC, out_dir=out, skip_unmasked=True)
    assert [p.name for p in report.unmasked] == ["img1.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["img0.png", "img0.json", "img1.png", "img2.png", "img2.json", "labels.txt"]
    )  # img1 is in the project, to be proposed on, with no JSON
    assert load_document(out / "img2.json").status == "reviewed"
    # An unmasked image that would overwrite another file in the project is still a problem.
    (masks / "img0.png").unlink()
    (out / "img0.png").write_bytes(b"another file")
    with pytest.raises(MaskImportError, match="img0.png: another file with this name exists"):
        import_masks(images, masks, SPEC, out_dir=out, skip_unmasked=True, overwrite=False)
    for name in ("img0.png", "img2.png"):
        (masks / name).unlink(missing_ok=True)
    with pytest.raises(MaskImportError, match="no image has a mask in"):
        import_masks(images, masks, SPEC, out_dir=tmp_path / "empty", skip_unmasked=True)
    out_text, err_text = io.StringIO(), io.StringIO()
    _write(masks / "img2.png", truth["img2"] * 10)
    code = run_import_masks(
        images, masks, SPEC, out_dir=tmp_path / "p2", skip_unmasked=True, stdout=out_text, stderr=err_text
    )
    assert (
        code == 0 and "2 image(s) without a mask left unlabelled: img0.png, img1.png" in out_text.getvalue()
    )


_COLOURS = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 0, 255), 3: (255, 255, 0)}


def _colour_masks(tmp_path, truth) -> object:
    folder = tmp_path / "colour"
    folder.mkdir()
    for stem, m in truth.items():
        rgb = np.zeros((H, W, 3), np.uint8)
        for value, colour in _COLOURS.items():
            rgb[m == value] = colour
        _write(folder / f"{stem}.png", rgb)
    return folder


def test_colour_masks_import_by_colour(tmp_path, dataset):
    """Land-cover and street-scene sets ship colour-coded masks: --labels names the colours."""
    images, _, truth = dataset
    colour = _colour_masks(tmp_path, truth)
    with pytest.raises(
        MaskImportError, match=r"colour mask \(#000000, #0000ff, #ff0000, #ffff00\): give --labels"
    ):
        import_masks(images, colour, SPEC)
    with pytest.raises(MaskImportError, match="mask colours not in LABELS: #ffff00"):
        import_masks(images, colour, "#ff0000=cell,#0000ff=nucleus")
    report = import_masks(
        images, colour, "#000000=_background_,#FF0000=cell,#0000ff=nucleus,#ffff00=ring", tolerance=0
    )
    assert report.labels == ["__ignore__", "_background_", "nucleus", "cell", "ring"]  # in colour order
    for json_path in report.json_paths:
        cls = _labelme_class_map(json_path, images / "labels.txt")
        for value, name in ((1, "cell"), (2, "nucleus"), (3, "ring")):
            np.testing.assert_array_equal(
                cls == report.labels.index(name) - 1, truth[json_path.stem] == value
            )


def test_a_palette_mask_reads_by_its_colours_when_labels_name_colours(tmp_path, dataset):
    images, _, truth = dataset
    pal = tmp_path / "pal"
    pal.mkdir()
    for stem, m in truth.items():
        im = PIL.Image.fromarray(m, mode="L").convert("P")
        im.putpalette([v for i in range(256) for v in _COLOURS.get(i, (9, 9, 9))])
        im.save(pal / f"{stem}.png")
    report = import_masks(
        images, pal, "#ff0000=cell,#0000ff=nucleus,#ffff00=ring", tolerance=0
    )  # black: background
    cls = _labelme_class_map(report.json_paths[0], images / "labels.txt")
    np.testing.assert_array_equal(cls == report.labels.index("cell") - 1, truth["img0"] == 1)


def test_colour_labels_parsing():
    assert parse_labels_spec("#ff0000=cell") == {0xFF0000: "cell", 0: "_background_"}
    for bad in ("#ff0000=cell,2=x", "#ff00=cell", "#ff0000=a,#FF0000=b"):
        with pytest.raises(ProjectError, match="--labels"):
            parse_labels_spec(bad)


def test_without_labels_the_cli_says_what_the_masks_hold(tmp_path, dataset, capsys):
    from segdesk.cli import main as cli_main

    images, masks, truth = dataset
    assert cli_main(["import-masks", str(images), str(masks)]) == 2
    assert "the first 3 masks hold the values 0, 10, 20, 30; e.g. --labels '0=_background_,10=NAME" in (
        capsys.readouterr().err
    )
    colour = _colour_masks(tmp_path, truth)
    assert cli_main(["import-masks", str(images), str(colour)]) == 2
    err = capsys.readouterr().err
    assert "hold the colours #000000, #0000ff, #ff0000, #ffff00; e.g. --labels '#000000=_background_," in err
    assert not list(images.glob("*.json"))


def test_masks_named_otherwise_give_one_line_not_one_per_image(tmp_path, dataset):
    """A folder of ``mask_img0.png``: every image lacks its mask; one line says what the folder holds."""
    images, masks, _ = dataset
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for path in masks.iterdir():
        path.rename(renamed / f"mask_{path.stem}.png")
    with pytest.raises(MaskImportError) as info:
        import_masks(images, renamed, SPEC)
    (line,) = info.value.problems
    assert line == (
        f"{renamed}: none of the 3 images has a mask here (it holds mask_img0.png, mask_img1.png, "
        "mask_img2.png); a mask is found by its image's name or stem: for img0.png, img0.png, img0.tif, "
        "img0.tiff, img0.bmp, or the stem with _mask, _masks, _cp_masks, _label, _labels, _Simple Segmentation"
    )


def test_masks_named_as_other_tools_name_them_are_found(tmp_path, dataset):
    """Cellpose writes img_cp_masks.png (and trains on img_masks.png), ilastik 'img_Simple Segmentation.png',
    many datasets img_mask.png; the image's own name wins when both are there."""
    images, masks, truth = dataset
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for path, suffix in zip(
        sorted(masks.iterdir()), ("_cp_masks", "_mask", "_Simple Segmentation"), strict=True
    ):
        path.rename(renamed / f"{path.stem}{suffix}.png")
    PIL.Image.fromarray(np.zeros((H, W), np.uint8)).save(renamed / "img2.png")  # the image's own name
    report = import_masks(images, renamed, SPEC)
    assert len(report.json_paths) == 3
    shapes = [len(load_document(images / f"img{i}.json").shapes) for i in range(3)]
    assert shapes[0] > 0 and shapes[1] > 0 and shapes[2] == 0  # img2.png (empty) won over its _Simple one


def test_a_jpeg_mask_is_named_as_the_problem(tmp_path, dataset):
    images, masks, _ = dataset
    lossy = tmp_path / "lossy"
    lossy.mkdir()
    for path in masks.iterdir():
        PIL.Image.open(path).convert("L").save(lossy / f"{path.stem}.jpg")
    with pytest.raises(MaskImportError) as info:
        import_masks(images, lossy, SPEC)
    assert len(info.value.problems) == 3
    assert info.value.problems[0].startswith(f"{lossy / 'img0.jpg'}: a JPG mask, whose compression blurs")


def test_a_long_list_of_problems_is_cut_in_the_message(tmp_path) -> None:
    error = MaskImportError(tmp_path, [f"problem {i}" for i in range(50)])
    lines = str(error).splitlines()
    assert len(error.problems) == 50 and lines[-1] == "... and 30 more" and lines[-2] == "problem 19"


def test_a_smoothed_mask_is_named_as_such(tmp_path, dataset):
    images, masks, truth = dataset
    smooth = tmp_path / "smooth"
    smooth.mkdir()
    for stem, m in truth.items():
        _write(smooth / f"{stem}.png", cv2.GaussianBlur((m * 10).astype(np.uint8), (5, 5), 0))
    with pytest.raises(MaskImportError) as info:
        import_masks(images, smooth, SPEC)
    assert all("values not named: a mask resized or saved with smoothing" in p for p in info.value.problems)


def test_images_that_have_an_annotation_can_be_left_as_they_are(dataset):
    """An open project where some images are labelled already: their files are not touched (their
    masks not even read), the others import; with all of them labelled nothing would import."""
    images, masks, _ = dataset
    mine = images / "img1.json"
    mine.write_text('{"not": "read"}')  # even a file segdesk cannot read is left alone
    _write(masks / "img1.png", np.full((H, W), 99, np.uint8))  # a value LABELS does not name
    report = import_masks(images, masks, SPEC, skip_annotated=True)
    assert [p.name for p in report.json_paths] == ["img0.json", "img2.json"]
    assert mine.read_text() == '{"not": "read"}'
    assert report.left_out() == ["1 image(s) that have an annotation left as they were: img1.png"]
    out = io.StringIO()
    assert run_import_masks(images, masks, SPEC, skip_annotated=True, stdout=out, stderr=io.StringIO()) == 1
    with pytest.raises(MaskImportError, match="every image with a mask .* has an annotation already"):
        import_masks(images, masks, SPEC, skip_annotated=True)


def test_a_cancelled_import_says_what_it_wrote(dataset):
    images, masks, _ = dataset
    seen: list[int] = []

    class StopAfterOne:
        def is_set(self) -> bool:
            return len(seen) >= 1

    with pytest.raises(Cancelled, match="cancelled after 1 of 3 image"):
        import_masks(images, masks, SPEC, progress=lambda n, _t: seen.append(n), cancel=StopAfterOne())
    assert sorted(p.name for p in images.glob("*.json")) == ["img0.json"]
    assert "cell" in (images / "labels.txt").read_text()  # the written file's labels are known


def test_images_sharing_a_name_are_refused_before_one_overwrites_the_other(dataset):
    """a.png and a.jpg both map to a.json (Labelme's naming): importing both would leave one file
    holding whichever came last."""
    images, masks, _ = dataset
    (images / "img0.jpg").write_bytes((images / "img0.png").read_bytes())
    with pytest.raises(MaskImportError, match=r"img0.jpg and img0.png share the annotation file img0.json"):
        import_masks(images, masks, SPEC)
    assert not list(images.glob("*.json"))
