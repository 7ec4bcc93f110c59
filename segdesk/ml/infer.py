"""Prediction: a class map, a confidence map and an uncertainty score for any image, in bounded memory.

Images no larger than a tile go through the network whole. Larger images are cut into overlapping
tiles on a regular grid (the last tile of a row/column is flush with the border); each tile's softmax
probabilities are weighted by a window that ramps linearly from ~0 to 1 over the overlap (only on
sides where a neighbouring tile overlaps) and the weighted sum is divided by the summed weights.

Memory bound. Tiles are processed one tile row (a horizontal band) at a time. The full-size arrays
are the input image (the caller's) and the outputs (class map: 1 or 2 bytes per pixel; confidence:
4; probabilities only when asked for: 2 x C). The running sums live in a float32 band of
``C x tile x W`` plus a ``tile x W`` weight band, and rows become class / confidence / entropy as soon
as no later tile touches them, 64 rows at a time. See :func:`working_memory_bytes`: for a
20000 x 20000 RGB image, 2 classes, tile 512, that is ~160 MB (plus at most ~100 MB for the
intensity statistics and the network's activations for one batch of tiles), next to the 1.2 GB
input and 2.0 GB of outputs.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from segdesk.core.document import Document
from segdesk.core.errors import Cancelled, ModelError, SegdeskError
from segdesk.core.postprocess import PostprocessConfig, postprocess
from segdesk.core.shapes import Shape
from segdesk.ml.backends import Backend, TorchBackend, softmax_np
from segdesk.ml.data import NORMALIZATION, intensity_range, prepare_image
from segdesk.ml.device import pick_device
from segdesk.ml.model import UNet

BackendName = Literal["auto", "torch", "onnx"]
ProgressFn = Callable[[int, int], None]

#: The CPU backend used by ``backend="auto"`` when an ONNX file is at hand (see docs/benchmarks.md).
CPU_DEFAULT_BACKEND: Literal["torch", "onnx"] = "onnx"

#: At most ten progress reports a second (and always the last one), so a GUI is not flooded.
PROGRESS_INTERVAL_S = 0.1

#: Rows turned into outputs per step, bounding the scratch memory of that step.
FINISH_ROWS = 64


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class Prediction:
    """The result for one image.

    ``confidence`` is the max softmax probability per pixel; ``mean_entropy`` the per-pixel entropy
    divided by log(C) (0 = certain, 1 = uniform) averaged over the image; ``low_confidence_fraction``
    the fraction of pixels whose confidence is below the predictor's threshold. Either serves active
    learning: correct the images the model is least sure about first.
    """

    class_map: np.ndarray
    confidence: np.ndarray
    class_names: list[str]
    mean_entropy: float
    low_confidence_fraction: float
    probabilities: np.ndarray | None = None
    model_version: str | None = None
    tiles: int = 1
    elapsed_s: float = 0.0
    backend: str = "torch"

    @property
    def uncertainty(self) -> float:
        """The active-learning score (mean normalized entropy)."""
        return self.mean_entropy

    @property
    def mean_confidence(self) -> float:
        return float(self.confidence.mean()) if self.confidence.size else 0.0


def tile_positions(size: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering ``size`` with windows of ``tile``; the last one is flush with the end."""
    if size <= tile:
        return [0]
    pos = list(range(0, size - tile + 1, stride))
    if pos[-1] != size - tile:
        pos.append(size - tile)
    return pos


def ramp_window(length: int, ramp: int, *, left: bool, right: bool) -> np.ndarray:
    """1-D blending weights: 1 inside, a linear ramp over ``ramp`` pixels on the overlapped sides."""
    w = np.ones(length, dtype=np.float32)
    if ramp <= 0:
        return w
    r = (np.arange(length, dtype=np.float32) + 0.5) / ramp
    if left:
        w = np.minimum(w, r)
    if right:
        w = np.minimum(w, r[::-1])
    return np.maximum(w, np.float32(1e-3))


def working_memory_bytes(width: int, num_classes: int, tile: int, batch_size: int = 1) -> int:
    """The predictor's own float32 buffers beyond input and outputs (activations not included).

    Band accumulator ``C x tile x W`` + weights ``tile x W``; scratch to finish rows, ``FINISH_ROWS``
    at a time (probabilities, their logarithm, confidence, entropy); one batch of input tiles and
    output probabilities. The intensity statistics add at most ~100 MB (a 1-megapixel sample).
    """
    band = (num_classes + 1) * tile * width * 4
    finish = (2 * num_classes + 3) * min(FINISH_ROWS, tile) * width * 4
    batch = batch_size * (3 + 2 * num_classes) * tile * tile * 4
    return band + finish + batch


def whole_image_range(image: np.ndarray) -> tuple[float, float]:
    """``data.intensity_range(image)`` without its full-size RGB copy of a huge grey image.

    ``intensity_range`` samples every ``step``-th row and column after converting to RGB; striding
    first gives the same sample (channel conversion and striding commute) at a fraction of the memory.
    """
    h, w = image.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w / NORMALIZATION["max_stat_pixels"])))
    sub = image[::step, ::step]
    if math.ceil(math.sqrt(sub.shape[0] * sub.shape[1] / NORMALIZATION["max_stat_pixels"])) <= 1:
        return intensity_range(sub)
    return intensity_range(image)


def checkpoint_version_name(path: str | Path) -> str:
    """``v3`` for ``.../models/v3/model.safetensors`` or ``.../models/v3``; else the file's stem."""
    p = Path(path)
    if p.is_dir() or p.suffix == "":
        return p.name
    return p.parent.name if re.fullmatch(r"v\d+", p.parent.name) else p.stem


def class_map_dtype(num_classes: int) -> np.dtype:
    return np.dtype(np.uint8) if num_classes <= 256 else np.dtype(np.uint16)


def model_version_of(meta: dict[str, Any]) -> str | None:
    for key in ("version", "model_version"):
        if meta.get(key):
            return str(meta[key])
    return None


class Predictor:
    """Runs a segmentation model on whole images of any size, dtype and channel count.

    Args:
        model: the UNet (the predictor runs its own copy: the caller's model is not changed).
        meta: the checkpoint metadata (``classes``, optional ``version``).
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` (``device.pick_device``).
        tile: tile side in pixels (rounded down to a multiple of the model's 2**depth).
        overlap: fraction of a tile shared with its neighbour (0 <= overlap < 1).
        batch_size: tiles per forward pass (default 1 on the CPU, 4 on a GPU).
        backend: ``torch``, ``onnx`` (onnxruntime on the CPU; needs ``onnx_path`` or exports in
            memory), or ``auto`` (torch on a GPU; on the CPU ``CPU_DEFAULT_BACKEND`` when an
            ``onnx_path`` is given, else torch).
        low_confidence: the threshold for ``Prediction.low_confidence_fraction``.
    """

    def __init__(
        self,
        model: UNet,
        meta: dict[str, Any] | None = None,
        *,
        device: str | torch.device = "auto",
        tile: int = 512,
        overlap: float = 0.25,
        batch_size: int | None = None,
        backend: BackendName = "auto",
        onnx_path: str | Path | None = None,
        amp: bool = True,
        tta: bool = False,
        threads: int | None = None,
        low_confidence: float = 0.7,
    ) -> None:
        meta = dict(meta or {})
        self.meta = meta
        cfg = model.config
        self.class_names = [str(c) for c in meta.get("classes") or [str(i) for i in range(cfg.num_classes)]]
        if len(self.class_names) != cfg.num_classes:
            raise ModelError(
                None,
                "meta.classes",
                f"{len(self.class_names)} class names for a {cfg.num_classes}-class model",
            )
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        self.model_version = model_version_of(meta)
        self.device = pick_device(device)
        self.multiple = cfg.multiple
        self.tile = max(self.multiple, int(tile) // self.multiple * self.multiple)
        self.overlap = overlap
        self.batch_size = batch_size or (1 if self.device.type == "cpu" else 4)
        self.low_confidence = low_confidence
        self.backend = self._make_backend(model, backend, onnx_path, amp=amp, tta=tta, threads=threads)

    def _make_backend(
        self,
        model: UNet,
        backend: BackendName,
        onnx_path: str | Path | None,
        *,
        amp: bool,
        tta: bool,
        threads: int | None,
    ) -> Backend:
        if backend == "auto":
            cpu_onnx = self.device.type == "cpu" and CPU_DEFAULT_BACKEND == "onnx" and onnx_path is not None
            backend = "onnx" if cpu_onnx and not tta else "torch"
        if backend == "torch":
            return TorchBackend(model, self.device, amp=amp, tta=tta)
        if backend == "onnx":
            if self.device.type != "cpu":
                raise ModelError(None, "backend", f"the onnx backend runs on the CPU, not {self.device}")
            if tta:
                raise ModelError(None, "backend", "test-time augmentation needs the torch backend")
            from segdesk.ml.export import OnnxBackend

            if onnx_path is None:
                return OnnxBackend.from_model(model, self.meta, threads=threads)
            return OnnxBackend(onnx_path, threads=threads)
        raise ValueError(f"backend must be auto, torch or onnx, got {backend!r}")

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, build_onnx: bool = True, **kwargs: Any) -> Predictor:
        """Load a checkpoint (``checkpoint.load_checkpoint``) and make its predictor (``kwargs``: see
        the class). On the CPU with backend ``auto`` or ``onnx`` the ONNX export cached beside the
        checkpoint is used, and built (tens of seconds for the default model) when missing or stale.
        With ``build_onnx=False`` and backend ``auto``, a missing export means torch instead: a GUI
        can then build it in the background (``export.cached_onnx``) and pick it up next time."""
        from segdesk.ml.checkpoint import load_checkpoint

        model, meta = load_checkpoint(path)
        meta = dict(meta)
        if not model_version_of(meta):
            meta["version"] = checkpoint_version_name(path)
        backend = kwargs.get("backend", "auto")
        device = pick_device(kwargs.get("device", "auto"))
        wants_onnx = backend == "onnx" or (backend == "auto" and CPU_DEFAULT_BACKEND == "onnx")
        if device.type == "cpu" and wants_onnx and not kwargs.get("tta") and kwargs.get("onnx_path") is None:
            from segdesk.ml.export import cached_onnx

            try:
                build = build_onnx or backend == "onnx"
                kwargs["onnx_path"] = cached_onnx(path, model=model, meta=meta, build=build)
            except SegdeskError:
                if backend == "onnx":
                    raise
                # auto: a read-only model folder or a failed export falls back to torch, quietly.
        return cls(model, meta, **kwargs)

    # --- prediction -------------------------------------------------------------------------------
    def predict(
        self,
        image: np.ndarray,
        *,
        cancel: CancelToken | None = None,
        progress: ProgressFn | None = None,
        return_probabilities: bool = False,
    ) -> Prediction:
        """Predict one image (HxW or HxWxC, any dtype).

        Raises:
            Cancelled: ``cancel.is_set()`` became true (checked before every batch of tiles).
        """
        start = time.perf_counter()
        img = np.asarray(image)
        if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
            raise ValueError(f"expected an HxW or HxWxC image, got shape {img.shape}")
        h, w = img.shape[:2]
        value_range = whole_image_range(img)  # once for the whole image, so tiles match it
        acc = _BandAccumulator(
            h,
            w,
            self.backend.num_classes,
            min(self.tile, h),
            probabilities=return_probabilities,
            low_confidence=self.low_confidence,
        )
        tiles = self._run_tiles(img, value_range, acc, cancel=cancel, progress=progress)
        return acc.result(
            self.class_names,
            model_version=self.model_version,
            tiles=tiles,
            elapsed_s=time.perf_counter() - start,
            backend=self.backend.name,
        )

    def _run_tiles(
        self,
        img: np.ndarray,
        value_range: tuple[float, float],
        acc: _BandAccumulator,
        *,
        cancel: CancelToken | None,
        progress: ProgressFn | None,
    ) -> int:
        h, w = img.shape[:2]
        th, tw = min(self.tile, h), min(self.tile, w)
        stride = max(1, round(self.tile * (1.0 - self.overlap)))
        ramp = self.tile - stride
        ys, xs = tile_positions(h, th, stride), tile_positions(w, tw, stride)
        total, done, reported = len(ys) * len(xs), 0, 0.0
        wx = [ramp_window(tw, ramp, left=i > 0, right=i < len(xs) - 1) for i in range(len(xs))]
        for row, y0 in enumerate(ys):
            wy = ramp_window(th, ramp, left=row > 0, right=row < len(ys) - 1)
            acc.start_row(y0)
            for b0 in range(0, len(xs), self.batch_size):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("prediction cancelled")
                cols = range(b0, min(b0 + self.batch_size, len(xs)))
                batch = np.stack(
                    [prepare_image(img[y0 : y0 + th, xs[i] : xs[i] + tw], value_range) for i in cols]
                )
                probs = self.backend(batch)
                for k, i in enumerate(cols):
                    acc.add(probs[k], xs[i], wy[:, None] * wx[i][None, :])
                done += len(cols)
                now = time.perf_counter()
                if progress is not None and (done == total or now - reported >= PROGRESS_INTERVAL_S):
                    reported = now
                    progress(done, total)
            acc.finish_rows(ys[row + 1] if row + 1 < len(ys) else h)
        return total


class _BandAccumulator:
    """Weighted sums for the rows ``[base, base + tile)``; finished rows become outputs at once."""

    def __init__(
        self,
        height: int,
        width: int,
        num_classes: int,
        tile: int,
        *,
        probabilities: bool,
        low_confidence: float,
    ) -> None:
        self.h, self.w, self.c, self.tile = height, width, num_classes, tile
        self.sum = np.zeros((num_classes, tile, width), dtype=np.float32)
        self.weight = np.zeros((tile, width), dtype=np.float32)
        self.base = 0
        self.class_map = np.empty((height, width), dtype=class_map_dtype(num_classes))
        self.confidence = np.empty((height, width), dtype=np.float32)
        self.probabilities = (
            np.empty((num_classes, height, width), dtype=np.float16) if probabilities else None
        )
        self.low_confidence = low_confidence
        self.entropy_sum = 0.0
        self.low_count = 0

    def start_row(self, y0: int) -> None:
        shift = y0 - self.base
        if shift:  # rows above y0 were finished; slide the band up by ``shift`` rows
            keep = max(self.tile - shift, 0)
            # Blocks of at most ``shift`` rows never overlap their destination, so no band-sized
            # temporary copy is made (per channel: each channel's rows are one memory block).
            for i in range(0, keep, shift):
                j = min(i + shift, keep)
                for c in range(self.c):
                    self.sum[c, i:j] = self.sum[c, i + shift : j + shift]
                self.weight[i:j] = self.weight[i + shift : j + shift]
            self.sum[:, keep:] = 0
            self.weight[keep:] = 0
            self.base = y0

    def add(self, probs: np.ndarray, x0: int, weights: np.ndarray) -> None:
        th, tw = weights.shape
        self.sum[:, :th, x0 : x0 + tw] += probs * weights
        self.weight[:th, x0 : x0 + tw] += weights

    def finish_rows(self, end: int) -> None:
        """Rows ``[base, end)`` get no more tiles: argmax, confidence, entropy (in small chunks)."""
        for r0 in range(0, end - self.base, FINISH_ROWS):
            r1 = min(r0 + FINISH_ROWS, end - self.base)
            p = self.sum[:, r0:r1] / self.weight[None, r0:r1]
            rows = slice(self.base + r0, self.base + r1)
            self.class_map[rows] = p.argmax(0)
            conf = p.max(0)
            self.confidence[rows] = conf
            if self.probabilities is not None:
                self.probabilities[:, rows] = p
            self.low_count += int(np.count_nonzero(conf < self.low_confidence))
            if self.c > 1:
                np.clip(p, 1e-12, None, out=p)
                ent = (p * np.log(p)).sum(0)
                self.entropy_sum -= float(ent.sum(dtype=np.float64)) / math.log(self.c)

    def result(self, class_names: Sequence[str], **kwargs: Any) -> Prediction:
        n = max(self.h * self.w, 1)
        return Prediction(
            class_map=self.class_map,
            confidence=self.confidence,
            class_names=list(class_names),
            mean_entropy=self.entropy_sum / n,
            low_confidence_fraction=self.low_count / n,
            probabilities=self.probabilities,
            **kwargs,
        )


# --- proposals ------------------------------------------------------------------------------------


@dataclass
class Proposals:
    """Shapes proposed for one image, with the post-processed class map they were drawn from."""

    shapes: list[Shape]
    class_map: np.ndarray
    prediction: Prediction

    def rasterized(self) -> np.ndarray:
        """The class map exactly as the proposals draw it (what ``--masks-out`` writes)."""
        from segdesk.core.rasterize import shapes_to_label

        values = {name: i for i, name in enumerate(self.prediction.class_names)}
        cls, _ = shapes_to_label(self.class_map.shape, self.shapes, values)
        return cls.astype(self.class_map.dtype)


def propose(
    predictor: Predictor,
    image: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    post: PostprocessConfig | None = None,
    tolerance: float = 1.0,
    cancel: CancelToken | None = None,
    progress: ProgressFn | None = None,
) -> Proposals:
    """Predict, post-process and vectorize one image into proposal shapes.

    Every shape carries ``extra = {"source": "model", "proposal": True, "model_version": ...,
    "confidence": <mean confidence inside the shape>}``. ``class_names`` renames the model's classes
    (same count and order); class 0 is background and makes no shapes.
    """
    from segdesk.core.vectorize import class_map_to_shapes

    post = post or PostprocessConfig()
    names = list(class_names) if class_names is not None else predictor.class_names
    if len(names) != len(predictor.class_names):
        raise ModelError(
            None,
            "classes",
            f"{len(names)} class names given for a model of {len(predictor.class_names)} classes",
        )
    pred = predictor.predict(image, cancel=cancel, progress=progress)
    pred.class_names = names
    cleaned = postprocess(pred.class_map, post)
    provenance = {"source": "model", "proposal": True, "model_version": predictor.model_version}
    shapes = class_map_to_shapes(
        cleaned,
        names,
        tolerance=tolerance,
        min_area=max(post.min_area, 1),
        background=post.background,
        ignore_value=None,
        confidence=pred.confidence,
        provenance=provenance,
    )
    return Proposals(shapes=shapes, class_map=cleaned, prediction=pred)


def document_image(document: Document) -> np.ndarray:
    """The pixels of a document's image: the file beside its JSON, else the embedded imageData."""
    from segdesk.core.labelme_io import load_image_for

    return load_image_for(document).data


def predict_document(
    predictor: Predictor,
    document_or_image: Document | np.ndarray,
    class_names: Sequence[str] | None = None,
    *,
    post: PostprocessConfig | None = None,
    tolerance: float = 1.0,
    cancel: CancelToken | None = None,
    progress: ProgressFn | None = None,
) -> list[Shape]:
    """Proposal shapes for a document (its image is read) or an image array. See :func:`propose`."""
    if isinstance(document_or_image, Document):
        image = document_image(document_or_image)
    else:
        image = np.asarray(document_or_image)
    result = propose(
        predictor,
        image,
        class_names=class_names,
        post=post,
        tolerance=tolerance,
        cancel=cancel,
        progress=progress,
    )
    return result.shapes


__all__ = [
    "Backend",
    "Prediction",
    "Predictor",
    "Proposals",
    "document_image",
    "predict_document",
    "propose",
    "TorchBackend",
    "class_map_dtype",
    "ramp_window",
    "softmax_np",
    "tile_positions",
    "working_memory_bytes",
]
