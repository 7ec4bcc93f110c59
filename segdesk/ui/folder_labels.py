"""The labels the session offers: labels.txt (or the labels the folder's files use), this image's,
and the ones typed in this session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from segdesk.core.errors import SegdeskError
from segdesk.core.project import Project


def has_labels_file(project: Project | None) -> bool:
    return project is not None and (Path(project.root) / "labels.txt").is_file()


class FolderLabels:
    """Caches the folder's labels; ``failed`` gets the message when they cannot be read."""

    def __init__(self, failed: Callable[[str], None]) -> None:
        self._failed = failed
        self._typed: list[str] = []
        self._cache: list[str] | None = None

    def reset(self) -> None:
        """Another folder: nothing typed yet, its labels not read yet."""
        self._typed = []
        self._cache = None

    def forget_folder_labels(self) -> None:
        self._cache = None

    def remember(self, label: str) -> None:
        if label and label not in self._typed:
            self._typed.append(label)

    def known(self, project: Project | None, document: Any, scanning: Callable[[], bool]) -> list[str]:
        """labels.txt (or labels found in the folder) first, then ``document``'s, then new ones typed."""
        names = list(self._folder_labels(project, scanning))
        if document is not None:
            names += document.labels
        names += self._typed
        # "_background_" is what is left unlabeled; nobody draws it, so it is not offered.
        names = [n for n in dict.fromkeys(names) if n and n != "_background_"]
        if "__ignore__" in names:  # offered, but last: it marks regions to leave out of training
            names = [n for n in names if n != "__ignore__"] + ["__ignore__"]
        return names

    def _folder_labels(self, project: Project | None, scanning: Callable[[], bool]) -> list[str]:
        """labels.txt, or the labels the folder's files use (once their statuses have been read).

        Without labels.txt the project reads every annotation file to find labels; that waits for
        the background scan instead of freezing the first image of a big folder.
        """
        if project is None:
            return []
        if self._cache is None:
            if not has_labels_file(project) and scanning():
                return []
            try:
                self._cache = list(project.label_names())
            except SegdeskError as exc:
                self._cache = []
                self._failed(str(exc))
        return self._cache
