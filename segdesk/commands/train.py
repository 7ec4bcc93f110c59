"""``segdesk train DIR``: train on a project's reviewed images and save a new model version.

``segdesk/cli.py`` parses the arguments and calls ``train_command``. The run itself is the app's
Retrain (:func:`segdesk.services.training.train`): fine-tune the current model (a new head when
classes were added), save the result as a new version, and make it current only when the promotion
verdict (``segdesk.ml.training.promotion``) says so. This module prints its progress.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from segdesk.commands.train_options import add_train_arguments  # noqa: F401  (the options live there)
from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, SegdeskError, TrainingError
from segdesk.core.project import Project
from segdesk.core.training_settings import SETTINGS_FILE
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.data import TrainingSet
from segdesk.ml.training.events import Checking
from segdesk.ml.training.plan import plan_of, planned
from segdesk.ml.training.train import (
    EpochEnd,
    TrainConfig,
    TrainProgress,
    TrainResult,
    fine_tune,
)
from segdesk.services import training
from segdesk.services.train_settings import with_settings
from segdesk.services.warm_start import note_in_plan, set_aside_note

Out = Callable[[str], None]


def progress_bar(fraction: float, width: int = 24) -> str:
    done = int(round(min(max(fraction, 0.0), 1.0) * width))
    return "[" + "#" * done + "." * (width - done) + "]"


def train_project(
    folder: str | Path,
    config: TrainConfig,
    cancel: CancelToken | None = None,
    *,
    from_scratch: bool = False,
    new_architecture: bool = False,
    val_fraction: float | None = None,
    entries: Any = None,
    overrides: dict[str, Any] | None = None,
    warm_start: bool | None = None,
) -> Iterator[Any]:
    """fine_tune on a project folder, prepared as the training service prepares every run.

    Yields first the service's ``Prepared`` (dataset, store, base version, warm start), then
    the ``Plan`` (``ml/training/plan.py``; ``overrides`` fix some of its fields), then fine_tune's records; the
    last one is a TrainResult. (The distributed trainer's rank 0 plans with it.)
    """
    request = training.request_for(
        Project(Path(folder)),
        from_scratch=from_scratch,
        val_fraction=val_fraction,
        new_architecture=new_architecture,
        entries=entries,
        warm_start=warm_start,
    )
    config = with_settings(config, request.settings)
    prepared = training.prepare(request, config)
    yield prepared
    config = note_in_plan(planned(prepared.dataset, config, prepared.model, overrides), prepared.warm_start)
    yield plan_of(config)
    yield from fine_tune(
        prepared.dataset, config, cancel, model=prepared.model, model_classes=prepared.model_classes
    )


def make_config(
    *,
    minutes: float | None = None,
    device: str = "auto",
    threads: int | None = None,
    seed: int = 0,
    base_width: int | None = None,
    depth: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    patch_size: int | None = None,
    scale: float | None = None,
    min_steps: int | None = None,
    prior_correction: bool | None = None,
) -> TrainConfig:
    """The TrainConfig of the command-line options (None = not given: the project's training settings,
    else the service's default). What was given is fixed (``plan["overrides"]``): the plan keeps it
    and the project's settings do not replace it (``services/train_settings.py``)."""
    cap = training.DEFAULT_MINUTES if minutes is None else minutes
    config = training.default_config(minutes=cap, device=device, threads=threads, seed=seed)
    given = {
        "base_width": base_width,
        "depth": depth,
        "batch_size": batch_size,
        "patch_size": patch_size,
        "scale": scale,
        "min_steps": min_steps,
    }
    fixed = {k: v for k, v in given.items() if v is not None}
    config = dataclasses.replace(config, **fixed)
    if minutes is not None:
        fixed["minutes"] = minutes
    if prior_correction is not None:
        config = dataclasses.replace(config, prior_correction=prior_correction)
        fixed["prior_correction"] = prior_correction
    if fixed:
        config = dataclasses.replace(config, plan={"overrides": fixed})
    if epochs is not None:
        if epochs < 1:
            raise TrainingError(f"epochs must be at least 1, not {epochs}")
        config = dataclasses.replace(config, minutes=None, max_epochs=epochs, patience=0)
    return config


def train_command(
    folder: str | Path,
    *,
    minutes: float | None = None,
    device: str = "auto",
    base_width: int | None = None,
    depth: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    from_scratch: bool = False,
    warm_start: bool | None = None,
    val_fraction: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    patch_size: int | None = None,
    scale: float | None = None,
    min_steps: int | None = None,
    use_elsewhere: bool = False,
    skip_empty: bool = False,
    prior_correction: bool | None = None,
    out: Out = print,
    bar: Out | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Train on ``folder``'s reviewed images; 0 on success, 1 on an error, 130 when cancelled.

    ``out`` receives whole lines (epoch metrics, results); ``bar``, if given, a progress-bar line a
    few times a second (a terminal shows it with a carriage return). ``epochs``: train exactly that
    many epochs with no time budget (repeatable). ``use_elsewhere``: images labelled elsewhere train
    too (recorded as confirmed); ``skip_empty``: reviewed images without a shape are left out.
    ``prior_correction``: False keeps the rare classes' odds as trained (``ml/training/prior.py``).
    """
    try:
        config = make_config(
            minutes=minutes,
            device=device,
            threads=threads,
            seed=seed,
            base_width=base_width,
            depth=depth,
            epochs=epochs,
            batch_size=batch_size,
            patch_size=patch_size,
            scale=scale,
            min_steps=min_steps,
            prior_correction=prior_correction,
        )
        new_arch = base_width is not None or depth is not None
        entries = plan_for_cli(folder, use_elsewhere=use_elsewhere, skip_empty=skip_empty, out=out)
        start_from = (from_scratch, new_arch, warm_start)
        return _train(folder, config, start_from, val_fraction, out, bar, cancel, entries)
    except (Cancelled, KeyboardInterrupt):
        out("training cancelled; no model saved")
        return 130
    except SegdeskError as exc:
        out(f"error: {exc}")
        return 1


def _train(
    folder: str | Path,
    config: TrainConfig,
    start_from: tuple[bool, bool, bool | None],
    val_fraction: float | None,
    out: Out,
    bar: Out | None,
    cancel: CancelToken | None,
    entries: Any = None,
) -> int:
    from_scratch, new_arch, warm_start = start_from
    request = training.request_for(
        Project(Path(folder)),
        from_scratch=from_scratch,
        val_fraction=val_fraction,
        new_architecture=new_arch,
        entries=entries,
        warm_start=warm_start,
    )
    if request.settings.fixed():
        out(f"this project's training settings ({SETTINGS_FILE}): {request.settings.describe()}")
    outcome = training.train(request, config, cancel, printer(out, bar))
    say_outcome(outcome, out)
    return 0


def plan_for_cli(folder: str | Path, *, use_elsewhere: bool, skip_empty: bool, out: Out) -> Any:
    """The images that train (core/training_plan.py, the app's rule), said before training starts."""
    from segdesk.core.project import Project
    from segdesk.core.training_plan import confirm_elsewhere, plan_training

    project = Project(folder)
    plan = plan_training(project, use_elsewhere=use_elsewhere, skip_empty=skip_empty)
    if not plan.entries and not project.entries():
        from segdesk.core.image_folders import no_images_text

        raise TrainingError(no_images_text(project.root))
    if use_elsewhere and plan.elsewhere:
        confirm_elsewhere(project, plan.elsewhere)
        out(f"confirmed {len(plan.elsewhere)} image(s) labelled elsewhere for training (--use-elsewhere)")
    for line in plan.describe():
        out(line)
    if plan.elsewhere and not use_elsewhere:
        out("  (--use-elsewhere trains them too and records that you confirmed them)")
    if any(e in plan.entries for e in plan.empty_reviewed):
        out("  (--skip-empty leaves reviewed images without shapes out)")
    if not plan.entries:
        raise TrainingError(
            f"{project.root}: no reviewed images to train on; mark images reviewed in the app (R), "
            "or pass --use-elsewhere to train on images labelled elsewhere"
        )
    return plan.entries


#: The after-training lines a terminal shows (saving is followed by "saved vN" anyway).
CHECKS = ("prior", "checking", "calibrating")


def printer(out: Out, bar: Out | None) -> Callable[[object], None]:
    """An ``on_event`` for :func:`segdesk.services.training.train` that prints what a terminal shows."""

    def on_event(event: object) -> None:
        if isinstance(event, training.Phase):
            if event.name == "started" and event.prepared is not None:
                p = event.prepared
                announce(
                    p.dataset,
                    p.base_version or warm_label(p.warm_start, p.set_aside, p.set_aside_reason),
                    out,
                )
                if event.prepared.plan is not None:
                    say_plan(event.prepared.plan, out)
            elif event.name in CHECKS and event.prepared is not None:
                out(training.after_steps_text(event.name, len(event.prepared.dataset.val)))
        else:
            print_event(event, out, bar)

    return on_event


def warm_label(warm_start: str | None, set_aside: str | None = None, why: str = "") -> str | None:
    """What the first lines say about a warm start (None: none)."""
    if not warm_start:
        return None
    label = f"the shipped generalist model ({warm_start}), a new head"
    if set_aside:
        label += set_aside_note(set_aside, why)
    return label


def announce(dataset: TrainingSet, base_version: str | None, out: Out, ranks: int = 1) -> None:
    """The first lines of a training run."""
    from segdesk.core.instances import base_class_name, folded_class_names, is_boundary_class

    where = f" on {ranks} ranks" if ranks > 1 else ""
    shown = folded_class_names(dataset.class_names)
    split = [base_class_name(n) for n in dataset.class_names if is_boundary_class(n)]
    objects = f" (separate objects: {', '.join(split)})" if split else ""
    out(
        f"training{where} on {len(dataset.train)} reviewed image(s), validating on {len(dataset.val)} "
        f"({dataset.split}); classes: {', '.join(shown)}{objects}"
    )
    out(f"starting from {base_version}" if base_version else "starting from a new model")


def print_event(event: object, out: Out, bar: Out | None) -> None:
    """One of fine_tune's records: epoch lines to ``out``, a progress bar to ``bar``."""
    if isinstance(event, TrainProgress) and bar is not None:
        fraction = event.elapsed_s / max(event.elapsed_s + event.eta_s, 1e-6)
        bar(
            f"{progress_bar(fraction)} epoch {event.epoch + 1} step {event.step} "
            f"loss {event.loss:.4f} lr {event.lr:.2e} {event.patches_per_s:.1f} patches/s "
            f"ETA {event.eta_s:.0f}s"
        )
    elif isinstance(event, Checking) and event.what in CHECKS:
        out(training.after_steps_text(event.what, event.images))
    elif isinstance(event, EpochEnd):
        if bar is not None:
            bar("")
        mark = " *" if event.improved else ""
        loss = "start" if event.epoch == 0 else f"loss {event.train_loss:.4f}"
        out(f"epoch {event.epoch:3d} ({event.elapsed_s:5.0f}s) {loss} val {event.metrics.summary()}{mark}")


def report_events(events: Iterator[Any], out: Out, bar: Out | None) -> TrainResult:
    """Print fine_tune's records (see :func:`print_event`); the TrainResult."""
    result: TrainResult | None = None
    for event in events:
        if isinstance(event, TrainResult):
            result = event
        elif hasattr(event, "summary") and hasattr(event, "reasons"):  # the Plan
            say_plan(event, out)
        else:
            print_event(event, out, bar)
    if result is None:
        raise TrainingError("training ended without a result")
    return result


def say_plan(plan: Any, out: Out) -> None:
    """The plan's line and its reasons (ml/training/plan.py)."""
    from segdesk.services.warm_start import FROM_GENERALIST

    out(f"plan: {plan.summary()}")
    for reason in plan.reasons:
        if not reason.startswith(f"started {FROM_GENERALIST}"):  # the run's first lines said so
            out(f"  {reason}")


def say_outcome(outcome: training.TrainOutcome, out: Out) -> None:
    """The last lines of a run: what was trained, saved and made current."""
    out(
        f"done: {outcome.epochs} epochs, {outcome.steps} steps in {outcome.elapsed_s:.0f}s "
        f"({outcome.stop_reason}); {outcome.summary}"
    )
    if outcome.split == "all-for-both":
        why = "fewer than 3 reviewed images, so" if outcome.images < 3 else "--val-fraction 0:"
        out(f"note: {why} validation used the training images (optimistic)")
    if outcome.note:
        out(f"note: {outcome.note}")
    if outcome.objects_note:
        out(outcome.objects_note)
    if outcome.unchanged:
        out(f"{outcome.reason}; {outcome.version} stays current (review more images, then retrain)")
    elif outcome.promoted:
        out(f"saved {outcome.version} and made it current ({outcome.reason})")
    elif outcome.useless:
        kept = f"; {outcome.previous_version} stays current" if outcome.previous_version else ""
        out(f"saved {outcome.version} but did not make it current{kept}: {outcome.reason}")
    else:
        out(
            f"saved {outcome.version} but kept {outcome.previous_version} current ({outcome.reason}); "
            f"use the model panel to switch"
        )


def finish_training(
    result: TrainResult,
    dataset: TrainingSet,
    store: ModelStore,
    base_version: str | None,
    out: Out,
    warm_start: str | None = None,
) -> str:
    """Decide promotion and save (the service's :func:`~segdesk.services.training.save_run`) for a run
    made elsewhere (rank 0 of a distributed run); say what happened. The version name."""
    prepared = training.Prepared(dataset, store, None, None, base_version, warm_start=warm_start)
    saved = training.save_run(result, prepared)
    outcome = training.outcome_of(result, prepared, saved)
    say_outcome(outcome, out)
    return saved.version


def distributed_precheck(args: argparse.Namespace, *, out: Out = print) -> int | None:
    """What ``--distributed`` needs before the ranks start: an exit status to stop with, or None."""
    if getattr(args, "skip_empty", False):
        out("error: --skip-empty does not work with --distributed yet; un-review those images instead")
        return 1
    if getattr(args, "use_elsewhere", False) and os.environ.get("RANK", "0") == "0":
        try:  # recorded in the files before rank 0 plans, so its plan (the same rule) takes them
            plan_for_cli(args.folder, use_elsewhere=True, skip_empty=False, out=out)
        except SegdeskError as exc:
            out(f"error: {exc}")
            return 1
    return None


def train_from_args(args: argparse.Namespace, *, out: Out = print, bar: Out | None = None) -> int:
    """Run :func:`train_command` with parsed options (``--distributed`` runs are ``segdesk.cli``'s to
    hand to ``commands.distributed`` after :func:`distributed_precheck`)."""
    return train_command(
        args.folder,
        minutes=args.minutes,
        device=args.device,
        base_width=args.base_width,
        depth=args.depth,
        threads=args.threads,
        seed=args.seed,
        from_scratch=args.from_scratch,
        warm_start=getattr(args, "warm_start", None),
        val_fraction=args.val_fraction,
        epochs=args.epochs,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        scale=getattr(args, "scale", None),
        min_steps=getattr(args, "min_steps", None),
        use_elsewhere=getattr(args, "use_elsewhere", False),
        skip_empty=getattr(args, "skip_empty", False),
        prior_correction=False if getattr(args, "no_prior_correction", False) else None,
        out=out,
        bar=bar,
    )


def terminal_bar(stream: Any = None) -> Out | None:
    """A ``bar`` callback that redraws one line on a terminal (None when not a terminal)."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None

    def draw(line: str) -> None:
        stream.write("\r\033[K" + line)
        stream.flush()

    return draw
