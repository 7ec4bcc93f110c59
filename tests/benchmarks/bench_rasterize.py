"""Rasterization benchmark: segdesk vs labelme 6.3.1 shapes_to_label on 2,000 polygons at 4000x3000.

Usage: python tests/benchmarks/bench_rasterize.py [--dir DIR] [--repeat 3]
Writes big.json / big.png with ../shared/tools/make_big_labelme.py when present (else an identical
generator below), times both implementations in the same run (median of --repeat), checks that the
class and instance maps are identical, and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from segdesk.core.labelme_io import load_document  # noqa: E402
from segdesk.core.rasterize import document_to_class_map, shapes_to_label  # noqa: E402
from tests.benchmarks.shared_data import SHARED  # noqa: E402

SHARED_TOOL = SHARED / "tools" / "make_big_labelme.py"


def make_big(out: Path, n: int = 2000, v: int = 100, w: int = 4000, h: int = 3000) -> Path:
    """The same file as make_big_labelme.py (seed 0), written without it."""
    import PIL.Image

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    img = (rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8)
    PIL.Image.fromarray(img).resize((w, h)).save(out / "big.png")
    cols = int(math.ceil(math.sqrt(n * w / h)))
    rows = int(math.ceil(n / cols))
    cw, ch = w / cols, h / rows
    shapes = []
    for i in range(n):
        cx, cy = (i % cols + 0.5) * cw, (i // cols + 0.5) * ch
        r = 0.4 * min(cw, ch)
        t = np.linspace(0, 2 * math.pi, v, endpoint=False)
        rr = r * (0.75 + 0.25 * rng.random(v))
        pts = [[float(cx + q * math.cos(s)), float(cy + q * math.sin(s))] for q, s in zip(rr, t, strict=True)]
        shapes.append(
            {"label": f"class{i % 5}", "points": pts, "group_id": None, "description": "",
             "shape_type": "polygon", "flags": {}, "mask": None}
        )  # fmt: skip
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "big.png", "imageData": None,
           "imageHeight": h, "imageWidth": w}  # fmt: skip
    (out / "big.json").write_text(json.dumps(doc))
    return out / "big.json"


def timeit(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="folder for big.json (default: a temp folder)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="segdesk-bench-"))
    path = folder / "big.json"
    if not path.is_file():
        if SHARED_TOOL.is_file():
            subprocess.run([sys.executable, str(SHARED_TOOL), str(folder)], check=True, capture_output=True)
        else:
            make_big(folder)

    from labelme.utils import shapes_to_label as labelme_shapes_to_label

    data = json.loads(path.read_text())
    dicts = data["shapes"]
    hw = (data["imageHeight"], data["imageWidth"])
    names = sorted({s["label"] for s in dicts})
    values = {"_background_": 0, **{name: i + 1 for i, name in enumerate(names)}}
    document = load_document(path)

    t_ours, (cls, ins) = timeit(lambda: shapes_to_label(hw, dicts, values), args.repeat)
    t_shapes, (cls2, ins2) = timeit(lambda: shapes_to_label(hw, document.shapes, values), args.repeat)
    t_cmap, cmap = timeit(lambda: document_to_class_map(document, ["_background_", *names]), args.repeat)
    t_lm, (lm_cls, lm_ins) = timeit(lambda: labelme_shapes_to_label(hw, dicts, values), args.repeat)

    same = all(
        np.array_equal(a, b) for a, b in ((cls, lm_cls), (ins, lm_ins), (cls2, lm_cls), (ins2, lm_ins))
    ) and np.array_equal(cmap, lm_cls.astype(np.uint8))
    print(f"{len(dicts)} polygons x {len(dicts[0]['points'])} vertices at {hw[1]}x{hw[0]}, "
          f"median of {args.repeat}, {platform.processor() or platform.machine()}, Python {platform.python_version()}")  # fmt: skip
    print()
    print("| rasterization | time (s) | speed-up vs labelme |")
    print("|---|---:|---:|")
    print(f"| labelme 6.3.1 `shapes_to_label` | {t_lm:.2f} | 1.0x |")
    print(f"| segdesk `shapes_to_label` (labelme dicts) | {t_ours:.2f} | {t_lm / t_ours:.1f}x |")
    print(f"| segdesk `shapes_to_label` (Shape objects) | {t_shapes:.2f} | {t_lm / t_shapes:.1f}x |")
    print(f"| segdesk `document_to_class_map` (uint8) | {t_cmap:.2f} | {t_lm / t_cmap:.1f}x |")
    print()
    print(f"identical class and instance maps: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
