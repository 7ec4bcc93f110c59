"""Turn a COCO instance-segmentation file (CVAT, Roboflow, Label Studio, a dataset's
``instances_train.json``) into Labelme JSON beside its images, marked reviewed, as ``import-masks``
does for mask files.

* Images are matched by the base name of ``file_name`` in the images folder (COCO files often keep
  the path they were made with), else by its stem when one image has it (labelme2coco and other
  exporters write JPEG copies: ``a.png`` is ``JPEGImages/a.jpg`` there; the size must agree). Images of the file that are not in the folder are counted, not an
  error (a file for a whole dataset, a folder of one part of it); images of the folder the file does
  not list stay as they are. A size that differs from the image's is a problem.
* Each annotation is one object: a polygon segmentation becomes Labelme polygons (an object in
  several parts shares a ``group_id``, as labelme2coco groups them back), an RLE one (compressed or
  not) a Labelme mask shape of exactly its pixels, an annotation with only a ``bbox`` a rectangle.
  ``iscrowd`` regions keep their class and say so in the shape's flags (``{"iscrowd": true}``).
* Categories become the labels (``labels.txt``, merged with an existing one), in category id order.

Every problem (a malformed field, an unknown category, a label segdesk cannot use, a size mismatch,
an existing annotation without ``overwrite``) is found before anything is written and named with the
file and the field, e.g. ``annotations[12].segmentation``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import ProjectError, SegdeskError
from segdesk.core.export.coco import rle_decode
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
from segdesk.core.mask_edit import mask_shape
from segdesk.core.rasterize import BACKGROUND_LABEL
from segdesk.core.shapes import Shape

#: A COCO file larger than this is refused before it is read (a whole-COCO train file is ~450 MB).
MAX_BYTES = 2 * 1024**3


@dataclass
class _Image:
    path: Path
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class CocoReport(ImportReport):
    """An import's report, plus what the COCO file held that the folder does not."""

    not_in_folder: list[str] = field(default_factory=list)  # file_names listed by the file, absent here
    degenerate: int = 0  # polygons of fewer than 3 points (no area), left out

    def left_out(self) -> list[str]:
        lines = super().left_out()
        if self.degenerate:
            lines.append(f"{self.degenerate} polygon(s) of fewer than 3 points (no area) left out")
        if self.not_in_folder:
            names = ", ".join(self.not_in_folder[:5]) + (" ..." if len(self.not_in_folder) > 5 else "")
            lines.append(
                f"{len(self.not_in_folder)} image(s) of the COCO file are not in the folder: {names}"
            )
        return lines


class _Problems:
    def __init__(self, source: Path) -> None:
        self.source, self.lines = source, []

    def add(self, place: str, detail: str) -> None:
        self.lines.append(f"{self.source}: {place}: {detail}")


def read_coco(path: str | Path) -> dict[str, Any]:
    """The COCO file's top level; ProjectError naming the file for an unreadable or non-COCO one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ProjectError(path, None, f"larger than {MAX_BYTES // 1024**3} GB; not read")
        with path.open("rb") as f:
            data = json.load(f)
    except OSError as exc:
        raise ProjectError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise ProjectError(path, None, f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProjectError(path, None, "not a COCO file (expected an object with images and annotations)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ProjectError(path, key, "missing or not a list: not a COCO instances file")
    return data


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _categories(data: dict[str, Any], problems: _Problems) -> dict[int, str]:
    names: dict[int, str] = {}
    for i, cat in enumerate(data["categories"]):
        place = f"categories[{i}]"
        if not isinstance(cat, dict) or not _int(cat.get("id")) or not isinstance(cat.get("name"), str):
            problems.add(place, "expected an object with an integer id and a name")
            continue
        problem = label_problem(cat["name"])
        if problem is not None:
            problems.add(f"{place}.name", f"{cat['name']!r}: {problem}")
        elif cat["id"] in names:
            problems.add(f"{place}.id", f"id {cat['id']} is given twice")
        else:
            names[cat["id"]] = cat["name"]
    return names


def image_finder(images_dir: Path) -> Callable[[str], Path | None]:
    """The rule from a COCO ``file_name`` to an image of the folder (see the module docstring)."""
    here = {p.name: p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()}
    stems: dict[str, list[Path]] = defaultdict(list)
    for p in here.values():
        stems[p.stem].append(p)

    def find(file_name: str) -> Path | None:
        name = base_name(file_name)
        if name in here:
            return here[name]
        same_stem = stems.get(Path(name).stem, [])
        return same_stem[0] if len(same_stem) == 1 else None  # labelme2coco and others save JPEG copies

    return find


def base_name(file_name: str) -> str:
    """A COCO ``file_name`` without the folders it was made in (Windows or POSIX)."""
    return file_name.replace("\\", "/").rsplit("/", 1)[-1]


def describe_coco(coco_json: str | Path, images_dir: str | Path) -> str:
    """What a COCO file holds and how much of it is the folder's (the app's Import masks says it)."""
    try:
        data = read_coco(coco_json)
        find = image_finder(Path(images_dir))
    except (SegdeskError, OSError) as exc:
        return str(exc)
    names = [
        e["file_name"] for e in data["images"] if isinstance(e, dict) and isinstance(e.get("file_name"), str)
    ]
    ours = sum(1 for name in names if find(name) is not None)
    cats = [str(c.get("name")) for c in data["categories"] if isinstance(c, dict)]
    shown = ", ".join(cats[:6]) + (" ..." if len(cats) > 6 else "")
    return (
        f"A COCO file: {len(data['images'])} image(s), {ours} of them in this folder; "
        f"{len(data['annotations'])} object(s) of {len(cats)} categories ({shown})."
    )


def _none_here(coco_json: Path, data: dict[str, Any], images_dir: Path) -> str:
    """Why no image of the file is in the folder, and where they are when the file's paths say so
    (CVAT writes ``default/a.jpg``: the images are in ``images/default``, a project of its own)."""
    text = f"{coco_json}: none of its {len(data['images'])} image(s) is in {images_dir}"
    names = [e.get("file_name") for e in data["images"][:50] if isinstance(e, dict)]
    for name in names:
        if isinstance(name, str) and "/" in name.replace("\\", "/"):
            parts = name.replace("\\", "/").split("/")
            for i in range(len(parts) - 1):  # the longest tail of the path that exists under the folder
                folder = images_dir.joinpath(*parts[i:-1])
                if (folder / parts[-1]).is_file():
                    return f"{text}; they are in {folder} (the file names them as {name}): give that folder"
    first = names[0] if names and isinstance(names[0], str) else "?"
    return f"{text} (the file names them as {first}, ...)"


def _images(
    data: dict[str, Any], images_dir: Path, problems: _Problems, report: CocoReport
) -> dict[int, _Image]:
    find = image_finder(images_dir)
    found: dict[int, _Image] = {}
    for i, entry in enumerate(data["images"]):
        place = f"images[{i}]"
        if (
            not isinstance(entry, dict)
            or not _int(entry.get("id"))
            or not isinstance(entry.get("file_name"), str)
        ):
            problems.add(place, "expected an object with an integer id and a file_name")
            continue
        name = base_name(entry["file_name"])
        path = find(entry["file_name"])
        if path is None:
            report.not_in_folder.append(name)
            continue
        try:
            height, width = image_size(path)
        except SegdeskError as exc:
            problems.add(place, str(exc))
            continue
        if (entry.get("height"), entry.get("width")) not in ((height, width), (None, None)):
            problems.add(
                place,
                f"{name} is {entry.get('width')}x{entry.get('height')} (WxH) here but {width}x{height} on disk",
            )
            continue
        found[entry["id"]] = _Image(path, width, height)
    return found


def _polygon(raw: Any) -> np.ndarray | None:
    """A flat [x, y, ...] list as (N, 2) points; None when it is not pairs of finite numbers."""
    if not isinstance(raw, list) or len(raw) % 2:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in raw):
        return None
    return np.asarray(raw, dtype=np.float64).reshape(-1, 2)


def _shapes(
    ann: dict[str, Any],
    label: str,
    image: _Image,
    group: int,
    place: str,
    problems: _Problems,
    report: CocoReport,
) -> list[Shape]:
    """The Labelme shapes of one COCO object (several polygons share ``group``)."""
    flags = {"iscrowd": True} if ann.get("iscrowd") in (1, True) else {}
    seg = ann.get("segmentation")
    if isinstance(seg, dict):  # RLE: the exact pixels, as a mask shape
        size = seg.get("size")
        if size != [image.height, image.width]:
            problems.add(
                f"{place}.segmentation.size", f"{size} but the image is [{image.height}, {image.width}]"
            )
            return []
        try:
            mask = rle_decode(seg)
        except ValueError as exc:
            problems.add(f"{place}.segmentation.counts", str(exc))
            return []
        shape = mask_shape(mask, (0, 0), like=None, label=label)
        return [_finish(shape, flags)] if shape is not None else []
    if isinstance(seg, list) and seg:
        parsed = [_polygon(p) for p in seg]
        if any(p is None for p in parsed):
            problems.add(f"{place}.segmentation", "expected polygons as lists of [x, y] numbers")
            return []
        # Other tools leave slivers of 1 or 2 points in their files: no area, left out and counted.
        polygons = [p for p in parsed if p is not None and len(p) >= 3]
        report.degenerate += len(parsed) - len(polygons)
        gid = group if len(polygons) > 1 else None
        return [_finish(Shape(label=label, points=p, group_id=gid), flags) for p in polygons]
    bbox = ann.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox):
        x, y, w, h = (float(v) for v in bbox)
        if w > 0 and h > 0:
            box = np.array([[x, y], [x + w, y + h]], dtype=np.float64)
            return [_finish(Shape(label=label, points=box, shape_type="rectangle"), flags)]
    problems.add(place, "no segmentation (polygons or RLE) and no bbox")
    return []


def _finish(shape: Shape, flags: dict[str, Any]) -> Shape:
    shape.extra = dict(IMPORTED_PROVENANCE)
    if flags:
        shape.flags = dict(flags)
    return shape


def import_coco(
    coco_json: str | Path,
    images_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    skip_annotated: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> CocoReport:
    """A Labelme JSON (status reviewed) for every image of the folder the COCO file annotates, and
    labels.txt. Raises MaskImportError listing every problem before anything is written."""
    coco_json, images_dir = Path(coco_json), Path(images_dir)
    if not images_dir.is_dir():
        raise ProjectError(images_dir, None, "folder not found")
    project_dir = Path(out_dir) if out_dir is not None else images_dir
    data = read_coco(coco_json)
    problems = _Problems(coco_json)
    report = CocoReport(project_dir)
    labels = _categories(data, problems)
    images = _images(data, images_dir, problems, report)
    groups: dict[int, int] = defaultdict(int)
    for i, ann in enumerate(data["annotations"]):
        place = f"annotations[{i}]"
        if not isinstance(ann, dict) or not _int(ann.get("image_id")) or not _int(ann.get("category_id")):
            problems.add(place, "expected an object with an integer image_id and category_id")
            continue
        image = images.get(ann["image_id"])
        if image is None:
            continue  # an image not in this folder (counted above) or listed nowhere
        label = labels.get(ann["category_id"])
        if label is None:
            problems.add(f"{place}.category_id", f"{ann['category_id']} is no category of the file")
            continue
        groups[ann["image_id"]] += 1
        image.shapes += _shapes(ann, label, image, groups[ann["image_id"]], place, problems, report)
    problems.lines += stem_clashes([image.path for image in images.values()])
    if not images and not problems.lines:
        raise MaskImportError(coco_json, [_none_here(coco_json, data, images_dir)])
    todo = []
    for image in images.values():
        json_path = project_dir / f"{image.path.stem}.json"
        if json_path.exists() and skip_annotated:
            report.annotated.append(image.path)
            continue
        if json_path.exists() and not overwrite:
            problems.lines.append(f"{json_path}: exists (use overwrite to replace it)")
        problems.lines += copy_problem(image.path, project_dir, overwrite)
        todo.append(image)
    if problems.lines:
        raise MaskImportError(coco_json, problems.lines)
    project_dir.mkdir(parents=True, exist_ok=True)
    names = [labels[k] for k in sorted(labels) if labels[k] != BACKGROUND_LABEL]
    report.labels = _write_labels_txt(project_dir, [BACKGROUND_LABEL, *names])
    write_imported(
        todo,
        lambda image: (
            image.path,
            imported_document(image.path, (image.height, image.width), image.shapes, "import-coco"),
        ),
        project_dir,
        report,
        progress=progress,
        cancel=cancel,
    )
    return report


__all__ = [
    "CocoReport",
    "MAX_BYTES",
    "base_name",
    "describe_coco",
    "image_finder",
    "import_coco",
    "read_coco",
]
