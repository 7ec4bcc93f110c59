"""How long a GIL-hungry thread waits beside a big image's decode (issue 18; a plain script, not collected).

The GUI thread takes the GIL on every Qt call back into Python; beside a decode that holds the GIL,
each take waits up to a switch interval (5 ms). Here a thread takes it 200 times per batch
(``time.sleep(0)``) while another decodes, and the worst batch is reported for Pillow's path
(``open`` + ``load`` + ``np.asarray``, what ``decode_image_bytes`` did before ``core/fast_decode.py``)
and for ``decode_image_bytes`` today, on a 10000 x 10000 JPEG and an 8000 x 8000 LZW TIFF.

    .venv/bin/python tests/benchmarks/bench_decode_gil.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2
import numpy as np
import PIL.Image

from segdesk.core.image_io import decode_image_bytes


def pillow_path(raw: bytes) -> np.ndarray:
    with PIL.Image.open(io.BytesIO(raw)) as im:
        im.load()
        return np.asarray(im)


def worst_batch_beside(fn) -> tuple[float, float]:
    """(decode s, worst 200-take batch s) of ``fn()`` with the GIL-taking thread beside it."""
    stop, worst = threading.Event(), [0.0]

    def taker() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            for _ in range(200):
                time.sleep(0)
            worst[0] = max(worst[0], time.perf_counter() - t)

    thread = threading.Thread(target=taker)
    thread.start()
    t = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - t
    stop.set()
    thread.join()
    return elapsed, worst[0]


def images() -> dict[str, bytes]:
    small = (np.random.default_rng(0).random((625, 625, 3)) * 255).astype(np.uint8)
    jpeg = cv2.imencode(".jpg", cv2.resize(small, (10000, 10000)), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    with io.BytesIO() as f:
        PIL.Image.fromarray(cv2.resize(small, (8000, 8000))).save(f, format="TIFF", compression="tiff_lzw")
        tiff = f.getvalue()
    return {"10000x10000 JPEG": jpeg.tobytes(), "8000x8000 LZW TIFF": tiff}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    for name, raw in images().items():
        assert np.array_equal(pillow_path(raw), decode_image_bytes(raw)), name
        for label, fn in (("Pillow's path", pillow_path), ("decode_image_bytes", decode_image_bytes)):
            runs = [worst_batch_beside(lambda fn=fn, raw=raw: fn(raw)) for _ in range(args.repeat)]
            decode = ", ".join(f"{d * 1e3:.0f}" for d, _ in runs)
            worst = ", ".join(f"{w * 1e3:.0f}" for _, w in runs)
            print(f"{name}, {label}: decode {decode} ms; worst 200-take batch {worst} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
