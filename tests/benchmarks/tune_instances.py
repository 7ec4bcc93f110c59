"""Where a kept instance model loses nucleus IoU, and which split settings to use (a plain script).

Takes a project kept by ``bench_instances_wired.py --keep DIR`` (its current model) and DSB dev:

1. *Diagnosis*: for the tuning images and the test images, the nucleus IoU of the folded arg-max
   (what the proposals show), its precision and recall, the recall of true nucleus pixels at the
   outline (within 2 px of the edge) and inside, and the IoU when the foreground is
   ``P(nucleus) + P(boundary) > t`` for several ``t``.
2. *Tuning*: the proposals' split settings (``SplitSettings``: h, smooth, seeds) and the foreground
   threshold are chosen on the **tuning images** (DSB dev images 10-29 by name: neither the
   project's 10 training images nor the benchmark's 30 test images), by AP@0.5; the best one and the
   default are then scored once on the test images.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/tune_instances.py /tmp/kept_project
"""

from __future__ import annotations

import argparse
import itertools
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
from segdesk.core.instance_split import SplitSettings, learned_object_classes, split_instances
from segdesk.core.instances import fold_boundary_mask
from segdesk.core.model_store import ModelStore
from segdesk.core.postprocess import PostprocessConfig, postprocess
from segdesk.services.proposals import load_predictor
from tests.benchmarks.bench_instances import DATA, load


def predict_all(predictor, images):
    out = []
    for im in images:
        pred = predictor.predict(im, return_probabilities=True)
        out.append(np.asarray(pred.probabilities, np.float32))
    return out


def foreground(probs: np.ndarray, names: list[str]) -> np.ndarray:
    """P(nucleus) + P(nucleus::boundary): 1 - P(background)."""
    return 1.0 - probs[names.index("_background_")]


def diagnose(tag: str, probs_list, truths, names) -> None:
    tp = fp = fn = 0
    edge_hit = edge_all = core_hit = core_all = 0
    per_t = {t: np.zeros(3, np.int64) for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)}
    k = np.ones((5, 5), np.uint8)
    for probs, ins in zip(probs_list, truths, strict=True):
        truth = ins > 0
        folded = fold_boundary_mask(np.argmax(probs, 0), names)
        pred = folded > 0
        tp += int((pred & truth).sum())
        fp += int((pred & ~truth).sum())
        fn += int((~pred & truth).sum())
        f = ins.astype(np.float32)
        other = (cv2.dilate(f, k) != f) | (cv2.erode(f, k) != f)
        edge = truth & other
        core = truth & ~other
        edge_hit += int((pred & edge).sum())
        edge_all += int(edge.sum())
        core_hit += int((pred & core).sum())
        core_all += int(core.sum())
        fg = foreground(probs, names)
        for t, acc in per_t.items():
            p = fg > t
            acc += [int((p & truth).sum()), int((p & ~truth).sum()), int((~p & truth).sum())]
    iou_t = {t: round(float(a[0] / max(a.sum(), 1)), 4) for t, a in per_t.items()}
    print(
        f"[{tag}] nucleus IoU {tp / max(tp + fp + fn, 1):.4f} precision {tp / max(tp + fp, 1):.4f} "
        f"recall {tp / max(tp + fn, 1):.4f} | recall at the outline (2 px) {edge_hit / max(edge_all, 1):.4f} "
        f"inside {core_hit / max(core_all, 1):.4f} | IoU of P(fg) > t {iou_t}",
        flush=True,
    )


def instances_for(probs, names, objects, fg_t: float, split: SplitSettings) -> np.ndarray:
    """The wired proposals' steps 2-4 with a foreground threshold ``fg_t`` on P(fg) instead of the
    folded arg-max (0.5 is the same thing with one object class), min area 16, holes 64."""
    region = (foreground(probs, names) > fg_t).astype(np.uint8)
    region = postprocess(region, PostprocessConfig(min_area=16, max_hole_area=64, smooth_kernel=0))
    return split_instances(names, split, probabilities=probs, region_map=region).instances


def sweep(probs_list, truths, tags, names, objects, grid):
    rows = []
    for fg_t, h, smooth, maxima in grid:
        split = SplitSettings(object_classes=objects, min_area=16, h=h, smooth=smooth, interior_maxima=maxima)
        maps = [instances_for(p, names, objects, fg_t, split) for p in probs_list]
        s = score_images(zip(tags, truths, maps, strict=True)).to_dict()
        rows.append(((fg_t, h, smooth, maxima), s))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("--tune", default="10:30", help="slice of DSB dev's names (sorted) to tune on")
    args = ap.parse_args()
    names_all = sorted(p.stem for p in (DATA / "images").glob("*.png"))
    a, b = (int(x) for x in args.tune.split(":"))
    tune_names, test_names = names_all[a:b], names_all[-30:]
    assert not set(tune_names) & set(test_names) and not set(tune_names) & set(names_all[:10])
    store = ModelStore(Path(args.project))
    predictor = load_predictor(store.path(store.current()), backend="torch")
    names = list(predictor.class_names)
    objects = learned_object_classes(names)
    print(f"load {os.getloadavg()} model {store.current()} classes {names} objects {sorted(objects)}")
    t0 = time.perf_counter()
    tune_images, tune_truth = load(tune_names)
    test_images, test_truth = load(test_names)
    tune_probs = predict_all(predictor, tune_images)
    test_probs = predict_all(predictor, test_images)
    print(f"predicted {len(tune_names)} + {len(test_names)} images in {time.perf_counter() - t0:.1f}s")
    diagnose("tune", tune_probs, tune_truth, names)
    diagnose("test", test_probs, test_truth, names)
    if not objects:
        return
    default = (0.5, SplitSettings().h, SplitSettings().smooth, SplitSettings().interior_maxima)
    grid = sorted(
        set(itertools.product((0.4, 0.5, 0.6, 0.7, 0.8), (0.75, 1.5, 3.0), (0.0, 1.0, 2.0), (True,)))
        | set(itertools.product((0.4, 0.5, 0.6, 0.7, 0.8), (1.5,), (1.0,), (False,)))
    )
    t0 = time.perf_counter()
    rows = sweep(tune_probs, tune_truth, tune_names, names, objects, grid)
    print(f"swept {len(grid)} settings on {len(tune_names)} tuning images in {time.perf_counter() - t0:.1f}s")
    rows.sort(key=lambda r: -r[1]["ap50"])
    for setting, s in rows[:8]:
        print(
            f"[tune] fg>{setting[0]} h {setting[1]} smooth {setting[2]} maxima {setting[3]}: {json.dumps(s)}"
        )
    print(f"[tune] default {default}: {json.dumps(dict(rows)[default])}")
    best = rows[0][0]
    for tag, setting in (("default", default), ("chosen on tune", best)):
        (s,) = [r[1] for r in sweep(test_probs, test_truth, test_names, names, objects, [setting])]
        print(f"[test] {tag} {setting}: {json.dumps(s)}", flush=True)
    print(f"end load {os.getloadavg()}")


if __name__ == "__main__":
    main()
