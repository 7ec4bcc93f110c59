"""Test-wide settings: Qt offscreen, no network checks, settings in a temp folder."""

from __future__ import annotations

import os

# Must be set before anything imports Qt or albumentations.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
