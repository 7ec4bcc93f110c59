"""A factory for a spawned child (importable by reference): the app's real training, then a look at
what the child process has imported."""

from __future__ import annotations

import sys
from typing import Any

from segdesk.services.train_status import app_training


def training_then_modules(request: Any, config: Any) -> Any:
    train = app_training(request, config, False)

    def run(cancel: Any, report: Any) -> dict[str, Any]:
        outcome = train(cancel, report)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "PySide6" or m.startswith("segdesk.ui"))
        return {"version": outcome.version, "qt_or_ui": loaded}

    return run
