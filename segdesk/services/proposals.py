"""Proposals for an image: one prediction, then one order of steps that turns it into shapes.

The app (a predict or batch job) and ``segdesk predict`` call :func:`propose_image`; same model and
same image give the same proposals (labels, points, confidence). The steps, always in this order:

1. the model's arg-max classes and their confidence (kept: :class:`PredictionResult`);
2. threshold: a foreground pixel less sure than ``threshold`` becomes background;
3. clean-up (:func:`segdesk.core.postprocess.postprocess`): smoothing, islands under ``min_area``
   absorbed, holes up to ``max_hole_area`` filled;
4. vectorize and simplify (``tolerance``), each shape with its mean confidence and provenance.

Objects (issue 17): a model trained with boundary classes (``<label>::boundary``, see
``core/instances.py``) is asked for its probabilities; each boundary class is folded into its class
(the kept class map, confidence and class names never show a boundary class), and step 4 separates
touching objects of those classes (``core.instance_split``: seeded watershed, one polygon per object
with its own confidence). Other classes, and a class the project marks as not an object
(``ProposalSettings.not_objects``, :func:`with_object_setting`), stay connected components. The
split's settings are the model's own when its checkpoint records them (``meta["instances"]["split"]``,
chosen after training on its held-out images: ``services/split_calibration.py``), else the defaults.

Steps 2-4 are cheap and need no model: :func:`derive_shapes` re-runs them on the kept prediction when
a setting changes (and :class:`KeptPredictions` keeps one prediction per image and model version), so
a setting or a model switch only ever hides proposals; relaxing it brings them back. Nothing here
touches a file or a person's shapes (see :mod:`segdesk.services.proposal_files`).

Torch-free: ``predictor`` is anything with ``predict(image, cancel=, progress=)``, ``class_names`` and
``model_version`` (``segdesk.ml.inference.infer.Predictor``; :func:`load_predictor` makes a cached one).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import ModelError
from segdesk.core.instance_split import (
    SplitSettings,
    fold_probabilities,
    learned_object_classes,
    split_instances,
    split_to_shapes,
)
from segdesk.core.instances import base_class_name, boundary_class_name, is_boundary_class
from segdesk.core.postprocess import PostprocessConfig, postprocess
from segdesk.core.shapes import Shape
from segdesk.core.split_record import split_overrides
from segdesk.core.uncertainty import doubt_near_objects
from segdesk.core.vectorize import class_map_to_shapes

#: How the app and ``segdesk predict`` tile an image unless told otherwise (pixels, fraction shared).
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 0.25


@dataclass(frozen=True)
class ProposalSettings:
    """How a prediction becomes shapes; changing these re-derives without running the model again.

    ``threshold``: a foreground pixel whose confidence is below it becomes background.
    ``min_area``: islands (and shapes) smaller than this many pixels are dropped.
    ``max_hole_area``: enclosed holes up to this many pixels are filled.
    ``smooth``: majority filter size (odd; 0 = off).
    ``tolerance``: polygon simplification in pixels.
    """

    threshold: float = 0.5
    min_area: int = 16
    max_hole_area: int = 64
    smooth: int = 0
    tolerance: float = 1.0
    #: Classes never split into objects (the project's per-class setting, core/instance_settings.py).
    not_objects: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.not_objects:  # the stamp of a file proposed before issue 17 stays the same
            out.pop("not_objects")
        else:
            out["not_objects"] = list(self.not_objects)
        return out


def with_object_setting(settings: ProposalSettings, project_root: str | Path) -> ProposalSettings:
    """``settings`` with the project's classes marked as not objects (``.segdesk/instances.json``).

    Raises ProjectError for a damaged setting file (naming the file and the field)."""
    from dataclasses import replace

    from segdesk.core.instance_settings import read_object_setting

    off = tuple(sorted(label for label, on in read_object_setting(project_root).items() if not on))
    return replace(settings, not_objects=off)


@dataclass
class PredictionResult:
    """The kept prediction of one image (plain arrays: no torch, no Qt) and the shapes made from it."""

    image_path: Path | None
    model_version: str | None
    class_names: list[str]
    class_map: np.ndarray  # the model's arg-max classes, before thresholding / clean-up
    confidence: np.ndarray  # probability of the chosen class, float32 HxW
    mean_entropy: float
    elapsed_s: float = 0.0
    shapes: list[Shape] = field(default_factory=list)  # made with ``settings``
    settings: ProposalSettings = field(default_factory=ProposalSettings)
    tiles: int = 1
    #: With a model that separates objects: its probabilities (C, H, W, boundary classes included)
    #: and its class names; None otherwise.
    probabilities: np.ndarray | None = None
    model_class_names: list[str] | None = None
    #: The model's own split settings (``core/split_record.py``; {} = the defaults).
    split: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_confidence(self) -> float:
        return float(self.confidence.mean()) if self.confidence.size else 0.0

    @property
    def uncertainty(self) -> float:
        """The doubt near the predicted objects (``core/uncertainty.py``): what "Next most
        uncertain" ranks by and ``segdesk predict`` prints."""
        return doubt_near_objects(self.class_map, self.confidence)

    def rasterized(self) -> np.ndarray:
        """The class map exactly as the proposals draw it (what ``--masks-out`` writes)."""
        from segdesk.core.rasterize import shapes_to_label

        values = {name: i for i, name in enumerate(self.class_names)}
        cls, _ = shapes_to_label(self.class_map.shape, self.shapes, values)
        return cls.astype(self.class_map.dtype)


def cleaned_class_map(
    class_map: np.ndarray, confidence: np.ndarray, settings: ProposalSettings
) -> np.ndarray:
    """Steps 2-3: threshold, then clean up (a new array; the kept one is never changed)."""
    cm = np.array(class_map, copy=True)
    if settings.threshold > 0:
        cm[(cm != 0) & (confidence < settings.threshold)] = 0
    post = PostprocessConfig(
        min_area=max(int(settings.min_area), 0),
        max_hole_area=max(int(settings.max_hole_area), 0),
        smooth_kernel=int(settings.smooth),
    )
    return postprocess(cm, post)


def derive_shapes(
    class_map: np.ndarray,
    confidence: np.ndarray,
    class_names: Sequence[str],
    settings: ProposalSettings,
    *,
    model_version: str | None,
    probabilities: np.ndarray | None = None,
    model_class_names: Sequence[str] | None = None,
    split: Mapping[str, Any] | None = None,
) -> list[Shape]:
    """Steps 2-4: the proposal shapes of a kept prediction under ``settings``.

    With ``probabilities`` and ``model_class_names`` of a model that has boundary classes, the
    object classes come out one shape per object (``class_map`` / ``confidence`` are then the
    folded ones, as :func:`propose_image` keeps them), split with ``split`` (``SplitSettings``
    fields: the model's own, :func:`~segdesk.core.split_record.split_overrides`) over the defaults.
    """
    cleaned = cleaned_class_map(class_map, confidence, settings)
    provenance = {"source": "model", "proposal": True, "model_version": model_version}
    objects = (
        learned_object_classes(model_class_names, settings.not_objects)
        if probabilities is not None and model_class_names is not None
        else frozenset()
    )
    if objects:
        overrides = dict(split or {})
        # The model's own smallest object (its calibration's), or the panel's minimum if larger.
        min_area = max(int(settings.min_area), int(overrides.pop("min_area", 0)), 1)
        separated = split_instances(
            list(model_class_names or ()),
            SplitSettings(object_classes=objects, min_area=min_area, **overrides),
            probabilities=probabilities,
            region_map=cleaned,
        )
        return split_to_shapes(
            separated,
            objects,
            tolerance=float(settings.tolerance),
            min_area=min_area,
            provenance=provenance,
            confidence=confidence,
        )
    return class_map_to_shapes(
        cleaned,
        list(class_names),
        tolerance=float(settings.tolerance),
        min_area=max(int(settings.min_area), 1),
        background=0,
        ignore_value=None,
        confidence=confidence,
        provenance=provenance,
    )


def rederive(result: PredictionResult, settings: ProposalSettings) -> list[Shape]:
    """New shapes for ``result`` under ``settings`` (the model is not run again); updates ``result``."""
    shapes = derive_shapes(
        result.class_map,
        result.confidence,
        result.class_names,
        settings,
        model_version=result.model_version,
        probabilities=result.probabilities,
        model_class_names=result.model_class_names,
        split=result.split,
    )
    result.shapes, result.settings = shapes, settings
    return shapes


def propose_image(
    predictor: Any,
    image: np.ndarray,
    settings: ProposalSettings,
    *,
    image_path: Path | None = None,
    class_names: Sequence[str] | None = None,
    cancel: CancelToken | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PredictionResult:
    """Predict one image and make its proposal shapes (steps 1-4). Raises ModelError, Cancelled.

    ``class_names`` renames the model's classes (same count and order); class 0 is background. A
    model with boundary classes is asked for its probabilities (see the module doc). Raises
    ModelError for a damaged split record in the model's meta.
    """
    names = list(class_names) if class_names is not None else list(predictor.class_names)
    if len(names) != len(predictor.class_names):
        raise ModelError(
            None,
            "classes",
            f"{len(names)} class names given for a model of {len(predictor.class_names)} classes",
        )
    # a renamed boundary class follows its class's new name
    renamed = dict(zip(predictor.class_names, names, strict=True))
    names = [
        boundary_class_name(renamed[base_class_name(n)])
        if is_boundary_class(n) and base_class_name(n) in renamed
        else renamed[n]
        for n in predictor.class_names
    ]
    instances = any(is_boundary_class(n) for n in names)
    split = split_overrides(getattr(predictor, "meta", None), predictor.model_version) if instances else {}
    start = time.perf_counter()
    if instances:
        pred = predictor.predict(image, cancel=cancel, progress=progress, return_probabilities=True)
        if pred.probabilities is None:
            raise ModelError(None, "probabilities", "the model gave no probabilities to separate objects")
        class_map, confidence, shown = fold_probabilities(pred.probabilities, names)
    else:
        pred = predictor.predict(image, cancel=cancel, progress=progress)
        class_map, confidence, shown = pred.class_map, pred.confidence, names
    result = PredictionResult(
        image_path=None if image_path is None else Path(image_path),
        model_version=predictor.model_version,
        class_names=list(shown),
        class_map=class_map,
        confidence=confidence,
        mean_entropy=float(pred.mean_entropy),
        tiles=int(getattr(pred, "tiles", 1)),
        probabilities=pred.probabilities if instances else None,
        model_class_names=names if instances else None,
        split=split,
    )
    rederive(result, settings)
    result.elapsed_s = time.perf_counter() - start
    return result


class KeptPredictions:
    """The last few predictions, one per (image, model version): a setting or a model switch
    re-derives from these instead of losing what it hid. Thread-safe; bounded by ``size`` images and
    by ``max_bytes`` of arrays (a huge image's maps are gigabytes), always keeping the latest one."""

    def __init__(self, size: int = 8, max_bytes: int = 512 * 2**20) -> None:
        self.size, self.max_bytes = size, max_bytes
        self._items: OrderedDict[tuple[str, str | None], PredictionResult] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _bytes(result: PredictionResult) -> int:
        probs = 0 if result.probabilities is None else int(result.probabilities.nbytes)
        return int(result.class_map.nbytes + result.confidence.nbytes) + probs

    def put(self, result: PredictionResult) -> None:
        if result.image_path is None:
            return
        key = (str(result.image_path), result.model_version)
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            total = sum(self._bytes(r) for r in self._items.values())
            while len(self._items) > 1 and (len(self._items) > self.size or total > self.max_bytes):
                _, dropped = self._items.popitem(last=False)
                total -= self._bytes(dropped)

    def get(self, image_path: Path | None, model_version: str | None) -> PredictionResult | None:
        if image_path is None:
            return None
        with self._lock:
            return self._items.get((str(image_path), model_version))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_predictor_lock = threading.Lock()
_predictors: dict[tuple[str, int, bool, str, str], Any] = {}


def load_predictor(model_path: Path, *, device: str = "auto", backend: str = "auto", **options: Any) -> Any:
    """A cached ``segdesk.ml.inference.infer.Predictor`` for the checkpoint (one model in memory at a time).

    The ONNX export is used when present (no torch on a CPU machine); ``options`` go to
    ``Predictor.from_checkpoint`` (tile, overlap). Raises ModelError.
    """
    from segdesk.ml.inference.infer import Predictor
    from segdesk.ml.inference.onnx_backend import onnx_path_for

    path = Path(model_path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ModelError(path, None, f"model file is missing: {exc}") from exc
    key = (str(path), stamp, onnx_path_for(path).is_file(), device, backend + repr(sorted(options.items())))
    with _predictor_lock:
        predictor = _predictors.get(key)
        if predictor is None:
            predictor = Predictor.from_checkpoint(
                path, build_onnx=False, device=device, backend=backend, **options
            )
            _predictors.clear()
            _predictors[key] = predictor
        return predictor


__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "KeptPredictions",
    "PredictionResult",
    "ProposalSettings",
    "cleaned_class_map",
    "derive_shapes",
    "load_predictor",
    "propose_image",
    "rederive",
    "with_object_setting",
]
