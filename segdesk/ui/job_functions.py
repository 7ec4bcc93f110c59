"""Job functions for the app's jobs (``segdesk.ui.job_runner`` runs them off the GUI thread): thin wrappers
over :mod:`segdesk.services`, the rules the CLI uses too.

The ui reaches ``segdesk.ml`` only through the services, and only inside functions, so the window
opens without loading torch. Each ``*_job(...)`` takes snapshots made on the GUI thread (paths, an
image copy, the model version) and returns a function ``fn(cancel, report) -> result``; it never
touches a widget or a document, results go back by signal.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segdesk.core.cancel import JobFn as Fn
from segdesk.core.cancel import Report
from segdesk.core.errors import Cancelled
from segdesk.core.export.masks import export_masks
from segdesk.core.export.writers import ExportReport
from segdesk.core.import_coco import import_coco
from segdesk.core.import_instances import import_instances
from segdesk.core.import_masks import ImportReport, import_masks
from segdesk.core.import_yolo import import_yolo
from segdesk.core.project import ImageEntry, Project
from segdesk.services.child_process import in_child
from segdesk.services.proposal_files import proposal_stamp, wants_proposals, write_proposals
from segdesk.services.proposals import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    PredictionResult,
    ProposalSettings,
    load_predictor,
    propose_image,
)
from segdesk.services.train_status import TrainStatus, app_training
from segdesk.services.training import TrainOutcome, TrainRequest, niceness, request_for

# --- training ---------------------------------------------------------------------------------

#: The snapshot the app takes when the person clicks Retrain (the service's request).
TrainSnapshot = TrainRequest


def snapshot_training(
    project: Project, base_version: str | None, entries: Sequence[ImageEntry] | None = None
) -> TrainRequest:
    """The training inputs, taken on the GUI thread. Raises TrainingError with nothing to train on.

    ``entries``: the images the person agreed to (ui/review_flow.py); default the plan's
    (core/training_plan.py), the one rule of what trains.
    """
    from dataclasses import replace

    return replace(request_for(project, entries=entries), base_version=base_version)


def train_in_child(snapshot: TrainRequest, config: Any = None, *, export_onnx: bool = True) -> Fn:
    """The service's training in a spawned child process at the app's lower priority: the GUI process
    never loads torch, and the child never loads Qt.

    ``config``: None (the defaults), a dict of TrainConfig overrides, or a TrainConfig.
    """
    return in_child(
        app_training, snapshot, config, export_onnx, name="training", niceness=niceness(interactive=True)
    )


def train_job(snapshot: TrainRequest, config: Any = None, *, export_onnx: bool = True) -> Fn:
    """The same training in this process (tests)."""
    return app_training(snapshot, config, export_onnx)


# --- prediction -------------------------------------------------------------------------------


def predict_image(
    predictor: Any,
    image: np.ndarray,
    image_path: Path,
    settings: ProposalSettings,
    cancel: threading.Event | None = None,
) -> PredictionResult:
    """Run the model on one image and make proposal shapes with ``settings`` (the service's steps)."""
    return propose_image(predictor, image, settings, image_path=image_path, cancel=cancel)


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
    """Predict ``targets`` (images not reviewed): score uncertainty, and with ``write`` save proposals.

    Which images and which shapes: :mod:`segdesk.services.proposal_files` (the rule of ``predict
    --write``): an image is (re-)proposed while nobody labelled it or its proposals came from another
    model version; only proposals are replaced, and a reviewed file is never written. Each file is
    checked when its turn comes (the person may have saved it meanwhile).
    """

    def run(cancel: threading.Event, report: Report) -> BatchOutcome:
        from segdesk.core.errors import SegdeskError

        predictor = load_predictor(model_path)
        project = Project(root)
        version = predictor.model_version
        # the same record `segdesk predict --write` leaves, so `predict --resume` knows these files
        backend = getattr(getattr(predictor, "backend", None), "name", "auto")
        tiling = {"tile": DEFAULT_TILE, "overlap": DEFAULT_OVERLAP, "backend": backend}
        stamp = proposal_stamp(version, {**tiling, **settings.to_dict()})
        written: list[int] = []
        scores: list[tuple[int, float]] = []
        skipped: list[str] = []
        for n, (index, entry) in enumerate(targets):
            if cancel.is_set():
                raise Cancelled("prediction cancelled")
            report(BatchStatus(n, len(targets), Path(entry.image_path).name, tuple(written)))
            if not wants_proposals(project, entry, version):
                continue
            try:
                result = predict_image(
                    predictor, _read_image(entry), Path(entry.image_path), settings, cancel
                )
                scores.append((index, result.uncertainty))
                if write and result.shapes and write_proposals(project, entry, result.shapes, stamp).written:
                    written.append(index)
            except SegdeskError as exc:
                if isinstance(exc, Cancelled):
                    raise
                skipped.append(str(exc))
        report(BatchStatus(len(targets), len(targets), "", tuple(written)))
        scores.sort(key=lambda item: -item[1])
        return BatchOutcome(tuple(written), scores, predictor.model_version, skipped)

    return run


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
        from segdesk.services.onnx_export import export_and_verify, resolve_model, verification_sample

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


def masks_job(
    root: Path,
    out_dir: Path,
    *,
    fmt: str,
    include_unreviewed: bool,
    with_proposals: bool,
    ignore_value: int,
    overwrite: bool,
    val_fraction: float = 0.0,
) -> Fn:
    """A job function exporting masks with segdesk.core (no ml needed)."""

    def run(cancel: threading.Event, report: Report) -> ExportReport:
        return export_masks(  # Cancelled propagates: the job reports it as cancelled
            root,
            out_dir,
            fmt=fmt,  # type: ignore[arg-type]
            include_unreviewed=include_unreviewed,
            with_proposals=with_proposals,
            ignore_value=ignore_value,
            overwrite=overwrite,
            val_fraction=val_fraction,
            cancel=cancel,
            progress=report,
        )

    return run


def import_masks_job(
    root: Path,
    masks_dir: Path,
    *,
    labels: str | None,
    object_label: str | None,
    skip_unmasked: bool,
    yolo: bool = False,
    skip_annotated: bool,
    overwrite: bool,
) -> Fn:
    """File > Import masks: the command's importers (``segdesk import-masks``, ``import-coco``), JSON
    beside the project's images. ``masks_dir`` a file: a COCO file; else ``object_label``: one polygon
    per object (instance maps), else ``labels``."""

    def run(cancel: threading.Event, report: Report) -> ImportReport:
        options: dict[str, Any] = {
            "skip_annotated": skip_annotated,
            "overwrite": overwrite,
            "cancel": cancel,  # Cancelled propagates: the job reports it as cancelled
            "progress": lambda done, total: report(ImportProgress(done, total)),
        }
        if masks_dir.is_file():
            return import_coco(masks_dir, root, **options)
        if yolo:  # a folder of YOLO label files; ``labels``: the class names by id
            return import_yolo(masks_dir, root, labels or "", **options)
        options["skip_unmasked"] = skip_unmasked
        if object_label:
            return import_instances(root, masks_dir, object_label, **options)
        return import_masks(root, masks_dir, labels or "", **options)

    return run


@dataclass(frozen=True)
class ImportProgress:
    done: int
    total: int


__all__ = [
    "ImportProgress",
    "import_masks_job",
    "masks_job",
    "BatchOutcome",
    "BatchStatus",
    "OnnxExportOutcome",
    "TrainOutcome",
    "TrainSnapshot",
    "TrainStatus",
    "batch_job",
    "export_onnx_job",
    "load_predictor",
    "predict_image",
    "predict_job",
    "snapshot_training",
    "train_in_child",
    "train_job",
    "warm_up_job",
]
