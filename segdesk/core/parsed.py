"""One parse per open: the last Labelme file read is kept for the next reader of the same file.

Opening a big annotation reads it several times in a row: its imagePath (which image to show), its
status (the file list) and the document to edit. Each parse of a 2,000-polygon file costs ~200 ms,
so the readers share one: ``peek_document`` is for readers that only look (status, labels,
imagePath) and leaves the parse for the next one; ``take_document`` hands the parse over to the one
that will edit it (and forgets it, so no two owners ever share a Document). A file changed on disk
(its mtime or size) is parsed again.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from pathlib import Path

from segdesk.core.document import Document
from segdesk.core.labelme_io import check_document_image, load_document

_lock = threading.Lock()
#: (file key, document, whether it is a snapshot for lookers only, never handed to an owner)
_last: tuple[tuple[str, int, int], Document, bool] | None = None


def _key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def peek_document(path: str | Path) -> Document:
    """The file's document for reading only (do not edit it); kept for the next reader.

    Raises AnnotationReadError as ``load_document(path, check_image=False)``; OSError when the file
    cannot be read.
    """
    global _last
    path = Path(path)
    key = _key(path)
    with _lock:
        if _last is not None and _last[0] == key:
            return _last[1]
    document = load_document(path, check_image=False)
    with _lock:
        _last = (key, document, False)
    return document


def take_document(path: str | Path, *, check_image: bool = True) -> Document:
    """The file's document to edit: the kept parse when the file is unchanged, else a new one.

    Same checks and errors as ``load_document(path, check_image=check_image)``.
    """
    global _last
    path = Path(path)
    key = _key(path)
    with _lock:
        kept = _last[1] if _last is not None and _last[0] == key and not _last[2] else None
        if kept is not None:
            _last = None
    if kept is None:
        return load_document(path, check_image=check_image)
    if check_image:
        check_document_image(kept)
    # Readers that only look (a folder's status scan) may still come: they get a snapshot, so the
    # owner's edits never show through and nobody parses the file again.
    snapshot = _snapshot(kept)
    with _lock:
        if _last is None:
            _last = (key, snapshot, True)
    return kept


def _snapshot(document: Document) -> Document:
    """A copy for reading: shapes, flags and segdesk's state copied; no listeners."""
    return replace(
        document,
        shapes=[s.copy() for s in document.shapes],
        flags=copy.deepcopy(document.flags),
        extra=copy.deepcopy(document.extra),
        other=dict(document.other),
        _listeners=[],
        _detail_listeners=[],
    )


def forget() -> None:
    """Drop the kept parse (tests)."""
    global _last
    with _lock:
        _last = None
