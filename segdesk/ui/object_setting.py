"""The per-class object setting (issue 17) between the labels dock and the project file.

``.segdesk/instances.json`` (``core/instance_settings.py``) says, per class, whether its touching
shapes are separate objects (the model learns a boundary and proposals come one polygon per object)
or never split; a class not listed follows the default from the reviewed data. The labels dock shows
and edits it; proposals follow it at once (a class set to "never split" is re-derived as regions),
the next Retrain for training.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from segdesk.core.errors import SegdeskError
from segdesk.core.instance_settings import read_object_setting, write_object_setting
from segdesk.core.instances import class_shape_stats, default_object_classes
from segdesk.services.model_store import current_version, read_info
from segdesk.ui.panels.labels import LabelsPanel


class ObjectSetting(QObject):
    """Reads the setting when the session opens a folder, writes the person's choice (``changed`` after)."""

    changed = Signal()

    def __init__(
        self,
        panel: LabelsPanel,
        session: Any,
        error: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.session, self.error = panel, session, error
        self._model_key: tuple[Path, str | None] | None = None
        self._objects_of_model: list[str] = []
        panel.object_setting_changed.connect(self.choose)
        session.folder_opened.connect(lambda _folder: self.reload())

    def root(self) -> Path | None:
        project = self.session.project
        return None if project is None else Path(project.root)

    def brush_objects(self, label: str) -> bool:
        """Whether the brush treats ``label``'s shapes as separate objects: the person's setting; else
        whether the current model splits the class; else whether the open image's shapes of it look
        like objects (many small closed shapes, ``instances.default_object_classes`` on this image)."""
        setting = self.panel.object_setting()
        if label in setting:
            return setting[label]
        root = self.root()
        if root is not None and label in self._model_objects(root):
            return True
        document = self.session.document
        if document is None or not document.image_height:
            return False
        size = (document.image_height, document.image_width)
        return label in default_object_classes(class_shape_stats([(size, document.shapes)]))

    def _model_objects(self, root: Path) -> list[str]:
        try:
            version = current_version(root)
            key = (root, version)
            if key != self._model_key:
                info = read_info(root, version) if version else None
                self._model_key, self._objects_of_model = key, info.object_classes if info else []
        except SegdeskError:
            return []
        return self._objects_of_model

    def reload(self) -> None:
        root = self.root()
        setting: dict[str, bool] = {}
        if root is not None:
            try:
                setting = read_object_setting(root)
            except SegdeskError as exc:
                self.error(str(exc))
        self.panel.set_object_setting(setting)

    def choose(self, label: str, value: bool | None) -> None:
        """Set (True / False) or clear (None: from the data) the object setting of ``label``."""
        root = self.root()
        if root is None:
            return
        try:
            setting = read_object_setting(root)
            if value is None:
                setting.pop(label, None)
            else:
                setting[label] = bool(value)
            write_object_setting(root, setting)
        except SegdeskError as exc:
            self.error(str(exc))
            return
        self.panel.set_object_setting(setting)
        self.changed.emit()


__all__ = ["ObjectSetting"]
