"""Instance benchmark of issue 17 (a plain script, not collected by pytest).

DSB 2018 dev (``/work/shared/data/dsb2018_nuclei_dev``, instance maps in ``masks_instances/``): train
on the first 10 images by name, test on the last 30. In one run:

- ``semantic``: a 2-class model (background / nucleus), segdesk's defaults; proposals as today
  (connected components of the class map) and the non-learned baseline (distance transform of the
  predicted foreground, h-maxima seeds, watershed);
- ``boundary``: the same budget on the instance targets (background / nucleus / nucleus::boundary,
  ``--width`` pixels; ``core.instances.instance_target``: since h17band the band only where nuclei
  touch, before it along every outline); proposals by ``split_instances`` with one seed per interior component
  (``split``) and with h-maxima seeds inside the interior (``split+maxima``, the default), and, for
  comparison, its connected components;
- with ``--contact``: a third model whose boundary class is only where two objects touch (the first
  prototype of today's target, without its 1-pixel band for objects the band would swallow).

Reports per method AP@0.5, AP@0.75, mAP 0.5:0.95 (DSB 2018: TP/(TP+FP+FN), mean over images),
splits and merges per image, and the semantic IoU of the nucleus class and mIoU (pooled confusion).
``--seconds`` (120) is the wall-clock budget per model; ``--steps N`` trains a fixed number of steps
instead (load-independent). ``--threads`` (2).

    .venv/bin/python tests/benchmarks/bench_instances.py --seconds 120
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import cv2
import numpy as np

from segdesk.core.instance_metrics import score_images
from segdesk.core.instance_split import SplitSettings, split_instances
from segdesk.core.instances import relabel_sequential
from segdesk.ml.data import training_set_from_arrays
from segdesk.ml.inference.infer import Predictor
from segdesk.ml.training.instance_targets import targets_from_instance_maps
from segdesk.ml.training.train import EpochEnd, TrainConfig, TrainResult, fine_tune
from tests.benchmarks import shared_data

DATA = Path(os.environ.get("SEGDESK_DSB") or shared_data.DATA / "dsb2018_nuclei_dev")
CLASSES = ["_background_", "nucleus"]


def load(names: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, instances = [], []
    for n in names:
        # RGB, as segdesk reads images (the app and the CLI): OpenCV gives BGR
        im = cv2.imread(str(DATA / "images" / f"{n}.png"), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        ins = cv2.imread(str(DATA / "masks_instances" / f"{n}.png"), cv2.IMREAD_UNCHANGED)
        images.append(im)
        instances.append(relabel_sequential(ins.astype(np.int32)))
    return images, instances


def train(dataset, cfg: TrainConfig, steps: int | None) -> TrainResult:
    if steps:
        from segdesk.ml.training.schedule import steps_per_epoch

        per_epoch = steps_per_epoch(dataset, cfg)
        cfg = TrainConfig(
            **{**cfg.__dict__, "minutes": None, "patience": 0, "max_epochs": -(-steps // per_epoch)}
        )
    for event in fine_tune(dataset, cfg):
        if isinstance(event, EpochEnd):
            print(
                f"    epoch {event.epoch:3d} step {event.step:5d} {event.elapsed_s:6.1f}s val {event.metrics.miou:.4f}"
            )
        if isinstance(event, TrainResult):
            return event
    raise RuntimeError("no result")


def contact_targets(instances: list[np.ndarray], width: int) -> list[np.ndarray]:
    """Background / nucleus / contact: the boundary class only where an object touches another."""
    out = []
    big = float(1 << 24)
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    for ins in instances:
        f = ins.astype(np.float32)
        hi = cv2.dilate(f, k)  # largest id nearby
        lo = cv2.erode(np.where(ins > 0, f, big), k)  # smallest object id nearby
        t = (ins > 0).astype(np.uint8)
        t[(ins > 0) & ((hi > f) | (lo < f))] = 2
        out.append(t)
    return out


def semantic(class_maps: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    conf = np.zeros((2, 2), np.int64)
    for c, t in zip(class_maps, truths, strict=True):
        conf += np.bincount((t > 0).astype(np.int64).ravel() * 2 + (c > 0).ravel(), minlength=4).reshape(2, 2)
    iou = [conf[i, i] / max(conf[i].sum() + conf[:, i].sum() - conf[i, i], 1) for i in range(2)]
    return {"iou_nucleus": round(float(iou[1]), 4), "miou": round(float(np.mean(iou)), 4)}


def evaluate_model(tag, result, test_names, test_images, test_instances, methods) -> None:
    predictor = Predictor(result.model, {"classes": result.class_names}, device="cpu", backend="torch")
    outputs: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    class_maps = []
    t0 = time.perf_counter()
    split_s = 0.0
    for im in test_images:
        pred = predictor.predict(im, return_probabilities=True)
        t1 = time.perf_counter()
        for method, settings in methods.items():
            s = split_instances(result.class_names, settings, probabilities=pred.probabilities)
            outputs[method].append(s.instances)
        split_s += time.perf_counter() - t1
        class_maps.append(s.class_map)
    sem = semantic(class_maps, test_instances)
    print(f"[{tag}] predict+split {time.perf_counter() - t0:.1f}s (split {split_s:.1f}s) semantic {sem}")
    for method, maps in outputs.items():
        scores = score_images(zip(test_names, test_instances, maps, strict=True))
        print(f"[{tag}] {method:12s} {json.dumps(scores.to_dict())}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--h", type=float, default=1.5)
    ap.add_argument("--contact", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="semantic,boundary")
    args = ap.parse_args()
    names = sorted(p.stem for p in (DATA / "images").glob("*.png"))
    train_names, test_names = names[:10], names[-30:]
    images, instances = load(train_names)
    test_images, test_instances = load(test_names)
    print(
        f"load {os.getloadavg()} train {len(train_names)} test {len(test_names)} "
        f"objects/test image {np.mean([i.max() for i in test_instances]):.0f}"
    )
    cfg = TrainConfig(minutes=args.seconds / 60, threads=args.threads, device="cpu", seed=args.seed)
    objects = SplitSettings(object_classes={"nucleus"}, h=args.h, interior_maxima=False)
    components = SplitSettings()
    maxima = SplitSettings(object_classes={"nucleus"}, h=args.h, interior_maxima=True)
    parts = args.only.split(",") + (["contact"] if args.contact else [])
    if "semantic" in parts:
        ds = training_set_from_arrays(images, [(i > 0).astype(np.uint8) for i in instances], CLASSES)
        res = train(ds, cfg, args.steps)
        print(f"[semantic] steps={res.steps} train_s={res.elapsed_s:.1f} load={os.getloadavg()[0]:.2f}")
        evaluate_model(
            "semantic",
            res,
            test_names,
            test_images,
            test_instances,
            {"components": components, "distance": objects},
        )
    if "boundary" in parts:
        maps, classes = targets_from_instance_maps(
            [(i > 0).astype(np.uint8) for i in instances], instances, CLASSES, ["nucleus"], width=args.width
        )
        ds = training_set_from_arrays(images, maps, classes)
        res = train(ds, cfg, args.steps)
        print(f"[boundary] steps={res.steps} train_s={res.elapsed_s:.1f} load={os.getloadavg()[0]:.2f}")
        evaluate_model(
            "boundary",
            res,
            test_names,
            test_images,
            test_instances,
            {"components": components, "split": objects, "split+maxima": maxima},
        )
    if "contact" in parts:
        ds = training_set_from_arrays(
            images, contact_targets(instances, args.width), [*CLASSES, "nucleus::boundary"]
        )
        res = train(ds, cfg, args.steps)
        print(f"[contact] steps={res.steps} train_s={res.elapsed_s:.1f} load={os.getloadavg()[0]:.2f}")
        evaluate_model(
            "contact",
            res,
            test_names,
            test_images,
            test_instances,
            {"components": components, "split": objects},
        )
    print(f"end load {os.getloadavg()}")


if __name__ == "__main__":
    main()
