"""The options of ``segdesk train`` (``segdesk/cli.py`` adds them; ``commands/train.py`` runs them)."""

from __future__ import annotations

import argparse

from segdesk.commands.arg_types import number, whole
from segdesk.core.training_settings import LIMITS
from segdesk.ml.model import MAX_DEPTH
from segdesk.ml.training.train import TrainConfig
from segdesk.services import training


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``segdesk train``."""
    defaults = TrainConfig()
    parser.add_argument("folder", metavar="DIR", help="a project folder (its reviewed images train)")
    parser.add_argument(
        "--minutes",
        type=number(0, above=True),
        default=None,
        help=f"time budget (default: the project's training settings, else {training.DEFAULT_MINUTES:g}, "
        "as a Retrain in the app)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument(
        "--base-width",
        type=whole(1),
        default=None,
        help=f"channels of a new model (default: {defaults.base_width})",
    )
    parser.add_argument(
        "--depth", type=whole(1, MAX_DEPTH), default=None, help=f"downsamplings (default: {defaults.depth})"
    )
    parser.add_argument(
        "--threads", type=whole(1), default=None, help="CPU threads (default: torch's choice)"
    )
    parser.add_argument("--seed", type=whole(0), default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--from-scratch",
        action="store_true",
        help="do not start from the current model (a new model; see --warm-start)",
    )
    warm = parser.add_mutually_exclusive_group()
    warm.add_argument(
        "--warm-start",
        dest="warm_start",
        action="store_const",
        const=True,
        default=None,
        help="a new model starts from the shipped generalist model (default: the project's training "
        "settings, else only with one object class)",
    )
    warm.add_argument(
        "--no-warm-start",
        dest="warm_start",
        action="store_const",
        const=False,
        help="a new model starts from random weights, never from the shipped generalist model",
    )
    parser.add_argument(
        "--val-fraction",
        type=number(0, LIMITS["val_fraction"][2]),
        default=None,
        help="share of reviewed images held out (default: the project's training settings, else 0.2; "
        "0: validate on the training images)",
    )
    parser.add_argument(
        "--epochs", type=whole(1), default=None, help="train exactly N epochs, no time budget (repeatable)"
    )
    parser.add_argument(
        "--batch-size",
        type=whole(1),
        default=None,
        help=f"patches per step, over all ranks when distributed (default: {defaults.batch_size} per rank)",
    )
    parser.add_argument(
        "--patch-size",
        type=whole(16),
        default=None,
        help=f"training patch size (default: {defaults.patch_size})",
    )
    parser.add_argument(
        "--scale",
        type=number(LIMITS["scale"][1], LIMITS["scale"][2]),
        default=None,
        help="working scale: images are resampled by this factor for training and prediction, e.g. 0.5 "
        "(default: the plan's, from the size of the reviewed objects)",
    )
    parser.add_argument(
        "--min-steps",
        type=whole(0),
        default=None,
        help="optimizer steps to take whatever the clock says (default: the plan's, 300 on a CPU)",
    )
    parser.add_argument(
        "--use-elsewhere",
        action="store_true",
        help="also train on images labelled in another tool (records that you confirmed them)",
    )
    parser.add_argument(
        "--skip-empty", action="store_true", help="leave out reviewed images that have no shape"
    )
    parser.add_argument(
        "--no-prior-correction",
        action="store_true",
        help="keep the rare classes' odds as trained (by default they are lowered as far as the "
        "held-out images ask: fewer false alarms, and now and then a faint object missed)",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="train on several processes/GPUs/nodes; launch with torchrun (see docs/scaling.md)",
    )
