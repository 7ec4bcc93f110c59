"""Where the benchmarks find the shared data and tools: ``../shared`` beside the repository
(``SEGDESK_SHARED`` overrides it). Tests never need it."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("SEGDESK_SHARED") or Path(__file__).resolve().parents[3] / "shared")
DATA = SHARED / "data"
TOOLS = SHARED / "tools"
