"""A project's training settings: the parts of the plan a person fixes for every Retrain.

The engine plans each run from the reviewed images (``ml/training/plan.py``: working scale, patches,
batch, width and depth of a new model, minimum steps) and a time cap (2 minutes). Where the plan
misjudges the data (objects whose size the shapes do not tell, a machine much faster or slower than
the plan assumed), a person fixes those parts here, once for the project; the app's Retrain and
``segdesk train`` both read them, and an option given on the command line wins over them.

Stored in ``<project>/.segdesk/training.json`` (written atomically; a field left out is the plan's)::

    {"minutes": 5, "scale": 0.5, "patch_size": 256, "warm_start": false}

A damaged file is refused with its path and field, never silently ignored. Plain Python: no Qt, no torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from segdesk.core.settings_file import number_in, read_settings, write_settings

#: Where a project keeps its training settings (relative to its folder).
SETTINGS_FILE = Path(".segdesk") / "training.json"

#: Each field's type and allowed range (inclusive; minutes must be above 0; true / false for the
#: bools). The depth's upper bound is the UNet's (``ml.model.MAX_DEPTH``).
LIMITS: dict[str, tuple[type, float, float]] = {
    "minutes": (float, 0.0, 24 * 60.0),
    "scale": (float, 0.05, 8.0),
    "patch_size": (int, 16, 4096),
    "batch_size": (int, 1, 1024),
    "base_width": (int, 1, 256),
    "depth": (int, 1, 6),
    "min_steps": (int, 0, 1_000_000),
    "val_fraction": (float, 0.0, 0.9),
    "warm_start": (bool, 0, 1),
    "prior_correction": (bool, 0, 1),
}

#: How each field reads in a sentence ("time cap 5 min, working scale 0.5x").
_SAY = {
    "minutes": "time cap {:g} min",
    "scale": "working scale {:g}x",
    "patch_size": "patches {}",
    "batch_size": "batch {}",
    "base_width": "width {} (a new model)",
    "depth": "depth {} (a new model)",
    "min_steps": "at least {} steps",
    "val_fraction": "{:.0%} held out",
}
_ON_OFF = {"warm_start": "warm start", "prior_correction": "rare classes' odds lowered"}


@dataclass(frozen=True)
class TrainingSettings:
    """None everywhere: the plan decides (and the 2-minute cap)."""

    minutes: float | None = None
    scale: float | None = None
    patch_size: int | None = None
    batch_size: int | None = None
    base_width: int | None = None
    depth: int | None = None
    min_steps: int | None = None
    #: Share of the reviewed images held out to choose and check the model (None: 0.2).
    val_fraction: float | None = None
    #: Whether a new model starts from the shipped generalist (None: where it helps).
    warm_start: bool | None = None
    #: Whether a new model's rare classes' taught odds are lowered (None: yes, ``ml/training/prior.py``).
    prior_correction: bool | None = None

    def fixed(self) -> dict[str, Any]:
        """The fields the person set (not None)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self) -> str:
        """The set fields in one line; "" when the plan decides everything."""
        return ", ".join(
            f"{_ON_OFF[k]} {'on' if v else 'off'}" if k in _ON_OFF else _SAY[k].format(v)
            for k, v in self.fixed().items()
        )


def settings_path(root: str | Path) -> Path:
    return Path(root) / SETTINGS_FILE


def check_value(name: str, value: Any) -> float | int | bool:
    """``value`` for field ``name`` as its type; raises ValueError saying what is allowed."""
    kind, low, high = LIMITS[name]
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {json.dumps(value)[:40]}")
        return value
    return number_in(value, kind, low, high, above_low=name == "minutes")


def load_settings(root: str | Path) -> TrainingSettings:
    """The project's settings (all None when it has no file). Raises ProjectError naming the file and
    the field when the file is unreadable or holds a value segdesk cannot use."""
    known = [f.name for f in fields(TrainingSettings)]
    values = read_settings(settings_path(root), known, check_value, example='{"minutes": 5}')
    return TrainingSettings(**values)


def save_settings(root: str | Path, settings: TrainingSettings) -> Path:
    """Write ``settings`` atomically (only the fields set). Raises ProjectError."""
    return write_settings(settings_path(root), settings.fixed(), check_value)


__all__ = [
    "LIMITS",
    "SETTINGS_FILE",
    "TrainingSettings",
    "check_value",
    "load_settings",
    "save_settings",
    "settings_path",
]
