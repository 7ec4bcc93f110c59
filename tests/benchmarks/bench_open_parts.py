"""The parts of opening the big annotated file (issue 18), each alone and the two pool threads together.

On make_big_labelme.py's file (4000 x 3000 PNG, 2,000 polygons x 100 vertices), min and median of
``--repeat`` runs, wall clock and the thread's CPU time (CPU time moves less with the machine's load):
  - the image thread: read the bytes; decode (segdesk's path: OpenCV for a plain PNG; and Pillow's
    path as before issue 18's last change); display version and pyramid;
  - the annotation thread: parse (orjson + the shapes' arrays); the outline paths;
  - both threads at once, as the open loader runs them: decode by Pillow or OpenCV, and the parse
    started at once or once the image's bytes are read (the loader's order);
  - the GUI thread: the canvas's set_image, set_document (2,000 items) and first repaint at fit zoom.

Usage: python tests/benchmarks/bench_open_parts.py [DATA_DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from segdesk.core import image_io  # noqa: E402
from segdesk.core.labelme_io import load_document  # noqa: E402


def clock(fn, repeat: int) -> tuple[str, object]:
    walls, cpus, value = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.thread_time()
        value = fn()
        cpus.append(time.thread_time() - c)
        walls.append(time.perf_counter() - w)
    ms = lambda xs: f"{min(xs) * 1e3:6.0f} / {statistics.median(xs) * 1e3:6.0f}"  # noqa: E731
    return f"wall {ms(walls)} ms, cpu {ms(cpus)} ms (min / median)", value


def pillow_decode(raw: bytes, path: Path):
    """decode_image_bytes as it was before png_fast: Pillow first for every PNG."""
    real = image_io.decode_png
    image_io.decode_png = lambda *a, **k: None
    try:
        return image_io.decode_image_bytes(raw, source=path)
    finally:
        image_io.decode_png = real


def fast_decode(raw: bytes, path: Path):
    return image_io.decode_image_bytes(raw, source=path)


def both(png: Path, js: Path, decode, *, read_first: bool) -> dict[str, float]:
    from segdesk.ui.canvas.layers import make_pyramid
    from segdesk.ui.canvas.scene import prebuild_paths

    marks: dict[str, float] = {}
    read = threading.Event()
    t0 = time.perf_counter()

    def image() -> None:
        raw = png.read_bytes()
        read.set()
        make_pyramid(image_io.to_display(decode(raw, png)))
        marks["image"] = time.perf_counter() - t0

    def annotation() -> None:
        if read_first:
            read.wait(0.5)
        prebuild_paths(load_document(js, check_image=False).shapes)
        marks["annotation"] = time.perf_counter() - t0

    threads = [threading.Thread(target=image), threading.Thread(target=annotation)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    marks["both"] = time.perf_counter() - t0
    return marks


def gui_parts(png: Path, js: Path, repeat: int) -> None:
    from PySide6.QtWidgets import QApplication

    import segdesk.ui.pyside_fix  # noqa: F401
    from segdesk.ui.canvas.view import CanvasView
    from segdesk.ui.open_loader import _with_paths, read_with_pyramid

    app = QApplication.instance() or QApplication([])
    view = CanvasView()
    view.resize(918, 930)  # the window's canvas viewport at 1600 x 1000
    view.show()
    app.processEvents()
    rows = []
    for _ in range(repeat + 1):  # the first one warms up
        image = read_with_pyramid(png)
        document = _with_paths(load_document(js, check_image=False))
        c = [time.thread_time()]
        view.set_image(image.display, raw=image.data, pyramid=image.pyramid)
        c.append(time.thread_time())
        view.set_document(document)
        c.append(time.thread_time())
        view.viewport().repaint()
        c.append(time.thread_time())
        rows.append([(b - a) * 1e3 for a, b in zip(c, c[1:], strict=False)])
        app.processEvents()
    med = [statistics.median(col) for col in zip(*rows[1:], strict=True)]
    print(
        f"GUI thread cpu (median): set_image {med[0]:.1f} ms, set_document {med[1]:.1f} ms, "
        f"first repaint {med[2]:.1f} ms (fit zoom {view.zoom_factor():.3f})"
    )
    view.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", nargs="?", type=Path, help="folder with big.json / big.png (made if missing)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from tests.benchmarks.bench_window import ensure_data

    data = ensure_data(args.data or Path(tempfile.gettempdir()) / "segdesk-big")
    png, js = data / "big.png", data / "big.json"
    n = args.repeat
    print(f"data {data}; load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    raw = png.read_bytes()
    print("image thread")
    print("  read bytes            ", clock(png.read_bytes, n)[0])
    print("  decode (OpenCV, fast) ", clock(lambda: fast_decode(raw, png), n)[0])
    print("  decode (Pillow, old)  ", clock(lambda: pillow_decode(raw, png), n)[0])
    from segdesk.ui.canvas.layers import make_pyramid
    from segdesk.ui.canvas.scene import prebuild_paths

    data_ = image_io.decode_image_bytes(raw, source=png)
    print("  display + pyramid     ", clock(lambda: make_pyramid(image_io.to_display(data_)), n)[0])
    print("annotation thread")
    text, document = clock(lambda: load_document(js, check_image=False), n)
    print("  parse (orjson+shapes) ", text)
    print("  outline paths         ", clock(lambda: prebuild_paths(document.shapes), n)[0])
    print("both pool threads at once (ms until each is done; median)")
    for name, decode in [("Pillow", pillow_decode), ("OpenCV", fast_decode)]:
        for read_first in (False, True):
            runs = [both(png, js, decode, read_first=read_first) for _ in range(n)]
            med = {k: statistics.median(r[k] for r in runs) * 1e3 for k in runs[0]}
            order = "parse after the read" if read_first else "parse at once       "
            print(
                f"  {name:6s}, {order}: image {med['image']:4.0f}, annotation {med['annotation']:4.0f}, "
                f"both {med['both']:4.0f}"
            )
    gui_parts(png, js, n)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
