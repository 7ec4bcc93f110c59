"""Where segdesk's bundled resources (the demo project, icons) live, in a checkout or a frozen app."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path | None:
    """The ``resources/`` folder: beside the package in a checkout, or inside a PyInstaller bundle.

    Returns ``None`` when neither exists (an installed wheel without the resources).
    """
    candidates: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    package_dir = Path(__file__).resolve().parent.parent  # segdesk/
    candidates += [package_dir.parent / "resources", package_dir / "resources"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def demo_project_dir() -> Path | None:
    """The demo project folder, or ``None`` when it is not shipped with this copy."""
    root = resources_dir()
    if root is None:
        return None
    demo = root / "demo"
    return demo if demo.is_dir() else None
