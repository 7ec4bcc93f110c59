"""Inference latency and memory: torch vs onnxruntime on a 512x512 image, and a tiled 4096x4096 image.

    .venv/bin/python tests/benchmarks/bench_infer.py [--checkpoint CKPT] [--threads 2] [--repeat 5]

Each case runs in its own process so that its peak RSS is its own. The default model is the
default UNetConfig (base width and depth printed with the table), randomly initialized unless ``--checkpoint`` is given
(latency does not depend on the weights). Prints a markdown table and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ISBI = ROOT.parent / "shared" / "data" / "isbi2012_membrane" / "images" / "20.png"


def _image(size: int):
    import cv2
    import numpy as np

    if ISBI.is_file():
        base = cv2.imread(str(ISBI), cv2.IMREAD_GRAYSCALE)
    else:
        base = (np.random.default_rng(0).random((512, 512)) * 255).astype(np.uint8)
    reps = -(-size // base.shape[0])
    return np.tile(base, (reps, reps))[:size, :size].copy()


def _model(checkpoint: str | None):
    from segdesk.ml.model import UNet, UNetConfig

    if checkpoint:
        from segdesk.ml.checkpoint import load_checkpoint

        return load_checkpoint(checkpoint)
    return UNet(UNetConfig()).eval(), {"classes": ["_background_", "cell"], "version": "bench"}


def run_case(case: str, args: argparse.Namespace) -> dict:
    import torch

    from segdesk.ml.inference.export import export_onnx
    from segdesk.ml.inference.infer import Predictor

    torch.set_num_threads(args.threads)
    model, meta = _model(args.checkpoint)
    size = 512 if case.endswith("512") else 4096
    image = _image(size)
    backend = case.split("-")[0]
    result: dict = {"case": case, "size": size, "backend": backend}
    onnx_path = None
    if backend.startswith("onnx"):
        onnx_path = Path(tempfile.mkdtemp()) / "model.onnx"
        t0 = time.perf_counter()
        export_onnx(model, meta, onnx_path, fp16=backend == "onnxfp16")
        result["export_s"] = time.perf_counter() - t0
    predictor = Predictor(
        model,
        meta,
        device="cpu",
        backend="onnx" if onnx_path else "torch",
        onnx_path=onnx_path,
        threads=args.threads,
    )
    repeat = args.repeat if size == 512 else 1
    predictor.predict(image[:512, :512])  # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pred = predictor.predict(image)
        times.append(time.perf_counter() - t0)
    result.update(
        median_s=statistics.median(times),
        min_s=min(times),
        tiles=pred.tiles,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return result


def _cfg():
    from segdesk.ml.model import UNetConfig

    return UNetConfig()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--cases", default="torch-512,onnx-512,onnxfp16-512,torch-4096,onnx-4096")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args)))
        return 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    rows = []
    for case in args.cases.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--case",
            case,
            "--threads",
            str(args.threads),
            "--repeat",
            str(args.repeat),
        ] + (["--checkpoint", args.checkpoint] if args.checkpoint else [])
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            print(f"{case}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"\nInference on CPU, {args.threads} threads, default UNet (base width {_cfg().base_width}, "
        f"depth {_cfg().depth}), tile 512, overlap 0.25\n"
    )
    print("| case | image | backend | tiles | median s | min s | export s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        export = f"{r['export_s']:.1f}" if "export_s" in r else "-"
        print(
            f"| {r['case']} | {r['size']}x{r['size']} | {r['backend']} | {r['tiles']} | {r['median_s']:.3f} | "
            f"{r['min_s']:.3f} | {export} | {r['peak_rss_mb']:.0f} |"
        )
    load = os.getloadavg()
    print(f"\nload average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
