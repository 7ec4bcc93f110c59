"""Model > Training settings: the parts of a Retrain's plan a person fixes for this project.

Each field starts at "auto" (the plan decides from the reviewed images, ``ml/training/plan.py``);
what is set is saved to ``.segdesk/training.json`` (``core/training_settings.py``), which the app's
Retrain and ``segdesk train`` both read (an option given on the command line wins over it).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segdesk.core.training_settings import LIMITS, SETTINGS_FILE, TrainingSettings

AUTO = "auto"

#: (field, label, tip, special text at the lowest value, step) in the dialog's order.
_FIELDS: tuple[tuple[str, str, str, str, float], ...] = (
    ("minutes", "Time cap (minutes)", "A Retrain stops here once it has taken its minimum steps", "2 (default)", 0.5),
    ("scale", "Working scale", "Images are resampled by this factor to train and predict "
     "(0.5: objects twice too large for the network's view)", "auto (from the objects' size)", 0.25),
    ("patch_size", "Patch size (px)", "Side of the square crops a training step sees", AUTO, 16),
    ("batch_size", "Batch", "Patches per training step", AUTO, 1),
    ("base_width", "Width of a new model", "Channels of the first layer; a current model of "
     "another width is not fine-tuned but replaced by a new one", AUTO, 1),
    ("depth", "Depth of a new model", "Downsamplings; a current model of another depth is "
     "not fine-tuned but replaced by a new one", AUTO, 1),
    ("min_steps", "Minimum steps", "Training steps a Retrain takes whatever the clock says "
     "(on a busy computer it then runs past the time cap)", AUTO, 50),
    ("val_fraction", "Held out", "Share of the reviewed images kept out of training to choose and "
     "check the new model (0: it is checked on its own training images)", "0.2 (default)", 0.05),
)  # fmt: skip

#: (field, label, tip, [(text, value), ...]) of the on / off choices; the first is the default (None).
_CHOICES: tuple[tuple[str, str, str, list[tuple[str, bool | None]]], ...] = (
    ("warm_start", "Start a new model", "From the shipped generalist model (trained on nuclei) or from "
     "random weights", [("auto (generalist where it helps)", None), ("from the generalist", True),
                        ("from random weights", False)]),
    ("prior_correction", "Rare classes' odds", "A new model lowers the odds its training taught the "
     "rare classes as far as the held-out images ask (fewer false alarms)",
     [("lowered (default)", None), ("kept as trained", False)]),
)  # fmt: skip


class TrainingSettingsDialog(QDialog):
    """Shows ``settings`` (None fields as "auto") and ``last_plan`` (a sentence on the current model's
    ``plan``, a guide to what "auto" chose; a field stepped up from "auto" starts at the plan's value);
    :meth:`value` is what the person chose."""

    def __init__(
        self,
        settings: TrainingSettings,
        *,
        last_plan: str = "",
        plan: dict[str, Any] | None = None,
        problem: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Training settings")
        self.setObjectName("training_settings")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Each Retrain plans these from your reviewed images. What you set here wins for this "
            f"project, in the app and in <i>segdesk train</i> (saved in {SETTINGS_FILE.as_posix()})."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if problem:
            warning = QLabel(f"<b>The saved settings could not be read:</b> {problem}. OK replaces them.")
            warning.setObjectName("settings_problem")
            warning.setWordWrap(True)
            layout.addWidget(warning)
        form = QFormLayout()
        self.boxes: dict[str, QSpinBox | QDoubleSpinBox] = {}
        current = settings.fixed()
        starts = {**_STARTS, **{k: v for k, v in (plan or {}).items() if k in _STARTS and _number(v)}}
        for name, label, tip, special, step in _FIELDS:
            box = _box(name, special, step, float(starts[name]))
            box.setToolTip(tip)
            box.setObjectName(f"setting_{name}")
            box.setValue(current.get(name, box.minimum()))
            form.addRow(label, box)
            self.boxes[name] = box
        self.choices: dict[str, QComboBox] = {}
        for name, label, tip, options in _CHOICES:
            combo = QComboBox()
            combo.setObjectName(f"setting_{name}")
            combo.setToolTip(tip)
            for text, value in options:
                combo.addItem(text, value)
            combo.setCurrentIndex(max(combo.findData(current.get(name)), 0))
            form.addRow(label, combo)
            self.choices[name] = combo
        layout.addLayout(form)
        if last_plan:
            plan = QLabel(last_plan)
            plan.setObjectName("last_plan")
            plan.setWordWrap(True)
            layout.addWidget(plan)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Reset
        )
        reset = buttons.button(QDialogButtonBox.StandardButton.Reset)
        reset.setText("All auto")
        reset.clicked.connect(self.reset)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def reset(self) -> None:
        for box in self.boxes.values():
            box.setValue(box.minimum())
        for combo in self.choices.values():
            combo.setCurrentIndex(0)

    def value(self) -> TrainingSettings:
        """The chosen settings: a box at its lowest value ("auto") is None; a value under a field's
        least allowed one is raised to it."""
        chosen: dict[str, Any] = {}
        for name, box in self.boxes.items():
            if box.value() == box.minimum():
                continue
            kind, low, _high = LIMITS[name]
            chosen[name] = max(kind(box.value()), kind(low))
        for name, combo in self.choices.items():
            chosen[name] = combo.currentData()
        return TrainingSettings(**chosen)


#: Fields where 0 means something (no minimum, nothing held out): "auto" sits one step below.
_ZERO_IS_A_VALUE = ("min_steps", "val_fraction")


class _AutoStart:
    """A spin box whose lowest value is "auto": stepping up from it lands on ``start`` (what auto
    chose last time, or the default), not on the lowest number the field allows."""

    start: float = 0.0

    def stepBy(self, steps: int) -> None:  # Qt's name
        if self.value() == self.minimum() and steps > 0:  # type: ignore[attr-defined]
            self.setValue(self.start)  # type: ignore[attr-defined]
            steps -= 1
        if steps:
            super().stepBy(steps)  # type: ignore[misc]


class _AutoInt(_AutoStart, QSpinBox):
    pass


class _AutoFloat(_AutoStart, QDoubleSpinBox):
    pass


def _box(name: str, special: str, step: float, start: float) -> QSpinBox | QDoubleSpinBox:
    """A spin box whose lowest value reads ``special`` ("auto"), one below the field's range."""
    kind, low, high = LIMITS[name]
    box: _AutoInt | _AutoFloat
    if kind is float:
        box = _AutoFloat()
        box.setDecimals(2)
        box.setRange(-step if name in _ZERO_IS_A_VALUE else 0.0, high)  # the lowest: "auto"
    else:
        box = _AutoInt()
        box.setRange(-1 if name in _ZERO_IS_A_VALUE else 0, int(high))  # the lowest: "auto"
    box.start = start
    box.setSingleStep(step)  # type: ignore[arg-type]
    box.setSpecialValueText(special)
    return box


#: Where stepping up from "auto" starts when no model has a plan yet (the CPU plan's usual choices).
_STARTS = {"minutes": 2.0, "scale": 1.0, "patch_size": 128, "batch_size": 16, "base_width": 8, "depth": 4,
           "min_steps": 300, "val_fraction": 0.2}  # fmt: skip


def plan_words(plan: Any) -> str:
    """A saved model's plan (its ``model.json`` ``plan``) in the dialog's words; "" without one."""
    if not isinstance(plan, dict):
        return ""
    words = [
        ("scale", "working scale {:g}x"),
        ("patch_size", "patches {}"),
        ("batch_size", "batch {}"),
        ("base_width", "width {}"),
        ("depth", "depth {}"),
        ("min_steps", "at least {} steps"),
    ]
    parts = []
    for key, text in words:
        value = plan.get(key)
        if _number(value):
            parts.append(text.format(value))
    return ", ".join(parts)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = ["TrainingSettingsDialog", "plan_words"]
