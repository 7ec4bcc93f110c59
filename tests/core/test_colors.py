"""Label colours: Labelme's palette, stable per label."""

from __future__ import annotations

import numpy as np
import pytest

from segdesk.core.colors import IGNORE_INDEX, label_color, label_colormap, label_index

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
    assert first == label_color("mitochondrion") == label_color("mitochondrion", LABELS)
    assert 1 <= label_index("mitochondrion") <= 254
    assert all(isinstance(v, int) for v in first)
    # Known to differ, so the hash is not a constant.
    assert len({label_index(f"class{i}") for i in range(50)}) > 30
