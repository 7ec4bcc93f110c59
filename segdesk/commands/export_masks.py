"""``segdesk export masks DIR --format F --out OUT``: the mask export, headless and torch-free."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from segdesk.commands.arg_types import number
from segdesk.core.errors import Cancelled, SegdeskError
from segdesk.core.export.masks import FORMAT_TITLES, FORMATS, ExportProgress, OutputExistsError, export_masks

Out = Callable[[str], None]


def export_masks_command(
    folder: str | Path,
    *,
    fmt: str,
    out_dir: str | Path,
    include_unreviewed: bool = False,
    with_proposals: bool = False,
    ignore_value: int = 255,
    overwrite: bool = False,
    val_fraction: float = 0.0,
    out: Out = print,
) -> int:
    """Export and print a summary. Exit status: 0 done, 1 done but some images skipped (each named),
    2 nothing written (bad option, existing files without --overwrite, unwritable destination).

    Reviewed images only unless ``include_unreviewed`` (the rule is ``masks.export_selection``)."""
    last = [-1]

    def progress(p: ExportProgress) -> None:
        # A line per tenth of the work: enough to see it move without flooding a log.
        step = max(1, p.total // 10)
        if p.done < p.total and (p.done // step) != last[0]:
            last[0] = p.done // step
            out(f"[{p.done}/{p.total}] {p.message}")

    try:
        report = export_masks(
            folder,
            out_dir,
            fmt=fmt,  # type: ignore[arg-type]
            include_unreviewed=include_unreviewed,
            with_proposals=with_proposals,
            ignore_value=ignore_value,
            overwrite=overwrite,
            val_fraction=val_fraction,
            progress=progress,
        )
    except OutputExistsError as exc:
        out(f"{exc}\nuse --overwrite to replace them")
        return 2
    except Cancelled:
        out("cancelled: nothing written")
        return 130
    except SegdeskError as exc:
        out(str(exc))
        return 2
    for line in report.skipped:
        out(f"skipped {line}")
    for note in report.notes:
        out(f"note: {note}")
    out(report.summary())
    return 1 if report.skipped else 0


def add_masks_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``segdesk export masks``."""
    parser.add_argument("folder", metavar="DIR", help="the project folder")
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=FORMATS,
        default="index",
        help="; ".join(f"{k}: {v}" for k, v in FORMAT_TITLES.items()) + " (default: index)",
    )
    parser.add_argument("--out", required=True, metavar="OUT", help="the folder to write")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--include-unreviewed",
        action="store_true",
        help="also export annotated images nobody has reviewed (default: reviewed images only)",
    )
    # The default since reviewed-only became the rule; still accepted so existing scripts keep working.
    which.add_argument("--reviewed-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--with-proposals", action="store_true", help="include proposals nobody accepted")
    parser.add_argument(
        "--ignore-as-background",
        action="store_true",
        help="write __ignore__ regions as background (0) instead of 255 (index and binary formats)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    parser.add_argument(
        "--val-fraction",
        type=number(0, 1, below=True),
        default=0.0,
        metavar="F",
        help="yolo: put this share of the images in a validation split (train/ and val/; fixed by name)",
    )


def masks_from_args(args: argparse.Namespace, *, out: Out = print) -> int:
    """Run :func:`export_masks_command` with parsed :func:`add_masks_arguments` options."""
    return export_masks_command(
        args.folder,
        fmt=args.fmt,
        out_dir=args.out,
        include_unreviewed=args.include_unreviewed,
        with_proposals=args.with_proposals,
        ignore_value=0 if args.ignore_as_background else 255,
        overwrite=args.overwrite,
        val_fraction=args.val_fraction,
        out=out,
    )


__all__ = ["add_masks_arguments", "export_masks_command", "masks_from_args"]
