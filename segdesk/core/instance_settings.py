"""The per-class "is an object" setting of a project: ``.segdesk/instances.json``.

``{"objects": {"nucleus": true, "membrane": false}}``: a class set to true is split into touching
objects, false never is; a class not listed follows the default from the data
(``instances.default_object_classes``). Read and written by ``core/settings_file`` as the other
settings files are (atomic writes; a link, an oversized or damaged file or an unknown key is an
error naming the file and the field).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segdesk.core.errors import ProjectError
from segdesk.core.settings_file import read_settings, write_settings

FILE_NAME = "instances.json"
EXAMPLE = '{"objects": {"nucleus": true}}'


def settings_path(project_root: str | Path) -> Path:
    return Path(project_root) / ".segdesk" / FILE_NAME


def read_object_setting(project_root: str | Path) -> dict[str, bool]:
    """{label: is an object} as saved; {} when the project has no such file. ProjectError names the
    file and the field (``objects.<label>``) of anything else (``core/settings_file``'s rules)."""
    path = settings_path(project_root)
    objects = read_settings(path, ["objects"], _objects, example=EXAMPLE).get("objects", {})
    out: dict[str, bool] = {}
    for label, value in objects.items():
        if not isinstance(value, bool):
            raise ProjectError(path, f"objects.{label}", f"expected true or false, got {value!r}")
        out[str(label)] = value
    return out


def write_object_setting(project_root: str | Path, setting: Mapping[str, bool]) -> Path:
    """Save {label: is an object} (atomically); returns the file written."""
    objects = {str(k): bool(v) for k, v in sorted(setting.items())}
    return write_settings(settings_path(project_root), {"objects": objects}, _objects)


def _objects(_name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object {{label: true/false}}, e.g. {EXAMPLE}")
    return value


__all__ = ["FILE_NAME", "read_object_setting", "settings_path", "write_object_setting"]
