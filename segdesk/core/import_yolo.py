"""Turn YOLO labels (Ultralytics, Roboflow, X-AnyLabeling exports) into Labelme JSON beside their
images, marked reviewed, as ``import-masks`` and ``import-coco`` do.

* ``labels/<stem>.txt`` belongs to the image of that stem in the images folder. A line is one object:
  ``class x1 y1 x2 y2 ...`` (a segmentation polygon, at least 3 points) becomes a Labelme polygon,
  ``class cx cy w h`` (a detection box) a rectangle; coordinates are fractions of the image's width
  and height. Blank lines are skipped; an empty file is an image without objects (it imports with
  no shapes).
* Class names come from the dataset's ``data.yaml`` (``names:`` as a list or an id -> name map; found
  beside or above the labels folder unless given) or are given as a list; an id outside them is a
  problem.
* Images without a label file are left as they are (counted); label files without an image too.

Every problem (a line that is not numbers, an odd coordinate count, a value outside 0..1 by more than
rounding, an unknown class id, an existing annotation without ``overwrite``) is found before
anything is written and named with the file and line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import ProjectError, SegdeskError
from segdesk.core.image_io import IMAGE_EXTENSIONS, image_size
from segdesk.core.import_masks import (
    IMPORTED_PROVENANCE,
    ImportReport,
    MaskImportError,
    _write_labels_txt,
    copy_problem,
    imported_document,
    stem_clashes,
    write_imported,
)
from segdesk.core.label_rules import label_problem
from segdesk.core.project import natural_key
from segdesk.core.rasterize import BACKGROUND_LABEL
from segdesk.core.shapes import Shape

#: Coordinates may pass 0..1 by this much (rounding in other tools' writers); beyond is a problem.
SLACK = 0.01
#: A label file larger than this is not a label file.
MAX_LABEL_BYTES = 64 * 1024**2


@dataclass
class YoloReport(ImportReport):
    """An import's report, plus the images without a label file and the label files without an image."""

    unlabelled: list[Path] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    degenerate: int = 0  # boxes of zero width or height (no area), left out

    def left_out(self) -> list[str]:
        lines = super().left_out()
        if self.degenerate:
            lines.append(f"{self.degenerate} box(es) of zero width or height (no area) left out")
        for items, why in (
            ([p.name for p in self.unlabelled], "image(s) without a label file left as they were"),
            (self.orphans, "label file(s) without an image"),
        ):
            if items:
                lines.append(f"{len(items)} {why}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}")
        return lines


def read_names(spec: str | Path | Sequence[str]) -> list[str]:
    """Class names by id: a ``data.yaml`` (its ``names``), a ``classes.txt`` (one name per line, as
    X-AnyLabeling and LabelImg write it), or a list / comma-separated text."""
    if isinstance(spec, (list, tuple)):
        return [str(n) for n in spec]
    text = str(spec)
    if text.lower().endswith(".txt") and Path(text).is_file():
        try:
            return [
                line.strip() for line in Path(text).read_text(encoding="utf-8").splitlines() if line.strip()
            ]
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError(text, None, f"cannot read: {exc}") from exc
    if not text.lower().endswith((".yaml", ".yml")):
        return [n.strip() for n in text.split(",")]
    import yaml  # PyYAML (safe_load builds plain data only)

    path = Path(text)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProjectError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ProjectError(path, None, f"not YAML: {exc}") from exc
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise ProjectError(path, "names", f"ids {sorted(names)} are not 0..{len(names) - 1}")
        return [str(names[i]) for i in range(len(names))]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise ProjectError(path, "names", "expected a list of class names or an id -> name map")


#: Files that name a YOLO dataset's classes, looked for in this order.
NAMES_FILES = ("data.yaml", "dataset.yaml", "data.yml", "classes.txt")


def find_names_file(labels_dir: Path) -> Path | None:
    """The dataset's data.yaml (or classes.txt) beside the labels folder or up to two folders above it
    (Ultralytics' ``dataset/labels/train``), None when there is none."""
    for place in (labels_dir, labels_dir.parent, labels_dir.parent.parent):
        for name in NAMES_FILES:
            if (place / name).is_file():
                return place / name
    return None


def _parse_line(line: str, width: int, height: int) -> tuple[int, np.ndarray, str] | str:
    """(class id, points in pixels, shape type), or why the line is not an object."""
    parts = line.split()
    try:
        cid = int(parts[0])
        values = [float(v) for v in parts[1:]]
    except ValueError:
        return "expected a class id and numbers"
    if cid < 0 or not all(math.isfinite(v) for v in values):
        return "expected a class id >= 0 and finite numbers"
    if any(v < -SLACK or v > 1 + SLACK for v in values):
        return "coordinates are fractions of the image's size (0..1); these are not"
    if len(values) == 4:  # a detection box: centre and size
        cx, cy, w, h = values
        box = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2]]) * (width, height)
        return cid, _pixels(np.clip(box, 0, (width, height))), "rectangle"
    if len(values) < 6 or len(values) % 2:
        return f"{len(values)} coordinates: a polygon needs pairs, at least 3 points"
    points = np.clip(np.asarray(values).reshape(-1, 2), 0, 1) * (width, height)
    return cid, _pixels(points), "polygon"


def _pixels(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates to 1/100 px: fractions written with 6 decimals put a vertex drawn at 241
    at 240.999936, which Labelme's drawing puts on the pixel before; rounded, it is 241 again."""
    return np.round(points, 2)


def import_yolo(
    labels_dir: str | Path,
    images_dir: str | Path,
    names: str | Path | Sequence[str] | None = None,
    *,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    skip_annotated: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> YoloReport:
    """A Labelme JSON (status reviewed) per image that has a label file, and labels.txt. Raises
    MaskImportError listing every problem before anything is written."""
    labels_dir, images_dir = Path(labels_dir), Path(images_dir)
    for folder in (labels_dir, images_dir):
        if not folder.is_dir():
            raise ProjectError(folder, None, "folder not found")
    if names is None:
        names = find_names_file(labels_dir)
        if names is None:
            raise ProjectError(
                labels_dir, None, "no data.yaml or classes.txt beside or above it: give the class names"
            )
    classes = read_names(names)
    problems = [f"{names}: class {i} {n!r}: {p}" for i, n in enumerate(classes) if (p := label_problem(n))]
    project_dir = Path(out_dir) if out_dir is not None else images_dir
    report = YoloReport(project_dir)
    images = sorted(
        (p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
        key=lambda p: natural_key(p.name),
    )
    problems += stem_clashes(images)
    label_files = {p.stem: p for p in labels_dir.glob("*.txt") if p.is_file() and p.name not in NAMES_FILES}
    report.orphans = sorted(set(label_files) - {p.stem for p in images}, key=natural_key)
    todo: list[tuple[Path, int, int, list[Shape]]] = []
    for image in images:
        txt = label_files.get(image.stem)
        if txt is None:
            report.unlabelled.append(image)
            continue
        json_path = project_dir / f"{image.stem}.json"
        if json_path.exists() and skip_annotated:
            report.annotated.append(image)
            continue
        if json_path.exists() and not overwrite:
            problems.append(f"{json_path}: exists (use overwrite to replace it)")
        problems += copy_problem(image, project_dir, overwrite)
        try:
            height, width = image_size(image)
            if txt.stat().st_size > MAX_LABEL_BYTES:
                raise ProjectError(txt, None, "too large for a label file")
            lines = txt.read_text(encoding="utf-8").splitlines()
        except (SegdeskError, OSError, UnicodeDecodeError) as exc:
            problems.append(str(exc) if isinstance(exc, SegdeskError) else f"{txt}: cannot read: {exc}")
            continue
        shapes = []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            parsed = _parse_line(line, width, height)
            if isinstance(parsed, str):
                problems.append(f"{txt}: line {n}: {parsed}")
            elif parsed[0] >= len(classes):
                problems.append(f"{txt}: line {n}: class {parsed[0]} but {len(classes)} names are given")
            elif parsed[2] == "rectangle" and np.any(np.ptp(parsed[1], axis=0) <= 0):
                report.degenerate += 1
            else:
                cid, points, kind = parsed
                shapes.append(
                    Shape(label=classes[cid], points=points, shape_type=kind, extra=dict(IMPORTED_PROVENANCE))
                )
        todo.append((image, height, width, shapes))
    if problems:
        raise MaskImportError(labels_dir, problems)
    if not todo and not report.annotated:
        raise MaskImportError(
            labels_dir, [f"{labels_dir}: no label file belongs to an image of {images_dir}"]
        )
    project_dir.mkdir(parents=True, exist_ok=True)
    report.labels = _write_labels_txt(project_dir, [BACKGROUND_LABEL, *classes])
    write_imported(
        todo,
        lambda item: (item[0], imported_document(item[0], (item[1], item[2]), item[3], "import-yolo")),
        project_dir,
        report,
        progress=progress,
        cancel=cancel,
    )
    return report


__all__ = ["YoloReport", "find_names_file", "import_yolo", "read_names"]
