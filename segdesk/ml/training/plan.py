"""A training plan derived from the data's fingerprint and the device's measured speed (nnU-Net's idea).

``make_plan(fingerprint, ...)`` decides:

- the **working scale**: images are resampled so the typical object (the smallest class's median
  inscribed diameter, ``fingerprint.py``) spans ``CANONICAL_DIAMETER`` pixels, never upsampled,
  never below ``MIN_SCALE`` nor so far that images shrink below ``MIN_SIDE``;
- the **patch size** (256, or the whole image when the scaled images are smaller; on a CPU 128 x 16
  where it would be 256 x 4) and the batch;
- **sampling and loss**: class-centred crops more often and balanced class weights when a class is
  rare or thin;
- the **model's width and depth** from the measured optimizer steps per second: the widest width
  whose budget still buys ``target_steps`` (a GPU gets a wider model than a CPU);
- the **steps**: ``min_steps`` is trained whatever the clock says (load does not change the
  model), the budget then caps the run up to ``target_steps``; early stopping only after
  ``min_steps``.

The plan is a JSON-able dataclass: stored in the checkpoint (``meta["plan"]``) and reused at
prediction (``rescale.working_scale``). Every field can be overridden (``overrides``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from segdesk.ml.training.fingerprint import Fingerprint

CANONICAL_DIAMETER = 24.0  # px at the working scale: what a typical object should span
MIN_SCALE = 0.25
MIN_SIDE = 96  # px: a scaled image keeps at least this much of its shorter side
SCALE_STEP = 0.125  # scales are multiples of this (stable across near-identical data)
WIDTHS = (8, 16, 32, 64)
MAX_PATCH = 256
#: On a CPU, where the plan would take 256² patches in batches of 4 it takes 128² patches in batches
#: of 16: the same pixels and the same time per step (bench_layout.py --shapes), and at fixed steps
#: better on 8 of 9 paired runs over ISBI, DSB dev and the generated colour / 16-bit / vessel sets
#: (one 0.003 lower), the demo equal (docs/benchmarks.md, session 11). More, smaller views per batch.
CPU_SMALL_PATCH = (128, 16)
RARE_FRACTION = 0.05
THIN_DIAMETER = 8.0  # px at the working scale

#: (min_steps, target_steps) on a CPU and on a GPU.
CPU_STEPS = (300, 600)
GPU_STEPS = (600, 1500)

#: ``throughput(width, depth, patch, batch)`` -> optimizer steps per second on the device.
Throughput = Callable[[int, int, int, int], float]


#: What a fixed plan field is called in the plan's line.
_FIELD_WORDS = {
    "scale": "working scale",
    "patch_size": "patches",
    "batch_size": "batch",
    "base_width": "width",
    "depth": "depth",
    "min_steps": "minimum steps",
}


@dataclass
class Plan:
    scale: float = 1.0
    patch_size: int = 256
    batch_size: int = 4
    base_width: int = 8
    depth: int = 4
    class_crop_p: float = 0.5
    class_weights: str = "none"
    min_steps: int = CPU_STEPS[0]
    target_steps: int = CPU_STEPS[1]
    device: str = "cpu"
    threads: int = 0  # CPU threads of the run (0: torch's choice / not a CPU)
    budget_s: float = 0.0  # the time cap the plan was made for (0: none)
    steps_per_s: dict[str, float] = field(default_factory=dict)  # measured, per width
    typical_diameter: float = 0.0  # px at the images' own resolution
    reasons: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One line for people: the Model panel and ``segdesk train``; the parts a person fixed (an
        option, the project's training settings) are named at its end."""
        line = (
            f"working scale {self.scale:g}x, patches {self.patch_size}, width {self.base_width}, "
            f"about {self.expected_steps()} steps"
        )
        yours = [_FIELD_WORDS[k] for k in dict.fromkeys(self.overridden) if k in _FIELD_WORDS]
        return f"{line} (set by you: {', '.join(yours)})" if yours else line

    def expected_steps(self) -> int:
        """The steps the run should take: what the budget buys at the measured speed, between the
        minimum and the target (the target when nothing was measured)."""
        rate = self.steps_per_s.get(str(self.base_width))
        if not rate or not self.budget_s:
            return self.target_steps
        return int(min(self.target_steps, max(self.min_steps, rate * self.budget_s)))

    def train_fields(self) -> dict[str, Any]:
        """The TrainConfig fields this plan sets."""
        return {
            "scale": self.scale,
            "patch_size": self.patch_size,
            "batch_size": self.batch_size,
            "base_width": self.base_width,
            "depth": self.depth,
            "class_crop_p": self.class_crop_p,
            "min_steps": self.min_steps,
            "target_steps": self.target_steps,
        }


def choose_scale(fp: Fingerprint) -> tuple[float, float, str]:
    """(scale, typical diameter, why)."""
    fg = fp.foreground()
    if not fg:
        return 1.0, 0.0, "no objects measured: native resolution"
    typical = min(c.median_diameter for c in fg)
    which = min(fg, key=lambda c: c.median_diameter).name
    raw = CANONICAL_DIAMETER / max(typical, 1e-6)
    floor = max(MIN_SCALE, MIN_SIDE / max(fp.min_side, 1))
    scale = min(1.0, max(raw, floor))
    scale = max(floor, math.floor(scale / SCALE_STEP) * SCALE_STEP) if scale < 1.0 else 1.0
    scale = min(1.0, round(scale, 3))
    return scale, typical, f"typical object ({which}) {typical:.0f} px across -> working scale {scale:g}x"


def thin_classes(fp: Fingerprint, scale: float) -> list[str]:
    """The object classes whose objects are thin at working scale ``scale`` (elongated and under
    ``THIN_DIAMETER`` px across): more class-centred crops here, no warm start (services/warm_start.py)."""
    return [c.name for c in fp.foreground() if c.elongated and c.median_diameter * scale < THIN_DIAMETER]


def choose_patch(fp: Fingerprint, scale: float, multiple: int) -> int:
    side = max(fp.median_height, fp.median_width) * scale
    patch = min(MAX_PATCH, int(math.ceil(side / multiple)) * multiple)
    return max(multiple * 4, patch)


def choose_width(
    throughput: Throughput, depth: int, patch: int, batch: int, budget_s: float, target: int
) -> tuple[int, dict[str, float]]:
    """The widest of ``WIDTHS`` whose measured speed buys ``target`` steps in ``budget_s``.

    Measures widths in increasing order and stops at the first that is too slow (a wider one would
    be slower still); width 8 is always the fallback.
    """
    measured: dict[str, float] = {}
    chosen = WIDTHS[0]
    for width in WIDTHS:
        rate = throughput(width, depth, patch, batch)
        measured[str(width)] = round(rate, 3)
        if rate * budget_s < target:
            break
        chosen = width
    return chosen, measured


def make_plan(
    fp: Fingerprint,
    *,
    device_type: str = "cpu",
    budget_s: float | None = 120.0,
    throughput: Throughput | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan for data with fingerprint ``fp`` on ``device_type`` with a ``budget_s`` cap.

    ``throughput`` measures steps/s (default: none measured, width 8 on a CPU, 32 on a GPU).
    ``overrides``: Plan fields fixed by the person; they win over every rule.
    """
    overrides = dict(overrides or {})
    gpu = device_type not in ("cpu", "mps")
    min_steps, target = GPU_STEPS if gpu else CPU_STEPS
    plan = Plan(device=device_type, min_steps=min_steps, target_steps=target, batch_size=16 if gpu else 4)
    plan.budget_s = float(budget_s or 0.0)
    plan.scale, plan.typical_diameter, why = choose_scale(fp)
    plan.reasons.append(why)
    scale = float(overrides.get("scale", plan.scale))
    depth = int(overrides.get("depth", plan.depth))
    plan.patch_size = choose_patch(fp, scale, 2**depth)
    if not gpu and plan.patch_size == MAX_PATCH:
        plan.patch_size, plan.batch_size = CPU_SMALL_PATCH
    rare = [c.name for c in fp.classes if 0 < c.pixel_fraction < RARE_FRACTION]
    thin = thin_classes(fp, scale)
    if rare or thin:
        plan.class_crop_p = 0.7
        plan.reasons.append(
            f"rare or thin classes ({', '.join(dict.fromkeys(rare + thin))}): more class-centred crops"
        )
    if any(c.pixel_fraction < 0.02 for c in fp.classes if c.pixel_fraction > 0):
        plan.class_weights = "balanced"
        plan.reasons.append("a class below 2% of the pixels: balanced class weights")
    if "base_width" not in overrides:
        if throughput is not None and budget_s:
            batch = int(overrides.get("batch_size", plan.batch_size))
            patch = int(overrides.get("patch_size", plan.patch_size))
            plan.base_width, plan.steps_per_s = choose_width(
                throughput, depth, patch, batch, budget_s, target
            )
            plan.reasons.append(f"width {plan.base_width}: measured steps/s {plan.steps_per_s}")
        elif gpu:
            plan.base_width = 32
    for key, value in overrides.items():
        if hasattr(plan, key) and value is not None:
            setattr(plan, key, type(getattr(plan, key))(value))
            plan.overridden.append(key)
    plan.target_steps = max(plan.target_steps, plan.min_steps)
    return plan


def measure_throughput(device: Any, num_classes: int, *, warmup: int = 1, steps: int = 2) -> Throughput:
    """A ``Throughput`` that times a few real optimizer steps of a fresh UNet on ``device``."""
    import torch

    from segdesk.ml.model import UNet, UNetConfig
    from segdesk.ml.training.step import channels_last_on

    layout = torch.channels_last if channels_last_on(device) else torch.contiguous_format

    def rate(width: int, depth: int, patch: int, batch: int) -> float:
        model = UNet(UNetConfig(num_classes=num_classes, base_width=width, depth=depth)).to(device)
        model = model.to(memory_format=layout)  # as the trainer lays it out
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randn(batch, 3, patch, patch, device=device).contiguous(memory_format=layout)
        y = torch.randint(0, num_classes, (batch, patch, patch), device=device)
        loss_fn = torch.nn.CrossEntropyLoss()
        start = 0.0
        for i in range(warmup + steps):
            if i == warmup:
                _sync(device)
                start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        _sync(device)
        return steps / max(time.perf_counter() - start, 1e-6)

    return rate


def _sync(device: Any) -> None:
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize(device)


def apply_plan(config: Any, plan: Plan) -> Any:
    """``config`` (a TrainConfig) with the plan's fields set and the plan attached (saved in the checkpoint)."""
    fields = plan.train_fields()
    if config.minutes is None:  # a fixed number of epochs decides the length, not the plan
        fields.update(min_steps=0, target_steps=0)
    config = dataclasses.replace(config, **fields, plan=plan.to_dict())
    if plan.class_weights != "none":
        config = dataclasses.replace(
            config, loss=dataclasses.replace(config.loss, class_weights=plan.class_weights)
        )
    return config


def plan_training(
    dataset: Any,
    config: Any,
    *,
    overrides: Mapping[str, Any] | None = None,
    throughput: Throughput | None = None,
    measure_speed: bool = True,
) -> tuple[Any, Plan, Fingerprint]:
    """Fingerprint ``dataset``'s training images, plan, and return (planned config, plan, fingerprint).

    The entry point the app and the CLI call before ``fine_tune``. ``overrides``: plan fields the
    person fixed (e.g. ``{"base_width": 16}``). ``throughput`` defaults to timing real steps on the
    config's device (``measure_speed=False``: no timing, the device's default width).
    """
    from segdesk.ml.training.fingerprint import measure

    fp = measure(dataset.train, dataset.class_names)
    budget = None if config.minutes is None else config.minutes * 60.0
    device_type = "cpu"
    if throughput is None and measure_speed:
        from segdesk.ml.training.setup import resolve_device

        device = resolve_device(config.device)
        device_type = device.type
        throughput = measure_throughput(device, len(dataset.class_names))
    elif config.device not in ("auto", "cpu"):
        device_type = str(config.device).split(":")[0]
    threads = config.threads
    auto = threads is None and device_type == "cpu"
    if auto:
        from segdesk.ml.training.cpu_share import training_threads

        threads = training_threads()  # before timing the steps: the width is sized for these threads
        config = dataclasses.replace(config, threads=threads)
    if threads and throughput is not None:
        throughput = _with_threads(throughput, threads)
    plan = make_plan(fp, device_type=device_type, budget_s=budget, throughput=throughput, overrides=overrides)
    plan.threads = threads or 0
    if auto:
        plan.reasons.append(f"{threads} CPU thread(s): the cores idle when training started")
    return apply_plan(config, plan), plan, fp


def _with_threads(throughput: Throughput, threads: int) -> Throughput:
    """``throughput`` measured with ``threads`` torch threads (the training's)."""

    def rate(width: int, depth: int, patch: int, batch: int) -> float:
        import torch

        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return throughput(width, depth, patch, batch)
        finally:
            torch.set_num_threads(old)

    return rate


def planned(dataset: Any, config: Any, model: Any, overrides: dict[str, Any] | None) -> Any:
    """``config`` with the data's plan (:func:`plan_training`); a model being fine-tuned keeps its
    own width and depth (the plan's are for a new model). Fields the person fixed win: ``overrides``,
    ``config.plan["overrides"]`` (the CLI's options) and every planned field of ``config`` that
    differs from TrainConfig's default."""
    from segdesk.ml.training.train import TrainConfig

    defaults = TrainConfig()
    fixed = {
        k: getattr(config, k) for k in Plan().train_fields() if getattr(config, k) != getattr(defaults, k)
    }
    fixed.update((config.plan or {}).get("overrides") or {})
    fixed.update(overrides or {})
    mine = set(fixed)  # what the person (or the caller) fixed; a model's own size is not theirs
    if model is not None:
        fixed.update(base_width=model.config.base_width, depth=model.config.depth)
    config, plan, _ = plan_training(dataset, config, overrides=fixed, measure_speed=model is None)
    if set(plan.overridden) - mine:  # the plan's line says "(set by you: ...)" of these
        config = dataclasses.replace(
            config, plan={**config.plan, "overridden": [k for k in plan.overridden if k in mine]}
        )
    return config


def plan_of(config: Any) -> Plan:
    """The Plan a planned config carries."""
    return Plan.from_dict(config.plan or {})


__all__ = [
    "plan_of",
    "planned",
    "CANONICAL_DIAMETER",
    "Plan",
    "apply_plan",
    "choose_scale",
    "make_plan",
    "measure_throughput",
    "plan_training",
    "thin_classes",
]
