"""What a folder with no images to label holds instead: images in subfolders, or files of a kind
segdesk does not open. A project is one folder's own images (core/project); a person who opens the
parent of their image folders (``~/scans`` holding ``day1/`` and ``day2/``), or a folder of microscope
files (``.czi``, ``.nd2``), is told where the images are or why none are listed, by the app and by
every command alike (:func:`no_images_text`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from segdesk.core.image_io import IMAGE_EXTENSIONS
from segdesk.core.project import natural_key

#: How deep below the folder subfolders are looked into (``scans/2024/01/*.png`` is depth 2).
MAX_DEPTH = 3
#: Folders listed at most while looking, and seconds spent at most (a home folder, a network drive:
#: the window asks this on opening a folder and must not wait).
MAX_FOLDERS = 400
MAX_SECONDS = 0.5
#: Subfolders named in a message at most.
NAMED = 5

#: Neither images nor what a person would take for one (annotations, settings, notes, archives).
_NOT_IMAGES = {".json", ".txt", ".md", ".csv", ".yaml", ".yml", ".xml", ".zip", ".gz", ".tar", ".pdf", ""}


@dataclass(frozen=True)
class FolderContents:
    """What ``folder`` holds besides images of its own."""

    folder: Path
    subfolders: tuple[tuple[Path, int], ...]  # (subfolder, images directly in it), in natural order
    other_kinds: tuple[tuple[str, int], ...]  # (extension, files) directly in the folder, most first
    complete: bool  # False when the look stopped at MAX_FOLDERS


def _is_image(entry: os.DirEntry[str]) -> bool:
    return (
        not entry.name.startswith(".")
        and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
        and entry.is_file()
    )


def look_inside(folder: str | Path) -> FolderContents:
    """Subfolders (up to MAX_DEPTH below, hidden ones and links skipped) that hold images, and the
    kinds of other files directly in ``folder``. Unreadable subfolders are passed over; the look stops
    after MAX_FOLDERS listings or MAX_SECONDS (``complete`` False)."""
    folder = Path(folder)
    found: list[tuple[Path, int]] = []
    others: Counter[str] = Counter()
    queue: list[tuple[Path, int]] = [(folder, 0)]
    listed = 0
    deadline = time.monotonic() + MAX_SECONDS
    while queue and listed < MAX_FOLDERS and (listed == 0 or time.monotonic() < deadline):
        current, depth = queue.pop(0)
        listed += 1
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue
        images = 0
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if depth < MAX_DEPTH:
                    queue.append((Path(entry.path), depth + 1))
            elif _is_image(entry):
                images += 1
            elif depth == 0 and entry.is_file():
                ext = os.path.splitext(entry.name)[1].lower()
                if ext not in _NOT_IMAGES:
                    others[ext] += 1
        if depth > 0 and images:
            found.append((current, images))
    found.sort(key=lambda item: natural_key(item[0].relative_to(folder).as_posix()))
    return FolderContents(folder, tuple(found), tuple(others.most_common()), complete=not queue)


def _images(n: int) -> str:
    return f"{n} image{'s' if n != 1 else ''}"


def no_images_text(folder: str | Path) -> str:
    """Why ``folder`` lists no images, and what to open instead; one paragraph naming the folder."""
    return f"{folder}: {no_images_detail(look_inside(folder))}"


def no_images_detail(contents: FolderContents) -> str:
    """:func:`no_images_text` without the folder's name in front (for a located error)."""
    if not contents.subfolders and not contents.other_kinds:
        return "no images (segdesk opens PNG, JPEG, TIFF, BMP and WebP files directly in the folder)."
    text = "no images of its own."
    if contents.subfolders:
        total = sum(n for _, n in contents.subfolders)
        named = ", ".join(
            f"{sub.relative_to(contents.folder).as_posix()} ({_images(n) if i == 0 else n})"
            for i, (sub, n) in enumerate(contents.subfolders[:NAMED])
        )
        more = len(contents.subfolders) - NAMED
        if more > 0:
            named += f" and {more} more folder{'s' if more != 1 else ''}"
        at_least = "" if contents.complete else "at least "
        text += (
            f" Its subfolders hold {at_least}{_images(total)}: {named}. segdesk labels one folder's "
            "images at a time (exports and models live in subfolders): choose one of these folders."
        )
    if contents.other_kinds:
        kinds = [f"{n} {ext}" for ext, n in contents.other_kinds[:3]]
        listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
        plural = "s" if sum(n for _, n in contents.other_kinds[:3]) != 1 else ""
        text += (
            f" It holds {listed} file{plural}, which segdesk does not open: it opens PNG, JPEG, TIFF, "
            "BMP and WebP images (convert them, e.g. with Fiji or bfconvert)."
        )
    return text


__all__ = ["FolderContents", "look_inside", "no_images_detail", "no_images_text"]
