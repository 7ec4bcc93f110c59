"""The warm start: which runs start from the shipped generalist model, in the app and the CLI alike.

The rule (one place; ``training.prepare`` asks it whenever a run would otherwise build a new model):

- A run with a base model (the project's current version) fine-tunes that model: no warm start;
  except a model that itself started from the generalist and learnt from fewer than 3 reviewed
  images (never checked on held-out images: :func:`unchecked`), or from no more images than this
  run brings new to it (:func:`outgrown`), which is set aside for the generalist where a new
  model would get it (:func:`set_aside_reason`).
- A run that would start from a new model (a new project, ``--from-scratch``, or a base of another
  architecture than the one asked for) starts from the shipped generalist instead
  (``segdesk/ml/generalist.py``) **where it measurably helps** (:func:`helps`: ``_background_`` and
  one object class that is not thin, the generalist's own form; elsewhere it measured no better or
  worse than random weights, docs/benchmarks.md): its encoder and decoder, a new head for the project's
  classes, its width and depth (the plan keeps a given model's). ``--from-scratch`` means "not from
  this project's model". ``TrainRequest.warm_start``: None (the default) applies :func:`helps`,
  True (``--warm-start``) always starts from the generalist, False (``--no-warm-start``) never.
- A person (or a caller's config) who fixed another width or depth (``--base-width`` / ``--depth``,
  a TrainConfig width or depth other than its default) gets that new model, from random weights.

The saved version records it (``meta["warm_start"]``: the generalist's name) and the plan's line says
"from the shipped generalist model". Measured with and without in docs/benchmarks.md ("The warm start").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: What the plan's line and the CLI say about a warm start.
FROM_GENERALIST = "from the shipped generalist model"


@dataclass(frozen=True)
class WarmStart:
    model: Any  # segdesk.ml.model.UNet with a new head for the project's classes
    classes: list[str]
    name: str  # the generalist's name, e.g. "generalist-v3"


def helps(dataset: Any) -> bool:
    """Whether the warm start is on by default for ``dataset``: the generalist's own form, a
    ``_background_`` class and one object class, whose objects are not thin at the working scale.

    The derived ``<label>::boundary`` classes of an instance project (``core/instances.py``) do not
    count: the fingerprint folds them back into their class (``fingerprint.measure``), so a nucleus
    project with its boundary class is still the generalist's form; the new head gets every class,
    the boundary class included.

    Measured at 300 fixed steps (docs/benchmarks.md, "The warm start"): DSB nuclei (background +
    nucleus) +0.045 mIoU; the demo (3 classes) no difference; ISBI (membrane / interior, no background)
    -0.022; generated 16-bit (cell + thin rod) -0.24, the rods lost. So: off elsewhere. DSB nuclei
    with their boundary class (issue 17, 352 steps, two seeds): AP@0.5 0.518 warm vs 0.444 cold,
    nucleus IoU 0.712 vs 0.529 ("Warm start and plan for instance projects"). However much of the
    images the objects fill: large leaves on soil covering 30 / 60 / 80% of the pixels (generated,
    session 18, four seeds each) +0.009 / +0.080 / +0.063 test mIoU; ISBI imported as
    ``_background_`` (membranes) and ``cell`` (76% of the pixels) the one measured cost, 0.003-0.019
    (session 17), which a rule on the objects' share (session 17's) would buy back at the leaves'
    expense.
    """
    from segdesk.core.project import BACKGROUND_LABEL
    from segdesk.ml.training.fingerprint import measure
    from segdesk.ml.training.plan import choose_scale, thin_classes

    fp = measure(dataset.train, dataset.class_names)  # the drawn classes: boundary classes folded in
    names = [c.name for c in fp.classes]
    if len(names) != 2 or names[0] != BACKGROUND_LABEL:
        return False
    scale, _typical, _why = choose_scale(fp)
    return not thin_classes(fp, scale)


def starting_model(dataset: Any, config: Any, *, warm_start: bool | None = None) -> WarmStart | None:
    """The generalist, ready for ``dataset``'s classes, for a run that would start from a new model;
    None: a new model from random weights. ``warm_start`` (the request's ``TrainRequest.warm_start``):
    None = where it helps (:func:`helps`), True = always, False = never.

    Raises ModelError naming the shipped file when it is missing or damaged.
    """
    if warm_start is False or (warm_start is None and not helps(dataset)):
        return None
    from segdesk.ml.generalist import warm_model

    model, meta = warm_model(dataset.class_names, seed=config.seed)
    if _architecture_fixed(config, model.config):
        return None  # the person (or the caller's config) asked for another width or depth
    return WarmStart(model, list(dataset.class_names), str(meta["generalist"]["name"]))


def unchecked(meta: Any) -> bool:
    """Whether a model is a poorer start than the shipped generalist it came from: it started from
    the generalist and learnt from fewer than 3 reviewed images, so it was validated on its own
    training images only (split "all-for-both") and has fitted them. In the app's loop on DSB dev
    the Retrain at 2 reviewed images fine-tuned from such a model reached test mIoU 0.695, from the
    generalist 0.774; at 5 images 0.867 against 0.883 (docs/benchmarks.md). Such a run starts from
    the generalist again (where :func:`starting_model` would give it to a new model; ``training.prepare``)."""
    metrics = meta.get("metrics") or {}
    learnt = meta.get("images")
    few = not isinstance(learnt, list) or len(learnt) < 3  # not a model of many images validated on them
    return bool(meta.get("warm_start")) and metrics.get("split") == "all-for-both" and few


def outgrown(meta: Any, dataset: Any) -> bool:
    """Whether a model that started from the generalist has learnt from no more images than this
    run's training images it never saw: then the generalist with a new head is trained on all of
    them at once. In the app's loop on DSB dev, 5 -> 10 reviewed images (4 of the 8 training
    images new; 300 steps, seeds 0-2): fine-tuned from the 5-image model (test mIoU 0.870) 0.842 /
    0.874 / 0.861, under the model it replaced on average; from the generalist 0.876 / 0.893 / 0.886
    (docs/benchmarks.md); but the generalist had trained on those images. On DSB images it never saw
    (session 17) the two starts are equal within the seeds' spread (0.878 against 0.879)."""
    learnt = meta.get("images")
    if not meta.get("warm_start") or not isinstance(learnt, list) or not learnt:
        return False
    return len(getattr(dataset, "new_images", ())) >= len(learnt)


#: Why a model of :func:`unchecked` is set aside.
UNCHECKED_REASON = "it learnt from fewer than 3 images, never checked on held-out ones"


def set_aside_reason(meta: Any, dataset: Any) -> str | None:
    """Why the current model is not fine-tuned but the generalist is started from again (None: it is
    fine-tuned): :func:`unchecked` or :func:`outgrown`.

    An unchecked model is kept when the run trains on exactly its images (a third reviewed image
    became the held-out one): the generalist on the same images and seed gave the same weights again
    (ISBI's loop at 3 images: v3 identical to v2, 2.5 minutes for a copy); fine-tuned, it meets the
    new held-out image it never saw, and a run that does no better saves nothing."""
    if unchecked(meta) and (not getattr(dataset, "known", None) or dataset.new_images):
        return UNCHECKED_REASON
    if outgrown(meta, dataset):
        learnt, new = len(meta["images"]), len(dataset.new_images)
        return f"it learnt from {learnt} image(s) and {new} new to it train now: a new model learns them all at once"
    return None


def set_aside_note(version: str, why: str | None = None) -> str:
    """ " (not v3: why)", what the CLI's first lines and the panel's plan line add for a set-aside model."""
    return f" (not {version}: {why or UNCHECKED_REASON})"


def _architecture_fixed(config: Any, shipped: Any) -> bool:
    """Whether ``config`` fixes a width or depth other than the generalist's: the plan's rule of what
    was fixed (``plan.planned``: the CLI's overrides, a field that differs from TrainConfig's default)."""
    from segdesk.ml.training.train import TrainConfig

    defaults = TrainConfig()
    fixed = (config.plan or {}).get("overrides") or {}
    for key in ("base_width", "depth"):
        value = fixed.get(key, getattr(config, key))
        if (key in fixed or value != getattr(defaults, key)) and value != getattr(shipped, key):
            return True
    return False


def note_in_plan(config: Any, name: str | None) -> Any:
    """``config`` whose saved plan says the run started from the generalist ``name`` (None: as is)."""
    if not name or config.plan is None:
        return config
    plan = dict(config.plan)
    plan["warm_start"] = name
    plan["reasons"] = [*plan.get("reasons", []), f"started {FROM_GENERALIST} ({name}), a new head"]
    return dataclasses.replace(config, plan=plan)


def plan_line(plan: Any, warm_start: str | None) -> str:
    """The plan's one line, plus where the run started when that was the generalist."""
    if plan is None:
        return FROM_GENERALIST if warm_start else ""
    return f"{plan.summary()}, {FROM_GENERALIST}" if warm_start else plan.summary()


__all__ = [
    "FROM_GENERALIST",
    "WarmStart",
    "helps",
    "note_in_plan",
    "plan_line",
    "starting_model",
    "outgrown",
    "set_aside_note",
    "set_aside_reason",
    "unchecked",
]
