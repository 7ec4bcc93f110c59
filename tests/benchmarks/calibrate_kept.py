"""The per-model split calibration on a project kept by ``bench_instances_wired.py --keep DIR`` (a plain script).

Re-reads the project's training set exactly as its Retrain did (same seed: same held-out images),
runs ``services.split_calibration.calibrate_model`` on the kept model (what a Retrain on this branch
records in the checkpoint) and scores the 30 test images' proposals (``propose_image``) with the
defaults and with the calibrated split. With ``--tune`` it also scores both on DSB dev images 10-29
(neither training nor test images), and with ``--grid`` each setting of the grid there (and growth 2,
smoothing 1 and 2), to see which settings matter.

    SEGDESK_SHARED=/work/shared OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python \
        tests/benchmarks/calibrate_kept.py /tmp/kept --seed 0 [--tune]
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

import torch

from segdesk.core.instance_metrics import score_images
from segdesk.core.instances import shapes_to_instances
from segdesk.core.model_store import ModelStore
from segdesk.core.project import Project
from segdesk.core.split_record import split_overrides
from segdesk.core.training_plan import plan_training
from segdesk.ml.checkpoint import load_checkpoint
from segdesk.ml.training.instance_targets import instance_training_set
from segdesk.services.proposals import ProposalSettings, load_predictor, propose_image, rederive
from segdesk.services.split_calibration import calibrate_model, calibration_predictions, calibration_table
from tests.benchmarks.bench_instances import DATA, load


def score(results, names, truths, split) -> dict:
    maps = []
    for r in results:
        r.split = dict(split)
        shapes = rederive(r, ProposalSettings())
        maps.append(shapes_to_instances(r.class_map.shape, shapes, r.class_names)[1])
    return score_images(zip(names, truths, maps, strict=True)).to_dict()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--grid", action="store_true", help="with --tune: also every split setting there")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(args.project)
    project = Project(root)
    entries = plan_training(project).entries
    dataset = instance_training_set(
        root, class_names=tuple(project.class_names()), entries=entries, val_fraction=0.2, seed=args.seed
    )
    path = ModelStore(root).path(ModelStore(root).current())
    model, meta = load_checkpoint(path)
    t0 = time.perf_counter()
    record = calibrate_model(model, meta, dataset)
    print(
        f"load {os.getloadavg()} held-out {[s.name[:12] for s in dataset.val]} "
        f"record {json.dumps(record)} in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    found = calibration_predictions(model, meta, dataset)
    if not isinstance(found, str):
        probs, truths, on = found
        for split, scores in calibration_table(probs, truths, list(meta["classes"])):
            print(f"[{on}] {split} {json.dumps(scores.to_dict())}")
    names_all = sorted(p.stem for p in (DATA / "images").glob("*.png"))
    predictor = load_predictor(path, backend="torch")
    sets = {"test": names_all[-30:]}
    if args.tune:
        sets["tune"] = names_all[10:30]
    for tag, names in sets.items():
        images, truths = load(names)
        results = [propose_image(predictor, im, ProposalSettings()) for im in images]
        print(f"[{tag}] default {json.dumps(score(results, names, truths, {}))}")
        split = split_overrides({"instances": {"split": record}}) if record else {}
        print(f"[{tag}] calibrated {split} {json.dumps(score(results, names, truths, split))}", flush=True)
        if tag == "tune" and args.grid:
            for smooth in (1.0, 2.0):
                for h in (0.75, 1.5, 3.0):
                    for grow in (0, 1, 2):
                        s = score(results, names, truths, {"h": h, "grow": grow, "smooth": smooth})
                        print(f"[tune] smooth {smooth} h {h} grow {grow} {json.dumps(s)}", flush=True)
    print(f"end load {os.getloadavg()}")


if __name__ == "__main__":
    main()
