"""After a run whose model was not promoted, the Model dock offers to keep either version, without a modal box.

The models are untrained tiny UNets saved straight into the project's model store (milliseconds);
the run's outcome reaches ``ModelAssist.apply_training_outcome``, the slot a training job's result
reaches. One test starts a real run (then cancels it) to see the offer go when the next run starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from segdesk.core.review import reviewed_extra
from segdesk.services import model_store as model_index
from segdesk.ui.job_functions import TrainOutcome
from segdesk.ui.main_window import MainWindow
from tests.ui.window_helpers import make_image, polygon_shape, quiet_window, write_json

CLASSES = ["_background_", "cell"]


def _save_model(root: Path, miou: float, *, current: bool, promoted: bool = True) -> str:
    torch = pytest.importorskip("torch")
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.model import UNet, UNetConfig

    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=4, depth=2, num_classes=2)).eval()
    meta = {"classes": CLASSES, "metrics": {"miou": miou}, "promotion": {"promote": promoted, "reason": ""}}
    return ModelStore(root).add_version(net, meta, make_current=current)


def _project(root: Path) -> Path:
    """Two reviewed images (a cell each), one unlabeled, and models v1 (current, 0.74) and v2 (0.71)."""
    root.mkdir(parents=True)
    for i in (1, 2, 3):
        image = make_image(root / f"img_{i}.png", seed=i)
        if i < 3:
            cell = polygon_shape("cell", [[20, 20], [90, 25], [80, 90], [25, 80]])
            write_json(image, [cell], segdesk=reviewed_extra())
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    assert _save_model(root, 0.74, current=True) == "v1"
    assert _save_model(root, 0.71, current=False, promoted=False) == "v2"
    return root


def _outcome(version: str = "v2", *, promoted: bool = False, miou: float = 0.71) -> TrainOutcome:
    reason = f"mIoU {miou:.3f} {'>=' if promoted else '<'} 0.740 of v1"
    return TrainOutcome(
        version=version, promoted=promoted, reason=reason, miou=miou, previous_version="v1",
        previous_miou=0.74, epochs=3, elapsed_s=1.0, stop_reason="epochs", images=2, split="holdout",
    )  # fmt: skip


@pytest.fixture
def window(qtbot, tmp_path: Path):
    yield from quiet_window(qtbot, tmp_path)


def test_offer_appears_only_when_not_promoted_and_is_not_modal(window: MainWindow, tmp_path: Path) -> None:
    win, panel = window, window.model_panel
    root = _project(tmp_path / "p")
    win.open_path(root)
    bar = panel.keep_bar
    assert not bar.isVisible()
    win.assist.apply_training_outcome(_outcome())
    assert bar.isVisible() and bar.isVisibleTo(panel)
    text = bar.text.text()
    assert "v2</b> scored 0.710 held-out mIoU" in text and "v1</b> 0.740 on the same images" in text
    assert (bar.keep_button.text(), bar.use_button.text()) == ("Keep v1", "Use v2")
    assert "v1 stays current" in panel.train_status.text()
    assert QApplication.activeModalWidget() is None  # the person keeps drawing
    assert model_index.current_version(root) == "v1"  # nothing changes until a choice
    # A promoted run makes no offer.
    panel.dismiss_keep_choice()
    assert _save_model(root, 0.8, current=True) == "v3"
    win.assist.apply_training_outcome(_outcome("v3", promoted=True, miou=0.8))
    assert not bar.isVisible() and "Model v3" in panel.info.text()
    # Made current while trailing on the held-out images (it learnt from images v1 never saw): says why.
    assert _save_model(root, 0.72, current=True) == "v4"
    trailing = dataclasses.replace(
        _outcome("v4", promoted=True, miou=0.72),
        reason="mIoU 0.720 against 0.740 of v1: within the 0.11 that 2 held-out image(s) can tell apart",
    )
    win.assist.apply_training_outcome(trailing)
    assert not bar.isVisible()
    assert "is now current (mIoU 0.720 against 0.740 of v1: within the 0.11" in panel.train_status.text()


def test_a_run_that_kept_the_current_model_says_so_and_offers_nothing(
    window: MainWindow, tmp_path: Path
) -> None:
    win, panel = window, window.model_panel
    root = _project(tmp_path / "p")
    win.open_path(root)
    reason = "no epoch did better than v1 on the 2 held-out image(s), so nothing new was saved"
    same = dataclasses.replace(_outcome("v1", miou=0.74), reason=reason, unchanged=True)
    win.assist.apply_training_outcome(same)
    assert not panel.keep_bar.isVisible()
    assert panel.train_status.text().startswith(f"No new model: {reason}; v1 stays current")
    assert model_index.current_version(root) == "v1" and "Model v1" in panel.info.text()


def test_use_the_new_version(qtbot, window: MainWindow, tmp_path: Path) -> None:
    win, panel = window, window.model_panel
    root = _project(tmp_path / "p")
    win.open_path(root)
    win.assist.apply_training_outcome(_outcome())
    with qtbot.waitSignal(win.assist.model_changed, timeout=2000) as changed:
        qtbot.mouseClick(panel.keep_bar.use_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].version == "v2"
    assert model_index.current_version(root) == "v2"
    assert not panel.keep_bar.isVisible()
    assert "Model v2" in panel.info.text()
    current_row = next(
        panel.history.item(i).text()
        for i in range(panel.history.count())
        if "\u25b6" in panel.history.item(i).text()
    )
    assert "v2" in current_row


def test_keep_the_old_version(qtbot, window: MainWindow, tmp_path: Path) -> None:
    win, panel = window, window.model_panel
    root = _project(tmp_path / "p")
    win.open_path(root)
    win.assist.apply_training_outcome(_outcome())
    qtbot.mouseClick(panel.keep_bar.keep_button, Qt.MouseButton.LeftButton)
    assert not panel.keep_bar.isVisible()
    assert model_index.current_version(root) == "v1"
    assert "Model v1" in panel.info.text()
    assert (root / ".segdesk" / "models" / "v2" / "model.safetensors").is_file()  # still in the history


def test_offer_goes_away_on_the_next_run_and_on_a_choice_elsewhere(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    from segdesk.ml.training.train import TrainConfig

    win, panel = window, window.model_panel
    root = _project(tmp_path / "p")
    win.open_path(root)
    win.assist.apply_training_outcome(_outcome())
    assert panel.keep_bar.isVisible()
    win.assist.train_config = TrainConfig(
        minutes=None, max_epochs=1000, patience=0, patch_size=64, batch_size=2, patches_per_epoch=4,
        base_width=4, depth=2, device="cpu", threads=1, val_tile=64, progress_interval_s=0.05,
    )  # fmt: skip
    with qtbot.waitSignal(win.assist.training_finished, timeout=20000) as finished:
        qtbot.mouseClick(panel.retrain_button, Qt.MouseButton.LeftButton)
        assert win.assist.runner.is_running("train"), win.last_error
        assert not panel.keep_bar.isVisible()  # at once, not when the run ends
        panel.cancel_button.click()
    assert finished.args[0] is None and not panel.keep_bar.isVisible()
    assert model_index.current_version(root) == "v1"
    # Double-clicking a version in the history is a choice too.
    win.assist.apply_training_outcome(_outcome())
    assert panel.keep_bar.isVisible()
    item = next(
        panel.history.item(i) for i in range(panel.history.count()) if "v2:" in panel.history.item(i).text()
    )
    panel.widget().ensureWidgetVisible(panel.history)  # the dock scrolls on a small screen
    QApplication.processEvents()
    rect = panel.history.visualItemRect(item)
    # As a real double-click: press and release, then the double-click event.
    qtbot.mouseClick(panel.history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert model_index.current_version(root) == "v2" and not panel.keep_bar.isVisible()
    # Another folder: the offer was about the other project's models.
    win.assist.apply_training_outcome(_outcome())
    other = tmp_path / "other"
    other.mkdir()
    make_image(other / "a.png")
    win.open_path(other)
    assert not panel.keep_bar.isVisible()


def test_a_useless_first_model_is_not_made_current_and_the_panel_says_why(
    window: MainWindow, tmp_path: Path
) -> None:
    win, panel = window, window.model_panel
    root = _project(tmp_path / "p")
    win.open_path(root)
    reason = (
        "it predicts 'cell' almost nowhere on the 1 held-out image(s), where it is present. Label a few more"
    )
    outcome = dataclasses.replace(_outcome("v3"), previous_version=None, previous_miou=None, reason=reason)
    win.assist.apply_training_outcome(outcome)
    text = panel.train_status.text()
    assert text.startswith("v3 was saved but not made current: it predicts 'cell' almost nowhere")
    assert "None" not in text and not panel.keep_bar.isVisible()
