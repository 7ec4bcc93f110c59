"""What an annotation file looked like on disk when segdesk read it, to notice another program's write.

Labelme or a script may save a JSON file while segdesk has it open; segdesk's next save would
silently throw that change away. So ``load_document`` remembers the file's stamp (size, mtime in
nanoseconds, sha256 of the bytes read) per Document, ``save_document(..., if_unchanged=stamp)``
raises FileChangedError when the file is no longer what was read, and the caller decides: the app
asks (reload / overwrite / cancel), ``segdesk predict --write`` skips the image with a message.

Size and mtime decide quickly; only when they differ is the file hashed, so a file rewritten with
the same bytes (a ``touch``, a sync tool) does not count as changed. ``None`` as a stamp means "there
was no file": a file that appeared since counts as changed.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

from segdesk.core.document import Document
from segdesk.core.errors import AnnotationWriteError


@dataclass(frozen=True)
class DiskStamp:
    size: int
    mtime_ns: int
    sha256: str


class FileChangedError(AnnotationWriteError):
    """The file on disk changed since it was read: another program wrote it."""


_STAMPS: weakref.WeakKeyDictionary[Document, DiskStamp | None] = weakref.WeakKeyDictionary()


def stamp_of_bytes(path: str | Path, raw: bytes) -> DiskStamp | None:
    """The stamp of ``path`` whose content is ``raw`` (just read or written); None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return DiskStamp(st.st_size, st.st_mtime_ns, hashlib.sha256(raw).hexdigest())


def stamp_of_read(st: os.stat_result, raw: bytes) -> DiskStamp:
    """The stamp of bytes read from an open file whose ``os.fstat`` is ``st``."""
    return DiskStamp(st.st_size, st.st_mtime_ns, hashlib.sha256(raw).hexdigest())


def stamp_of_file(path: str | Path) -> DiskStamp | None:
    """The stamp of a file as it is now; None when there is no file."""
    try:
        raw = Path(path).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return stamp_of_bytes(path, raw)


def remember(document: Document, stamp: DiskStamp | None) -> None:
    _STAMPS[document] = stamp


def stamp_for(document: Document) -> DiskStamp | None:
    """The stamp taken when ``document`` was loaded or last saved; None when it had no file."""
    return _STAMPS.get(document)


def has_changed(path: str | Path, stamp: DiskStamp | None) -> bool:
    """Whether the file at ``path`` differs from ``stamp`` (see the module docstring)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return stamp is not None  # deleted since: writing it again loses nothing another wrote
    except OSError:
        return False  # the write itself will report what is wrong
    if stamp is None:
        return True
    if st.st_size == stamp.size and st.st_mtime_ns == stamp.mtime_ns:
        return False
    now = stamp_of_file(path)
    return now is None or now.sha256 != stamp.sha256


def check_unchanged(path: str | Path, stamp: DiskStamp | None) -> None:
    """Raise FileChangedError when the file at ``path`` is no longer what ``stamp`` describes."""
    if has_changed(path, stamp):
        what = "created" if stamp is None else "changed"
        raise FileChangedError(
            path, None, f"was {what} by another program since segdesk read it; not overwritten"
        )


__all__ = [
    "DiskStamp",
    "FileChangedError",
    "check_unchanged",
    "has_changed",
    "remember",
    "stamp_for",
    "stamp_of_bytes",
    "stamp_of_file",
    "stamp_of_read",
]
