"""Which mask file belongs to an image, and what to say when none does.

A mask is found by its image's file name or stem with a mask extension (``MASK_EXTENSIONS``, in that
order), else by the stem and a suffix other tools give their masks (``MASK_SUFFIXES``: Cellpose's
``img_cp_masks.png`` and ``img_masks.png``, ilastik's ``img_Simple Segmentation.png``). A lossy file of that stem (JPEG, WebP) is named as the problem: its compression leaves values
between the classes along every edge. When no image has a mask (a folder of ``img0_mask.png``, the
wrong folder) one line says what the folder holds instead of one line per image.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from segdesk.core.mask_values import MASK_EXTENSIONS

#: Lossy formats: a mask saved so has values between the classes along every edge.
LOSSY = (".jpg", ".jpeg", ".webp")
#: What other tools append to an image's stem for its mask, tried after the stem alone, in this order:
#: the common ones, Cellpose's training (``_masks``) and output (``_cp_masks``) names, ilastik's export.
MASK_SUFFIXES = ("_mask", "_masks", "_cp_masks", "_label", "_labels", "_Simple Segmentation")


def find_mask(image: Path, masks_dir: Path) -> Path | None:
    """The mask file of ``image`` in ``masks_dir``; None when there is none."""
    same = masks_dir / image.name
    if same.is_file() and same.suffix.lower() in MASK_EXTENSIONS:
        return same
    for suffix in ("", *MASK_SUFFIXES):
        for ext in MASK_EXTENSIONS:
            for candidate in (
                masks_dir / f"{image.stem}{suffix}{ext}",
                masks_dir / f"{image.stem}{suffix}{ext.upper()}",
            ):
                if candidate.is_file():
                    return candidate
    return None


def looked_for(image: Path) -> str:
    names = ", ".join(dict.fromkeys([image.name, *(f"{image.stem}{e}" for e in MASK_EXTENSIONS)]))
    return f"{names}, or the stem with {', '.join(MASK_SUFFIXES)}"


def missing_mask_problem(image: Path, masks_dir: Path) -> str:
    """The line for an image without a mask (a lossy one of its stem named as the problem)."""
    names = looked_for(image)
    lossy = [p.name for p in masks_dir.glob(glob.escape(image.stem) + ".*") if p.suffix.lower() in LOSSY]
    if lossy:
        return (
            f"{masks_dir / lossy[0]}: a {lossy[0].rsplit('.', 1)[-1].upper()} mask, whose compression blurs "
            f"the class values along every edge: save the masks as PNG (looked for {names})"
        )
    return f"{image}: no mask in {masks_dir} (looked for {names})"


def none_found(
    images: Sequence[Path], masks_dir: Path, missing: int, looked: str | None = None
) -> list[str] | None:
    """One line instead of one per image when no image has a mask (a naming mismatch, most likely):
    what the folder holds beside what was looked for. None when some image has one."""
    if missing < len(images) or not images:
        return None
    try:
        held = sorted(p.name for p in masks_dir.iterdir() if not p.name.startswith("."))
    except OSError:
        held = []
    if any(Path(name).suffix.lower() in LOSSY for name in held):
        return None  # each image's line says its mask is a JPEG / WebP
    first = images[0]
    looked = looked or looked_for(first)
    holds = f"it holds {', '.join(held[:3])}{' ...' if len(held) > 3 else ''}" if held else "it is empty"
    return [
        f"{masks_dir}: none of the {len(images)} images has a mask here ({holds}); a mask is found by its "
        f"image's name or stem: for {first.name}, {looked}"
    ]
