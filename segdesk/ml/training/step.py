"""One optimizer step of the trainer, mixed precision setup and the cancel hooks (split from train.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled
from segdesk.ml.model import UNet
from segdesk.ml.training.losses import SegmentationLoss


class AmpConfig(Protocol):
    amp: bool


def cancel_hooks(model: UNet, cancel: CancelToken | None) -> list[Any]:
    """Check the token between network blocks, forward and backward, so cancel is quick mid-step."""
    if cancel is None:
        return []

    def check(*_: Any) -> None:
        if cancel.is_set():
            raise Cancelled("training cancelled")

    def on_output(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        check()
        if output.requires_grad:
            output.register_hook(lambda grad: check())

    blocks = [model.inc, *model.downs, *(up.conv for up in model.ups)]
    return [b.register_forward_hook(on_output) for b in blocks]


def channels_last_on(device: torch.device, asked: bool | None = None) -> bool:
    """Whether training runs in the channels-last memory layout: as ``asked``, else on for CPU and CUDA.

    With torch 2.13 on this project's CPU a width-8 UNet step (batch 4 x 256²) takes 31% less time on
    one thread and 25-35% less on two (``tests/benchmarks/bench_layout.py``, docs/benchmarks.md); on CUDA it is
    the layout tensor cores want. Results differ from the default layout only by float rounding.
    """
    if asked is not None:
        return asked
    return getattr(device, "type", str(device)) in ("cpu", "cuda")


def amp_setup(config: AmpConfig, device: torch.device) -> tuple[torch.dtype | None, Any]:
    if not config.amp or device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def train_step(
    model: UNet,
    criterion: SegmentationLoss,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    amp_dtype: torch.dtype | None,
    scaler: Any,
    observe: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> float:
    """One step; ``observe(logits, target)``, when given, sees the step's logits (detached)."""
    optimizer.zero_grad(set_to_none=True)
    if amp_dtype is not None:
        with torch.autocast(device_type=x.device.type, dtype=amp_dtype):
            logits = model(x)
        loss = criterion(logits.float(), y)
    else:
        logits = model(x)
        loss = criterion(logits, y)
    if observe is not None:
        observe(logits.detach(), y)
    if not torch.isfinite(loss):
        return float(loss.detach())
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return float(loss.detach())
