"""``segdesk train DIR --distributed``: one rank of a torchrun job (see ``distributed`` for the design).

Rank 0 plans with the same code as one process (``commands.train.train_project``), sends the plan to the
others, every rank trains (``DistributedTrainer``), and rank 0 alone saves the version with
``commands.train.finish_training``; the others wait for it. A rank killed or failing ends the job: torchrun
sends SIGTERM to the others, which stop at once, say why, and write nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, SegdeskError, TrainingError
from segdesk.ml.data import TrainingSet
from segdesk.ml.training.distributed import DistributedTrainer, Rank, backend_and_device, broadcast_json
from segdesk.ml.training.train import TrainConfig, TrainEvent

LAUNCH_HELP = """\
--distributed runs one process per rank and must be started by torchrun, e.g.
  one machine, 2 processes (CPU, gloo):   torchrun --nproc_per_node 2 -m segdesk train DIR --distributed
  one machine, all its GPUs (NCCL):       torchrun --nproc_per_node gpu -m segdesk train DIR --distributed
  several machines (run on each):         torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
                                            --rdzv_endpoint HOST:29400 --rdzv_id JOB -m segdesk train DIR --distributed
DIR must be the same project folder on every machine (a shared file system). See docs/scaling.md."""


def whole_line(text: str) -> None:
    """Print ``text`` and its newline in one write: the ranks share one terminal or log, and print's
    separate writes interleaved there ("rank 0/2: pid 1, gloo on cpurank 1/2: pid 2, gloo on cpu")."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def distributed_train_from_args(args: argparse.Namespace, *, out: Any = None, bar: Any = None) -> int:
    """``segdesk train DIR --distributed`` with parsed ``add_train_arguments`` options."""
    return distributed_train_command(
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
        scale=getattr(args, "scale", None),
        min_steps=getattr(args, "min_steps", None),
        prior_correction=False if getattr(args, "no_prior_correction", False) else None,
        out=out,
        bar=bar,
    )


class _Stop:
    """A cancel token set by SIGTERM/SIGINT (torchrun's way of stopping the surviving ranks)."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def is_set(self) -> bool:
        return self.signal is not None


def distributed_train_command(
    folder: str | Path,
    *,
    minutes: float | None = None,
    device: str = "auto",
    base_width: int | None = None,
    depth: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    from_scratch: bool = False,
    val_fraction: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    patch_size: int | None = None,
    scale: float | None = None,
    min_steps: int | None = None,
    prior_correction: bool | None = None,
    out: Any = None,
    bar: Any = None,
    timeout_s: float = 1800.0,
) -> int:
    """One rank of a torchrun job. 0 done, 1 error (or another rank failed), 2 not under torchrun, 130 cancelled.

    Only rank 0 prints the run (the others print their start and their errors, prefixed ``rank N:``).
    ``timeout_s``: how long a rank waits for the others in one collective (rank 0's final evaluation
    and save included) before giving up. ``out``: a line writer (default: one whole line per write).
    """
    from segdesk.commands.train import make_config
    from segdesk.core.training_settings import load_settings
    from segdesk.services.train_settings import with_settings

    out = out or whole_line
    rank = Rank.from_env()
    if rank is None:
        out("segdesk train --distributed: not started by torchrun (RANK / WORLD_SIZE are not set).")
        out(LAUNCH_HELP)
        return 2
    tag = f"rank {rank.rank}/{rank.world_size}"
    say = out if rank.rank == 0 else (lambda line: None)
    try:
        backend, dev = backend_and_device(device, rank.local_rank)
        config = make_config(
            minutes=minutes,
            device=dev,
            threads=threads,
            seed=seed,
            base_width=base_width,
            depth=depth,
            epochs=epochs,
            batch_size=batch_size if batch_size is not None else TrainConfig.batch_size * rank.world_size,
            patch_size=patch_size,
            scale=scale,
            min_steps=min_steps,
            prior_correction=prior_correction,
        )
        config = with_settings(config, load_settings(folder))  # the project's; options given win
    except SegdeskError as exc:
        out(f"{tag}: error: {exc}")
        return 1
    stop = _Stop()
    previous = _install_stop_handlers(stop)
    out(f"{tag}: pid {os.getpid()}, {backend} on {dev}")
    try:
        if dev.startswith("cuda"):
            torch.cuda.set_device(torch.device(dev))
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        new_arch = base_width is not None or depth is not None
        return _run_rank(folder, config, (from_scratch, new_arch), val_fraction, stop, say, bar)
    except (Cancelled, KeyboardInterrupt):
        why = f" ({stop.signal}: another rank failed or the job was stopped)" if stop.signal else ""
        out(f"{tag}: training cancelled{why}; no model saved by this run")
        return 130 if stop.signal in (None, "SIGINT") else 1
    except SegdeskError as exc:
        out(f"{tag}: error: {exc}")
        return 1
    except RuntimeError as exc:
        if not lost_peer(exc):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        out(
            f"{tag}: lost contact with the other ranks ({first[:120]}); a rank failed or was killed. "
            "Training stopped; no model saved by this run, the current model is unchanged"
        )
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:  # a dead peer may make the teardown fail too
                pass


def lost_peer(exc: BaseException) -> bool:
    """Whether a collective failed because another rank went away (not a bug in this rank)."""
    if isinstance(exc, dist.DistBackendError):
        return True
    text = str(exc).lower()
    return any(w in text for w in ("gloo", "nccl", "connection", "peer", "timed out", "socket"))


def _install_stop_handlers(stop: _Stop) -> dict[int, Any]:
    """SIGTERM / SIGINT: stop at once (a rank blocked in a collective must not wait for a dead peer)."""

    def handler(signum: int, frame: Any) -> None:
        stop.signal = signal.Signals(signum).name
        raise Cancelled(f"stopped by {stop.signal}")

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _run_rank(
    folder: str | Path,
    config: TrainConfig,
    start_from: tuple[bool, bool],
    val_fraction: float | None,
    cancel: CancelToken,
    say: Any,
    bar: Any,
) -> int:
    from segdesk.commands.train import announce, finish_training, report_events, warm_label
    from segdesk.core.training_settings import SETTINGS_FILE, load_settings
    from segdesk.ml.checkpoint import ModelStore

    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(config.device)
    store = ModelStore(folder)
    plan: dict[str, Any] = {}
    dataset: TrainingSet | None = None
    if rank == 0:
        try:
            dataset, plan = _plan(folder, config, start_from, val_fraction)
        except SegdeskError as exc:
            plan = {"error": str(exc)}
    plan = broadcast_json(plan, device)
    if "error" in plan:
        raise TrainingError(plan["error"]) if rank == 0 else _Quiet()
    if dataset is None:
        dataset = _dataset_of(folder, plan)
    version = plan["base_version"]
    model, classes = None, None
    warm = plan.get("warm_start")
    if version is not None:
        model, meta = store.load(version)
        classes = list(meta["classes"])
    elif warm:  # the shipped generalist with a new head from a fixed seed: the same on every rank
        from segdesk.ml.generalist import warm_model

        model, _meta = warm_model(dataset.class_names, seed=config.seed)
        classes = list(dataset.class_names)
    if rank == 0:
        announce(dataset, version or warm_label(warm), say, ranks=world)
        settings = load_settings(folder)  # read by every rank before it started (with_settings)
        if settings.fixed():
            say(f"this project's training settings ({SETTINGS_FILE}): {settings.describe()}")
        say(f"global batch {config.batch_size} ({config.batch_size // world} per rank)")
    trainer = DistributedTrainer(dataset, config, cancel, model, classes)
    events = _events(trainer, config)
    result = report_events(events, say, bar if rank == 0 else None)
    outcome: dict[str, Any] = {}
    if rank == 0:
        try:
            outcome = {"version": finish_training(result, dataset, store, version, say, warm)}
        except SegdeskError as exc:
            outcome = {"error": str(exc)}
    try:
        outcome = broadcast_json(outcome, device)  # the others wait here for rank 0's save
    except RuntimeError:
        if rank == 0 and "version" in outcome:  # saved; a rank that went away after it changes nothing
            say(f"note: {outcome['version']} is saved, but another rank exited before being told")
            return 0
        raise
    if "error" in outcome:
        raise TrainingError(outcome["error"]) if rank == 0 else _Quiet()
    # Every rank leaves together: a rank tearing gloo down while another still has work in flight can
    # abort in C++ ("terminate called without an active exception", seen under load in CI).
    dist.barrier()
    return 0


class _Quiet(TrainingError):
    """A non-zero rank's copy of an error rank 0 reports."""

    def __init__(self) -> None:
        super().__init__("stopped with rank 0's error")


def _plan(
    folder: str | Path, config: TrainConfig, start_from: tuple[bool, bool], val_fraction: float | None
) -> tuple[TrainingSet, dict[str, Any]]:
    """Rank 0's plan, made by the same code as one process (``commands.train.train_project``): the
    training and validation images, their classes and the model to start from."""
    from segdesk.commands.train import train_project

    from_scratch, new_arch = start_from
    steps = train_project(
        folder, config, from_scratch=from_scratch, new_architecture=new_arch, val_fraction=val_fraction
    )
    prepared = next(steps)
    steps.close()
    dataset = prepared.dataset
    plan = {
        "train": [s.name for s in dataset.train],
        "val": [s.name for s in dataset.val],
        "split": dataset.split,
        "known": sorted(dataset.known),
        "classes": list(dataset.class_names),
        "base_version": prepared.base_version,
        "warm_start": prepared.warm_start,  # the service's rule decided it; every rank follows
    }
    return dataset, plan


def _dataset_of(folder: str | Path, plan: dict[str, Any]) -> TrainingSet:
    """The training set of rank 0's plan, read by another rank from the (shared) project folder."""
    from segdesk.core.instances import is_boundary_class
    from segdesk.core.project import Project
    from segdesk.ml.training.instance_targets import instance_training_set

    project = Project(Path(folder))
    names = list(dict.fromkeys([*plan["train"], *plan["val"]]))
    entries = [project.entry_for(project.root / name) for name in names]
    # the same targets as rank 0's (the training service's set: boundary classes where objects touch)
    labels = [c for c in plan["classes"] if not is_boundary_class(c)]
    read = instance_training_set(project.root, class_names=labels, entries=entries, val_fraction=0)
    if list(read.class_names) != list(plan["classes"]):
        raise TrainingError(
            f"{project.root}: this rank reads classes {read.class_names}, rank 0 {plan['classes']}"
        )
    by_name = {s.name: s for s in read.train}
    return TrainingSet(
        list(plan["classes"]),
        [by_name[n] for n in plan["train"]],
        [by_name[n] for n in plan["val"]],
        plan["split"],
        source=str(project.root),
        known=frozenset(plan.get("known") or ()),
    )


def _events(trainer: DistributedTrainer, config: TrainConfig) -> Iterator[TrainEvent]:
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        yield from trainer.run()
    finally:
        if config.threads:
            torch.set_num_threads(old_threads)
