"""One optimizer step of the CPU plan's UNet in the default and the channels-last layout (issue 16;
a plain script). ``step.channels_last_on`` turns channels-last on for the CPU on these figures.
``--shapes 256x4 128x16``: the step in the channels-last layout for each patch x batch (the plan's
``CPU_SMALL_PATCH`` against the old 256 x 4) instead, and what the class watch's per-step counting
(``class_watch.class_hits``) costs beside it.

    .venv/bin/python tests/benchmarks/bench_layout.py [--threads 1 2] [--steps 12] [--shapes 256x4 128x16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.training.class_watch import class_hits


def step_ms(channels_last: bool, steps: int, patch: int = 256, batch: int = 4) -> float:
    """Median ms of one AdamW step, width 8, depth 4, ``batch`` x ``patch``², 3 classes."""
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = UNet(UNetConfig(in_channels=3, num_classes=3, base_width=8, depth=4)).to(memory_format=layout)
    x = torch.randn(batch, 3, patch, patch).contiguous(memory_format=layout)
    y = torch.randint(0, 3, (batch, patch, patch))
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    times = []
    for _ in range(steps + 2):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[2:]) * 1e3


def hits_ms(steps: int, patch: int, batch: int, classes: int = 3) -> float:
    """Median ms of ``class_hits`` on one step's channels-last logits."""
    logits = torch.randn(batch, classes, patch, patch).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch, patch, patch))
    times = []
    for _ in range(steps + 2):
        t = time.perf_counter()
        class_hits(logits, y)
        times.append(time.perf_counter() - t)
    return statistics.median(times[2:]) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--shapes", nargs="*", default=[], help="patch x batch, e.g. 256x4 128x16")
    args = parser.parse_args()
    print(f"torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for _ in range(2):
            if args.shapes:
                shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes]
                ms = [(step_ms(True, args.steps, p, b), hits_ms(args.steps, p, b)) for p, b in shapes]
                print(
                    f"{threads} thread(s): "
                    + ", ".join(
                        f"{s} {t:.0f} ms (class watch {h:.1f} ms)"
                        for s, (t, h) in zip(args.shapes, ms, strict=True)
                    )
                )
                continue
            plain, last = step_ms(False, args.steps), step_ms(True, args.steps)
            print(
                f"{threads} thread(s): default {plain:.0f} ms, channels-last {last:.0f} ms ({last / plain - 1:+.0%})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
