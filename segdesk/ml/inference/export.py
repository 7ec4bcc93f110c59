"""ONNX export of a segdesk UNet, its verification, and the cached export beside a checkpoint.

The onnxruntime backend (``OnnxBackend``), ``read_metadata`` and ``onnx_path_for`` live in the
torch-free ``segdesk.ml.inference.onnx_backend`` (a CPU predictor must not import torch) and are re-exported here.

The exported graph takes float32 ``image`` (N, 3, H, W) of ANY height and width, already normalized
by ``segdesk.ml.data.prepare_image``, and returns float32 ``logits`` (N, C, H, W). Padding to a
multiple of 2**depth happens inside the graph (reflect, as the torch model does for inputs of at
least 2**depth pixels; smaller inputs are replicate-padded by :class:`OnnxBackend` before the call,
again as the torch model does). Batch, height and width are dynamic axes.

Metadata (``metadata_props``, all JSON strings): ``segdesk.classes``, ``segdesk.colors``,
``segdesk.normalization``, ``segdesk.config`` (the UNet config), ``segdesk.version``,
``segdesk.model_version``, ``segdesk.precision`` (fp32/fp16), ``segdesk.fingerprint`` (of the weights,
to find stale cached exports) and ``segdesk.input`` (a sentence for people reading the file).

The exporter is torch's dynamo-based one (``torch.onnx.export(dynamo=True)``), whose lowest opset
for this graph is 18 (its Pad cannot be converted down to 17).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import segdesk
from segdesk.core.atomic import atomic_write_bytes
from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, ExportError, ModelError
from segdesk.ml.checkpoint_file import checkpoint_version_name, model_version_of
from segdesk.ml.inference.onnx_backend import ONNX_NAME, OnnxBackend, onnx_path_for, read_metadata
from segdesk.ml.model import UNet
from segdesk.ml.normalize import prepare_image

MIN_OPSET = 18
DEFAULT_OPSET = 18


class _PaddedUNet(nn.Module):
    """The UNet with shape-generic padding, so that the exported graph accepts any size.

    ``UNet.forward`` decides on its padding in Python (``if ph or pw``), which an exporter would freeze
    to the example's size; here the (possibly zero) reflect pad is always part of the graph.
    """

    def __init__(self, net: UNet, *, fp16: bool = False) -> None:
        super().__init__()
        self.net = net
        self.fp16 = fp16

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        n, m = self.net, self.net.config.multiple
        h, w = image.shape[-2], image.shape[-1]
        x = image.half() if self.fp16 else image
        x = F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect")
        skips = [n.inc(x)]
        for down in n.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up in n.ups:
            y = up(y, skips.pop())
        return n.head(y)[..., :h, :w].float()


def weights_fingerprint(model: UNet, classes: list[str] | None = None) -> str:
    """sha256 over the state dict (names, shapes, bytes) and the class names.

    ``checkpoint_file.weights_fingerprint_of_file`` computes the same value from a checkpoint file
    without torch (how a CPU predictor knows a cached export is current).
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    digest.update(json.dumps(classes or []).encode())
    return digest.hexdigest()


def _metadata(model: UNet, meta: dict[str, Any], *, fp16: bool) -> dict[str, str]:
    classes = [str(c) for c in meta.get("classes") or []]
    colors = meta.get("colors", meta.get("colours"))
    version = meta.get("version", meta.get("model_version"))
    return {
        "segdesk.classes": json.dumps(classes),
        "segdesk.colors": json.dumps(colors),
        "segdesk.normalization": json.dumps(meta.get("normalization")),
        "segdesk.config": json.dumps(model.config.to_dict()),
        "segdesk.version": json.dumps(segdesk.__version__),
        "segdesk.model_version": json.dumps(version),
        "segdesk.precision": json.dumps("fp16" if fp16 else "fp32"),
        "segdesk.fingerprint": json.dumps(weights_fingerprint(model, classes)),
        "segdesk.input": json.dumps(
            "image: float32 NCHW, 3 channels, any H and W, normalized as segdesk.normalization states "
            "(per-image 0.5/99.5 percentiles to [0,1], then (x-0.5)/0.25); logits: float32 NCHW"
        ),
    }


def with_model_version(meta: dict[str, Any], checkpoint: str | Path) -> dict[str, Any]:
    """``meta`` with its model version: the recorded one, else the checkpoint's ``v<N>`` folder name.

    A checkpoint does not record its own version (the store's folder names it), so an export made
    from the bare metadata would say ``model_version: null``. The Predictor names versions the same way.
    """
    if model_version_of(meta):
        return meta
    return {**meta, "version": checkpoint_version_name(checkpoint)}


def export_bytes(
    model: UNet, meta: dict[str, Any] | None = None, *, opset: int = DEFAULT_OPSET, fp16: bool = False
) -> bytes:
    """The serialized ONNX model (see the module docstring). Raises ExportError."""
    import onnx

    if opset < MIN_OPSET:
        raise ExportError(None, "opset", f"opset {opset} is not supported; use {MIN_OPSET} or later")
    net = copy.deepcopy(model).cpu().float().eval()
    wrapper = _PaddedUNet(net.half() if fp16 else net, fp16=fp16).eval()
    m = model.config.multiple
    example = torch.zeros(1, model.config.in_channels, 2 * m + 3, 2 * m + 5)
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
    # The exporter logs and warns at length about things that do not concern segdesk's graph.
    quiet = [
        logging.getLogger(name)
        for name in ("torch", "torch.__trace", "torch.onnx", "torch.export", "onnxscript")
    ]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper,
                (example,),
                dynamo=True,
                opset_version=opset,
                input_names=["image"],
                output_names=["logits"],
                dynamic_shapes={"image": dims},
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types; the caller needs one
        raise ExportError(None, "export", f"torch.onnx.export failed: {exc}") from exc
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    proto = program.model_proto
    got = {o.domain: o.version for o in proto.opset_import}.get("", 0)
    if got != opset:
        raise ExportError(None, "opset", f"the exporter produced opset {got}, not {opset}")
    onnx.helper.set_model_props(proto, _metadata(model, dict(meta or {}), fp16=fp16))
    return proto.SerializeToString()


def export_onnx(
    model: UNet,
    meta: dict[str, Any] | None,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    cancel: CancelToken | None = None,
) -> Path:
    """Export ``model`` to ``path`` atomically (a failed export leaves no file).

    ``cancel`` (``.is_set()``) is checked once the graph is built, before anything is written: the
    export itself is one call into torch that cannot be interrupted.

    Raises:
        ExportError: naming ``path``, when the export or the write fails.
        Cancelled: when ``cancel`` was set; nothing was written.
    """
    try:
        data = export_bytes(model, meta, opset=opset, fp16=fp16)
    except ExportError as exc:
        raise ExportError(path, exc.place, exc.detail) from exc
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{path}: export cancelled")
    atomic_write_bytes(path, data, error_cls=ExportError)
    return Path(path)


@dataclass
class VerifyReport:
    """ONNX vs torch on one sample: worst logit difference and argmax agreement."""

    max_abs_diff: float
    argmax_agreement: float
    shape: tuple[int, ...]
    tolerance: float
    min_agreement: float
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.argmax_agreement >= self.min_agreement

    def summary(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (
            f"{verdict}: max |logit diff| {self.max_abs_diff:.2e} (limit {self.tolerance:g}), "
            f"argmax agreement {self.argmax_agreement:.4%} (limit {self.min_agreement:.1%}) "
            f"on {'x'.join(map(str, self.shape))}"
        )


@torch.inference_mode()
def verify_onnx(
    path: str | Path | bytes,
    model: UNet,
    sample: np.ndarray,
    *,
    tolerance: float | None = None,
    min_agreement: float = 0.999,
) -> VerifyReport:
    """Run ``sample`` (an image of any dtype, or a prepared float32 (N,3,H,W) batch) through both.

    ``tolerance`` defaults to 1e-3 for an fp32 export and 5e-2 for fp16 (the torch side is fp32).
    """
    start = time.perf_counter()
    arr = np.asarray(sample)
    batch = arr if arr.ndim == 4 and arr.dtype == np.float32 else prepare_image(arr)[None]
    backend = OnnxBackend(path)
    got = backend.logits(batch)
    net = copy.deepcopy(model).cpu().float().eval()
    ref = net(torch.from_numpy(np.ascontiguousarray(batch))).numpy()
    if tolerance is None:
        tolerance = 5e-2 if backend.metadata.get("precision") == "fp16" else 1e-3
    return VerifyReport(
        max_abs_diff=float(np.abs(got - ref).max()),
        argmax_agreement=float((got.argmax(1) == ref.argmax(1)).mean()),
        shape=tuple(batch.shape),
        tolerance=tolerance,
        min_agreement=min_agreement,
        elapsed_s=time.perf_counter() - start,
    )


def cached_onnx(
    checkpoint: str | Path,
    *,
    model: UNet | None = None,
    meta: dict[str, Any] | None = None,
    build: bool = True,
) -> Path | None:
    """The checkpoint's ONNX export, (re)built when missing or stale (other weights, classes, segdesk).

    With ``build=False`` a missing or stale export gives None instead of a new export.
    Raises ExportError when it has to be built and cannot be written.
    """
    target = onnx_path_for(checkpoint)
    if model is None or meta is None:
        from segdesk.ml.checkpoint import load_checkpoint

        model, meta = load_checkpoint(checkpoint)
    meta = with_model_version(meta, checkpoint)
    want = weights_fingerprint(model, [str(c) for c in meta.get("classes") or []])
    if target.is_file():
        try:
            have = read_metadata(target)
        except ModelError:
            have = {}
        if have.get("fingerprint") == want and have.get("version") == segdesk.__version__:
            return target
    if not build:
        return None
    return export_onnx(model, meta, target)


__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "ONNX_NAME",
    "OnnxBackend",
    "VerifyReport",
    "cached_onnx",
    "export_bytes",
    "export_onnx",
    "onnx_path_for",
    "read_metadata",
    "verify_onnx",
    "weights_fingerprint",
    "with_model_version",
]
