"""Issue 14 proof: mutated real Labelme files give a Document or a SegdeskError, never anything else.

A seeded mutator (tests/core/_mutate.py) over the repository's own Labelme files; bounded to about
20 s here. ``tests/benchmarks/bench_hardening.py`` runs 10,000 (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from segdesk.core.check import check_file
from segdesk.core.errors import SegdeskError
from segdesk.core.labelme_io import load_document
from tests.core._mutate import FIXTURES, image_for, mutated_bytes

BUDGET_S = float(os.environ.get("FUZZ_SECONDS", "15"))
MAX_FILES = int(os.environ.get("FUZZ_FILES", "600"))


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 3


def test_mutated_files_raise_only_segdesk_errors(tmp_path: Path) -> None:
    for source in FIXTURES:
        shutil.copy(source.with_suffix(".jpg"), tmp_path)
    start = time.perf_counter()
    done = 0
    failures: list[str] = []
    for seed in range(MAX_FILES):
        if time.perf_counter() - start > BUDGET_S and done >= 50:
            break
        path = tmp_path / image_for(seed).with_suffix(".json").name
        path.write_bytes(mutated_bytes(seed))
        for step in (load_document, check_file):
            try:
                step(path)
            except SegdeskError:
                pass
            except Exception as exc:
                failures.append(f"seed {seed}: {step.__name__}: {type(exc).__name__}: {exc}"[:300])
        done += 1
    assert failures == [], "\n".join(failures[:10])
    assert done >= 50
