"""Training-quality benchmarks of issue 4 (a plain script, not collected by pytest).

Parts (``--only`` picks some; default all):
- ``isbi``: train segdesk's defaults on ISBI 2012 images 0-4 for ``--seconds`` (120) on ``--threads`` (2),
  score images 20-29 at full resolution (IoU per class, mIoU); the seeds' recipe
  (../shared/tools/seed_recipe.py) runs in the same run, in a subprocess, as the anchor.
- ``curve``: the learning curve as the app uses it: no model, then 1, 2, 3, 5 reviewed images, an
  incremental fine-tune of ``--curve-seconds`` (60) after each, scored on 20-29.
- ``synth``: generated data of another character (colour, several image sizes, sparse small objects and
  dense large ones, 3 classes; then the same as 16-bit grey 'fluorescence'), ``--synth-seconds`` (60)
  each, to show the defaults are not tuned to ISBI.
- ``speed``: training throughput (patches/s) with 2 threads and with 1 (a GUI keeps a core).
Peak memory (ru_maxrss) is printed at the end. ``--set key=value`` overrides TrainConfig fields
(``loss.dice_weight=0.5``, ``augment.affine_p=0``) for tuning. ``--steps N`` (``--curve-steps``,
``--synth-steps``) trains a fixed number of optimizer steps with the schedule following steps instead
of the clock: the way to compare settings on a shared, noisy machine (120 s on a quiet 2-core CPU is
about 352 steps of 4 x 256x256; 60 s about 176).

    .venv/bin/python tests/benchmarks/bench_train.py --only isbi --seconds 120
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import cv2
import numpy as np
import torch

from segdesk.ml.data import make_sample, training_set_from_arrays
from segdesk.ml.device import pick_device
from segdesk.ml.training.evaluate import evaluate
from segdesk.ml.training.train import EpochEnd, TrainConfig, TrainResult, fine_tune
from tests.benchmarks.shared_data import SHARED

# SEGDESK_ISBI: another copy of the data (the device machine gets it carried, see device_check.sh).
DATA = Path(os.environ.get("SEGDESK_ISBI", SHARED / "data" / "isbi2012_membrane"))
SEED_RECIPE = SHARED / "tools" / "seed_recipe.py"
CLASSES = ["membrane", "interior"]


def load_isbi(indices: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, masks = [], []
    for i in indices:
        images.append(cv2.imread(str(DATA / "images" / f"{i}.png"), cv2.IMREAD_UNCHANGED))
        masks.append(
            (cv2.imread(str(DATA / "masks" / f"{i}.png"), cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
        )
    return images, masks


def make_config(overrides: list[str], **base: object) -> TrainConfig:
    cfg = TrainConfig(**base)  # type: ignore[arg-type]
    for item in overrides:
        key, _, raw = item.partition("=")
        try:
            value = json.loads(raw)  # numbers, true/false/null, lists
        except json.JSONDecodeError:
            value = raw  # a bare string: upsample=transpose
        if isinstance(value, list):
            value = tuple(value)
        if "." in key:
            outer, inner = key.split(".", 1)
            sub = dataclasses.replace(getattr(cfg, outer), **{inner: value})
            cfg = dataclasses.replace(cfg, **{outer: sub})
        else:
            cfg = dataclasses.replace(cfg, **{key: value})
    return cfg


def fixed_steps(cfg: TrainConfig, dataset, steps: int | None) -> TrainConfig:
    """``steps`` optimizer steps, the schedule following steps: load-independent comparisons."""
    if not steps:
        return cfg
    from segdesk.ml.training.schedule import steps_per_epoch

    per_epoch = steps_per_epoch(dataset, cfg)
    return dataclasses.replace(cfg, minutes=None, patience=0, max_epochs=-(-steps // per_epoch))


def train(dataset, cfg, *, model=None, model_classes=None, verbose=True) -> TrainResult:
    for event in fine_tune(dataset, cfg, model=model, model_classes=model_classes):
        if isinstance(event, EpochEnd) and verbose:
            print(
                f"    epoch {event.epoch:3d} step {event.step:5d} {event.elapsed_s:6.1f}s "
                f"loss {event.train_loss:.4f} val {event.metrics.miou:.4f}",
                flush=True,
            )
        if isinstance(event, TrainResult):
            return event
    raise RuntimeError("fine_tune ended without a result")


def score(model, test_images, test_masks, *, tta=False) -> dict[str, float]:
    samples = [
        make_sample(im, m, name=str(i)) for i, (im, m) in enumerate(zip(test_images, test_masks, strict=True))
    ]
    t0 = time.perf_counter()
    m = evaluate(model, samples, CLASSES, tta=tta)
    return {
        "iou_membrane": m.iou[0],
        "iou_interior": m.iou[1],
        "miou": m.miou,
        "eval_s": time.perf_counter() - t0,
    }


def fmt(d: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def run_isbi(args) -> None:
    train_images, train_masks = load_isbi(list(range(5)))
    test_images, test_masks = load_isbi(list(range(20, 30)))
    cfg = make_config(args.set, minutes=args.seconds / 60, threads=args.threads)
    ds = training_set_from_arrays(train_images, train_masks, CLASSES, val_fraction=args.val_fraction)
    cfg = fixed_steps(cfg, ds, args.steps)
    print(f"[isbi] load {os.getloadavg()[0]:.2f}; split={ds.split} train={len(ds.train)} val={len(ds.val)}")
    print(f"[isbi] config {cfg.to_dict()}", flush=True)
    result = train(ds, cfg, verbose=args.verbose)
    res = score(result.model, test_images, test_masks)
    print(
        f"[isbi] segdesk steps={result.steps} epochs={result.epochs} train_s={result.elapsed_s:.1f} "
        f"stop={result.stop_reason} {fmt(res)} load_end={os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if args.tta:
        print(f"[isbi] segdesk+flipTTA {fmt(score(result.model, test_images, test_masks, tta=True))}")
    if not args.no_seed and SEED_RECIPE.exists():
        print(f"[isbi] seed recipe (load {os.getloadavg()[0]:.2f}) ...", flush=True)
        out = subprocess.run(
            [
                sys.executable,
                str(SEED_RECIPE),
                str(DATA),
                "--k",
                "5",
                "--seconds",
                str(args.seconds),
                "--threads",
                str(args.threads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"[isbi] {out.stdout.strip() or out.stderr.strip()[-500:]}")


def run_curve(args) -> None:
    test_images, test_masks = load_isbi(list(range(20, 30)))
    model, classes = None, None
    for k in (1, 2, 3, 5):
        images, masks = load_isbi(list(range(k)))
        cfg = make_config(args.set, minutes=args.curve_seconds / 60, threads=args.threads)
        ds = training_set_from_arrays(images, masks, CLASSES, val_fraction=args.val_fraction)
        cfg = fixed_steps(cfg, ds, args.curve_steps)
        result = train(ds, cfg, model=model, model_classes=classes, verbose=args.verbose)
        model, classes = result.model, result.class_names
        print(
            f"[curve] images={k} split={ds.split} steps={result.steps} train_s={result.elapsed_s:.1f} "
            f"load={os.getloadavg()[0]:.2f} {fmt(score(model, test_images, test_masks))}",
            flush=True,
        )


def synth_layout(rng: np.random.Generator, h: int, w: int, *, dense: bool) -> np.ndarray:
    """Class map: 'cells' (class 1, discs) and 'rods' (class 2, thin lines), sparse or dense."""
    mask = np.zeros((h, w), np.uint8)
    n = int(h * w / (900 if dense else 9000))
    for _ in range(n):
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        if rng.random() < 0.6:
            r = int(rng.integers(4, 14 if dense else 9))
            cv2.circle(mask, (cx, cy), r, 1, -1)
        else:
            angle = rng.uniform(0, np.pi)
            length = rng.uniform(10, 30)
            dx, dy = int(np.cos(angle) * length), int(np.sin(angle) * length)
            cv2.line(mask, (cx - dx, cy - dy), (cx + dx, cy + dy), 2, int(rng.integers(2, 5)))
    return mask


def synth_colour(rng: np.random.Generator, h: int, w: int, *, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """A stained-tissue-like 8-bit RGB photo: tinted textured background, reddish cells, bluish rods."""
    mask = synth_layout(rng, h, w, dense=dense)
    base = np.array([0.62, 0.55, 0.5]) + rng.uniform(-0.06, 0.06, 3)  # per-image stain variation
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 6)[..., None]
    img = np.empty((h, w, 3), np.float32)
    img[:] = base + 0.08 * noise
    img[mask == 1] = np.array([0.75, 0.35, 0.3]) + rng.normal(0, 0.04, 3)
    img[mask == 2] = np.array([0.3, 0.4, 0.7]) + rng.normal(0, 0.04, 3)
    img = cv2.GaussianBlur(img, (0, 0), 1.2) + rng.normal(0, 0.05, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), mask


def synth_fluo(rng: np.random.Generator, h: int, w: int, *, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """A fluorescence-like 16-bit grey image: dark background, bright cells, dimmer rods, 12-bit range."""
    mask = synth_layout(rng, h, w, dense=dense)
    level = np.array([300.0, 2600.0, 1400.0]) * rng.uniform(0.7, 1.3)  # per-image exposure
    img = level[mask].astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.5) + 100 + rng.poisson(40, (h, w))
    return np.clip(img, 0, 4095).astype(np.uint16), mask


def _vessel_branch(rng, mask, dark, x, y, angle, width, length, depth) -> None:
    """One vessel drawn into ``mask`` (1) and ``dark`` (its darkening, fainter when thinner) by a
    random walk from (x, y), and its side branches, narrower and shorter, down to ``depth`` levels."""
    pts = [(x, y)]
    step = 6.0
    for _ in range(int(length / step)):
        angle += rng.normal(0, 0.12)
        x += np.cos(angle) * step
        y += np.sin(angle) * step
        pts.append((x, y))
    p = np.round(np.array(pts)).astype(np.int32)
    t = max(1, int(round(width)))
    cv2.polylines(mask, [p], False, 1, t, lineType=cv2.LINE_8)
    cv2.polylines(dark, [p], False, min(1.0, 0.35 + width / 6), t, lineType=cv2.LINE_8)
    if depth <= 0 or width < 1.0:
        return
    for k in range(1, len(pts) - 2, max(2, int(rng.integers(4, 9)))):
        if rng.random() < 0.45:
            side = rng.choice([-1, 1])
            bx, by = pts[k]
            _vessel_branch(
                rng,
                mask,
                dark,
                bx,
                by,
                angle + side * rng.uniform(0.4, 1.1),
                width * rng.uniform(0.5, 0.75),
                length * rng.uniform(0.35, 0.6),
                depth - 1,
            )


def synth_vessels(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A retina-like 8-bit RGB photo: dark round field of view, orange fundus, a bright disc and a
    tree of dark-red vessels 1-6 px wide whose contrast fades with their width (a stand-in for the
    thin structures in colour photos that issue 16 keeps aside; DRIVE is 565 x 584)."""
    mask = np.zeros((h, w), np.uint8)
    dark = np.zeros((h, w), np.float32)
    cy, cx = h / 2, w / 2
    r = 0.46 * min(h, w)
    dx, dy = cx + rng.uniform(0.15, 0.3) * r * rng.choice([-1, 1]), cy + rng.uniform(-0.1, 0.1) * r
    for a in np.linspace(0, 2 * np.pi, 5, endpoint=False) + rng.uniform(0, 1):
        _vessel_branch(rng, mask, dark, dx, dy, a, rng.uniform(3.5, 6), r * rng.uniform(0.9, 1.4), 5)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fov = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r
    mask &= fov.astype(np.uint8)
    base = np.array([0.85, 0.42, 0.18]) * rng.uniform(0.75, 1.1)
    light = 1.0 - 0.45 * (((yy - cy) ** 2 + (xx - cx) ** 2) / (r * r))
    disc = np.exp(-(((yy - dy) ** 2 + (xx - dx) ** 2) / (2 * (0.09 * r) ** 2)))
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 8)
    img = base[None, None, :] * (light + 0.05 * tex)[..., None] + 0.5 * disc[..., None]
    contrast = rng.uniform(0.2, 0.4)
    soft = cv2.GaussianBlur(dark, (0, 0), 0.8)
    img = img * (1 - contrast * soft[..., None] * np.array([0.8, 1.0, 0.7]))
    img = img + rng.normal(0, 0.03, img.shape)
    img[~fov] = 0.02
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), mask


def synth_aerial(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """An aerial-photo-like 8-bit RGB tile with five classes of very different sizes and shares:
    vegetation (0), buildings (1: rotated grey / reddish roofs, ~10%), roads (2: grey bands that
    look like roofs up close, ~8%), water (3: dark smooth blobs, ~5%) and cars (4: small bright
    rectangles on the roads, under 1%): the many-class, imbalanced kind of data a person in remote
    sensing brings, where a rare class is easily lost."""
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 3))):  # water first: everything else may cover it
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        axes = (int(rng.integers(20, 60)), int(rng.integers(15, 40)))
        cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 3, -1)
    roads = []
    for _ in range(int(rng.integers(2, 4))):
        if rng.random() < 0.5:
            p, q = (0, int(rng.integers(h))), (w - 1, int(rng.integers(h)))
        else:
            p, q = (int(rng.integers(w)), 0), (int(rng.integers(w)), h - 1)
        width = int(rng.integers(7, 12))
        cv2.line(mask, p, q, 2, width)
        roads.append((p, q))
    roofs = np.zeros((h, w, 3), np.float32)
    for _ in range(int(h * w / 3500)):
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        size = (float(rng.uniform(14, 40)), float(rng.uniform(12, 30)))
        box = cv2.boxPoints(((cx, cy), size, float(rng.uniform(0, 90)))).astype(np.int32)
        if (mask[max(cy - 20, 0) : cy + 20, max(cx - 20, 0) : cx + 20] == 2).any():
            continue  # not on a road
        cv2.fillPoly(mask, [box], 1)
        tone = [0.55, 0.55, 0.57] if rng.random() < 0.6 else [0.62, 0.38, 0.32]
        cv2.fillPoly(roofs, [box], [float(t + rng.normal(0, 0.04)) for t in tone])
    cars = np.zeros((h, w, 3), np.float32)
    for p, q in roads:
        for t in rng.uniform(0, 1, int(rng.integers(4, 12))):
            cx, cy = p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
            angle = float(np.degrees(np.arctan2(q[1] - p[1], q[0] - p[0])))
            box = cv2.boxPoints(((cx, cy), (9.0, 4.0), angle)).astype(np.int32)
            cv2.fillPoly(mask, [box], 4)
            cv2.fillPoly(cars, [box], [float(v) for v in rng.uniform(0.1, 0.95, 3)])
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3)
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.array([0.32, 0.45, 0.24]) + rng.uniform(-0.04, 0.04, 3)
    img += 0.06 * tex[..., None] * np.array([1.0, 1.2, 0.8])
    img[mask == 1] = roofs[mask == 1]
    img[mask == 2] = np.array([0.5, 0.5, 0.5]) + 0.03 * tex[mask == 2][:, None]
    img[mask == 3] = np.array([0.12, 0.2, 0.28]) + 0.02 * tex[mask == 3][:, None]
    img[mask == 4] = cars[mask == 4]
    img = cv2.GaussianBlur(img, (0, 0), 0.8) + rng.normal(0, 0.025, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), mask


def run_synth(args) -> None:
    rng = np.random.default_rng(7)
    sizes = [(300, 420, True), (640, 480, False), (512, 700, True), (380, 380, False), (600, 350, True)]
    test_sizes = [(500, 500, True), (700, 400, False)] * 3
    names = ["_background_", "cell", "rod"]
    cfg = make_config(args.set, minutes=args.synth_seconds / 60, threads=args.threads)
    for kind, make in (("colour 8-bit", synth_colour), ("fluorescence 16-bit", synth_fluo)):
        train_pairs = [make(rng, h, w, dense=d) for h, w, d in sizes]
        test_pairs = [make(rng, h, w, dense=d) for h, w, d in test_sizes]
        ds = training_set_from_arrays([p[0] for p in train_pairs], [p[1] for p in train_pairs], names)
        result = train(ds, fixed_steps(cfg, ds, args.synth_steps), verbose=args.verbose)
        m = evaluate(result.model, [make_sample(im, mk) for im, mk in test_pairs], names)
        print(
            f"[synth] {kind}: steps={result.steps} val {result.metrics.miou:.3f} test {m.summary()} "
            f"(load {os.getloadavg()[0]:.2f})",
            flush=True,
        )


def run_speed(args) -> None:
    images, masks = load_isbi(list(range(5)))
    ds = training_set_from_arrays(images, masks, CLASSES)
    device = pick_device(make_config(args.set).device)
    # CPU threads decide a CPU's throughput; on a GPU they do not, so it is measured once.
    for threads in (2, 1) if device.type == "cpu" else (args.threads,):
        cfg = make_config(args.set, minutes=0.5, threads=threads, max_epochs=2)
        t0 = time.perf_counter()
        result = train(ds, cfg, verbose=False)
        dt = time.perf_counter() - t0
        pps = result.steps * cfg.batch_size / dt
        print(
            f"[speed] device={device} threads={threads} patch={cfg.patch_size} batch={cfg.batch_size} "
            f"width={cfg.base_width}: {pps:.1f} patches/s incl. validation ({result.steps} steps, "
            f"{dt:.1f}s, load {os.getloadavg()[0]:.2f})",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", default=["isbi", "curve", "synth", "speed"])
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--curve-seconds", type=float, default=60)
    p.add_argument("--synth-seconds", type=float, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, help="isbi: train this many steps instead of --seconds")
    p.add_argument("--curve-steps", type=int, help="curve: steps per fine-tune instead of seconds")
    p.add_argument("--synth-steps", type=int, help="synth: steps per data set instead of seconds")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--set", action="append", default=[], help="TrainConfig override key=value")
    p.add_argument("--tta", action="store_true", help="also score with flip test-time augmentation")
    p.add_argument("--no-seed", action="store_true", help="skip the seeds' recipe anchor")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    parts = {"isbi": run_isbi, "curve": run_curve, "synth": run_synth, "speed": run_speed}
    for name in args.only:
        parts[name](args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss): this process {peak:.0f} MiB, seed recipe {child:.0f} MiB")


if __name__ == "__main__":
    main()
