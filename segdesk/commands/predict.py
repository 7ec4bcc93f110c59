"""``segdesk predict DIR|IMAGE``: proposals from the project's model, headless.

Prints one line per image. ``--write`` puts the proposals into each image's Labelme JSON, replacing
only earlier proposals: shapes a person made (or accepted) stay as they are, and a reviewed image's
file is never opened for writing. ``--masks-out OUT`` writes each image's class-index PNG as the
proposals draw it (after post-processing; 0 = background; ``<image stem>.png``), for scoring.

``segdesk/cli.py`` wires it with :func:`add_predict_arguments` and :func:`predict_from_args`; the
proposal steps and the write rule are the app's own (:mod:`segdesk.services`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from segdesk.commands.arg_types import number, odd_or_zero, whole
from segdesk.core.atomic import atomic_write_bytes
from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, ExportError, SegdeskError
from segdesk.core.instances import is_boundary_class
from segdesk.ml.inference.infer import Predictor
from segdesk.services.onnx_export import resolve_model
from segdesk.services.proposal_defaults import PROPOSALS_FILE, describe, project_proposal_settings
from segdesk.services.proposal_files import STAMP_KEY, proposal_stamp, write_proposals
from segdesk.services.proposals import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    PredictionResult,
    ProposalSettings,
    propose_image,
    with_object_setting,
)

if TYPE_CHECKING:
    from segdesk.core.project import ImageEntry, Project

Out = Callable[[str], None]


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (K = 0..N-1, as a SLURM array's ``%a`` from 0) -> (K, N). Raises ValueError."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 0/4 (K counts from 0)") from None
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"--shard {text!r}: K must be 0..N-1 and N at least 1")
    return k, n


def in_shard(image_name: str, shard: tuple[int, int]) -> bool:
    """Whether an image belongs to shard K of N: a hash of its file name, so the split is the same
    on every machine and run, and adding or removing other images never moves an image."""
    k, n = shard
    digest = hashlib.sha256(image_name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n == k


def up_to_date(project: Project, entry: ImageEntry, stamp: dict[str, Any], masks_dir: Path | None) -> bool:
    """Resume: nothing a run would write for this image is missing or from another model/settings.

    A reviewed image (never written) counts as done; otherwise its JSON must carry ``stamp``. With
    ``--masks-out`` the mask PNG must exist too. An unreadable JSON file is not up to date (it is
    predicted again and reports its error).
    """
    if masks_dir is not None and not (masks_dir / (entry.image_path.stem + ".png")).is_file():
        return False
    if project.status(entry) in ("reviewed", "elsewhere"):
        return True
    if not entry.json_path.is_file():
        return False
    try:
        document = project.load(entry)
    except SegdeskError:
        return False
    return document.extra.get(STAMP_KEY) == stamp


def write_class_png(class_map: np.ndarray, path: Path) -> None:
    """Write a uint8/uint16 class-index PNG atomically. Raises ExportError."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(class_map))
    if not ok:
        raise ExportError(path, None, "PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes(), error_cls=ExportError)


def _summary(name: str, result: PredictionResult, seconds: float, action: str) -> str:
    counts = Counter(s.label for s in result.shapes)
    kinds = ", ".join(f"{label} {n}" for label, n in counts.most_common()) or "none"
    return (
        f"{name}: {len(result.shapes)} proposals ({kinds}), mean confidence {result.mean_confidence:.3f}, "
        f"uncertainty {result.uncertainty:.3f}, {result.tiles} tile(s), {seconds:.2f} s{action}"
    )


def predict_command(
    target: str | Path,
    *,
    model: str | None = None,
    write: bool = False,
    masks_out: str | Path | None = None,
    device: str = "auto",
    tile: int = DEFAULT_TILE,
    overlap: float = DEFAULT_OVERLAP,
    backend: str = "auto",
    threshold: float | None = None,
    min_area: int | None = None,
    max_hole_area: int | None = None,
    smooth: int | None = None,
    tolerance: float | None = None,
    shard: tuple[int, int] | None = None,
    resume: bool = False,
    out: Out = print,
    cancel: CancelToken | None = None,
) -> int:
    """Predict every image of a project folder, or one image (or JSON file) of it. Returns the exit status:
    0 all done, 1 some images failed (each named), 2 nothing could be done (no model, no images),
    130 cancelled.

    ``shard=(K, N)``: only the images of shard K of N (:func:`in_shard`); the N shards together are
    the whole folder, and their files are byte-identical to one run's. ``resume``: skip the images a
    run with this model and these settings already wrote (:func:`up_to_date`); needs ``write``.
    """
    from segdesk.core.project import Project

    try:
        if resume and not write:
            raise ValueError("--resume needs --write: the JSON files record which model proposed them")
        project, entry = Project.open_path(target)
        entries = [entry] if entry is not None else project.entries()
        root = project.root
        if not entries:
            from segdesk.core.image_folders import no_images_text

            out(no_images_text(root))
            return 2
        if shard is not None:
            total = len(entries)
            entries = [e for e in entries if in_shard(e.image_path.name, shard)]
            out(f"shard {shard[0]}/{shard[1]}: {len(entries)} of {total} image(s)")
        checkpoint = resolve_model(root, model)
        saved = project_proposal_settings(root)  # the app's panel wrote them; options given win
        given = {
            "threshold": threshold,
            "min_area": min_area,
            "max_hole_area": max_hole_area,
            "smooth": smooth,
            "tolerance": tolerance,
        }
        proposal_settings = dataclasses.replace(saved, **{k: v for k, v in given.items() if v is not None})
        proposal_settings = with_object_setting(proposal_settings, root)  # classes never split
        predictor = Predictor.from_checkpoint(
            checkpoint,
            device=device,
            tile=tile,
            overlap=overlap,
            backend=backend,  # type: ignore[arg-type]
        )
    except (SegdeskError, ValueError) as exc:
        out(str(exc))
        return 2
    labels = [c for c in predictor.class_names if not is_boundary_class(c)]  # a boundary is no label
    out(
        f"model {predictor.model_version} ({checkpoint}), classes {', '.join(labels)}, "
        f"{predictor.backend.name} on {predictor.device}"
    )
    if describe(saved):
        out(f"this project's proposal settings ({PROPOSALS_FILE}): {describe(saved)}")
    masks_dir = Path(masks_out) if masks_out is not None else None
    if masks_dir is not None:
        try:
            masks_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            out(f"{masks_dir}: cannot create the folder: {exc.strerror or exc}")
            return 2
    settings = {"tile": tile, "overlap": overlap, "backend": predictor.backend.name}
    stamp = proposal_stamp(predictor.model_version, {**settings, **proposal_settings.to_dict()})
    failed = skipped = 0
    for item in entries:
        if resume and up_to_date(project, item, stamp, masks_dir):
            skipped += 1
            continue
        try:
            written = stamp if write else None
            out(_predict_one(project, item, predictor, proposal_settings, written, masks_dir, cancel))
        except Cancelled:
            out("cancelled")
            return 130
        except SegdeskError as exc:
            failed += 1
            out(f"{item.image_path.name}: FAILED: {exc}")
    done = len(entries) - failed - skipped
    out(
        f"{done} of {len(entries)} image(s) predicted"
        + (f", {skipped} already up to date" if resume else "")
        + (f", {failed} failed" if failed else "")
    )
    return 1 if failed else 0


def _predict_one(
    project: Project,
    entry: ImageEntry,
    predictor: Predictor,
    settings: ProposalSettings,
    write: dict[str, Any] | None,
    masks_dir: Path | None,
    cancel: CancelToken | None,
) -> str:
    """Predict one image; ``write``: the stamp to write the proposals with (None: do not write)."""
    from segdesk.core.image_io import read_image

    start = time.perf_counter()
    image_path = entry.image_path
    name = image_path.name
    if image_path.is_file() or not entry.json_path.is_file():
        loaded = read_image(image_path)
        pixels = loaded.data
        name += f" (page 1 of {loaded.pages})" if loaded.pages > 1 else ""  # a stack: its first page
    else:  # a Labelme file whose image is embedded only
        from segdesk.core.image_source import load_image

        pixels = load_image(project.load(entry), entry.json_path, image_file=image_path).data
    result = propose_image(predictor, pixels, settings, image_path=image_path, cancel=cancel)
    action = ""
    if masks_dir is not None:
        write_class_png(result.rasterized(), masks_dir / (image_path.stem + ".png"))
    if write is not None:
        action = write_proposals(project, entry, result.shapes, write).note
    return _summary(name, result, time.perf_counter() - start, action)


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``segdesk predict``."""
    parser.add_argument("target", metavar="DIR|IMAGE", help="a project folder, or one image in it")
    parser.add_argument(
        "--model", metavar="M", help="checkpoint file/folder or version (v2); default: current"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="write proposals into the JSON files (never touches reviewed images)",
    )
    parser.add_argument("--masks-out", metavar="OUT", help="write class-index PNGs (0 = background) here")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument(
        "--tile", type=whole(16), default=DEFAULT_TILE, help=f"tile size in pixels (default: {DEFAULT_TILE})"
    )
    parser.add_argument(
        "--overlap",
        type=number(0, 1, below=True),
        default=DEFAULT_OVERLAP,
        help=f"tile overlap fraction (default: {DEFAULT_OVERLAP})",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="inference backend (default: auto = onnxruntime on the CPU, torch on a GPU)",
    )
    parser.add_argument(
        "--threshold",
        type=number(0, 1),
        default=None,
        help="a pixel less sure than this becomes background (default: the project's, as the app's "
        "Model panel saved it in .segdesk/proposals.json, else 0.5; so for every option below)",
    )
    parser.add_argument(
        "--min-area",
        type=whole(0),
        default=None,
        help="drop islands smaller than this (px; default 16); a model that records a larger minimum"
        " for its objects ('none under N px' in segdesk train's output) uses that for them",
    )
    parser.add_argument(
        "--max-hole-area", type=whole(0), default=None, help="fill enclosed holes up to this (px; default 64)"
    )
    parser.add_argument(
        "--smooth", type=odd_or_zero, default=None, help="majority filter size, odd; 0 = off (the default)"
    )
    parser.add_argument(
        "--tolerance", type=number(0), default=None, help="polygon simplification (px; default 1)"
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        type=_shard_arg,
        default=None,
        help="only shard K of N (K = 0..N-1; a stable split by file name), e.g. a SLURM array task",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip images whose proposals already come from this model and these settings (with --write)",
    )


def _shard_arg(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def predict_from_args(args: argparse.Namespace, *, out: Out = print) -> int:
    """Run :func:`predict_command` with parsed ``add_predict_arguments`` options."""
    return predict_command(
        args.target,
        model=args.model,
        write=args.write,
        masks_out=args.masks_out,
        device=args.device,
        tile=args.tile,
        overlap=args.overlap,
        backend=args.backend,
        threshold=getattr(args, "threshold", None),
        min_area=args.min_area,
        max_hole_area=args.max_hole_area,
        smooth=args.smooth,
        tolerance=args.tolerance,
        shard=getattr(args, "shard", None),
        resume=getattr(args, "resume", False),
        out=out,
    )


__all__ = [
    "STAMP_KEY",
    "add_predict_arguments",
    "in_shard",
    "parse_shard",
    "proposal_stamp",
    "up_to_date",
    "predict_command",
    "predict_from_args",
    "resolve_model",
    "write_class_png",
]
