"""Job functions that run the model off the GUI thread (see :mod:`segdesk.ui.jobs`).

The ONLY ui module that imports segdesk.ml, and only inside functions, so that the window opens
without loading torch. Each ``*_job(...)`` takes snapshots made on the GUI thread (paths, an image
copy, the model version) and returns a function ``fn(cancel, report) -> result`` for a Job. The
functions never touch a widget or a document; results go back by signal.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segdesk.core.errors import Cancelled, ModelError, TrainingError
from segdesk.core.project import ImageEntry, Project
from segdesk.ui.child_process import error_message, in_child
from segdesk.ui.proposals import PredictionResult, ProposalSettings, proposal_shapes

Report = Callable[[object], None]
Fn = Callable[[threading.Event, Report], Any]


# --- training ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSnapshot:
    """The inputs of one training run, fixed when the person clicks Retrain."""

    root: Path
    entries: tuple[ImageEntry, ...]  # the reviewed images at that moment
    class_names: tuple[str, ...]
    base_version: str | None


@dataclass
class TrainStatus:
    """A progress record for the panel; carries the whole epoch history so none is lost to throttling."""

    phase: str  # "loading" | "training" | "saving" | "exporting"
    fraction: float = 0.0
    epoch: int = 0
    step: int = 0
    loss: float = float("nan")
    eta_s: float = float("nan")
    elapsed_s: float = 0.0
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (epoch, loss, val mIoU)
    message: str = ""


@dataclass
class TrainOutcome:
    version: str
    promoted: bool
    reason: str
    miou: float
    previous_version: str | None
    previous_miou: float | None
    epochs: int
    elapsed_s: float
    stop_reason: str
    images: int
    split: str
    onnx_error: str | None = None


def snapshot_training(project: Project, base_version: str | None) -> TrainSnapshot:
    """Take the training inputs on the GUI thread. Raises TrainingError with nothing to train on."""
    entries = tuple(project.reviewed_entries())
    if not entries:
        raise TrainingError(
            f"{project.root}: no reviewed images yet; review a few images (correct them and save "
            "with Ctrl+S), then Retrain"
        )
    return TrainSnapshot(project.root, entries, tuple(project.class_names()), base_version)


def app_train_config(**overrides: Any) -> Any:
    """The app's training settings: a one-minute budget on torch's default threads.

    Every core: training runs in its own process at a lower priority (TRAIN_NICENESS), so it cannot
    hold the GUI's GIL and yields the cores whenever the person works. Measured on 2 cores
    (docs/benchmarks.md): proposals opened during a Retrain 217-339 ms with 2 niced training
    threads, 263-350 ms with 1 thread at normal priority, 346-513 ms with 2; 75% more patches/s.
    """
    from segdesk.ml.train import TrainConfig

    config = TrainConfig(minutes=1.0, threads=None, patience=10)
    return dataclasses.replace(config, **overrides) if overrides else config


def _training_set(snapshot: TrainSnapshot, *, seed: int, cancel: threading.Event) -> Any:
    from segdesk.ml.data import training_set_from_project

    return training_set_from_project(
        snapshot.root,
        class_names=snapshot.class_names,
        entries=snapshot.entries,
        val_fraction=0.2,
        seed=seed,
        cancel=cancel,
    )


#: The training process runs at a lower CPU priority: proposals and painting come first.
TRAIN_NICENESS = 10


def train_in_child(snapshot: TrainSnapshot, config: Any = None, *, export_onnx: bool = True) -> Fn:
    """``train_job`` in a child process (what the app runs): the GUI process never loads torch.

    ``config``: None (the app's settings), a dict of TrainConfig overrides, or a TrainConfig.
    """
    return in_child(_child_training, snapshot, config, export_onnx, name="training", niceness=TRAIN_NICENESS)


def _child_training(snapshot: TrainSnapshot, config: Any, export_onnx: bool) -> Fn:
    return train_job(snapshot, config, export_onnx=export_onnx)


def train_job(snapshot: TrainSnapshot, config: Any = None, *, export_onnx: bool = True) -> Fn:
    """Fine-tune the snapshot's base model on its reviewed images; save a version; promote; export.

    Runs where it is called, ONNX export included (Python-heavy for 10-30 s): the app runs it in a
    child process through ``train_in_child``; tests call it directly.
    """

    def run(cancel: threading.Event, report: Report) -> TrainOutcome:
        from segdesk.ml.checkpoint import ModelStore
        from segdesk.ml.train import EpochEnd, TrainProgress, TrainResult, fine_tune
        from segdesk.ml.train_cli import plan_of, planned, promote_decision

        if config is None or isinstance(config, dict):
            cfg = app_train_config(**(config or {}))
        else:
            cfg = config
        status = TrainStatus(phase="loading", message=f"reading {len(snapshot.entries)} image(s)")
        report(dataclasses.replace(status))
        dataset = _training_set(snapshot, seed=cfg.seed, cancel=cancel)
        store = ModelStore(snapshot.root)
        model = classes = None
        if snapshot.base_version is not None:
            model, meta = store.load(snapshot.base_version)
            classes = list(meta["classes"])
        cfg = planned(dataset, cfg, model, None)  # the data's plan (ml/plan.py), as `segdesk train`
        budget = (cfg.minutes or 0) * 60
        result: TrainResult | None = None
        status.phase, status.message = "training", plan_of(cfg).summary()
        for event in fine_tune(dataset, cfg, cancel, model=model, model_classes=classes):
            if isinstance(event, TrainProgress):
                status.epoch, status.step, status.loss = event.epoch, event.step, event.loss
                status.eta_s, status.elapsed_s = event.eta_s, event.elapsed_s
                total = event.elapsed_s + max(event.eta_s, 0.0)
                status.fraction = event.elapsed_s / total if total > 0 else 0.0
            elif isinstance(event, EpochEnd):
                status.history = [*status.history, (event.epoch, event.train_loss, event.metrics.miou)]
                if budget <= 0:
                    status.fraction = (event.epoch + 1) / max(cfg.max_epochs, 1)
            elif isinstance(event, TrainResult):
                result = event
                continue
            report(dataclasses.replace(status, history=list(status.history)))
        if result is None:
            raise TrainingError(f"{snapshot.root}: training ended without a result")
        if cancel.is_set():  # a cancel after the last epoch still keeps the old model
            raise Cancelled("training cancelled")
        report(dataclasses.replace(status, phase="saving", fraction=1.0, history=list(status.history)))
        return _save(snapshot, store, dataset, result, status, report, cancel, export_onnx, promote_decision)

    return run


def _save(
    snapshot: TrainSnapshot,
    store: Any,
    dataset: Any,
    result: Any,
    status: TrainStatus,
    report: Report,
    cancel: threading.Event,
    export_onnx: bool,
    promote_decision: Callable[..., Any],
) -> TrainOutcome:
    decision = promote_decision(result, dataset, store)
    meta: dict[str, Any] = result.meta()
    meta["promotion"] = dataclasses.asdict(decision)
    meta["base_version"] = snapshot.base_version
    # A fine-tune's history starts with the base model's validation (no training loss: NaN);
    # JSON has no NaN, and the checkpoint writer rightly refuses it.
    meta = _finite(meta)
    version = store.add_version(result.model, meta, make_current=decision.promote)
    outcome = TrainOutcome(
        version=version,
        promoted=decision.promote,
        reason=decision.reason,
        miou=float(decision.new_miou),
        previous_version=decision.current_version,
        previous_miou=decision.current_miou,
        epochs=result.epochs,
        elapsed_s=result.elapsed_s,
        stop_reason=result.stop_reason,
        images=len(dataset.train),
        split=dataset.split,
    )
    if export_onnx and not cancel.is_set():
        report(dataclasses.replace(status, phase="exporting", history=list(status.history)))
        outcome.onnx_error = _export_here(store.path(version))
    return outcome


def _export_here(checkpoint: Path) -> str | None:
    """Build the checkpoint's ONNX export in this process; None on success, else why not."""
    from segdesk.ml.export import cached_onnx

    try:
        cached_onnx(str(checkpoint))
    except Exception as exc:  # a failed export only means predictions use torch
        return error_message(exc)
    return None


def _finite(value: Any) -> Any:
    """``value`` with every NaN / infinite float replaced by None (for JSON)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# --- prediction -------------------------------------------------------------------------------

_predictor_lock = threading.Lock()
_predictors: dict[tuple[str, int, bool], Any] = {}


def load_predictor(model_path: Path) -> Any:
    """A cached Predictor for the checkpoint (one per file version; the ONNX export if present)."""
    from segdesk.ml.infer import Predictor
    from segdesk.ml.onnx_backend import onnx_path_for

    path = Path(model_path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ModelError(path, None, f"model file is missing: {exc}") from exc
    key = (str(path), stamp, onnx_path_for(path).is_file())
    with _predictor_lock:
        predictor = _predictors.get(key)
        if predictor is None:
            predictor = Predictor.from_checkpoint(path, build_onnx=False, device="auto")
            _predictors.clear()  # one model in memory at a time
            _predictors[key] = predictor
        return predictor


def predict_image(
    predictor: Any,
    image: np.ndarray,
    image_path: Path,
    settings: ProposalSettings,
    cancel: threading.Event | None = None,
) -> PredictionResult:
    """Run the model on one image and make proposal shapes with ``settings``."""
    start = time.perf_counter()
    pred = predictor.predict(image, cancel=cancel)
    names = list(predictor.class_names)
    shapes = proposal_shapes(
        pred.class_map, pred.confidence, names, settings, model_version=predictor.model_version
    )
    return PredictionResult(
        image_path=Path(image_path),
        model_version=predictor.model_version,
        class_names=names,
        class_map=pred.class_map,
        confidence=pred.confidence,
        mean_entropy=float(pred.mean_entropy),
        elapsed_s=time.perf_counter() - start,
        shapes=shapes,
        settings=settings,
    )


def predict_job(image: np.ndarray, image_path: Path, model_path: Path, settings: ProposalSettings) -> Fn:
    """Predict one image; ``image`` must be the caller's copy (the job keeps it)."""

    def run(cancel: threading.Event, report: Report) -> PredictionResult:
        predictor = load_predictor(model_path)
        return predict_image(predictor, image, image_path, settings, cancel)

    return run


def warm_up_job(model_path: Path) -> Fn:
    """Import torch and load the model in the background so the first proposals come quickly."""

    def run(cancel: threading.Event, report: Report) -> str:
        predictor = load_predictor(model_path)
        if not cancel.is_set():
            size = predictor.multiple * 2
            predictor.predict(np.zeros((size, size, 3), np.uint8))
        return str(predictor.model_version)

    return run


@dataclass
class BatchStatus:
    done: int
    total: int
    name: str = ""
    written: tuple[int, ...] = ()  # entry indices whose JSON now holds proposals


@dataclass
class BatchOutcome:
    written: tuple[int, ...]
    scores: list[tuple[int, float]]  # (entry index, uncertainty), most uncertain first
    model_version: str | None
    skipped: list[str] = field(default_factory=list)


def _read_image(entry: ImageEntry) -> np.ndarray:
    from segdesk.core.image_io import read_image

    return read_image(entry.image_path).data


def batch_job(
    root: Path,
    targets: Sequence[tuple[int, ImageEntry]],
    model_path: Path,
    settings: ProposalSettings,
    *,
    write: bool,
) -> Fn:
    """Predict ``targets`` (unlabeled images): score uncertainty, and with ``write`` save proposals.

    A file is only written while it still has no annotation (the person may have opened and saved
    it meanwhile); such an image is skipped, never overwritten.
    """

    def run(cancel: threading.Event, report: Report) -> BatchOutcome:
        from segdesk.core.errors import SegdeskError

        predictor = load_predictor(model_path)
        project = Project(root)
        written: list[int] = []
        scores: list[tuple[int, float]] = []
        skipped: list[str] = []
        for n, (index, entry) in enumerate(targets):
            if cancel.is_set():
                raise Cancelled("prediction cancelled")
            report(BatchStatus(n, len(targets), Path(entry.image_path).name, tuple(written)))
            try:
                result = predict_image(
                    predictor, _read_image(entry), Path(entry.image_path), settings, cancel
                )
            except SegdeskError as exc:
                if isinstance(exc, Cancelled):
                    raise
                skipped.append(str(exc))
                continue
            scores.append((index, result.mean_entropy))
            if write and result.shapes and not entry.json_path.exists():
                document = project.load(entry)
                document.shapes = list(result.shapes)
                document.set_status("proposed")
                project.save(entry, document)
                written.append(index)
        report(BatchStatus(len(targets), len(targets), "", tuple(written)))
        scores.sort(key=lambda item: -item[1])
        return BatchOutcome(tuple(written), scores, predictor.model_version, skipped)

    return run


__all__ = [
    "BatchOutcome",
    "BatchStatus",
    "TrainOutcome",
    "TrainSnapshot",
    "TrainStatus",
    "app_train_config",
    "batch_job",
    "load_predictor",
    "predict_image",
    "predict_job",
    "snapshot_training",
    "train_in_child",
    "train_job",
    "warm_up_job",
]


# --- ONNX export (the Export dialog) ----------------------------------------------------------


@dataclass
class OnnxExportOutcome:
    """An ONNX file written and checked against torch (plain values: the dialog imports no ml)."""

    path: Path
    checkpoint: Path
    sample: str
    ok: bool
    max_abs_diff: float
    argmax_agreement: float
    summary: str


def export_onnx_job(
    project_root: Path, out: Path, *, model: str | None = None, fp16: bool = False, opset: int = 18
) -> Fn:
    """Export the project's current model (or ``model``) to ``out``, then verify it on a project image.

    Progress records are short strings. Cancel is honoured before the file is written.
    """

    def run(cancel: threading.Event, report: Report) -> OnnxExportOutcome:
        from segdesk.ml.export_cli import export_and_verify, verification_sample
        from segdesk.ml.predict_cli import resolve_model

        report("loading the model")
        checkpoint = resolve_model(Path(project_root), model)
        sample, name = verification_sample(project_root)
        if cancel.is_set():
            raise Cancelled("export cancelled")
        report(f"exporting {checkpoint.parent.name} (opset {opset}{', fp16' if fp16 else ''})")
        verify = export_and_verify(checkpoint, out, sample, fp16=fp16, opset=opset, cancel=cancel)
        return OnnxExportOutcome(
            path=Path(out),
            checkpoint=Path(checkpoint),
            sample=name,
            ok=verify.ok,
            max_abs_diff=verify.max_abs_diff,
            argmax_agreement=verify.argmax_agreement,
            summary=verify.summary(),
        )

    return run
