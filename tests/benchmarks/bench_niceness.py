"""How fast a niced training child runs while another program keeps one core busy (issue 16).

For each niceness (``--nice``, default 0 5 10) and torch thread count (``--threads``, default 1 2), a
child process at that niceness times ``--steps`` optimizer steps of the default UNet (width 8, depth
4) on ``--batch`` x ``--patch`` patches, with ``--busy`` other processes spinning at normal priority
(``python -c "while 1: pass"``). Prints steps/s per setting and the load average around each.

    .venv/bin/python tests/benchmarks/bench_niceness.py --busy 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

CHILD = """
import os, sys, time, torch
os.nice({nice}); torch.set_num_threads({threads})
sys.path.insert(0, {root!r})
from segdesk.ml.model import UNet, UNetConfig
net = UNet(UNetConfig(num_classes=2)); opt = torch.optim.AdamW(net.parameters(), 1e-3)
x = torch.randn({batch}, 3, {patch}, {patch}); y = torch.randint(0, 2, ({batch}, {patch}, {patch}))
def step():
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); opt.step()
step()
t = time.perf_counter()
for _ in range({steps}): step()
print({steps} / (time.perf_counter() - t))
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nice", type=int, nargs="+", default=[0, 5, 10])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--busy", type=int, default=1)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--patch", type=int, default=256)
    args = p.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spinners = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy)]
    try:
        time.sleep(1.0)
        for threads in args.threads:
            for nice in args.nice:
                load0 = os.getloadavg()[0]
                code = CHILD.format(
                    nice=nice,
                    threads=threads,
                    root=root,
                    batch=args.batch,
                    patch=args.patch,
                    steps=args.steps,
                )
                out = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=False
                )
                rate = out.stdout.strip() or out.stderr.strip()[-300:]
                print(
                    f"nice {nice:2d} threads {threads}: {rate} steps/s "
                    f"(busy {args.busy}, load {load0:.2f}->{os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    finally:
        for s in spinners:
            s.kill()


if __name__ == "__main__":
    main()
