"""Issue 17: the correction-effort meter counts the splits and merges the person made."""

from __future__ import annotations

import csv

import numpy as np

from segdesk.core.effort import CSV_FIELDS, append_csv, correction_ious, recent_object_edits, recent_trend
from segdesk.core.shapes import Shape


def _rect(label: str, x0: float, y0: float, x1: float, y1: float, group_id=None) -> Shape:
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
    return Shape(label=label, points=pts, group_id=group_id)


def test_a_split_and_a_merge_are_counted_per_class() -> None:
    proposed = [_rect("cell", 0, 0, 19, 9), _rect("cell", 30, 0, 34, 9), _rect("cell", 35, 0, 39, 9)]
    # The person cut the first proposal in two and joined the other two.
    saved = [_rect("cell", 0, 0, 9, 9), _rect("cell", 10, 0, 19, 9), _rect("cell", 30, 0, 39, 9)]
    (row,) = correction_ious(proposed, saved, (20, 50))
    assert (row.splits, row.merges) == (1, 1)
    assert row.iou == 1.0  # the pixels did not change: only the objects did


def test_unchanged_objects_and_group_id_parts_count_no_edit() -> None:
    proposed = [_rect("cell", 0, 0, 9, 9), _rect("cell", 10, 0, 19, 9, group_id=1)]
    saved = [
        _rect("cell", 0, 0, 9, 9),
        _rect("cell", 10, 0, 14, 9, group_id=1),
        _rect("cell", 15, 0, 19, 9, group_id=1),
    ]
    (row,) = correction_ious(proposed, saved, (20, 30))
    assert (row.splits, row.merges) == (0, 0)  # two parts sharing a group_id are one object


def test_csv_records_them_and_upgrades_an_old_file(tmp_path) -> None:
    path = tmp_path / "corrections.csv"
    path.write_text(
        "time,image,model_version,class,iou,proposed_pixels,saved_pixels\n"
        "2026-01-01T00:00:00+00:00,old.png,v1,cell,0.5000,10,10\n",
        encoding="utf-8",
    )
    proposed = [_rect("cell", 0, 0, 19, 9)]
    saved = [_rect("cell", 0, 0, 9, 9), _rect("cell", 10, 0, 19, 9)]
    append_csv(path, "new.png", "v2", correction_ious(proposed, saved, (20, 30)))
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[0]["image"] == "old.png" and rows[0]["splits"] == ""
    assert (rows[1]["splits"], rows[1]["merges"]) == ("1", "0")
    assert recent_trend(path) == (2, 0.75)
    assert recent_object_edits(path) == (1, 1.0, 0.0)  # the old row has no object counts
