"""A project's model versions on disk, read and pointed at without torch.

Layout: ``<project>/.segdesk/models/v<N>/model.safetensors`` (+ ``model.json``, its JSON twin) and a
``current`` file naming the current version. This is the one place that reads that layout; the GUI
process uses it as is, and ``segdesk.ml.checkpoint.ModelStore`` adds loading and saving weights.

A ``current`` pointer that names no saved version (its folder was deleted, the file was edited) means
"no current model": the window still opens and the CLI still runs, and :meth:`ModelStore.pointer_problem`
says what is wrong, so a message can name the file instead of failing deep inside a job.
"""

from __future__ import annotations

import re
from pathlib import Path

from segdesk.core.atomic import atomic_write_text
from segdesk.core.errors import ModelError

VERSION_RE = re.compile(r"^v(\d+)$")
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
_POINTER_MAX_BYTES = 64  # "v123\n"; anything longer is not segdesk's pointer


def models_folder(root: str | Path) -> Path:
    """Where a project keeps its model versions."""
    return Path(root) / ".segdesk" / "models"


class ModelStore:
    """Model versions of a project: ``<root>/.segdesk/models/v<N>/model.safetensors`` + ``current``."""

    def __init__(self, project_root: str | Path) -> None:
        self.root = Path(project_root)
        self.folder = models_folder(self.root)
        self.pointer = self.folder / "current"

    def versions(self) -> list[str]:
        """Complete versions (their weights file exists), oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for child in self.folder.iterdir():
            m = VERSION_RE.match(child.name)
            if m and (child / WEIGHTS_NAME).is_file():
                found.append((int(m.group(1)), child.name))
        return [name for _, name in sorted(found)]

    def path(self, version: str) -> Path:
        """The weights file of ``version``. Raises ModelError for a name that is not ``v<N>``."""
        if not VERSION_RE.match(version):
            raise ModelError(self.folder, None, f"{version!r} is not a model version name (v1, v2, ...)")
        return self.folder / version / WEIGHTS_NAME

    def _pointed(self) -> str | None:
        """The version name ``current`` holds (None when there is no pointer). A pointer that is a
        symbolic link or holds anything but a version name is refused without echoing its content."""
        if self.pointer.is_symlink():  # never read (or echo) what a link points at
            raise ModelError(
                self.pointer,
                None,
                "is a symbolic link, not segdesk's pointer file; remove it and choose the model again",
            )
        try:
            with open(self.pointer, "rb") as handle:
                raw = handle.read(_POINTER_MAX_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ModelError(self.pointer, None, f"cannot read: {exc.strerror or exc}") from exc
        name = raw.decode("utf-8", "replace").strip()
        if len(raw) > _POINTER_MAX_BYTES or not VERSION_RE.match(name):
            raise ModelError(self.pointer, None, "does not hold a model version name (v1, v2, ...)")
        return name

    def pointer_problem(self) -> str | None:
        """Why the ``current`` pointer names no usable version (None when it is fine or absent)."""
        name = self._pointed()
        if name is None or (VERSION_RE.match(name) and self.path(name).is_file()):
            return None
        saved = ", ".join(self.versions()) or "none saved"
        return f"{self.pointer}: points to {name!r}, which is not a saved version ({saved})"

    def current(self) -> str | None:
        """The current version; None when none was made current or the pointer names no saved one."""
        name = self._pointed()
        if name is None or not VERSION_RE.match(name) or not self.path(name).is_file():
            return None
        return name

    def current_path(self) -> Path | None:
        name = self.current()
        return None if name is None else self.path(name)

    def set_current(self, version: str) -> None:
        """Make ``version`` current (also how a person rolls back). Atomic."""
        if version not in self.versions():
            raise ModelError(self.folder, version, "no such model version")
        atomic_write_text(self.pointer, version + "\n", error_cls=ModelError)


__all__ = ["META_NAME", "VERSION_RE", "WEIGHTS_NAME", "ModelStore", "models_folder"]
