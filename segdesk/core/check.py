"""``segdesk check DIR``: validate every Labelme JSON file in a folder, one line per problem.

A file is checked as segdesk reads it (types, geometry, shape types ...), then against its image:
``imageHeight``/``imageWidth`` against the image file and the embedded ``imageData`` (Labelme checks
the embedded one), an image that cannot be found or read, labels missing from ``labels.txt`` (which
labelme2voc would reject) and mask crops whose size does not fit their box (Labelme cannot
rasterize those). A folder's settings files (``.segdesk/*.json``) are checked as training and
prediction read them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from segdesk.core.atomic import is_temp_file
from segdesk.core.document import Document
from segdesk.core.errors import AnnotationReadError, ImageReadError, ProjectError
from segdesk.core.image_folders import look_inside, no_images_detail
from segdesk.core.image_io import embedded_image_size, image_size
from segdesk.core.image_source import owner_of_json
from segdesk.core.label_rules import label_problem
from segdesk.core.labelme_io import check_image_size, load_document, resolve_image_path
from segdesk.core.project import (
    BACKGROUND_LABEL,
    LABELS_FILE,
    Project,
    natural_key,
    shared_images,
    shared_in_folder,
)
from segdesk.core.rasterize import coordinate_problem


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file: ``path: place: message``."""

    path: Path
    place: str | None
    message: str

    def __str__(self) -> str:
        if self.place:
            return f"{self.path}: {self.place}: {self.message}"
        return f"{self.path}: {self.message}"


def json_files(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """The JSON files of a folder in natural order (hidden and temporary files left out)."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = [
        p
        for p in found
        if p.suffix.lower() == ".json"
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)  # .segdesk/ and the like
        and not is_temp_file(p)
        and p.is_file()
    ]
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def check_folder(folder: str | Path, *, recursive: bool = False) -> list[Problem]:
    """Problems of every JSON file in ``folder`` (or of one JSON file), in file order."""
    folder = Path(folder)
    if folder.is_file():
        return check_file(folder, label_names=_label_names(folder.parent))
    if not folder.is_dir():
        return [Problem(folder, None, "no such folder")]
    problems: list[Problem] = []
    labels_cache: dict[Path, set[str] | None] = {}
    shared: dict[Path, tuple[str, ...]] = {}
    for path in json_files(folder, recursive=recursive):
        if path.parent not in labels_cache:
            labels_cache[path.parent] = _label_names(path.parent)
            shared.update(shared_in_folder(path.parent))  # one listing per folder, not one per file
        problems.extend(check_file(path, label_names=labels_cache[path.parent], shared=shared.get(path, ())))
    return problems + settings_problems(folder)


def settings_problems(root: Path) -> list[Problem]:
    """Problems of the project's settings files (``.segdesk/training.json``, ``proposals.json``,
    ``instances.json``), which ``segdesk train`` / ``predict`` and the app would refuse."""
    from segdesk.core.instance_settings import read_object_setting
    from segdesk.core.proposal_values import read_proposal_values
    from segdesk.core.training_settings import load_settings

    problems = []
    for read in (load_settings, read_proposal_values, read_object_setting):
        try:
            read(root)
        except ProjectError as exc:
            problems.append(Problem(Path(exc.path or root), exc.place, exc.detail))
    return problems


def check_file(
    path: str | Path, *, label_names: set[str] | None = None, shared: tuple[str, ...] | None = None
) -> list[Problem]:
    """Problems of one JSON file; ``label_names`` (from labels.txt) enables the label check;
    ``shared``: the images that share its name (None: looked up)."""
    path = Path(path)
    try:
        document = load_document(path, check_image=False)
    except AnnotationReadError as exc:
        return [Problem(path, exc.place, exc.detail)]
    names = list(shared) if shared is not None else shared_images(path)
    problems = _image_problems(document, path) + _shared_problems(document, path, names)
    for i, shape in enumerate(document.shapes):
        label_issue = label_problem(shape.label)
        if label_issue is not None:
            problems.append(Problem(path, f"shapes[{i}].label", f"{shape.label!r}: {label_issue}"))
    if label_names is not None:
        allowed = label_names | {BACKGROUND_LABEL}
        for i, shape in enumerate(document.shapes):
            if shape.label not in allowed:
                problems.append(
                    Problem(path, f"shapes[{i}].label", f"{shape.label!r} is not in {LABELS_FILE}")
                )
    problems.extend(_mask_problems(document, path))
    problems.extend(_coordinate_problems(document, path))
    return problems


def run_check(folder: str | Path, out: TextIO = sys.stdout, *, recursive: bool = False) -> int:
    """Print one line per problem; 0 when every file is good, 1 when any is not, 2 for no folder."""
    folder = Path(folder)
    if not folder.exists():
        print(f"{folder}: no such file or folder", file=out)
        return 2
    problems = check_folder(folder, recursive=recursive)
    for problem in problems:
        print(problem, file=out)
    if folder.is_dir() and not recursive and not json_files(folder) and not Project(folder).entries():
        # Nothing was checked: say why rather than pass an empty folder (or the parent of the folders
        # that hold the images) as good.
        contents = look_inside(folder)
        hint = " (--recursive checks the JSON files of every subfolder)" if contents.subfolders else ""
        print(f"{folder}: {no_images_detail(contents)}{hint}", file=out)
        return 1
    return 1 if problems else 0


def _label_names(folder: Path) -> set[str] | None:
    if not (folder / LABELS_FILE).is_file():
        return None
    try:
        return set(Project(folder).label_names())
    except ProjectError:
        return None


def _image_problems(document: Document, path: Path) -> list[Problem]:
    problems: list[Problem] = []
    try:
        image = resolve_image_path(document, allow_outside=False)
    except AnnotationReadError as exc:
        return [Problem(path, exc.place, exc.detail)]
    if image is not None:
        try:
            check_image_size(document, image_size(image))
        except ImageReadError as exc:
            problems.append(Problem(path, "imagePath", f"{image.name}: {exc.detail}"))
        except AnnotationReadError as exc:
            problems.append(Problem(path, exc.place, f"{exc.detail} ({image.name})"))
    if document.image_data:
        try:
            check_image_size(document, embedded_image_size(document.image_data, source=path))
        except ImageReadError as exc:
            problems.append(Problem(path, "imageData", exc.detail))
        except AnnotationReadError as exc:
            problems.append(Problem(path, exc.place, f"{exc.detail} (imageData)"))
    elif image is None:
        problems.append(Problem(path, "imagePath", f"image not found: {document.image_path!r}"))
    return problems


def _shared_problems(document: Document, path: Path, names: list[str]) -> list[Problem]:
    """Several images named like the file: it is one's annotation, the others cannot be labelled."""
    if not names:
        return []
    owner = owner_of_json(path, document.image_path)
    owner_name = owner.name if owner is not None else (document.image_path or "no image")
    others = [n for n in names if n != owner_name]
    message = (
        f"{' and '.join(names)} share this file's name; it is {owner_name}'s annotation, so "
        f"{' and '.join(others)} cannot be labelled until renamed"
    )
    return [Problem(path, "imagePath", message)]


def _coordinate_problems(document: Document, path: Path) -> list[Problem]:
    """Coordinates no export can rasterize (a circle around the whole image is fine)."""
    problems = []
    for i, shape in enumerate(document.shapes):
        points = np.asarray(shape.points, dtype=np.float64)
        if shape.shape_type == "circle" and len(points) == 2:
            points = points[:1]  # the point on the circle may be far away: the radius is drawn sanely
        problem = coordinate_problem(points)
        if problem is not None:
            problems.append(Problem(path, f"shapes[{i}].points", problem))
    return problems


def _mask_problems(document: Document, path: Path) -> list[Problem]:
    problems = []
    for i, shape in enumerate(document.shapes):
        if shape.shape_type != "mask" or shape.mask is None:
            continue
        # Labelme pastes the crop at mask[y1:y2+1, x1:x2+1] with the box corners cut to integers.
        (x1, y1), (x2, y2) = np.asarray(shape.points).astype(int)
        box = (y2 - y1 + 1, x2 - x1 + 1)
        if tuple(shape.mask.shape) != box:
            got = f"{shape.mask.shape[1]}x{shape.mask.shape[0]}"
            problems.append(
                Problem(
                    path, f"shapes[{i}].mask", f"the mask is {got} pixels but its box is {box[1]}x{box[0]}"
                )
            )
    return problems


__all__ = ["Problem", "check_file", "check_folder", "json_files", "run_check"]
