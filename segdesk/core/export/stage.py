"""Writing an export: encoders for its files, and the hidden staging folder that makes it all-or-nothing.

Files are written into ``.<name>.segdesk-export-<random>`` beside the destination. At the end the
folder is renamed into place (a new destination) or its files are moved in one by one (an existing
one); a cancelled or failed export removes the staging folder and any parent folders it created.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import shutil
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from segdesk.core.colors import label_colormap
from segdesk.core.errors import ExportError

STAGING_MARK = ".segdesk-export-"
JPEG_QUALITY = 75  # imgviz.io.imsave's (Pillow's default), so JPEGImages match labelme2voc's


class OutputExistsError(ExportError):
    """The export would replace existing files and ``overwrite`` was not given."""

    def __init__(self, out_dir: Path, existing: list[Path]) -> None:
        self.existing = existing
        sample = ", ".join(p.relative_to(out_dir).as_posix() for p in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        super().__init__(
            out_dir, None, f"{len(existing)} file(s) exist already ({sample}{more}); not overwriting"
        )


def encode_png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(array))
    if not ok:
        raise ExportError(None, None, "PNG encoding failed")
    return buf.tobytes()


def encode_image_png(image: np.ndarray) -> bytes:
    """An RGB (or grey) image as PNG; encode_png takes OpenCV's BGR order."""
    return encode_png(image[..., ::-1] if image.ndim == 3 else image)


def encode_palette_png(label: np.ndarray) -> bytes:
    """labelme's lblsave: a 'P' PNG with the VOC palette; -1 (ignore) is stored as 255."""
    image = PIL.Image.fromarray(label.astype(np.uint8))
    image.putpalette(label_colormap(256).flatten().tolist())
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def encode_jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def encode_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def jpeg_source(data: np.ndarray, display: np.ndarray) -> np.ndarray:
    """The pixels labelme2voc saves: the file's own uint8 grey/RGB values, else the display RGB."""
    if data.dtype == np.uint8 and (data.ndim == 2 or (data.ndim == 3 and data.shape[2] == 3)):
        return data
    return display


class Stage:
    """A hidden sibling folder that receives every file, then moves into place (or is removed)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.created: list[Path] = []
        parent = out_dir.parent
        missing = []
        probe = parent
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self.created.append(folder)
            self.root = parent / f".{out_dir.name}{STAGING_MARK}{secrets.token_hex(4)}"
            self.root.mkdir()
        except OSError as exc:
            self._remove_created()
            raise ExportError(out_dir, None, f"cannot write here: {os_reason(exc)}") from exc
        self.files: list[str] = []
        self._dirs: set[str] = set()

    def put(self, rel: str, data: bytes) -> None:
        folder = rel.rpartition("/")[0]
        try:
            if folder and folder not in self._dirs:
                (self.root / folder).mkdir(parents=True, exist_ok=True)
                self._dirs.add(folder)
            with open(self.root / rel, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise ExportError(self.out_dir / rel, None, f"cannot write the file: {os_reason(exc)}") from exc
        self.files.append(rel)

    def commit(self, overwrite: bool) -> None:
        """Move the files into place: the whole folder when new, else file by file."""
        out = self.out_dir
        try:
            if not out.exists():
                os.rename(self.root, out)
                return
            if not out.is_dir():
                raise ExportError(out, None, "exists and is not a folder")
            existing = [out / rel for rel in self.files if (out / rel).exists()]
            if existing and not overwrite:
                raise OutputExistsError(out, existing)
            for rel in self.files:
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.root / rel, out / rel)
            shutil.rmtree(self.root, ignore_errors=True)
        except OSError as exc:
            raise ExportError(out, None, f"cannot move the export into place: {os_reason(exc)}") from exc

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:
                break


def os_reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"{text} (the destination is full)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{text} (the destination is read-only; choose another folder)"
    return text


__all__ = [
    "JPEG_QUALITY",
    "STAGING_MARK",
    "OutputExistsError",
    "Stage",
    "encode_jpeg",
    "encode_npy",
    "encode_palette_png",
    "encode_png",
    "jpeg_source",
    "os_reason",
]
