"""``segdesk --self-test``: prove that an installed or frozen segdesk works on this machine.

It starts Qt offscreen, opens the bundled demo project in the main window, then loads the ml stack and
predicts one demo image with the torch backend and with onnxruntime (through ``Predictor`` both times),
runs one augmented training step, starts a training-style child process (how the app retrains;
spawning is what frozen builds break), prints a short report and returns 0; on any failure it prints the
step and the error and returns 1. Nothing is written outside a temporary folder: the window's settings
go there, not into the person's own settings.

The ONNX graph for the onnxruntime check comes from torch's TorchScript exporter at the tile size
(well under a second, and it needs no onnxscript); the export the app offers to people
(``segdesk.ml.inference.export``, dynamo-based, ~15 s) is run and verified in frozen builds, where packaging can
break it, and otherwise only reported as available.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

#: Tile side for the check: the demo images (512 x 384) then need several tiles, so blending runs too.
TILE = 256
#: The untrained check model: small, so the whole self-test takes seconds on a laptop CPU.
CHECK_WIDTH = 8
#: Set to "1" to run the real ONNX export outside a frozen app too (it takes ~15 s).
EXPORT_ENV = "SEGDESK_SELFTEST_EXPORT"
#: Class maps of the two backends must agree on at least this fraction of pixels.
MIN_AGREEMENT = 0.999


class SelfTestError(RuntimeError):
    """A check found something wrong (as opposed to an exception raised by the code it checks)."""


@dataclass
class Report:
    """Lines of ``name: value``, printed as they come so a hang still shows how far it got."""

    out: TextIO
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.rows.append((name, value))
        print(f"  {name:<14} {value}", file=self.out, flush=True)


def run_self_test(*, settings_dir: str | Path | None = None, out: TextIO | None = None) -> int:
    """Run every check; 0 when all pass, 1 (with the failing step and error on stderr) otherwise."""
    stream = out or sys.stdout
    report = Report(stream)
    start = time.perf_counter()
    print("segdesk self-test", file=stream, flush=True)
    steps: list[tuple[str, Callable[[Report, dict[str, Any]], None]]] = [
        ("environment", _check_environment),
        ("window", _check_window),
        ("ml stack", _check_ml_stack),
        ("predict/torch", _check_predict_torch),
        ("predict/onnx", _check_predict_onnx),
        ("onnx export", _check_onnx_export),
        ("training step", _check_training_step),
        ("child process", _check_child_process),
    ]
    with tempfile.TemporaryDirectory(prefix="segdesk-selftest-") as tmp:
        state: dict[str, Any] = {"tmp": Path(tmp), "settings_dir": settings_dir or Path(tmp) / "settings"}
        for name, step in steps:
            try:
                step(report, state)
            except Exception as exc:  # the point of a self-test: report whatever broke, where
                traceback.print_exc(file=sys.stderr)
                print(f"segdesk self-test: FAILED at {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 1
    print(f"segdesk self-test: OK in {time.perf_counter() - start:.1f} s", file=stream, flush=True)
    return 0


def _check_environment(report: Report, state: dict[str, Any]) -> None:
    from segdesk import __version__
    from segdesk.ui.resources import demo_project_dir

    frozen = getattr(sys, "frozen", False)
    where = getattr(sys, "_MEIPASS", None) if frozen else Path(__file__).resolve().parent
    report.add("segdesk", f"{__version__} ({'frozen' if frozen else 'not frozen'}: {where})")
    report.add("python", f"{platform.python_version()} on {platform.platform(terse=True)}")
    demo = demo_project_dir()
    if demo is None:
        raise SelfTestError("the demo project (resources/demo) is not shipped with this copy")
    state["demo"] = demo


def _check_window(report: Report, state: dict[str, Any]) -> None:
    # Before the QApplication exists: the check must run on a machine without a display.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import PySide6
    from PySide6.QtCore import QCoreApplication, QDeadlineTimer, qVersion
    from PySide6.QtWidgets import QApplication

    import segdesk.ui.pyside_fix  # noqa: F401  - as in app.main: before any Qt work
    from segdesk.ui.main_window import MainWindow
    from segdesk.ui.settings import AppSettings, use_settings_dir

    t0 = time.perf_counter()
    use_settings_dir(state["settings_dir"])
    app = QApplication.instance() or QApplication(["segdesk", "-platform", "offscreen"])
    window = MainWindow(AppSettings())
    window.show()
    demo = state["demo"]
    statuses: list[bool] = []  # the file list reads statuses in slices between events
    window.session.statuses_read.connect(lambda: statuses.append(True))
    if not window.open_path(demo):
        raise SelfTestError(f"{demo}: the window could not open the demo project")
    deadline = QDeadlineTimer(10_000)
    while not statuses and not deadline.hasExpired():
        app.processEvents()
    session = window.session
    document = session.document
    if not session.entries or document is None:
        raise SelfTestError(f"{demo}: no image was shown after opening the demo project")
    if not document.shapes:
        raise SelfTestError(f"{session.current.image_path}: the demo annotation shows no shapes")
    name = session.current.image_path.name
    elapsed = time.perf_counter() - t0
    window.close()
    window.deleteLater()
    QCoreApplication.processEvents()
    report.add("qt", f"PySide6 {PySide6.__version__}, Qt {qVersion()}, platform {app.platformName()}")
    report.add(
        "window",
        f"demo project {demo}: {len(session.entries)} images, {name} with {len(document.shapes)} shapes "
        f"({elapsed:.2f} s)",
    )
    state["entries"] = list(session.entries)


def _check_ml_stack(report: Report, state: dict[str, Any]) -> None:
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # nothing written under the user's cache
    t0 = time.perf_counter()
    import albumentations
    import onnxruntime
    import torch

    import segdesk.ml.training.augment
    import segdesk.ml.training.train  # noqa: F401
    from segdesk.ml.device import describe_device, pick_device

    device = pick_device("auto")
    state["device"] = device
    cuda = f"yes ({torch.version.cuda})" if torch.cuda.is_available() else "no"
    report.add("torch", f"{torch.__version__}, device {describe_device(device)}, CUDA {cuda}")
    report.add("onnxruntime", f"{onnxruntime.__version__}, providers {onnxruntime.get_available_providers()}")
    report.add("albumentations", albumentations.__version__)
    report.add("imports", f"{time.perf_counter() - t0:.2f} s")


def _model_and_meta(state: dict[str, Any]) -> tuple[Any, dict[str, Any], str]:
    """The demo project's current model when it has one, else a small untrained UNet."""
    import torch

    from segdesk.core.project import Project
    from segdesk.ml.checkpoint import ModelStore, load_checkpoint
    from segdesk.ml.model import UNetConfig, build_model

    demo = state["demo"]
    current = ModelStore(demo).current_path()
    if current is not None:
        model, meta = load_checkpoint(current)
        return model, dict(meta), f"model {current.parent.name}"
    classes = Project(demo).class_names()
    torch.manual_seed(0)
    model = build_model(UNetConfig(num_classes=len(classes), base_width=CHECK_WIDTH)).eval()
    return model, {"classes": classes, "version": "selftest"}, f"untrained UNet ({len(classes)} classes)"


def _check_predict_torch(report: Report, state: dict[str, Any]) -> None:
    from segdesk.core.image_io import read_image
    from segdesk.ml.inference.infer import Predictor

    entry = state["entries"][0]
    image = read_image(entry.image_path).data
    model, meta, what = _model_and_meta(state)
    predictor = Predictor(model, meta, device=state["device"], backend="torch", tile=TILE)
    prediction = predictor.predict(image)
    _check_prediction(prediction, image, len(predictor.class_names))
    reference = prediction
    if predictor.device.type != "cpu":  # a GPU predicts in bf16/fp16; compare onnxruntime to the CPU
        reference = Predictor(model, meta, device="cpu", backend="torch", tile=TILE).predict(image)
    h, w = image.shape[:2]
    report.add(
        "predict/torch",
        f"{entry.image_path.name} {w}x{h}, {what}: {prediction.tiles} tiles in {prediction.elapsed_s:.2f} s "
        f"on {predictor.device}",
    )
    state.update(image=image, model=model, meta=meta, cpu_prediction=reference)


def _check_prediction(prediction: Any, image: Any, num_classes: int) -> None:
    import numpy as np

    if prediction.class_map.shape != image.shape[:2]:
        raise SelfTestError(f"class map {prediction.class_map.shape} for an image {image.shape[:2]}")
    if int(prediction.class_map.max()) >= num_classes:
        raise SelfTestError(f"class {int(prediction.class_map.max())} from a {num_classes}-class model")
    conf = prediction.confidence
    if not (np.isfinite(conf).all() and conf.min() >= 1.0 / num_classes - 1e-4 and conf.max() <= 1 + 1e-4):
        raise SelfTestError(f"confidence outside [1/C, 1]: {conf.min()} .. {conf.max()}")


def _check_predict_onnx(report: Report, state: dict[str, Any]) -> None:
    import numpy as np

    from segdesk.ml.inference.infer import Predictor

    model, meta, image = state["model"], state["meta"], state["image"]
    t0 = time.perf_counter()
    path = _export_tile_graph(model, meta, state["tmp"] / "selftest.onnx")
    export_s = time.perf_counter() - t0
    predictor = Predictor(model, meta, device="cpu", backend="onnx", onnx_path=path, tile=TILE)
    prediction = predictor.predict(image)
    _check_prediction(prediction, image, len(predictor.class_names))
    reference = state["cpu_prediction"]
    agreement = float((prediction.class_map == reference.class_map).mean())
    conf_diff = float(np.abs(prediction.confidence - reference.confidence).max())
    if agreement < MIN_AGREEMENT or conf_diff > 1e-3:
        raise SelfTestError(
            f"onnxruntime and torch disagree: {agreement:.4%} of pixels, confidence {conf_diff:.1e}"
        )
    report.add(
        "predict/onnx",
        f"{prediction.tiles} tiles in {prediction.elapsed_s:.2f} s (graph exported in {export_s:.2f} s); "
        f"agrees with torch on {agreement:.2%} of pixels, max confidence difference {conf_diff:.1e}",
    )


def _export_tile_graph(model: Any, meta: dict[str, Any], path: Path) -> Path:
    """A TILE x TILE ONNX graph of ``model`` with the metadata ``export.OnnxBackend`` reads."""
    import io
    import json
    import warnings

    import onnx
    import torch

    net = model.cpu().float().eval()
    example = torch.zeros(1, net.config.in_channels, TILE, TILE)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            net,
            (example,),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["logits"],
        )
    proto = onnx.load_model_from_string(buffer.getvalue())
    onnx.helper.set_model_props(
        proto,
        {"segdesk.config": json.dumps(net.config.to_dict()), "segdesk.classes": json.dumps(meta["classes"])},
    )
    path.write_bytes(proto.SerializeToString())
    return path


def _check_onnx_export(report: Report, state: dict[str, Any]) -> None:
    """The export people use (dynamo + onnxscript), verified against torch; in frozen builds only.

    It takes ~15 s, and what breaks it is packaging (onnxscript compiles its ops from source files).
    """
    if importlib.util.find_spec("onnxscript") is None:
        report.add(
            "onnx export", "not in this build (no onnxscript): no ONNX export, CPU prediction uses torch"
        )
        return
    if not getattr(sys, "frozen", False) and os.environ.get(EXPORT_ENV) != "1":
        report.add(
            "onnx export", f"available (exported by the frozen app's self-test, or with {EXPORT_ENV}=1)"
        )
        return
    from segdesk.ml.inference.export import export_bytes, verify_onnx

    t0 = time.perf_counter()
    data = export_bytes(state["model"], state["meta"])
    check = verify_onnx(data, state["model"], state["image"][:200, :300])  # not a multiple of 16
    if not check.ok:
        raise SelfTestError(f"the exported model disagrees with torch: {check.summary()}")
    report.add(
        "onnx export", f"{len(data) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s; {check.summary()}"
    )


def _check_training_step(report: Report, state: dict[str, Any]) -> None:
    """One augmented patch, one forward and backward pass, on a copy of the model."""
    import copy

    import numpy as np
    import torch
    import torch.nn.functional as F

    from segdesk.core.project import Project
    from segdesk.core.rasterize import document_to_class_map
    from segdesk.ml.data import IGNORE_INDEX
    from segdesk.ml.normalize import prepare_image
    from segdesk.ml.training.augment import apply, build_augmentation

    t0 = time.perf_counter()
    project = Project(state["demo"])
    entry = state["entries"][0]
    class_map = document_to_class_map(project.load(entry), project.class_names(), ignore_value=IGNORE_INDEX)
    unit = (np.asarray(state["image"], dtype=np.float32) / 255.0).astype(np.float32)
    patch, mask = apply(build_augmentation(128, seed=0), unit, class_map)
    model = copy.deepcopy(state["model"]).train()
    x = torch.from_numpy(prepare_image(patch, (0.0, 1.0))[None])
    y = torch.from_numpy(np.asarray(mask, dtype=np.int64)[None])
    loss = F.cross_entropy(model(x), y, ignore_index=IGNORE_INDEX)
    loss.backward()
    loss = loss.detach()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not bool(torch.isfinite(loss)) or not grads or not all(torch.isfinite(g).all() for g in grads):
        raise SelfTestError(f"training step gave loss {float(loss)} and {len(grads)} gradients")
    labelled = int((mask != IGNORE_INDEX).sum())
    report.add(
        "training step",
        f"128x128 augmented patch ({labelled} labelled pixels), loss {float(loss):.3f} "
        f"({time.perf_counter() - t0:.2f} s)",
    )


def _child_probe() -> Callable[[Any, Callable[[object], None]], dict[str, Any]]:
    def run(cancel: Any, report: Callable[[object], None]) -> dict[str, Any]:
        import torch

        import segdesk.ml.training.train  # noqa: F401  - what a Retrain imports in its process

        report("imported")
        return {"pid": os.getpid(), "torch": torch.__version__, "threads": torch.get_num_threads()}

    return run


def _check_child_process(report: Report, state: dict[str, Any]) -> None:
    """Retrain runs in a spawned child (segdesk.services.child_process): start one, import the trainer."""
    import threading

    from segdesk.services.child_process import in_child

    t0 = time.perf_counter()
    records: list[object] = []
    result = in_child(_child_probe, name="self-test")(threading.Event(), records.append)
    if result["pid"] == os.getpid() or records != ["imported"]:
        raise SelfTestError(f"the child process did not run apart: {result}, progress {records}")
    report.add(
        "child process",
        f"pid {result['pid']}, torch {result['torch']} imported in {time.perf_counter() - t0:.1f} s",
    )
