"""Reviewing in the window: the explicit act, the status shown, and what Retrain will use.

Only the person's act reviews an image (core/review.py). Retrain trains on the files on disk as
``core/training_plan.py`` chooses them; it never saves the open image. Every question goes through an
``ask(title, text, buttons) -> chosen button`` callable (``ModelAssist.ask``), so tests answer it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from segdesk.core import disk_stamps, effort, review
from segdesk.core.errors import SegdeskError
from segdesk.core.project import Project
from segdesk.core.training_plan import TrainingPlan, confirm_elsewhere, plan_training

#: ask(title, text, buttons) -> the button chosen (the last one, "Cancel", when the box is closed).
Ask = Callable[[str, str, Sequence[str]], str]

USE_ELSEWHERE, NOT_ELSEWHERE = "Use them", "Leave them out"
AS_BACKGROUND, SKIP_EMPTY = "Train as background", "Leave them out"
START, CANCEL = "Start training", "Cancel"


def message_box_ask(parent: QWidget | None) -> Ask:
    """The window's ``ask``: a question box whose buttons are ``buttons`` (the last one cancels)."""

    def ask(title: str, text: str, buttons: Sequence[str]) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
        made = []
        for i, label in enumerate(buttons):
            role = (
                QMessageBox.ButtonRole.RejectRole
                if i == len(buttons) - 1
                else QMessageBox.ButtonRole.AcceptRole
            )
            made.append(box.addButton(label, role))
        box.setDefaultButton(made[0])
        box.setEscapeButton(made[-1])
        box.exec()
        clicked = box.clickedButton()
        return buttons[made.index(clicked)] if clicked in made else buttons[-1]

    return ask


def status_line(status: str) -> str:
    """What the status bar and the panel say about the image's status."""
    title = review.TITLES.get(status, status)
    return f"{title[:1].upper()}{title[1:]}: {review.EXPLAIN.get(status, '')}"


def status_words(status: str | None) -> tuple[str, str]:
    """(the status in words, what it means) for the status bar; empty with no image."""
    if status is None:
        return "", ""
    return review.TITLES.get(status, status), review.EXPLAIN.get(status, "")


def train_count_text(counts: dict[str, int]) -> str:
    """'N images will train' (and the labelled-elsewhere ones waiting), from the file list's counts."""
    text = f"{counts.get('reviewed', 0)} image(s) will train"
    if counts.get("elsewhere", 0):
        text += f"; {counts['elsewhere']} labelled elsewhere wait for your confirmation"
    return text


def _listing(names: Sequence[str], most: int = 12) -> str:
    more = f"\n... and {len(names) - most} more" if len(names) > most else ""
    return "\n".join(f"  {n}" for n in names[:most]) + more


def plan_retrain(project: Project, ask: Ask, *, unsaved: str | None) -> TrainingPlan | None:
    """Decide with the person what Retrain uses; None when cancelled or there is nothing to train.

    ``unsaved``: the name of the open image when it has unsaved edits (they are not included).
    Raises SegdeskError when the folder cannot be read or the nothing-to-train case needs saying.
    """
    plan = plan_training(project)
    if plan.elsewhere:
        names = [e.name for e in plan.elsewhere]
        answer = ask(
            "Images labelled elsewhere",
            f"Use the {len(names)} image(s) labelled elsewhere for training?\n{_listing(names)}\n\n"
            "They were labelled in another tool (or by an older segdesk) and nobody confirmed them here. "
            "Using them records that you confirmed them.",
            (USE_ELSEWHERE, NOT_ELSEWHERE, CANCEL),
        )
        if answer == CANCEL:
            return None
        if answer == USE_ELSEWHERE:
            confirm_elsewhere(project, plan.elsewhere)
            plan = plan_training(project)
    skip_empty = False
    if plan.empty_reviewed:
        names = [e.name for e in plan.empty_reviewed]
        answer = ask(
            "Reviewed images without shapes",
            f"{len(names)} reviewed image(s) have no shape at all:\n{_listing(names)}\n\n"
            "Train them as all background (nothing of any class there)?",
            (AS_BACKGROUND, SKIP_EMPTY, CANCEL),
        )
        if answer == CANCEL:
            return None
        skip_empty = answer == SKIP_EMPTY
        if skip_empty:
            plan = plan_training(project, skip_empty=True)
    if not plan.entries:
        left = (
            f"; the {len(plan.elsewhere)} labelled elsewhere were left out (mark them reviewed, or "
            "answer Use them)"
            if plan.elsewhere
            else ""
        )
        raise SegdeskError(
            f"{project.root.name}: no reviewed images to train on yet: mark a few images reviewed (R), "
            f"then Retrain{left}"
        )
    if plan.unknown_labels or unsaved:
        lines = plan.describe()
        if unsaved:
            lines.append(
                f"{unsaved} has unsaved edits: they are NOT included (training reads the saved files; "
                "save, or mark it reviewed, to include them)"
            )
        if ask("Retrain", "\n\n".join(lines), (START, CANCEL)) != START:
            return None
    return plan


def mark_reviewed(session: Any, say: Callable[[str], None]) -> bool:
    """The explicit act: save the open image as reviewed (``session``: ui.session.Session)."""
    document = session.document
    if document is None or not session.mark_reviewed():
        return False
    left = len(document.proposals)
    note = f"; {left} proposal(s) not accepted are left out of training" if left else ""
    say(f"Marked {session.current.image_path.name} reviewed: it trains{note}")
    return True


def unreview(session: Any, say: Callable[[str], None]) -> bool:
    """Take the review back (only a reviewed image): it stops training; its shapes stay."""
    document = session.document
    if document is None or document.status != "reviewed" or not session.unreview():
        return False
    say(f"{session.current.image_path.name} is no longer reviewed: it does not train")
    return True


def sync_open_review(session: Any) -> None:
    """After files were confirmed on disk: give the open image the same review record, so that its
    next save keeps the confirmation (its shapes and unsaved edits stay as they are)."""
    document = session.document
    if document is None or document.status != "elsewhere" or session.project is None:
        return
    entry = session.entries[session.index]
    try:
        on_disk = session.project.load(entry)
    except (SegdeskError, OSError):
        return
    if on_disk.status == "reviewed":
        document.extra["status"] = "reviewed"
        document.extra["reviewed"] = dict(on_disk.extra["reviewed"])
        # segdesk itself wrote that file: its next save must not take it for another program's write
        disk_stamps.remember(document, disk_stamps.stamp_of_file(entry.json_path))
        document.notify("status")


def record_effort(
    current: Any, proposed: dict[Path, Any], root: Path, say: Callable[[str], None]
) -> tuple[int, float] | None:
    """Append the correction effort of the image just marked reviewed; the new trend, or None.

    ``proposed`` maps image paths to (model version, the shapes first proposed); measured only when
    something was proposed, nothing is still open and not every proposal was rejected.
    """
    document = current.document
    stored = proposed.get(current.image_path)
    if document is None or stored is None or document.proposals:
        return None
    if not any(s.extra.get("source") == "model" for s in document.shapes):
        return None  # every proposal was rejected: nothing accepted to measure
    del proposed[current.image_path]
    version, shapes = stored
    rows = effort.correction_ious(shapes, document.shapes, (document.image_height, document.image_width))
    csv_path = root / ".segdesk" / effort.CSV_NAME
    try:
        effort.append_csv(csv_path, current.image_path.name, version, rows)
    except OSError as exc:
        say(f"{csv_path}: cannot record the correction effort: {exc}")
    return effort.recent_trend(csv_path)


__all__ = [
    "Ask",
    "message_box_ask",
    "mark_reviewed",
    "plan_retrain",
    "record_effort",
    "sync_open_review",
    "unreview",
    "status_line",
    "status_words",
    "train_count_text",
]
