"""Train segdesk's shipped generalist starting model (``segdesk/ml/weights/generalist-v3``).

    python scripts/train_generalist.py [--steps 3000] [--out segdesk/ml/weights/generalist-v4]

The shipped generalist-v3 was made with ``--steps 2400`` (1143 s on one thread of this 2-core CPU).

What it learns from (every source may be redistributed; no image a benchmark scores):

- **DSB 2018 dev** (``shared/data/dsb2018_nuclei_dev``; ``SEGDESK_SHARED`` / ``SEGDESK_DSB``; CC0, BBBC038v1): the first 50 images by name;
  the last 30 by name are the dev benchmark's test images and stay out.
- **Generated images** drawn here from fixed seeds (ours, MIT): stained-tissue-like colour photos and
  12-bit fluorescence of discs and rods (the generators of ``tests/benchmarks/bench_train.py``, other
  seeds than the benchmark's), demo-like cells with nuclei (``resources/make_demo.py``'s drawing, other
  seeds than the demo's), and thin dark line networks on textured grey (membrane-like).
- Not ISBI 2012: its terms are not clear enough to ship a model trained on it.

Every object class becomes one class ``object`` (classes ``_background_``, ``object``): the model is a
starting point whose encoder and decoder a project reuses with a new head for its own classes.

Recipe: each image is resampled to its own working scale (``plan.choose_scale`` on its fingerprint, so
a typical object spans about 24 px, as at prediction); then segdesk's own ``fine_tune`` with its
normalization, augmentation, patch sampling and loss (the fine-tuning defaults), width 8, depth 4 (the
CPU plan's), a fixed number of steps (``minutes=None``: epochs decide the schedule), one seed, one
thread. The best epoch on held-out generated images is kept. Writes the checkpoint (the model store's
safetensors format) with a ``generalist`` card in its metadata, and ``CARD.md`` beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from segdesk.ml.checkpoint import save_checkpoint  # noqa: E402
from segdesk.ml.data import Sample, TrainingSet, make_sample  # noqa: E402
from segdesk.ml.rescale import resample_sample  # noqa: E402
from segdesk.ml.training.evaluate import evaluate  # noqa: E402
from segdesk.ml.training.fingerprint import measure  # noqa: E402
from segdesk.ml.training.plan import choose_scale  # noqa: E402
from segdesk.ml.training.train import EpochEnd, TrainConfig, TrainProgress, TrainResult, fine_tune  # noqa: E402
from tests.benchmarks import bench_train, shared_data  # noqa: E402

CLASSES = ["_background_", "object"]
DSB = Path(os.environ.get("SEGDESK_DSB") or shared_data.DATA / "dsb2018_nuclei_dev")
DSB_HELD_OUT = 30  # the last 30 by name: the dev benchmark's test images
SEED = 16


def _make_demo_module():
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "resources" / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_demo"] = module  # dataclasses look their module up
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def dsb_training_names() -> list[str]:
    names = sorted(p.name for p in (DSB / "images").glob("*.png"))
    if len(names) <= DSB_HELD_OUT:
        raise SystemExit(f"{DSB / 'images'}: {len(names)} images, need more than {DSB_HELD_OUT}")
    return names[:-DSB_HELD_OUT]


def load_dsb(names: list[str]) -> list[tuple[np.ndarray, np.ndarray, str]]:
    out = []
    for name in names:
        image = cv2.imread(str(DSB / "images" / name), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        mask = (cv2.imread(str(DSB / "masks" / name), cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
        out.append((image, mask, f"dsb/{name}"))
    return out


def membranes(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Thin dark boundaries of random cells (a Voronoi-like network) on textured grey: object = line."""
    n = int(h * w / rng.uniform(1500, 5000))
    pts = np.stack([rng.uniform(0, w, n), rng.uniform(0, h, n)], 1).astype(np.float32)
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    for p in pts:
        subdiv.insert((float(p[0]), float(p[1])))
    facets, _ = subdiv.getVoronoiFacetList([])
    mask = np.zeros((h, w), np.uint8)
    for facet in facets:
        cv2.polylines(mask, [np.round(facet).astype(np.int32)], True, 1, int(rng.integers(1, 4)))
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 4))
    img = 0.6 + 0.08 * tex + rng.uniform(-0.1, 0.1)
    img[mask == 1] -= rng.uniform(0.25, 0.45)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.5)) + rng.normal(0, 0.04, (h, w))
    if rng.random() < 0.3:  # light lines on dark, too
        img = 1.0 - img
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), mask


def generated(seed: int, count: int) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """``count`` images of each generated kind, drawn from ``seed`` (not the benchmarks' seeds)."""
    demo = _make_demo_module()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        h, w = int(rng.integers(256, 520)), int(rng.integers(256, 520))
        dense = bool(rng.random() < 0.5)
        img, m = bench_train.synth_colour(rng, h, w, dense=dense)
        out.append((img, (m > 0).astype(np.uint8), f"gen/colour{i}"))
        img, m = bench_train.synth_fluo(rng, h, w, dense=dense)
        out.append((img, (m > 0).astype(np.uint8), f"gen/fluo16_{i}"))
        img, m = membranes(rng, h, w)
        out.append((img, m, f"gen/lines{i}"))
        d = demo.generate(1, seed=seed * 1000 + i)[0]
        # Demo-like cells: alternately the cells (with their nuclei) or the nuclei are the objects.
        out.append((d.rgb, (d.truth >= (1 if i % 2 == 0 else 2)).astype(np.uint8), f"gen/demo{i}"))
    return out


def at_own_scale(items: list[tuple[np.ndarray, np.ndarray, str]]) -> tuple[list[Sample], list[float]]:
    """Each image resampled to its own working scale (``choose_scale`` on its fingerprint)."""
    samples, scales = [], []
    for image, mask, name in items:
        s = make_sample(image, mask, name=name)
        scale, _typical, _why = choose_scale(measure([s], CLASSES))
        samples.append(resample_sample(s, scale))
        scales.append(scale)
    return samples, scales


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--patches-per-epoch", type=int, default=400)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--generated", type=int, default=12, help="images of each generated kind")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "segdesk" / "ml" / "weights" / "generalist-v4")
    p.add_argument("--probe", type=int, default=0, help="time this many steps and stop (no output)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    names = dsb_training_names()
    train_items = load_dsb(names) + generated(SEED, args.generated)
    val_items = generated(SEED + 1, 2)
    train, train_scales = at_own_scale(train_items)
    val, _ = at_own_scale(val_items)
    print(
        f"data: {len(train)} training images ({len(names)} DSB), {len(val)} validation; "
        f"scales {sorted(set(train_scales))}; prepared in {time.time() - t0:.0f}s",
        flush=True,
    )
    dataset = TrainingSet(CLASSES, train, val, split="held-out", source="generalist")
    per_epoch = args.patches_per_epoch // 4
    epochs = max(1, -(-args.steps // per_epoch)) if not args.probe else 1
    cfg = TrainConfig(
        minutes=None,
        max_epochs=epochs,
        patience=0,
        patches_per_epoch=args.patches_per_epoch,
        base_width=args.width,
        depth=args.depth,
        seed=SEED,
        threads=args.threads,
        scale=1.0,
        target_steps=args.probe or 0,
    )
    result = None
    start = time.time()
    for event in fine_tune(dataset, cfg):
        if isinstance(event, TrainProgress) and args.probe and event.step % 10 == 0:
            print(f"  step {event.step} {event.elapsed_s:.1f}s loss {event.loss:.3f}", flush=True)
        elif isinstance(event, EpochEnd):
            print(
                f"  epoch {event.epoch} step {event.step} {event.elapsed_s:.0f}s loss {event.train_loss:.3f} "
                f"val mIoU {event.metrics.miou:.3f} load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        elif isinstance(event, TrainResult):
            result = event
    assert result is not None
    print(
        f"trained {result.steps} steps in {time.time() - start:.0f}s; best val mIoU {result.metrics.miou:.4f}"
    )
    if args.probe:
        return
    zero_shot = dsb_zero_shot(result.model)
    card = {
        "name": args.out.name,
        "classes": CLASSES,
        "data": {
            "dsb2018_nuclei_dev": {
                "images": names,
                "licence": "CC0 (BBBC038v1)",
                "held_out": f"the last {DSB_HELD_OUT} by name (the dev benchmark's test)",
            },
            "generated": {
                "seed": SEED,
                "per_kind": args.generated,
                "kinds": [
                    "colour (bench_train.synth_colour)",
                    "fluo16 (bench_train.synth_fluo)",
                    "membrane-like lines",
                    "demo-like cells / nuclei (make_demo)",
                ],
                "licence": "MIT (drawn by scripts/train_generalist.py)",
            },
            "not_used": "ISBI 2012 (terms unclear for a shipped model)",
        },
        "recipe": {
            "script": "scripts/train_generalist.py",
            "per_image_working_scale": "plan.choose_scale on each image's fingerprint",
            "steps": result.steps,
            "epochs": result.epochs,
            "patches_per_epoch": args.patches_per_epoch,
            "seed": SEED,
            "threads": args.threads,
            "train_s": round(result.elapsed_s),
            "config": {
                k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("augment", "loss", "plan")
            },
        },
        "metrics": {
            "held_out_generated": {
                "miou": round(result.metrics.miou, 4),
                "iou": [None if v is None else round(v, 4) for v in result.metrics.iou],
                "images": [s.name for s in val],
            },
            "dsb_dev_test_zero_shot": zero_shot,
        },
    }
    meta = {**result.meta(), "generalist": card, "plan": {"scale": 1.0}}
    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(result.model, meta, args.out / "model.safetensors")
    (args.out / "CARD.md").write_text(card_markdown(card), encoding="utf-8")
    size = (args.out / "model.safetensors").stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB)\n{json.dumps(card['metrics'], indent=1)}")


def dsb_zero_shot(model: torch.nn.Module) -> dict[str, float | None]:
    """The generalist as it is on the dev benchmark's 30 test images (never trained or selected on)."""
    names = sorted(p.name for p in (DSB / "images").glob("*.png"))[-DSB_HELD_OUT:]
    items = load_dsb(names)
    samples, _scales = at_own_scale(items)  # the truth's own scale: an upper bound on the scale choice
    m = evaluate(model, samples, CLASSES)
    return {
        "miou": round(m.miou, 4),
        "object_iou": None if m.iou[1] is None else round(m.iou[1], 4),
        "note": "each image at the working scale of its own truth; not used to select anything",
    }


def card_markdown(card: dict) -> str:
    data, recipe, metrics = card["data"], card["recipe"], card["metrics"]
    return "\n".join(
        [
            f"# {card['name']}: segdesk's generalist starting model",
            "",
            "Classes `_background_`, `object`. A new project starts from its encoder and decoder with a new",
            "head for its own classes (`segdesk/services/warm_start.py`). Made by `scripts/train_generalist.py`.",
            "",
            "## Data",
            f"- DSB 2018 dev, first {len(data['dsb2018_nuclei_dev']['images'])} images by name "
            f"({data['dsb2018_nuclei_dev']['licence']}); held out: {data['dsb2018_nuclei_dev']['held_out']}.",
            f"- Generated, {data['generated']['per_kind']} of each kind: {', '.join(data['generated']['kinds'])}; "
            f"{data['generated']['licence']}.",
            f"- Not used: {data['not_used']}.",
            "",
            "## Recipe",
            f"- Each image at its own working scale ({recipe['per_image_working_scale']}).",
            f"- segdesk's fine_tune defaults (normalization, augmentation, loss), width "
            f"{recipe['config']['base_width']}, depth {recipe['config']['depth']}, {recipe['steps']} steps "
            f"({recipe['epochs']} epochs of {recipe['patches_per_epoch']} patches), seed {recipe['seed']}, "
            f"{recipe['threads']} thread(s), {recipe['train_s']} s.",
            "",
            "## Metrics",
            f"- Held-out generated images: mIoU {metrics['held_out_generated']['miou']}, "
            f"IoU {metrics['held_out_generated']['iou']}.",
            f"- DSB dev test (30 images, zero-shot): mIoU {metrics['dsb_dev_test_zero_shot']['miou']}, "
            f"object IoU {metrics['dsb_dev_test_zero_shot']['object_iou']} "
            f"({metrics['dsb_dev_test_zero_shot']['note']}).",
            "",
        ]
    )


if __name__ == "__main__":
    main()
