"""Options and window state that persist between runs, kept in QSettings.

Tests and portable installs point QSettings at a folder of their own with :func:`use_settings_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

#: Environment variable naming a folder for segdesk's settings file (tests, portable installs).
SETTINGS_DIR_ENV = "SEGDESK_SETTINGS_DIR"
MAX_RECENT = 10


def use_settings_dir(folder: str | Path | None = None) -> None:
    """Keep settings as an INI file in ``folder`` (default: ``$SEGDESK_SETTINGS_DIR`` when set)."""
    folder = folder if folder is not None else os.environ.get(SETTINGS_DIR_ENV)
    if not folder:
        return
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))


def _to_bool(value: object, default: bool) -> bool:
    # INI files give strings back ("true"/"false"); native stores give bools.
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _to_float(value: object, default: float) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


class AppSettings:
    """Typed access to segdesk's persistent options."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._s = settings if settings is not None else QSettings()

    def sync(self) -> None:
        self._s.sync()

    # --- window -----------------------------------------------------------------------------
    def window_geometry(self) -> QByteArray | None:
        value = self._s.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_geometry(self, geometry: QByteArray) -> None:
        self._s.setValue("window/geometry", geometry)

    def window_state(self) -> QByteArray | None:
        value = self._s.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, state: QByteArray) -> None:
        self._s.setValue("window/state", state)

    # --- folders ----------------------------------------------------------------------------
    def last_folder(self) -> Path | None:
        value = self._s.value("files/last_folder")
        return Path(value) if isinstance(value, str) and value else None

    def set_last_folder(self, folder: str | Path) -> None:
        self._s.setValue("files/last_folder", str(folder))
        self.add_recent_folder(folder)

    def recent_folders(self) -> list[Path]:
        value = self._s.value("files/recent_folders")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return []
        return [Path(v) for v in value if isinstance(v, str) and v]

    def add_recent_folder(self, folder: str | Path) -> None:
        folder = str(Path(folder))
        recent = [str(p) for p in self.recent_folders() if str(p) != folder]
        self._s.setValue("files/recent_folders", [folder, *recent][:MAX_RECENT])

    def clear_recent_folders(self) -> None:
        self._s.setValue("files/recent_folders", [])

    # --- options ----------------------------------------------------------------------------
    def autosave(self) -> bool:
        return _to_bool(self._s.value("options/autosave"), True)

    def set_autosave(self, on: bool) -> None:
        self._s.setValue("options/autosave", bool(on))

    def fill_opacity(self) -> float:
        return min(1.0, max(0.0, _to_float(self._s.value("options/fill_opacity"), 0.3)))

    def set_fill_opacity(self, alpha: float) -> None:
        self._s.setValue("options/fill_opacity", float(alpha))

    def last_label(self) -> str:
        value = self._s.value("options/last_label")
        return value if isinstance(value, str) else ""

    def set_last_label(self, label: str) -> None:
        self._s.setValue("options/last_label", label)

    def remember_widgets(self, group: str, widgets: dict[str, object]) -> None:
        """Restore each widget's value from ``group/name`` now, and store it whenever it changes.

        For plain option widgets (check boxes, spin boxes, combo boxes, sliders) whose value is
        the whole state, e.g. the model panel's proposal and overlay options. A stored value that
        no longer fits (out of range, wrong type) is ignored: the widget keeps its default.
        """
        for name, widget in widgets.items():
            key = f"{group}/{name}"
            _restore(widget, self._s.value(key))
            _on_change(widget, lambda value, k=key: self._s.setValue(k, value))


def _restore(widget: object, value: object) -> None:
    from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QComboBox, QDoubleSpinBox, QSpinBox

    if value is None:
        return
    if isinstance(widget, QAbstractButton) and widget.isCheckable():
        widget.setChecked(_to_bool(value, widget.isChecked()))
    elif isinstance(widget, QDoubleSpinBox):
        number = _to_float(value, widget.value())
        if widget.minimum() <= number <= widget.maximum():
            widget.setValue(number)
    elif isinstance(widget, QSpinBox | QAbstractSlider):
        number = _to_float(value, float(widget.value()))
        if widget.minimum() <= number <= widget.maximum() and number == int(number):
            widget.setValue(int(number))
    elif isinstance(widget, QComboBox):
        index = widget.findText(str(value))
        if index >= 0:
            widget.setCurrentIndex(index)
    else:
        raise TypeError(f"cannot remember a {type(widget).__name__}")


def _on_change(widget: object, store: object) -> None:
    from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QComboBox, QDoubleSpinBox, QSpinBox

    if isinstance(widget, QAbstractButton):
        widget.toggled.connect(store)
    elif isinstance(widget, QDoubleSpinBox | QSpinBox | QAbstractSlider):
        widget.valueChanged.connect(store)
    elif isinstance(widget, QComboBox):
        widget.currentTextChanged.connect(store)
