"""How each mask-export format writes one image's files (``masks.export_masks`` drives them).

A writer gets the export's :class:`Plan`, the staging folder and the :class:`ExportReport`; ``image``
rasterizes one annotation (Labelme's rules) and ``write`` puts that format's files into the stage.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segdesk.core.export import coco as export_coco
from segdesk.core.export import yolo as export_yolo
from segdesk.core.export.render import overlay, voc_visualization
from segdesk.core.export.stage import (
    Stage,
    encode_image_png,
    encode_jpeg,
    encode_npy,
    encode_palette_png,
    encode_png,
    jpeg_source,
)
from segdesk.core.image_source import load_image
from segdesk.core.project import ImageEntry, Project
from segdesk.core.rasterize import IGNORE_LABEL, shapes_to_label
from segdesk.core.shapes import Shape


@dataclass
class ExportReport:
    """What an export wrote."""

    out_dir: Path
    fmt: str
    images: int = 0
    files: int = 0
    class_names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> str:
        text = f"{self.fmt}: {self.images} image(s), {self.files} file(s) written to {self.out_dir}"
        text += f" in {self.elapsed_s:.1f} s"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text


@dataclass
class Plan:
    """Everything an export decided before writing (made by ``masks._plan``)."""

    project: Project
    out_dir: Path
    fmt: str
    entries: list[ImageEntry]
    stems: list[str]
    class_names: list[str]
    ignore_value: int
    with_proposals: bool
    binary_dirs: list[str]
    notes: list[str]
    val: frozenset[str] | None = None  # YOLO's validation images (None: no split)


# --- per-format writers -------------------------------------------------------------------------
class _Writer(abc.ABC):
    needs_image = False

    def __init__(self, plan: Plan, stage: Stage, report: ExportReport) -> None:
        self.plan, self.stage, self.report = plan, stage, report
        names = plan.class_names
        self.values = {name: i for i, name in enumerate(names)}

    def image(self, entry: ImageEntry, stem: str) -> None:
        document = self.plan.project.load(entry)
        shapes = [s for s in document.shapes if self.plan.with_proposals or not s.is_proposal]
        height, width = document.image_height, document.image_width
        pixels = display = None
        if self.needs_image:
            loaded = load_image(
                document, entry.json_path, image_file=entry.image_path
            )  # file, else imageData
            pixels, display = loaded.data, loaded.display
            height, width = display.shape[:2]
        if height is None or width is None:
            raise ValueError("image size unknown (imageHeight/imageWidth)")
        mapping = dict(self.values)
        for s in shapes:
            if s.label not in mapping or s.label == IGNORE_LABEL:
                mapping[s.label] = -1
        cls, ins = shapes_to_label((height, width), shapes, mapping)
        self.write(stem, shapes, cls, ins, pixels, display)

    @abc.abstractmethod
    def write(
        self, stem: str, shapes: list[Shape], cls: np.ndarray, ins: np.ndarray, pixels: Any, display: Any
    ) -> None:
        """Write one image's files; ``cls`` has -1 for ignore, ``pixels``/``display`` only if needed."""

    def finish(self) -> None:  # noqa: B027 - an optional hook: most formats have no such file
        """Files written once, after every image."""

    def class_names_file(self) -> None:
        # labelme2voc writes the names joined by newlines, with no newline at the end.
        self.stage.put("class_names.txt", "\n".join(self.plan.class_names).encode("utf-8"))

    def class_map(self, cls: np.ndarray) -> np.ndarray:
        from segdesk.core.rasterize import class_map_dtype

        dtype = class_map_dtype(max(len(self.plan.class_names), self.plan.ignore_value + 1))
        out = cls.astype(dtype)
        out[cls < 0] = self.plan.ignore_value
        return out


class _IndexWriter(_Writer):
    def write(self, stem, shapes, cls, ins, pixels, display) -> None:  # type: ignore[no-untyped-def]
        self.stage.put(f"{stem}.png", encode_png(self.class_map(cls)))

    def finish(self) -> None:
        self.class_names_file()


class _VocWriter(_Writer):
    needs_image = True

    def write(self, stem, shapes, cls, ins, pixels, display) -> None:  # type: ignore[no-untyped-def]
        ins = ins.copy()
        ins[cls == -1] = 0  # labelme2voc: ignore regions belong to no object
        if ins.max(initial=0) > 254:
            raise ValueError(f"{int(ins.max())} objects: VOC palette PNGs hold 254")
        gray = cv2.cvtColor(display, cv2.COLOR_RGB2GRAY)
        names = self.plan.class_names
        put = self.stage.put
        put(f"JPEGImages/{stem}.jpg", encode_jpeg(jpeg_source(pixels, display)))
        put(f"SegmentationClass/{stem}.png", encode_palette_png(cls))
        put(f"SegmentationClassNpy/{stem}.npy", encode_npy(cls))
        put(f"SegmentationClassVisualization/{stem}.jpg", encode_jpeg(voc_visualization(cls, gray, names)))
        put(f"SegmentationObject/{stem}.png", encode_palette_png(ins))
        put(f"SegmentationObjectNpy/{stem}.npy", encode_npy(ins))
        instance_names = [str(i) for i in range(int(ins.max(initial=0)) + 1)]
        put(
            f"SegmentationObjectVisualization/{stem}.jpg",
            encode_jpeg(voc_visualization(ins, gray, instance_names)),
        )

    def finish(self) -> None:
        self.class_names_file()


class _BinaryWriter(_Writer):
    def write(self, stem, shapes, cls, ins, pixels, display) -> None:  # type: ignore[no-untyped-def]
        dirs = self.plan.binary_dirs
        for value, folder in enumerate(dirs[: len(self.plan.class_names) - 1], start=1):
            self.stage.put(
                f"{folder}/{stem}.png", encode_png(np.where(cls == value, 255, 0).astype(np.uint8))
            )
        if IGNORE_LABEL in dirs[len(self.plan.class_names) - 1 :]:
            self.stage.put(
                f"{IGNORE_LABEL}/{stem}.png", encode_png(np.where(cls < 0, 255, 0).astype(np.uint8))
            )

    def finish(self) -> None:
        self.class_names_file()


class _InstanceWriter(_Writer):
    def __init__(self, plan: Plan, stage: Stage, report: ExportReport) -> None:
        super().__init__(plan, stage, report)
        self.index: dict[str, Any] = {"class_names": list(plan.class_names), "images": {}}

    def write(self, stem, shapes, cls, ins, pixels, display) -> None:  # type: ignore[no-untyped-def]
        ins = ins.copy()
        ins[cls < 0] = 0  # as labelme2voc: ignore regions belong to no instance
        areas = np.bincount(ins.ravel(), minlength=1)
        instances, seen = [], {}
        for shape in shapes:
            key = (shape.label, object() if shape.group_id is None else shape.group_id)
            seen.setdefault(key, (len(seen) + 1, shape))
        for (label, _), (iid, shape) in seen.items():
            if iid < len(areas) and areas[iid] > 0:
                class_id = self.values.get(label)
                instances.append(
                    {
                        "id": iid,
                        "label": label,
                        "class_id": class_id,
                        "group_id": shape.group_id,
                        "area": int(areas[iid]),
                    }
                )
        dtype = np.uint8 if ins.max(initial=0) <= 255 else np.uint16
        self.stage.put(f"{stem}.png", encode_png(ins.astype(dtype)))
        self.index["images"][stem] = {"mask": f"{stem}.png", "instances": instances}

    def finish(self) -> None:
        self.stage.put("instances.json", json.dumps(self.index, indent=1, ensure_ascii=False).encode("utf-8"))


class _OverlayWriter(_Writer):
    needs_image = True

    def write(self, stem, shapes, cls, ins, pixels, display) -> None:  # type: ignore[no-untyped-def]
        self.stage.put(f"{stem}.jpg", encode_jpeg(overlay(display, cls, self.plan.class_names)))


class _CocoWriter(_Writer):
    needs_image = True

    def __init__(self, plan: Plan, stage: Stage, report: ExportReport) -> None:
        super().__init__(plan, stage, report)
        self.data = export_coco.coco_skeleton(f"segdesk export of {plan.project.root.name}")
        self.data["categories"] = export_coco.coco_categories(plan.class_names)
        self.category_of = {n: i for i, n in enumerate(plan.class_names)}
        self.dropped = 0

    def write(self, stem, shapes, cls, ins, pixels, display) -> None:  # type: ignore[no-untyped-def]
        image_id = len(self.data["images"]) + 1
        height, width = cls.shape
        anns, dropped = export_coco.image_annotations(
            shapes,
            (height, width),
            self.category_of,
            image_id=image_id,
            first_id=len(self.data["annotations"]) + 1,
        )
        self.dropped += dropped
        self.stage.put(f"JPEGImages/{stem}.jpg", encode_jpeg(jpeg_source(pixels, display)))
        self.stage.put(f"Visualization/{stem}.jpg", encode_jpeg(overlay(display, cls, self.plan.class_names)))
        self.data["images"].append(
            {
                "license": 0,
                "url": None,
                "file_name": f"JPEGImages/{stem}.jpg",
                "height": int(height),
                "width": int(width),
                "date_captured": None,
                "id": image_id,
            }
        )
        self.data["annotations"].extend(anns)

    def finish(self) -> None:
        if self.dropped:
            self.report.notes.append(f"{self.dropped} instance(s) outside their image left out")
        self.stage.put("annotations.json", json.dumps(self.data, ensure_ascii=False).encode("utf-8"))


class _YoloWriter(_Writer):
    needs_image = True

    def __init__(self, plan: Plan, stage: Stage, report: ExportReport) -> None:
        super().__init__(plan, stage, report)
        self.names = export_yolo.yolo_names(plan.class_names)
        self.class_id = {name: i for i, name in enumerate(self.names)}
        self.no_area = 0

    def write(self, stem, shapes, cls, ins, pixels, display) -> None:  # type: ignore[no-untyped-def]
        lines, no_area = export_yolo.label_lines(shapes, cls.shape, self.class_id)
        self.no_area += no_area
        part = export_yolo.split_dir(stem, self.plan.val)
        self.stage.put(f"images/{part}{stem}.png", encode_image_png(jpeg_source(pixels, display)))
        self.stage.put(f"labels/{part}{stem}.txt", "".join(f"{line}\n" for line in lines).encode("utf-8"))

    def finish(self) -> None:
        if self.no_area:
            self.report.notes.append(
                f"{self.no_area} line / point shape(s) left out: YOLO labels hold polygons"
            )
        split = self.plan.val is not None
        if split:
            val = len(self.plan.val or ())
            self.report.notes.append(f"{val} image(s) in val, {len(self.plan.stems) - val} in train")
        yaml = export_yolo.data_yaml(self.names, self.plan.out_dir, split=split)
        self.stage.put("data.yaml", yaml.encode("utf-8"))


WRITERS: dict[str, type[_Writer]] = {
    "index": _IndexWriter,
    "voc": _VocWriter,
    "binary": _BinaryWriter,
    "instance": _InstanceWriter,
    "overlay": _OverlayWriter,
    "coco": _CocoWriter,
    "yolo": _YoloWriter,
}


__all__ = ["WRITERS", "ExportReport", "Plan"]
