"""``segdesk train DIR``: train on a project's reviewed images and save a new model version.

The logic lives here (the lead's cli.py parses arguments and calls ``train_command``); the app's
retrain button follows the same steps through ``train_project`` and ``promote_decision``:
fine-tune the current model (a new head when classes were added), save the result as a new
version, and make it current only when its held-out mIoU is not worse than the current model's
on the same images.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segdesk.core.errors import Cancelled, SegdeskError, TrainingError
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.data import TrainingSet, training_set_from_project
from segdesk.ml.model import UNet
from segdesk.ml.train import (
    CancelToken,
    EpochEnd,
    TrainConfig,
    TrainProgress,
    TrainResult,
    evaluate,
    fine_tune,
)

Out = Callable[[str], None]


@dataclass
class Promotion:
    """Whether a new model should become current, and the numbers behind the decision."""

    promote: bool
    new_miou: float
    current_version: str | None
    current_miou: float | None
    reason: str
    useless: bool = False  # the candidate failed ``promotion.check_candidate``; reason says why


def base_model(
    store: ModelStore, *, config: TrainConfig, from_scratch: bool = False, new_architecture: bool = False
) -> tuple[UNet | None, list[str] | None, str | None]:
    """The current model to fine-tune (None to start fresh) with its classes and version.

    ``new_architecture``: the config's base width / depth were asked for explicitly; a current
    model of another size is then not fine-tuned, a new one is trained.
    """
    version = None if from_scratch else store.current()
    if version is None:
        return None, None, None
    model, meta = store.load(version)
    other = model.config.base_width != config.base_width or model.config.depth != config.depth
    if new_architecture and other:
        return None, None, None
    return model, list(meta["classes"]), version


def promote_decision(result: TrainResult, dataset: TrainingSet, store: ModelStore) -> Promotion:
    """A useless candidate (``promotion.check_candidate``) never becomes current; a useful one does
    when it is not worse than the current model on the same validation images."""
    from segdesk.ml.promotion import check_candidate
    from segdesk.ml.rescale import working_scale

    new = result.metrics.miou
    version = store.current()
    scale = float(result.config.get("scale", 1.0))
    verdict = check_candidate(result.model, dataset.val, dataset.class_names, scale=scale)
    if not verdict.useful:
        return Promotion(False, new, version, None, verdict.message(), useless=True)
    if version is None:
        return Promotion(True, new, None, None, "no current model")
    current, meta = store.load(version)
    if list(meta["classes"]) != list(dataset.class_names):
        return Promotion(True, new, version, None, "the classes changed")
    old = evaluate(current, dataset.val, dataset.class_names, scale=working_scale(meta)).miou
    if new + 1e-6 >= old:
        return Promotion(True, new, version, old, f"mIoU {new:.3f} >= {old:.3f} of {version}")
    return Promotion(False, new, version, old, f"mIoU {new:.3f} < {old:.3f} of {version}")


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
    val_fraction: float = 0.2,
    overrides: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """fine_tune on a project folder, starting from its current model (see ``base_model``).

    Yields first ``(dataset, store, base_version or None)`` (so callers can save and compare), then
    the ``Plan`` (``plan.py``; ``overrides`` fix some of its fields), then fine_tune's records; the
    last one is a TrainResult.
    """
    store = ModelStore(folder)
    dataset = training_set_from_project(folder, val_fraction=val_fraction, seed=config.seed)
    model, classes, version = base_model(
        store, config=config, from_scratch=from_scratch, new_architecture=new_architecture
    )
    yield dataset, store, version
    config = planned(dataset, config, model, overrides)
    yield plan_of(config)
    yield from fine_tune(dataset, config, cancel, model=model, model_classes=classes)


def planned(
    dataset: TrainingSet, config: TrainConfig, model: UNet | None, overrides: dict[str, Any] | None
) -> TrainConfig:
    """``config`` with the data's plan (``plan.plan_training``); a model being fine-tuned keeps its
    own width and depth (the plan's are for a new model). Fields the person fixed win: ``overrides``,
    ``config.plan["overrides"]`` (the CLI's options) and every planned field of ``config`` that
    differs from TrainConfig's default."""
    from segdesk.ml.plan import Plan, plan_training

    defaults = TrainConfig()
    fixed = {
        k: getattr(config, k) for k in Plan().train_fields() if getattr(config, k) != getattr(defaults, k)
    }
    fixed.update((config.plan or {}).get("overrides") or {})
    fixed.update(overrides or {})
    if model is not None:
        fixed.update(base_width=model.config.base_width, depth=model.config.depth)
    config, plan, _ = plan_training(dataset, config, overrides=fixed, measure_speed=model is None)
    return config


def plan_of(config: TrainConfig) -> Any:
    """The Plan a planned config carries."""
    from segdesk.ml.plan import Plan

    return Plan.from_dict(config.plan or {})


def make_config(
    *,
    minutes: float | None = 2.0,
    device: str = "auto",
    threads: int | None = None,
    seed: int = 0,
    base_width: int | None = None,
    depth: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    patch_size: int | None = None,
) -> TrainConfig:
    """The TrainConfig of the command-line options (None = the default)."""
    config = TrainConfig(minutes=minutes, device=device, threads=threads, seed=seed)
    given = {
        "base_width": base_width,
        "depth": depth,
        "batch_size": batch_size,
        "patch_size": patch_size,
    }
    config = dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})
    if epochs is not None:
        if epochs < 1:
            raise TrainingError(f"epochs must be at least 1, not {epochs}")
        config = dataclasses.replace(config, minutes=None, max_epochs=epochs, patience=0)
    return config


def train_command(
    folder: str | Path,
    *,
    minutes: float = 2.0,
    device: str = "auto",
    base_width: int | None = None,
    depth: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    from_scratch: bool = False,
    val_fraction: float = 0.2,
    epochs: int | None = None,
    batch_size: int | None = None,
    patch_size: int | None = None,
    out: Out = print,
    bar: Out | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Train on ``folder``'s reviewed images; 0 on success, 1 on an error, 130 when cancelled.

    ``out`` receives whole lines (epoch metrics, results); ``bar``, if given, a progress-bar line a
    few times a second (a terminal shows it with a carriage return). ``epochs``: train exactly that
    many epochs with no time budget (repeatable).
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
        )
        new_arch = base_width is not None or depth is not None
        fixed = {"base_width": base_width, "depth": depth, "batch_size": batch_size, "patch_size": patch_size}
        config = dataclasses.replace(
            config, plan={"overrides": {k: v for k, v in fixed.items() if v is not None}}
        )
        return _train(folder, config, (from_scratch, new_arch), val_fraction, out, bar, cancel)
    except (Cancelled, KeyboardInterrupt):
        out("training cancelled; no model saved")
        return 130
    except SegdeskError as exc:
        out(f"error: {exc}")
        return 1


def _train(
    folder: str | Path,
    config: TrainConfig,
    start_from: tuple[bool, bool],
    val_fraction: float,
    out: Out,
    bar: Out | None,
    cancel: CancelToken | None,
) -> int:
    from_scratch, new_arch = start_from
    events = train_project(
        folder,
        config,
        cancel,
        from_scratch=from_scratch,
        new_architecture=new_arch,
        val_fraction=val_fraction,
    )
    dataset, store, base_version = next(events)
    announce(dataset, base_version, out)
    result = report_events(events, out, bar)
    finish_training(result, dataset, store, base_version, out)
    return 0


def announce(dataset: TrainingSet, base_version: str | None, out: Out, ranks: int = 1) -> None:
    """The first lines of a training run."""
    where = f" on {ranks} ranks" if ranks > 1 else ""
    out(
        f"training{where} on {len(dataset.train)} reviewed image(s), validating on {len(dataset.val)} "
        f"({dataset.split}); classes: {', '.join(dataset.class_names)}"
    )
    out(f"starting from {base_version}" if base_version else "starting from a new model")


def report_events(events: Iterator[Any], out: Out, bar: Out | None) -> TrainResult:
    """Print fine_tune's records (epoch lines to ``out``, a progress bar to ``bar``); the TrainResult."""
    result: TrainResult | None = None
    for event in events:
        if isinstance(event, TrainProgress) and bar is not None:
            fraction = event.elapsed_s / max(event.elapsed_s + event.eta_s, 1e-6)
            bar(
                f"{progress_bar(fraction)} epoch {event.epoch + 1} step {event.step} "
                f"loss {event.loss:.4f} lr {event.lr:.2e} {event.patches_per_s:.1f} patches/s "
                f"ETA {event.eta_s:.0f}s"
            )
        elif isinstance(event, EpochEnd):
            if bar is not None:
                bar("")
            mark = " *" if event.improved else ""
            loss = "start" if event.epoch == 0 else f"loss {event.train_loss:.4f}"
            out(
                f"epoch {event.epoch:3d} ({event.elapsed_s:5.0f}s) {loss} val {event.metrics.summary()}{mark}"
            )
        elif isinstance(event, TrainResult):
            result = event
        elif hasattr(event, "summary") and hasattr(event, "reasons"):  # the Plan
            out(f"plan: {event.summary()}")
            for reason in event.reasons:
                out(f"  {reason}")
    assert result is not None
    return result


def finish_training(
    result: TrainResult, dataset: TrainingSet, store: ModelStore, base_version: str | None, out: Out
) -> str:
    """Decide promotion, save the new version (atomically) and say what happened; the version name.

    The one place that turns a finished run into a model version, for one process or rank 0 of many.
    """
    decision = promote_decision(result, dataset, store)
    meta: dict[str, Any] = result.meta()
    meta["promotion"] = dataclasses.asdict(decision)
    meta["base_version"] = base_version
    version = store.add_version(result.model, meta, make_current=decision.promote)
    out(
        f"done: {result.epochs} epochs, {result.steps} steps in {result.elapsed_s:.0f}s "
        f"({result.stop_reason}); {result.metrics.summary()}"
    )
    if dataset.split == "all-for-both":
        out("note: fewer than 3 reviewed images, so validation used the training images (optimistic)")
    if result.note:
        out(f"note: {result.note}")
    if decision.promote:
        out(f"saved {version} and made it current ({decision.reason})")
    elif decision.useless:
        kept = f"; {decision.current_version} stays current" if decision.current_version else ""
        out(f"saved {version} but did not make it current{kept}: {decision.reason}")
    else:
        out(
            f"saved {version} but kept {decision.current_version} current ({decision.reason}); "
            f"use the model panel to switch"
        )
    return version


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``segdesk train``."""
    defaults = TrainConfig()
    parser.add_argument("folder", metavar="DIR", help="a project folder (its reviewed images train)")
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="time budget (default: 2)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument(
        "--base-width",
        type=int,
        default=None,
        help=f"channels of a new model (default: {defaults.base_width})",
    )
    parser.add_argument("--depth", type=int, default=None, help=f"downsamplings (default: {defaults.depth})")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--from-scratch", action="store_true", help="do not start from the current model")
    parser.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of reviewed images held out (default: 0.2)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="train exactly N epochs, no time budget (repeatable)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"patches per step, over all ranks when distributed (default: {defaults.batch_size} per rank)",
    )
    parser.add_argument(
        "--patch-size", type=int, default=None, help=f"training patch size (default: {defaults.patch_size})"
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="train on several processes/GPUs/nodes; launch with torchrun (see docs/scaling.md)",
    )


def train_from_args(args: argparse.Namespace, *, out: Out = print, bar: Out | None = None) -> int:
    """Run :func:`train_command` (or, with ``--distributed``, the distributed one) with parsed options."""
    if getattr(args, "distributed", False):
        from segdesk.ml.distributed_cli import distributed_train_from_args

        return distributed_train_from_args(args, out=out, bar=bar)
    return train_command(
        args.folder,
        minutes=args.minutes,
        device=args.device,
        base_width=args.base_width,
        depth=args.depth,
        threads=args.threads,
        seed=args.seed,
        from_scratch=args.from_scratch,
        val_fraction=args.val_fraction,
        epochs=args.epochs,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
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
