"""UNet in the form of the original paper (Ronneberger et al. 2015), sized for a CPU.

Double 3x3 conv + BatchNorm + ReLU blocks, ``depth`` max-pool downsamplings, bilinear or
transposed-conv upsampling, skip connections by concatenation and a 1x1 head. Any input size works:
``forward`` pads to a multiple of ``2**depth`` and crops the logits back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from segdesk.core.errors import ModelError

Upsample = Literal["bilinear", "transpose"]


#: The most downsamplings a UNet may have (its input padded to a multiple of 2**depth).
MAX_DEPTH = 6


@dataclass(frozen=True)
class UNetConfig:
    """The architecture. Stored in every checkpoint's JSON so a model rebuilds itself."""

    in_channels: int = 3
    num_classes: int = 2
    base_width: int = 8  # measured: best quality per second on a 2-core CPU (tests/benchmarks/bench_train.py)
    depth: int = 4
    upsample: Upsample = "bilinear"

    def __post_init__(self) -> None:
        if self.in_channels < 1 or self.num_classes < 1:
            raise ValueError("in_channels and num_classes must be >= 1")
        if self.base_width < 1 or not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"base_width must be >= 1 and depth in 1..{MAX_DEPTH}")
        if self.upsample not in ("bilinear", "transpose"):
            raise ValueError(f"upsample must be 'bilinear' or 'transpose', got {self.upsample!r}")

    @property
    def multiple(self) -> int:
        """Input height and width are padded to a multiple of this."""
        return 2**self.depth

    def to_dict(self) -> dict[str, Any]:
        return {"arch": "unet", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> UNetConfig:
        """Rebuild from a checkpoint's JSON; a wrong architecture or field is a ModelError."""
        if not isinstance(data, dict):
            raise ModelError(source, "config", f"expected an object, got {type(data).__name__}")
        if data.get("arch", "unet") != "unet":
            raise ModelError(source, "config.arch", f"unknown architecture {data.get('arch')!r}")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"arch"}
        if unknown:
            raise ModelError(source, "config", f"unknown fields {sorted(unknown)}")
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except (TypeError, ValueError) as exc:
            raise ModelError(source, "config", str(exc)) from exc


class DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    def __init__(self, c_low: int, c_skip: int, c_out: int, mode: Upsample) -> None:
        super().__init__()
        if mode == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(c_low, c_low, 2, stride=2)
        else:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv = DoubleConv(c_low + c_skip, c_out)

    def forward(self, low: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(low)], dim=1))


class UNet(nn.Module):
    """UNet producing per-class logits of shape (N, num_classes, H, W)."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or UNetConfig()
        cfg = self.config
        widths = [cfg.base_width * 2**i for i in range(cfg.depth + 1)]
        self.inc = DoubleConv(cfg.in_channels, widths[0])
        self.downs = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(cfg.depth))
        self.ups = nn.ModuleList(
            Up(widths[i + 1], widths[i], widths[i], cfg.upsample) for i in reversed(range(cfg.depth))
        )
        self.head = nn.Conv2d(widths[0], cfg.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.config.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        logits = self.head(y)
        if ph or pw:
            logits = logits[..., :h, :w]
        return logits

    def replace_head(self, num_classes: int) -> None:
        """Grow (or shrink) the head for a new class set; the rest of the network is kept."""
        old = self.head
        new = nn.Conv2d(old.in_channels, num_classes, 1).to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            n = min(num_classes, old.out_channels)
            new.weight[:n] = old.weight[:n]
            new.bias[:n] = old.bias[:n]
        self.head = new
        self.config = UNetConfig(**{**asdict(self.config), "num_classes": num_classes})


def build_model(config: UNetConfig) -> UNet:
    return UNet(config)
