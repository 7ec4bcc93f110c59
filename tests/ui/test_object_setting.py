"""Issue 17 in the window: the per-class object setting in the labels dock, boundary classes never
shown, and the correction-effort meter's splits and merges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segdesk.core import effort
from segdesk.core.instance_settings import read_object_setting, settings_path
from segdesk.services.model_store import info_from_meta
from segdesk.ui.main_window import MainWindow
from segdesk.ui.settings import use_settings_dir
from tests.ui.window_helpers import make_project, shown_window


@pytest.fixture
def window(qtbot, tmp_path: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    yield from shown_window(qtbot)


def _choose(window: MainWindow, label: str, text_start: str) -> None:
    menu = window.labels_panel.object_menu_for(label)
    action = next(a for a in menu.actions() if a.text().startswith(text_start))
    action.trigger()


def test_the_labels_dock_sets_which_classes_are_objects(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=2)
    window.open_path(root)
    panel = window.labels_panel
    assert panel.count_of("cat") == 1 and "[" not in panel._item("cat").text()  # from the data: no mark
    _choose(window, "cat", "Not objects")
    assert read_object_setting(root) == {"cat": False}
    assert panel._item("cat").text().endswith("[no split]") and panel.count_of("cat") == 1
    _choose(window, "dog", "Objects: separate")
    assert read_object_setting(root) == {"cat": False, "dog": True}
    menu = panel.object_menu_for("dog")
    assert [a.isChecked() for a in menu.actions()] == [False, True, False]
    # the proposals follow at once: the app's settings carry the classes never split
    assert window.assist.ctx.proposal_settings().not_objects == ("cat",)
    # a folder opened again shows the saved setting; "from the data" removes the class from the file
    window.open_path(root)
    assert panel._item("dog").text().endswith("[objects]")
    _choose(window, "dog", "Objects: decided")
    assert json.loads(settings_path(root).read_text()) == {"objects": {"cat": False}}
    assert "[" not in panel._item("dog").text()


def test_a_damaged_object_setting_is_said_and_proposals_still_work(
    window: MainWindow, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "p", n=1)
    settings_path(root).parent.mkdir(parents=True, exist_ok=True)
    settings_path(root).write_text("{not json")
    errors: list[str] = []
    window._show_error = errors.append  # type: ignore[method-assign]
    window.objects.error = errors.append
    window.open_path(root)
    assert errors and "instances.json" in errors[-1]
    assert window.assist.ctx.proposal_settings().not_objects == ()


def test_the_model_panel_never_lists_a_boundary_class(window: MainWindow, tmp_path: Path) -> None:
    meta = {
        "classes": ["_background_", "nucleus", "nucleus::boundary"],
        "metrics": {"miou": 0.8, "iou": {"_background_": 0.9, "nucleus": 0.7, "nucleus::boundary": 0.0}},
    }
    info = info_from_meta("v3", tmp_path / "model.pt", meta)
    assert info.classes == ["_background_", "nucleus"] and info.object_classes == ["nucleus"]
    assert "nucleus::boundary" not in info.class_iou  # nor is it a "weak class" to warn about
    window.model_panel.show_model(info, [info])
    text = window.model_panel.info.text()
    assert "nucleus (separate objects)" in text and "::boundary" not in text
    meta["instances"] = {
        "object_classes": ["nucleus"],
        "split": {"skipped": "2 held-out image(s) (fewer than 3)"},
    }
    window.model_panel.show_model(info_from_meta("v3", tmp_path / "model.pt", meta), [info])
    assert "touching objects split with the default settings (2 held-out image(s) (fewer than 3))" in (
        window.model_panel.info.text()
    )


def test_the_model_panel_says_what_the_training_run_noted(window: MainWindow, tmp_path: Path) -> None:
    note = "the 2-minute cap stopped training after 140 of 300 planned steps"
    meta = {"classes": ["_background_", "cell"], "metrics": {"miou": 0.8}, "training": {"note": note}}
    info = info_from_meta("v2", tmp_path / "model.pt", meta)
    assert info.training_note == note
    window.model_panel.show_model(info, [info])
    assert note in window.model_panel.info.text()
    del meta["training"]
    window.model_panel.show_model(info_from_meta("v2", tmp_path / "model.pt", meta), [info])
    assert "cap" not in window.model_panel.info.text()


def test_the_window_proposes_one_polygon_per_object_and_a_class_set_not_objects_at_once(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    """The app's Predict with a model that separates objects: four touching discs -> four proposals,
    no boundary label anywhere; "Not objects" re-derives the kept prediction as regions, and back."""
    from tests.services._instance_model import instance_model_project

    root = instance_model_project(tmp_path / "p")
    window.model_panel.auto_predict.setChecked(False)
    window.open_path(root)
    qtbot.waitUntil(lambda: not window.assist.runner.is_running(), timeout=30000)  # the warm-up
    with qtbot.waitSignal(window.assist.proposals_applied, timeout=30000) as applied:
        window.assist.predict_current()
    assert applied.args[0] == 4
    document = window.session.current.document
    assert [s.label for s in document.shapes] == ["cell"] * 4
    assert not any("::boundary" in label for label in window.labels_panel.labels())
    assert window.assist.prediction.result.class_names == ["_background_", "cell"]  # the overlay's legend
    assert "::boundary" not in window.model_panel.info.text()
    with qtbot.waitSignal(window.assist.proposals_applied, timeout=5000) as applied:
        _choose(window, "cell", "Not objects")
    assert applied.args[0] == 2  # two pairs of touching discs: two regions, from the kept prediction
    with qtbot.waitSignal(window.assist.proposals_applied, timeout=5000) as applied:
        _choose(window, "cell", "Objects: decided")
    assert applied.args[0] == 4


def test_the_effort_meter_counts_splits_and_merges(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    csv = root / ".segdesk" / effort.CSV_NAME
    effort.append_csv(csv, "a.png", "v1", [effort.ClassEffort("cell", 0.8, 100, 90, splits=3, merges=1)])
    effort.append_csv(csv, "b.png", "v1", [effort.ClassEffort("cell", 0.6, 100, 90, splits=1, merges=0)])
    window.open_path(root)
    text = window.model_panel.effort.text()
    assert "proposals 70% right" in text
    assert "2.0 split(s), 0.5 merge(s)" in text


def test_the_brush_knows_which_classes_are_objects(window: MainWindow, tmp_path: Path) -> None:
    """The person's setting first; else the current model's split classes; else this image's shapes
    (many small closed shapes of the class: objects; one large region: not)."""
    from segdesk.core.shapes import Shape

    root = make_project(tmp_path / "p", n=1)
    window.open_path(root)
    rule = window.canvas.object_label
    assert rule is not None
    document = window.session.document
    assert document is not None
    h, w = document.image_height, document.image_width
    small = [Shape("nucleus", [[x, 5], [x + 4, 5], [x + 4, 9], [x, 9]]) for x in (5, 15, 25, 35)]
    region = Shape("tissue", [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    document.shapes.extend([*small, region])
    assert rule("nucleus") and not rule("tissue") and not rule("unknown")
    _choose(window, "cat", "Objects: separate")
    assert rule("cat")
    _choose(window, "cat", "Not objects")
    assert not rule("cat")
    meta = {"classes": ["_background_", "tissue", "tissue::boundary"], "instances": {}}
    assert info_from_meta("v1", root, meta).object_classes == ["tissue"]
