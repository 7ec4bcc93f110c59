"""Issue 17: metrics of a model with boundary classes are over the classes a person sees (each boundary
class folded into its class, as its proposals fold them): the held-out mIoU shown, the epoch kept and the
promotion check."""

from __future__ import annotations

import numpy as np
import torch

from segdesk.core.instances import fold_boundary_mask
from segdesk.ml.metrics import ConfusionMatrix, shown_classes
from segdesk.ml.training.promotion import judge

NAMES = ["_background_", "nucleus", "cell", "nucleus::boundary"]


def test_the_boundary_class_is_folded_into_its_class_in_truth_and_prediction():
    truth = np.array([0, 1, 3, 3, 2, 255])
    pred = np.array([0, 3, 1, 0, 2, 1])
    cm = ConfusionMatrix(4)
    cm.update(truth, pred)
    folded, names = shown_classes(cm, NAMES)
    assert names == ["_background_", "nucleus", "cell"]
    # as if truth and prediction had said "nucleus" for every boundary pixel
    expected = ConfusionMatrix(3)
    expected.update(np.array([0, 1, 1, 1, 2, 255]), np.array([0, 1, 1, 0, 2, 1]))
    assert np.array_equal(folded.matrix, expected.matrix)
    metrics = folded.compute(names)
    assert metrics.iou == [0.5, 2 / 3, 1.0]
    # unscored on its own, the boundary class would have pulled the mean down
    assert metrics.miou > cm.compute(NAMES).miou


def test_without_boundary_classes_nothing_changes():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 2]), np.array([0, 2, 2]))
    folded, names = shown_classes(cm, ["_background_", "a", "b"])
    assert folded is cm and names == ["_background_", "a", "b"]


def test_a_boundary_class_listed_before_others_still_folds_to_the_right_indices():
    names = ["_background_", "a::boundary", "a", "b"]
    mask = np.array([[0, 1, 2, 3, 255]], dtype=np.uint8)
    assert fold_boundary_mask(mask, names).tolist() == [[0, 1, 1, 2, 255]]
    cm = ConfusionMatrix(4)
    cm.update(mask, mask)
    folded, shown = shown_classes(cm, names)
    assert shown == ["_background_", "a", "b"] and folded.compute(shown).miou == 1.0


class _Sample:
    def __init__(self, image, mask):
        self.image, self.mask = image, mask


def test_a_candidate_that_finds_the_objects_but_never_their_rims_is_useful():
    """The promotion check judges what the proposals show: objects found (their boundary band scored
    as the object), not the boundary class on its own, which the old check only excused."""
    torch.manual_seed(0)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 3  # the rim band
    mask[12:28, 12:28] = 1  # the nucleus inside it
    mask[0:6, 30:40] = 2
    image = np.zeros((40, 40, 3), np.float32)
    image[mask > 0] = 0.2  # neither bright nor dark: the trivial threshold baseline gets little
    image[mask == 2] = 0.9
    pred = np.where(mask == 3, 1, mask)  # the rim predicted as the nucleus itself
    cm = ConfusionMatrix(4)
    cm.update(mask, pred)
    verdict = judge(cm, [_Sample(image, mask)], NAMES)
    assert verdict.useful, verdict.message()
    assert verdict.miou == 1.0  # folded: every pixel right
