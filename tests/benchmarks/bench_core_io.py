"""Labelme JSON load + save speed: segdesk against labelme 6.3.1's LabelFile, in one run.

The file: 2,000 polygons of 100 vertices on a 4000x3000 image (shared/tools/make_big_labelme.py, or
the same generator below when shared/ is absent). Prints a markdown table of medians.

Usage: python tests/benchmarks/bench_core_io.py [--out DIR] [--repeat 5] [--n 2000] [--v 100]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
from PIL import Image

from segdesk.core import _labelme_json
from segdesk.core.labelme_io import load_document, save_document

SHARED_TOOL = Path(__file__).resolve().parents[3] / "shared" / "tools" / "make_big_labelme.py"


def make_big_file(out: Path, n: int, v: int, w: int = 4000, h: int = 3000) -> Path:
    """big.json + big.png; the shared tool when present, else the same generator."""
    if SHARED_TOOL.is_file():
        cmd = [
            sys.executable,
            str(SHARED_TOOL),
            str(out),
            "--n",
            str(n),
            "--v",
            str(v),
            "--w",
            str(w),
            "--h",
            str(h),
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return out / "big.json"
    import json

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    img = (rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).resize((w, h)).save(out / "big.png")
    cols = int(math.ceil(math.sqrt(n * w / h)))
    rows = int(math.ceil(n / cols))
    cw, ch = w / cols, h / rows
    shapes = []
    for i in range(n):
        cx, cy, r = (i % cols + 0.5) * cw, (i // cols + 0.5) * ch, 0.4 * min(cw, ch)
        t = np.linspace(0, 2 * math.pi, v, endpoint=False)
        rr = r * (0.75 + 0.25 * rng.random(v))
        pts = [[float(cx + q * math.cos(s)), float(cy + q * math.sin(s))] for q, s in zip(rr, t, strict=True)]
        shapes.append(
            {
                "label": f"class{i % 5}",
                "points": pts,
                "group_id": None,
                "description": "",
                "shape_type": "polygon",
                "flags": {},
                "mask": None,
            }
        )
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": "big.png",
        "imageData": None,
        "imageHeight": h,
        "imageWidth": w,
    }
    (out / "big.json").write_text(json.dumps(doc))
    return out / "big.json"


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--v", type=int, default=100)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="segdesk-bench-io-"))
    big = make_big_file(out, args.n, args.v)

    doc = load_document(big)
    sd_load = median_seconds(lambda: load_document(big), args.repeat)
    sd_save = median_seconds(lambda: save_document(doc, out / "segdesk.json"), args.repeat)
    assert all(
        a.same_as(b) for a, b in zip(doc.shapes, load_document(out / "segdesk.json").shapes, strict=True)
    )

    fast = _labelme_json._orjson
    _labelme_json._orjson = None  # the standard library path, for comparison
    std_load = median_seconds(lambda: load_document(big), args.repeat)
    std_save = median_seconds(lambda: save_document(doc, out / "segdesk-std.json"), args.repeat)
    _labelme_json._orjson = fast

    lm_load = lm_save = None
    try:
        from loguru import logger

        logger.remove()
        from labelme import LabelFile

        lf = LabelFile(str(big))
        lm_load = median_seconds(lambda: LabelFile(str(big)), args.repeat)
        lm_save = median_seconds(
            lambda: lf.save(str(out / "labelme.json"), lf.shapes, lf.image_path, 3000, 4000), args.repeat
        )
    except ImportError:
        print("labelme is not installed: no comparison", file=sys.stderr)

    rows = [
        ("load", lm_load, sd_load, std_load),
        ("save", lm_save, sd_save, std_save),
        (
            "load + save",
            None if lm_load is None else lm_load + lm_save,
            sd_load + sd_save,
            std_load + std_save,
        ),
    ]
    size_mb = big.stat().st_size / 1e6
    print(
        f"File: {args.n} polygons x {args.v} vertices ({size_mb:.1f} MB), median of {args.repeat}, "
        f"{os.cpu_count()} CPUs, orjson {'yes' if fast is not None else 'no'}\n"
    )
    print("| operation | labelme 6.3.1 LabelFile | segdesk | speed-up | segdesk, json module only |")
    print("|---|---:|---:|---:|---:|")
    for name, lm, sd, std in rows:
        lm_text = "n/a" if lm is None else f"{lm * 1e3:.0f} ms"
        ratio = "n/a" if lm is None else f"{lm / sd:.1f}x"
        print(f"| {name} | {lm_text} | {sd * 1e3:.0f} ms | {ratio} | {std * 1e3:.0f} ms |")


if __name__ == "__main__":
    main()
