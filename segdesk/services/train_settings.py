"""The project's training settings applied to a run, the same way for the app's Retrain and ``segdesk train``.

The settings live in ``core/training_settings.py`` (``<project>/.segdesk/training.json``). Precedence,
one rule: an option the person gave on the command line (the config's ``plan["overrides"]``) wins
over the project's setting, which wins over the plan's own choice (``ml/training/plan.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from segdesk.core.training_settings import TrainingSettings

#: Settings that are TrainConfig fields fixed through the plan (the plan never overrides them).
PLAN_FIELDS = ("scale", "patch_size", "batch_size", "base_width", "depth", "min_steps")


def with_settings(config: Any, settings: TrainingSettings) -> Any:
    """``config`` (a TrainConfig) with ``settings`` for every field its caller did not fix.

    ``minutes`` replaces the default cap, except in a run of a fixed number of epochs (no cap);
    ``prior_correction`` is the config's. (``val_fraction`` and ``warm_start`` are the request's:
    ``services.training.request_for``.) The plan's fields become fixed (``plan["overrides"]``), as the command line's options are, so the
    plan keeps them and the saved plan lists them as overridden."""
    plan = dict(config.plan or {})
    fixed = dict(plan.get("overrides") or {})
    given = {k: v for k, v in settings.fixed().items() if k not in fixed}
    minutes = given.pop("minutes", None)
    if minutes is not None and config.minutes is not None:
        config = dataclasses.replace(config, minutes=float(minutes))
    if "prior_correction" in given:
        config = dataclasses.replace(config, prior_correction=bool(given["prior_correction"]))
    planned = {k: v for k, v in given.items() if k in PLAN_FIELDS}
    if not planned:
        return config
    plan["overrides"] = {**fixed, **planned}
    return dataclasses.replace(config, **planned, plan=plan)


def first(*values: Any) -> Any:
    """The first of ``values`` that is not None (an option given, then the project's setting, then
    the default)."""
    return next((v for v in values if v is not None), None)


def fixes_architecture(settings: TrainingSettings) -> bool:
    """Whether the settings fix a new model's width or depth: a current model of another one is then
    not fine-tuned, as with ``segdesk train --base-width`` (``TrainRequest.new_architecture``)."""
    return settings.base_width is not None or settings.depth is not None


__all__ = ["PLAN_FIELDS", "first", "fixes_architecture", "with_settings"]
