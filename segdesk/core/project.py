"""A project: one folder of images with a Labelme JSON file beside each, and its label set.

* Images: files directly in the folder (not in subfolders, where exports and models live) with the
  extensions png, jpg, jpeg, bmp, tif, tiff, webp in any case, in natural order (2.png before 10.png).
  An image's annotation is the JSON file beside it with the same stem, as Labelme saves it.
* Labels: ``labels.txt`` (one label per line) when present, else the labels found in the JSON files.
  As labelme2voc: ``__ignore__`` marks regions left out of training (it is not a class) and class 0
  is ``_background_``, whether or not the file lists it.
* Status per image (unlabeled / in_progress / proposed / reviewed / elsewhere, see core/review.py) from
  the JSON file's ``segdesk`` key and shapes, cached by
  modification time so that a folder of thousands of images lists fast. A JSON file segdesk cannot
  read counts as unlabeled (it cannot be trained on); ``problem(entry)`` says what is wrong with it.
* Images that share a stem (``a.png`` and ``a.jpg``) share ``a.json``, as in Labelme. The file belongs
  to the image its ``imagePath`` names (core/image_source's rule for which image a JSON file shows);
  for the others it is a problem: they count as unlabeled, cannot be opened for labelling or saved,
  and never train or export with its shapes. Before the file exists, the first image saved takes it.
"""

from __future__ import annotations

import functools
import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segdesk.core.atomic import atomic_write_text
from segdesk.core.document import IMAGE_STATUSES, Document, ImageStatus
from segdesk.core.embedded_entries import Cache, embedded_image_names
from segdesk.core.errors import AnnotationReadError, ProjectError
from segdesk.core.image_io import IMAGE_EXTENSIONS, image_size
from segdesk.core.image_source import owner_of_json
from segdesk.core.labelme_io import ImageDataMode, load_document, resolve_image_path, save_document
from segdesk.core.parsed import peek_document, take_document

LABELS_FILE = "labels.txt"
IGNORE_LABEL = "__ignore__"
BACKGROUND_LABEL = "_background_"

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[list[Any], str]:
    """Sort key putting ``2.png`` before ``10.png``; case-insensitive, ties broken by the name."""
    parts: list[Any] = _DIGITS.split(name.casefold())
    parts[1::2] = [int(p) for p in parts[1::2]]
    return (parts, name)


@dataclass(frozen=True)
class ImageEntry:
    """One image of a project and the JSON file that holds (or will hold) its annotation."""

    image_path: Path
    json_path: Path

    @property
    def name(self) -> str:
        return self.image_path.name

    @property
    def has_annotation(self) -> bool:
        return self.json_path.is_file()


@dataclass
class _FileInfo:
    stamp: tuple[int, int]
    status: ImageStatus
    labels: tuple[str, ...]
    problem: str | None
    person_labels: tuple[str, ...] = ()  # one per shape a person made or accepted (not proposals)
    image_path: str = ""  # imagePath as written (which image owns a shared JSON file)


class Project:
    """A folder of images with Labelme JSON beside each (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ProjectError(self.root, None, "not a folder")
        self._info: dict[Path, _FileInfo] = {}
        self._embedded: Cache = {}  # JSON files whose image exists only as imageData
        self._shared: dict[Path, tuple[str, ...]] = {}  # JSON file -> the images that share its name

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    # --- images ---------------------------------------------------------------------------------
    def entries(self) -> list[ImageEntry]:
        """Every image in the folder, in natural order."""
        try:
            names = [
                p.name
                for p in self.root.iterdir()
                if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
            ]
        except OSError as exc:
            raise ProjectError(self.root, None, f"cannot list the folder: {exc.strerror or exc}") from exc
        embedded = embedded_image_names(self.root, {Path(n).stem for n in names}, self._embedded)
        names += [n for n in embedded if n not in names]
        names.sort(key=natural_key)
        entries = [ImageEntry(self.root / n, (self.root / n).with_suffix(".json")) for n in names]
        self._shared = _shared_names(entries)
        return entries

    def entry_for(self, image_path: str | Path) -> ImageEntry:
        """The entry of an image file in this folder."""
        image_path = Path(image_path)
        entry = ImageEntry(image_path, image_path.with_suffix(".json"))
        shared = shared_images(entry.json_path)
        if shared:
            self._shared[entry.json_path] = tuple(shared)
        return entry

    # --- labels ---------------------------------------------------------------------------------
    @property
    def labels_file(self) -> Path:
        return self.root / LABELS_FILE

    def label_names(self) -> list[str]:
        """Labels a shape may have: labels.txt's lines in order, else the labels used (natural order)."""
        listed = self._read_labels_file()
        if listed is not None:
            return listed
        found: set[str] = set()
        for entry in self.entries():
            found.update(self._file_info(entry).labels)
        return sorted(found, key=natural_key)

    def class_names(self) -> list[str]:
        """Training classes as labelme2voc numbers them: ``_background_`` first, no ``__ignore__``."""
        names = [n for n in self.label_names() if n not in (BACKGROUND_LABEL, IGNORE_LABEL)]
        return [BACKGROUND_LABEL, *names]

    @property
    def has_ignore(self) -> bool:
        """Whether ``__ignore__`` regions exist (listed in labels.txt, or used when there is none)."""
        return IGNORE_LABEL in self.label_names()

    def write_label_names(self, names: list[str], *, ignore: bool = True) -> None:
        """Write labels.txt in labelme2voc's layout (``__ignore__``, ``_background_``, then ``names``)."""
        head = [IGNORE_LABEL, BACKGROUND_LABEL] if ignore else [BACKGROUND_LABEL]
        lines = head + [n for n in dict.fromkeys(names) if n not in (IGNORE_LABEL, BACKGROUND_LABEL)]
        for n in lines:
            if not n.strip() or "\n" in n or "\r" in n or n != n.strip():
                raise ProjectError(self.labels_file, None, f"invalid label {n!r}")
        atomic_write_text(self.labels_file, "\n".join(lines) + "\n", error_cls=ProjectError)

    def _read_labels_file(self) -> list[str] | None:
        path = self.labels_file
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise ProjectError(path, None, f"not UTF-8 text (offset {exc.start})") from exc
        except OSError as exc:
            raise ProjectError(path, None, f"cannot read the file: {exc.strerror or exc}") from exc
        lines = (line.strip() for line in text.splitlines())
        return list(dict.fromkeys(line for line in lines if line))

    # --- annotations ----------------------------------------------------------------------------
    def load(self, entry: ImageEntry) -> Document:
        """The image's annotation; a new empty Document (not yet saved) when there is no JSON file.

        Raises AnnotationReadError for a bad JSON file or one that belongs to another image of the
        same name, ImageReadError when a new document's image cannot be read.
        """
        self._refuse_shared(entry)
        if entry.json_path.is_file():
            return take_document(entry.json_path)
        height, width = image_size(entry.image_path)
        return Document(
            image_path=_relative_image_path(entry),
            image_height=height,
            image_width=width,
            extra={"status": "unlabeled"},  # segdesk's own file: shapes added here are "in progress"
        )

    def save(
        self, entry: ImageEntry, document: Document, *, image_data: ImageDataMode = "keep", **check: Any
    ) -> None:
        """Save the annotation beside its image (atomically); ``if_unchanged=``: see save_document."""
        self._refuse_shared(entry)
        if not document.image_path:
            document.image_path = _relative_image_path(entry)
        save_document(document, entry.json_path, image_data=image_data, **check)
        self._info.pop(entry.json_path, None)

    def status(self, entry: ImageEntry) -> ImageStatus:
        """See core/review.py (a missing or unreadable JSON file, or another image's: unlabeled)."""
        info = self._file_info(entry)
        return "unlabeled" if self._shared_problem(entry, info) else info.status

    def problem(self, entry: ImageEntry) -> str | None:
        """Why the entry's JSON file cannot be read (or is another image's), or None."""
        info = self._file_info(entry)
        return info.problem or self._shared_problem(entry, info)

    def _shared_problem(self, entry: ImageEntry, info: _FileInfo) -> str | None:
        """The problem of an image whose JSON file belongs to another image of the same stem."""
        names = self._shared.get(entry.json_path)
        if not names or info.problem is not None or info.stamp == (0, 0):
            return None
        owner = owner_of_json(entry.json_path, info.image_path)
        if owner is None or owner.name == entry.image_path.name:
            return None
        return (
            f"{entry.json_path.name} is the annotation of {owner.name} ({_and(names)} share a name; "
            f"Labelme names an annotation file after its image): rename {entry.name} to label it"
        )

    def _refuse_shared(self, entry: ImageEntry) -> None:
        problem = self._shared_problem(entry, self._file_info(entry))
        if problem is not None:
            raise AnnotationReadError(entry.json_path, "imagePath", problem)

    def person_shape_labels(self, entry: ImageEntry) -> tuple[str, ...]:
        """The label of each shape a person made or accepted (no proposals); cached like the status."""
        return self._file_info(entry).person_labels

    def reviewed_entries(self) -> list[ImageEntry]:
        """Entries a person has marked reviewed (training uses core/training_plan.py, built on this)."""
        return [e for e in self.entries() if self.status(e) == "reviewed"]

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(IMAGE_STATUSES, 0)
        for entry in self.entries():
            counts[self.status(entry)] += 1
        return counts

    def _file_info(self, entry: ImageEntry) -> _FileInfo:
        path = entry.json_path
        try:
            st = path.stat()
        except OSError:
            self._info.pop(path, None)
            return _FileInfo((0, 0), "unlabeled", (), None)
        stamp = (st.st_mtime_ns, st.st_size)
        info = self._info.get(path)
        if info is None or info.stamp != stamp:
            info = _read_info(path, stamp)
            self._info[path] = info
        return info

    # --- opening from the command line ----------------------------------------------------------
    @staticmethod
    def open_path(path: str | Path) -> tuple[Project, ImageEntry | None]:
        """A folder, an image or a JSON file -> (its project, the entry to show first or None)."""
        path = Path(path)
        if path.is_dir():
            return Project(path), None
        if not path.is_file():
            raise ProjectError(path, None, "no such file or folder")
        project = Project(path.parent if str(path.parent) else Path("."))
        suffix = path.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            return project, project.entry_for(path)
        if suffix == ".json":
            return project, _entry_for_json(path)
        raise ProjectError(path, None, "not a folder, an image or a Labelme JSON file")


def _relative_image_path(entry: ImageEntry) -> str:
    if entry.image_path.parent == entry.json_path.parent:
        return entry.image_path.name
    return entry.image_path.as_posix()


def _entry_for_json(json_path: Path) -> ImageEntry:
    for candidate in sorted(json_path.parent.glob(json_path.stem + ".*")):
        if candidate.suffix.lower() in IMAGE_EXTENSIONS and candidate.stem == json_path.stem:
            return ImageEntry(candidate, json_path)
    document = load_document(json_path, check_image=False)
    image = resolve_image_path(document, must_exist=False)
    if image is None:
        raise AnnotationReadError(json_path, "imagePath", "empty: the file names no image")
    return ImageEntry(image, json_path)


def _read_info(path: Path, stamp: tuple[int, int]) -> _FileInfo:
    """Status and labels of a JSON file, fully validated (cached by the caller)."""
    try:
        document = peek_document(path)  # the next reader (opening this file) reuses the parse
    except AnnotationReadError as exc:
        return _FileInfo(stamp, "unlabeled", (), str(exc))
    person = tuple(s.label for s in document.person_shapes)
    return _FileInfo(stamp, document.status, tuple(document.labels), None, person, document.image_path or "")


def _and(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1]


def shared_images(json_path: Path) -> list[str]:
    """The images beside ``json_path`` with its stem, when several share it (else empty)."""
    try:
        if case_insensitive(json_path.parent):
            stem = json_path.stem.casefold()
            found = [p for p in json_path.parent.iterdir() if p.stem.casefold() == stem and p.is_file()]
        else:
            found = [p for p in json_path.parent.glob(glob.escape(json_path.stem) + ".*") if p.is_file()]
    except OSError:
        return []
    entries = [ImageEntry(p, p.with_suffix(".json")) for p in found if p.suffix.lower() in IMAGE_EXTENSIONS]
    return list(_shared_names(entries).get(json_path, ()))


def shared_in_folder(folder: Path) -> dict[Path, tuple[str, ...]]:
    """JSON file -> the images that share its name, for a whole folder at once (one listing)."""
    try:
        found = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    except OSError:
        return {}
    return _shared_names([ImageEntry(p, p.with_suffix(".json")) for p in found])


def shared_names(images: Sequence[Path]) -> dict[Path, tuple[str, ...]]:
    """For images of one folder: annotation file -> the images that would share it (only shared ones)."""
    return _shared_names([ImageEntry(p, p.with_suffix(".json")) for p in images])


def _shared_names(entries: list[ImageEntry]) -> dict[Path, tuple[str, ...]]:
    """JSON file -> the names of the images that share it, for JSON files shared by several. On a
    disk that ignores case (macOS, Windows) ``A.png`` and ``a.jpg`` share one file too."""
    if not entries:
        return {}
    fold = case_insensitive(entries[0].image_path.parent)
    groups: dict[str, list[ImageEntry]] = {}
    for entry in entries:
        key = str(entry.json_path)
        groups.setdefault(key.casefold() if fold else key, []).append(entry)
    shared: dict[Path, tuple[str, ...]] = {}
    for group in groups.values():
        if len(group) > 1:
            names = tuple(sorted((e.image_path.name for e in group), key=natural_key))
            shared.update((e.json_path, names) for e in group)
    return shared


@functools.lru_cache(maxsize=64)
def _case_insensitive(folder: str) -> bool:
    try:
        with os.scandir(folder) as it:
            for entry in it:
                other = entry.name.swapcase()
                if other != entry.name:  # the same file by the other case (not a second file so named)
                    other_path = os.path.join(folder, other)
                    return os.path.exists(other_path) and os.path.samefile(entry.path, other_path)
    except OSError:
        pass
    return False


def case_insensitive(folder: Path) -> bool:
    """Whether the disk holding ``folder`` treats ``A.json`` and ``a.json`` as one file (probed once
    per folder on a name that has letters)."""
    return _case_insensitive(str(folder))


__all__ = [
    "BACKGROUND_LABEL",
    "IGNORE_LABEL",
    "LABELS_FILE",
    "ImageEntry",
    "Project",
    "natural_key",
]
