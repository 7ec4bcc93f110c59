"""Inference: tiling, memory bound, post-processing, proposals, devices. Tiny models, CPU, seconds."""

from __future__ import annotations

import itertools
import threading
import tracemalloc

import numpy as np
import pytest
import torch

from segdesk.core.errors import Cancelled, ModelError
from segdesk.core.postprocess import (
    PostprocessConfig,
    fill_holes,
    majority_smooth,
    postprocess,
    remove_small_components,
)
from segdesk.ml.device import DeviceError, autocast, pick_device
from segdesk.ml.inference.infer import Predictor, whole_image_range
from segdesk.ml.inference.tiling import ramp_window, tile_positions, working_memory_bytes
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.normalize import intensity_range
from segdesk.services.proposals import ProposalSettings, cleaned_class_map, propose_image
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model

torch.set_num_threads(1)
META = {"classes": CLASSES, "version": "v3"}


@pytest.fixture(scope="module")
def net() -> UNet:
    return trained_tiny_model()


def predictor(net: UNet, **kwargs) -> Predictor:
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("backend", "torch")
    return Predictor(fresh_copy(net), META, **kwargs)


# --- tiling -----------------------------------------------------------------------------------------


def test_tiled_prediction_equals_whole_image_prediction(net: UNet) -> None:
    # A size that is a multiple of 2**depth, so the whole-image pass adds no reflect padding that the
    # border tiles (which see zero padding) could not see either; seams are the only difference.
    img, truth = blob_image(148, 168, seed=3)
    whole = predictor(net, tile=256).predict(img, return_probabilities=True)
    tiled = predictor(net, tile=64, overlap=0.25).predict(img, return_probabilities=True)
    assert whole.tiles == 1 and tiled.tiles == 12
    diff = np.abs(whole.probabilities.astype(np.float32) - tiled.probabilities.astype(np.float32))
    assert diff.mean() < 1e-3 and diff.max() < 0.15
    assert (whole.class_map == tiled.class_map).mean() >= 0.999
    assert np.abs(whole.confidence - tiled.confidence).max() < 0.15
    # And the model is right, so the comparison is between meaningful maps.
    inter = np.logical_and(tiled.class_map == 1, truth == 1).sum()
    assert inter / np.logical_or(tiled.class_map == 1, truth == 1).sum() > 0.9


def test_tiled_prediction_of_an_odd_size_still_agrees(net: UNet) -> None:
    img, _ = blob_image(150, 170, seed=3)
    whole = predictor(net, tile=256).predict(img)
    tiled = predictor(net, tile=64, overlap=0.25).predict(img)
    assert (whole.class_map == tiled.class_map).mean() >= 0.998


def test_tile_positions_cover_everything_flush_with_the_end() -> None:
    for size, tile, stride in [(100, 32, 24), (64, 64, 48), (65, 64, 48), (10, 64, 48), (1000, 512, 384)]:
        pos = tile_positions(size, tile, stride)
        covered = np.zeros(size, bool)
        for p in pos:
            covered[p : p + tile] = True
        assert covered.all() and pos[0] == 0
        assert pos[-1] == max(size - tile, 0)
        assert all(b - a <= stride for a, b in itertools.pairwise(pos))


def test_ramp_window_is_one_inside_and_ramps_only_on_overlapped_sides() -> None:
    w = ramp_window(64, 16, left=True, right=False)
    assert w[-1] == 1 and w[0] < 0.05 and np.all(np.diff(w[:16]) > 0) and np.all(w[16:] == 1)
    assert np.all(ramp_window(64, 16, left=False, right=False) == 1)
    assert np.all(ramp_window(64, 16, left=True, right=True) > 0)


def test_any_size_dtype_and_channel_count(net: UNet) -> None:
    p = predictor(net, tile=64)
    img, _ = blob_image(70, 90, seed=5)
    base = p.predict(img).class_map
    as16 = p.predict(img.astype(np.uint16) * 257).class_map
    rgba = p.predict(np.dstack([img, img, img, np.full_like(img, 255)])).class_map
    asfloat = p.predict(img.astype(np.float32) / 255.0).class_map
    for other in (as16, rgba, asfloat):
        assert (other == base).mean() > 0.999
    tiny = p.predict(img[:5, :7])
    assert tiny.class_map.shape == (5, 7) and tiny.class_map.dtype == np.uint8
    assert tiny.confidence.dtype == np.float32


def test_many_classes_give_a_uint16_class_map() -> None:
    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=4, depth=2, num_classes=300)).eval()
    p = Predictor(net, {"classes": [f"c{i}" for i in range(300)]}, device="cpu")
    out = p.predict(np.zeros((16, 20), np.uint8))
    assert out.class_map.dtype == np.uint16 and int(out.class_map.max()) < 300


def test_whole_image_range_equals_the_normalization_range() -> None:
    rng = np.random.default_rng(0)
    big = rng.integers(0, 4000, (1500, 900), dtype=np.uint16)  # > 1M pixels: sampled
    assert whole_image_range(big) == intensity_range(big)
    small = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    assert whole_image_range(small) == intensity_range(small)


# --- memory bound ------------------------------------------------------------------------------------


def _extra_peak(p: Predictor, img: np.ndarray) -> int:
    """Peak numpy memory during predict beyond its outputs (class map + confidence)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = p.predict(img)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - out.class_map.nbytes - out.confidence.nbytes


def test_working_memory_does_not_grow_with_image_height(net: UNet, monkeypatch) -> None:
    # The intensity statistics sample at most NORMALIZATION["max_stat_pixels"] pixels (a constant,
    # tested in tests/ml for data.py); leave them out so that only the tiling is measured here.
    monkeypatch.setattr("segdesk.ml.inference.infer.whole_image_range", lambda image, **_: (0.0, 255.0))
    p = predictor(net, tile=32, overlap=0.25)
    short, _ = blob_image(128, 96, seed=1)
    tall, _ = blob_image(1024, 96, seed=1)
    a, b = _extra_peak(p, short), _extra_peak(p, tall)
    # 8x the rows: outputs grow by ~440 KB, the working set must not (a full C x H x W float
    # accumulator would add 2 * 1024 * 96 * 4 = 786 KB).
    assert b < a + 64 * 1024
    assert b < 2 * working_memory_bytes(96, 2, 32) + 256 * 1024


# --- uncertainty, cancel, progress ----------------------------------------------------------------


def test_uniform_model_has_entropy_one_and_all_pixels_low_confidence() -> None:
    net = UNet(UNetConfig(base_width=4, depth=2)).eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
    out = Predictor(net, META, device="cpu", tile=32).predict(np.zeros((50, 40), np.uint8))
    assert out.mean_entropy == pytest.approx(1.0, abs=1e-4)
    assert out.low_confidence_fraction == 1.0
    assert np.allclose(out.confidence, 0.5)


def test_trained_model_is_more_certain_on_its_kind_of_image_than_on_noise(net: UNet) -> None:
    p = predictor(net, tile=64)
    img, _ = blob_image(96, 96, seed=9)
    noise = np.random.default_rng(1).integers(0, 255, (96, 96), dtype=np.uint8)
    sure, unsure = p.predict(img), p.predict(noise)
    assert 0.0 <= sure.uncertainty < unsure.uncertainty <= 1.0
    assert sure.low_confidence_fraction < unsure.low_confidence_fraction


def test_cancel_stops_and_progress_counts_tiles(net: UNet) -> None:
    p = predictor(net, tile=32)
    img, _ = blob_image(100, 100, seed=2)
    seen: list[tuple[int, int]] = []
    out = p.predict(img, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (out.tiles, out.tiles) and [d for d, _ in seen] == sorted(d for d, _ in seen)

    class StopAfter:
        """Set after the predictor has looked at it ``n`` times (once per batch of tiles)."""

        def __init__(self, n: int) -> None:
            self.left = n

        def is_set(self) -> bool:
            self.left -= 1
            return self.left < 0

    token = StopAfter(2)
    with pytest.raises(Cancelled):
        p.predict(img, cancel=token)
    assert token.left == -1  # it stopped at the first check after the token was set
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        p.predict(img, cancel=event)


# --- post-processing -------------------------------------------------------------------------------


def test_small_islands_are_absorbed_by_their_surroundings() -> None:
    cm = np.zeros((40, 40), np.uint8)
    cm[5:25, 5:25] = 1
    cm[10:12, 10:12] = 2  # a 4-pixel island of class 2 inside class 1
    cm[30:32, 30:33] = 1  # a 6-pixel island of class 1 on background
    out = remove_small_components(cm, 8)
    assert (out[10:12, 10:12] == 1).all() and (out[30:32, 30:33] == 0).all()
    assert (out[5:25, 5:25] == 1).all() and out.dtype == np.uint8
    assert np.array_equal(remove_small_components(cm, 4), cm)  # areas >= 4 are kept


def test_holes_are_filled_only_when_enclosed_by_one_class_and_small() -> None:
    cm = np.zeros((30, 40), np.uint8)
    cm[2:20, 2:20] = 1
    cm[8:11, 8:11] = 0  # 9-pixel hole inside class 1
    cm[0:5, 25:35] = 2
    cm[0:2, 28:31] = 0  # notch open to the border: not a hole
    out = fill_holes(cm, 20)
    assert (out[8:11, 8:11] == 1).all()
    assert (out[0:2, 28:31] == 0).all()
    assert np.array_equal(fill_holes(cm, 5)[8:11, 8:11], cm[8:11, 8:11])  # 9 > 5: kept


def test_hole_between_two_classes_is_kept() -> None:
    cm = np.zeros((20, 20), np.uint8)
    cm[2:18, 2:10] = 1
    cm[2:18, 10:18] = 2
    cm[8:10, 9:11] = 0  # straddles the 1|2 boundary
    assert (fill_holes(cm, 50)[8:10, 9:11] == 0).all()


def test_majority_smooth_removes_specks_and_keeps_ties() -> None:
    cm = np.zeros((9, 9), np.uint8)
    cm[4, 4] = 1
    assert majority_smooth(cm, 3).max() == 0
    stripes = np.zeros((6, 6), np.uint8)
    stripes[:, 3:] = 1
    assert np.array_equal(majority_smooth(stripes, 3), stripes)


def test_postprocess_pipeline_and_config_validation() -> None:
    cm = np.zeros((30, 30), np.uint16)
    cm[5:25, 5:25] = 1
    cm[12, 12] = 0
    cm[27, 27] = 1
    out = postprocess(cm, PostprocessConfig(min_area=4, max_hole_area=4))
    assert out.dtype == np.uint16 and out[12, 12] == 1 and out[27, 27] == 0
    assert out is not cm and cm[12, 12] == 0  # input untouched
    with pytest.raises(ValueError):
        PostprocessConfig(smooth_kernel=4)
    with pytest.raises(ValueError):
        postprocess(np.zeros((3, 3), np.int32))


# --- proposals -------------------------------------------------------------------------------------


def test_proposals_are_marked_with_model_version_and_confidence(net: UNet) -> None:
    img, truth = blob_image(100, 120, seed=4, count=6)
    settings = ProposalSettings(min_area=20)
    result = propose_image(predictor(net, tile=64), img, settings)
    assert result.shapes
    for shape in result.shapes:
        assert shape.label == "cell" and shape.is_proposal and not shape.is_from_person
        assert shape.extra["source"] == "model" and shape.extra["proposal"] is True
        assert shape.extra["model_version"] == "v3"
        assert 0.5 < shape.extra["confidence"] <= 1.0
    # The shapes redraw the thresholded, cleaned map (polygon simplification moves few pixels).
    cleaned = cleaned_class_map(result.class_map, result.confidence, settings)
    assert (result.rasterized() == cleaned).mean() > 0.98
    assert (cleaned == truth).mean() > 0.97


def test_proposals_rename_classes_and_check_their_count(net: UNet) -> None:
    img, _ = blob_image(80, 80, seed=6, count=4)
    p = predictor(net, tile=64)
    plain = propose_image(p, img, ProposalSettings())
    renamed = propose_image(p, img, ProposalSettings(), class_names=["_background_", "nucleus"])
    assert [s.label for s in renamed.shapes] == ["nucleus"] * len(renamed.shapes)
    assert len(plain.shapes) == len(renamed.shapes) > 0
    assert all(np.array_equal(a.points, b.points) for a, b in zip(plain.shapes, renamed.shapes, strict=True))
    with pytest.raises(ModelError):
        propose_image(p, img, ProposalSettings(), class_names=["only_one"])


# --- devices ----------------------------------------------------------------------------------------


def test_device_choice_and_errors() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    assert pick_device("") == pick_device("auto") and pick_device(" CPU ") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "auto:1", "tpu"):
        with pytest.raises(DeviceError, match="expected one of|takes no index"):
            pick_device(bad)
    if torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA device"):
            pick_device(f"cuda:{torch.cuda.device_count()}")
    with autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_requesting_cuda_without_cuda_is_a_clear_error(net: UNet) -> None:
    with pytest.raises(DeviceError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(DeviceError, match="cuda:1"):
        predictor(net, device="cuda:1")


@pytest.mark.skipif(
    bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(), reason="MPS here"
)
def test_requesting_mps_without_mps_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="MPS is not available"):
        pick_device("mps")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_predictions_agree(net: UNet) -> None:
    img, _ = blob_image(200, 150, seed=8)
    cpu = predictor(net, tile=64).predict(img, return_probabilities=True)
    gpu = predictor(net, tile=64, device="cuda").predict(img, return_probabilities=True)
    assert (cpu.class_map == gpu.class_map).mean() >= 0.999
    diff = np.abs(cpu.probabilities.astype(np.float32) - gpu.probabilities.astype(np.float32))
    assert diff.max() < 0.05  # bf16/fp16 autocast on the GPU
    fp32 = predictor(net, tile=64, device="cuda", amp=False).predict(img, return_probabilities=True)
    assert np.abs(cpu.confidence - fp32.confidence).max() < 1e-3
