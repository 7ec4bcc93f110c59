"""Label colours: Labelme's palette, stable per label."""

from __future__ import annotations

import numpy as np
import pytest

from segdesk.core.colors import IGNORE_INDEX, MIN_DISTANCE, label_color, label_colormap, label_index

imgviz = pytest.importorskip("imgviz")

LABELS = ["__ignore__", "_background_", "cell", "nucleus"]


def test_colormap_equals_imgviz():
    want = np.asarray(imgviz.label_colormap())
    got = label_colormap()
    assert got.dtype == np.uint8 and got.shape == (256, 3)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(label_colormap(21), want[:21])
    assert label_colormap(0).shape == (0, 3)
    assert not label_colormap().flags.writeable


def test_colormap_beyond_256_repeats():
    big = label_colormap(300)
    assert big.shape == (300, 3)
    np.testing.assert_array_equal(big[256:], big[:44])


def test_label_color_follows_labels_txt_order():
    cmap = np.asarray(imgviz.label_colormap())
    assert label_color("_background_", LABELS) == (0, 0, 0)
    assert label_color("cell", LABELS) == tuple(int(v) for v in cmap[1])
    assert label_color("nucleus", LABELS) == tuple(int(v) for v in cmap[2])
    assert label_color("__ignore__", LABELS) == tuple(int(v) for v in cmap[IGNORE_INDEX])
    # Without _background_ / __ignore__ lines the classes still start at 1, as labelme2voc numbers them.
    assert label_color("cell", ["cell", "nucleus"]) == label_color("cell", LABELS)


def test_unlisted_label_has_a_stable_non_background_colour():
    first = label_color("mitochondrion")
    assert first == label_color("mitochondrion")
    assert label_color("mitochondrion", LABELS) == label_color("mitochondrion", list(LABELS))
    assert 1 <= label_index("mitochondrion") <= 254 and 1 <= label_index("mitochondrion", LABELS) <= 254
    assert all(isinstance(v, int) for v in first)
    # Known to differ, so the hash is not a constant.
    assert len({label_index(f"class{i}") for i in range(50)}) > 30


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True))))


def test_a_label_missing_from_labels_txt_looks_unlike_the_listed_ones() -> None:
    """Issue 13, defect 8: a new label (or a typo) never gets a colour close to an existing one."""
    listed = [label_color(name, LABELS) for name in ("_background_", "cell", "nucleus")]
    names = ["cel", "cells", "Cell", "nucleus2", "mitochondrion", *[f"new{i}" for i in range(200)]]
    for name in names:
        colour = label_color(name, LABELS)
        assert min(_distance(colour, c) for c in listed) >= MIN_DISTANCE, (name, colour)
        assert label_index(name, LABELS) not in (0, 1, 2, IGNORE_INDEX)
    # Without a label list the hash alone decides (as before); a bigger list still keeps apart.
    many = ["_background_", *[f"class{i}" for i in range(20)]]
    listed = [label_color(n, many) for n in many]
    for name in ("other", "zzz", "class20"):
        colour = label_color(name, many)
        assert min(_distance(colour, c) for c in listed) > 0


def test_found_case_of_a_near_colour_is_fixed() -> None:
    """The hash alone can land next to a listed colour; with the list given it moves away."""
    near = [
        name
        for name in (f"label{i}" for i in range(400))
        if _distance(label_color(name), label_color("cell", LABELS)) < MIN_DISTANCE
    ]
    assert near, "some hashed colour lies close to cell's (the defect)"
    for name in near:
        assert _distance(label_color(name, LABELS), label_color("cell", LABELS)) >= MIN_DISTANCE
