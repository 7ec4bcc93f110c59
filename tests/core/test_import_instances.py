"""Issue 17: import instance maps (16-bit PNG) and DSB-style folders of per-object masks."""

from __future__ import annotations

import io

import cv2
import numpy as np
import PIL.Image
import pytest

from segdesk.cli import main as cli_main
from segdesk.commands.import_masks import run_import_instances
from segdesk.core.errors import ProjectError
from segdesk.core.export.masks import export_masks
from segdesk.core.import_instances import import_instances, read_instances
from segdesk.core.import_masks import MaskImportError
from segdesk.core.instance_metrics import overlap, score_image
from segdesk.core.labelme_io import load_document

H, W = 70, 110


def _instances(seed: int, n: int = 300) -> np.ndarray:
    """Touching discs (one component) plus ids past 255 so the map needs 16 bits."""
    ins = np.zeros((H, W), np.int32)
    cv2.circle(ins, (30, 35), 18, n, -1)
    other = np.zeros_like(ins)
    cv2.circle(other, (64, 35), 17 + seed, 1, -1)
    ins[other > 0] = n + 7
    ins[5:15, 90:105] = 3
    return ins


def _image(path, ins) -> None:
    PIL.Image.fromarray(np.dstack([(ins > 0).astype(np.uint8) * 200] * 3)).save(path)


@pytest.fixture
def maps(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    truth = {}
    for i in range(2):
        ins = _instances(i)
        _image(images / f"img{i}.png", ins)
        cv2.imwrite(str(masks / f"img{i}.png"), ins.astype(np.uint16))
        truth[f"img{i}"] = ins
    return images, masks, truth


def test_16_bit_map_reads_as_objects(maps) -> None:
    _, masks, truth = maps
    assert read_instances(masks / "img0.png").max() == 3
    assert cv2.imread(str(masks / "img0.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_import_gives_one_polygon_per_object_and_export_round_trips(tmp_path, maps) -> None:
    images, masks, truth = maps
    report = import_instances(images, masks, "nucleus", out_dir=tmp_path / "project")
    assert report.shape_count == 6
    doc = load_document(tmp_path / "project" / "img0.json")
    assert [s.label for s in doc.shapes] == ["nucleus"] * 3
    assert doc.extra["status"] == "reviewed"
    export_masks(tmp_path / "project", tmp_path / "out", fmt="instance")
    for stem, ins in truth.items():
        exported = cv2.imread(str(tmp_path / "out" / f"{stem}.png"), cv2.IMREAD_UNCHANGED).astype(np.int32)
        s = score_image(ins, exported)
        assert s.n_pred == 3 and s.precision[0.9] == 1.0  # the same objects, each IoU > 0.9
        assert min(overlap(ins, exported).iou.max(axis=1)) > 0.97


def test_dsb_folder_of_binary_masks(tmp_path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    ins = _instances(0)
    _image(images / "abc.png", ins)
    folder = tmp_path / "stage1" / "abc" / "masks"
    folder.mkdir(parents=True)
    for k, value in enumerate(np.unique(ins)[1:]):
        PIL.Image.fromarray(((ins == value) * 255).astype(np.uint8)).save(folder / f"m{k}.png")
    assert read_instances(folder).max() == 3
    red = np.zeros((*ins.shape, 3), np.uint8)
    red[ins == np.unique(ins)[1]] = (255, 0, 0)  # a per-object mask saved in colour: any colour is the object
    PIL.Image.fromarray(red).save(folder / "m0.png")
    assert read_instances(folder).max() == 3
    report = import_instances(images, tmp_path / "stage1", "nucleus")
    assert report.shape_count == 3
    assert len(load_document(images / "abc.json").shapes) == 3


def test_problems_name_the_files_and_nothing_is_written(tmp_path, maps) -> None:
    images, masks, _ = maps
    cv2.imwrite(str(masks / "img1.png"), np.zeros((H + 1, W), np.uint16))
    _image(images / "img2.png", np.zeros((H, W), np.int32))  # no mask at all
    empty = masks / "img3" / "masks"
    empty.mkdir(parents=True)
    PIL.Image.fromarray(np.zeros((H, W), np.uint8)).save(empty / "a.png")
    _image(images / "img3.png", np.zeros((H, W), np.int32))
    with pytest.raises(MaskImportError) as info:
        import_instances(images, masks, "nucleus")
    text = str(info.value)
    assert "img1.png: masks are 110x71" in text
    assert "img2.png: no instance map" in text
    assert "a.png" in text and "empty mask" in text
    assert not list(images.glob("*.json"))
    with pytest.raises(ProjectError, match="class name"):
        import_instances(images, masks, "_background_")


def test_cli_import_masks_instances(tmp_path, maps) -> None:
    images, masks, _ = maps
    out, err = io.StringIO(), io.StringIO()
    assert run_import_instances(images, masks, "cell", out_dir=tmp_path / "p", stdout=out, stderr=err) == 0
    assert "6 objects (cell)" in out.getvalue()
    assert (
        cli_main(
            ["import-masks", str(images), str(masks), "--instances", "cell", "--out", str(tmp_path / "q")]
        )
        == 0
    )
    assert (tmp_path / "q" / "img1.json").is_file()
    assert cli_main(["import-masks", str(images), str(masks)]) == 2


def test_group_id_parts_are_one_object_in_coco(tmp_path) -> None:
    import json

    from segdesk.core.document import Document
    from segdesk.core.labelme_io import save_document
    from segdesk.core.review import reviewed_extra
    from segdesk.core.shapes import Shape

    _image(tmp_path / "a.png", np.zeros((H, W), np.int32))
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\nnucleus\n")

    def sq(x, gid=None):
        return Shape("nucleus", [[x, 5], [x + 8, 5], [x + 8, 13], [x, 13]], group_id=gid)

    doc = Document("a.png", H, W, shapes=[sq(5, 3), sq(14, 3), sq(40)], extra=reviewed_extra("marked"))
    save_document(doc, tmp_path / "a.json")
    export_masks(tmp_path, tmp_path / "coco", fmt="coco")
    annotations = json.loads((tmp_path / "coco" / "annotations.json").read_text())["annotations"]
    assert len(annotations) == 2
    assert sorted(len(a["segmentation"]) for a in annotations) == [1, 2]  # the parts are one object


def test_images_without_masks_can_stay_unlabelled_from_the_cli(tmp_path, maps) -> None:
    images, masks, _ = maps
    (masks / "img1.png").unlink()
    project = tmp_path / "p"
    argv = ["import-masks", str(images), str(masks), "--instances", "cell", "--out", str(project)]
    assert cli_main(argv) == 1  # stops by default: the mask may have been forgotten
    assert not project.exists()
    assert cli_main([*argv, "--skip-unmasked"]) == 0
    assert sorted(p.name for p in project.iterdir()) == ["img0.json", "img0.png", "img1.png", "labels.txt"]
    # The class-mask import takes the same option (every object value read as one class here).
    values = np.unique(cv2.imread(str(masks / "img0.png"), cv2.IMREAD_UNCHANGED))
    spec = ",".join(["0=_background_", *(f"{int(v)}=cell" for v in values if v)])
    semantic = tmp_path / "s"
    argv = ["import-masks", str(images), str(masks), "--labels", spec, "--out", str(semantic)]
    assert cli_main(argv) == 1 and not semantic.exists()
    assert cli_main([*argv, "--skip-unmasked"]) == 0
    assert sorted(p.name for p in semantic.iterdir()) == ["img0.json", "img0.png", "img1.png", "labels.txt"]


def test_an_import_never_copies_over_another_file_in_the_project(tmp_path, maps) -> None:
    images, masks, _ = maps
    (masks / "img1.png").unlink()
    project = tmp_path / "p"
    project.mkdir()
    (project / "img1.png").write_bytes(b"someone else's file")  # where an unmasked image would go
    with pytest.raises(MaskImportError, match="img1.png: another file with this name exists"):
        import_instances(images, masks, "cell", out_dir=project, skip_unmasked=True)
    assert (project / "img1.png").read_bytes() == b"someone else's file"
    assert not (project / "img0.json").exists()
    (project / "img1.png").unlink()
    (project / "img0.png").write_bytes(b"another")  # where a masked image would go, as import_masks
    with pytest.raises(MaskImportError, match="img0.png: another file with this name exists"):
        import_instances(images, masks, "cell", out_dir=project, skip_unmasked=True)
    assert (project / "img0.png").read_bytes() == b"another"
    import_instances(images, masks, "cell", out_dir=project, skip_unmasked=True, overwrite=True)
    assert (project / "img0.json").is_file() and (project / "img0.png").read_bytes() != b"another"


def test_a_colour_instance_map_gives_one_object_per_colour(tmp_path, maps) -> None:
    """Tools that save one random colour per object on black: each colour is one object."""
    images, _, truth = maps
    colour = tmp_path / "colour"
    colour.mkdir()
    rng = np.random.default_rng(0)
    for stem, ins in truth.items():
        palette = {v: rng.integers(1, 256, 3) for v in np.unique(ins) if v}
        rgb = np.zeros((*ins.shape, 3), np.uint8)
        for v, c in palette.items():
            rgb[ins == v] = c
        PIL.Image.fromarray(rgb).save(colour / f"{stem}.png")
    read = read_instances(colour / "img0.png")
    assert read.max() == 3
    assert score_image(truth["img0"], read).mean_ap == 1.0  # the same three objects
    report = import_instances(images, colour, "nucleus", out_dir=tmp_path / "project")
    assert report.shape_count == 6


def test_without_labels_instance_maps_are_recognised(tmp_path, capsys) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    ins = np.zeros((H, W), np.uint16)
    for k in range(40):  # 40 small objects: more values than any class list
        ins[(k // 10) * 15 + 2 : (k // 10) * 15 + 12, (k % 10) * 10 + 2 : (k % 10) * 10 + 9] = k + 1
    _image(images / "a.png", ins)
    cv2.imwrite(str(masks / "a.png"), ins)
    assert cli_main(["import-masks", str(images), str(masks)]) == 2
    err = capsys.readouterr().err
    assert "the first 1 masks hold 41 values (0, 1, 2, 3 ...): instance maps, one value per object? " in err
    assert "then --instances LABEL" in err


def test_cellpose_masks_import_by_their_name(tmp_path, maps) -> None:
    """Cellpose saves a folder's instance maps as img_cp_masks.png: found without renaming, and an
    image labelled already is left as it is with skip_annotated."""
    images, masks, _ = maps
    for path in list(masks.iterdir()):
        path.rename(masks / f"{path.stem}_cp_masks.png")
    (images / "img1.json").write_text("{}")
    report = import_instances(images, masks, "cell", skip_annotated=True)
    assert [p.name for p in report.json_paths] == ["img0.json"] and report.shape_count == 3
    assert [p.name for p in report.annotated] == ["img1.png"] and (images / "img1.json").read_text() == "{}"


def test_photographs_given_as_instance_maps_are_refused(tmp_path) -> None:
    """The images folder picked as the masks: one 'object' per colour would be thousands of 1-px
    polygons marked reviewed; the reader says what it looks like instead."""
    photo = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    PIL.Image.fromarray(photo).save(path)
    with pytest.raises(ProjectError, match="a photograph or a resized"):
        read_instances(path)
    from segdesk.core.mask_values import describe_values

    assert "as many as a photograph has" in describe_values([path])
