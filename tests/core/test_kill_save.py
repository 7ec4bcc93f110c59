"""Issue 14 proof: kill -9 while saving leaves no corrupt file and, after the next open, no stray file.

A few trials here; tests/benchmarks/bench_hardening.py runs 200 on an 8 MB file (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from tests.core._kill_save import kill_trial, make_file

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def test_kill_during_saves(tmp_path: Path) -> None:
    path = make_file(tmp_path, megabytes=2)
    rng = random.Random(14)
    trials = [kill_trial(path, rng) for _ in range(int(os.environ.get("KILL_TRIALS", "4")))]
    assert [t.corrupt for t in trials] == [False] * len(trials)
    assert [t.left_after_sweep for t in trials] == [0] * len(trials)
