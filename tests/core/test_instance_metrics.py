"""Issue 17: the DSB 2018 average precision, splits and merges on hand-made instance maps."""

from __future__ import annotations

import numpy as np
import pytest

from segdesk.core.instance_metrics import THRESHOLDS, score_image, score_images


def squares() -> np.ndarray:
    """Two 10x10 true objects side by side and a third apart."""
    t = np.zeros((30, 40), np.int32)
    t[0:10, 0:10] = 1
    t[0:10, 10:20] = 2
    t[20:30, 30:40] = 3
    return t


def test_perfect_prediction_scores_one_whatever_the_ids() -> None:
    t = squares()
    p = np.where(t > 0, 10 - t, 0)  # other ids, same objects
    s = score_image(t, p)
    assert s.precision == {th: 1.0 for th in THRESHOLDS}
    assert (s.splits, s.merges) == (0, 0)


def test_a_merge_is_counted_and_scores_no_match() -> None:
    t = squares()
    p = np.zeros_like(t)
    p[0:10, 0:20] = 1  # both squares as one object: IoU 0.5 with each, not above 0.5
    p[20:30, 30:40] = 2
    s = score_image(t, p)
    assert (s.splits, s.merges) == (0, 1)
    assert s.precision[0.5] == pytest.approx(1 / (1 + 1 + 2))  # TP 1 (the third), FP 1, FN 2


def test_a_split_is_counted() -> None:
    t = np.zeros((10, 30), np.int32)
    t[:, 0:20] = 1
    p = np.zeros_like(t)
    p[:, 0:10] = 1
    p[:, 10:20] = 2
    s = score_image(t, p)
    assert (s.splits, s.merges) == (1, 0)
    assert s.precision[0.5] == 0.0  # each half has IoU 0.5


def test_thresholds_follow_the_iou() -> None:
    t = np.zeros((10, 10), np.int32)
    t[0:10, 0:10] = 1
    p = np.zeros_like(t)
    p[0:10, 0:8] = 1  # IoU 0.8
    s = score_image(t, p)
    assert s.precision[0.75] == 1.0 and s.precision[0.8] == 0.0 and s.precision[0.85] == 0.0
    assert s.mean_ap == pytest.approx(6 / 10)  # 0.5 .. 0.75 match


def test_false_positives_and_misses_and_the_mean_over_images() -> None:
    t = squares()
    p = np.zeros_like(t)
    p[0:10, 0:10] = 5  # match
    p[25:28, 0:3] = 6  # false positive; objects 2 and 3 missed
    one = score_image(t, p, name="a")
    assert one.precision[0.5] == pytest.approx(1 / (1 + 1 + 2))
    empty = score_image(np.zeros((4, 4), np.int32), np.zeros((4, 4), np.int32))
    assert empty.precision[0.5] == 1.0
    scores = score_images([("a", t, p), ("b", np.zeros((4, 4), np.int32), np.zeros((4, 4), np.int32))])
    assert scores.ap(0.5) == pytest.approx((0.25 + 1.0) / 2)
    assert scores.to_dict()["images"] == 2


def test_maps_of_other_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        score_image(np.zeros((3, 3), np.int32), np.zeros((3, 4), np.int32))
