"""The fingerprint and the plan: working scale from object sizes, width from measured speed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segdesk.core.instances import instance_target, relabel_sequential
from segdesk.ml.data import training_set_from_arrays
from segdesk.ml.training.fingerprint import measure, object_diameters
from segdesk.ml.training.plan import CANONICAL_DIAMETER, Plan, make_plan, plan_training
from segdesk.ml.training.train import TrainConfig


def _disks(size: int, radius: int, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A grey image with ``count`` bright disks of ``radius`` and its class map (0 bg, 1 disk)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), np.uint8)
    for _ in range(count):
        cy, cx = rng.integers(radius, size - radius, 2)
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 1
    image = (40 + 150 * mask + rng.normal(0, 5, mask.shape)).clip(0, 255).astype(np.uint8)
    return image, mask


def _fingerprint(radius: int, count: int, size: int = 512):
    pairs = [_disks(size, radius, count, seed) for seed in range(3)]
    ts = training_set_from_arrays([p[0] for p in pairs], [p[1] for p in pairs], ["bg", "disk"])
    return measure(ts.train, ts.class_names), ts


def test_inscribed_diameter_is_the_width_of_discs_and_of_thin_lines():
    mask = np.zeros((200, 200), bool)
    yy, xx = np.mgrid[:200, :200]
    mask[(yy - 50) ** 2 + (xx - 50) ** 2 <= 20**2] = True  # a disc of diameter 41
    mask[150:154, 10:190] = True  # a line 4 px thick
    d, area = object_diameters(mask)
    assert sorted(np.round(d).astype(int).tolist()) == pytest.approx([4, 40], abs=2)
    assert len(area) == 2


def test_small_objects_get_a_finer_working_scale_than_large_ones():
    small, _ = _fingerprint(radius=6, count=40)
    large, _ = _fingerprint(radius=48, count=3)
    plan_small, plan_large = make_plan(small), make_plan(large)
    assert plan_small.scale == 1.0  # small nuclei: never downsampled
    assert plan_large.scale < plan_small.scale
    assert plan_large.scale == pytest.approx(CANONICAL_DIAMETER / 96, abs=0.126)  # ~24 px across at scale
    assert "working scale" in plan_large.reasons[0]


def test_thin_structures_keep_native_scale_and_more_class_crops():
    rng = np.random.default_rng(0)
    masks, images = [], []
    for _ in range(2):
        m = np.zeros((256, 256), np.uint8)
        m[:, ::40] = 1  # one-pixel lines: a thin class, 2.5% of the pixels
        m[:, 1::40] = 1
        masks.append(m)
        images.append((60 + 120 * m + rng.normal(0, 3, m.shape)).clip(0, 255).astype(np.uint8))
    ts = training_set_from_arrays(images, masks, ["bg", "line"])
    plan = make_plan(measure(ts.train, ts.class_names))
    assert plan.scale == 1.0 and plan.class_crop_p > 0.5


def test_the_width_follows_the_measured_speed_and_a_gpu_gets_a_wider_model():
    fp, _ = _fingerprint(radius=6, count=20)
    slow = make_plan(fp, budget_s=120, throughput=lambda w, d, p, b: 3.0 / (w / 8) ** 2)  # a 2-core CPU
    fast = make_plan(fp, device_type="cuda", budget_s=120, throughput=lambda w, d, p, b: 400.0 / (w / 8))
    assert slow.base_width == 8 and fast.base_width > slow.base_width
    assert fast.base_width == 64 and fast.steps_per_s["8"] == 400.0
    assert "width 64" in fast.summary()


def test_every_field_can_be_overridden_and_the_plan_is_json():
    fp, _ = _fingerprint(radius=48, count=3)
    plan = make_plan(fp, overrides={"scale": 1.0, "base_width": 16, "min_steps": 5})
    assert (plan.scale, plan.base_width, plan.min_steps) == (1.0, 16, 5)
    assert sorted(plan.overridden) == ["base_width", "min_steps", "scale"]
    again = Plan.from_dict(plan.to_dict())
    assert again == plan
    assert again.summary().startswith("working scale 1x, patches ")


def test_plan_training_sets_the_config_and_keeps_fixed_epochs():
    _, ts = _fingerprint(radius=48, count=3)
    cfg, plan, fp = plan_training(ts, TrainConfig(minutes=1.0), throughput=lambda *a: 5.0)
    assert cfg.scale == plan.scale < 1 and cfg.min_steps == plan.min_steps > 0 and cfg.plan == plan.to_dict()
    fixed, _, _ = plan_training(ts, TrainConfig(minutes=None, max_epochs=3), throughput=lambda *a: 5.0)
    assert fixed.min_steps == 0 and fixed.target_steps == 0  # epochs decide a repeatable run


def test_training_uses_the_idle_cores(monkeypatch):
    """One of two cores busy: one thread (two would share a core with the busy program and stall)."""
    from segdesk.ml.training import cpu_share

    readings = iter([(100.0, 1000.0), (150.0, 1100.0)])  # half of the CPU time idle over the sample
    monkeypatch.setattr(cpu_share, "_cpu_times", lambda: next(readings))
    monkeypatch.setattr(cpu_share.os, "cpu_count", lambda: 2)
    assert cpu_share.training_threads(sample_s=0.0) == 1
    readings = iter([(100.0, 1000.0), (195.0, 1100.0)])  # quiet
    assert cpu_share.training_threads(sample_s=0.0) == 2
    monkeypatch.setattr(cpu_share, "_cpu_times", lambda: None)  # not Linux: all cores but one
    assert cpu_share.training_threads(sample_s=0.0) == 1


def test_plan_training_picks_the_threads_when_none_are_given(monkeypatch):
    from segdesk.ml.training import cpu_share

    monkeypatch.setattr(cpu_share, "training_threads", lambda sample_s=0.3: 1)
    _, ts = _fingerprint(radius=6, count=20)
    cfg, plan, _ = plan_training(ts, TrainConfig(minutes=1.0, device="cpu"), throughput=lambda *a: 5.0)
    assert cfg.threads == 1 and plan.threads == 1 and any("thread" in r for r in plan.reasons)
    fixed, plan, _ = plan_training(ts, TrainConfig(minutes=1.0, threads=2), throughput=lambda *a: 5.0)
    assert fixed.threads == 2 and not any("idle" in r for r in plan.reasons)


def test_the_summary_estimates_the_steps_from_the_measured_speed():
    fp, _ = _fingerprint(radius=6, count=20)
    plan = make_plan(fp, budget_s=120, throughput=lambda w, d, p, b: 3.0 / (w / 8) ** 2)
    assert plan.expected_steps() == 360 and plan.summary().endswith("about 360 steps")
    slow = make_plan(fp, budget_s=120, throughput=lambda w, d, p, b: 0.5)
    assert slow.expected_steps() == slow.min_steps  # the minimum holds however slow the machine


def test_an_instance_projects_boundary_class_is_folded_into_its_class_before_planning() -> None:
    """Issue 17: the 2-px ``::boundary`` band is not an object of its own: it does not set the scale
    (4 px 'objects' would pin large cells at 1x), nor make the class rare or thin (more crops,
    balanced loss weights). The plan is the plain 2-class project's."""
    image, mask = _disks(512, 24, 30)
    _, ins, _, centres = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    # each disk two touching objects (left and right half): a boundary band where they touch
    halves = np.where(ins > 0, 2 * ins - (np.arange(mask.shape[1])[None] < centres[ins, 0]), 0)
    target = instance_target(mask, relabel_sequential(halves), {1: 2}, width=2).astype(np.uint8)
    assert (target == 2).any()
    plain = measure(
        training_set_from_arrays([image], [mask], ["_background_", "cell"]).train, ["_background_", "cell"]
    )
    names = ["_background_", "cell", "cell::boundary"]
    folded = measure(training_set_from_arrays([image], [target], names).train, names)
    assert [c.name for c in folded.classes] == ["_background_", "cell"]
    assert folded.classes == plain.classes
    a, b = make_plan(plain, budget_s=None), make_plan(folded, budget_s=None)
    assert (a.scale, a.class_crop_p, a.class_weights) == (b.scale, b.class_crop_p, b.class_weights)
    assert b.scale < 1.0 and b.class_weights == "none"


def test_a_cpu_takes_more_smaller_patches_and_small_images_stay_whole():
    fp, _ = _fingerprint(radius=6, count=40)  # 512² images
    cpu, gpu = make_plan(fp), make_plan(fp, device_type="cuda")
    assert (cpu.patch_size, cpu.batch_size) == (128, 16)  # the pixels of 4 x 256², in more views
    assert (gpu.patch_size, gpu.batch_size) == (256, 16)
    small, _ = _fingerprint(radius=6, count=4, size=96)
    assert (make_plan(small).patch_size, make_plan(small).batch_size) == (96, 4)
    fixed = make_plan(fp, overrides={"patch_size": 256, "batch_size": 4})
    assert (fixed.patch_size, fixed.batch_size) == (256, 4)
