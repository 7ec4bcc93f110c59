"""The shipped generalist starting model: a small UNet that a new project starts from.

``segdesk/ml/weights/generalist-v3/model.safetensors`` is package data in the model store's own
checkpoint format (safetensors, never pickle; ``checkpoint.load_checkpoint`` validates it) with a
``generalist`` card in its metadata: the data it saw, the recipe and its metrics. It is made by
``scripts/train_generalist.py`` (docs/benchmarks.md, "The warm start").

:func:`warm_model` gives a copy for a project's classes: the encoder and decoder as shipped, a new
head (every row freshly initialised: the generalist's ``object`` says nothing about a project's
classes). Whether a run starts from it is the training service's rule (``services/warm_start.py``).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from segdesk.core.errors import ModelError
from segdesk.ml.checkpoint import load_checkpoint
from segdesk.ml.model import UNet

NAME = "generalist-v3"
WEIGHTS_FILE = "model.safetensors"
#: The largest file the package may carry (the issue's budget).
MAX_BYTES = 10 * 1024 * 1024


def generalist_path(name: str = NAME) -> Path:
    """The shipped checkpoint, found through the package (works in a wheel and in the frozen app)."""
    resource = importlib.resources.files("segdesk.ml") / "weights" / name / WEIGHTS_FILE
    return Path(str(resource))


def load_generalist(path: str | Path | None = None) -> tuple[UNet, dict[str, Any]]:
    """(model in eval mode, metadata) of the shipped generalist, validated.

    Raises ModelError naming the file: missing, too large, damaged, or without its card.
    """
    path = Path(path) if path is not None else generalist_path()
    if not path.is_file():
        raise ModelError(path, None, "the shipped generalist model is missing; reinstall segdesk")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ModelError(path, None, f"{size} bytes, more than the {MAX_BYTES} a shipped model may have")
    model, meta = load_checkpoint(path)
    card = meta.get("generalist")
    if not isinstance(card, dict) or not isinstance(card.get("name"), str):
        raise ModelError(path, "generalist", "no generalist card (name, data, recipe, metrics)")
    return model, meta


@functools.lru_cache(maxsize=2)
def _cached(path: str) -> tuple[UNet, dict[str, Any]]:
    return load_generalist(path)


def card(path: str | Path | None = None) -> dict[str, Any]:
    """The generalist's card: ``name``, ``classes``, ``data``, ``recipe``, ``metrics``."""
    return dict(_cached(str(path or generalist_path()))[1]["generalist"])


def warm_model(
    classes: Sequence[str], path: str | Path | None = None, *, seed: int = 0
) -> tuple[UNet, dict[str, Any]]:
    """A new model for ``classes``: the generalist's encoder and decoder, a freshly initialised head
    (from ``seed``: the same request gives the same start).

    Returns (model, the generalist's metadata). The cached original is never modified.
    """
    import copy

    if len(classes) < 1:
        raise ModelError(path or generalist_path(), "classes", "a project needs at least one class")
    shipped, meta = _cached(str(path or generalist_path()))
    model = copy.deepcopy(shipped)
    model.replace_head(len(classes))
    head = model.head
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        # replace_head keeps rows by position; none of them belongs to the project
        torch.manual_seed(seed)
        fresh = torch.nn.Conv2d(head.in_channels, head.out_channels, 1)
        head.weight.copy_(fresh.weight)
        head.bias.copy_(fresh.bias)
    return model, meta


__all__ = ["MAX_BYTES", "NAME", "card", "generalist_path", "load_generalist", "warm_model"]
