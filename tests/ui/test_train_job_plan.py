"""The app's retrain (``workers.train_job``) plans like ``segdesk train`` and shows the plan's line."""

from __future__ import annotations

import threading
from pathlib import Path

from segdesk.core.project import Project
from segdesk.ml.checkpoint import ModelStore
from segdesk.ui import job_functions as workers
from tests.commands.test_train_cli import _make_project


def test_train_job_reports_the_plan_and_saves_it(tmp_path: Path):
    _make_project(tmp_path, ["reviewed"] * 3)
    snapshot = workers.snapshot_training(Project(tmp_path), None)
    statuses: list[workers.TrainStatus] = []
    config = {"minutes": None, "max_epochs": 2, "base_width": 4, "depth": 2, "threads": 1, "device": "cpu"}
    outcome = workers.train_job(snapshot, config, export_onnx=False)(threading.Event(), statuses.append)
    training = [s for s in statuses if s.phase == "training"]
    assert training and training[0].message.startswith("working scale 1x, patches 64, width 4")
    meta = ModelStore(tmp_path).info(outcome.version)
    assert meta["plan"]["base_width"] == 4 and meta["plan"]["scale"] == 1.0
