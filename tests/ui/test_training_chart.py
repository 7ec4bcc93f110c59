"""Defect 5: the training chart draws its loss curve even when the history starts without a loss."""

from __future__ import annotations

import pytest

from segdesk.ui.panels.training_chart import LOSS_COLOR, MIOU_COLOR, TrainingChart


def _pixels_of(chart: TrainingChart, color) -> int:
    image = chart.grab().toImage()
    width, height = image.width(), image.height()
    count = 0
    for y in range(0, height):
        for x in range(30, width - 30):  # inside the plot area (the axis labels are outside)
            c = image.pixelColor(x, y)
            if (
                abs(c.red() - color.red()) + abs(c.green() - color.green()) + abs(c.blue() - color.blue())
                < 40
            ):
                count += 1
    return count


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_a_single_training_loss_after_the_starting_models_validation_is_drawn(qtbot, missing) -> None:
    chart = TrainingChart()
    qtbot.addWidget(chart)
    chart.resize(240, 120)
    chart.set_history([(0, missing, 0.40), (1, 0.31, 0.55)])  # what a 1-epoch fine-tune records
    assert _pixels_of(chart, LOSS_COLOR) > 0 and _pixels_of(chart, MIOU_COLOR) > 0
    chart.set_history([(0, missing, 0.40)])  # only the start: the mIoU point, no loss, no error
    assert _pixels_of(chart, MIOU_COLOR) > 0
