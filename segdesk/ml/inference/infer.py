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
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, ModelError, SegdeskError
from segdesk.ml.checkpoint_file import checkpoint_version_name, model_version_of, read_meta
from segdesk.ml.device import cpu_without_torch, pick_device
from segdesk.ml.inference.onnx_backend import (
    Backend,
    OnnxBackend,
    export_is_current,
    meta_problem,
    onnx_path_for,
)
from segdesk.ml.inference.tiling import (
    BandAccumulator,
    Prediction,
    ramp_window,
    tile_positions,
)
from segdesk.ml.normalize import (
    NORMALIZATION,
    ValueRange,
    check_normalization,
    intensity_range,
    prepare_image,
    white_balance_of,
)
from segdesk.ml.rescale import is_native, resize_image, upsample_prediction, working_scale

if TYPE_CHECKING:
    import torch

    from segdesk.ml.model import UNet

BackendName = Literal["auto", "torch", "onnx"]
ProgressFn = Callable[[int, int], None]

#: The CPU backend used by ``backend="auto"`` when an ONNX file is at hand (see docs/benchmarks.md).
CPU_DEFAULT_BACKEND: Literal["torch", "onnx"] = "onnx"

#: At most ten progress reports a second (and always the last one), so a GUI is not flooded.
PROGRESS_INTERVAL_S = 0.1

#: The keyword arguments of ``Predictor(...)`` (``from_checkpoint`` passes them on).
_OPTIONS = frozenset(
    {
        "device",
        "tile",
        "overlap",
        "batch_size",
        "backend",
        "onnx_path",
        "amp",
        "tta",
        "threads",
        "low_confidence",
    }
)


def whole_image_range(image: np.ndarray, *, white_balance: bool = True) -> ValueRange:
    """``normalize.intensity_range(image)`` without its full-size RGB copy of a huge grey image.

    ``intensity_range`` samples every ``step``-th row and column after converting to RGB; striding
    first gives the same sample (channel conversion and striding commute) at a fraction of the memory.
    """
    h, w = image.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w / NORMALIZATION["max_stat_pixels"])))
    sub = image[::step, ::step]
    if math.ceil(math.sqrt(sub.shape[0] * sub.shape[1] / NORMALIZATION["max_stat_pixels"])) <= 1:
        return intensity_range(sub, white_balance=white_balance)
    return intensity_range(image, white_balance=white_balance)


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

    ``from_onnx`` and (on a CPU) ``from_checkpoint`` make predictors that run onnxruntime without
    ever importing torch; ``device_type`` is then ``"cpu"`` and ``device`` builds the torch device
    only when asked for.
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
        cfg = model.config
        self._setup(
            meta, cfg.num_classes, cfg.multiple, tile=tile, overlap=overlap, low_confidence=low_confidence
        )
        self._device: torch.device | None = pick_device(device)
        self.device_type: str = self._device.type
        self.batch_size = batch_size or (1 if self.device_type == "cpu" else 4)
        self.backend = self._make_backend(model, backend, onnx_path, amp=amp, tta=tta, threads=threads)

    def _setup(
        self,
        meta: dict[str, Any] | None,
        num_classes: int,
        multiple: int,
        *,
        tile: int,
        overlap: float,
        low_confidence: float,
    ) -> None:
        """What every predictor holds, whichever backend runs it."""
        meta = dict(meta or {})
        self.meta = meta
        self.class_names = [str(c) for c in meta.get("classes") or [str(i) for i in range(num_classes)]]
        if len(self.class_names) != num_classes:
            raise ModelError(
                None, "meta.classes", f"{len(self.class_names)} class names for a {num_classes}-class model"
            )
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        self.model_version = model_version_of(meta)
        # a model of an earlier segdesk was trained without the white balance: predict as it was trained
        self.white_balance = white_balance_of(meta.get("normalization"))
        self.multiple = multiple
        self.tile = max(self.multiple, int(tile) // self.multiple * self.multiple)
        self.overlap = overlap
        self.low_confidence = low_confidence
        # The plan's working scale (``rescale``): images are predicted there, outputs come back full size.
        self.scale = working_scale(meta)

    @property
    def device(self) -> torch.device:
        """The torch device; an onnxruntime-only predictor builds it (importing torch) on first use."""
        if self._device is None:
            import torch

            self._device = torch.device(self.device_type)
        return self._device

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
            cpu_onnx = self.device_type == "cpu" and CPU_DEFAULT_BACKEND == "onnx" and onnx_path is not None
            backend = "onnx" if cpu_onnx and not tta else "torch"
        if backend == "torch":
            from segdesk.ml.inference.backends import TorchBackend

            return TorchBackend(model, self.device, amp=amp, tta=tta)
        if backend == "onnx":
            if self.device_type != "cpu":
                raise ModelError(None, "backend", f"the onnx backend runs on the CPU, not {self.device}")
            if tta:
                raise ModelError(None, "backend", "test-time augmentation needs the torch backend")
            if onnx_path is None:
                from segdesk.ml.inference.export import export_bytes

                return OnnxBackend(export_bytes(model, self.meta), threads=threads)
            return OnnxBackend(onnx_path, threads=threads)
        raise ValueError(f"backend must be auto, torch or onnx, got {backend!r}")

    @classmethod
    def from_onnx(
        cls,
        source: str | Path | OnnxBackend,
        meta: dict[str, Any] | None = None,
        *,
        tile: int = 512,
        overlap: float = 0.25,
        batch_size: int | None = None,
        threads: int | None = None,
        low_confidence: float = 0.7,
    ) -> Predictor:
        """A CPU predictor running an ONNX export with onnxruntime; neither torch nor a UNet is loaded.

        ``meta`` defaults to the export's own metadata (classes; model version, else the name of a
        ``v<N>`` folder holding the file); its normalization, when recorded, must be this segdesk's
        (else ModelError).
        """
        onnx = source if isinstance(source, OnnxBackend) else OnnxBackend(source, threads=threads)
        if meta is None:
            version = onnx.metadata.get("model_version")
            if not version and onnx.source is not None:  # as from_checkpoint: the version folder's name
                version = checkpoint_version_name(onnx.source)
            meta = {**onnx.metadata, "version": version}
            if meta.get("normalization") is not None:
                check_normalization(meta["normalization"], source=onnx.source)
        self = cls.__new__(cls)
        self._setup(
            meta, onnx.num_classes, onnx.multiple, tile=tile, overlap=overlap, low_confidence=low_confidence
        )
        self._device, self.device_type = None, "cpu"
        self.batch_size = batch_size or 1
        self.backend = onnx
        return self

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, build_onnx: bool = True, **kwargs: Any) -> Predictor:
        """Load a checkpoint (``checkpoint.load_checkpoint``) and make its predictor (``kwargs``: see
        the class). On the CPU with backend ``auto`` or ``onnx`` the ONNX export cached beside the
        checkpoint is used, and built (tens of seconds for the default model) when missing or stale.
        With ``build_onnx=False`` and backend ``auto``, a missing export means torch instead: a GUI
        can then build it in the background (``export.cached_onnx``) and pick it up next time.

        When the CPU is known to be the device without asking torch (``device.cpu_without_torch``)
        and the export is current, torch is never imported: a GUI's worker thread would otherwise
        hold the GIL for the 150-300 ms of ``import torch`` and freeze the window."""
        fast = cls._from_current_export(path, kwargs)
        if fast is not None:
            return fast
        from segdesk.ml.checkpoint import load_checkpoint

        model, meta = load_checkpoint(path)
        meta = dict(meta)
        if not model_version_of(meta):
            meta["version"] = checkpoint_version_name(path)
        backend = kwargs.get("backend", "auto")
        device = pick_device(kwargs.get("device", "auto"))
        wants_onnx = backend == "onnx" or (backend == "auto" and CPU_DEFAULT_BACKEND == "onnx")
        if device.type == "cpu" and wants_onnx and not kwargs.get("tta") and kwargs.get("onnx_path") is None:
            from segdesk.ml.inference.export import cached_onnx

            try:
                build = build_onnx or backend == "onnx"
                kwargs["onnx_path"] = cached_onnx(path, model=model, meta=meta, build=build)
            except SegdeskError:
                if backend == "onnx":
                    raise
                # auto: a read-only model folder or a failed export falls back to torch, quietly.
        return cls(model, meta, **kwargs)

    @classmethod
    def _from_current_export(cls, path: str | Path, kwargs: dict[str, Any]) -> Predictor | None:
        """The torch-free predictor when the CPU runs a current export, else None (take the full load).

        Anything unusual (a damaged checkpoint or export, a stale export, an unknown option) gives
        None, so the full load reports it exactly as before.
        """
        backend = kwargs.get("backend", "auto")
        wants_onnx = backend == "onnx" or (backend == "auto" and CPU_DEFAULT_BACKEND == "onnx")
        if (
            not wants_onnx
            or kwargs.get("tta")
            or kwargs.get("onnx_path") is not None
            or set(kwargs) - _OPTIONS
        ):
            return None
        target = onnx_path_for(path)
        if not target.is_file() or not cpu_without_torch(kwargs.get("device", "auto")):
            return None
        try:
            meta = read_meta(path)
            if meta_problem(meta) is not None:
                return None
            onnx = OnnxBackend(target, threads=kwargs.get("threads"))
        except ModelError:
            return None
        if not export_is_current(onnx.metadata, path, meta.get("classes")):
            return None
        if not model_version_of(meta):
            meta["version"] = checkpoint_version_name(path)
        options = {k: kwargs[k] for k in ("tile", "overlap", "batch_size", "low_confidence") if k in kwargs}
        return cls.from_onnx(onnx, meta, **options)

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
        if not is_native(self.scale):
            h, w = img.shape[:2]
            small = self._predict_here(resize_image(img, self.scale), cancel, progress, True, start)
            return upsample_prediction(
                small, h, w, low_confidence=self.low_confidence, keep=return_probabilities
            )
        return self._predict_here(img, cancel, progress, return_probabilities, start)

    def _predict_here(
        self,
        img: np.ndarray,
        cancel: CancelToken | None,
        progress: ProgressFn | None,
        return_probabilities: bool,
        start: float,
    ) -> Prediction:
        """Predict ``img`` at its own size."""
        h, w = img.shape[:2]
        # once for the whole image, so tiles match it
        value_range = whole_image_range(img, white_balance=self.white_balance)
        acc = BandAccumulator(
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
        value_range: ValueRange,
        acc: BandAccumulator,
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


__all__ = ["PROGRESS_INTERVAL_S", "Predictor", "whole_image_range"]
