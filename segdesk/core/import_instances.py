"""Import instance masks: one Labelme polygon per object, all of one class, marked reviewed.

Two layouts, found per image by its stem in MASKS:

- an instance map ``<stem>.png`` (or .tif/.tiff/.bmp): 0 = background, k = object k (16-bit PNG for
  more than 255 objects), or one colour per object on black;
- a folder ``<stem>/`` (or ``<stem>/masks/``, the layout DSB 2018 ships) of binary masks, one object
  each (any non-zero pixel is the object; where two masks overlap the later file by name wins).

Every image is checked before anything is written (a missing mask, a size that differs from the
image, an empty or unreadable mask file), as ``import_masks`` does for class masks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from segdesk.core.cancel import CancelToken
from segdesk.core.document import Document
from segdesk.core.errors import ProjectError, SegdeskError
from segdesk.core.image_io import image_size
from segdesk.core.import_masks import (
    IMPORTED_PROVENANCE,
    ImportReport,
    MaskImportError,
    _natural_key,
    _write_labels_txt,
    copy_into,
    copy_problem,
    import_images,
    imported_document,
    no_pairs,
    stem_clashes,
    write_imported,
)
from segdesk.core.instance_split import InstanceObject, _bboxes, object_shape
from segdesk.core.instances import relabel_sequential
from segdesk.core.mask_files import find_mask, none_found
from segdesk.core.mask_values import MASK_EXTENSIONS, MEAN_OBJECT_PX, read_mask_image
from segdesk.core.rasterize import BACKGROUND_LABEL, IGNORE_LABEL
from segdesk.core.vectorize import DEFAULT_MIN_AREA


def find_instances(image: Path, masks_dir: Path) -> Path | None:
    """The instance map file (found as a class mask is: core/mask_files, e.g. Cellpose's
    ``img_cp_masks.png``) or the folder of per-object masks of ``image``; None when there is none."""
    found = find_mask(image, masks_dir)
    if found is not None:
        return found
    for folder in (masks_dir / image.stem / "masks", masks_dir / image.stem):
        if folder.is_dir():
            return folder
    return None


def _mask_files(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MASK_EXTENSIONS), key=_natural_key
    )


def read_instances(path: Path) -> np.ndarray:
    """An instance map (int32, 0 = background, objects 1..N) from a map file or a folder of masks."""
    if path.is_file():
        data = read_mask_image(path, colour=None).astype(np.int64)  # one colour per object: packed
        if data.min(initial=0) < 0:
            raise ProjectError(path, None, "instance map with negative values")
        instances = relabel_sequential(data)
        n = int(instances.max(initial=0))
        if n and np.count_nonzero(instances) < n * MEAN_OBJECT_PX:
            raise ProjectError(
                path,
                None,
                f"{n} values, objects of {np.count_nonzero(instances) / n:.1f} px on average: a photograph "
                "or a resized (smoothed) mask, not an instance map",
            )
        return instances
    files = _mask_files(path)
    if not files:
        raise ProjectError(path, None, "no mask files (png, tif, tiff, bmp) in this folder")
    out: np.ndarray | None = None
    for k, file in enumerate(files, start=1):
        mask = read_mask_image(file, colour=None) != 0  # any colour but black is the object
        if out is None:
            out = np.zeros(mask.shape, np.int32)
        if mask.shape != out.shape:
            raise ProjectError(
                file,
                None,
                f"mask is {mask.shape[1]}x{mask.shape[0]}, {files[0].name} is {out.shape[1]}x{out.shape[0]}",
            )
        if not mask.any():
            raise ProjectError(file, None, "empty mask: no object pixel")
        out[mask] = k
    assert out is not None
    return relabel_sequential(out)


def instance_objects(instances: np.ndarray, label: str) -> list[InstanceObject]:
    """One object per id of an instance map, in id order."""
    n = int(instances.max(initial=0))
    out = []
    for i, box in enumerate(_bboxes(instances, n)):
        if box is None:
            continue
        y0, y1, x0, x1 = box
        out.append(InstanceObject(label, (x0, y0, x1 - x0, y1 - y0), instances[y0:y1, x0:x1] == i, 1.0))
    return out


def import_instances(
    images_dir: str | Path,
    masks_dir: str | Path,
    label: str,
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
    """One polygon per object (class ``label``) per image, status reviewed, and labels.txt.

    Raises MaskImportError listing every problem before anything is written. ``skip_unmasked``,
    ``skip_annotated`` and ``cancel``: as in ``import_masks``.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    if not label or label in (BACKGROUND_LABEL, IGNORE_LABEL):
        raise ProjectError(masks_dir, "label", f"objects need a class name, got {label!r}")
    project_dir = Path(out_dir) if out_dir is not None else images_dir
    pairs, unmasked, annotated = _check(
        images_dir,
        masks_dir,
        project_dir,
        overwrite=overwrite,
        skip_unmasked=skip_unmasked,
        skip_annotated=skip_annotated,
    )
    project_dir.mkdir(parents=True, exist_ok=True)
    report = ImportReport(project_dir, annotated=annotated)
    report.labels = _write_labels_txt(project_dir, [BACKGROUND_LABEL, label])
    for image in unmasked:
        report.unmasked.append(copy_into(image, project_dir))

    def document_of(pair: tuple[Path, np.ndarray]) -> tuple[Path, Document]:
        image, instances = pair
        shapes = []
        for obj in instance_objects(instances, label):
            shape = object_shape(obj, tolerance=tolerance) if obj.area >= min_area else None
            if shape is not None:
                shape.extra = dict(IMPORTED_PROVENANCE)
                shapes.append(shape)
        return image, imported_document(image, instances.shape, shapes, "import-masks")

    write_imported(pairs, document_of, project_dir, report, progress=progress, cancel=cancel)
    return report


def _check(
    images_dir: Path,
    masks_dir: Path,
    project_dir: Path,
    *,
    overwrite: bool,
    skip_unmasked: bool = False,
    skip_annotated: bool = False,
) -> tuple[list[tuple[Path, np.ndarray]], list[Path], list[Path]]:
    images = import_images(images_dir, masks_dir)
    pairs, problems, unmasked, annotated = [], stem_clashes(images), [], []
    missing = 0
    for image in images:
        if skip_annotated and (project_dir / f"{image.stem}.json").exists():
            annotated.append(image)
            continue
        found = find_instances(image, masks_dir)
        missing += found is None and not skip_unmasked
        if found is None and skip_unmasked:
            unmasked.append(image)
            problems += copy_problem(image, project_dir, overwrite)
            continue
        if found is None:
            problems.append(
                f"{image}: no instance map ({image.stem}.png) or mask folder ({image.stem}/) in {masks_dir}"
            )
            continue
        try:
            height, width = image_size(image)
            instances = read_instances(found)
        except SegdeskError as exc:
            problems.append(str(exc))
            continue
        if instances.shape != (height, width):
            problems.append(
                f"{found}: masks are {instances.shape[1]}x{instances.shape[0]} (WxH) but image "
                f"{image.name} is {width}x{height}"
            )
        json_path = project_dir / f"{image.stem}.json"
        if not overwrite and json_path.exists():
            problems.append(f"{json_path}: exists (use overwrite to replace it)")
        problems += copy_problem(image, project_dir, overwrite)
        pairs.append((image, instances))
    if problems:
        looked = f"{images[0].stem}.png (or .tif, .tiff, .bmp) or a folder {images[0].stem}/"
        raise MaskImportError(masks_dir, none_found(images, masks_dir, missing, looked) or problems)
    if not pairs:
        raise MaskImportError(masks_dir, [no_pairs(images_dir, masks_dir, annotated)])
    return pairs, unmasked, annotated


__all__ = ["find_instances", "import_instances", "instance_objects", "read_instances"]
