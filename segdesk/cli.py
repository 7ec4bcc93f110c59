"""Command line: ``segdesk [PATH]`` opens the app; subcommands run core and ml headless.

Every subcommand imports its module inside its handler, so ``segdesk check`` never loads torch and
``segdesk PATH`` never loads the ml package before the window is shown.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from segdesk import __version__
from segdesk.commands.arg_types import number
from segdesk.core import pixel_limit
from segdesk.core.errors import SegdeskError

SUBCOMMANDS = ("train", "predict", "export", "check", "import-masks", "import-coco", "import-yolo")
_PIXELS_OPTION = "--max-image-pixels"
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # as a shell reports a process ended by SIGPIPE


def _cmd_check(args: argparse.Namespace) -> int:
    from segdesk.core.check import run_check

    return run_check(args.folder, recursive=args.recursive)


def _cmd_import_masks(args: argparse.Namespace) -> int:
    from segdesk.commands.import_masks import run_import_instances, run_import_masks

    if args.instances:  # issue 17: instance maps / folders of per-object masks, one polygon per object
        return run_import_instances(
            args.images_dir,
            args.masks_dir,
            args.instances,
            tolerance=args.tolerance,
            min_area=args.min_area,
            skip_unmasked=args.skip_unmasked,
            **_import_kwargs(args),
        )
    if not args.labels:
        from segdesk.core.mask_values import mask_files_hint

        hint = mask_files_hint(args.masks_dir)
        print(
            "import-masks: --labels is required (or --instances LABEL for instance masks)" + hint,
            file=sys.stderr,
        )
        return 2
    return run_import_masks(
        args.images_dir,
        args.masks_dir,
        args.labels,
        tolerance=args.tolerance,
        min_area=args.min_area,
        skip_unmasked=args.skip_unmasked,
        **_import_kwargs(args),
    )


def _cmd_import_coco(args: argparse.Namespace) -> int:
    from segdesk.commands.import_masks import run_import_coco

    return run_import_coco(args.coco_json, args.images_dir, **_import_kwargs(args))


def _cmd_import_yolo(args: argparse.Namespace) -> int:
    from segdesk.commands.import_masks import run_import_yolo

    return run_import_yolo(args.labels_dir, args.images_dir, args.names, **_import_kwargs(args))


def _import_options(p: argparse.ArgumentParser) -> None:
    """Where an import writes, and what it does with the annotations a folder has already."""
    p.add_argument("--out", default=None, help="write the project here (images copied) instead of in place")
    p.add_argument("--overwrite", action="store_true", help="replace existing JSON files / image copies")
    p.add_argument(
        "--skip-annotated",
        action="store_true",
        help="images that have a JSON file already are left as they are (instead of stopping the import)",
    )


def _import_kwargs(args: argparse.Namespace) -> dict[str, object]:
    return {"out_dir": args.out, "overwrite": args.overwrite, "skip_annotated": args.skip_annotated}


def _cmd_train(args: argparse.Namespace) -> int:
    from segdesk.commands.train import distributed_precheck, terminal_bar, train_from_args

    if getattr(args, "distributed", False):
        from segdesk.commands.distributed import distributed_train_from_args

        stop = distributed_precheck(args)
        if stop is not None:
            return stop
        return _leave_rank(distributed_train_from_args(args, bar=terminal_bar()))
    return train_from_args(args, bar=terminal_bar())


def _leave_rank(code: int) -> int:
    """End a torchrun rank without interpreter finalization once its work is saved and its process
    group destroyed: gloo's worker threads can still hold tensors then, and finalizing them aborted a
    rank in C++ ("terminate called without an active exception", SIGABRT) about 1 run in 4 under load
    (pytorch/pytorch#179291 describes the teardown race). Everything is flushed first."""
    if os.environ.get("TORCHELASTIC_RUN_ID") is None and os.environ.get("RANK") is None:
        return code  # called in-process (tests), not as a rank
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _args_train(parser: argparse.ArgumentParser) -> None:
    from segdesk.commands.train import add_train_arguments

    add_train_arguments(parser)


def _cmd_predict(args: argparse.Namespace) -> int:
    from segdesk.commands.predict import predict_from_args

    return predict_from_args(args)


def _args_predict(parser: argparse.ArgumentParser) -> None:
    from segdesk.commands.predict import add_predict_arguments

    add_predict_arguments(parser)


def _build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``selected`` subcommand that needs the ml package gets its options."""
    parser = argparse.ArgumentParser(
        prog="segdesk",
        description="segdesk: label images for segmentation, with a UNet that learns from your corrections.\n"
        "`segdesk [PATH]` opens the app on a folder, an image or a Labelme JSON file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"segdesk {__version__}")
    parser.add_argument(
        _PIXELS_OPTION,
        metavar="N",
        help=f"refuse images of more than N pixels (default 2**28; also {pixel_limit.ENV_VAR}); "
        "may be given anywhere on the line",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "check",
        help="validate every Labelme JSON in a folder (and its .segdesk settings files); exit 1 on any problem",
    )
    p.add_argument("folder")
    p.add_argument("-r", "--recursive", action="store_true", help="also the JSON files in every subfolder")
    p.set_defaults(handler=_cmd_check)

    p = sub.add_parser("import-masks", help="turn a folder of mask PNGs into Labelme JSON polygons")
    p.add_argument("images_dir")
    p.add_argument("masks_dir")
    p.add_argument(
        "--labels",
        default=None,
        help="class of each mask value, e.g. 0=_background_,255=cell, or of each colour of a colour-coded mask, "
        "e.g. '#ff0000=building,#00ff00=tree' (without it, says what the masks hold)",
    )
    p.add_argument(
        "--instances",
        default=None,
        metavar="LABEL",
        help="masks are instance maps (0 = background, k = object k) or folders of one mask per object; "
        "each object becomes one polygon of class LABEL",
    )
    p.add_argument("--tolerance", type=number(0), default=1.0, help="polygon simplification in pixels")
    p.add_argument("--min-area", type=number(0), default=10.0, help="drop components smaller than this (px)")
    p.add_argument(
        "--skip-unmasked",
        action="store_true",
        help="images without a mask stay unlabelled (copied with --out) instead of stopping the import",
    )
    _import_options(p)
    p.set_defaults(handler=_cmd_import_masks)

    p = sub.add_parser(
        "import-coco",
        help="turn a COCO instances JSON (CVAT, Roboflow, ...) into Labelme JSON beside its images",
    )
    p.add_argument("coco_json")
    p.add_argument("images_dir", help="the folder of the images the file annotates (matched by file name)")
    _import_options(p)
    p.set_defaults(handler=_cmd_import_coco)

    p = sub.add_parser("import-yolo", help="turn YOLO label files (segmentation or boxes) into Labelme JSON")
    p.add_argument("labels_dir", help="the folder of <stem>.txt label files")
    p.add_argument("images_dir", help="the folder of the images (matched by stem)")
    p.add_argument(
        "--names",
        default=None,
        help="the dataset's data.yaml or classes.txt, or the class names by id: cell,nucleus "
        "(default: the data.yaml or classes.txt beside or above LABELS_DIR)",
    )
    _import_options(p)
    p.set_defaults(handler=_cmd_import_yolo)

    # train, predict and export onnx keep their options in the ml package: torch loads only when asked for
    p = sub.add_parser("train", help="fine-tune the project's model on its reviewed images")
    if selected == "train":
        _args_train(p)
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("predict", help="propose shapes for unreviewed images with the current model")
    if selected == "predict":
        _args_predict(p)
    p.set_defaults(handler=_cmd_predict)

    p = sub.add_parser("export", help="masks / VOC / COCO / YOLO / previews, or the model as ONNX")
    if selected == "export":
        from segdesk.commands.export import add_export_arguments  # imports torch only for `export onnx`

        add_export_arguments(p)
    return parser


def _run_app(argv: Sequence[str]) -> int:
    from segdesk.app import main as app_main

    return app_main(list(argv))


def _take_pixel_limit(argv: list[str]) -> list[str]:
    """Apply ``--max-image-pixels N`` (anywhere on the line) and return the other arguments."""
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == _PIXELS_OPTION or arg.startswith(_PIXELS_OPTION + "="):
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise _UsageError(f"{_PIXELS_OPTION}: expected a number of pixels")
            try:
                pixel_limit.set_max_image_pixels(pixel_limit.parse_pixels(value))
            except (argparse.ArgumentTypeError, ValueError) as exc:
                raise _UsageError(str(exc)) from exc
        else:
            rest.append(arg)
        i += 1
    return rest


class _UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``segdesk`` console script.

    Ctrl+C anywhere (also while torch loads for the options of ``train``) prints one line and exits
    130; a closed stdout pipe (``segdesk check DIR | head -1``) exits 141 quietly.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "segdesk"
    try:
        try:
            argv = _take_pixel_limit(argv)
        except _UsageError as exc:
            print(f"segdesk: {exc}", file=sys.stderr)
            return 2
        if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
            return _run_app(argv)
        command = f"segdesk {argv[0]}"
        os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
        args = _build_parser(argv[0]).parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        try:
            code = handler(args)
        except SegdeskError as exc:
            print(f"{command}: {exc}", file=sys.stderr)
            return 2
        sys.stdout.flush()  # a closed pipe shows here rather than at exit
        return code
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so that Python's flush at exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
