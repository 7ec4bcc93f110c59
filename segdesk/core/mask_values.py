"""The values of mask files: colour-coded masks, and what a folder of masks holds.

Many datasets ship their class masks as colours (VOC's SegmentationClass viewed as RGB, land-cover and
street-scene sets) and instance maps as one random colour per object. A colour is packed into one
integer (``0xRRGGBB``), so colour masks go through the same value -> class rule as index masks;
``--labels '#000000=_background_,#ff0000=building'`` names classes by colour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image

from segdesk.core.errors import ImageReadError, SegdeskError
from segdesk.core.image_io import pil_message
from segdesk.core.project import natural_key

_HEX = re.compile(r"#([0-9a-fA-F]{6})")
#: Mask file extensions tried, in this order, for an image's stem.
MASK_EXTENSIONS: tuple[str, ...] = (".png", ".tif", ".tiff", ".bmp")
#: More distinct values than this in the first masks look like instance maps, not classes.
OBJECT_MAPS = 32
#: How many mask files ``describe_values`` reads to say what a folder holds.
SAMPLE = 20
#: Fewer pixels than this per distinct value: no instance map (objects of 1-4 px on average) but a
#: photograph or a resized, smoothed mask.
MEAN_OBJECT_PX = 4
PHOTO_HINT = "as many as a photograph has: are these the images rather than their masks?"


def parse_colour(text: str) -> int | None:
    """``"#ff8000"`` -> ``0xff8000``; None when ``text`` is no ``#RRGGBB`` colour."""
    match = _HEX.fullmatch(text.strip())
    return int(match.group(1), 16) if match else None


def colour_text(value: int) -> str:
    return f"#{int(value):06x}"


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxW int64 of ``0xRRGGBB``."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def values_text(values: Iterable[int], *, colour: bool, most: int = 10) -> str:
    values = sorted(int(v) for v in values)
    shown = [colour_text(v) if colour else str(v) for v in values[:most]]
    return ", ".join(shown) + (" ..." if len(values) > most else "")


def read_mask_image(path: Path, *, colour: bool | None = False) -> np.ndarray:
    """A mask file's values as a 2-D integer array (palette indices for palette PNGs).

    ``colour=True``: the colours as seen (palette and grey files too), packed as ``0xRRGGBB``
    (core/mask_values); ``None``: packed colours only for a file with colours that are not grey.
    """
    return read_mask(path, colour=colour)[0]


def read_mask(path: Path, *, colour: bool | None = False) -> tuple[np.ndarray, bool]:
    """(values, whether they are packed colours): see ``read_mask_image``."""
    try:
        with PIL.Image.open(path) as im:
            im.load()
            if im.mode == "1":
                im = im.convert("L")  # a 1-bit mask reads as 0 / 255, as viewers show it
            if colour and im.mode in ("L", "LA", "P", "PA", "RGB", "RGBA"):
                im = im.convert("RGB")
            elif colour:
                raise ImageReadError(
                    path,
                    None,
                    f"this mask (Pillow mode {im.mode}) holds values, not colours: give --labels by value",
                )
            data = np.asarray(im)
    except ImageReadError:
        raise
    except Exception as exc:  # Pillow raises many types for a bad file
        raise ImageReadError(path, None, f"cannot read the mask: {pil_message(exc)}") from exc
    if data.ndim == 3:
        if data.shape[2] in (2, 4):
            data = data[..., :-1]  # drop alpha
        grey = data.shape[2] == 1 or bool((data == data[..., :1]).all())
        if colour or (colour is None and not grey):
            return pack_rgb(data), True
        if not grey:
            found = values_text(np.unique(pack_rgb(data)), colour=True)
            raise ImageReadError(
                path,
                None,
                f"colour mask ({found}): give --labels by colour (#RRGGBB=NAME) or save class indices",
            )
        data = data[..., 0]
    if data.dtype.kind == "f":
        if not np.array_equal(data, np.round(data)):
            raise ImageReadError(path, None, "float mask with non-integer values")
        data = data.astype(np.int64)
    return data, False


def first_masks(masks_dir: str | Path) -> list[Path]:
    """The first SAMPLE mask files of a folder, in natural order ([] for no folder)."""
    try:
        files = sorted(
            (p for p in Path(masks_dir).iterdir() if p.suffix.lower() in MASK_EXTENSIONS),
            key=lambda p: natural_key(p.name),
        )
    except OSError:
        return []
    return [p for p in files[:SAMPLE] if p.is_file()]


@dataclass(frozen=True)
class MaskSample:
    """What the first masks of a folder hold: their values (colours packed as 0xRRGGBB)."""

    files: int
    values: frozenset[int]
    colour: bool
    #: A file held a distinct value for every few pixels: a photograph, not a mask (the images folder?).
    photo_like: bool = False

    @property
    def objects(self) -> bool:
        """More values than classes: one per object (instance maps)."""
        return len(self.values) > OBJECT_MAPS

    def kind(self) -> str:
        return "colours" if self.colour else "values"

    def values_text(self, most: int = 10) -> str:
        return values_text(self.values, colour=self.colour, most=most)

    def summary(self) -> str:
        """What the masks hold, after "the first N masks hold": the CLI's hint and the dialog's note."""
        if self.photo_like:
            return f"{len(self.values)}+ {self.kind()}, {PHOTO_HINT}"
        if self.objects:  # the callers add what to do with them
            return f"{len(self.values)} {self.kind()} ({self.values_text(most=4)})"
        return f"the {self.kind()} {self.values_text()}"

    def suggested_labels(self) -> str:
        """A LABELS to start from: the background for 0 (black), NAME for the others (first six)."""
        return ",".join(
            f"{colour_text(v) if self.colour else v}={'_background_' if v == 0 else 'NAME'}"
            for v in sorted(self.values)[:6]
        )


def sample_masks(mask_files: list[Path]) -> MaskSample | None:
    """The values of the first SAMPLE of ``mask_files`` (unreadable ones passed over); None if none."""
    found: set[int] = set()
    colour = photo_like = False
    read = 0
    for path in mask_files[:SAMPLE]:
        try:
            data, packed = read_mask(path, colour=None)
        except SegdeskError:
            continue
        read += 1
        distinct = np.unique(data)
        photo_like |= distinct.size * MEAN_OBJECT_PX > data.size
        if packed and not colour:  # colours from here on: grey values seen before become grey colours
            found, colour = {v * 0x010101 for v in found if 0 <= v <= 255}, True
        found.update(int(v) * (0x010101 if colour and not packed else 1) for v in distinct[:1000])
    return MaskSample(read, frozenset(found), colour, photo_like) if found else None


def mask_files_hint(masks_dir: str | Path) -> str:
    """``: the first masks hold the values ...; e.g. --labels '...'`` for a person who gave no LABELS."""
    text = describe_values(first_masks(masks_dir))
    return f": {text}" if text else ""


def describe_values(mask_files: list[Path]) -> str:
    """What the first masks hold and a --labels to start from, for a person who gave none."""
    sample = sample_masks(mask_files)
    if sample is None:
        return ""
    text = f"the first {min(len(mask_files), SAMPLE)} masks hold {sample.summary()}"
    if sample.photo_like:
        return text
    if sample.objects:
        return (
            f"{text}: instance maps, one {sample.kind()[:-1]} per object? then --instances LABEL; "
            f"else e.g. --labels '{sample.suggested_labels()}'"
        )
    return f"{text}; e.g. --labels '{sample.suggested_labels()}'"
