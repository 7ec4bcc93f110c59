"""Train, decide promotion, save: the one retrain the app's training process and ``segdesk train`` run.

Data flow: a :class:`TrainRequest` (which images train: a list of entries, so a training plan plugs in
by choosing them; the base version; the classes) -> :func:`prepare` (rasterize the images, load the
base model) -> ``segdesk.ml.training.train.fine_tune`` -> a promotion verdict (``segdesk.ml.training.promotion``; any
function of that signature plugs in) -> :func:`save_run` (a new version, NaN-free metadata, current
when promoted) -> optionally the ONNX export for fast CPU proposals. Progress goes to ``on_event``:
fine_tune's records (``services/train_status.py`` turns them into the panel's records). A run
without a base model starts from the shipped generalist (the warm start: ``services/warm_start.py``).

The defaults are stated here, once: :func:`default_config` (the budget) and :func:`niceness` (a
training run beside a person working in the window yields the CPU to them; a headless one does not).
Torch is imported inside the functions that train.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, SegdeskError, TrainingError
from segdesk.core.project import ImageEntry, Project
from segdesk.core.split_record import describe_split
from segdesk.core.training_settings import TrainingSettings, load_settings
from segdesk.services.onnx_export import export_here
from segdesk.services.train_settings import first, fixes_architecture, with_settings
from segdesk.services.warm_start import note_in_plan, plan_line, set_aside_reason, starting_model

#: The time budget of a retrain, in minutes, in the app and on the command line alike.
DEFAULT_MINUTES = 2.0
#: Share of the reviewed images a run holds out (at least one image; none with fewer than 3).
DEFAULT_VAL_FRACTION = 0.2
#: Epochs without a better held-out mIoU before a run stops early.
DEFAULT_PATIENCE = 20
#: The CPU priority of a training process started from the window: proposals and painting come first.
APP_NICENESS = 10


def niceness(*, interactive: bool) -> int:
    """How much to lower a training run's CPU priority: the window's runs yield, headless runs do not
    (measured on 2 cores, docs/benchmarks.md: proposals during a Retrain 217-339 ms niced, 346-513 ms not)."""
    return APP_NICENESS if interactive else 0


def default_config(**overrides: Any) -> Any:
    """The one default ``TrainConfig`` (``DEFAULT_MINUTES``, ``DEFAULT_PATIENCE``, torch's threads),
    with ``overrides`` (TrainConfig field names)."""
    from segdesk.ml.training.train import TrainConfig

    config = TrainConfig(minutes=DEFAULT_MINUTES, patience=DEFAULT_PATIENCE, threads=None)
    return dataclasses.replace(config, **overrides) if overrides else config


def resolve_config(config: Any = None) -> Any:
    """``config`` as a TrainConfig: None = :func:`default_config`, a dict = its overrides."""
    if config is None or isinstance(config, dict):
        return default_config(**(config or {}))
    return config


@dataclass(frozen=True)
class TrainRequest:
    """The inputs of one run, fixed when it is asked for (picklable: it crosses into the child)."""

    root: Path
    entries: tuple[ImageEntry, ...]  # the images that train (a plan chooses them)
    class_names: tuple[str, ...]
    base_version: str | None  # the model to fine-tune; None = a new model
    val_fraction: float = 0.2
    new_architecture: bool = False  # a base of another width/depth than the config's is not fine-tuned
    warm_start: bool | None = None  # without a base: from the shipped generalist? None: where it helps
    settings: TrainingSettings = TrainingSettings()  # the project's (core/training_settings.py)


def request_for(
    project: Project,
    *,
    entries: Sequence[ImageEntry] | None = None,
    from_scratch: bool = False,
    val_fraction: float | None = None,
    new_architecture: bool = False,
    warm_start: bool | None = None,
) -> TrainRequest:
    """The request for ``project``: ``entries`` (default: its reviewed images) on its current model,
    with the project's training settings. ``val_fraction`` and ``warm_start``: None = the project's
    setting, else 0.2 and "where it helps".

    Raises TrainingError when nothing would train, ProjectError when the settings file is damaged.
    """
    from segdesk.core.model_store import ModelStore

    if entries is None:
        from segdesk.core.training_plan import plan_training

        entries = plan_training(project).entries  # the one rule of what trains
    chosen = tuple(entries)
    if not chosen:
        raise TrainingError(
            f"{project.root}: no reviewed images yet; correct a few images and mark each reviewed "
            "(R), then Retrain"
        )
    base = None if from_scratch else ModelStore(project.root).current()
    settings = load_settings(project.root)
    return TrainRequest(
        Path(project.root),
        chosen,
        tuple(project.class_names()),
        base,
        val_fraction=first(val_fraction, settings.val_fraction, DEFAULT_VAL_FRACTION),
        new_architecture=new_architecture or fixes_architecture(settings),
        warm_start=first(warm_start, settings.warm_start),
        settings=settings,
    )


@dataclass
class Prepared:
    """What a run starts from: the rasterized images, the store and the base model (None: new)."""

    dataset: Any
    store: Any
    model: Any
    model_classes: list[str] | None
    base_version: str | None
    plan: Any = None  # segdesk.ml.training.plan.Plan, once the run is planned
    warm_start: str | None = None  # the shipped generalist the new model starts from (warm_start.py)
    set_aside: str | None = None  # the current version not fine-tuned (``warm_start.set_aside_reason``)
    set_aside_reason: str = ""  # why (said by the CLI's first lines)


def prepare(request: TrainRequest, config: Any, cancel: CancelToken | None = None) -> Prepared:
    """Read the request's images and load its base model. Raises TrainingError, ModelError, Cancelled."""
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.training.instance_targets import instance_training_set
    from segdesk.ml.training.setup import check_dataset

    store = ModelStore(request.root)
    # the reviewed images, with a boundary class for object classes whose objects touch (issue 17);
    # held out where the current model never trained, so that the two compare fairly
    dataset = instance_training_set(
        request.root,
        class_names=request.class_names,
        entries=request.entries,
        val_fraction=request.val_fraction,
        seed=config.seed,
        cancel=cancel,
        known=trained_on(store, store.current()),
    )
    check_dataset(dataset)  # one class only: said before a plan is made or a model loaded
    if request.base_version is not None:
        model, meta = store.load(request.base_version)
        other = model.config.base_width != config.base_width or model.config.depth != config.depth
        if not (request.new_architecture and other):
            why = set_aside_reason(meta, dataset)
            warm = starting_model(dataset, config, warm_start=request.warm_start) if why else None
            if warm is not None:
                return Prepared(
                    dataset, store, warm.model, warm.classes, None, warm_start=warm.name,
                    set_aside=request.base_version, set_aside_reason=why or "",
                )  # fmt: skip
            return Prepared(dataset, store, model, list(meta["classes"]), request.base_version)
    warm = starting_model(dataset, config, warm_start=request.warm_start)  # None: from random weights
    if warm is None:
        return Prepared(dataset, store, None, None, None)
    return Prepared(dataset, store, warm.model, warm.classes, None, warm_start=warm.name)


def trained_on(store: Any, version: str | None) -> frozenset[str]:
    """The image names model ``version`` trained on (its checkpoint's ``images``); empty when there
    is no such model or its file does not say (an older or damaged checkpoint: nothing is avoided)."""
    if version is None:
        return frozenset()
    try:
        images = store.info(version).get("images")
    except SegdeskError:
        return frozenset()
    return frozenset(str(n) for n in images) if isinstance(images, list) else frozenset()


def finite(value: Any) -> Any:
    """``value`` with every NaN / infinite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


@dataclass
class Saved:
    version: str
    promotion: Any  # segdesk.ml.training.promotion.Promotion
    objects_note: str = ""  # how its objects are split (core.split_record.describe_split)
    unchanged: bool = False  # nothing saved: the starting model did best (``version`` is it)


def save_run(
    result: Any,
    prepared: Prepared,
    *,
    verdict: Callable[..., Any] | None = None,
    emit: Callable[[object], None] | None = None,
    cancel: CancelToken | None = None,
) -> Saved:
    """Ask the verdict, save the run as a new version (current when promoted). Raises ModelError,
    Cancelled (before anything is saved). ``emit`` gets a ``Phase`` as each step starts: "checking"
    (the verdict), "calibrating" (how objects split), "saving"."""
    from segdesk.ml.training.instance_targets import instance_meta
    from segdesk.ml.training.promotion import promote_decision

    def phase(name: str) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("training cancelled")
        if emit is not None:
            emit(Phase(name, prepared))

    base = prepared.base_version
    if getattr(result, "kept_start", False) and base is not None:  # the same weights again: no copy
        from segdesk.ml.training.promotion import Promotion

        n = len(prepared.dataset.val)
        reason = f"no epoch did better than {base} on the {n} held-out image(s), so nothing new was saved"
        miou = float(result.metrics.miou)
        return Saved(base, Promotion(False, miou, base, miou, reason), unchanged=True)
    phase("checking")
    decision = (verdict or promote_decision)(result, prepared.dataset, prepared.store)
    meta: dict[str, Any] = result.meta()
    meta["promotion"] = dataclasses.asdict(decision)
    meta["base_version"] = prepared.base_version
    meta.update(instance_meta(prepared.dataset))  # which classes are objects (issue 17)
    if "instances" in meta:  # the split settings its objects come out best with (held-out images)
        from segdesk.services.split_calibration import calibrate_model

        phase("calibrating")
        record = calibrate_model(result.model, meta, prepared.dataset, cancel)
        if record is not None:
            meta["instances"]["split"] = record
    phase("saving")
    meta["warm_start"] = prepared.warm_start
    if prepared.set_aside:
        meta["set_aside"] = prepared.set_aside
    # A fine-tune's history starts with the base model's validation (no training loss).
    version = prepared.store.add_version(result.model, finite(meta), make_current=decision.promote)
    return Saved(version, decision, describe_split(meta.get("instances", {}).get("split")))


@dataclass
class TrainOutcome:
    """A finished run, in plain values (it crosses back from the training process)."""

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
    steps: int = 0
    summary: str = ""
    useless: bool = False  # kept as a version but not made current (ml/training/promotion.py says why)
    note: str = ""  # e.g. that the time cap cut training short of the planned steps
    plan: str = ""  # the plan's line (ml/training/plan.py)
    objects_note: str = ""  # how its objects are split and why ("" without objects)
    unchanged: bool = False  # nothing saved: the starting model (``version``) did best and stays


#: What ``train`` tells ``on_event`` besides fine_tune's records.
@dataclass(frozen=True)
class Phase:
    name: str  # "loading" | "started" | "checking" | "calibrating" | "saving" | "exporting"
    prepared: Prepared | None = None


#: What a person is told between the last training step and the outcome, in the panel and the
#: terminal alike (each takes a few seconds; ``{n}``: the held-out images). "prior" comes from
#: fine_tune's ``Checking`` record, the others are :class:`Phase` names.
AFTER_STEPS = {
    "prior": "checking the rare classes' odds on {n} held-out image(s)",
    "checking": "checking the new model on {n} held-out image(s)",
    "calibrating": "choosing how touching objects are split",
    "saving": "saving the new model",
    "exporting": "preparing the fast CPU model",
}


def after_steps_text(name: str, held_out: int) -> str | None:
    """The line for ``name`` of :data:`AFTER_STEPS` (None for any other phase)."""
    text = AFTER_STEPS.get(name)
    return None if text is None else text.format(n=held_out) + " ..."


def train(
    request: TrainRequest,
    config: Any,
    cancel: CancelToken | None = None,
    on_event: Callable[[object], None] | None = None,
    *,
    verdict: Callable[..., Any] | None = None,
    export_onnx: bool = False,
) -> TrainOutcome:
    """Fine-tune, decide, save (and export). Raises TrainingError, ModelError, Cancelled.

    ``on_event`` receives ``Phase`` records and fine_tune's ``TrainProgress`` / ``EpochEnd``. A
    cancel after the last epoch still keeps the old model (nothing is saved).
    """
    from segdesk.ml.training.train import TrainResult, fine_tune

    emit = on_event or (lambda _event: None)
    emit(Phase("loading"))
    config = with_settings(config, request.settings)  # the project's; the command line's options win
    prepared = prepare(request, config, cancel)
    from segdesk.ml.training.plan import plan_of, planned

    config = planned(prepared.dataset, config, prepared.model, None)  # the data's plan (ml/training/plan.py)
    config = note_in_plan(config, prepared.warm_start)
    prepared.plan = plan_of(config)
    emit(Phase("started", prepared))
    result: TrainResult | None = None
    for event in fine_tune(
        prepared.dataset, config, cancel, model=prepared.model, model_classes=prepared.model_classes
    ):
        if isinstance(event, TrainResult):
            result = event
        else:
            emit(event)
    if result is None:
        raise TrainingError(f"{request.root}: training ended without a result")
    if cancel is not None and cancel.is_set():
        raise Cancelled("training cancelled")
    saved = save_run(result, prepared, verdict=verdict, emit=emit, cancel=cancel)
    outcome = outcome_of(result, prepared, saved)
    if export_onnx and not saved.unchanged and not (cancel is not None and cancel.is_set()):
        emit(Phase("exporting", prepared))
        outcome.onnx_error = export_here(prepared.store.path(saved.version))
    return outcome


def outcome_of(result: Any, prepared: Prepared, saved: Saved) -> TrainOutcome:
    """A saved run in plain values (what crosses back from the training process and what the CLI says)."""
    decision = saved.promotion
    return TrainOutcome(
        version=saved.version,
        promoted=decision.promote,
        reason=decision.reason,
        miou=float(decision.new_miou),
        previous_version=decision.current_version,
        previous_miou=decision.current_miou,
        epochs=result.epochs,
        elapsed_s=result.elapsed_s,
        stop_reason=result.stop_reason,
        images=len(prepared.dataset.train),
        split=prepared.dataset.split,
        steps=result.steps,
        summary=result.metrics.summary(),
        useless=bool(getattr(decision, "useless", False)),
        note=result.note,
        plan=plan_line(prepared.plan, prepared.warm_start),
        objects_note=saved.objects_note,
        unchanged=saved.unchanged,
    )


__all__ = [
    "AFTER_STEPS",
    "APP_NICENESS",
    "DEFAULT_MINUTES",
    "DEFAULT_PATIENCE",
    "Phase",
    "Prepared",
    "Saved",
    "TrainOutcome",
    "TrainRequest",
    "after_steps_text",
    "default_config",
    "export_here",
    "finite",
    "niceness",
    "outcome_of",
    "prepare",
    "request_for",
    "resolve_config",
    "save_run",
    "train",
]
