"""``segdesk export masks|onnx``: the export subcommands.

``segdesk export masks`` runs segdesk.core only; this module imports torch inside the ONNX functions
alone, so that the mask export (and ``--help``) never loads it. ``segdesk/cli.py`` wires both with
:func:`add_export_arguments` on the ``export`` subparser, then calls ``args.handler(args)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from segdesk.commands.arg_types import whole
from segdesk.commands.export_masks import add_masks_arguments, export_masks_command, masks_from_args
from segdesk.core.errors import SegdeskError
from segdesk.services.onnx_export import export_and_verify, resolve_model, verification_sample

Out = Callable[[str], None]


def export_onnx_command(
    folder: str | Path,
    *,
    model: str | None = None,
    out: str | Path,
    fp16: bool = False,
    opset: int = 18,
    overwrite: bool = False,
    echo: Out = print,
) -> int:
    """Export the project's current model (or ``model``) to ONNX, verify it and print the result.

    Exit status: 0 written and verified, 1 written but verification failed, 2 nothing written.
    """
    target = Path(out)
    if target.is_dir():
        echo(f"{target}: is a folder; give the file to write, e.g. {target / 'model.onnx'}")
        return 2
    if not target.parent.is_dir():  # said before the export, not after it
        echo(f"{target}: the folder {target.parent} does not exist")
        return 2
    if target.exists() and not overwrite:
        echo(f"{target}: exists already; use --overwrite to replace it")
        return 2
    try:
        checkpoint = resolve_model(Path(folder), model)
        sample, name = verification_sample(folder)
        echo(f"exporting {checkpoint} (opset {opset}{', fp16' if fp16 else ''}) ...")
        report = export_and_verify(checkpoint, target, sample, fp16=fp16, opset=opset)
    except SegdeskError as exc:
        echo(str(exc))
        return 2
    echo(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    echo(f"verification on {name}: {report.summary()}")
    if not report.ok:
        echo("verification FAILED: onnxruntime and torch disagree; the file was kept for inspection")
        return 1
    return 0


def add_onnx_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``segdesk export onnx``."""
    parser.add_argument("folder", metavar="DIR", help="the project folder")
    parser.add_argument(
        "--model", metavar="M", help="checkpoint file/folder or version (v2); default: current"
    )
    parser.add_argument("--out", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    parser.add_argument("--fp16", action="store_true", help="half-precision weights and compute")
    parser.add_argument("--opset", type=whole(1), default=18, help="ONNX opset, 18 or later (default: 18)")
    parser.add_argument("--overwrite", action="store_true", help="replace the file if it exists")


def onnx_from_args(args: argparse.Namespace, *, echo: Out = print) -> int:
    """Run :func:`export_onnx_command` with parsed :func:`add_onnx_arguments` options."""
    return export_onnx_command(
        args.folder,
        model=args.model,
        out=args.out,
        fp16=args.fp16,
        opset=args.opset,
        overwrite=args.overwrite,
        echo=echo,
    )


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``export masks ...`` and ``export onnx ...`` under ``parser``; each sets ``args.handler``."""
    sub = parser.add_subparsers(dest="export_kind", metavar="WHAT", required=True)
    p = sub.add_parser("masks", help="masks, a VOC folder, COCO JSON or previews from the annotations")
    add_masks_arguments(p)
    p.set_defaults(handler=masks_from_args)
    p = sub.add_parser("onnx", help="the project's model as an ONNX file, verified against torch")
    add_onnx_arguments(p)
    p.set_defaults(handler=onnx_from_args)


__all__ = [
    "add_export_arguments",
    "add_onnx_arguments",
    "export_and_verify",
    "export_masks_command",
    "export_onnx_command",
    "onnx_from_args",
    "verification_sample",
]
