"""The engine of issue 16 against today's defaults (a plain script, not collected by pytest).

For each data set: ``defaults`` (TrainConfig as it was: a wall-clock budget, no plan) and ``engine``
(``plan.plan_training``: the working scale, width by measured speed, minimum and target steps, the
budget a cap), each followed by the promotion check (``promotion.check_candidate``) on the held-out
images; ``seed`` runs the seeds' recipe (``/work/shared/tools/seed_recipe.py``) in a subprocess.

Data: ``isbi`` (train 0-4, test 20-29), ``dsb`` (``shared/data/dsb2018_nuclei_dev``: train the first
``--dsb-train`` (10) by name, test the last 30), ``colour`` / ``fluo16`` (generated, bench_train's),
``vessels`` (generated fundus-like photos, DRIVE's 565 x 584; ``vessels-hr``: the same enlarged
``--enlarge`` times), ``regions`` (generated large objects covering ``--coverage`` of the pixels: leaves on soil),
``aerial`` (generated aerial-like tiles, five classes from 0.5% to 85% of the
pixels: ``bench_train.synth_aerial``), ``demo`` (``resources/make_demo.py``: train on the truth of its 3 reviewed
images, test its 3 others).
``--warm on|off|auto``: the engine recipe starts from the shipped generalist, from random weights, or
where the rule says (``auto``: ``warm_start.helps``), through the service's own
``services/warm_start.starting_model``, the width and depth fixed to the generalist's either way (the
same fine-tune otherwise).
``--steps N`` trains N optimizer steps (load-independent); else ``--seconds`` (120) of wall clock.
``--tta`` also scores the same model with its prediction averaged over 2, 4 and 8 flipped and turned
views. ``--busy`` keeps one core busy with another process (``python -c "while 1: pass"``) for the run.
Every line states the load average at its start and end.

    .venv/bin/python tests/benchmarks/bench_engine.py --data dsb isbi --recipes engine defaults --busy
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2
import numpy as np
import torch

from segdesk.core.vectorize import DEFAULT_MIN_AREA
from segdesk.ml import generalist
from segdesk.ml.data import make_sample, training_set_from_arrays
from segdesk.ml.training.evaluate import evaluate, full_logits
from segdesk.ml.training.plan import Plan, plan_of, plan_training, planned
from segdesk.ml.training.promotion import check_candidate
from segdesk.ml.training.train import EpochEnd, TrainConfig, TrainResult, fine_tune
from segdesk.services.warm_start import note_in_plan, starting_model
from tests.benchmarks import bench_train, shared_data, synth_plates

ROOT = Path(__file__).resolve().parents[2]
DSB = Path(os.environ.get("SEGDESK_DSB") or shared_data.DATA / "dsb2018_nuclei_dev")


def load_dsb(n_train: int) -> tuple[list, list, list, list]:
    names = sorted(p.name for p in (DSB / "images").glob("*.png"))
    test_names, train_names = names[-30:], names[:n_train]

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        image = cv2.imread(str(DSB / "images" / name), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        mask = (cv2.imread(str(DSB / "masks" / name), cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
        return image, mask

    train = [read(n) for n in train_names]
    test = [read(n) for n in test_names]
    return [t[0] for t in train], [t[1] for t in train], [t[0] for t in test], [t[1] for t in test]


def load_demo() -> tuple[list, list, list, list, list[str]]:
    """make_demo's images: its 3 labelled ones train (their generated truth), its 3 others test."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "resources" / "make_demo.py")
    demo = importlib.util.module_from_spec(spec)
    sys.modules["make_demo"] = demo
    spec.loader.exec_module(demo)
    images = demo.generate()
    tr, te = images[:3], images[3:]
    return (
        [d.rgb for d in tr],
        [d.truth for d in tr],
        [d.rgb for d in te],
        [d.truth for d in te],
        demo.CLASS_NAMES,
    )


def _enlarge(image: np.ndarray, mask: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray]:
    return (
        cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR),
        cv2.resize(mask, None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST),
    )


def _unzip(tr: list, te: list, names: list[str]) -> tuple[list, list, list, list, list[str]]:
    """(train images, train masks, test images, test masks, class names) from (image, mask) pairs."""
    return [p[0] for p in tr], [p[1] for p in tr], [p[0] for p in te], [p[1] for p in te], names


def load(data: str, args: argparse.Namespace) -> tuple[list, list, list, list, list[str]]:
    if data == "isbi":
        tr_i, tr_m = bench_train.load_isbi(list(range(5)))
        te_i, te_m = bench_train.load_isbi(list(range(20, 30)))
        return tr_i, tr_m, te_i, te_m, ["membrane", "interior"]
    if data == "dsb":
        return (*load_dsb(args.dsb_train), ["_background_", "nucleus"])
    if data == "demo":
        return load_demo()
    rng = np.random.default_rng(7)
    if data in ("vessels", "vessels-hr"):  # thin structures in colour: 5 fundus-like photos, 6 to test
        tr = [bench_train.synth_vessels(rng, 584, 565) for _ in range(5)]
        te = [bench_train.synth_vessels(rng, 584, 565) for _ in range(6)]
        if data == "vessels-hr":  # the same photos at --enlarge (2.5) x: HRF-like, vessels 2.5-15 px wide
            tr, te = ([_enlarge(i, m, args.enlarge) for i, m in pairs] for pairs in (tr, te))
        return _unzip(tr, te, ["_background_", "vessel"])
    if (
        data == "plates"
    ):  # inspection: rare scratches and pits on brushed metal, 8 photos (2 clean), 6 to test
        tr, te = synth_plates.plates(rng, 8), synth_plates.plates(np.random.default_rng(8), 6, clean_every=3)
        return _unzip(tr, te, ["_background_", "scratch", "pit"])
    if data == "regions":  # large objects on a background at --coverage: leaves on soil, tissue on glass
        tr = [synth_regions(rng, h, w, args.coverage) for h, w in [(480, 640), (512, 512), (600, 400)] * 2][
            :5
        ]
        te = [synth_regions(rng, 512, 512, args.coverage) for _ in range(6)]
        return _unzip(tr, te, ["_background_", "region"])
    if data == "aerial":  # five imbalanced classes in colour: 5 aerial-like tiles, 6 to test
        tr = [bench_train.synth_aerial(rng, h, w) for h, w in [(512, 512), (400, 600), (600, 450)] * 2][:5]
        te = [bench_train.synth_aerial(rng, 512, 512) for _ in range(6)]
        return _unzip(tr, te, ["_background_", "building", "road", "water", "car"])
    make = bench_train.synth_colour if data == "colour" else bench_train.synth_fluo
    sizes = [(300, 420, True), (640, 480, False), (512, 700, True), (380, 380, False), (600, 350, True)]
    test_sizes = [(500, 500, True), (700, 400, False)] * 3
    tr = [make(rng, h, w, dense=d) for h, w, d in sizes]
    te = [make(rng, h, w, dense=d) for h, w, d in test_sizes]
    return _unzip(tr, te, ["_background_", "cell", "rod"])


def synth_regions(rng: np.random.Generator, h: int, w: int, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """A colour photo of large irregular objects (smoothed noise above its (1 - coverage) quantile,
    50-150 px across) on a textured ground, told apart mostly by texture: veined, smooth leaves on
    coarse soil of nearly the same colour (the shift drawn per image), lit unevenly (a stand-in for the
    large-object data issue 16 keeps aside)."""
    field = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 22)
    mask = (field > np.quantile(field, 1 - coverage)).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wave = np.cos(xx / w * rng.uniform(2, 4) + rng.uniform(0, 6)) * np.sin(yy / h * 2 + rng.uniform(0, 6))
    light = 0.7 + 0.4 * wave
    soil = np.array([0.42, 0.38, 0.26]) + rng.uniform(-0.05, 0.05, 3)
    leaf = soil + np.array([-0.015, 0.02, -0.01]) * rng.uniform(0.5, 1.5)
    coarse = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.5)[..., None]
    pebbles = (cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 4) > 0.35)[..., None]
    veins = (np.abs(np.sin((xx * rng.uniform(0.5, 1) + yy) / rng.uniform(5, 9))) < 0.12)[..., None]
    img = np.where(mask[..., None] > 0, leaf + 0.05 * veins, soil + 0.12 * coarse + 0.05 * pebbles)
    img = img * light[..., None] + rng.normal(0, 0.05, img.shape)
    return (np.clip(cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.8), 0, 1) * 255).astype(np.uint8), mask


def configure(recipe: str, ds, args: argparse.Namespace) -> tuple[TrainConfig, Plan | None, object]:
    """(config, plan, the warm start or None)."""
    base = TrainConfig(minutes=args.seconds / 60, threads=args.threads or None, seed=args.seed)
    if recipe == "defaults":
        return bench_train.fixed_steps(base, ds, args.steps), None, None
    overrides = {"min_steps": args.steps, "target_steps": args.steps} if args.steps else {}
    for item in args.plan:  # --plan scale=0.75: any plan field, over what the plan derives
        key, _, raw = item.partition("=")
        overrides[key] = json.loads(raw)
    overrides = overrides or None
    warm = None
    if args.warm:  # the service's rule, then its planning (a given model keeps its width and depth)
        warm = starting_model(ds, base, warm_start={"on": True, "off": False, "auto": None}[args.warm])
        fixed = {**(overrides or {}), "base_width": 8, "depth": 4}  # the generalist's, on or off
        cfg = note_in_plan(planned(ds, base, warm.model if warm else None, fixed), warm and warm.name)
        plan = plan_of(cfg)
    else:
        cfg, plan, _fp = plan_training(ds, base, overrides=overrides)  # width sized for --seconds
    if args.steps:
        cfg = dataclasses.replace(cfg, minutes=10**6 / 60)  # no cap: exactly the steps
    return cfg, plan, warm


def _ious(names: list[str], metrics) -> str:
    return " ".join(f"{n}={v:.3f}" for n, v in zip(names, metrics.iou, strict=True) if v is not None)


class _Views(torch.nn.Module):
    """Probabilities averaged over the first ``views`` of the 8 flips and quarter turns: identity,
    h-flip, each turned by 180 degrees (4: the flips, as ``evaluate``'s ``tta``), then by 90 and 270."""

    def __init__(self, model: torch.nn.Module, views: int) -> None:
        super().__init__()
        self.model, self.views, self.config = model, views, model.config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = 0
        for k in range(self.views):
            rot, flip = (0, 2, 1, 3)[k // 2], k % 2
            v = torch.rot90(x.flip(-1) if flip else x, rot, (-2, -1))
            p = torch.rot90(self.model(v).softmax(1), -rot, (-2, -1))
            acc = acc + (p.flip(-1) if flip else p)
        return (acc / self.views).log()


def run_one(data: str, recipe: str, args: argparse.Namespace) -> None:
    tr_i, tr_m, te_i, te_m, names = load(data, args)
    ds = training_set_from_arrays(tr_i, tr_m, names, val_fraction=0.2, seed=args.seed)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    cfg, plan, warm = configure(recipe, ds, args)
    plan_s = time.perf_counter() - t0
    result = None
    start = {"model": warm.model, "model_classes": warm.classes} if warm else {}
    for event in fine_tune(ds, cfg, **start):
        if isinstance(event, EpochEnd):
            print(f"    step {event.step} {event.elapsed_s:.0f}s val {event.metrics.miou:.3f}", flush=True)
        elif isinstance(event, TrainResult):
            result = event
    assert result is not None
    verdict = check_candidate(result.model, ds.val, names, scale=cfg.scale)
    test = evaluate(
        result.model, [make_sample(i, m) for i, m in zip(te_i, te_m, strict=True)], names, scale=cfg.scale
    )
    fg = _ious(names, test)
    if args.tta:  # the same model, views averaged at prediction
        samples = [make_sample(i, m) for i, m in zip(te_i, te_m, strict=True)]
        for views, what in ((2, "identity + h-flip"), (4, "flips"), (8, "flips and rotations")):
            m = evaluate(_Views(result.model, views), samples, names, scale=cfg.scale)
            print(f"    {views} views ({what}): test mIoU={m.miou:.4f} ({_ious(names, m)})", flush=True)
    if args.alarms:  # false alarms: predicted components of a class that touch none of its true pixels
        print(
            f"    false alarms per test image: {_alarms(result.model, te_i, te_m, names, cfg.scale)}",
            flush=True,
        )
    if args.per_image:  # each training image (held-out ones marked *) and each test image alone
        for tag, samples in (("train", ds.train), ("train*", ds.val)):
            for s in samples:
                m = evaluate(result.model, [s], names, scale=cfg.scale)
                print(f"    {tag} {s.name[:24]} {s.image.shape[:2]} IoU {[round(v or 0, 3) for v in m.iou]}")
        for k, (i, mk) in enumerate(zip(te_i, te_m, strict=True)):
            m = evaluate(result.model, [make_sample(i, mk)], names, scale=cfg.scale)
            print(f"    test {k} {i.shape[:2]} IoU {[round(v or 0, 3) for v in m.iou]}")
    print(
        f"[{data}] {recipe}{' busy' if args.busy else ''}{f' warm={args.warm}' if args.warm else ''}"
        f"{f' (from {warm.name})' if warm else ''}: "
        f"steps={result.steps} train_s={result.elapsed_s:.0f} "
        f"plan_s={plan_s:.1f} stop={result.stop_reason} test mIoU={test.miou:.4f} ({fg}) "
        f"useful={verdict.useful} ({verdict.reason}) load {load0:.2f}->{os.getloadavg()[0]:.2f}"
        + (f"\n    plan: {plan.summary()}; {'; '.join(plan.reasons)}" if plan else "")
        + (f"\n    note: {result.note}" if result.note else ""),
        flush=True,
    )


def _alarms(model, images: list, masks: list, names: list[str], scale: float) -> str:
    """Per foreground class: predicted 8-connected components of at least the proposals' minimum
    area (what the person would see) touching none of the class's true pixels, and true objects no
    prediction touches, each over all test images."""
    false, missed = np.zeros(len(names), int), np.zeros(len(names), int)
    for image, mask in zip(images, masks, strict=True):
        unit = make_sample(image, mask).image
        pred = full_logits(model, unit, mask.shape, "cpu", 512, False, None, scale).argmax(0).numpy()
        for c in range(1, len(names)):
            for a, b, out, least in ((pred, mask, false, DEFAULT_MIN_AREA), (mask, pred, missed, 1)):
                n, comp, stats, _ = cv2.connectedComponentsWithStats(
                    (a == c).astype(np.uint8), connectivity=8
                )
                hit = set(np.unique(comp[(b == c) & (comp > 0)]).tolist())
                out[c] += sum(1 for k in range(1, n) if k not in hit and stats[k, cv2.CC_STAT_AREA] >= least)
    return ", ".join(
        f"{names[c]} {false[c] / len(images):.1f} false, {missed[c]} missed" for c in range(1, len(names))
    )


def run_seed(data: str, args: argparse.Namespace) -> None:
    folder = {"isbi": bench_train.DATA, "dsb": DSB}.get(data)
    if folder is None or not bench_train.SEED_RECIPE.exists():
        return
    k, holdout = (5, 10) if data == "isbi" else (args.dsb_train, 30)
    load0 = os.getloadavg()[0]
    cmd = [
        sys.executable,
        str(bench_train.SEED_RECIPE),
        str(folder),
        "--k",
        str(k),
        "--holdout",
        str(holdout),
    ]
    cmd += ["--seconds", str(args.seconds), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    text = out.stdout.strip() or out.stderr.strip()[-400:]
    print(
        f"[{data}] seed{' busy' if args.busy else ''}: {text} load {load0:.2f}->{os.getloadavg()[0]:.2f}",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["isbi", "dsb", "colour", "fluo16"])
    p.add_argument("--recipes", nargs="+", default=["engine", "defaults", "seed"])
    p.add_argument("--plan", nargs="*", default=[], help="plan overrides, e.g. scale=0.75")
    p.add_argument("--enlarge", type=float, default=2.5, help="vessels-hr: the photos enlarged this much")
    p.add_argument("--coverage", type=float, default=0.3, help="regions: the objects' share of the pixels")
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="0: the engine picks (idle cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dsb-train", type=int, default=10)
    p.add_argument("--busy", action="store_true", help="keep one core busy with another process")
    p.add_argument(
        "--warm",
        choices=["on", "off", "auto"],
        default=None,
        help="engine: from the generalist, not, or where the service's rule says (auto)",
    )
    p.add_argument(
        "--generalist", default=None, help="with --warm on or auto: this shipped generalist (a weights/ name)"
    )
    p.add_argument("--tta", action="store_true", help="also the test score with 2, 4, 8 views averaged")
    p.add_argument("--alarms", action="store_true", help="also false alarms and missed objects per class")
    p.add_argument("--per-image", action="store_true", help="also each training and test image's IoU")
    args = p.parse_args()
    if args.generalist:  # e.g. compare generalist-v1 and -v2 side by side before one replaces the other
        generalist.generalist_path = functools.partial(generalist.generalist_path, args.generalist)
    if args.threads:
        torch.set_num_threads(args.threads)
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.busy else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its busy process
    try:
        for data in args.data:
            for recipe in args.recipes:
                if recipe == "seed":
                    run_seed(data, args)
                else:
                    run_one(data, recipe, args)
    finally:
        if busy is not None:
            busy.kill()


if __name__ == "__main__":
    main()
