"""Removing segdesk's own stale temporaries when a project opens.

A save killed at the wrong moment (kill -9, a power cut) leaves its temporary behind: an atomic
write's ``.<name>.<8 hex>.segdesk-tmp`` beside the file, a model save's ``.staging-<8 hex>`` folder
under ``.segdesk/models``, an export's ``.<name>.segdesk-export-<8 hex>`` folder beside the export.
Nothing ever reads them; they only cost disk (27 killed saves of an 8 MB file: 183 MB).

Only names that match segdesk's own patterns exactly, older than ``STALE_AFTER_S`` (a save in
progress in another segdesk process is younger), and never through a symbolic link, are removed:
in the project folder, its direct subfolders, and ``.segdesk/models`` with its version folders.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
from pathlib import Path

#: A temporary younger than this may belong to a save in progress.
STALE_AFTER_S = 60.0

_TEMP_FILE = re.compile(r"^\..+\.[0-9a-f]{8}\.segdesk-tmp$", re.DOTALL)
_MODEL_STAGING = re.compile(r"^\.staging-[0-9a-f]{8}$")
_EXPORT_STAGING = re.compile(r"^\..+\.segdesk-export-[0-9a-f]{8}$", re.DOTALL)
_VERSION = re.compile(r"^v\d+$")


def sweep_stale_temporaries(root: str | Path, *, older_than: float = STALE_AFTER_S) -> list[Path]:
    """Remove segdesk's stale temporaries under a project folder; the paths removed.

    Never raises for a file it cannot remove or a folder it cannot list (they stay).
    """
    root = Path(root)
    deadline = time.time() - older_than
    removed: list[Path] = []
    folders = [root]
    folders += [p for p in _children(root) if _is_real_dir(p)]
    models = root / ".segdesk" / "models"
    if _is_real_dir(models):
        folders.append(models)
        folders += [p for p in _children(models) if _VERSION.match(p.name) and _is_real_dir(p)]
    for folder in dict.fromkeys(folders):
        for path in _children(folder):
            name = path.name
            try:
                st = path.lstat()
            except OSError:
                continue
            if st.st_mtime > deadline:
                continue
            if stat.S_ISREG(st.st_mode) and _TEMP_FILE.match(name):
                if _remove_file(path):
                    removed.append(path)
            elif stat.S_ISDIR(st.st_mode) and (
                (folder == models and _MODEL_STAGING.match(name)) or _EXPORT_STAGING.match(name)
            ):
                shutil.rmtree(path, ignore_errors=True)
                if not os.path.lexists(path):
                    removed.append(path)
    return removed


def _children(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _remove_file(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


__all__ = ["STALE_AFTER_S", "sweep_stale_temporaries"]
