"""Instance benchmark of issue 17 through the wired path (a plain script, not collected by pytest).

What a person gets: DSB 2018 dev's first 10 images by name imported with ``import_instances`` (one
reviewed polygon per nucleus), a Retrain by the training service (``services.training.train``: the
instance training set, boundary class where reviewed nuclei touch, the plan), then the proposals of
the saved model on the last 30 images by ``services.proposals.propose_image`` with the panel's
default settings (threshold 0.5, min area 16, holes 64, tolerance 1). Each proposal shape is one
object. Scored as ``bench_instances.py`` scores (AP@0.5, AP@0.75, mAP 0.5:0.95, splits and merges per
image, nucleus IoU / mIoU pooled), for the proposals as wired (one polygon per object) and, from the
same kept prediction, with the class marked "not objects" (connected components).

Fixed steps (load-independent): ``--steps`` (352) with 32 steps per epoch (``--patch`` x ``--batch``:
the plan's CPU choice, 128² in batches of 16), width 8, depth 4, ``--scale`` 1 (native, as the
earlier table) or ``plan`` (the engine's working scale). The model kept is the app's: epochs before ``--steps`` do not compete (the
plan's min_steps), the warm start's fresh head never does.

    SEGDESK_SHARED=/work/shared OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/bench_instances_wired.py --steps 352 --threads 1

``--data cells`` runs the same on generated touching cells (``synth_cells.py``: 10 fields reviewed, 30
tested) instead of DSB dev, a second instance set to check a change on.

``--generalist NAME`` warms from another folder under ``segdesk/ml/weights/`` than ``generalist.NAME``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2
import numpy as np

from segdesk.core.import_instances import import_instances
from segdesk.core.instance_metrics import score_images
from segdesk.core.instances import shapes_to_instances
from segdesk.core.model_store import ModelStore
from segdesk.core.project import Project
from segdesk.ml import generalist
from segdesk.ml.training.plan import CPU_SMALL_PATCH
from segdesk.services import training
from segdesk.services.proposals import ProposalSettings, load_predictor, propose_image, rederive
from tests.benchmarks.bench_instances import DATA, load, semantic
from tests.benchmarks.synth_cells import synth_cells

STEPS_PER_EPOCH = 32


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", choices=("dsb", "cells"), default="dsb", help="DSB dev, or generated cells")
    ap.add_argument("--steps", type=int, default=352)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scale", default="1", help="1 (native) or plan (the engine's working scale)")
    ap.add_argument("--seed", type=int, default=0)
    # The plan's choice on a CPU for DSB's images (plan.CPU_SMALL_PATCH); the tables before session 13
    # used 256 x 4 (``--patch 256 --batch 4``).
    ap.add_argument("--patch", type=int, default=CPU_SMALL_PATCH[0], help="patch side")
    ap.add_argument("--batch", type=int, default=CPU_SMALL_PATCH[1], help="patches per step")
    ap.add_argument("--keep", help="build the project here (kept) instead of a temporary folder")
    ap.add_argument(
        "--warm",
        choices=("auto", "on", "off"),
        default="auto",
        help="the warm start: the rule (auto), forced, never",
    )
    ap.add_argument(
        "--no-boundary",
        action="store_true",
        help="mark nucleus 'not an object' before training: the plain 2-class model",
    )
    ap.add_argument("--per-image", action="store_true", help="print each test image's score")
    ap.add_argument(
        "--generalist", default=None, help="warm from this shipped generalist (a weights/ name), not NAME's"
    )
    args = ap.parse_args()
    if args.generalist:  # compare generalist-v1 and -v2 before one replaces the other (as bench_engine)
        generalist.generalist_path = functools.partial(generalist.generalist_path, args.generalist)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_inst_"))
    src = Path(tempfile.mkdtemp(prefix="bench_inst_src_"))
    if args.data == "cells":  # generated: 10 fields to review, 30 to test, always the same ones
        rng = np.random.default_rng(11)
        train = [synth_cells(rng) for _ in range(10)]
        test = [synth_cells(rng) for _ in range(30)]
        test_names = [f"test{k:02d}" for k in range(30)]
        test_images, test_instances = [t[0] for t in test], [t[1] for t in test]
        masks = Path(tempfile.mkdtemp(prefix="bench_inst_masks_"))
        for k, (image, instances) in enumerate(train):
            cv2.imwrite(str(src / f"cells{k:02d}.png"), image)
            cv2.imwrite(str(masks / f"cells{k:02d}.png"), instances.astype(np.uint16))
    else:
        names = sorted(p.stem for p in (DATA / "images").glob("*.png"))
        train_names, test_names = names[:10], names[-30:]
        test_images, test_instances = load(test_names)
        masks = DATA / "masks_instances"
        for n in train_names:
            shutil.copy2(DATA / "images" / f"{n}.png", src / f"{n}.png")
    report = import_instances(src, masks, "nucleus", out_dir=root, overwrite=True)
    print(f"load {os.getloadavg()} imported {len(report.json_paths)} images, {report.shape_count} nuclei")

    fixed = {"base_width": 8, "depth": 4, "patch_size": args.patch, "batch_size": args.batch}
    if args.scale != "plan":
        fixed["scale"] = float(args.scale)
    # The app's model selection at fixed steps: only epochs from min_steps on compete (min_steps =
    # target = --steps, no clock), so the last model is kept as in a Retrain of that many steps
    # (with minutes=None every epoch competed: step 32 of 352 was kept once).
    fixed.update(min_steps=args.steps, target_steps=args.steps)
    config = training.default_config(
        minutes=10**6 / 60,
        max_epochs=math.ceil(args.steps / STEPS_PER_EPOCH),
        patience=0,
        patches_per_epoch=STEPS_PER_EPOCH * args.batch,
        threads=args.threads,
        device="cpu",
        seed=args.seed,
        plan={"overrides": fixed},
    )
    if args.no_boundary:
        from segdesk.core.instance_settings import write_object_setting

        write_object_setting(root, {"nucleus": False})
    project = Project(root)
    warm = {"auto": None, "on": True, "off": False}[args.warm]
    request = training.request_for(project, warm_start=warm)
    t0 = time.perf_counter()
    outcome = training.train(request, config, threading.Event())
    meta = ModelStore(root).path(outcome.version)
    print(
        f"[wired] {outcome.version} steps={outcome.steps} train_s={time.perf_counter() - t0:.1f} "
        f"plan: {outcome.plan} load={os.getloadavg()[0]:.2f} promoted={outcome.promoted} ({outcome.reason})"
        + (f" note: {outcome.note}" if outcome.note else "")
    )
    info = (
        json.loads((meta.parent / "model.json").read_text()) if (meta.parent / "model.json").is_file() else {}
    )
    print(
        f"[wired] classes {info.get('classes')} instances {info.get('instances')} warm_start {info.get('warm_start')}"
    )

    predictor = load_predictor(meta, backend="torch")
    wired, merged, class_maps = [], [], []
    t0 = time.perf_counter()
    for image in test_images:
        result = propose_image(predictor, image, ProposalSettings())
        names_ = result.class_names
        size = result.class_map.shape
        wired.append(shapes_to_instances(size, result.shapes, names_)[1])
        components = rederive(result, ProposalSettings(not_objects=("nucleus",)))
        merged.append(shapes_to_instances(size, components, names_)[1])
        class_maps.append(result.class_map)
    print(f"[wired] proposals for {len(test_images)} images in {time.perf_counter() - t0:.1f}s")
    print(f"[wired] semantic {semantic(class_maps, test_instances)}")
    for tag, maps in (("objects (wired)", wired), ("not objects (components)", merged)):
        scores = score_images(zip(test_names, test_instances, maps, strict=True))
        print(f"[wired] {tag:26s} {json.dumps(scores.to_dict())}", flush=True)
        if args.per_image:
            for s in scores.images:
                print(
                    f"    {s.name[:12]} true={s.n_true:4d} pred={s.n_pred:4d} ap50={s.precision[0.5]:.3f} "
                    f"splits={s.splits} merges={s.merges}"
                )
    print(f"end load {os.getloadavg()} project {root}")


if __name__ == "__main__":
    main()
