"""A model's own split settings, as its checkpoint records them (issue 17; plain Python).

``meta["instances"]["split"]`` is written after training by ``services/split_calibration.py`` (the
settings that split the model's held-out objects best) and read by the proposals
(``services/proposals.py``) for the app and ``segdesk predict`` alike. Two forms:

- calibrated: ``{"h": 1.5, "grow": 1, "images": 2, "objects": 83, "ap50": 0.71, "map": 0.42,
  "default_ap50": 0.66, "default_map": 0.35}``
  (``h`` and ``grow`` are :class:`~segdesk.core.instance_split.SplitSettings` fields; the rest says
  what they were chosen on), and ``"min_area": 42`` when smaller objects are better not proposed
  (the proposals then drop objects under that many pixels, or under the panel's minimum if larger);
- not calibrated: ``{"skipped": "why"}`` (too few held-out objects, no held-out images ...).

A checkpoint without the record (older ones, models without a boundary class) keeps the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segdesk.core.errors import ModelError

#: The fields a record may set, with their inclusive bounds (anything else is kept but not used).
LIMITS: dict[str, tuple[float, float]] = {"h": (0.05, 50.0), "grow": (0, 10), "min_area": (1, 10**7)}


def split_record(
    h: float,
    grow: int,
    *,
    images: int,
    objects: int,
    scores: Any,
    default_scores: Any,
    min_area: int | None = None,
) -> dict[str, Any]:
    """The calibrated record (JSON-ready); ``scores`` / ``default_scores`` are the held-out
    ``InstanceScores`` (``core/instance_metrics.py``) of the chosen setting and of the defaults."""
    area = {} if min_area is None else {"min_area": int(min_area)}
    return {
        "h": float(h),
        "grow": int(grow),
        **area,
        "images": int(images),
        "objects": int(objects),
        "ap50": round(float(scores.ap(0.5)), 4),
        "map": round(float(scores.mean_ap), 4),
        "default_ap50": round(float(default_scores.ap(0.5)), 4),
        "default_map": round(float(default_scores.mean_ap), 4),
    }


def skipped_record(reason: str) -> dict[str, Any]:
    return {"skipped": str(reason)}


def split_overrides(meta: Mapping[str, Any] | None, source: str | Path | None = None) -> dict[str, Any]:
    """The ``SplitSettings`` fields a model's meta sets (``{}`` when it records none).

    Raises ModelError naming ``source`` and the field for a record of the wrong kind or out of bounds.
    """
    instances = (meta or {}).get("instances")
    if instances is None:
        return {}
    if not isinstance(instances, Mapping):
        raise ModelError(source, "meta.instances", f"expected an object, got {type(instances).__name__}")
    record = instances.get("split")
    if record is None:
        return {}
    if not isinstance(record, Mapping):
        raise ModelError(source, "meta.instances.split", f"expected an object, got {type(record).__name__}")
    out: dict[str, Any] = {}
    for name, (lo, hi) in LIMITS.items():
        if name not in record:
            continue
        value = record[name]
        whole = isinstance(lo, int)
        ok_type = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or not math.isfinite(value) or not lo <= value <= hi:
            kind = "a whole number" if whole else "a number"
            raise ModelError(
                source, f"meta.instances.split.{name}", f"expected {kind} in [{lo}, {hi}], got {value!r}"
            )
        out[name] = int(value) if whole else float(value)
    return out


def describe_split(record: Any) -> str:
    """One line for a person: how a model's objects are split and on what the settings were chosen
    ("" for a model without a record). Never raises: a damaged record is described as such."""
    if not isinstance(record, Mapping) or not record:
        return ""
    if "skipped" in record:
        return f"touching objects split with the default settings ({record['skipped']})"
    try:
        on = str(record.get("on", "held-out"))
        smallest = f", none under {int(record['min_area'])} px" if "min_area" in record else ""
        return (
            f"touching objects split with seed height {float(record['h']):g} px, growth "
            f"{int(record['grow'])} px{smallest} (chosen on {int(record['images'])} {on} image(s), "
            f"{int(record['objects'])} objects: AP@0.5 {float(record['ap50']):.2f} against "
            f"{float(record['default_ap50']):.2f} with the defaults)"
        )
    except (KeyError, TypeError, ValueError):
        return "touching objects split with the default settings (damaged record: meta.instances.split)"


__all__ = ["LIMITS", "describe_split", "skipped_record", "split_overrides", "split_record"]
