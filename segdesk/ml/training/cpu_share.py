"""How many CPU cores are free right now: the training's thread count on a shared machine.

Measured (tests/benchmarks/bench_niceness.py, docs/benchmarks.md): with one core kept busy by another
program on a 2-core machine, training with 2 torch threads ran at 0.28 steps/s at nice 10 or 5,
0.81 at nice 2 and 1.6 at nice 0, but with 1 thread at 3.1 steps/s at any niceness: a thread that
shares its core with a busy program holds back every parallel operation of the other. So the
trainer uses as many threads as there are idle cores when it starts (at least 1), and the app's child
can keep its low priority (nice 10) without being starved.
"""

from __future__ import annotations

import os
import time


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies from /proc/stat (Linux); None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return idle, sum(fields[:8])


def idle_cores(sample_s: float = 0.3) -> float:
    """Cores idle over ``sample_s`` seconds (Linux: /proc/stat); elsewhere all cores but one."""
    cores = os.cpu_count() or 1
    first = _cpu_times()
    if first is None:
        return float(max(1, cores - 1))
    time.sleep(sample_s)
    second = _cpu_times()
    if second is None or second[1] <= first[1]:
        return float(max(1, cores - 1))
    return cores * (second[0] - first[0]) / (second[1] - first[1])


def training_threads(sample_s: float = 0.3) -> int:
    """Torch threads for training now: the idle cores, rounded to the nearest, at least 1."""
    cores = os.cpu_count() or 1
    return int(min(cores, max(1, round(idle_cores(sample_s)))))


__all__ = ["idle_cores", "training_threads"]
