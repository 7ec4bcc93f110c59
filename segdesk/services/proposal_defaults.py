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

from segdesk.core.proposal_values import (
    FIELDS,
    PROPOSALS_FILE,
    check_proposal_value,
    proposals_path,
    read_proposal_values,
)
from segdesk.core.settings_file import write_settings
from segdesk.services.proposals import ProposalSettings

_SAY = {
    "threshold": "threshold {:g}",
    "min_area": "min area {} px",
    "max_hole_area": "holes up to {} px filled",
    "smooth": "smoothing {}",
    "tolerance": "simplify {:g} px",
}


def project_proposal_settings(root: str | Path) -> ProposalSettings:
    """The project's saved settings over the defaults (the defaults when it has no file).
    Raises ProjectError naming the file and the field."""
    return dataclasses.replace(ProposalSettings(), **read_proposal_values(root))


def save_project_proposal_settings(root: str | Path, settings: ProposalSettings) -> Path:
    """Save the fields of ``settings`` that differ from the defaults (atomically). Raises ProjectError."""
    defaults = ProposalSettings()
    chosen = {k: getattr(settings, k) for k in FIELDS if getattr(settings, k) != getattr(defaults, k)}
    return write_settings(proposals_path(root), chosen, check_proposal_value)


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
