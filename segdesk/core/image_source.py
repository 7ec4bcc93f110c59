"""Which image belongs to a Labelme JSON file: one rule for training, export, predict and check.

The image beside the JSON wins, as the project lists it: a file in the JSON's folder with the JSON's
stem and an image extension (when several exist, the one ``imagePath`` names). Only when there is
none is ``imagePath`` followed, relative to the JSON's folder and, unless the person opened that
very file (``allow_outside``), only while it stays inside that folder; then the file of
``imagePath``'s name beside the JSON (a project moved between machines). Without a file, the
embedded ``imageData`` is the image.

A path the operating system refuses (a segment over 255 bytes, a NUL character) raises
AnnotationReadError naming the JSON file and ``imagePath``, never a bare OSError.
"""

from __future__ import annotations

import errno
from pathlib import Path, PureWindowsPath

from segdesk.core.document import Document
from segdesk.core.errors import AnnotationReadError, ImageReadError
from segdesk.core.image_io import IMAGE_EXTENSIONS, LoadedImage, decode_image_data, read_image

_NOT_THERE = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EACCES}


def image_file_for(
    document: Document,
    json_path: str | Path | None = None,
    *,
    allow_outside: bool = False,
    must_exist: bool = True,
) -> Path | None:
    """The image file of a document by the rule above; None when there is none.

    With ``must_exist=False`` the path ``imagePath`` names is returned when no file exists.
    """
    where = json_path if json_path is not None else document.path
    folder = Path(where).parent if where is not None else None
    written = document.image_path or ""
    if "\\" in written:
        written = PureWindowsPath(written).as_posix()
    if where is not None:
        beside = owner_of_json(Path(where), written)
        if beside is not None:
            return beside
    if not written:
        return None
    candidate = Path(written)
    if not candidate.is_absolute() and folder is not None:
        candidate = folder / candidate
    if (allow_outside or folder is None or _inside(candidate, folder)) and _is_file(candidate, where):
        return candidate
    if folder is not None:
        same_name = folder / PureWindowsPath(written).name
        if _is_file(same_name, where):
            return same_name
    return None if must_exist else candidate


def load_image(
    document: Document,
    json_path: str | Path | None = None,
    *,
    image_file: str | Path | None = None,
    allow_outside: bool = False,
) -> LoadedImage:
    """The pixels of a document's image: ``image_file`` (a project entry's image) or the file the
    rule finds, else the embedded ``imageData``. Raises ImageReadError naming the file."""
    where = json_path if json_path is not None else document.path
    if image_file is not None:
        path: Path | None = Path(image_file)
    else:
        path = image_file_for(document, where, allow_outside=allow_outside)
    if path is not None and _is_file(path, where):
        return read_image(path)
    if document.image_data:
        return decode_image_data(document.image_data, source=where)
    missing = path if path is not None else document.image_path
    raise ImageReadError(where, "imagePath", f"image not found: {str(missing)!r} (and no imageData embedded)")


def owner_of_json(json_path: Path, image_path: str | None) -> Path | None:
    """The image beside ``json_path`` that the file belongs to: of the images with its stem, the one
    ``image_path`` (the file's ``imagePath``, as written) names, else the first by extension."""
    named = PureWindowsPath(image_path).name if image_path else ""
    stem = json_path.stem
    found = []
    for ext in IMAGE_EXTENSIONS:
        for suffix in dict.fromkeys((ext, ext.upper())):
            candidate = json_path.with_name(stem + suffix)
            if _is_file(candidate, json_path):
                found.append(candidate)
    if not found:
        return None
    for candidate in found:
        if candidate.name == named:
            return candidate
    for candidate in found:  # a disk that ignores case finds A.png as a.png
        if candidate.name.casefold() == named.casefold():
            return candidate
    return found[0]


def _inside(candidate: Path, folder: Path) -> bool:
    try:
        resolved = candidate.resolve()
        root = folder.resolve()
    except (OSError, RuntimeError):
        return False
    return resolved == root or root in resolved.parents


def _is_file(path: Path, json_path: str | Path | None) -> bool:
    try:
        return path.is_file()
    except ValueError as exc:  # an embedded NUL character
        raise AnnotationReadError(json_path, "imagePath", f"not a usable path: {exc}") from exc
    except OSError as exc:
        if exc.errno in _NOT_THERE:
            return False
        reason = exc.strerror or str(exc)
        raise AnnotationReadError(json_path, "imagePath", f"not a usable path: {reason}") from exc


__all__ = ["image_file_for", "load_image"]
