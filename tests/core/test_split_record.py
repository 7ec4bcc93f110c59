"""Issue 17: a model's own split settings as its checkpoint records them (core/split_record.py)."""

from __future__ import annotations

import pytest

from segdesk.core.errors import ModelError
from segdesk.core.instance_metrics import ImageScore, InstanceScores
from segdesk.core.instance_split import SplitSettings
from segdesk.core.split_record import skipped_record, split_overrides, split_record


def test_a_calibrated_record_gives_its_split_settings() -> None:
    a, b = InstanceScores(), InstanceScores()
    a.add(ImageScore("x", 4, 4, {0.5: 1.0, 0.75: 0.5}, 0, 0))
    b.add(ImageScore("x", 4, 3, {0.5: 0.5, 0.75: 0.0}, 0, 1))
    record = split_record(0.75, 1, images=2, objects=80, scores=a, default_scores=b)
    assert (record["ap50"], record["map"], record["default_ap50"], record["default_map"]) == (
        1.0,
        0.75,
        0.5,
        0.25,
    )
    overrides = split_overrides({"instances": {"object_classes": ["nucleus"], "split": record}})
    assert overrides == {"h": 0.75, "grow": 1}
    settings = SplitSettings(object_classes={"nucleus"}, **overrides)
    assert (settings.h, settings.grow) == (0.75, 1)


@pytest.mark.parametrize(
    "meta",
    [
        {},
        None,
        {"instances": {"object_classes": ["nucleus"]}},
        {"instances": {"split": skipped_record("few")}},
    ],
)
def test_older_checkpoints_and_skipped_calibrations_keep_the_defaults(meta) -> None:
    assert split_overrides(meta) == {}


@pytest.mark.parametrize(
    ("split", "field"),
    [
        ({"h": "big"}, "meta.instances.split.h"),
        ({"h": -1}, "meta.instances.split.h"),
        ({"h": float("nan")}, "meta.instances.split.h"),
        ({"grow": 1.5}, "meta.instances.split.grow"),
        ({"grow": True}, "meta.instances.split.grow"),
        ({"grow": 99}, "meta.instances.split.grow"),
        ({"min_area": "lots"}, "meta.instances.split.min_area"),
        ({"min_area": 0}, "meta.instances.split.min_area"),
        ({"min_area": 12.5}, "meta.instances.split.min_area"),
        ([1, 2], "meta.instances.split"),
    ],
)
def test_a_damaged_record_is_refused_naming_the_file_and_field(split, field) -> None:
    with pytest.raises(ModelError, match=field.replace(".", r"\.")) as info:
        split_overrides({"instances": {"split": split}}, "models/v3/model.safetensors")
    assert "v3" in str(info.value)
    with pytest.raises(ModelError, match=r"meta\.instances"):
        split_overrides({"instances": ["nucleus"]}, "m")


def test_a_person_reads_how_the_objects_are_split() -> None:
    from segdesk.core.split_record import describe_split

    a, b = InstanceScores(), InstanceScores()
    a.add(ImageScore("x", 4, 4, {0.5: 0.63}, 0, 0))
    b.add(ImageScore("x", 4, 3, {0.5: 0.55}, 0, 1))
    record = {
        **split_record(3.0, 0, images=8, objects=279, scores=a, default_scores=b),
        "on": "held-out and training",
    }
    assert describe_split(record) == (
        "touching objects split with seed height 3 px, growth 0 px (chosen on 8 held-out and training "
        "image(s), 279 objects: AP@0.5 0.63 against 0.55 with the defaults)"
    )
    smallest = split_record(3.0, 0, images=8, objects=279, scores=a, default_scores=b, min_area=42)
    assert split_overrides({"instances": {"split": smallest}}) == {"h": 3.0, "grow": 0, "min_area": 42}
    assert "growth 0 px, none under 42 px (chosen on 8 held-out image(s)" in describe_split(smallest)
    assert describe_split(skipped_record("2 held-out image(s) (fewer than 3)")) == (
        "touching objects split with the default settings (2 held-out image(s) (fewer than 3))"
    )
    assert describe_split(None) == "" and describe_split({}) == ""
    assert "damaged" in describe_split({"h": "x"})
