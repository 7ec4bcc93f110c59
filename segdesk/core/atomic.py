"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

The data goes to a temporary file in the same folder (so ``os.replace`` is a rename on one file
system), is flushed and fsynced, and then replaces the target. The target's permission bits are kept;
a new file gets 0o644 minus the umask. A failure at any step removes the temporary file and raises
the caller's error type naming the target.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
import time
from pathlib import Path

from segdesk.core.errors import AnnotationWriteError, _LocatedError

#: Prefix and suffix of temporary files, so that tools (and tests) can recognise leftovers.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".segdesk-tmp"

_NEW_FILE_MODE = 0o644
_REPLACE_RETRIES = 5  # Windows: a virus scanner or indexer may hold the target open for a moment.


def atomic_write_text(
    path: str | Path,
    text: str,
    encoding: str = "utf-8",
    *,
    error_cls: type[_LocatedError] = AnnotationWriteError,
) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    try:
        data = text.encode(encoding)
    except (UnicodeEncodeError, LookupError) as exc:
        raise error_cls(path, None, f"cannot encode the text as {encoding}: {exc}") from exc
    atomic_write_bytes(path, data, error_cls=error_cls)


def atomic_write_bytes(
    path: str | Path,
    data: bytes,
    *,
    error_cls: type[_LocatedError] = AnnotationWriteError,
) -> None:
    """Write ``data`` to ``path`` atomically.

    Raises ``error_cls(path, None, message)`` (AnnotationWriteError by default) when any step fails;
    the previous file, if any, is then left untouched and no temporary file remains.
    """
    target = Path(path)
    # Write through a symlink rather than replacing the link with a plain file.
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    folder = target.parent
    tmp: Path | None = None
    try:
        mode = _target_mode(target)
        tmp, fd = _create_temp(folder, target.name)
        try:
            handle = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with handle:
            if mode is not None:
                _set_mode(handle.fileno(), tmp, mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _replace(tmp, target)
        tmp = None
        fsync_folder(folder)
    except BaseException as exc:
        if tmp is not None:
            _remove_quietly(tmp)
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise error_cls(target, None, f"cannot write the file: {reason}") from exc
        raise


def _target_mode(target: Path) -> int | None:
    """Permission bits of an existing target, or None for a new file (the umask applies)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "is a folder", str(target))
    return stat.S_IMODE(st.st_mode)


def _create_temp(folder: Path, name: str) -> tuple[Path, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = folder / f"{TEMP_PREFIX}{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            # os.open applies the umask to _NEW_FILE_MODE, as for any new file.
            return tmp, os.open(tmp, flags, _NEW_FILE_MODE)
        except FileExistsError:
            continue
    raise FileExistsError(17, "cannot create a unique temporary file", str(folder))


def _set_mode(fd: int, tmp: Path, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # Windows: only the read-only bit exists
        os.chmod(tmp, mode)


def _replace(tmp: Path, target: Path) -> None:
    for attempt in range(_REPLACE_RETRIES):
        try:
            os.replace(tmp, target)
            return
        except PermissionError:
            if sys.platform != "win32" or attempt == _REPLACE_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not possible on Windows, where it is skipped."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def is_temp_file(path: str | Path) -> bool:
    """True for a temporary file this module creates (a leftover after a power cut)."""
    name = Path(path).name
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


__all__ = [
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_folder",
    "is_temp_file",
]
