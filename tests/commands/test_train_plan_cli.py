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
    assert plan_lines == ["plan: working scale 1x, patches 64, width 4, about 600 steps"]
    meta = ModelStore(tmp_path).info("v1")
    assert meta["plan"]["scale"] == 1.0 and meta["plan"]["base_width"] == 4
    assert sorted(meta["plan"]["overridden"]) == ["base_width", "depth"]
    assert meta["config"]["base_width"] == 4 and meta["training"]["config"]["min_steps"] == 0
