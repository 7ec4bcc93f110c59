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
from pathlib import Path
from typing import Any

from segdesk.core.settings_file import number_in, read_settings, write_settings
from segdesk.services.proposals import ProposalSettings

PROPOSALS_FILE = Path(".segdesk") / "proposals.json"

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
    number = number_in(value, *FIELDS[name])
    if name == "smooth" and number % 2 == 0 and number:
        raise ValueError(f"must be 0 (off) or odd, not {value}")
    return number


def project_proposal_settings(root: str | Path) -> ProposalSettings:
    """The project's saved settings over the defaults (the defaults when it has no file).
    Raises ProjectError naming the file and the field."""
    values = read_settings(proposals_path(root), FIELDS, _checked, example='{"min_area": 30}')
    return dataclasses.replace(ProposalSettings(), **values)


def save_project_proposal_settings(root: str | Path, settings: ProposalSettings) -> Path:
    """Save the fields of ``settings`` that differ from the defaults (atomically). Raises ProjectError."""
    defaults = ProposalSettings()
    chosen = {k: getattr(settings, k) for k in FIELDS if getattr(settings, k) != getattr(defaults, k)}
    return write_settings(proposals_path(root), chosen, _checked)


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
