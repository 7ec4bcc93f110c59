"""The confidence overlay: one cached image of where the model is unsure, over the image, under the shapes.

The colour checks use hand-made confidence maps with known values; the window tests go through a real
predict job (an untrained tiny model: instant to make, fast to run) and through
``ModelAssist.apply_prediction`` with a known map, the same slot a predict job's result reaches.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from segdesk.services.proposals import PredictionResult
from segdesk.services.proposals import derive_shapes as proposal_shapes
from segdesk.ui.canvas.confidence import (
    OVERLAY_Z,
    ConfidenceOverlay,
    OverlayStyle,
    choose_ramp,
    normalized_uncertainty,
    overlay_summary,
)
from segdesk.ui.canvas.items import ShapeItem
from segdesk.ui.canvas.layers import IMAGE_Z
from segdesk.ui.main_window import MainWindow
from segdesk.ui.settings import use_settings_dir
from tests.ui.window_helpers import make_image, shown_window

W, H = 96, 80
CLASSES = ["_background_", "cell"]
YELLOW = (253, 231, 37)  # the ramp's "coin toss" end over dark and grey pixels
PURPLE = (68, 1, 84)  # its "coin toss" end over bright pixels
MAGENTA = (255, 0, 200)  # the below-threshold highlight


def _rgba(overlay: ConfidenceOverlay, x: int, y: int) -> tuple[int, int, int, int]:
    c = overlay.image().pixelColor(x, y)  # un-premultiplied by Qt
    return c.red(), c.green(), c.blue(), c.alpha()


def _close(rgba: tuple[int, ...], rgb: tuple[int, int, int], alpha: int, tol: int = 3) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgba, (*rgb, alpha), strict=True))


# --- the item, without a window -----------------------------------------------------------------------
def test_uncertainty_ramp_clear_where_sure_bright_where_unsure(qtbot) -> None:
    conf = np.full((30, 40), 0.99, np.float32)
    conf[:, 0:10] = 0.5  # a coin toss between two classes
    conf[:, 10:20] = 0.75
    conf[:, 20:30] = 0.9
    overlay = ConfidenceOverlay()
    overlay.set_style(OverlayStyle(visible=True, opacity=0.6))
    overlay.set_confidence(conf, 2)
    image = overlay.image()
    assert (image.width(), image.height()) == (
        40,
        30,
    ) and overlay.boundingRect().size().toSize().width() == 40
    assert overlay.isVisible()
    assert _close(_rgba(overlay, 5, 15), YELLOW, round(0.6 * 255))  # unsure: the full ramp, at the opacity
    assert _rgba(overlay, 35, 15)[3] == 0  # sure: left clear so the image stays readable
    alphas = [_rgba(overlay, x, 15)[3] for x in (5, 15, 25, 35)]
    assert alphas[0] > alphas[1] > alphas[2] > alphas[3] == 0
    # Three classes: 1/3 is the coin toss; 0.5 is only three quarters of the way.
    three = ConfidenceOverlay()
    three.set_style(OverlayStyle(visible=True, opacity=1.0))
    three.set_confidence(np.array([[1 / 3, 0.5, 1.0]], np.float32), 3)
    assert _close(_rgba(three, 0, 0), YELLOW, 255)
    assert 0 < _rgba(three, 1, 0)[3] < 255 and _rgba(three, 2, 0)[3] == 0
    np.testing.assert_allclose(
        normalized_uncertainty(np.array([1 / 3, 0.5, 1.0]), 3), [1.0, 0.75, 0.0], atol=1e-6
    )


def test_the_ramp_runs_to_the_end_that_contrasts_with_the_unsure_pixels(qtbot) -> None:
    conf = np.full((30, 40), 0.99, np.float32)
    conf[:, :10] = 0.5
    dark_where_unsure = np.full((30, 40, 3), 235, np.uint8)
    dark_where_unsure[:, :10] = 30  # EM-like: the unsure pixels are dark membranes on a light image
    assert choose_ramp(dark_where_unsure, conf, 2) == "light"
    assert choose_ramp(np.full((30, 40, 3), 240, np.uint8), conf, 2) == "dark"  # a photo on white
    assert choose_ramp(None, conf, 2) == "light"
    overlay = ConfidenceOverlay()
    overlay.set_style(OverlayStyle(visible=True, opacity=1.0))
    overlay.set_confidence(conf, 2, background=np.full((30, 40, 3), 240, np.uint8))
    assert overlay.ramp == "dark" and _close(_rgba(overlay, 5, 5), PURPLE, 255)
    overlay.set_confidence(conf.copy(), 2, background=dark_where_unsure)
    assert overlay.ramp == "light" and _close(_rgba(overlay, 5, 5), YELLOW, 255)


def test_below_threshold_highlight_opacity_and_hiding(qtbot) -> None:
    conf = np.full((20, 20), 0.95, np.float32)
    conf[5:10, 5:10] = 0.7
    overlay = ConfidenceOverlay()
    overlay.set_confidence(conf, 2)
    assert not overlay.isVisible() and overlay.image().isNull()  # off: nothing is rendered at all
    overlay.set_style(OverlayStyle(visible=True, mode="below_threshold", opacity=0.5, threshold=0.8))
    assert _close(_rgba(overlay, 7, 7), MAGENTA, round(0.5 * 255))
    assert _rgba(overlay, 15, 15)[3] == 0
    assert overlay.unsure_fraction(0.8) == pytest.approx(25 / 400)
    overlay.set_style(OverlayStyle(visible=True, mode="below_threshold", opacity=0.5, threshold=0.6))
    assert _rgba(overlay, 7, 7)[3] == 0  # 0.7 is above the new threshold
    overlay.set_style(OverlayStyle(visible=True, mode="uncertainty", opacity=1.0))
    assert _rgba(overlay, 7, 7)[3] > 0 and _rgba(overlay, 7, 7)[:3] != MAGENTA
    overlay.set_style(OverlayStyle(visible=False, mode="uncertainty", opacity=1.0))
    assert not overlay.isVisible()
    overlay.clear()
    assert overlay.image().isNull() and not overlay.has_confidence() and overlay.boundingRect().isEmpty()
    assert overlay.confidence_at(7, 7) is None


def test_a_huge_prediction_is_shown_from_a_reduced_copy(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    import segdesk.ui.canvas.confidence as confidence

    monkeypatch.setattr(confidence, "MAX_OVERLAY_PIXELS", 100 * 100)
    conf = np.full((300, 400), 0.99, np.float32)
    conf[:, :200] = 0.5
    overlay = ConfidenceOverlay()
    overlay.set_style(OverlayStyle(visible=True))
    overlay.set_confidence(conf, 2)
    assert overlay.factor == 4 and (overlay.image().width(), overlay.image().height()) == (100, 75)
    assert overlay.boundingRect().width() == 400 and overlay.boundingRect().height() == 300
    assert overlay.confidence_at(399.5, 10) == pytest.approx(0.99)  # read-outs use the full map
    assert _rgba(overlay, 10, 10)[3] > 0 and _rgba(overlay, 90, 10)[3] == 0


def test_summary_says_what_the_threshold_view_can_show(qtbot) -> None:
    overlay = ConfidenceOverlay()
    assert "No prediction" in overlay_summary(overlay, OverlayStyle())
    conf = np.full((10, 10), 0.99, np.float32)
    conf[:5] = 0.6
    overlay.set_confidence(conf, 2)
    assert overlay_summary(overlay, OverlayStyle()) == "50.0% of the image is less than 90% sure"
    text = overlay_summary(overlay, OverlayStyle(mode="below_threshold", threshold=0.5))
    assert "always at least 50% sure" in text and "raise the confidence threshold" in text


# --- in the window -------------------------------------------------------------------------------------
def _project(root: Path) -> Path:
    """Three unlabeled images and an untrained tiny model v1 (made in milliseconds, no training)."""
    torch = pytest.importorskip("torch")
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.model import UNet, UNetConfig

    root.mkdir(parents=True)
    for i in (1, 2, 3):
        make_image(root / f"img_{i}.png", width=W, height=H, seed=i)
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=4, depth=2, num_classes=2)).eval()
    ModelStore(root).add_version(net, {"classes": CLASSES, "metrics": {"miou": 0.5}})
    return root


@pytest.fixture
def window(qtbot, tmp_path: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    for win in shown_window(qtbot):
        win.model_panel.bind_overlay_action(win.acts["confidence_overlay"])  # the main window's wiring
        yield win
        assert win.assist.shutdown(5000)


def _open_and_predict(qtbot, win: MainWindow, root: Path) -> None:
    """Open the folder (img_1 is unlabeled, so it is predicted at once) and wait for the prediction."""
    with qtbot.waitSignal(
        win.assist.runner.job_finished, timeout=30000, check_params_cb=lambda name: name == "predict"
    ):
        assert win.open_path(root)
    assert win.assist.result is not None, win.last_error


def _known_result(win: MainWindow) -> PredictionResult:
    """A prediction of the image on screen with known confidence: unsure left band, sure elsewhere."""
    conf = np.full((H, W), 0.99, np.float32)
    conf[:, 8:24] = 0.5
    class_map = np.zeros((H, W), np.uint8)
    class_map[20:60, 40:80] = 1
    version, settings = win.assist.info.version, win.model_panel.settings()
    shapes = proposal_shapes(class_map, conf, CLASSES, settings, model_version=version)
    path = win.session.current.image_path
    return PredictionResult(path, version, CLASSES, class_map, conf, 0.1, shapes=shapes, settings=settings)


def _settle(win: MainWindow) -> None:
    """Let the docks' layout settle (it takes a few passes after a show) before aiming at pixels."""
    where = None
    for _ in range(50):
        QApplication.processEvents()
        now = (win.canvas.viewport().mapTo(win, QPoint(0, 0)), win.canvas.mapFromScene(QPointF(0, 0)))
        if now == where:
            return
        where = now


def _shown(win: MainWindow) -> np.ndarray:
    """The canvas as drawn on screen, RGB."""
    from segdesk.ui.convert import qimage_to_rgb

    _settle(win)
    return qimage_to_rgb(win.canvas.viewport().grab().toImage())


def test_overlay_follows_the_prediction_and_the_toggle(qtbot, window: MainWindow, tmp_path: Path) -> None:
    win, overlay, panel = window, window.assist.overlay, window.model_panel
    root = _project(tmp_path / "p")
    _open_and_predict(qtbot, win, root)
    real = win.assist.result
    assert overlay.has_confidence() and not overlay.isVisible()  # optional: off until asked for
    panel.overlay_check.setChecked(True)
    assert overlay.isVisible() and win.acts["confidence_overlay"].isChecked()
    assert (overlay.image().width(), overlay.image().height()) == (W, H)
    assert overlay.boundingRect() == win.canvas.sceneRect()
    y, x = np.unravel_index(np.argmin(real.confidence), real.confidence.shape)
    assert overlay.confidence_at(x + 0.5, y + 0.5) == pytest.approx(float(real.confidence[y, x]))
    # One item in the scene, between the image tiles and the shapes.
    assert sum(isinstance(i, ConfidenceOverlay) for i in win.canvas.scene().items()) == 1
    assert IMAGE_Z < overlay.zValue() == OVERLAY_Z
    # New proposals refresh it: a known prediction arrives (as from a predict job).
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=2000):
        win.assist.apply_prediction(_known_result(win))
    assert _close(_rgba(overlay, 12, 40), YELLOW, round(panel.overlay_opacity.value() / 100 * 255))
    assert _rgba(overlay, 60, 40)[3] == 0
    shapes = [i for i in win.canvas.scene().items() if isinstance(i, ShapeItem)]
    assert shapes and all(i.zValue() > overlay.zValue() for i in shapes)
    with_overlay = _shown(win)
    panel.overlay_check.setChecked(False)
    assert not overlay.isVisible() and not win.acts["confidence_overlay"].isChecked()
    without = _shown(win)
    for x_img, changed in ((12, True), (30, False)):
        pos = win.canvas.mapFromScene(QPointF(x_img + 0.5, 5.5))
        differs = np.abs(with_overlay[pos.y(), pos.x()].astype(int) - without[pos.y(), pos.x()]).max() > 8
        assert differs == changed, (x_img, with_overlay[pos.y(), pos.x()], without[pos.y(), pos.x()])
    # The menu action and its shortcut toggle the same thing.
    win.acts["confidence_overlay"].trigger()
    assert panel.overlay_check.isChecked() and overlay.isVisible()
    win.activateWindow()
    QApplication.processEvents()
    QTest.keyClick(
        win.canvas.viewport(),
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert not panel.overlay_check.isChecked() and not overlay.isVisible()


def test_overlay_clears_when_another_image_opens_and_reads_out_the_cursor(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    win, overlay, panel = window, window.assist.overlay, window.model_panel
    root = _project(tmp_path / "p")
    panel.auto_predict.setChecked(False)
    win.open_path(root)
    panel.overlay_check.setChecked(True)
    assert not overlay.isVisible() and "No prediction" in panel.overlay_info.text()
    win.assist.apply_prediction(_known_result(win))
    assert overlay.isVisible() and "less than 90% sure" in panel.overlay_info.text()
    _settle(win)
    QTest.mouseMove(win.canvas.viewport(), win.canvas.mapFromScene(QPointF(12.5, 40.5)))
    assert panel.overlay_info.text() == "Under the cursor: 50% sure it is _background_"
    QTest.mouseMove(win.canvas.viewport(), win.canvas.mapFromScene(QPointF(60.5, 40.5)))
    assert panel.overlay_info.text() == "Under the cursor: 99% sure it is cell"
    # Threshold view: follows the proposals' threshold as it changes.
    panel.overlay_mode.setCurrentIndex(panel.overlay_mode.findData("below_threshold"))
    panel.threshold.setValue(0.6)
    assert _close(_rgba(overlay, 12, 40), MAGENTA, round(panel.overlay_opacity.value() / 100 * 255))
    assert _rgba(overlay, 60, 40)[3] == 0
    panel.overlay_opacity.setValue(100)
    assert _rgba(overlay, 12, 40)[3] == 255
    # Another image: the prediction and its overlay belong to the old one.
    win.session.go_to(1)
    assert not overlay.isVisible() and not overlay.has_confidence() and overlay.image().isNull()
    assert panel.overlay_check.isChecked()  # the person's choice stays for the next prediction
    with qtbot.waitSignal(
        win.assist.runner.job_finished, timeout=30000, check_params_cb=lambda name: name == "predict"
    ):
        panel.predict_button.click()
    assert overlay.isVisible() and (overlay.image().width(), overlay.image().height()) == (W, H)
    assert overlay.confidence_at(1, 1) == pytest.approx(float(win.assist.result.confidence[1, 1]))
    # A result for the image that was left is dropped, and so is its overlay.
    stale = _known_result(win)
    win.session.go_to(2)
    win.assist.apply_prediction(stale)
    assert not overlay.has_confidence() and not overlay.isVisible()


def test_the_overlay_is_never_saved(qtbot, window: MainWindow, tmp_path: Path) -> None:
    win = window
    root = _project(tmp_path / "p")
    win.model_panel.auto_predict.setChecked(False)
    win.open_path(root)
    win.model_panel.overlay_check.setChecked(True)
    win.assist.apply_prediction(_known_result(win))
    assert win.assist.overlay.isVisible() and win.session.current.document.proposals
    win.assist.accept_all()
    win.acts["save"].trigger()
    text = (root / "img_1.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert set(data) == {
        "version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth", "segdesk"
    }  # fmt: skip
    assert data["segdesk"] == {"status": "in_progress"}  # accepted and saved, not reviewed
    assert all(
        set(s["segdesk"]) <= {"source", "proposal", "model_version", "confidence", "edited"}
        for s in data["shapes"]
    )
    for word in ("overlay", "uncertain", "unsure", "argb"):
        assert word not in text.lower()
