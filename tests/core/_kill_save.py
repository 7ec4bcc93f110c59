"""kill -9 during saves: the helper behind tests/core/test_kill_save.py and bench_hardening.py.

A child process saves one Labelme file over and over (``save_document``, alternating content); the
parent kills it with SIGKILL at a random moment, then checks what the next open sees: the file must
read as one of the two versions, and after the sweep a project open does (temporaries older than a
minute; the test ages them instead of waiting) no temporary may remain.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from segdesk.core.atomic import is_temp_file
from segdesk.core.errors import SegdeskError
from segdesk.core.labelme_io import load_document
from segdesk.core.sweep import STALE_AFTER_S, sweep_stale_temporaries

_CHILD = """
import sys
from segdesk.core.labelme_io import load_document, save_document
path = sys.argv[1]
document = load_document(path, check_image=False)
print("ready", flush=True)
n = 0
while True:
    n += 1
    document.flags = {"odd": n % 2 == 1}
    save_document(document, path)
"""


def make_file(folder: Path, megabytes: float) -> Path:
    """A Labelme file of about ``megabytes`` MB (the bulk in imageData, as embedded images are)."""
    blob = base64.b64encode(os.urandom(int(megabytes * 1024 * 1024 * 3 / 4))).decode()
    doc = {
        "version": "5.5.0",
        "flags": {"odd": False},
        "shapes": [{"label": "cell", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}],
        "imagePath": "a.png",
        "imageData": blob,
        "imageHeight": 20,
        "imageWidth": 20,
    }
    path = folder / "a.json"
    path.write_text(json.dumps(doc))
    return path


@dataclass
class Trial:
    corrupt: bool
    left_before_sweep: int
    left_after_sweep: int


def kill_trial(path: Path, rng: random.Random, *, max_delay_s: float = 0.4) -> Trial:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()  # "ready": saving starts now
        time.sleep(rng.uniform(0.0, max_delay_s))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    try:
        document = load_document(path, check_image=False)
        corrupt = not isinstance(document.flags, dict) or len(document.shapes) != 1
    except SegdeskError:
        corrupt = True
    leftovers = [p for p in path.parent.iterdir() if is_temp_file(p)]
    then = time.time() - STALE_AFTER_S - 1  # "the next open", a minute later
    for p in leftovers:
        os.utime(p, (then, then))
    sweep_stale_temporaries(path.parent)
    after = [p for p in path.parent.iterdir() if p.name != path.name]
    return Trial(corrupt, len(leftovers), len(after))


__all__ = ["Trial", "kill_trial", "make_file"]
