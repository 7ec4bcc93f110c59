"""Labelme JSON text: parsing (orjson when exact, else the json module) and the written layout.

orjson reads and writes several times faster than the json module. It is used where it gives the
same result; the json module takes over for what orjson rejects or would change: NaN and Infinity
literals, integers beyond 64 bits, lone surrogates, very deep nesting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from segdesk.core.errors import AnnotationReadError, AnnotationWriteError

try:  # several times faster than the json module for both reading and writing
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the standard library still works
    _orjson = None

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True)
_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=True)


def parse_json_file(path: Path) -> Any:
    """The parsed JSON of a file; AnnotationReadError for unreadable, non-UTF-8 or invalid JSON."""
    return parse_json_bytes(path, read_json_bytes(path)[0])


def read_json_bytes(path: Path) -> tuple[bytes, os.stat_result]:
    """A JSON file's bytes and the status of the very file read (not of a later replacement);
    AnnotationReadError naming the file when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(), os.fstat(handle.fileno())
    except FileNotFoundError as exc:
        raise AnnotationReadError(path, None, "file not found") from exc
    except IsADirectoryError as exc:
        raise AnnotationReadError(path, None, "is a folder, not a JSON file") from exc
    except OSError as exc:
        raise AnnotationReadError(path, None, f"cannot read the file: {exc.strerror or exc}") from exc


def parse_json_bytes(path: Path, raw: bytes) -> Any:
    """The parsed JSON of a file's bytes (``path`` names errors)."""
    if not raw.strip():
        raise AnnotationReadError(path, None, "the file is empty")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if _orjson is not None:
        try:
            data = _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass  # NaN, lone surrogates, deep nesting, or bad JSON: the json module decides
        else:
            if not _may_hold_huge_int(data):
                return data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnnotationReadError(
            path, None, f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (the file ends too early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise AnnotationReadError(
            path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}{hint}"
        ) from exc
    except RecursionError as exc:
        raise AnnotationReadError(path, None, "invalid JSON: nested too deeply") from exc


_HUGE = float(2**63)


def _may_hold_huge_int(data: Any) -> bool:
    """orjson reads integers beyond 64 bits as floats: look for such floats outside the points."""
    if not isinstance(data, dict):
        return _has_huge_float(data)
    for key, value in data.items():
        if key == "shapes" and isinstance(value, list):
            for shape in value:
                if isinstance(shape, dict):
                    if any(_has_huge_float(v) for k, v in shape.items() if k != "points"):
                        return True
                elif _has_huge_float(shape):
                    return True
        elif _has_huge_float(value):
            return True
    return False


def _has_huge_float(value: Any) -> bool:
    """True when a float of 2**63 or more sits anywhere in ``value``.

    Iterative, not recursive: orjson accepts 1,023 levels of nesting, deeper than Python's stack.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if abs(item) >= _HUGE:
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return False


def format_document(data: dict[str, Any], target: Path) -> bytes:
    try:
        return _format_with(data, ascii_only=False).encode("utf-8")
    except UnicodeEncodeError:
        pass
    except (TypeError, ValueError, RecursionError) as exc:
        raise AnnotationWriteError(target, None, f"cannot encode as JSON: {exc}") from exc
    try:
        # Lone surrogates (from \\ud800 escapes in the file read) cannot be written as UTF-8; escape all.
        return _format_with(data, ascii_only=True).encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        raise AnnotationWriteError(target, None, f"cannot encode as JSON: {exc}") from exc


def _format_with(data: dict[str, Any], *, ascii_only: bool) -> str:
    encode = _encode_ascii if ascii_only else _encode
    lines = ["{"]
    items = list(data.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if key == "shapes" and isinstance(value, list) and value:
            lines.append('  "shapes": [')
            last = len(value) - 1
            for i, shape in enumerate(value):
                lines.append("    {")
                lines.append(",\n".join([f"      {encode(k)}: {encode(v)}" for k, v in shape.items()]))
                lines.append("    }," if i < last else "    }")
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {encode(key)}: {encode(value)}{comma}")
    lines.append("}\n")
    return "\n".join(lines)


def _encode_ascii(value: Any) -> str:
    return _ASCII_ENCODER.encode(value.tolist() if isinstance(value, np.ndarray) else value)


def _encode(value: Any) -> str:
    """One JSON value as text: orjson where it is exact, the standard library otherwise."""
    if isinstance(value, np.ndarray):
        if _orjson is not None:
            return _orjson.dumps(value, option=_orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
        return _ENCODER.encode(value.tolist())
    if _orjson is not None and (value is None or isinstance(value, (str, bool, int))):
        try:
            return _orjson.dumps(value).decode("utf-8")
        except _orjson.JSONEncodeError:  # lone surrogates, integers beyond 64 bits
            pass
    # Containers and floats go through the standard library: it writes NaN where orjson writes null.
    return _ENCODER.encode(value)


__all__ = ["format_document", "parse_json_bytes", "parse_json_file", "read_json_bytes"]
