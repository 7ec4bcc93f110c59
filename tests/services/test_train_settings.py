"""The project's training settings (core/training_settings.py) and how a run applies them
(services/train_settings.py): one rule for the app's Retrain and ``segdesk train``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segdesk.commands.train import make_config
from segdesk.core.errors import ProjectError
from segdesk.core.training_settings import TrainingSettings, load_settings, save_settings, settings_path
from segdesk.services import training
from segdesk.services.train_settings import with_settings


def test_settings_round_trip_and_a_project_without_them(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == TrainingSettings()  # no file: the plan decides
    chosen = TrainingSettings(minutes=5, scale=0.5, patch_size=256, min_steps=0)
    path = save_settings(tmp_path, chosen)
    assert path == settings_path(tmp_path) and load_settings(tmp_path) == chosen
    assert path.read_text().startswith("{") and "null" not in path.read_text()  # only what is set
    assert chosen.describe() == "time cap 5 min, working scale 0.5x, patches 256, at least 0 steps"
    save_settings(tmp_path, TrainingSettings())
    assert load_settings(tmp_path) == TrainingSettings()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"depth": 7}', "depth: must be from 1 to 6, not 7"),
        ('{"batch_size": 2.5}', "batch_size: must be a whole number, not 2.5"),
        ('{"base_width": true}', "base_width: must be a number, not true"),
        ('{"minutes": 0}', "minutes: must be above 0 and at most 1440, not 0"),
        ('{"min_steps": -1}', "min_steps: must be from 0 to 1000000, not -1"),
        ('{"scale": NaN}', "scale: must be a number, not NaN"),
    ],
)
def test_a_bad_value_is_refused_with_its_file_and_field(tmp_path: Path, text: str, says: str) -> None:
    settings_path(tmp_path).parent.mkdir()
    settings_path(tmp_path).write_text(text)
    with pytest.raises(ProjectError) as caught:
        load_settings(tmp_path)
    assert str(caught.value) == f"{settings_path(tmp_path)}: {says}"
    with pytest.raises(ProjectError, match="depth: must be from 1 to 6"):
        save_settings(tmp_path, TrainingSettings(depth=9))


def test_a_linked_settings_file_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.json"
    secret.write_text('{"minutes": 3}')
    settings_path(tmp_path).parent.mkdir()
    os.symlink(secret, settings_path(tmp_path))
    with pytest.raises(ProjectError, match="symbolic link"):
        load_settings(tmp_path)


def test_an_option_given_wins_over_the_setting_which_wins_over_the_default() -> None:
    settings = TrainingSettings(minutes=5, scale=0.5, patch_size=64)
    app = with_settings(training.resolve_config(None), settings)  # the app's Retrain
    assert app.minutes == 5 and app.scale == 0.5 and app.patch_size == 64
    assert app.plan["overrides"] == {"scale": 0.5, "patch_size": 64}
    cli = with_settings(make_config(minutes=1, scale=2.0), settings)  # --minutes 1 --scale 2
    assert cli.minutes == 1 and cli.scale == 2.0 and cli.patch_size == 64
    assert with_settings(make_config(), settings) == app  # no options: the same run as the app's
    assert with_settings(make_config(epochs=3), settings).minutes is None  # fixed epochs: no cap
    assert with_settings(app, settings) == app
    odds = TrainingSettings(prior_correction=False)
    assert with_settings(training.resolve_config(None), odds).prior_correction is False
    assert with_settings(make_config(prior_correction=True), odds).prior_correction is True


def test_the_request_takes_the_held_out_share_and_warm_start_from_the_settings(tmp_path: Path) -> None:
    from segdesk.core.project import Project
    from tests.services.test_training_service import _project

    project = _project(tmp_path, 3)
    assert training.request_for(project).val_fraction == training.DEFAULT_VAL_FRACTION
    save_settings(tmp_path, TrainingSettings(val_fraction=0.5, warm_start=False))
    request = training.request_for(Project(tmp_path))
    assert (request.val_fraction, request.warm_start) == (0.5, False)
    given = training.request_for(Project(tmp_path), val_fraction=0.0, warm_start=True)  # options win
    assert (given.val_fraction, given.warm_start) == (0.0, True)
    assert TrainingSettings(val_fraction=0.5, warm_start=False).describe() == "50% held out, warm start off"
