"""The window's non-widget logic: which folder and image are open, loading, saving and autosave.

The session owns the undo stack; its clean state is the "unsaved" flag. Leaving an image (another
image, another folder, closing the window) never loses edits: with autosave on it saves, with autosave
off it asks through ``ask_unsaved`` (set by the window; tests replace it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import QObject, QTimer, Signal

from segdesk.core import review
from segdesk.core.commands import Command
from segdesk.core.document import Document
from segdesk.core.errors import SegdeskError
from segdesk.core.image_io import IMAGE_EXTENSIONS
from segdesk.core.image_source import load_image
from segdesk.core.project import Project
from segdesk.ui import file_changed
from segdesk.ui.current_image import QT_MAX_SIDE, CurrentImage, fill_current, header_size, image_of_document
from segdesk.ui.folder_labels import FolderLabels, has_labels_file
from segdesk.ui.open_loader import ASYNC_JSON_BYTES, ASYNC_PIXELS, OpenLoader, OpenResult
from segdesk.ui.undo import DocumentCommand, make_undo_stack

#: Autosave waits this long after the last edit, so a burst of edits is one write.
AUTOSAVE_DELAY_MS = 400
#: Reading statuses after opening a folder: this long at once, then slices this long between events.
SCAN_FIRST_S = 0.3
SCAN_SLICE_S = 0.03

UnsavedAnswer = Literal["save", "discard", "cancel"]


class Session(QObject):
    """Open folder, current image and its annotation, saving."""

    folder_opened = Signal(object)  # Path
    image_loaded = Signal(object)  # CurrentImage
    dirty_changed = Signal(bool)
    entry_status_changed = Signal(int, str)
    saved = Signal(object)  # Path of the JSON written
    failed = Signal(str)  # a message for the person
    statuses_read = Signal()  # every entry's status is known (after opening a folder)
    loading_started = Signal(object)  # Path of a big image or JSON file now read in the background

    def __init__(self, parent: QObject | None = None, *, autosave: bool = True) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.entries: list[Any] = []
        self.current: CurrentImage | None = None
        self.undo_stack = make_undo_stack(self)  # segdesk's undo limit, the tested stack
        self._autosave = autosave
        self._labels = FolderLabels(self.failed.emit)
        #: Asked when leaving an image with unsaved edits while autosave is off.
        self.ask_unsaved: Callable[[str], UnsavedAnswer] = lambda _name: "save"
        #: Asked when another program wrote the file since it was loaded: reload / overwrite / cancel.
        self.ask_changed: Callable[[str], file_changed.ChangedAnswer] = lambda _name: "cancel"
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self._autosave_now)
        self._scan_next = 0
        self._scan_timer = QTimer(self)
        self._scan_timer.setSingleShot(True)
        self._scan_timer.setInterval(0)
        self._scan_timer.timeout.connect(self._scan_statuses)
        self._loader = OpenLoader(self)
        self._loader.loaded.connect(self._on_loaded)
        self._loader.json_read.connect(self._on_json_read)
        self.undo_stack.cleanChanged.connect(lambda clean: self.dirty_changed.emit(not clean))
        self.undo_stack.indexChanged.connect(self._on_edit)

    # --- state ------------------------------------------------------------------------------
    @property
    def document(self) -> Document | None:
        return None if self.current is None else self.current.document

    @property
    def index(self) -> int:
        return -1 if self.current is None else self.current.index

    def is_dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def autosave(self) -> bool:
        return self._autosave

    def set_autosave(self, on: bool) -> None:
        self._autosave = bool(on)
        if on and self.is_dirty():
            self._timer.start()

    def image_names(self) -> list[str]:
        return [Path(e.image_path).name for e in self.entries]

    def _scan_statuses(self, budget_s: float = SCAN_SLICE_S) -> None:
        """Read entry statuses for ``budget_s``, then yield to the event loop and go on later.

        Reading 1,000 annotation files takes seconds; the window must not freeze meanwhile.
        """
        deadline = time.perf_counter() + budget_s
        while self._scan_next < len(self.entries):
            index = self._scan_next
            self._scan_next += 1
            self.entry_status_changed.emit(index, self._entry_status(index))
            if time.perf_counter() > deadline and self._scan_next < len(self.entries):
                self._scan_timer.start()
                return
        self.statuses_read.emit()

    def scanning(self) -> bool:
        """True while statuses are still being read after opening a folder."""
        return self._scan_next < len(self.entries)

    def entry_status(self, index: int) -> str:
        """unlabeled / proposed / reviewed, or "problem" (read from the file, cached by its stamp)."""
        return self._entry_status(index)

    def _entry_status(self, index: int) -> str:
        """The entry's status, or "problem" when its annotation file cannot be read."""
        entry = self.entries[index]
        try:
            if self.project.problem(entry) is not None:  # type: ignore[union-attr]
                return "problem"
            return self.project.status(entry)  # type: ignore[union-attr]
        except (SegdeskError, OSError):
            return "problem"

    def known_labels(self) -> list[str]:
        """labels.txt (or labels found in the folder) first, then this image's, then new ones typed."""
        return self._labels.known(self.project, self.document, self.scanning)

    def remember_label(self, label: str) -> None:
        self._labels.remember(label)

    def labels_file_changed(self) -> None:
        """labels.txt was edited (a label added): read the folder's labels again."""
        self._labels.forget_folder_labels()

    def has_labels_file(self) -> bool:
        return has_labels_file(self.project)

    # --- opening ----------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        """Open a folder, an image (its folder, at that image) or a Labelme JSON file (its image)."""
        path = Path(path).expanduser()
        if path.is_dir():
            return self.open_folder(path)
        if not path.exists():
            self.failed.emit(f"{path}: no such file or folder")
            return False
        image = path
        if path.suffix.lower() == ".json":
            if path.stat().st_size > ASYNC_JSON_BYTES:
                # Big: parsed on a pool thread (kept for the load that follows); opens when read.
                from segdesk.core.parsed import peek_document

                guess = next(
                    (p for p in path.parent.glob(path.stem + ".*") if p.suffix.lower() in IMAGE_EXTENSIONS),
                    None,
                )
                self._loader.read_json(path, peek_document, image_guess=guess)
                self.loading_started.emit(path)
                return True
            found = self._image_of_json(path)
            if found is None:
                return False
            image = found
        return self._open_image(image)

    def _on_json_read(self, json_path: Path, document: Any) -> None:
        if isinstance(document, (SegdeskError, OSError)):
            self.failed.emit(str(document))
            return
        if isinstance(document, Exception):
            raise document
        try:
            image = image_of_document(document, json_path)
        except SegdeskError as exc:
            self.failed.emit(str(exc))
            return
        self._open_image(image)

    def _open_image(self, image: Path) -> bool:
        """Open ``image``'s folder at that image."""
        if not self.open_folder(image.parent, select=None):
            return False
        for i, entry in enumerate(self.entries):
            if image.resolve() in (Path(entry.image_path).resolve(), Path(entry.json_path).resolve()):
                return self.go_to(i)
        self.failed.emit(f"{image}: not an image segdesk can open")
        return self.go_to(0) if self.entries else False

    def _image_of_json(self, json_path: Path) -> Path | None:
        from segdesk.core.parsed import peek_document

        try:  # opening it next reuses this parse
            return image_of_document(peek_document(json_path), json_path)
        except (SegdeskError, OSError) as exc:
            self.failed.emit(str(exc))
            return None

    def open_folder(self, folder: str | Path, *, select: int | None = 0) -> bool:
        """Open a project folder and show its image number ``select`` (none when ``None``)."""
        if not self.leave_current():
            return False
        try:
            project = Project(Path(folder))
            from segdesk.core.sweep import sweep_stale_temporaries

            sweep_stale_temporaries(project.root)  # only segdesk's own leftovers of killed saves
            entries = list(project.entries())
        except (SegdeskError, OSError) as exc:
            self.failed.emit(str(exc))
            return False
        self._loader.cancel()
        self.project, self.entries, self.current = project, entries, None
        self._labels.reset()
        self.undo_stack.clear()
        self._scan_timer.stop()
        self._scan_next = 0
        self.folder_opened.emit(Path(project.root))
        self._scan_statuses(SCAN_FIRST_S)
        if select is not None and entries:
            self._load(min(select, len(entries) - 1))
        return True

    # --- navigation -------------------------------------------------------------------------
    def go_to(self, index: int) -> bool:
        """Show image ``index``; saves or asks first. False when the person cancelled or no such image."""
        if not 0 <= index < len(self.entries):
            return False
        if self.current is not None and index == self.current.index:
            self._loader.cancel()  # back to the image shown: another on its way is not wanted
            return True
        if not self.leave_current():
            return False
        self._load(index)
        return True

    def next_image(self) -> bool:
        return self.go_to(self._step_from() + 1)

    def prev_image(self) -> bool:
        return self.go_to(self._step_from() - 1) if self._step_from() > 0 else False

    def _step_from(self) -> int:
        """The image next / previous count from: the one on its way, else the one shown."""
        pending = self._loader.pending_index()
        return self.index if pending is None or pending < 0 else pending

    def leave_current(self) -> bool:
        """Make sure no edit is lost before the current image goes away; False means stay."""
        self._timer.stop()
        if self.current is None or not self.is_dirty():
            return True
        if self._autosave:
            return self.save(by_person=False)
        answer = self.ask_unsaved(self.current.image_path.name)
        if answer == "save":
            return self.save()
        if answer == "discard":
            self.undo_stack.setClean()  # the edits are dropped with the document on reload
            return True
        return False

    def _load(self, index: int) -> None:
        entry = self.entries[index]
        current = CurrentImage(index=index, image_path=Path(entry.image_path))
        self._loader.cancel()
        size = header_size(current.image_path)
        project = self.project
        if size is not None and max(size) > QT_MAX_SIDE:
            self._show(current, None, None, size)  # refused before anything is read
            return
        if size is not None and size[0] * size[1] > ASYNC_PIXELS:
            # Big: read off the GUI thread; the current image stays until both parts are in.
            self._loader.start(index, lambda: project.load(entry), current.image_path)  # type: ignore[union-attr]
            self.loading_started.emit(current.image_path)
            return
        try:
            document: Any = project.load(entry)  # type: ignore[union-attr]
        except (SegdeskError, OSError, ValueError, MemoryError) as exc:
            document = exc
        image: Any = None
        if not isinstance(document, Exception):
            try:
                # The image file, else the image embedded in the JSON (image_source's rule).
                image = load_image(document, entry.json_path, image_file=current.image_path)
            except (SegdeskError, OSError, ValueError, MemoryError) as exc:
                image = exc
        self._show(current, document, image, size)

    def _on_loaded(self, result: OpenResult) -> None:
        if not 0 <= result.index < len(self.entries):
            return
        if not self.leave_current():  # edits made to the shown image while this one was read
            return
        current = CurrentImage(index=result.index, image_path=Path(self.entries[result.index].image_path))
        self._show(current, result.document, result.image, header_size(current.image_path))

    def _show(self, current: CurrentImage, document: Any, image: Any, size: tuple[int, int] | None) -> None:
        """Make ``current`` the image on screen with what was read (or the reason it cannot be shown)."""
        fill_current(current, document, image, size)
        self.undo_stack.clear()
        self.current = current
        self.image_loaded.emit(current)

    def loading(self) -> bool:
        """A big image is being read in the background (``image_loaded`` follows)."""
        return self._loader.busy()

    # --- saving -----------------------------------------------------------------------------
    def save(self, *, by_person: bool = True, status: str | None = None) -> bool:
        """Write the current annotation beside its image (atomically).

        Saving never reviews: Ctrl+S and autosave (``by_person`` says which; both alike) keep the
        status, which only follows the content (unlabeled / proposed / in progress), while reviewed
        and labelled elsewhere stay. Only :meth:`mark_reviewed` and :meth:`unreview` change it.
        ``status``: "reviewed" (with a record how="marked") or a content status, written as is.
        """
        del by_person  # kept for callers: Ctrl+S and autosave save alike
        self._timer.stop()
        current = self.current
        if current is None or current.document is None or self.project is None:
            return False
        document = current.document
        if status is not None:
            document.set_status(status)  # type: ignore[arg-type]
        else:
            keep = review.status_for_save(document)
            if keep not in ("reviewed", "elsewhere"):  # those stay exactly as the file has them
                document.extra["status"] = keep
        entry = self.entries[current.index]
        try:
            saved = file_changed.save_checked(self, entry, document)
        except (SegdeskError, OSError) as exc:
            self.failed.emit(str(exc))
            return False
        if saved != "saved":
            return saved == "reloaded"
        self.undo_stack.setClean()
        for index, other in enumerate(self.entries):  # a.png and a.jpg share a.json: both change
            if other.json_path == entry.json_path:
                self.entry_status_changed.emit(index, self._entry_status(index))
        self.saved.emit(Path(entry.json_path))
        return True

    def mark_reviewed(self, how: str = "marked") -> bool:
        """The person says this image is right: save it as reviewed (it trains)."""
        document = self.document
        if document is None:
            return False
        review.mark_reviewed(document, how)
        return self.save()

    def unreview(self) -> bool:
        """Take the review back: the image no longer trains; its shapes stay."""
        document = self.document
        if document is None:
            return False
        review.unreview(document)
        return self.save()

    def push(self, command: Command) -> bool:
        """Apply a core command to the open document through the undo stack; False with none open."""
        document = self.document
        if document is None:
            return False
        self.undo_stack.push(DocumentCommand(document, command))
        return True

    def refresh_statuses(self, indices: Iterable[int] | None = None) -> None:
        """Re-read entries' statuses (all by default) after another writer changed their files."""
        for index in range(len(self.entries)) if indices is None else indices:
            self.entry_status_changed.emit(index, self.entry_status(index))

    def _on_edit(self, _index: int) -> None:
        if self._autosave and self.is_dirty():
            self._timer.start()

    def _autosave_now(self) -> None:
        if self._autosave and self.is_dirty():
            self.save(by_person=False)

    def flush(self) -> None:
        """Write a pending autosave now (before quitting)."""
        if self._timer.isActive():
            self._timer.stop()
            self._autosave_now()
