"""Opening a big image off the GUI thread: the annotation and the pixels are read by two pool threads.

Decoding a 4000 x 3000 PNG takes ~0.5 s and a 10000 x 10000 JPEG well over a second; on the GUI thread
the window freezes meanwhile. ``OpenLoader.start`` reads the annotation (``Project.load``) and the
image (``read_image``, whose decoders release the GIL) in parallel on ``QThreadPool`` threads and
reports both together on the GUI thread through ``loaded``. A newer ``start`` (or ``cancel``) makes
results still on their way stale: they are dropped, never applied (nothing is ever terminated).
Workers touch files only, never a widget or a document the window shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from segdesk.core.image_io import read_image

#: Images with more pixels than this (by their header) are read off the GUI thread.
ASYNC_PIXELS = 2_000_000
#: Annotation files bigger than this are parsed off the GUI thread when opened by name.
ASYNC_JSON_BYTES = 1_000_000


@dataclass
class OpenResult:
    """What the pool threads read for one open: each part is a value or the exception it raised."""

    token: int
    index: int
    document: Any = None
    image: Any = None


class OpenLoader(QObject):
    """Reads one (annotation, image) pair at a time in the background; the newest request wins."""

    loaded = Signal(object)  # OpenResult, on the GUI thread
    json_read = Signal(object, object)  # Path, Document or the exception, on the GUI thread
    _part = Signal(int, str, object)  # token, "document" / "image", value or exception

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._token = 0
        self._pending: OpenResult | None = None
        self._parts: set[str] = set()
        self._part.connect(self._on_part)  # queued: emitted from pool threads
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)

    def busy(self) -> bool:
        """An open is on its way."""
        return self._pending is not None

    def pending_index(self) -> int | None:
        return None if self._pending is None else self._pending.index

    def cancel(self) -> None:
        """Forget the open on its way (its results will be dropped)."""
        self._token += 1
        self._pending = None

    def start(self, index: int, load_document: Any, image_path: Path) -> None:
        """Read ``load_document()`` and ``image_path`` in the background for entry ``index``."""
        self.cancel()
        token = self._token
        self._pending = OpenResult(token=token, index=index)
        self._parts = set()
        self.pool.start(lambda: self._run(token, "image", lambda: read_image(image_path)))
        self.pool.start(lambda: self._run(token, "document", load_document))

    def read_json(self, path: Path, peek: Any) -> None:
        """Parse ``path`` with ``peek(path)`` in the background; ``json_read`` reports it."""
        self.cancel()
        token = self._token
        self._pending = OpenResult(token=token, index=-1)
        self._parts = set()
        self.pool.start(lambda: self._run(token, "json", lambda: peek(path), path))

    def wait(self, msecs: int = -1) -> bool:
        """Wait for the pool threads (closing the window, tests)."""
        return self.pool.waitForDone(msecs)

    def _run(self, token: int, part: str, fn: Any, path: Path | None = None) -> None:
        try:
            value = fn()
        except Exception as exc:  # reported to the GUI thread, never lost
            value = exc
        self._part.emit(token, part, value if path is None else (path, value))

    def _on_part(self, token: int, part: str, value: Any) -> None:
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
