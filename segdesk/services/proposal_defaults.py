"""A project's proposal settings: how predictions become shapes, the same in the app and ``segdesk predict``.

The Model panel's threshold, minimum area and simplification are the project's, saved in
``<project>/.segdesk/proposals.json`` as a person changes them, so that ``segdesk predict`` on the
same folder (a server, a SLURM array) proposes the same shapes as the window: one rule, one place.
Its options win over the file; ``max_hole_area`` and ``smooth``, which the panel does not show,
are read from the file too. A project without the file uses :class:`ProposalSettings`' defaults.
A damaged file is refused naming the file and the field, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from segdesk.core.atomic import atomic_write_text
from segdesk.core.errors import ProjectError
from segdesk.services.proposals import ProposalSettings

PROPOSALS_FILE = Path(".segdesk") / "proposals.json"
_MAX_BYTES = 64 * 1024

#: Each field's type and range (inclusive); ``smooth`` must also be 0 or odd.
FIELDS: dict[str, tuple[type, float, float]] = {
    "threshold": (float, 0.0, 1.0),
    "min_area": (int, 0, 1e9),
    "max_hole_area": (int, 0, 1e9),
    "smooth": (int, 0, 99),
    "tolerance": (float, 0.0, 1000.0),
}
_SAY = {
    "threshold": "threshold {:g}",
    "min_area": "min area {} px",
    "max_hole_area": "holes up to {} px filled",
    "smooth": "smoothing {}",
    "tolerance": "simplify {:g} px",
}


def proposals_path(root: str | Path) -> Path:
    return Path(root) / PROPOSALS_FILE


def _checked(name: str, value: Any) -> float | int:
    kind, low, high = FIELDS[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"must be a number, not {json.dumps(value)[:40]}")
    if kind is int and value != int(value):
        raise ValueError(f"must be a whole number, not {value}")
    if not low <= value <= high:
        raise ValueError(f"must be from {low:g} to {high:g}, not {value}")
    if name == "smooth" and value and int(value) % 2 == 0:
        raise ValueError(f"must be 0 (off) or odd, not {value}")
    return kind(value)


def project_proposal_settings(root: str | Path) -> ProposalSettings:
    """The project's saved settings over the defaults (the defaults when it has no file).
    Raises ProjectError naming the file and the field."""
    path = proposals_path(root)
    try:
        if path.is_symlink():
            raise ProjectError(path, None, "is a symbolic link, not segdesk's settings file")
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return ProposalSettings()
    except OSError as exc:
        raise ProjectError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8")) if len(raw) <= _MAX_BYTES else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProjectError(path, None, f"is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ProjectError(path, None, 'must hold a JSON object, e.g. {"min_area": 30}')
    values = {}
    for key, value in data.items():
        if key not in FIELDS:
            raise ProjectError(path, str(key), f"is not a proposal setting ({', '.join(FIELDS)})")
        try:
            values[key] = _checked(key, value)
        except ValueError as exc:
            raise ProjectError(path, key, str(exc)) from exc
    return dataclasses.replace(ProposalSettings(), **values)


def save_project_proposal_settings(root: str | Path, settings: ProposalSettings) -> Path:
    """Save the fields of ``settings`` that differ from the defaults (atomically). Raises ProjectError."""
    defaults = ProposalSettings()
    path = proposals_path(root)
    chosen = {k: getattr(settings, k) for k in FIELDS if getattr(settings, k) != getattr(defaults, k)}
    for key, value in chosen.items():
        try:
            _checked(key, value)
        except ValueError as exc:
            raise ProjectError(path, key, str(exc)) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(path.parent, None, f"cannot create the folder: {exc.strerror or exc}") from exc
    atomic_write_text(path, json.dumps(chosen, indent=2, sort_keys=True) + "\n", error_cls=ProjectError)
    return path


def describe(settings: ProposalSettings) -> str:
    """The fields that differ from the defaults, in one line ("" when none do)."""
    defaults = ProposalSettings()
    return ", ".join(
        _SAY[k].format(getattr(settings, k)) for k in FIELDS if getattr(settings, k) != getattr(defaults, k)
    )


__all__ = [
    "FIELDS",
    "PROPOSALS_FILE",
    "describe",
    "project_proposal_settings",
    "proposals_path",
    "save_project_proposal_settings",
]
