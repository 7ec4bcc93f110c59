"""The Model panel's proposal settings are the project's (.segdesk/proposals.json), which segdesk
predict reads too: a change is saved, another folder shows its own, a folder without a file the defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from segdesk.services.proposal_defaults import proposals_path
from segdesk.services.proposals import ProposalSettings
from segdesk.ui.main_window import MainWindow
from tests.ui.window_helpers import make_project, quiet_window


@pytest.fixture
def window(qtbot, tmp_path: Path):
    yield from quiet_window(qtbot, tmp_path)


def test_the_panel_saves_and_loads_the_projects_proposal_settings(window: MainWindow, tmp_path: Path) -> None:
    first, second = make_project(tmp_path / "a", n=1), make_project(tmp_path / "b", n=1)
    panel = window.model_panel
    window.open_path(first)
    assert not proposals_path(first).exists()  # opening writes nothing
    panel.min_area.setValue(40)
    panel.threshold.setValue(0.6)
    assert json.loads(proposals_path(first).read_text()) == {"min_area": 40, "threshold": 0.6}
    proposals_path(second).parent.mkdir(exist_ok=True)
    proposals_path(second).write_text('{"smooth": 5, "tolerance": 2.5}')
    window.open_path(second)
    assert (panel.min_area.value(), panel.threshold.value(), panel.tolerance.value()) == (16, 0.5, 2.5)
    settings = window.assist.ctx.proposal_settings()  # what the app proposes with: smooth from the file
    assert (settings.smooth, settings.tolerance, settings.min_area) == (5, 2.5, 16)
    assert json.loads(proposals_path(second).read_text()) == {"smooth": 5, "tolerance": 2.5}  # unchanged
    window.open_path(first)
    assert (panel.min_area.value(), panel.threshold.value()) == (40, 0.6)
    assert window.assist.ctx.proposal_settings().max_hole_area == ProposalSettings().max_hole_area


def test_a_damaged_file_is_said_and_a_change_replaces_it(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "a", n=1)
    proposals_path(root).parent.mkdir(exist_ok=True)
    proposals_path(root).write_text('{"min_area": -3}')
    errors: list[str] = []
    window.assist.error.connect(errors.append)
    window.open_path(root)
    assert any("proposals.json: min_area: must be from 0" in e for e in errors), errors
    box = QApplication.activeModalWidget()  # the window's error box
    assert box is not None and "proposals.json" in box.text()
    box.done(0)
    window.model_panel.min_area.setValue(25)
    assert json.loads(proposals_path(root).read_text()) == {"min_area": 25}


def test_a_folder_where_the_settings_cannot_be_saved_is_said_once(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "a", n=1)
    window.open_path(root)
    proposals_path(root).mkdir(parents=True)  # a directory where the file goes: every save fails
    errors: list[str] = []
    window.assist.error.connect(errors.append)
    for area in (20, 21, 22):
        window.model_panel.min_area.setValue(area)
    assert len(errors) == 1 and "segdesk predict will not see them" in errors[0], errors
    assert window.assist.ctx.proposal_settings().min_area == 22  # the window still uses them
    box = QApplication.activeModalWidget()
    if box is not None:
        box.done(0)
