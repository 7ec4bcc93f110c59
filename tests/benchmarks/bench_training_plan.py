"""How long Retrain's plan takes on a big folder (core/training_plan.py), on the GUI thread.

    python tests/benchmarks/bench_training_plan.py [--images 2000]

The window has read every file's status once (the file list's background scan); the plan then uses
the same cache (status and the person's shape labels per file, keyed by modification time), so it
only stats the files. A cold project (the CLI) reads each file once.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import PIL.Image

from segdesk.core.document import Document
from segdesk.core.labelme_io import save_document
from segdesk.core.project import Project
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape
from segdesk.core.training_plan import plan_training


def make_folder(root: Path, n: int) -> None:
    """``n`` reviewed 64x64 images, each with 20 person polygons of 23 points."""
    PIL.Image.fromarray(np.zeros((64, 64), np.uint8)).save(root / "0.png")
    shapes = [
        Shape("cell", [[i, i], [i + 10, i], *[[i + 5 - k * 0.1, i + 8 - k * 0.1] for k in range(21)]])
        for i in range(20)
    ]
    save_document(Document("0.png", 64, 64, shapes=shapes, extra=reviewed_extra()), root / "0.json")
    data, text = (root / "0.png").read_bytes(), (root / "0.json").read_text()
    for i in range(1, n):
        (root / f"{i}.png").write_bytes(data)
        (root / f"{i}.json").write_text(text.replace('"0.png"', f'"{i}.png"'))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="segdesk-plan-"))
    try:
        make_folder(root, args.images)
        project = Project(root)
        t = time.perf_counter()
        project.status_counts()
        scan = time.perf_counter() - t
        t = time.perf_counter()
        plan = plan_training(project)
        warm = time.perf_counter() - t
        t = time.perf_counter()
        plan_training(Project(root))
        cold = time.perf_counter() - t
        print(f"{args.images} reviewed images: status scan {scan:.2f} s; plan after the scan {warm:.2f} s "
              f"({len(plan.entries)} train); plan on a cold project {cold:.2f} s")  # fmt: skip
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
