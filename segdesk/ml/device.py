"""Choosing the torch device for inference and training, and GPU autocast.

``pick_device("auto")`` prefers CUDA, then Apple MPS, then the CPU. A device the user names explicitly
("cuda", "cuda:1", "mps") that this machine cannot provide is an error, not a silent fallback: a person
who asked for the GPU should learn that they are not getting it.

torch is imported inside the functions, never at module level: ``cpu_without_torch`` answers
"does this device spec mean the CPU?" from files on disk whenever that is cheap to know (a CPU-only
torch build, no GPU driver), so a CPU predictor running onnxruntime never pays for ``import torch``
(150-300 ms holding the GIL: a frozen window when it happens in a GUI's worker thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from segdesk.core.errors import SegdeskError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


class DeviceError(SegdeskError):
    """A requested device does not exist on this machine or is spelled wrong."""


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device names usable here, best first (e.g. ``["cuda:0", "cpu"]``)."""
    import torch

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
    import torch

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
    import torch

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
    import torch

    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def describe_device(device: torch.device) -> str:
    """A short human name, e.g. ``cuda:0 (NVIDIA H100)`` or ``cpu (2 threads)``."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


# --- knowing "auto" means the CPU without importing torch -------------------------------------------

_BUILD_RE = re.compile(r"^(cuda|hip)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def torch_gpu_build() -> bool | None:
    """Whether the installed torch was built for CUDA or ROCm, from its ``version.py`` read as text.

    None when that cannot be told without importing torch (no readable ``version.py``, e.g. inside a
    frozen app); False also when torch is not installed at all (no GPU for segdesk then either).
    """
    try:
        spec = importlib.util.find_spec("torch")  # the package is located, not imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return False
    for folder in spec.submodule_search_locations or []:
        try:
            text = (Path(folder) / "version.py").read_text(encoding="utf-8")
        except OSError:
            continue
        found = dict(_BUILD_RE.findall(text))
        if "cuda" in found:
            return any(found.get(k, "None") != "None" for k in ("cuda", "hip"))
    local = _torch_local_version()
    if local is not None and re.fullmatch(r"cpu(\..*)?", local):
        return False
    return None


def _torch_local_version() -> str | None:
    """The local part of torch's version (``cpu`` for ``2.13.0+cpu``) from the package metadata."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    return version.partition("+")[2] or None


def _nvidia_driver_present() -> bool:
    """A CUDA driver is installed: the Linux kernel module, or a loadable libcuda / nvcuda.dll."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)  # the same search the CUDA runtime makes (WSL2 has no /proc entry)
    except OSError:
        return False
    return True


def _rocm_driver_present() -> bool:
    return os.path.exists("/dev/kfd")  # ROCm's kernel driver (torch's "cuda" devices on AMD GPUs)


def _cuda_hidden() -> bool:
    """``CUDA_VISIBLE_DEVICES`` set to nothing or to -1 hides every CUDA device."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    return value is not None and (value.strip() == "" or value.strip().startswith("-1"))


def gpu_may_be_usable() -> bool:
    """False when ``pick_device("auto")`` is sure to give the CPU, known WITHOUT importing torch.

    True when a GPU may be usable (a CUDA/ROCm build of torch with a driver present, or macOS, where
    only torch can tell whether MPS works), or when this cannot be told without torch.
    """
    if sys.platform == "darwin":
        return True
    build = torch_gpu_build()
    if build is None:
        return True
    if not build:
        return False
    if _rocm_driver_present():
        return True
    return not _cuda_hidden() and _nvidia_driver_present()


def cpu_without_torch(spec: object = "auto") -> bool:
    """True when the device ``spec`` resolves to the CPU and that is known without importing torch.

    ``"cpu"`` always; ``"auto"`` when :func:`gpu_may_be_usable` says no GPU can be used. Anything
    else (a GPU name, a ``torch.device``, a misspelling) is False: ``pick_device`` decides, or raises.
    """
    if spec is not None and not isinstance(spec, str):
        return False
    match = _DEVICE_RE.match((spec or "auto").strip().lower())
    if match is None or match.group(2) is not None:
        return False
    if match.group(1) == "cpu":
        return True
    return match.group(1) == "auto" and not gpu_may_be_usable()
