"""The onnxruntime inference backend and what a CPU predictor needs around it, all WITHOUT torch.

A first ``import torch`` holds the GIL for 150-300 ms, which freezes a GUI whose worker thread does
it. On the CPU, segdesk predicts with onnxruntime on the export that training leaves beside each
checkpoint (``export.cached_onnx``), so this module, ``normalize``, ``checkpoint_file`` and
``infer`` import only numpy, onnxruntime and segdesk.core; torch loads only when the torch backend,
a GPU, test-time augmentation or an export is wanted. ``segdesk.ml.inference.export`` re-exports the names
here (``OnnxBackend``, ``read_metadata``, ``onnx_path_for``); ``segdesk.ml.inference.backends`` re-exports
``Backend`` and ``softmax_np``.

An export takes float32 ``image`` (N, 3, H, W) of any height and width, normalized by
``normalize.prepare_image``, and returns float32 ``logits`` (N, C, H, W); its ``segdesk.*`` metadata
(JSON strings) describe it, see ``segdesk.ml.inference.export``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

import segdesk
from segdesk.core.errors import ModelError
from segdesk.ml.checkpoint_file import weights_fingerprint_of_file

if TYPE_CHECKING:
    from segdesk.ml.model import UNetConfig

ONNX_NAME = "model.onnx"


class Backend(Protocol):
    """Runs the network: float32 (N, 3, h, w) normalized input -> float32 (N, C, h, w) probabilities."""

    name: str
    num_classes: int

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


def softmax_np(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """A numerically stable float32 softmax."""
    z = logits - logits.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def onnx_path_for(checkpoint: str | Path) -> Path:
    """Where the cached export of a checkpoint lives: ``model.onnx`` in its folder, or beside the file."""
    p = Path(checkpoint)
    return p / ONNX_NAME if p.is_dir() else p.with_suffix(".onnx")


def _loads(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def read_metadata(path_or_bytes: str | Path | bytes) -> dict[str, Any]:
    """The ``segdesk.*`` metadata of an ONNX file, JSON-decoded, without the ``segdesk.`` prefix."""
    import onnx

    try:
        proto = (
            onnx.load_model_from_string(path_or_bytes)
            if isinstance(path_or_bytes, bytes)
            else onnx.load(str(path_or_bytes))
        )
    except Exception as exc:
        raise ModelError(None if isinstance(path_or_bytes, bytes) else path_or_bytes, None, str(exc)) from exc
    return {
        prop.key[len("segdesk.") :]: _loads(prop.value)
        for prop in proto.metadata_props
        if prop.key.startswith("segdesk.")
    }


def _graph_shape(config: Any, source: str | None) -> tuple[int, int]:
    """(classes, padding multiple) of an export's UNet config, checked as ``UNetConfig.from_dict`` does."""
    if not isinstance(config, dict):
        raise ModelError(source, "config", f"expected an object, got {type(config).__name__}")
    if config.get("arch", "unet") != "unet":
        raise ModelError(source, "config.arch", f"unknown architecture {config.get('arch')!r}")
    values = {}
    for key, low, high in (("num_classes", 1, None), ("depth", 1, 6)):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
            limits = f">= {low}" if high is None else f"in {low}..{high}"
            raise ModelError(source, f"config.{key}", f"expected an integer {limits}, got {value!r}")
        values[key] = value
    return values["num_classes"], 2 ** values["depth"]


class OnnxBackend:
    """onnxruntime (CPUExecutionProvider) running an exported segdesk model; returns probabilities."""

    name = "onnx"

    def __init__(self, source: str | Path | bytes, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        where = None if isinstance(source, bytes) else str(source)
        try:
            self.session = ort.InferenceSession(
                source if isinstance(source, bytes) else str(source), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(where, None, f"onnxruntime cannot load the model: {exc}") from exc
        self.metadata = {
            k[len("segdesk.") :]: _loads(v)
            for k, v in self.session.get_modelmeta().custom_metadata_map.items()
            if k.startswith("segdesk.")
        }
        if "config" not in self.metadata:
            raise ModelError(where, "metadata", "not a segdesk export (segdesk.config missing)")
        self.source = where
        self.num_classes, self.multiple = _graph_shape(self.metadata["config"], where)
        self.input_name = self.session.get_inputs()[0].name

    @property
    def config(self) -> UNetConfig:
        """The export's UNet config (imports torch: ``segdesk.ml.model`` defines it)."""
        from segdesk.ml.model import UNetConfig

        return UNetConfig.from_dict(self.metadata["config"], source=self.source)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        # The torch model replicate-pads inputs too small to reflect; the graph always reflects.
        small = (ph or pw) and min(h, w) <= max(ph, pw)
        if small:
            x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
        out = self.session.run(None, {self.input_name: x})[0]
        return out[..., :h, :w] if small else out

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return softmax_np(self.logits(batch), axis=1)


def meta_problem(meta: Mapping[str, Any]) -> str | None:
    """Why checkpoint metadata would not load (``checkpoint.load_checkpoint``'s checks), or None."""
    from segdesk.ml.normalize import is_known_normalization

    try:
        num_classes, _ = _graph_shape(meta.get("config"), None)
    except ModelError as exc:
        return str(exc)
    classes = meta.get("classes")
    if not isinstance(classes, list) or len(classes) != num_classes:
        return f"expected {num_classes} class names, got {classes!r}"
    if not is_known_normalization(meta.get("normalization")):
        return "trained with another normalization"
    return None


def export_is_current(
    export_meta: Mapping[str, Any], checkpoint: str | Path, classes: Sequence[str] | None
) -> bool:
    """Whether an export was made by this segdesk version from exactly this checkpoint's weights and
    classes (what ``export.cached_onnx`` checks, but read from the files: no torch, no model)."""
    if export_meta.get("version") != segdesk.__version__:
        return False
    fingerprint = weights_fingerprint_of_file(checkpoint, [str(c) for c in classes or []])
    return fingerprint is not None and export_meta.get("fingerprint") == fingerprint


__all__ = [
    "ONNX_NAME",
    "Backend",
    "OnnxBackend",
    "export_is_current",
    "meta_problem",
    "onnx_path_for",
    "read_metadata",
    "softmax_np",
]
