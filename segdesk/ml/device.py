"""Choosing the torch device for inference and training, and GPU autocast.

``pick_device("auto")`` prefers CUDA, then Apple MPS, then the CPU. A device the user names explicitly
("cuda", "cuda:1", "mps") that this machine cannot provide is an error, not a silent fallback: a person
who asked for the GPU should learn that they are not getting it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch

from segdesk.core.errors import SegdeskError

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


class DeviceError(SegdeskError):
    """A requested device does not exist on this machine or is spelled wrong."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device names usable here, best first (e.g. ``["cuda:0", "cpu"]``)."""
    names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def pick_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`` to a ``torch.device``.

    Raises:
        DeviceError: the name is not a device, or the device is not available here.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = (spec or "auto").strip().lower()
    match = _DEVICE_RE.match(text)
    if match is None:
        raise DeviceError(f"device {spec!r}: expected one of auto, cpu, cuda, cuda:N, mps")
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        if index is not None:
            raise DeviceError(f"device {spec!r}: 'auto' takes no index")
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise DeviceError(
                f"device {spec!r}: Apple MPS is not available here (available: {', '.join(available_devices())})"
            )
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {spec!r}: CUDA is not available (this torch build: {torch.__version__}; "
            f"available: {', '.join(available_devices())})"
        )
    n = torch.cuda.device_count()
    i = int(index) if index is not None else torch.cuda.current_device()
    if i >= n:
        raise DeviceError(f"device {spec!r}: there are {n} CUDA device(s), numbered 0..{n - 1}")
    return torch.device("cuda", i)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision used on this device for inference, or None for full float32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None


@contextlib.contextmanager
def autocast(device: torch.device, *, enabled: bool = True) -> Iterator[None]:
    """Mixed precision on a GPU (bf16 where supported, else fp16); a no-op on the CPU.

    The CPU stays in float32: bf16 autocast there is slower than float32 on most laptop CPUs and
    changes results.
    """
    dtype = autocast_dtype(device) if enabled else None
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def describe_device(device: torch.device) -> str:
    """A short human name, e.g. ``cuda:0 (NVIDIA H100)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
