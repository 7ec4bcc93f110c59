"""The fields of a project's ``.segdesk/proposals.json`` and their ranges (plain Python).

``services/proposal_defaults.py`` turns them into the ``ProposalSettings`` the app and ``segdesk
predict`` propose with; ``segdesk check`` validates the file with the same rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segdesk.core.settings_file import number_in, read_settings

PROPOSALS_FILE = Path(".segdesk") / "proposals.json"

#: Each field's type and range (inclusive); ``smooth`` must also be 0 or odd.
FIELDS: dict[str, tuple[type, float, float]] = {
    "threshold": (float, 0.0, 1.0),
    "min_area": (int, 0, 1e9),
    "max_hole_area": (int, 0, 1e9),
    "smooth": (int, 0, 99),
    "tolerance": (float, 0.0, 1000.0),
}


def proposals_path(root: str | Path) -> Path:
    return Path(root) / PROPOSALS_FILE


def check_proposal_value(name: str, value: Any) -> float | int:
    """``value`` for field ``name``; raises ValueError saying what is allowed."""
    number = number_in(value, *FIELDS[name])
    if name == "smooth" and number % 2 == 0 and number:
        raise ValueError(f"must be 0 (off) or odd, not {value}")
    return number


def read_proposal_values(root: str | Path) -> dict[str, float | int]:
    """The fields the project's file sets ({} without a file). Raises ProjectError naming the field."""
    return read_settings(proposals_path(root), FIELDS, check_proposal_value, example='{"min_area": 30}')


__all__ = ["FIELDS", "PROPOSALS_FILE", "check_proposal_value", "proposals_path", "read_proposal_values"]
