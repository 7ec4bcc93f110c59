"""Opening a big image off the GUI thread: the annotation and the pixels are read by two pool threads.

Decoding a 4000 x 3000 PNG takes ~0.5 s and a 10000 x 10000 JPEG well over a second; on the GUI thread
the window freezes meanwhile. ``OpenLoader.start`` reads the annotation (``Project.load``) and the
image (``read_image``, whose decoders release the GIL) in parallel on ``QThreadPool`` threads and
reports both together on the GUI thread through ``loaded``. The annotation's parse waits until the
image's bytes are read: orjson holds the GIL for its whole parse (~0.1 s for 8 MB), and the image
thread, back from reading the file, would wait for it before it could start its GIL-free decode. A
newer ``start`` (or ``cancel``) makes results still on their way stale: they are dropped, never
applied (nothing is ever terminated).
Workers touch files only, never a widget or a document the window shows.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from segdesk.core.image_io import read_image
from segdesk.ui.canvas.layers import make_pyramid
from segdesk.ui.canvas.scene import prebuild_paths

#: Images with more pixels than this (by their header) are read off the GUI thread.
ASYNC_PIXELS = 2_000_000
#: Annotation files bigger than this are parsed off the GUI thread when opened by name.
ASYNC_JSON_BYTES = 1_000_000
#: The annotation's parse waits at most this long for the image's bytes to be read (a slow disk).
READ_FIRST_WAIT_S = 0.5


@dataclass
class OpenResult:
    """What the pool threads read for one open: each part is a value or the exception it raised."""

    token: int
    index: int
    document: Any = None
    image: Any = None


class OpenLoader(QObject):
    """Reads one (annotation, image) pair at a time in the background; the newest request wins.

    Opening a JSON file by name first needs its imagePath; meanwhile the image beside it with the same
    name (where the imagePath almost always points) is decoded already, and used when it is the one.
    """

    loaded = Signal(object)  # OpenResult, on the GUI thread
    json_read = Signal(object, object)  # Path, Document or the exception, on the GUI thread
    _part = Signal(int, str, object)  # token, "document" / "image" / "json" / "prefetch", value

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._token = 0
        self._pending: OpenResult | None = None
        self._parts: set[str] = set()
        self._prefetch: tuple[Path, tuple[int, int]] | None = None
        self._prefetch_token = 0
        self._prefetched: Any = _MISSING
        self._prefetch_read = threading.Event()
        self._await_prefetch = False
        self._part.connect(self._on_part)  # queued: emitted from pool threads
        # Not a child of this object: a window closing mid-read must not delete the pool under its
        # threads; the pool waits for them when it goes.
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(3)

    def busy(self) -> bool:
        """An open is on its way."""
        return self._pending is not None

    def pending_index(self) -> int | None:
        """The entry whose read is on its way (-1 while a JSON file is parsed), or None."""
        return None if self._pending is None else self._pending.index

    def cancel(self) -> None:
        """Forget the open on its way (its results will be dropped)."""
        self._token += 1
        self._pending = None
        self._await_prefetch = False

    def start(self, index: int, load_document: Any, image_path: Path) -> None:
        """Read ``load_document()`` and ``image_path`` in the background for entry ``index``."""
        self.cancel()
        token = self._token
        self._pending = OpenResult(token=token, index=index)
        self._parts = set()
        image_read = threading.Event()
        if self._prefetch is not None and self._prefetch == (image_path, _stamp(image_path)):
            self._prefetch = None
            image_read = self._prefetch_read
            if self._prefetched is _MISSING:
                self._await_prefetch = True  # on its way: it becomes this open's image
            else:
                self._pending.image, self._prefetched = self._prefetched, _MISSING
                self._parts.add("image")
        else:
            self._drop_prefetch()
            self.pool.start(
                lambda: self._run(token, "image", lambda: read_with_pyramid(image_path, image_read))
            )
        self.pool.start(
            lambda: self._run(
                token, "document", lambda: _after(image_read, lambda: _with_paths(load_document()))
            )
        )

    def read_json(self, path: Path, peek: Any, *, image_guess: Path | None = None) -> None:
        """Parse ``path`` with ``peek(path)`` in the background; ``json_read`` reports it.

        ``image_guess`` (the image beside it) is decoded meanwhile for the ``start`` that follows.
        """
        self.cancel()
        token = self._token
        self._pending = OpenResult(token=token, index=-1)
        self._parts = set()
        self._drop_prefetch()
        image_read = self._prefetch_read
        if image_guess is not None and image_guess.is_file():
            self._prefetch = (image_guess, _stamp(image_guess))
            ptoken = self._prefetch_token
            self.pool.start(
                lambda: self._run(ptoken, "prefetch", lambda: read_with_pyramid(image_guess, image_read))
            )
        else:
            image_read.set()
        self.pool.start(
            lambda: self._run(token, "json", lambda: _after(image_read, lambda: peek(path)), path)
        )

    def _drop_prefetch(self) -> None:
        self._prefetch_token += 1
        self._prefetch, self._prefetched, self._await_prefetch = None, _MISSING, False
        self._prefetch_read = threading.Event()

    def wait(self, msecs: int = -1) -> bool:
        """Wait for the pool threads (closing the window, tests)."""
        return self.pool.waitForDone(msecs)

    def _run(self, token: int, part: str, fn: Any, path: Path | None = None) -> None:
        try:
            value = fn()
        except Exception as exc:  # reported to the GUI thread, never lost
            value = exc
        try:
            self._part.emit(token, part, value if path is None else (path, value))
        except RuntimeError:
            pass  # the window (and this loader) went away meanwhile: nobody is waiting for it

    def _on_part(self, token: int, part: str, value: Any) -> None:
        if part == "prefetch":
            if token != self._prefetch_token:
                return
            if self._await_prefetch:
                self._await_prefetch = False
                part, token = "image", self._token
            else:
                self._prefetched = value
                return
        pending = self._pending
        if pending is None or token != pending.token:
            return  # stale: a newer open (or another folder) replaced it
        if part == "json":
            self._pending = None
            self.json_read.emit(*value)
            return
        setattr(pending, part, value)
        self._parts.add(part)
        if self._parts == {"document", "image"}:
            self._pending = None
            self.loaded.emit(pending)


@dataclass
class PyramidImage:
    """A read image (``LoadedImage``'s fields) with its display pyramid."""

    data: Any
    display: Any
    pyramid: list
    pages: int = 1


def read_with_pyramid(path: Path, bytes_read: threading.Event | None = None) -> PyramidImage:
    """``read_image`` plus ``make_pyramid`` of its display version, on the calling (pool) thread.

    ``bytes_read`` is set once the file is in memory (or could not be read).
    """
    loaded = read_image(path, after_read=None if bytes_read is None else bytes_read.set)
    pyramid = make_pyramid(loaded.display)
    return PyramidImage(data=loaded.data, display=loaded.display, pyramid=pyramid, pages=loaded.pages)


def _after(image_read: threading.Event, fn: Any) -> Any:
    """The annotation's parse ``fn()`` once the image's bytes are read (see the module's text), or after
    READ_FIRST_WAIT_S; with the collector paused (it makes ~10^5 containers: no GIL-holding scans)."""
    image_read.wait(READ_FIRST_WAIT_S)
    with gc_paused():
        return fn()


def _with_paths(document: Any) -> Any:
    """The document, its shapes' outline paths made on this (pool) thread for the canvas."""
    prebuild_paths(document.shapes)
    return document


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


_MISSING = object()


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while an annotation is parsed (process-wide, nested and
    from several threads alike). A parse of 2,000 shapes allocates enough containers to trigger about
    eight full collections, each holding the GIL for 14-86 ms on a pool thread (measured with
    ``gc.callbacks`` in ``bench_window.py``), and the GUI thread waits for them: the open's longest
    freezes. Reference counting still frees everything meanwhile; only cycles wait for the next
    collection."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()
