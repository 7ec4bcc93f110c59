"""Labelme JSON read and write: lossless, strict about bad input, atomic, fast.

Reading keeps every key (unknown ones in ``other``), the key order, ``flags: null`` and the numbers
as parsed (nothing is rounded). Writing puts the keys back in the file's order, writes each float as
the shortest text that reads back as the same float (as ``repr``), keeps integer coordinates
integers when the file had them, and reuses a mask shape's PNG when its mask is unchanged (a loaded
shape's origin is remembered by identity; ``Shape.copy()`` does not carry it, so a copy's integer
coordinates are written as floats and its mask re-encoded: same values, different text). Bad input raises AnnotationReadError naming the file and the
place (``shapes[3].points``); nothing else escapes.

Two choices worth knowing:

* A ``rectangle`` given as 4 corner points (other tools write that) is read as Labelme's 2-point
  rectangle (top-left, bottom-right), so it rasterizes exactly as Labelme draws that box and Labelme
  can read the saved file. Four points that are not an axis-aligned box become a ``polygon`` with
  those points: the geometry is kept, nothing is invented.
* ``shape_type`` missing or ``null`` (files older than Labelme 3) means ``polygon``; the saved file
  names it, because Labelme 6 requires the key.

The layout of written files: one top-level key per line, one shape key per line, a shape's points on
one line. Labelme reads it; it is diff-friendly and several times faster to write than ``indent=2``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from segdesk.core import _labelme_json as _json
from segdesk.core import _labelme_shapes as _shp
from segdesk.core import disk_stamps as _stamps
from segdesk.core._labelme_read import (
    _MISSING,
    _ORIGINS,
    _Failer,
    _kind,
    _read_flags,
    _read_shape,
    _read_size,
)
from segdesk.core.atomic import atomic_write_bytes
from segdesk.core.disk_stamps import DiskStamp
from segdesk.core.document import LABELME_FILE_KEYS, LABELME_VERSION, Document
from segdesk.core.errors import AnnotationReadError, AnnotationWriteError, ImageReadError
from segdesk.core.image_io import LoadedImage, embedded_image_size, encode_image_data, image_size
from segdesk.core.image_source import image_file_for, load_image
from segdesk.core.shapes import SEGDESK_KEY, Shape

ImageDataMode = Literal["keep", "embed", "strip"]
IMAGE_DATA_MODES: tuple[str, ...] = ("keep", "embed", "strip")

_ANY: Any = object()  # save_document without a disk check
_KNOWN_FILE_KEYS = frozenset(LABELME_FILE_KEYS) | {SEGDESK_KEY}


# --- loading --------------------------------------------------------------------------------------


def load_document(path: str | Path, *, check_image: bool = True) -> Document:
    """Read a Labelme JSON file.

    With ``check_image`` (the default) ``imageHeight``/``imageWidth`` are compared with the image
    file's header when the file exists, else with the embedded ``imageData``.
    Raises AnnotationReadError naming the file and the place.
    """
    path = Path(path)
    raw, st = _json.read_json_bytes(path)
    data = _json.parse_json_bytes(path, raw)
    document = document_from_dict(data, source=path)
    document.path = path
    _stamps.remember(document, _stamps.stamp_of_read(st, raw))
    if check_image:
        check_document_image(document)
    return document


def check_document_image(document: Document) -> None:
    """Compare imageHeight/imageWidth with the image file's header (or the embedded imageData).

    Raises AnnotationReadError when they disagree; nothing when there is no image to compare with.
    """
    size = _image_size_for(document, strict=False)
    if size is not None:
        check_image_size(document, size)


def document_from_dict(data: Any, *, source: str | Path | None = None) -> Document:
    """Build a Document from parsed Labelme JSON; ``source`` names the file in errors.

    Values of unknown keys are referenced, not copied. Raises AnnotationReadError.
    """
    if not isinstance(data, dict):
        raise AnnotationReadError(source, None, f"expected a JSON object at the top, got {_kind(data)}")
    fail = _Failer(source)
    version = data.get("version", LABELME_VERSION)
    if not isinstance(version, str):
        fail("version", f"expected text, got {_kind(version)}")
    flags = _read_flags(data.get("flags", {}), "flags", fail)
    shapes_raw = data.get("shapes", _MISSING)
    if shapes_raw is _MISSING:
        fail("shapes", "missing (every Labelme file has a shapes list)")
    if not isinstance(shapes_raw, list):
        fail("shapes", f"expected a list, got {_kind(shapes_raw)}")
    image_path = data.get("imagePath", _MISSING)
    if image_path is _MISSING:
        fail("imagePath", "missing (every Labelme file names its image)")
    if not isinstance(image_path, str):
        fail("imagePath", f"expected text, got {_kind(image_path)}")
    image_data = data.get("imageData")
    if image_data is not None and not isinstance(image_data, str):
        fail("imageData", f"expected base64 text or null, got {_kind(image_data)}")
    height = _read_size(data.get("imageHeight"), "imageHeight", fail)
    width = _read_size(data.get("imageWidth"), "imageWidth", fail)
    extra = data.get(SEGDESK_KEY, {})
    if not isinstance(extra, dict):
        fail(SEGDESK_KEY, f"expected an object, got {_kind(extra)}")
    orders: dict[tuple[str, ...], tuple[str, ...]] = {}
    shapes = [_read_shape(s, i, fail, orders) for i, s in enumerate(shapes_raw)]
    other = {k: v for k, v in data.items() if k not in _KNOWN_FILE_KEYS}
    return Document(
        image_path=image_path,
        image_height=height,
        image_width=width,
        shapes=shapes,
        flags=flags,
        version=version,
        image_data=image_data,
        extra=extra,
        other=other,
        key_order=tuple(data),
    )


# --- image ----------------------------------------------------------------------------------------


def resolve_image_path(
    document: Document,
    *,
    json_path: str | Path | None = None,
    must_exist: bool = True,
    allow_outside: bool = True,
) -> Path | None:
    """The image file of a document by the one rule of ``image_source`` (the image beside the JSON
    wins; else ``imagePath``, outside the JSON's folder only with ``allow_outside``; else the file of
    that name beside the JSON). None when there is no such file (with ``must_exist=False``, the path
    as written). Raises AnnotationReadError for a path the system refuses (too long, NUL).
    """
    return image_file_for(document, json_path, allow_outside=allow_outside, must_exist=must_exist)


def load_image_for(document: Document) -> LoadedImage:
    """The document's image: the file when it exists, else the embedded ``imageData``.

    For a file the person opened: ``imagePath`` may lead outside the JSON's folder. Raises
    ImageReadError when neither is available or readable.
    """
    return load_image(document, allow_outside=True)


def check_image_size(document: Document, image_shape: tuple[int, ...]) -> None:
    """Raise AnnotationReadError when imageHeight/imageWidth disagree with ``image_shape`` (H, W, ...)."""
    height, width = int(image_shape[0]), int(image_shape[1])
    if document.image_height is not None and document.image_height != height:
        raise AnnotationReadError(
            document.path, "imageHeight", f"is {document.image_height} but the image is {height} pixels high"
        )
    if document.image_width is not None and document.image_width != width:
        raise AnnotationReadError(
            document.path, "imageWidth", f"is {document.image_width} but the image is {width} pixels wide"
        )


def _image_size_for(document: Document, *, strict: bool) -> tuple[int, int] | None:
    """(H, W) from the image file's header or the embedded data; None when neither can be read.

    A damaged embedded image is the JSON file's fault and raises AnnotationReadError; a damaged
    image file raises ImageReadError only when ``strict``.
    """
    path = resolve_image_path(document, allow_outside=False)
    if path is not None:
        try:
            return image_size(path)
        except ImageReadError:
            if strict:
                raise
            return None
    if document.image_data:
        try:
            return embedded_image_size(document.image_data, source=document.path)
        except ImageReadError as exc:
            raise AnnotationReadError(document.path, "imageData", exc.detail) from exc
    return None


# --- saving ---------------------------------------------------------------------------------------


def save_document(
    document: Document,
    path: str | Path,
    *,
    image_data: ImageDataMode = "keep",
    if_unchanged: DiskStamp | None | object = _ANY,
) -> None:
    """Write a document as Labelme JSON, atomically.

    ``image_data``: "keep" writes the document's imageData as it is, "embed" embeds the image file
    (keeping existing data when the file is missing), "strip" writes null. When saved to another
    folder, ``imagePath`` is rewritten to still point at the image. On success the document's
    ``path``, ``image_path`` and ``image_data`` describe the written file.
    ``if_unchanged``: a stamp (``disk_stamps.stamp_for(document)``, None for "there was no file");
    when given, FileChangedError is raised, and nothing written, if the file on disk is no longer
    what it describes (another program saved it).
    Raises AnnotationWriteError naming the file and the place.
    """
    target = Path(path)
    if if_unchanged is not _ANY:
        _stamps.check_unchanged(target, if_unchanged)  # type: ignore[arg-type]
    image_path = _image_path_for_target(document, target)
    embedded = _image_data_value(document, image_data, target)
    data = _to_dict(document, image_path=image_path, image_data=embedded, error_path=target)
    raw = _json.format_document(data, target)
    atomic_write_bytes(target, raw, error_cls=AnnotationWriteError)
    _stamps.remember(document, _stamps.stamp_of_bytes(target, raw))
    document.path = target
    document.image_path = image_path
    document.image_data = embedded


def document_to_dict(document: Document, *, image_data: ImageDataMode = "keep") -> dict[str, Any]:
    """The JSON object ``save_document`` would write (keys in the file's order)."""
    embedded = _image_data_value(document, image_data, document.path)
    data = _to_dict(document, image_path=document.image_path, image_data=embedded, error_path=document.path)
    for shape in data["shapes"]:
        shape["points"] = shape["points"].tolist()
    return data


def _image_path_for_target(document: Document, target: Path) -> str:
    if document.path is None or not document.image_path:
        return document.image_path
    try:
        same_folder = os.path.samefile(document.path.parent, target.parent)
    except OSError:
        same_folder = document.path.parent.absolute() == target.parent.absolute()
    if same_folder:
        return document.image_path
    image = resolve_image_path(document)
    if image is None:
        return document.image_path
    try:
        return Path(os.path.relpath(image.absolute(), target.parent.absolute())).as_posix()
    except ValueError:  # Windows: another drive
        return image.absolute().as_posix()


def _image_data_value(document: Document, mode: str, target: Path | None) -> str | None:
    if mode == "keep":
        return document.image_data
    if mode == "strip":
        return None
    if mode != "embed":
        raise ValueError(f"image_data must be one of {IMAGE_DATA_MODES}, got {mode!r}")
    image = resolve_image_path(document)
    if image is not None:
        try:
            return encode_image_data(image)
        except ImageReadError as exc:
            raise AnnotationWriteError(target, "imageData", f"cannot embed the image: {exc}") from exc
    if document.image_data:
        return document.image_data
    raise AnnotationWriteError(
        target, "imageData", f"cannot embed the image: {document.image_path!r} not found"
    )


def _to_dict(
    document: Document, *, image_path: str, image_data: str | None, error_path: Path | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "version": document.version,
        "flags": document.flags,
        "shapes": [_shape_to_dict(s, i, error_path) for i, s in enumerate(document.shapes)],
        "imagePath": image_path,
        "imageData": image_data,
        "imageHeight": document.image_height,
        "imageWidth": document.image_width,
    }
    if document.extra or SEGDESK_KEY in document.key_order:
        values[SEGDESK_KEY] = document.extra
    for key in document.other:
        if key in _KNOWN_FILE_KEYS:
            raise AnnotationWriteError(error_path, key, "a standard key cannot be an unknown key too")
    values.update(document.other)
    return _ordered(values, document.key_order)


def _shape_to_dict(shape: Shape, index: int, error_path: Path | None) -> dict[str, Any]:
    place = f"shapes[{index}]"
    origin = _ORIGINS.get(shape)
    shape_type, points = _shp.check_for_write(shape, place, error_path)
    if (
        origin is not None
        and origin.corners is not None
        and shape_type == "rectangle"
        and np.array_equal(points, origin.box)
    ):
        points = origin.corners  # unedited: the other tool's file stays as it was
    values: dict[str, Any] = {
        "label": shape.label,
        "points": _shp.points_to_json(points, ints=origin is not None and origin.ints),
        "group_id": shape.group_id,
        "description": shape.description,
        "shape_type": shape_type,
        "flags": shape.flags,
        "mask": _shp.mask_to_json(
            shape.mask, origin.mask if origin else None, origin.mask_b64 if origin else None
        ),
    }
    if shape.extra or SEGDESK_KEY in shape.key_order:
        values[SEGDESK_KEY] = shape.extra
    for key in shape.other:
        if key in _shp.KNOWN_SHAPE_KEYS:
            raise AnnotationWriteError(
                error_path, f"{place}.{key}", "a standard key cannot be an unknown key too"
            )
    values.update(shape.other)
    return _ordered(values, shape.key_order)


def _ordered(values: dict[str, Any], key_order: tuple[str, ...]) -> dict[str, Any]:
    """``values`` with the keys the file had first, in its order; new keys after, in ours."""
    if not key_order or tuple(values) == key_order:
        return values
    out = {k: values[k] for k in key_order if k in values}
    if len(out) != len(values):
        out.update((k, v) for k, v in values.items() if k not in out)
    return out


__all__ = [
    "IMAGE_DATA_MODES",
    "ImageDataMode",
    "check_document_image",
    "check_image_size",
    "document_from_dict",
    "document_to_dict",
    "load_document",
    "load_image_for",
    "resolve_image_path",
    "save_document",
]
