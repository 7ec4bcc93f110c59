"""``python -m segdesk`` and the frozen app's entry point."""

from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    # First of all: in a frozen app a spawned child (Retrain, ONNX export) starts here too.
    multiprocessing.freeze_support()
    from segdesk.cli import main

    sys.exit(main())
