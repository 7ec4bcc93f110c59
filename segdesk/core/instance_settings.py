"""The per-class "is an object" setting of a project: ``.segdesk/instances.json``.

``{"objects": {"nucleus": true, "membrane": false}}``: a class set to true is split into touching
objects, false never is; a class not listed follows the default from the data
(``instances.default_object_classes``). Written atomically; a damaged file is an error naming the
file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from segdesk.core.errors import ProjectError

FILE_NAME = "instances.json"


def settings_path(project_root: str | Path) -> Path:
    return Path(project_root) / ".segdesk" / FILE_NAME


def read_object_setting(project_root: str | Path) -> dict[str, bool]:
    """{label: is an object} as saved; {} when the project has no such file."""
    path = settings_path(project_root)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectError(path, None, f"cannot read the object setting: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("objects", {}), dict):
        raise ProjectError(path, "objects", "expected an object {label: true/false}")
    out: dict[str, bool] = {}
    for label, value in data.get("objects", {}).items():
        if not isinstance(value, bool):
            raise ProjectError(path, f"objects.{label}", f"expected true or false, got {value!r}")
        out[str(label)] = value
    return out


def write_object_setting(project_root: str | Path, setting: Mapping[str, bool]) -> Path:
    """Save {label: is an object} (atomically); returns the file written."""
    from segdesk.core.atomic import atomic_write_text

    path = settings_path(project_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"objects": {str(k): bool(v) for k, v in sorted(setting.items())}}
    atomic_write_text(path, json.dumps(body, indent=1) + "\n", error_cls=ProjectError)
    return path


__all__ = ["FILE_NAME", "read_object_setting", "settings_path", "write_object_setting"]
