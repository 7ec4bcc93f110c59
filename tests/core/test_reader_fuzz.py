"""Fuzzing the reader: any input gives a Document or AnnotationReadError, and what reads writes back."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segdesk.core.document import Document
from segdesk.core.errors import AnnotationReadError
from segdesk.core.labelme_io import document_from_dict, load_document, save_document
from segdesk.core.shapes import SHAPE_TYPES

# FUZZ_EXAMPLES=2000 for a longer hunt; the suite keeps it to ~200 examples in all.
SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "70")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(10**6), max_value=10**6),
)


def _maybe(good: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly valid values, now and then anything: the fuzzer reaches deep into the reader."""
    return st.integers(0, 15).flatmap(lambda i: json_values if i == 0 else good)


_COUNTS = {
    "polygon": (3, 6),
    "rectangle": (2, 2),
    "oriented_rectangle": (4, 4),
    "circle": (2, 2),
    "line": (2, 2),
    "linestrip": (2, 5),
    "point": (1, 1),
    "points": (1, 4),
    "mask": (2, 2),
}


def _points_for(shape_type: str) -> st.SearchStrategy:
    low, high = _COUNTS.get(shape_type, (3, 6))
    pair = st.lists(numbers, min_size=2, max_size=2)
    return st.one_of(st.lists(pair, min_size=low, max_size=high), st.lists(pair, max_size=7))


def _shape_of(shape_type: str | None) -> st.SearchStrategy:
    keys = {"label": _maybe(st.text(max_size=5)), "points": _maybe(_points_for(shape_type or "polygon"))}
    if shape_type is not None:
        keys["shape_type"] = _maybe(st.just(shape_type))
    return st.fixed_dictionaries(
        keys,
        optional={
            "group_id": _maybe(st.one_of(st.none(), st.integers(-5, 5))),
            "description": _maybe(st.one_of(st.none(), st.text(max_size=5))),
            "flags": _maybe(
                st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2))
            ),
            "segdesk": _maybe(st.dictionaries(st.text(max_size=5), json_values, max_size=2)),
            "extra_key": json_values,
        },
    )


# Mask shapes need a PNG; the unit tests cover them, the fuzzer covers the rest.
shapes = st.sampled_from([t for t in SHAPE_TYPES if t != "mask"] + [None, "hexagon"]).flatmap(_shape_of)
documents = st.fixed_dictionaries(
    {"shapes": _maybe(st.lists(_maybe(shapes), max_size=4)), "imagePath": _maybe(st.text(max_size=6))},
    optional={
        "version": _maybe(st.just("5.5.0")),
        "flags": _maybe(
            st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2))
        ),
        "imageData": _maybe(st.none()),
        "imageHeight": _maybe(st.one_of(st.none(), st.integers(1, 50))),
        "imageWidth": _maybe(st.one_of(st.none(), st.integers(1, 50))),
        "segdesk": _maybe(st.dictionaries(st.text(max_size=5), json_values, max_size=2)),
        "other": json_values,
    },
)


def _canonical(value: Any) -> str:
    # NaN != NaN; compare the JSON text instead.
    return json.dumps(value, allow_nan=True)


def _assert_same(a: Document, b: Document) -> None:
    assert len(a.shapes) == len(b.shapes)
    for x, y in zip(a.shapes, b.shapes, strict=True):
        assert x.label == y.label and x.shape_type == y.shape_type
        assert (x.points == y.points).all() and x.points.shape == y.points.shape
        assert x.group_id == y.group_id and x.description == y.description and x.flags == y.flags
        assert _canonical(x.extra) == _canonical(y.extra) and _canonical(x.other) == _canonical(y.other)
    assert (a.image_path, a.image_height, a.image_width, a.flags) == (
        b.image_path,
        b.image_height,
        b.image_width,
        b.flags,
    )
    assert _canonical(a.extra) == _canonical(b.extra) and _canonical(a.other) == _canonical(b.other)


@SETTINGS
@given(data=st.one_of(documents, json_values))
def test_any_json_value_reads_or_raises_annotation_read_error(data: Any) -> None:
    try:
        document = document_from_dict(data, source="fuzz.json")
    except AnnotationReadError as exc:
        assert str(exc).startswith("fuzz.json: ")
        return
    assert isinstance(document, Document)
    # What reads must write, and read back the same.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.json"
        save_document(document, path)
        _assert_same(document, load_document(path, check_image=False))


@SETTINGS
@given(data=documents, cut=st.floats(0, 1), junk=st.binary(max_size=4))
def test_damaged_files_raise_annotation_read_error(data: Any, cut: float, junk: bytes) -> None:
    text = json.dumps(data).encode("utf-8", "surrogatepass")
    damaged = text[: int(len(text) * cut)] + junk
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.json"
        path.write_bytes(damaged)
        try:
            load_document(path)
        except AnnotationReadError as exc:
            assert str(path) in str(exc)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=64))
def test_arbitrary_bytes(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.json"
        path.write_bytes(raw)
        try:
            load_document(path)
        except AnnotationReadError:
            pass
