"""Issue 14 proof at scale: 10,000 mutated Labelme files through the reader and check, 200 kill -9 saves.

Fuzz: each file (tests/core/_mutate.py, seeds 0..N-1, from the demo project's Labelme files) goes
through ``load_document`` and ``check_file``; recorded: how each ended (Document, which SegdeskError,
any OTHER exception: must be 0), time per file (p50 / p99 / max; files over 5 s with their shape
count), peak resident memory of the process.
Kill: an 8 MB Labelme file saved in a loop by a child process that is SIGKILLed at a random moment,
200 times; recorded: corrupt files (must be 0), trials that left a temporary behind, temporaries
left after the sweep the next open does (must be 0).

Usage: python tests/benchmarks/bench_hardening.py [--files 10000] [--kills 200] [--json OUT]
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from segdesk.core.check import check_file
from segdesk.core.errors import SegdeskError
from segdesk.core.labelme_io import load_document
from tests.core._kill_save import kill_trial, make_file
from tests.core._mutate import FIXTURES, image_for, mutated_bytes


def _shape_count(raw: bytes) -> int:
    return raw.count(b'"label"')


def fuzz(n: int, report: dict) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="segdesk-fuzz-"))
    try:
        for source in FIXTURES:
            shutil.copy(source.with_suffix(".jpg"), tmp)
        outcomes: collections.Counter[str] = collections.Counter()
        others: list[str] = []
        times: list[float] = []
        slow: list[tuple[int, float, int]] = []
        start = time.perf_counter()
        for seed in range(n):
            raw = mutated_bytes(seed)
            path = tmp / image_for(seed).with_suffix(".json").name
            path.write_bytes(raw)
            t0 = time.perf_counter()
            for step in (load_document, check_file):
                try:
                    step(path)
                    outcomes[f"{step.__name__}: ok"] += 1
                except SegdeskError as exc:
                    outcomes[f"{step.__name__}: {type(exc).__name__}"] += 1
                except Exception as exc:  # what the benchmark is looking for
                    outcomes[f"{step.__name__}: OTHER {type(exc).__name__}"] += 1
                    others.append(f"seed {seed}: {type(exc).__name__}: {exc}"[:200])
            elapsed = time.perf_counter() - t0
            times.append(elapsed)
            if elapsed > 5:
                slow.append((seed, round(elapsed, 1), _shape_count(raw)))
            if seed % 500 == 499:
                print(f"  {seed + 1} files, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        times.sort()
        report["fuzz"] = {
            "files": n,
            "outcomes": dict(sorted(outcomes.items())),
            "other_exceptions": len(others),
            "other_examples": others[:10],
            "p50_s": round(statistics.median(times), 4),
            "p99_s": round(times[int(0.99 * (len(times) - 1))], 3),
            "max_s": round(times[-1], 2),
            "over_5s": slow,
            "wall_s": round(time.perf_counter() - start, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kills(n: int, megabytes: float, report: dict) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="segdesk-kill-"))
    try:
        path = make_file(tmp, megabytes)
        rng = random.Random(14)
        start = time.perf_counter()
        trials = [kill_trial(path, rng) for _ in range(n)]
        report["kill"] = {
            "trials": n,
            "file_mb": round(path.stat().st_size / 2**20, 1),
            "corrupt": sum(t.corrupt for t in trials),
            "trials_leaving_a_temporary": sum(t.left_before_sweep > 0 for t in trials),
            "temporaries_left_after_sweep": sum(t.left_after_sweep for t in trials),
            "wall_s": round(time.perf_counter() - start, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--megabytes", type=float, default=8.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    report: dict = {
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if args.kills:
        kills(args.kills, args.megabytes, report)
        print(json.dumps(report["kill"]), file=sys.stderr, flush=True)
    if args.files:
        fuzz(args.files, report)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
