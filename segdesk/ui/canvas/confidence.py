"""The confidence overlay: where the model is unsure, as one cached image over the picture.

A prediction's confidence (the probability of the chosen class, float HxW) becomes one premultiplied
ARGB QImage that a single scene item draws between the image tiles and the shapes. It is a view of
the last prediction only: nothing here touches the document, so nothing of it is ever saved.

Two ways to show it:

- ``"uncertainty"``: a colour ramp of 1 - confidence, scaled so that 1 means "every class equally
  likely" (confidence 1/K for K classes). Sure pixels stay clear so the image remains readable.
  The ramp is viridis, run towards its light end (yellow) over dark or grey pixels such as EM
  membranes, or towards its dark end (purple) where the unsure pixels are bright, as on photos
  with a white background: the most unsure pixels always stand out.
- ``"below_threshold"``: one flat highlight on the pixels less sure than the proposal threshold,
  i.e. the pixels the threshold turns into background or that are uncertain background.

Its key in the Model dock is ``ui/panels/confidence_legend.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

OverlayMode = Literal["uncertainty", "below_threshold"]
OVERLAY_MODES: tuple[str, ...] = get_args(OverlayMode)
#: The colour of the ramp's unsure end: "light" (yellow) or "dark" (purple).
Ramp = Literal["light", "dark"]
#: Above the image tiles (-1000), below the overview of shapes (-500) and the shapes (>= 0).
OVERLAY_Z = -750.0
#: Larger predictions are shown from a reduced copy: 64 MiB of ARGB at most, whatever the image.
MAX_OVERLAY_PIXELS = 4096 * 4096
#: Normalized uncertainty below this stays transparent (binary: confidence above 0.95).
CLEAR_BELOW = 0.1

# Viridis: ordered in lightness and readable by colour-blind people; none of its colours is close to
# the Labelme label colours. Each ramp starts in its middle (teal) and runs to the end that contrasts
# with the pixels under the unsure areas (see choose_ramp).
_RAMPS: dict[str, np.ndarray] = {
    "light": np.array(
        [(38, 130, 142), (31, 158, 137), (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37)],
        dtype=np.float64,
    ),
    "dark": np.array(
        [(31, 158, 137), (38, 130, 142), (49, 104, 142), (62, 73, 137), (72, 40, 120), (68, 1, 84)],
        dtype=np.float64,
    ),
}
#: Above this mean luminance (0..255) under the unsure pixels, the ramp runs to its dark end.
BRIGHT_BACKGROUND = 150.0
#: Below-threshold pixels: magenta reads on grey, on dark and on light pixels and on most photos.
HIGHLIGHT_RGB = (255, 0, 200)


@dataclass(frozen=True)
class OverlayStyle:
    """How the overlay is drawn; ``threshold`` is the proposals' confidence threshold."""

    visible: bool = False
    mode: OverlayMode = "uncertainty"
    opacity: float = 0.6
    threshold: float = 0.5


def normalized_uncertainty(confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """(1 - confidence) / (1 - 1/K), clipped to 0..1: 0 = certain, 1 = all K classes equally likely."""
    floor = 1.0 / max(int(n_classes), 2)
    u = (1.0 - np.asarray(confidence, dtype=np.float32)) * np.float32(1.0 / (1.0 - floor))
    return np.clip(u, 0.0, 1.0, out=u)


def choose_ramp(background: np.ndarray | None, confidence: np.ndarray, n_classes: int) -> Ramp:
    """The ramp that contrasts with the image where the model is unsure.

    ``background``: the displayed HxWx3 uint8 image (the confidence map's size). Its luminance is
    averaged over a sample of pixels, weighted by their uncertainty.
    """
    if background is None or background.shape[:2] != confidence.shape:
        return "light"
    h, w = confidence.shape
    step = max(1, int(math.sqrt(h * w / 65536)))
    rgb = np.asarray(background[::step, ::step, :3], dtype=np.float32)
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    weight = normalized_uncertainty(confidence[::step, ::step], n_classes)
    total = float(weight.sum())
    mean = float((lum * weight).sum() / total) if total > 1e-6 else float(lum.mean())
    return "dark" if mean > BRIGHT_BACKGROUND else "light"


def ramp_rgba(u: np.ndarray, opacity: float, ramp: Ramp = "light") -> np.ndarray:
    """Straight (not premultiplied) RGBA floats 0..1 of the uncertainty ramp for values ``u`` in 0..1."""
    t = np.clip((np.asarray(u, dtype=np.float64) - CLEAR_BELOW) / (1.0 - CLEAR_BELOW), 0.0, 1.0)
    # sqrt: a clearly unsure pixel (binary confidence 0.75) is already two thirds opaque.
    alpha = float(np.clip(opacity, 0.0, 1.0)) * np.sqrt(t)
    stops = _RAMPS[ramp]
    pos = t * (len(stops) - 1)
    lo = np.minimum(pos.astype(np.int64), len(stops) - 2)
    frac = (pos - lo)[..., None]
    rgb = (stops[lo] * (1.0 - frac) + stops[lo + 1] * frac) / 255.0
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    """uint32 0xAARRGGBB premultiplied values (QImage.Format_ARGB32_Premultiplied) from RGBA floats."""
    a = np.round(rgba[..., 3] * 255.0)
    r, g, b = (np.round(rgba[..., i] * a) for i in range(3))
    parts = [x.astype(np.uint32) for x in (a, r, g, b)]
    return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]


def uncertainty_lut(opacity: float, ramp: Ramp = "light") -> np.ndarray:
    """256 premultiplied ARGB values, indexed by round(normalized uncertainty * 255)."""
    return _premultiplied(ramp_rgba(np.arange(256) / 255.0, opacity, ramp))


def highlight_argb(opacity: float) -> int:
    r, g, b = HIGHLIGHT_RGB
    rgba = np.array([r / 255.0, g / 255.0, b / 255.0, float(np.clip(opacity, 0.0, 1.0))])
    return int(_premultiplied(rgba))


def overlay_argb(
    confidence: np.ndarray,
    n_classes: int,
    style: OverlayStyle,
    *,
    ramp: Ramp = "light",
    levels: np.ndarray | None = None,
) -> np.ndarray:
    """The overlay as an HxW uint32 array of premultiplied ARGB.

    ``levels``: round(normalized uncertainty * 255) as uint8, when the caller keeps it (a new
    opacity then only re-colours).
    """
    if style.mode == "below_threshold":
        unsure = np.asarray(confidence) < np.float32(style.threshold)
        return np.where(unsure, np.uint32(highlight_argb(style.opacity)), np.uint32(0))
    if levels is None:
        levels = uncertainty_levels(confidence, n_classes)
    return uncertainty_lut(style.opacity, ramp)[levels]


def uncertainty_levels(confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """round(normalized uncertainty * 255) as uint8 (saturated): the index into ``uncertainty_lut``."""
    scale = 255.0 / (1.0 - 1.0 / max(int(n_classes), 2))
    conf = np.minimum(np.asarray(confidence, dtype=np.float32), np.float32(1.0))
    # One pass over the pixels: |scale - scale * conf|, rounded and saturated to 0..255.
    return cv2.convertScaleAbs(conf, alpha=-scale, beta=scale)


def argb_to_qimage(argb: np.ndarray, *, copy: bool = True) -> QImage:
    """A QImage (ARGB32_Premultiplied, the raster engine's fastest to draw) of an HxW uint32 array.

    ``copy=False`` shares the array's memory (no 64 MiB copy for a large image): the caller must
    keep the array alive, unchanged, as long as the image.
    """
    arr = np.ascontiguousarray(argb, dtype=np.uint32)
    h, w = arr.shape
    image = QImage(arr.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
    return image.copy() if copy else image


class ConfidenceOverlay(QGraphicsItem):
    """One cached image of the last prediction's confidence, stretched over the image's rectangle.

    Hidden until it has a prediction and its style says visible. A prediction of more than
    ``MAX_OVERLAY_PIXELS`` is shown from an INTER_AREA-reduced copy (``factor`` > 1).
    """

    def __init__(self) -> None:
        super().__init__()
        self._image = QImage()
        self._argb: np.ndarray | None = None  # the pixels self._image shows (shared, not copied)
        self._rect = QRectF()
        self._confidence: np.ndarray | None = None  # the prediction's array, maybe reduced
        self._full: np.ndarray | None = None  # the prediction's own array, for read-outs
        self._levels: np.ndarray | None = None
        self._n_classes = 2
        self.factor = 1
        self.style = OverlayStyle()
        self.ramp: Ramp = "light"
        self._dirty = True
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self.setVisible(False)

    # --- data -----------------------------------------------------------------------------------
    def set_confidence(
        self, confidence: np.ndarray, n_classes: int, *, background: np.ndarray | None = None
    ) -> None:
        """Show ``confidence`` (HxW, the image's size) of a K-class prediction; kept by reference.

        ``background``: the displayed image, to pick the ramp that contrasts with it.
        """
        if confidence.ndim != 2 or not confidence.size:
            raise ValueError(f"expected an HxW confidence map, got shape {confidence.shape}")
        if confidence is self._full and int(n_classes) == self._n_classes:
            return
        self.ramp = choose_ramp(background, confidence, n_classes)
        h, w = confidence.shape
        self.factor = max(1, math.ceil(math.sqrt(h * w / MAX_OVERLAY_PIXELS)))
        self.prepareGeometryChange()
        self._rect = QRectF(0, 0, w, h)
        self._full, self._n_classes = confidence, int(n_classes)
        self._confidence = self._levels = None
        self._dirty = True
        self._sync()

    def _shown_confidence(self) -> np.ndarray | None:
        """The map the overlay draws: the prediction's own, or its reduced copy (made once, on demand)."""
        if self._confidence is None and self._full is not None:
            full = self._full
            if self.factor > 1:
                h, w = full.shape
                size = (max(1, math.ceil(w / self.factor)), max(1, math.ceil(h / self.factor)))
                full = cv2.resize(np.asarray(full, np.float32), size, interpolation=cv2.INTER_AREA)
            self._confidence = full
        return self._confidence

    def clear(self) -> None:
        """Forget the prediction (another image opened): nothing is drawn, the memory is freed."""
        if self._full is None and self._image.isNull():
            return
        self.prepareGeometryChange()
        self._image, self._rect = QImage(), QRectF()
        self._argb = self._confidence = self._full = self._levels = None
        self.factor, self._dirty = 1, True
        self.setVisible(False)

    def has_confidence(self) -> bool:
        return self._full is not None

    def set_style(self, style: OverlayStyle) -> None:
        """Re-colour for a new mode, opacity or threshold (the prediction is not needed again)."""
        old, self.style = self.style, style
        if (old.mode, old.opacity) != (style.mode, style.opacity) or (
            style.mode == "below_threshold" and old.threshold != style.threshold
        ):
            self._dirty = True
        self._sync()

    def _sync(self) -> None:
        # Rendered lazily: while the overlay is off, new predictions and style changes cost nothing.
        wanted = self.style.visible and self._full is not None
        conf = self._shown_confidence() if wanted and self._dirty else None
        if conf is not None:
            if self.style.mode == "uncertainty" and self._levels is None:
                self._levels = uncertainty_levels(conf, self._n_classes)
            argb = overlay_argb(conf, self._n_classes, self.style, ramp=self.ramp, levels=self._levels)
            argb = np.ascontiguousarray(argb)
            self._image, self._argb = argb_to_qimage(argb, copy=False), argb  # the image shares argb
            self._dirty = False
            self.update()
        self.setVisible(wanted)

    # --- read-outs ------------------------------------------------------------------------------
    def image(self) -> QImage:
        """The cached overlay image (null when there is no prediction)."""
        return self._image

    def confidence_at(self, x: float, y: float) -> float | None:
        """The confidence under image position (x, y), or None outside the image or without one."""
        full = self._full
        col, row = int(math.floor(x)), int(math.floor(y))
        if full is None or not (0 <= row < full.shape[0] and 0 <= col < full.shape[1]):
            return None
        return float(full[row, col])

    @property
    def n_classes(self) -> int:
        return self._n_classes

    def unsure_fraction(self, threshold: float) -> float | None:
        """Share of the image's pixels less sure than ``threshold`` (None without a prediction)."""
        conf = self._shown_confidence()
        return None if conf is None else float(np.count_nonzero(conf < threshold)) / conf.size

    # --- QGraphicsItem --------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._image.isNull():
            return
        # Zoomed in, one overlay pixel is a crisp block (as the image's own pixels); zoomed out
        # it is smoothed so that thin unsure bands do not flicker while panning.
        shown = painter.worldTransform().m11() * self.factor
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, shown < 1.0)
        painter.drawImage(self._rect, self._image)


#: The uncertainty view's summary counts pixels less sure than this.
SUMMARY_CONFIDENCE = 0.9


def overlay_summary(overlay: ConfidenceOverlay, style: OverlayStyle) -> str:
    """One line about the overlay's prediction for the panel, e.g. "12.5% of the image is less than 90% sure"."""
    if not overlay.has_confidence():
        return "No prediction for this image yet"
    level = style.threshold if style.mode == "below_threshold" else SUMMARY_CONFIDENCE
    if style.mode == "below_threshold" and level <= 1.0 / max(overlay.n_classes, 2) + 1e-6:
        # A K-class prediction is always at least 1/K sure: say so rather than show an empty overlay.
        return (
            f"A {overlay.n_classes}-class model is always at least {1 / max(overlay.n_classes, 2):.0%} sure: "
            "raise the confidence threshold to see the pixels it drops"
        )
    fraction = overlay.unsure_fraction(level) or 0.0
    return f"{fraction:.1%} of the image is less than {level:.0%} sure"


__all__ = [
    "MAX_OVERLAY_PIXELS",
    "OVERLAY_MODES",
    "OVERLAY_Z",
    "ConfidenceOverlay",
    "OverlayMode",
    "OverlayStyle",
    "Ramp",
    "argb_to_qimage",
    "choose_ramp",
    "normalized_uncertainty",
    "overlay_argb",
    "overlay_summary",
    "ramp_rgba",
    "uncertainty_levels",
    "uncertainty_lut",
]
