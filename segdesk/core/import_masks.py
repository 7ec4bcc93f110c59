"""Turn an existing mask dataset into a segdesk project: Labelme JSON polygons, marked reviewed.

A mask is a class-index or binary image (PNG, TIFF or BMP; palette PNGs give their indices) with the
same file name or stem as its image. LABELS names the class of each mask value, e.g.
``0=_background_,255=cell`` or ``0=_background_,1=cell,2=nucleus,255=__ignore__``, or of each colour
of a colour-coded mask, ``#000000=_background_,#ff0000=building`` (core/mask_values). When no value is
named ``_background_`` and 0 (black) is not listed, 0 is the background. Several values may share a name.

Every pair is checked before anything is written, so a typo in LABELS writes nothing: a missing mask,
a size that differs from the image, a value not in LABELS or an existing JSON (without
``overwrite``) is reported with the file it concerns.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from segdesk.core.cancel import CancelToken
from segdesk.core.document import Document
from segdesk.core.errors import Cancelled, ProjectError, SegdeskError
from segdesk.core.image_folders import look_inside, no_images_detail
from segdesk.core.image_io import IMAGE_EXTENSIONS, read_image
from segdesk.core.label_rules import label_problem
from segdesk.core.mask_files import find_mask, missing_mask_problem, none_found
from segdesk.core.mask_values import colour_text, parse_colour, read_mask_image, values_text
from segdesk.core.project import shared_names
from segdesk.core.rasterize import BACKGROUND_LABEL, IGNORE_LABEL, parse_labels_txt
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape
from segdesk.core.vectorize import DEFAULT_MIN_AREA, class_map_to_shapes

T = TypeVar("T")

#: Per-shape provenance of imported shapes: a person made them (in another tool).
IMPORTED_PROVENANCE: dict[str, object] = {"source": "person", "imported": True}


#: More unnamed values than this in one mask: an edge smoothed or interpolated, not a missing class.
MANY_UNKNOWN = 16
#: How many problems a MaskImportError's message lists (``problems`` holds them all).
SHOWN_PROBLEMS = 20


class MaskImportError(ProjectError):
    """Problems found while checking the image / mask pairs; ``problems`` holds one line each."""

    def __init__(self, masks_dir: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:SHOWN_PROBLEMS]
        if len(self.problems) > len(shown):
            shown.append(f"... and {len(self.problems) - len(shown)} more")
        super().__init__(
            masks_dir, None, f"{len(problems)} problem(s), nothing written:\n" + "\n".join(shown)
        )


@dataclass
class ImportReport:
    """What an import wrote: the project folder, one JSON per image, and the labels."""

    project_dir: Path
    json_paths: list[Path] = field(default_factory=list)
    shape_count: int = 0
    labels: list[str] = field(default_factory=list)
    empty_images: list[Path] = field(default_factory=list)
    #: Images without a mask, left unlabelled (``skip_unmasked``; copied too when writing elsewhere).
    unmasked: list[Path] = field(default_factory=list)
    #: Images whose annotation existed, left as they were (``skip_annotated``).
    annotated: list[Path] = field(default_factory=list)

    def left_out(self) -> list[str]:
        """The images left as they were, a line per reason (none when every image was imported)."""
        lines = []
        for paths, why in (
            (self.unmasked, "without a mask left unlabelled"),
            (self.annotated, "that have an annotation left as they were"),
        ):
            if paths:
                names = ", ".join(p.name for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
                lines.append(f"{len(paths)} image(s) {why}: {names}")
        return lines


def parse_labels_spec(spec: str | Mapping[int, str]) -> dict[int, str]:
    """``"0=_background_,255=cell"`` -> ``{0: "_background_", 255: "cell"}``.

    Raises ProjectError (its path is ``--labels``) for a malformed item or a value listed twice.
    """
    if isinstance(spec, Mapping):
        items = [(int(k), str(v)) for k, v in spec.items()]
    else:
        items = []
        colours = labels_by_colour(spec)
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            value, sep, name = part.partition("=")
            number = parse_colour(value) if colours else int(value) if value.strip().isdigit() else None
            if not sep or number is None or not name.strip():
                expected = (
                    "#RRGGBB=NAME items like #ff0000=cell (every value a colour)"
                    if colours
                    else ("VALUE=NAME items like 255=cell (or #RRGGBB=NAME for colour masks)")
                )
                raise ProjectError("--labels", None, f"expected {expected}, got {part!r}")
            items.append((number, name.strip()))
    mapping: dict[int, str] = {}
    for value, name in items:
        problem = label_problem(name)
        if problem is not None:
            raise ProjectError("--labels", None, f"label {name!r} for mask value {value}: {problem}")
        if value in mapping:
            shown = colour_text(value) if isinstance(spec, str) and labels_by_colour(spec) else value
            raise ProjectError("--labels", None, f"mask value {shown} is listed twice")
        mapping[value] = name
    if not mapping:
        raise ProjectError("--labels", None, "no VALUE=NAME items given")
    if BACKGROUND_LABEL not in mapping.values() and 0 not in mapping:
        mapping[0] = BACKGROUND_LABEL
    return mapping


def labels_by_colour(spec: str | Mapping[int, str]) -> bool:
    """Whether LABELS names colours (``#RRGGBB=NAME``) rather than mask values."""
    return isinstance(spec, str) and any(part.strip().startswith("#") for part in spec.split(","))


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


@dataclass
class _Pair:
    image: Path
    mask: Path
    height: int
    width: int


def _check_pair(
    image: Path, mask_path: Path | None, masks_dir: Path, values: Mapping[int, str], colour: bool = False
) -> tuple[_Pair | None, list[str]]:
    if mask_path is None:
        return None, [missing_mask_problem(image, masks_dir)]
    try:
        height, width = read_image(image).shape  # decoded, not only its header: a truncated image fails here
        mask = read_mask_image(mask_path, colour=colour)
    except SegdeskError as exc:
        return None, [str(exc)]
    problems = []
    if mask.shape != (height, width):
        problems.append(
            f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} (WxH) but image {image.name} "
            f"is {width}x{height}"
        )
    unknown = [int(v) for v in np.unique(mask) if int(v) not in values]
    if unknown:
        kind = "colours" if colour else "values"
        smoothed = (
            f" ({len(unknown)} {kind} not named: a mask resized or saved with smoothing has {kind} between "
            "its classes along every edge; save it without)"
            if len(unknown) > MANY_UNKNOWN
            else ""
        )
        problems.append(
            f"{mask_path}: mask {kind} not in LABELS: {values_text(unknown, colour=colour)}{smoothed}"
        )
    return _Pair(image, mask_path, height, width), problems


def _class_names(values: Mapping[int, str]) -> list[str]:
    names = [BACKGROUND_LABEL]
    for value in sorted(values):
        if values[value] not in names:
            names.append(values[value])
    return names


def _write_labels_txt(project_dir: Path, class_names: Sequence[str]) -> list[str]:
    from segdesk.core.atomic import atomic_write_text

    path = project_dir / "labels.txt"
    labels = parse_labels_txt(path) if path.is_file() else [IGNORE_LABEL, BACKGROUND_LABEL]
    for name in (IGNORE_LABEL, BACKGROUND_LABEL, *class_names):
        if name not in labels:
            labels.append(name)
    atomic_write_text(path, "".join(f"{name}\n" for name in labels), error_cls=ProjectError)
    return labels


def import_masks(
    images_dir: str | Path,
    masks_dir: str | Path,
    labels_spec: str | Mapping[int, str],
    *,
    out_dir: str | Path | None = None,
    tolerance: float = 1.0,
    min_area: float = DEFAULT_MIN_AREA,
    overwrite: bool = False,
    skip_unmasked: bool = False,
    skip_annotated: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> ImportReport:
    """Write a Labelme JSON (polygons, status reviewed) per image from its mask, and labels.txt.

    Without ``out_dir`` the JSON goes beside each image; with it, images are copied there too.
    Raises MaskImportError (a ProjectError) listing every problem, one per line and in its
    ``problems`` list, before anything is written; ImageReadError / AnnotationWriteError when a
    later read or write fails. ``overwrite`` replaces existing JSON (and image copies in ``out_dir``).
    ``skip_unmasked``: an image without a mask is no problem; it stays unlabelled (no JSON), and is
    copied to ``out_dir`` like the others so the project holds the images to propose on.
    ``skip_annotated``: an image whose JSON exists is left as it is (its mask is not even read).
    ``cancel`` is checked before each image: Cancelled says how many were written (each JSON is
    whole; labels.txt is written first, so those files hold known labels).
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    values = parse_labels_spec(labels_spec)
    colour = labels_by_colour(labels_spec)
    project_dir = Path(out_dir) if out_dir is not None else images_dir
    pairs, unmasked, annotated = _collect_pairs(
        images_dir,
        masks_dir,
        values,
        project_dir,
        overwrite=overwrite,
        skip_unmasked=skip_unmasked,
        skip_annotated=skip_annotated,
        colour=colour,
    )
    class_names = _class_names(values)
    keys = np.array(sorted(values), dtype=np.int64)  # every mask value is one of them (checked)
    classes = np.array([class_names.index(values[int(k)]) for k in keys], dtype=np.uint16)
    project_dir.mkdir(parents=True, exist_ok=True)
    report = ImportReport(project_dir, annotated=annotated)
    report.labels = _write_labels_txt(project_dir, class_names)
    for image in unmasked:
        report.unmasked.append(copy_into(image, project_dir))

    def document_of(pair: _Pair) -> tuple[Path, Document]:
        class_map = classes[np.searchsorted(keys, read_mask_image(pair.mask, colour=colour).astype(np.int64))]
        shapes = class_map_to_shapes(
            class_map,
            class_names,
            tolerance=tolerance,
            min_area=min_area,
            ignore_value=None,
            provenance=IMPORTED_PROVENANCE,
        )
        return pair.image, imported_document(pair.image, (pair.height, pair.width), shapes, "import-masks")

    write_imported(pairs, document_of, project_dir, report, progress=progress, cancel=cancel)
    return report


def imported_document(image: Path, size: tuple[int, int], shapes: list[Shape], how: str) -> Document:
    """The annotation an import writes for ``image`` (``size``: height, width): reviewed, since the
    person chose to bring these labels (``how``: the importer, core/review.HOWS)."""
    return Document(
        image_path=image.name,
        image_height=int(size[0]),
        image_width=int(size[1]),
        shapes=shapes,
        extra=reviewed_extra(how),
    )


def write_imported(
    items: Sequence[T],
    document_of: Callable[[T], tuple[Path, Document]],
    project_dir: Path,
    report: ImportReport,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """The loop every importer ends in: per item its image (copied into ``project_dir`` when that is
    elsewhere) and its annotation beside it, the cancel token checked before each, the report kept."""
    from segdesk.core.labelme_io import save_document

    for n, item in enumerate(items):
        check_cancel(cancel, project_dir, n, len(items))
        image, document = document_of(item)
        copy = copy_into(image, project_dir)
        json_path = project_dir / f"{image.stem}.json"
        save_document(document, json_path)
        report.json_paths.append(json_path)
        report.shape_count += len(document.shapes)
        if not document.shapes:
            report.empty_images.append(copy)
        if progress is not None:
            progress(n + 1, len(items))


def check_cancel(cancel: CancelToken | None, project_dir: Path, done: int, total: int) -> None:
    """Raise Cancelled, saying what was written, when the person asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(
            f"{project_dir}: import cancelled after {done} of {total} image(s); those keep their "
            "imported annotation, the others are as they were"
        )


def import_images(images_dir: Path, masks_dir: Path) -> list[Path]:
    """The images to import, in natural order; raises ProjectError for missing or shared folders or
    a folder without images."""
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise ProjectError(folder, None, "folder not found")
    if masks_dir.resolve() == images_dir.resolve():
        raise ProjectError(masks_dir, None, "masks must be in another folder than the images")
    images = sorted(
        (p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=_natural_key,
    )
    if not images:
        raise ProjectError(images_dir, None, no_images_detail(look_inside(images_dir)))
    return images


def copy_into(image: Path, project_dir: Path) -> Path:
    """``image`` in ``project_dir`` (copied unless it is that very file); its path there."""
    copy = project_dir / image.name
    if not copy.exists() or not copy.samefile(image):
        shutil.copy2(image, copy)
    return copy


def _collect_pairs(
    images_dir: Path,
    masks_dir: Path,
    values: Mapping[int, str],
    project_dir: Path,
    *,
    overwrite: bool,
    skip_unmasked: bool = False,
    skip_annotated: bool = False,
    colour: bool = False,
) -> tuple[list[_Pair], list[Path], list[Path]]:
    """Every image with its checked mask, the images without one when ``skip_unmasked`` and those
    with a JSON file when ``skip_annotated``; raises MaskImportError with all the problems found."""
    images = import_images(images_dir, masks_dir)
    pairs, problems, unmasked, annotated = [], stem_clashes(images), [], []
    missing = 0
    for image in images:
        if skip_annotated and (project_dir / f"{image.stem}.json").exists():
            annotated.append(image)
            continue
        mask_path = find_mask(image, masks_dir)
        if skip_unmasked and mask_path is None:
            unmasked.append(image)
            problems += copy_problem(image, project_dir, overwrite)
            continue
        pair, found = _check_pair(image, mask_path, masks_dir, values, colour)
        problems += found
        missing += mask_path is None
        if pair is None:
            continue
        pairs.append(pair)
        if overwrite:
            continue
        json_path = project_dir / f"{image.stem}.json"
        if json_path.exists():
            problems.append(f"{json_path}: exists (use overwrite to replace it)")
        problems += copy_problem(image, project_dir, overwrite)
    if problems:
        raise MaskImportError(masks_dir, none_found(images, masks_dir, missing) or problems)
    if not pairs:
        raise MaskImportError(masks_dir, [no_pairs(images_dir, masks_dir, annotated)])
    return pairs, unmasked, annotated


def stem_clashes(images: Sequence[Path]) -> list[str]:
    """Images that would write the same annotation file (``a.png`` and ``a.jpg``: ``a.json``; also
    ``A.png`` on a disk that ignores case)."""
    groups = dict.fromkeys(shared_names(images).values())  # each group once, whichever file it names
    return [
        f"{images[0].parent / names[0]}: {' and '.join(names)} share the annotation file "
        f"{Path(names[0]).stem}.json (Labelme names it after the image): rename all but one"
        for names in groups
    ]


def no_pairs(images_dir: Path, masks_dir: Path, annotated: list[Path]) -> str:
    """Why nothing would be imported."""
    if annotated:
        return (
            f"{images_dir}: every image with a mask in {masks_dir} has an annotation already (left as it is)"
        )
    return f"{images_dir}: no image has a mask in {masks_dir}"


def copy_problem(image: Path, project_dir: Path, overwrite: bool) -> list[str]:
    """The problem of copying ``image`` into ``project_dir`` over another file of its name ([] if none)."""
    copy = project_dir / image.name
    if overwrite or not copy.exists() or copy.samefile(image):
        return []
    return [f"{copy}: another file with this name exists (use overwrite to replace it)"]


__all__ = [
    "check_cancel",
    "imported_document",
    "write_imported",
    "stem_clashes",
    "no_pairs",
    "copy_into",
    "copy_problem",
    "import_images",
    "ImportReport",
    "MaskImportError",
    "import_masks",
    "parse_labels_spec",
    "read_mask_image",
]
