"""The Model dock: the current model, proposals controls, Retrain with a live chart, history, effort.

Widgets only: every button emits a signal and the model controllers (ui/assist/) decide; they read
the panel through its getters (settings, overlay_style, auto_predict_enabled ...), never its widgets.
Parts: panels/training_chart.py, panels/overlay_controls.py, panels/model_layout.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segdesk.services.model_store import ModelInfo
from segdesk.services.proposals import ProposalSettings
from segdesk.ui.canvas.confidence import OverlayStyle
from segdesk.ui.dialogs.keep_model import KeepModelBar
from segdesk.ui.model_health import model_text, not_useful_text
from segdesk.ui.panels.model_layout import FittedScrollArea, HistoryList
from segdesk.ui.panels.overlay_controls import OverlayControls
from segdesk.ui.panels.training_chart import TrainingChart


def _button(text: str, name: str, tip: str) -> QPushButton:
    b = QPushButton(text)
    b.setObjectName(name)
    b.setToolTip(tip)
    return b


class ModelPanel(QDockWidget):
    """The dock. Signals are requests; the controller answers with the ``show_*`` / ``set_*`` methods."""

    predict_requested = Signal()
    predict_all_requested = Signal()
    cancel_batch_requested = Signal()
    retrain_requested = Signal()
    cancel_training_requested = Signal()
    training_settings_requested = Signal()  # Model > Training settings
    next_uncertain_requested = Signal()
    accept_all_requested = Signal()
    reject_all_requested = Signal()
    reviewed_toggled = Signal(bool)
    version_chosen = Signal(str)
    settings_changed = Signal(object)  # ProposalSettings
    overlay_changed = Signal(object)  # OverlayStyle

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.setObjectName("dock_model")
        self._overlay_action: QAction | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.info = QLabel("No folder open.")
        self.info.setObjectName("model_info")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.info)
        self.health = QLabel("")  # "not useful yet" and what to do
        self.health.setObjectName("model_health")
        self.health.setWordWrap(True)
        self.health.setStyleSheet("color: #b34700;")
        self.health.hide()
        layout.addWidget(self.health)
        layout.addWidget(self._proposals_box())
        layout.addWidget(self._training_box())
        layout.addWidget(self._history_box(), 1)
        self.effort = QLabel("Correction effort: no accepted proposals yet.")
        self.effort.setObjectName("effort_label")
        self.effort.setWordWrap(True)
        layout.addWidget(self.effort)
        # Scrolls rather than forcing the window taller than a laptop screen when everything shows
        # (overlay controls, the keep-either offer).
        scroll = FittedScrollArea()
        scroll.setObjectName("model_scroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self._connect()
        self.set_training(False)
        self.set_batch(None)

    # --- building -------------------------------------------------------------------------------
    def _proposals_box(self) -> QGroupBox:
        box = QGroupBox("Proposals")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.predict_button = _button("Predict this image", "predict_button", "Run the model on this image")
        self.uncertain_button = _button(
            "Next most uncertain",
            "uncertain_button",
            "Go to the unlabeled image the model is least sure about",
        )
        row.addWidget(self.predict_button)
        row.addWidget(self.uncertain_button)
        v.addLayout(row)
        self.auto_predict = QCheckBox("Predict when an unlabeled image opens")
        self.auto_predict.setObjectName("auto_predict")
        self.auto_predict.setChecked(True)
        v.addWidget(self.auto_predict)
        form = QFormLayout()
        self.threshold = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.99, singleStep=0.05, value=0.5)
        self.threshold.setObjectName("threshold_spin")
        self.threshold.setToolTip("A pixel the model is less sure of than this becomes background")
        self.min_area = QSpinBox(minimum=0, maximum=1_000_000, singleStep=8, value=16)
        self.min_area.setObjectName("min_area_spin")
        self.min_area.setSuffix(" px")
        self.min_area.setToolTip(
            "Shapes smaller than this are not proposed; a model that records a larger minimum for its"
            " objects (its note above: 'none under N px') uses that for them"
        )
        self.tolerance = QDoubleSpinBox(decimals=1, minimum=0.0, maximum=20.0, singleStep=0.5, value=1.0)
        self.tolerance.setObjectName("tolerance_spin")
        self.tolerance.setSuffix(" px")
        form.addRow("Confidence threshold", self.threshold)
        form.addRow("Minimum area", self.min_area)
        form.addRow("Simplify", self.tolerance)
        v.addLayout(form)
        overlay = OverlayControls()
        self.overlay_check, self.overlay_mode = overlay.check, overlay.mode
        self.overlay_details, self.overlay_legend = overlay.details, overlay.legend
        self.overlay_opacity, self.overlay_info = overlay.opacity, overlay.info
        v.addWidget(overlay)
        row = QHBoxLayout()
        self.accept_button = _button(
            "Accept all", "accept_all_button", "Accept every proposal (Shift+Return)"
        )
        self.reject_button = _button("Reject all", "reject_all_button", "Remove every proposal")
        self.reviewed_button = _button(
            "Reviewed",
            "reviewed_button",
            "Say this image is right: it trains (Ctrl+Shift+R; R also goes to the next image). "
            "Click again to un-review (Ctrl+Shift+U)",
        )
        self.reviewed_button.setCheckable(True)
        for b in (self.accept_button, self.reject_button, self.reviewed_button):
            row.addWidget(b)
        v.addLayout(row)
        self.review_status = QLabel("")  # this image's status and whether it trains
        self.review_status.setObjectName("review_status")
        self.review_status.setWordWrap(True)
        v.addWidget(self.review_status)
        row = QHBoxLayout()
        self.predict_all_button = _button(
            "Predict all unlabeled", "predict_all_button", "Save proposals for every unlabeled image"
        )
        self.batch_progress = QProgressBar()
        self.batch_progress.setObjectName("batch_progress")
        self.batch_cancel = _button("Cancel", "batch_cancel_button", "Stop predicting")
        row.addWidget(self.predict_all_button)
        row.addWidget(self.batch_progress, 1)
        row.addWidget(self.batch_cancel)
        v.addLayout(row)
        return box

    def _training_box(self) -> QGroupBox:
        box = QGroupBox("Training")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.retrain_button = _button(
            "Retrain on my labels",
            "retrain_button",
            "Fine-tune the model on the images marked reviewed, as saved (lists them first)",
        )
        self.cancel_button = _button(
            "Cancel", "cancel_training_button", "Stop training; keep the current model"
        )
        row.addWidget(self.retrain_button, 1)
        row.addWidget(self.cancel_button)
        v.addLayout(row)
        self.train_count = QLabel("")  # "N images will train"
        self.train_count.setObjectName("train_count")
        self.train_count.setWordWrap(True)
        self.settings_button = _button(
            "Settings ...", "training_settings_button", "Fix parts of a Retrain's plan for this project"
        )
        self.settings_button.clicked.connect(self.training_settings_requested)
        count_row = QHBoxLayout()
        count_row.addWidget(self.train_count, 1)
        count_row.addWidget(self.settings_button)
        v.addLayout(count_row)
        self.train_progress = QProgressBar()
        self.train_progress.setObjectName("train_progress")
        self.train_progress.setRange(0, 1000)
        self.train_status = QLabel("")
        self.train_status.setObjectName("train_status")
        self.train_status.setWordWrap(True)
        self.chart = TrainingChart()
        self.keep_bar = KeepModelBar()
        v.addWidget(self.train_progress)
        v.addWidget(self.train_status)
        v.addWidget(self.keep_bar)
        v.addWidget(self.chart)
        return box

    def _history_box(self) -> QGroupBox:
        box = QGroupBox("Model history (double-click to use)")
        v = QVBoxLayout(box)
        self.history = HistoryList()
        self.history.setObjectName("model_history")
        v.addWidget(self.history)
        return box

    def _connect(self) -> None:
        self.predict_button.clicked.connect(self.predict_requested)
        self.uncertain_button.clicked.connect(self.next_uncertain_requested)
        self.predict_all_button.clicked.connect(self.predict_all_requested)
        self.batch_cancel.clicked.connect(self.cancel_batch_requested)
        self.retrain_button.clicked.connect(self.retrain_requested)
        self.cancel_button.clicked.connect(self.cancel_training_requested)
        self.accept_button.clicked.connect(self.accept_all_requested)
        self.reject_button.clicked.connect(self.reject_all_requested)
        self.reviewed_button.clicked.connect(self.reviewed_toggled)
        self.history.itemDoubleClicked.connect(
            lambda item: self.version_chosen.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        self.keep_bar.chosen.connect(self.version_chosen)
        self.version_chosen.connect(lambda _v: self.dismiss_keep_choice())  # a choice made anywhere
        for spin in (self.threshold, self.min_area, self.tolerance):
            spin.valueChanged.connect(lambda _v: self.settings_changed.emit(self.settings()))
        self.overlay_check.toggled.connect(self._overlay_edited)
        self.overlay_mode.currentIndexChanged.connect(self._overlay_edited)
        self.overlay_opacity.valueChanged.connect(self._overlay_edited)
        self.threshold.valueChanged.connect(self._overlay_edited)

    def _overlay_edited(self, *_args: object) -> None:
        style = self.overlay_style()
        self.overlay_details.setVisible(style.visible)
        self.overlay_legend.set_style(style)
        self.overlay_changed.emit(style)

    # --- state from the controller -------------------------------------------------------------
    def remembered_widgets(self) -> dict[str, QWidget]:
        """The options that persist between sessions (see AppSettings.remember_widgets)."""
        return {
            "auto_predict": self.auto_predict,  # the proposal settings are the project's (proposal_memory)
            "overlay": self.overlay_check,
            "overlay_mode": self.overlay_mode,
            "overlay_opacity": self.overlay_opacity,
        }

    def settings(self) -> ProposalSettings:
        return ProposalSettings(
            threshold=self.threshold.value(), min_area=self.min_area.value(), tolerance=self.tolerance.value()
        )

    def show_settings(self, settings: ProposalSettings) -> None:
        """Show the project's proposal settings (``ui/assist/proposal_memory.py``)."""
        self.threshold.setValue(settings.threshold)
        self.min_area.setValue(settings.min_area)
        self.tolerance.setValue(settings.tolerance)

    def overlay_style(self) -> OverlayStyle:
        return OverlayStyle(
            visible=self.overlay_check.isChecked(),
            mode=self.overlay_mode.currentData(),
            opacity=self.overlay_opacity.value() / 100.0,
            threshold=self.threshold.value(),
        )

    def bind_overlay_action(self, action: QAction) -> None:
        """Keep a checkable window action (Model menu, Ctrl+Shift+C) and the overlay check box in step."""
        if action is self._overlay_action:
            return
        self._overlay_action = action
        action.setCheckable(True)
        action.setChecked(self.overlay_check.isChecked())
        action.toggled.connect(self.overlay_check.setChecked)
        self.overlay_check.toggled.connect(action.setChecked)

    def auto_predict_enabled(self) -> bool:
        """Predict when an unlabeled image opens."""
        return self.auto_predict.isChecked()

    def set_overlay_ramp(self, ramp: object) -> None:
        """The overlay's colour ramp, for the legend."""
        self.overlay_legend.set_ramp(ramp)

    def training_fraction(self) -> float:
        """How far the running training is, 0..1 (what the progress bar shows)."""
        return self.train_progress.value() / 1000

    def show_overlay_info(self, text: str) -> None:
        if self.overlay_info.text() != text:  # called on every mouse move over the image
            self.overlay_info.setText(text)

    def offer_keep_choice(
        self, *, new_version: str, new_miou: float | None, old_version: str, old_miou: float | None
    ) -> None:
        """Show the keep-either bar (the new version was not promoted)."""
        self.keep_bar.offer(
            new_version=new_version, new_miou=new_miou, old_version=old_version, old_miou=old_miou
        )

    def dismiss_keep_choice(self) -> None:
        self.keep_bar.hide()

    def show_model(self, info: ModelInfo | None, history: Sequence[ModelInfo], device: str = "") -> None:
        has = info is not None
        for b in (self.predict_button, self.uncertain_button, self.predict_all_button):
            b.setEnabled(has)
        self.info.setText(model_text(info, device))
        self.health.setText(not_useful_text(info))
        self.health.setVisible(bool(self.health.text()))
        self.history.clear()
        for item_info in reversed(list(history)):
            current = info is not None and item_info.version == info.version
            text = ("\u25b6 " if current else "   ") + item_info.summary()
            if item_info.promoted is False:
                text += "  (not promoted)"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, item_info.version)
            item.setToolTip(item_info.reason)
            self.history.addItem(item)

    def set_training(self, running: bool) -> None:
        self.retrain_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.dismiss_keep_choice()  # the last run's offer is moot once a new run starts
            self.train_progress.setValue(0)
            self.chart.set_history([])

    def show_training_progress(self, fraction: float, text: str, history: Sequence | None = None) -> None:
        self.train_progress.setValue(int(round(min(max(fraction, 0.0), 1.0) * 1000)))
        self.train_status.setText(text)
        if history is not None:
            self.chart.set_history(history)

    def set_batch(self, progress: tuple[int, int] | None) -> None:
        running = progress is not None
        self.batch_progress.setVisible(running)
        self.batch_cancel.setVisible(running)
        self.predict_all_button.setVisible(not running)
        if progress is not None:
            self.batch_progress.setRange(0, max(progress[1], 1))
            self.batch_progress.setValue(progress[0])

    def set_reviewed(self, reviewed: bool, *, enabled: bool = True) -> None:
        self.reviewed_button.setChecked(reviewed)
        self.reviewed_button.setEnabled(enabled)
        self.reviewed_button.setText("Reviewed \u2713" if reviewed else "Mark reviewed")

    def set_review_status(self, text: str | None) -> None:
        self.review_status.setText(text or "")

    def set_train_count(self, text: str) -> None:
        self.train_count.setText(text)

    def set_training_settings(self, fixed: str) -> None:
        """What the project's training settings fix ("" = nothing: the plan decides everything)."""
        self.settings_button.setText("Settings (yours) ..." if fixed else "Settings ...")
        self.settings_button.setToolTip(f"Fixed for this project: {fixed}" if fixed else "The plan decides")

    def set_proposal_count(self, count: int) -> None:
        self.accept_button.setEnabled(count > 0)
        self.reject_button.setEnabled(count > 0)
        self.accept_button.setText(f"Accept all ({count})" if count else "Accept all")

    def show_effort(
        self, trend: tuple[int, float] | None, objects: tuple[int, float, float] | None = None
    ) -> None:
        """``trend``: (images, mean IoU); ``objects``: (images, splits, merges per image) the person made."""
        if trend is None:
            self.effort.setText("Correction effort: no accepted proposals yet.")
            return
        n, mean = trend
        text = f"Correction effort: last {n} image(s): proposals {mean:.0%} right"
        if objects is not None:
            _, splits, merges = objects
            text += f"; per image {splits:.1f} split(s), {merges:.1f} merge(s) of objects"
        self.effort.setText(text)
