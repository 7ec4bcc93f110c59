"""Which images train: one rule, used by the app's Retrain and by ``segdesk train``.

* Images a person marked reviewed train (see core/review.py).
* Images labelled elsewhere (another tool, or an older segdesk) train only once confirmed:
  ``use_elsewhere=True`` takes them too (the caller then records the confirmation with
  :func:`confirm_elsewhere`, so the answer is asked once).
* A reviewed image with no shape of a person trains as all background; the plan lists those
  (``empty_reviewed``) so the person is asked first; ``skip_empty=True`` leaves them out.
* Labels the training images use that labels.txt does not list are named (``unknown_labels``);
  they train as "ignore" (core/rasterize), which the person should know.

Training reads the files on disk: nothing here saves or changes an open document.
"""

from __future__ import annotations

from dataclasses import dataclass

from segdesk.core import review
from segdesk.core.project import BACKGROUND_LABEL, IGNORE_LABEL, ImageEntry, Project


@dataclass(frozen=True)
class TrainingPlan:
    """What a training run will use, and what the person should hear about first."""

    entries: tuple[ImageEntry, ...]  # the images that train
    elsewhere: tuple[ImageEntry, ...]  # labelled elsewhere, not confirmed (left out unless use_elsewhere)
    empty_reviewed: tuple[ImageEntry, ...]  # reviewed without any shape of a person
    unknown_labels: tuple[str, ...]  # used by training images, missing from labels.txt
    problems: tuple[str, ...] = ()  # training images that cannot be read (left out)

    def describe(self) -> list[str]:
        """The plan in lines for a person (the app's dialog and the command line print these)."""
        lines = [f"{len(self.entries)} image(s) will train"]
        if self.entries:
            lines[0] += ": " + _names(self.entries)
        empty = [e for e in self.empty_reviewed if e in self.entries]
        if empty:
            lines.append(
                f"{len(empty)} reviewed image(s) have no shape and train as all background: {_names(empty)}"
            )
        if self.elsewhere and not any(e in self.entries for e in self.elsewhere):
            lines.append(
                f"{len(self.elsewhere)} image(s) labelled elsewhere are left out until confirmed: "
                + _names(self.elsewhere)
            )
        if self.unknown_labels:
            lines.append(
                "labels not in labels.txt (trained as ignored regions): " + ", ".join(self.unknown_labels)
            )
        lines.extend(self.problems)
        return lines


def _names(entries: tuple[ImageEntry, ...] | list[ImageEntry], most: int = 8) -> str:
    names = [e.name for e in entries]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def plan_training(project: Project, *, use_elsewhere: bool = False, skip_empty: bool = False) -> TrainingPlan:
    """The images that train in ``project`` now (see the module docstring)."""
    candidates: list[ImageEntry] = []
    elsewhere: list[ImageEntry] = []
    for entry in project.entries():
        status = project.status(entry)
        if status == "elsewhere":
            elsewhere.append(entry)
        if status == "reviewed" or (status == "elsewhere" and use_elsewhere):
            candidates.append(entry)
    listed = project.label_names() if project.labels_file.is_file() else None
    known = set(listed or ()) | {BACKGROUND_LABEL, IGNORE_LABEL}
    entries: list[ImageEntry] = []
    empty: list[ImageEntry] = []
    unknown: dict[str, None] = {}
    problems: list[str] = []
    for entry in candidates:
        problem = project.problem(entry)
        if problem is not None:
            problems.append(f"left out: {problem}")
            continue
        labels = project.person_shape_labels(entry)  # cached with the status: no file read again
        if not labels:
            empty.append(entry)
            if skip_empty:
                continue
        if listed is not None:
            unknown.update((label, None) for label in labels if label not in known)
        entries.append(entry)
    return TrainingPlan(tuple(entries), tuple(elsewhere), tuple(empty), tuple(unknown), tuple(problems))


def confirm_elsewhere(project: Project, entries: tuple[ImageEntry, ...] | list[ImageEntry]) -> int:
    """Record that the person confirmed these files labelled elsewhere (how="confirmed"); how many."""
    at = review.now_iso()
    done = 0
    for entry in entries:
        document = project.load(entry)
        if document.status != "elsewhere":
            continue
        review.mark_reviewed(document, "confirmed", at)
        project.save(entry, document)
        done += 1
    return done


__all__ = ["TrainingPlan", "confirm_elsewhere", "plan_training"]
