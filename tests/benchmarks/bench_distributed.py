"""The single-machine figures behind docs/scaling.md's estimate at 8 GPUs and 10^5 images.

    .venv/bin/python tests/benchmarks/bench_distributed.py [--threads 2]

Measures, for the default model (UNet width 8, depth 4) and the default batch (4 x 256²):
- one training step (forward, backward, AdamW) on the CPU;
- the gradient all-reduce of that model between 2 local gloo ranks (the DDP traffic per step);
- producing one training patch (crop + default augmentation, the data loading of a rank);
- validation of one 512x512 image (``evaluate``);
- saving a model version (``ModelStore.add_version``: safetensors + JSON, atomic rename);
- reading, predicting (onnxruntime) and writing the proposals of one 512x512 image (``segdesk predict``).
Prints a markdown table and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _median(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _allreduce_rank(rank: int, world: int, init: str, numel: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    grad = torch.randn(numel)
    times = []
    for _ in range(25):
        dist.barrier()
        t = time.perf_counter()
        dist.all_reduce(grad)
        times.append(time.perf_counter() - t)
    if rank == 0:
        Path(out).write_text(str(statistics.median(times[5:])))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import cv2
    import numpy as np
    import torch
    import torch.multiprocessing as mp

    from segdesk.commands.predict import predict_command
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.data import PatchDataset, make_sample
    from segdesk.ml.model import UNet, UNetConfig
    from segdesk.ml.training.augment import AugmentConfig, apply, build_augmentation
    from segdesk.ml.training.evaluate import evaluate
    from segdesk.ml.training.losses import LossConfig, SegmentationLoss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=2))
    numel = sum(p.numel() for p in model.parameters())
    rows: list[tuple[str, str]] = [
        ("parameters (fp32 gradient bytes)", f"{numel:,} ({numel * 4 / 1e6:.2f} MB)")
    ]

    criterion = SegmentationLoss(LossConfig(), num_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(4, 3, 256, 256)
    y = torch.randint(0, 2, (4, 256, 256))

    def step() -> None:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()

    t = _median(step, 5)
    rows.append(
        (
            f"training step, batch 4 x 256², {args.threads} threads",
            f"{t * 1000:.0f} ms ({4 / t:.1f} patches/s)",
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "allreduce.txt")
        init = f"file://{Path(tmp) / 'rendezvous'}"
        mp.spawn(_allreduce_rank, args=(2, init, numel, out), nprocs=2, join=True)
        t = float(Path(out).read_text())
        rows.append(("gradient all-reduce, 2 gloo ranks on this machine", f"{t * 1000:.2f} ms"))

    rng = np.random.default_rng(0)
    image = (rng.random((512, 512)) * 255).astype(np.uint8)
    sample = make_sample(image, (rng.random((512, 512)) > 0.5).astype(np.uint8))
    pipeline = build_augmentation(256, AugmentConfig(), seed=0)
    patches = PatchDataset([sample] * 4, lambda im, m: apply(pipeline, im, m), patch_size=256, length=200)
    t = _median(lambda: [patches[i] for i in range(200)], 3) / 200
    rows.append(("one training patch (crop + default augmentation), 1 thread", f"{t * 1000:.1f} ms"))
    t = _median(lambda: evaluate(model, [sample], ["a", "b"]), 3)
    rows.append(("validation of one 512x512 image", f"{t * 1000:.0f} ms"))

    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(tmp)
        meta = {"classes": ["_background_", "cell"]}
        t = _median(lambda: store.add_version(model, meta, make_current=True), 3)
        rows.append(("save a model version (add_version)", f"{t * 1000:.0f} ms"))
        root = Path(tmp)
        for i in range(8):
            cv2.imwrite(str(root / f"im{i}.png"), np.roll(image, 37 * i))
        predict_command(root, write=True, device="cpu", out=lambda line: None)  # builds model.onnx once
        t0 = time.perf_counter()
        predict_command(root, write=True, device="cpu", out=lambda line: None)
        t = (time.perf_counter() - t0) / 8
        rows.append(
            ("predict + write one 512x512 image (onnxruntime, whole command / 8)", f"{t * 1000:.0f} ms")
        )

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print("| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
