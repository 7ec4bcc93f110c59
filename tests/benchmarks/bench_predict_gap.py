"""GUI gap while the first prediction loads the model (a plain script, not collected by pytest).

The app's first "Predict" runs ``job_functions.load_predictor`` + ``predict`` in a worker thread; whatever
that thread imports or computes while holding the GIL freezes the window. This script measures the
worst gap between ticks of a 16 ms QTimer on the main thread of a FRESH interpreter while another
thread loads the default-size model (its ONNX export beside it, as after training) and predicts a
512 x 512 image. Goal: no gap above 100 ms.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_predict_gap.py --runs 5
    ... --import-torch   # the thread imports torch first (what the torch-bound path cost)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys, threading, time
sys.path.insert(0, {repo!r})
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import numpy as np
from PySide6.QtCore import QCoreApplication, QTimer
import segdesk.ui.job_functions as job_functions  # imported at app start-up: torch-free

app = QCoreApplication([])
image = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
ticks, done = [], {{}}

def job():
    t0 = time.perf_counter()
    if {import_torch!r}:
        import torch  # noqa: F401
    predictor = job_functions.load_predictor(__import__("pathlib").Path({ckpt!r}))
    t1 = time.perf_counter()
    predictor.predict(image)
    done.update(load_s=t1 - t0, predict_s=time.perf_counter() - t1, backend=predictor.backend.name)

timer = QTimer()
timer.setInterval(16)
timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
timer.start()

def begin():
    threading.Thread(target=job, daemon=True).start()

def poll():
    if done:
        QTimer.singleShot(200, app.quit)
    else:
        QTimer.singleShot(20, poll)

QTimer.singleShot(300, begin)  # 300 ms of idle ticks first: the baseline
QTimer.singleShot(320, poll)
app.exec()
start = ticks[0]
gaps = [(b - a) * 1000 for a, b in zip(ticks, ticks[1:])]
idle = [g for a, g in zip(ticks, gaps) if a - start < 0.28]
busy = [g for a, g in zip(ticks, gaps) if a - start >= 0.28]
print(json.dumps(dict(done, worst_ms=max(busy), idle_worst_ms=max(idle),
      torch_loaded="torch" in sys.modules, albumentations_loaded="albumentations" in sys.modules,
      onnx_loaded="onnx" in sys.modules)))
"""


def setup(folder: Path) -> Path:
    """A default-size 2-class checkpoint (random weights) and its ONNX export, as training leaves them."""
    import torch

    from segdesk.ml.checkpoint import save_checkpoint
    from segdesk.ml.inference.export import cached_onnx
    from segdesk.ml.model import UNet, UNetConfig

    ckpt = folder / "v1" / "model.safetensors"
    if not ckpt.is_file():
        torch.manual_seed(0)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(UNet(UNetConfig()).eval(), {"classes": ["_background_", "cell"]}, ckpt)
    cached_onnx(ckpt)
    return ckpt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--import-torch", action="store_true", help="the thread imports torch first")
    ap.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "segdesk-bench-gap")
    args = ap.parse_args()
    ckpt = setup(args.folder)
    code = CHILD.format(repo=str(REPO), ckpt=str(ckpt), import_torch=args.import_torch)
    results = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    worst = [r["worst_ms"] for r in results]
    print(
        f"worst gap: median {statistics.median(worst):.0f} ms, max {max(worst):.0f} ms over {len(worst)} runs; "
        f"load {statistics.median(r['load_s'] for r in results) * 1000:.0f} ms, "
        f"first predict {statistics.median(r['predict_s'] for r in results) * 1000:.0f} ms "
        f"({results[0]['backend']}); torch imported: {sorted({r['torch_loaded'] for r in results})}"
    )


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    sys.path.insert(0, str(REPO))
    main()
