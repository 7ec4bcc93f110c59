"""The image on screen (:class:`CurrentImage`) and what decides whether it can be shown: its size, its
annotation's image (a file beside it, or embedded in the JSON)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImageReader
from PySide6.QtWidgets import QLabel

from segdesk.core.document import Document
from segdesk.core.errors import SegdeskError
from segdesk.core.image_folders import NAMED, look_inside, no_images_detail

#: QImage (and QPixmap) cannot hold an image wider or taller than this.
QT_MAX_SIDE = 32767


@dataclass
class CurrentImage:
    """The image on screen: its entry index, annotation and pixels (or why it could not be shown)."""

    index: int
    image_path: Path
    document: Document | None = None
    display: Any = None  # uint8 HxWx3 RGB
    raw: Any = None  # original values for the status bar
    error: str | None = None
    pyramid: Any = None  # halvings of ``display`` made off the GUI thread (big images), or None
    pages: int = 1  # a multi-page TIFF: its first page is shown (core/image_io)


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, without decoding pixels; None when unknown."""
    size = QImageReader(str(path)).size()
    return (size.width(), size.height()) if size.isValid() else None


def fill_current(current: CurrentImage, document: Any, image: Any, size: tuple[int, int] | None) -> None:
    """Put what was read into ``current``, or the reason it cannot be shown into ``current.error``.

    ``document`` and ``image`` may be the exceptions reading them raised.
    """
    try:
        if size is not None and max(size) > QT_MAX_SIDE:
            w, h = size
            raise SegdeskError(
                f"{current.image_path}: {w} x {h} pixels is larger than the {QT_MAX_SIDE} pixels "
                "per side that can be displayed; split it into tiles to annotate it"
            )
        for part in (document, image):
            if isinstance(part, BaseException):
                raise part
        current.document = document
        current.display, current.raw = image.display, image.data
        current.pyramid = getattr(image, "pyramid", None)
        current.pages = getattr(image, "pages", 1)
        height, width = current.display.shape[:2]
        if max(height, width) > QT_MAX_SIDE:
            raise SegdeskError(f"{current.image_path}: {width} x {height} pixels cannot be displayed")
    except (SegdeskError, OSError, ValueError, MemoryError) as exc:
        # The annotation stays untouched on disk: nothing is saved for an image that failed.
        current.document, current.display, current.raw = None, None, None
        current.error = str(exc)


def image_of_document(document: Document, json_path: Path) -> Path:
    """The image a Labelme file annotates: its imagePath, or the JSON file itself when the image is
    embedded. Raises SegdeskError naming the file and the field when there is none."""
    from segdesk.core.labelme_io import resolve_image_path

    image = resolve_image_path(document, json_path=json_path)
    if image is None and document.image_data:
        return json_path  # the image is embedded: the JSON file is the entry
    if image is None:
        raise SegdeskError(f"{json_path}: imagePath: {document.image_path!r} does not exist")
    return image


def message_label() -> QLabel:
    """The label shown in the canvas's place: why an image cannot be shown, or what to open first."""
    label = QLabel()
    label.setObjectName("image_message")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setMargin(40)
    label.setOpenExternalLinks(False)  # a link names a folder to open in segdesk (no_images_message)
    return label


def no_images_message(folder: Path) -> str:
    """Rich text for a folder with no images of its own: why (core/image_folders), and a link to each
    subfolder that holds images (the label's ``linkActivated`` gives the folder to open)."""
    contents = look_inside(folder)
    text = f"<p>{html.escape(f'{folder}: {no_images_detail(contents)}')}</p>"
    links = [
        f'<a href="{html.escape(str(sub), quote=True)}">{html.escape(sub.relative_to(folder).as_posix())}</a>'
        for sub, _ in contents.subfolders[:NAMED]
    ]
    return text + (f"<p>Open {' &middot; '.join(links)}</p>" if links else "")
