"""The training service: NaN-free progress (defect 5), and a training process that never loads Qt."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cv2
import numpy as np

from segdesk.commands import train as train_cmd
from segdesk.core.document import Document
from segdesk.core.errors import Cancelled
from segdesk.core.labelme_io import save_document
from segdesk.core.model_store import ModelStore
from segdesk.core.project import Project
from segdesk.core.shapes import Shape
from segdesk.services import train_status, training
from segdesk.services.child_process import in_child
from tests.services._child_probe import training_then_modules

REPO = Path(__file__).resolve().parents[2]
TINY = {"base_width": 4, "depth": 2, "minutes": None, "max_epochs": 2, "patience": 0, "patch_size": 32,
        "batch_size": 2, "patches_per_epoch": 4, "threads": 1, "device": "cpu"}  # fmt: skip


def _project(root: Path, n: int = 2) -> Project:
    for i in range(n):
        image = np.full((48, 64), 40, np.uint8)
        x = 20 + 10 * (i % 3)
        cv2.circle(image, (x, 24), 9, 200, -1)
        cv2.imwrite(str(root / f"img_{i}.png"), image)
        pts = [[x + 9 * np.cos(a), 24 + 9 * np.sin(a)] for a in np.linspace(0, 6.2, 12)]
        doc = Document(f"img_{i}.png", 48, 64, shapes=[Shape("cell", np.array(pts))])
        doc.set_status("reviewed")
        save_document(doc, root / f"img_{i}.json")
    return Project(root)


def test_progress_never_says_nan_and_the_history_has_no_nan() -> None:
    """Defect 5: "epoch 1 - loss nan" at the start of every training (the base model's validation)."""
    from segdesk.ml.metrics import SegmentationMetrics
    from segdesk.ml.training.train import EpochEnd, TrainProgress

    tracker = train_status.StatusTracker(training.default_config(), images=3)
    metrics = SegmentationMetrics(["_background_", "cell"], [0.5, 0.34], [0.6, 0.5], 0.42, 0.55, 0.9, 100)
    texts = []
    for event in (
        training.Phase("loading"),
        training.Phase("started"),
        EpochEnd(0, 0, 1.0, float("nan"), metrics, 0.42, True),
        TrainProgress(3, 1, 0.3512, 1e-3, 10.0, float("nan"), 2.0),
        EpochEnd(1, 3, 3.0, 0.3512, metrics, 0.42, False),
    ):
        status = tracker.update(event)
        if status is not None:
            texts.append(status.text())
            last = status
    assert texts[0].startswith("Reading")
    assert texts[1] == "epoch 1 - validating the starting model - mIoU 0.420"
    assert all("nan" not in t.lower() for t in texts), texts
    assert last.history == [(0, None, 0.42), (1, 0.3512, 0.42)]
    assert last.eta_s is None and "ETA" not in texts[-1]


def test_the_panel_says_what_the_seconds_after_the_last_step_are_for(tmp_path: Path) -> None:
    """The prior check, the verdict and the split's calibration took ~8 s on DSB (one thread) under
    "Saving the new model ...": each now has its own line, and a cancel during them saves nothing."""
    from segdesk.ml.training.events import Checking

    tracker = train_status.StatusTracker(training.default_config(), images=3)
    texts = [
        tracker.update(event).text()  # type: ignore[union-attr]
        for event in (Checking("prior", 2), training.Phase("checking"), training.Phase("calibrating"))
    ]
    assert texts == [
        "Checking the rare classes' odds on 2 held-out image(s) ...",
        "Checking the new model on 2 held-out image(s) ...",
        "Choosing how touching objects are split ...",
    ]
    lines: list[str] = []  # the terminal says the same (one table, services.training.AFTER_STEPS)
    say = train_cmd.printer(lines.append, None)
    say(Checking("prior", 2))
    say(training.Phase("calibrating", None))
    assert lines == ["checking the rare classes' odds on 2 held-out image(s) ..."]
    project = _project(tmp_path, 5)
    seen: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, training.Phase):
            seen.append(event.name)

    training.train(training.request_for(project), training.resolve_config(TINY), threading.Event(), on_event)
    assert seen == ["loading", "started", "checking", "saving"]  # no objects: nothing to calibrate
    cancel = threading.Event()

    def cancel_while_checking(event: object) -> None:
        if isinstance(event, training.Phase) and event.name == "checking":
            cancel.set()

    try:
        training.train(
            training.request_for(project), training.resolve_config(TINY), cancel, cancel_while_checking
        )
    except Cancelled:
        pass
    else:
        raise AssertionError("a cancel while checking was not honoured")
    assert ModelStore(tmp_path).versions() == ["v1"]  # nothing saved


def test_the_saved_history_is_nan_free_json(tmp_path: Path) -> None:
    project = _project(tmp_path)
    request = training.request_for(project)
    outcome = training.train(request, training.resolve_config(TINY), threading.Event())
    meta = json.loads((tmp_path / ".segdesk/models" / outcome.version / "model.json").read_text())
    assert outcome.version == "v1" and meta["history"][-1]["train_loss"] > 0
    # a toy run may be judged not useful yet (ml/training/promotion.py); the person can still pick it
    ModelStore(tmp_path).set_current("v1")
    # a fine-tune starts with the base model's validation, which has no training loss: null, not NaN
    project = _project(tmp_path, 5)  # images v1 never saw train: the fine-tune's epochs are kept
    again = training.train(training.request_for(project), training.resolve_config(TINY), threading.Event())
    meta = json.loads((tmp_path / ".segdesk/models" / again.version / "model.json").read_text())
    assert meta["base_version"] == "v1" and meta["history"][0]["train_loss"] is None
    assert "nan" not in json.dumps(meta).lower()


def test_a_retrain_whose_start_did_best_saves_no_copy_of_it(tmp_path: Path) -> None:
    """Retrain on the same images, and no epoch beats the current model on the held-out images (lr 0:
    the same weights): before, a copy was saved as a new version and made current ("New model v3 ...
    is now current", the Xvfb DSB project); now nothing is saved and the person is told why."""
    project = _project(tmp_path, 5)
    first = training.train(training.request_for(project), training.resolve_config(TINY), threading.Event())
    ModelStore(tmp_path).set_current(first.version)
    phases: list[str] = []
    same = training.train(
        training.request_for(project),
        training.resolve_config({**TINY, "lr": 0.0}),
        threading.Event(),
        lambda e: phases.append(e.name) if isinstance(e, training.Phase) else None,
    )
    assert same.unchanged and not same.promoted and same.version == first.version == "v1"
    assert "no epoch did better than v1 on the 1 held-out image(s)" in same.reason
    assert ModelStore(tmp_path).versions() == ["v1"] and ModelStore(tmp_path).current() == "v1"
    assert "checking" not in phases and "exporting" not in phases
    from segdesk.commands.train import say_outcome

    lines: list[str] = []
    say_outcome(same, lines.append)
    assert lines[-1].endswith("so nothing new was saved; v1 stays current (review more images, then retrain)")
    for images, why in ((2, "note: fewer than 3 reviewed images, so"), (5, "note: --val-fraction 0:")):
        lines.clear()  # validated on its training images: the note says why (not "fewer than 3" for 5)
        say_outcome(dataclasses.replace(same, split="all-for-both", images=images), lines.append)
        assert any(line.startswith(why) for line in lines), lines


def test_a_retrain_holds_out_images_the_current_model_never_trained_on(tmp_path: Path) -> None:
    project = _project(tmp_path, 5)
    first = training.train(training.request_for(project), training.resolve_config(TINY), threading.Event())
    ModelStore(tmp_path).set_current(first.version)  # a toy run may be judged not useful yet
    seen = set(
        json.loads((tmp_path / ".segdesk/models" / first.version / "model.json").read_text())["images"]
    )
    assert len(seen) == 4
    project = _project(tmp_path, 7)  # two more reviewed images
    for seed in range(4):
        config = training.resolve_config({**TINY, "seed": seed})
        prepared = training.prepare(training.request_for(project), config)
        assert prepared.dataset.known == seen and prepared.base_version == first.version
        assert not {s.name for s in prepared.dataset.val} & seen, seed
        assert prepared.dataset.new_images


def test_a_retrain_sets_aside_a_generalist_model_of_fewer_than_3_images(tmp_path: Path) -> None:
    """Fine-tuned at 2 reviewed DSB images, the model of 1 image reached test mIoU 0.695; a new model
    from the generalist 0.774 (docs/benchmarks.md): such a model is not the start of the next run."""
    from segdesk.ml.checkpoint import ModelStore as WeightStore
    from segdesk.ml.model import UNet, UNetConfig

    project = _project(tmp_path, 3)
    store = WeightStore(tmp_path)
    net = UNet(UNetConfig(num_classes=2, base_width=8, depth=4))
    meta = {"classes": ["_background_", "cell"], "warm_start": "generalist-v3", "images": ["img_0.png"]}
    store.add_version(net, {**meta, "metrics": {"split": "all-for-both"}})  # v1: one image, no held-out check
    config = training.resolve_config({})
    prepared = training.prepare(training.request_for(project), config)
    assert prepared.base_version is None and prepared.set_aside == "v1" and prepared.warm_start
    # v2: checked on held-out images, and it learnt from more images than are new to it now
    seen = ["img_0.png", "img_1.png", "img_2.png"]
    store.add_version(net, {**meta, "images": seen, "metrics": {"split": "held-out"}})
    prepared = training.prepare(training.request_for(project), config)
    assert prepared.base_version == "v2" and prepared.set_aside is None
    no_warm = dataclasses.replace(training.request_for(project), base_version="v1", warm_start=False)
    assert training.prepare(no_warm, config).base_version == "v1"  # --no-warm-start: v1 is fine-tuned
    from segdesk.commands.train import warm_label

    assert "(not v1: it learnt from fewer than 3 images" in (warm_label("generalist-v3", "v1") or "")
    # the 3rd image is the held-out one and the other two are v3's: the generalist on the same two
    # images would give v3 again; v3 is fine-tuned and checked on the image it never saw
    v3 = {**meta, "images": ["img_0.png", "img_1.png"], "metrics": {"split": "all-for-both"}}
    assert store.add_version(net, v3) == "v3"
    one = dataclasses.replace(training.request_for(project), val_fraction=0.34)
    for seed in range(3):  # the held-out draw takes the image v3 never saw
        prepared = training.prepare(one, training.resolve_config({"seed": seed}))
        assert [s.name for s in prepared.dataset.val] == ["img_2.png"] and not prepared.dataset.new_images
        assert prepared.base_version == "v3" and prepared.set_aside is None, seed
    store.set_current("v2")
    # v4: validated on its training images because the person asked (--val-fraction 0), not for
    # lack of images: a model of all 3 is fine-tuned, never set aside as "fewer than 3 images"
    store.add_version(net, {**meta, "images": seen, "metrics": {"split": "all-for-both"}})
    prepared = training.prepare(training.request_for(project), config)
    assert prepared.base_version == "v4" and prepared.set_aside is None


def test_a_retrain_that_brings_as_many_new_images_as_the_model_learnt_from_starts_from_the_generalist(
    tmp_path: Path,
) -> None:
    """In the app's loop on DSB dev, 5 -> 10 reviewed images: fine-tuned from the 5-image model 0.842 /
    0.874 / 0.861 test mIoU (it had 0.870), from the generalist 0.876 / 0.893 / 0.886 (three seeds)."""
    from segdesk.ml.checkpoint import ModelStore as WeightStore
    from segdesk.ml.model import UNet, UNetConfig
    from segdesk.services.warm_start import outgrown

    project = _project(tmp_path, 7)
    net = UNet(UNetConfig(num_classes=2, base_width=8, depth=4))
    meta = {
        "classes": ["_background_", "cell"],
        "warm_start": "generalist-v3",
        "metrics": {"split": "held-out"},
    }
    WeightStore(tmp_path).add_version(net, {**meta, "images": [f"img_{i}.png" for i in range(4)]})
    config = training.resolve_config({})
    prepared = training.prepare(training.request_for(project), config)  # 6 train: 2 of them new to v1
    assert prepared.base_version == "v1" and prepared.set_aside is None
    WeightStore(tmp_path).add_version(net, {**meta, "images": ["img_0.png", "img_1.png"]})  # v2, current
    prepared = training.prepare(training.request_for(project), config)  # 6 train: 4 new to v2
    assert prepared.base_version is None and prepared.set_aside == "v2" and prepared.warm_start
    assert prepared.set_aside_reason.startswith("it learnt from 2 image(s) and 4 new to it train now")
    from segdesk.commands.train import warm_label

    assert "(not v2: it learnt from 2 image(s)" in (
        warm_label("generalist-v3", "v2", prepared.set_aside_reason) or ""
    )
    tracker = train_status.StatusTracker(config, images=7)  # the panel's line says it too
    tracker.update(training.Phase("started", prepared))
    assert "from the shipped generalist model (not v2: it learnt from 2 image(s)" in tracker.status.message
    # a model of random weights (no warm start) is always fine-tuned: the generalist is no better start
    assert not outgrown({**meta, "warm_start": None, "images": ["img_0.png"]}, prepared.dataset)


def test_the_training_process_never_imports_qt(tmp_path: Path) -> None:
    """Item 3: the child runs the service's training; neither its runner nor its factory is in
    segdesk.ui, so the spawned interpreter never loads PySide6 (nor segdesk.ui)."""
    from segdesk.ui import job_functions

    request = training.request_for(_project(tmp_path))
    result = in_child(training_then_modules, request, TINY, name="training")(
        threading.Event(), lambda _r: None
    )
    assert result == {"version": "v1", "qt_or_ui": []}
    # and what the window starts is that same factory, by reference
    job = job_functions.train_in_child(request, TINY)
    cells = [c.cell_contents for c in job.__closure__ or ()]
    assert train_status.app_training in cells


def test_the_gui_modules_import_no_torch_and_the_services_no_qt() -> None:
    """A fresh interpreter: the window's modules load without torch; the services without Qt."""
    code = textwrap.dedent(
        """
        import json, sys
        import segdesk.services.training, segdesk.services.proposals, segdesk.services.child_process
        import segdesk.services.proposal_files, segdesk.services.model_store
        services_qt = sorted(m for m in sys.modules if m.startswith("PySide6"))
        import segdesk.ui.main_window, segdesk.ui.job_functions, segdesk.ui.model_assist
        heavy = sorted(m for m in ("torch", "albumentations", "onnx") if m in sys.modules)
        print(json.dumps({"services_qt": services_qt, "heavy": heavy}))
        """
    )
    env = {"PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"services_qt": [], "heavy": []}
