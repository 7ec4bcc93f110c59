"""File > Import masks: the command's importers from the window, the folder re-read afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core.labelme_io import load_document
from segdesk.ui.dialogs.import_masks import ImportMasksDialog
from segdesk.ui.main_window import MainWindow
from segdesk.ui.settings import use_settings_dir
from tests.ui.window_helpers import shown_window

H, W = 40, 50


@pytest.fixture
def window(qtbot, tmp_path: Path):
    (tmp_path / "settings").mkdir()
    use_settings_dir(tmp_path / "settings")
    yield from shown_window(qtbot)


def _images(root: Path, n: int = 3) -> Path:
    root.mkdir()
    for i in range(n):
        PIL.Image.fromarray(np.full((H, W, 3), 40 * i, np.uint8)).save(root / f"im{i}.png")
    return root


def _class_masks(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    for i in range(n):
        mask = np.zeros((H, W), np.uint8)
        mask[5:20, 5:25] = 10
        mask[25:35, 30:45] = 20
        PIL.Image.fromarray(mask).save(folder / f"im{i}.png")
    return folder


def _open_dialog(qtbot, window: MainWindow) -> ImportMasksDialog:
    window.acts["import_masks"].trigger()
    dialog = window.findChild(ImportMasksDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def _choose(qtbot, dialog: ImportMasksDialog, path: Path) -> None:
    """Pick ``path``; the dialog looks at it off the GUI thread."""
    dialog.set_masks_folder(path)
    assert "Looking at" in dialog.sample_note.text() or dialog._source() is not None
    qtbot.waitUntil(lambda: dialog._source() is not None, timeout=10000)


def _run(qtbot, dialog: ImportMasksDialog) -> None:
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        assert dialog.start_import()
    qtbot.waitUntil(lambda: not dialog.runner.is_running("import"))


def test_class_masks_import_beside_the_images_and_the_window_shows_them(qtbot, window, tmp_path) -> None:
    root = _images(tmp_path / "proj")
    masks = _class_masks(tmp_path / "masks")
    mine = {"version": "5.5.0", "flags": {}, "shapes": [], "imagePath": "im1.png", "imageData": None,
            "imageHeight": H, "imageWidth": W}  # fmt: skip
    (root / "im1.json").write_text(json.dumps(mine))  # labelled already: left as it is
    assert window.open_path(root)
    dialog = _open_dialog(qtbot, window)
    _choose(qtbot, dialog, masks)
    assert "the values 0, 10, 20" in dialog.sample_note.text()
    assert dialog.classes_mode.isChecked() and dialog.labels_edit.text() == "0=_background_,10=NAME,20=NAME"
    assert not dialog.start_import() and "replace NAME" in dialog.status.text()  # nothing started
    dialog.labels_edit.setText("0=_background_,10=cell,20=debris")
    _run(qtbot, dialog)
    assert (
        "Imported 2 image(s), 4 shape(s)" in dialog.status.text()
        and "marked reviewed" in dialog.status.text()
    )
    assert "1 image(s) that have an annotation left as they were: im1.png" in dialog.details.toPlainText()
    assert json.loads((root / "im1.json").read_text()) == mine
    doc = load_document(root / "im0.json")
    assert sorted(s.label for s in doc.shapes) == ["cell", "debris"]
    # The window re-read the folder: statuses, the labels of labels.txt, the image shown.
    panel = window.files_panel
    assert [panel.model.status(r) for r in range(3)] == ["reviewed", "unlabeled", "reviewed"]
    assert len(window.session.document.shapes) == 2
    assert {"cell", "debris"} <= set(window.session.known_labels())
    dialog.close()


def test_instance_maps_are_told_apart_and_import_as_objects(qtbot, window, tmp_path) -> None:
    root = _images(tmp_path / "proj", n=1)
    (tmp_path / "maps").mkdir()
    objects = np.zeros((H, W), np.uint16)
    for k in range(40):  # more values than classes: one per object
        y, x = divmod(k, 8)
        objects[y * 8 + 1 : y * 8 + 6, x * 6 + 1 : x * 6 + 5] = k + 1
    PIL.Image.fromarray(objects).save(tmp_path / "maps" / "im0.png")
    assert window.open_path(root)
    dialog = _open_dialog(qtbot, window)
    _choose(qtbot, dialog, tmp_path / "maps")
    assert dialog.objects_mode.isChecked() and "41 values" in dialog.sample_note.text()
    assert not dialog.start_import() and "Name the objects' class" in dialog.status.text()
    dialog.object_edit.setText("nucleus")
    _run(qtbot, dialog)
    assert len(load_document(root / "im0.json").shapes) == 40
    assert window.files_panel.model.status(0) == "reviewed"
    dialog.close()


def test_a_mask_that_does_not_fit_writes_nothing_and_says_why(qtbot, window, tmp_path) -> None:
    root = _images(tmp_path / "proj", n=2)
    masks = _class_masks(tmp_path / "masks", n=2)
    assert window.open_path(root)
    dialog = _open_dialog(qtbot, window)
    _choose(qtbot, dialog, masks)
    dialog.labels_edit.setText("0=_background_,10=cell")  # 20 is named nowhere
    with qtbot.waitSignal(
        dialog.runner.job_finished, timeout=20000, check_params_cb=lambda name: name == "import"
    ):
        assert dialog.start_import()
    assert "Nothing was imported" in dialog.status.text()
    assert "20" in dialog.details.toPlainText() and "im0.png" in dialog.details.toPlainText()
    assert not list(root.glob("*.json"))
    dialog.close()


def test_a_coco_file_imports_from_the_same_dialog(qtbot, window, tmp_path) -> None:
    root = _images(tmp_path / "proj", n=2)
    coco = {
        "images": [
            {"id": 1, "file_name": "JPEGImages/im0.jpg", "height": H, "width": W},  # a JPEG copy's name
            {"id": 2, "file_name": "other.png", "height": H, "width": W},
        ],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 20]]}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    assert window.open_path(root)
    dialog = _open_dialog(qtbot, window)
    _choose(qtbot, dialog, tmp_path / "instances.json")
    assert "2 image(s), 1 of them in this folder" in dialog.sample_note.text()
    assert not dialog.labels_edit.isEnabled() and not dialog.objects_mode.isEnabled()
    _run(qtbot, dialog)
    assert "Imported 1 image(s), 1 shape(s)" in dialog.status.text()
    assert "of the COCO file are not in the folder: other.png" in dialog.details.toPlainText()
    assert [window.files_panel.model.status(r) for r in range(2)] == ["reviewed", "unlabeled"]
    dialog.close()


def test_yolo_labels_import_with_the_names_of_their_data_yaml(qtbot, window, tmp_path) -> None:
    root = _images(tmp_path / "proj", n=2)
    labels = tmp_path / "dataset" / "labels"
    labels.mkdir(parents=True)
    (labels / "im0.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "dataset" / "data.yaml").write_text("names: [car, person]\n")
    assert window.open_path(root)
    dialog = _open_dialog(qtbot, window)
    _choose(qtbot, dialog, labels)
    assert "1 YOLO label file(s); classes from" in dialog.sample_note.text()
    assert dialog.labels_edit.text() == "car,person" and dialog.labels_edit.isEnabled()
    assert not dialog.objects_mode.isEnabled()
    _run(qtbot, dialog)
    shapes = load_document(root / "im0.json").shapes
    assert [(s.label, s.shape_type) for s in shapes] == [("person", "polygon"), ("car", "rectangle")]
    assert "1 image(s) without a label file left as they were: im1.png" in dialog.details.toPlainText()
    assert [window.files_panel.model.status(r) for r in range(2)] == ["reviewed", "unlabeled"]
    dialog.close()


def test_the_look_at_a_big_source_never_holds_the_window(qtbot, window, tmp_path, monkeypatch) -> None:
    """A COCO file of hundreds of MB or big TIFF masks are read off the GUI thread: Import waits for
    the look, and closing the dialog meanwhile leaves the late answer to nobody."""
    import threading

    import segdesk.ui.dialogs.import_masks as module

    release = threading.Event()
    real = module.look_at

    def slow(path, root):
        release.wait(10)
        return real(path, root)

    monkeypatch.setattr(module, "look_at", slow)
    root = _images(tmp_path / "proj", n=1)
    masks = _class_masks(tmp_path / "masks", n=1)
    assert window.open_path(root)
    dialog = _open_dialog(qtbot, window)
    dialog.set_masks_folder(masks)
    assert dialog.sample_note.text() == "Looking at masks ..."
    assert not dialog.start_import() and "Still looking" in dialog.status.text()
    release.set()
    qtbot.waitUntil(lambda: dialog._source() is not None, timeout=10000)
    assert "the values 0, 10, 20" in dialog.sample_note.text()
    release.clear()
    dialog.set_masks_folder(masks)  # a second look, then the dialog closes before it answers
    job = dialog._look_job
    dialog.close()
    release.set()
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10000)
    qtbot.wait(50)  # the late answer reached no deleted dialog


def test_replacing_annotations_is_asked_first(qtbot, window, tmp_path) -> None:
    root = _images(tmp_path / "proj", n=1)
    masks = _class_masks(tmp_path / "masks", n=1)
    mine = {"version": "5.5.0", "flags": {}, "shapes": [], "imagePath": "im0.png", "imageData": None,
            "imageHeight": H, "imageWidth": W}  # fmt: skip
    (root / "im0.json").write_text(json.dumps(mine))
    assert window.open_path(root)
    dialog = _open_dialog(qtbot, window)
    _choose(qtbot, dialog, masks)
    dialog.labels_edit.setText("0=_background_,10=cell,20=debris")
    dialog.existing.setCurrentIndex(dialog.existing.findData("replace"))
    asked: list[int] = []
    dialog.confirm_replace = lambda n: asked.append(n) or False  # type: ignore[method-assign]
    assert not dialog.start_import() and asked == [1]
    assert "stay as they are" in dialog.status.text() and json.loads((root / "im0.json").read_text()) == mine
    dialog.confirm_replace = lambda n: True  # type: ignore[method-assign]
    _run(qtbot, dialog)
    assert len(load_document(root / "im0.json").shapes) == 2
    dialog.close()
