"""The Model dock's controllers (ui/assist/): proposals go through the Session's undo stack, never the
canvas widget; the controllers read the panel only through its methods, never its widgets."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import segdesk.ui.assist as assist_package
from segdesk.core.shapes import Shape
from segdesk.ui.panels.model import ModelPanel
from segdesk.ui.settings import use_settings_dir
from tests.ui.window_helpers import make_image, shown_window


@pytest.fixture
def window(qtbot, tmp_path: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    yield from shown_window(qtbot)


def _square(x: float, y: float, s: float) -> Shape:
    points = np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], float)
    return Shape(
        "cell",
        points,
        "polygon",
        extra={"source": "model", "model_version": "v1", "confidence": 0.9, "proposal": True},
    )


def test_proposals_accept_and_reject_go_through_the_sessions_undo_stack(qtbot, window, tmp_path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    make_image(root / "a.png")
    win = window
    win.session.set_autosave(False)
    assert win.open_path(root)
    qtbot.waitUntil(lambda: win.session.document is not None, timeout=10000)

    def no_canvas_push(_command: object) -> None:
        raise AssertionError("a controller pushed through the canvas widget")

    monkeypatch.setattr(win.canvas, "push", no_canvas_push)
    stack, assist = win.session.undo_stack, win.assist
    with qtbot.waitSignal(assist.proposals_applied, timeout=2000) as applied:
        assist.prediction.apply([_square(10, 10, 20), _square(60, 40, 20)])
    assert applied.args == [2]
    document = win.session.document
    assert len(document.proposals) == 2 and stack.count() == 1
    assert win.model_panel.accept_button.text() == "Accept all (2)"  # the panel followed
    assert assist.reject_all() and not document.proposals and stack.count() == 2
    stack.undo()
    assert len(document.proposals) == 2
    assert assist.accept_all() and not document.proposals and len(document.shapes) == 2
    stack.undo()
    stack.undo()
    assert not document.shapes  # every step was one undoable command on the session's stack
    assert not hasattr(assist, "reject_selected")  # the dead action is gone


def _panel_uses(tree: ast.AST) -> set[str]:
    """Every ``<x>.panel.<name>`` / ``panel.<name>`` attribute a module touches."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if (isinstance(owner, ast.Attribute) and owner.attr == "panel") or (
                isinstance(owner, ast.Name) and owner.id == "panel"
            ):
                names.add(node.attr)
    return names


def test_the_controllers_read_the_panel_through_its_methods_only() -> None:
    folder = Path(assist_package.__file__).parent
    used: set[str] = set()
    for module in sorted(folder.glob("*.py")):
        used |= _panel_uses(ast.parse(module.read_text(encoding="utf-8")))
    assert {"settings", "overlay_style", "auto_predict_enabled", "show_model"} <= used
    widgets = sorted(n for n in used if not inspect.isfunction(getattr(ModelPanel, n, None)))
    assert widgets == [], f"controllers reach into the panel's widgets: {widgets}"


def test_panel_getters_follow_their_widgets(qtbot) -> None:
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.auto_predict.setChecked(False)
    assert panel.auto_predict_enabled() is False
    panel.auto_predict.setChecked(True)
    assert panel.auto_predict_enabled() is True
    panel.show_training_progress(0.25, "a quarter")
    assert panel.training_fraction() == pytest.approx(0.25)
    panel.set_overlay_ramp("dark")
    assert panel.overlay_legend.ramp == "dark"
