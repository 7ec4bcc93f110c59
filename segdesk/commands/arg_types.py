"""argparse types for the numeric options of every command.

A value out of range stops the command before any work with argparse's own line, naming the option
("segdesk train: error: argument --threads: must be a whole number of at least 1, not -2"), never a
traceback from deep inside torch or OpenCV and never a silent clamp (``--batch-size 0`` divided by
zero; ``--val-fraction -0.1`` validated on the training images and made the model current;
``--threshold 2`` proposed nothing; ``--minutes -1`` trained and blamed "the -1-minute cap").
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole(least: int, most: int | None = None) -> Callable[[str], int]:
    """A whole number in ``least..most`` (``most`` None: no upper bound)."""
    span = f"of at least {least}" if most is None else f"from {least} to {most}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, not {text!r}") from None
        if value < least or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, not {value}")
        return value

    return parse


def number(
    least: float, most: float | None = None, *, above: bool = False, below: bool = False
) -> Callable[[str], float]:
    """A finite number from ``least`` (excluded when ``above``) up to ``most`` (excluded when
    ``below``; None: no upper bound)."""
    low = f"above {least:g}" if above else f"at least {least:g}"
    span = low if most is None else f"{low} and {'below' if below else 'at most'} {most:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {span}, not {text!r}") from None
        too_low = value <= least if above else value < least
        too_high = most is not None and (value >= most if below else value > most)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be a number {span}, not {text}")
        return value

    return parse


def odd_or_zero(text: str) -> int:
    """0 (off) or an odd whole number (a filter's size)."""
    value = whole(0)(text)
    if value and value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or an odd whole number, not {value}")
    return value


__all__ = ["number", "odd_or_zero", "whole"]
