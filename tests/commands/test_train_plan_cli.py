"""`segdesk train` prints the plan and saves it with the model; fixed options win over the plan."""

from __future__ import annotations

from pathlib import Path

import torch

from segdesk.commands.train import train_command
from segdesk.ml.checkpoint import ModelStore
from tests.commands.test_train_cli import _make_project

torch.set_num_threads(1)


def test_train_prints_and_saves_the_plan(tmp_path: Path):
    _make_project(tmp_path, ["reviewed", "reviewed", "reviewed"])
    lines: list[str] = []
    rc = train_command(tmp_path, epochs=2, device="cpu", base_width=4, depth=2, out=lines.append)
    assert rc == 0, lines
    plan_lines = [line for line in lines if line.startswith("plan: ")]
    assert plan_lines == [
        "plan: working scale 1x, patches 64, width 4, about 600 steps (set by you: width, depth)"
    ]
    meta = ModelStore(tmp_path).info("v1")
    assert meta["plan"]["scale"] == 1.0 and meta["plan"]["base_width"] == 4
    assert sorted(meta["plan"]["overridden"]) == ["base_width", "depth"]
    assert meta["config"]["base_width"] == 4 and meta["training"]["config"]["min_steps"] == 0
    lines.clear()  # a fine-tune keeps v1's width and depth, but the person set nothing this time
    ModelStore(tmp_path).set_current("v1")
    assert train_command(tmp_path, epochs=1, device="cpu", out=lines.append) == 0, lines
    plan_line = next(line for line in lines if line.startswith("plan: "))
    assert "width 4" in plan_line and "set by you" not in plan_line, plan_line


def test_the_projects_training_settings_fix_the_plan_and_an_option_wins(tmp_path: Path):
    """Issue 16: every part of the plan can be overridden, for the project (the app's Training
    settings write ``.segdesk/training.json``) and per run (an option given here wins over it)."""
    from segdesk.core.training_settings import TrainingSettings, save_settings

    _make_project(tmp_path, ["reviewed", "reviewed", "reviewed"])
    save_settings(tmp_path, TrainingSettings(scale=0.5, patch_size=32, min_steps=7, base_width=4, depth=2))
    lines: list[str] = []
    assert train_command(tmp_path, epochs=1, device="cpu", patch_size=64, out=lines.append) == 0, lines
    assert any(
        "training settings (.segdesk/training.json): working scale 0.5x, patches 32" in x for x in lines
    )
    meta = ModelStore(tmp_path).info("v1")
    plan = meta["plan"]
    assert (plan["scale"], plan["patch_size"], plan["min_steps"]) == (0.5, 64, 7)  # --patch-size won
    assert meta["config"]["base_width"] == 4 and meta["config"]["depth"] == 2
    assert sorted(plan["overridden"]) == ["base_width", "depth", "min_steps", "patch_size", "scale"]
    assert "(set by you: " in next(x for x in lines if x.startswith("plan: "))


def test_a_damaged_settings_file_stops_training_naming_the_file_and_field(tmp_path: Path):
    _make_project(tmp_path, ["reviewed", "reviewed", "reviewed"])
    path = tmp_path / ".segdesk" / "training.json"
    path.parent.mkdir(exist_ok=True)
    for text, says in (
        ('{"scale": 0}', "training.json: scale: must be from 0.05 to 8, not 0"),
        ('{"minutes": "5"}', 'training.json: minutes: must be a number, not "5"'),
        ('{"patch": 64}', "training.json: patch: is not one of the settings"),
        ("[1, 2]", "training.json: must hold a JSON object"),
        ("{", "training.json: is not valid JSON"),
    ):
        path.write_text(text)
        lines: list[str] = []
        assert train_command(tmp_path, epochs=1, device="cpu", out=lines.append) == 1
        assert says in lines[-1], (text, lines)
    assert ModelStore(tmp_path).versions() == []


def test_the_warm_start_is_said_once() -> None:
    """The run's first lines say "starting from the shipped generalist model (...)"; the plan's saved
    reason for it (the panel shows it) is not printed a second time."""
    from types import SimpleNamespace

    from segdesk.commands.train import say_plan
    from segdesk.services.warm_start import FROM_GENERALIST

    lines: list[str] = []
    reasons = [
        "typical object (cell) 20 px across -> working scale 1x",
        f"started {FROM_GENERALIST} (g), a new head",
    ]
    say_plan(SimpleNamespace(summary=lambda: "working scale 1x", reasons=reasons), lines.append)
    assert lines == ["plan: working scale 1x", "  typical object (cell) 20 px across -> working scale 1x"]
