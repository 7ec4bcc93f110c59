"""Labelme files whose image exists only as embedded ``imageData``: they are images of the project too.

Labelme opens a JSON file whose image file is gone as long as it embeds the image; segdesk lists
such a file as an entry of its folder (named after the JSON's stem with ``imagePath``'s extension,
a path that does not exist) and reads its pixels from ``imageData`` (``image_source.load_image``).
Only JSON files without an image of the same stem beside them are looked at, and each is read once
per change (cached by size and mtime): a quick look for a non-null ``"imageData"`` string, the full
check happens when the file is opened.
"""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath

from segdesk.core.atomic import is_temp_file
from segdesk.core.image_io import IMAGE_EXTENSIONS

_EMBEDDED = re.compile(rb'"imageData"\s*:\s*"')
_IMAGE_PATH = re.compile(rb'"imagePath"\s*:\s*"((?:[^"\\]|\\.){0,1024})"')

Cache = dict[Path, tuple[tuple[int, int], str | None]]


def embedded_image_names(folder: Path, image_stems: set[str], cache: Cache) -> dict[str, Path]:
    """Image name -> JSON path for every JSON file in ``folder`` that has no image beside it but
    embeds one. ``image_stems``: the stems of the folder's image files."""
    found: dict[str, Path] = {}
    try:
        children = list(folder.iterdir())
    except OSError:
        return found
    for path in children:
        if path.suffix.lower() != ".json" or path.name.startswith(".") or is_temp_file(path):
            continue
        if path.stem in image_stems:
            continue
        suffix = _embedded_suffix(path, cache)
        if suffix is not None:
            found[path.stem + suffix] = path
    return found


def _embedded_suffix(path: Path, cache: Cache) -> str | None:
    """The image extension to name the entry with, or None when the file embeds no image."""
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    cached = cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    suffix: str | None = None
    try:
        raw = path.read_bytes()
    except OSError:
        raw = b""
    if _EMBEDDED.search(raw):
        suffix = ".png"
        match = _IMAGE_PATH.search(raw)
        if match:
            written = match.group(1).decode("utf-8", "replace").replace("\\\\", "\\")
            ext = PureWindowsPath(written).suffix.lower()
            if ext in IMAGE_EXTENSIONS:
                suffix = ext
    cache[path] = (stamp, suffix)
    return suffix


__all__ = ["embedded_image_names"]
