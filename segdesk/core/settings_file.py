"""A project's small JSON settings files (``.segdesk/training.json``, ``.segdesk/proposals.json``):
read with every problem named by file and field, written atomically.

Plain Python. A file that is missing means "nothing set"; a symbolic link, an oversized file,
invalid JSON, anything but an object, an unknown key or a bad value is refused (ProjectError).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from segdesk.core.atomic import atomic_write_text
from segdesk.core.errors import ProjectError

MAX_BYTES = 64 * 1024


def read_settings(
    path: Path, known: Iterable[str], check: Callable[[str, Any], Any], *, example: str
) -> dict[str, Any]:
    """The set fields of the JSON object at ``path`` ({} when there is no file; a null value is
    "not set"), each passed through ``check(name, value)``, which raises ValueError saying what is
    allowed. ``example``: a valid file, for the message when it holds no object."""
    try:
        if path.is_symlink():
            raise ProjectError(path, None, "is a symbolic link, not segdesk's settings file")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ProjectError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_BYTES:
        raise ProjectError(path, None, f"is larger than {MAX_BYTES // 1024} KB; not a settings file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProjectError(path, None, f"is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ProjectError(path, None, f"must hold a JSON object, e.g. {example}")
    names = list(known)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise ProjectError(path, str(key), f"is not one of the settings ({', '.join(names)})")
        if value is None:
            continue
        try:
            values[key] = check(key, value)
        except ValueError as exc:
            raise ProjectError(path, key, str(exc)) from exc
    return values


def number_in(value: Any, kind: type, low: float, high: float, *, above_low: bool = False) -> float | int:
    """``value`` as ``kind`` (int or float) when it is a finite number from ``low`` to ``high``
    (``above_low``: strictly above it); else ValueError saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"must be a number, not {json.dumps(value)[:40]}")
    if kind is int and value != int(value):
        raise ValueError(f"must be a whole number, not {value}")
    most = f"{high:.0f}" if kind is int else f"{high:g}"
    if value > high or value < low or (above_low and value <= low):
        span = f"above {low:g} and at most {most}" if above_low else f"from {low:g} to {most}"
        raise ValueError(f"must be {span}, not {value}")
    return kind(value)


def write_settings(path: Path, values: Mapping[str, Any], check: Callable[[str, Any], Any]) -> Path:
    """Write ``values`` (each ``check``-ed) as a JSON object, atomically. Raises ProjectError."""
    for key, value in values.items():
        try:
            check(key, value)
        except ValueError as exc:
            raise ProjectError(path, key, str(exc)) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(path.parent, None, f"cannot create the folder: {exc.strerror or exc}") from exc
    atomic_write_text(path, json.dumps(dict(values), indent=2, sort_keys=True) + "\n", error_cls=ProjectError)
    return path


__all__ = ["MAX_BYTES", "number_in", "read_settings", "write_settings"]
