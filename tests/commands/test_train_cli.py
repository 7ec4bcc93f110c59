"""`segdesk train DIR` logic on a generated project: only reviewed images train; versions saved."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segdesk.commands.train import add_train_arguments, distributed_precheck, train_command, train_from_args
from segdesk.core.document import Document
from segdesk.core.errors import TrainingError
from segdesk.core.labelme_io import save_document
from segdesk.core.shapes import Shape
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.data import IGNORE_INDEX, training_set_from_project

torch.set_num_threads(1)


def _square(x0: int, y0: int, s: int) -> np.ndarray:
    return np.array([[x0, y0], [x0 + s, y0], [x0 + s, y0 + s], [x0, y0 + s]], dtype=np.float64)


def _make_project(root: Path, statuses: list[str]) -> None:
    rng = np.random.default_rng(0)
    for i, status in enumerate(statuses):
        image = (40 + rng.normal(0, 8, (64, 64))).clip(0, 255).astype(np.uint8)
        shapes = []
        for _k in range(3):
            x0, y0 = (int(v) for v in rng.integers(2, 40, 2))
            image[y0 : y0 + 16, x0 : x0 + 16] = 200
            shapes.append(Shape(label="cell", points=_square(x0, y0, 15)))
        shapes.append(Shape(label="__ignore__", points=_square(0, 56, 7)))
        cv2.imwrite(str(root / f"{i}.png"), image)
        doc = Document(image_path=f"{i}.png", image_height=64, image_width=64, shapes=shapes)
        doc.set_status(status)  # type: ignore[arg-type]
        save_document(doc, root / f"{i}.json")
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n")


def test_only_reviewed_images_train_and_ignore_is_255(tmp_path: Path):
    _make_project(tmp_path, ["reviewed", "proposed", "reviewed", "unlabeled"])
    (tmp_path / "4.png").write_bytes((tmp_path / "0.png").read_bytes())  # an image without JSON
    ts = training_set_from_project(tmp_path)
    assert ts.class_names == ["_background_", "cell"]
    assert sorted(ts.image_names) == ["0.png", "2.png"] and ts.split == "all-for-both"
    assert all((s.mask[56:63, 0:7] == IGNORE_INDEX).all() for s in ts.train)


def test_no_reviewed_images_is_a_clear_error(tmp_path: Path):
    _make_project(tmp_path, ["proposed"])
    with pytest.raises(TrainingError, match="no reviewed images"):
        training_set_from_project(tmp_path)
    lines: list[str] = []
    assert train_command(tmp_path, minutes=0.01, out=lines.append) == 1
    assert "no reviewed images" in lines[-1]


def test_the_parent_of_the_image_folder_is_told_where_the_images_are(tmp_path: Path):
    (tmp_path / "day1").mkdir()
    _make_project(tmp_path / "day1", ["reviewed"])
    lines: list[str] = []
    assert train_command(tmp_path, minutes=0.01, out=lines.append) == 1
    assert "day1 (1 image)" in lines[-1] and not any("will train" in line for line in lines)


def test_train_command_saves_versions_and_promotes(tmp_path: Path):
    _make_project(tmp_path, ["reviewed", "reviewed", "reviewed"])
    lines: list[str] = []
    bar: list[str] = []
    rc = train_command(
        tmp_path, minutes=0.05, device="cpu", base_width=4, depth=2, out=lines.append, bar=bar.append
    )
    assert rc == 0, lines
    store = ModelStore(tmp_path)
    assert store.versions() == ["v1"] and store.current() == "v1"
    meta = store.info("v1")
    assert meta["metrics"]["split"] == "held-out" and len(meta["metrics"]["val_images"]) == 1
    assert len(meta["images"]) == 2 and meta["promotion"]["promote"]
    assert any(line.startswith("epoch") for line in lines) and "made it current" in lines[-1]
    assert bar and bar[0].startswith("[")
    # Second run fine-tunes v1; it becomes current only if not worse on the same held-out image.
    rc = train_command(tmp_path, minutes=0.05, device="cpu", base_width=4, depth=2, out=lines.append)
    assert rc == 0 and store.versions() == ["v1", "v2"]
    meta2 = store.info("v2")
    assert meta2["base_version"] == "v1"
    promo = meta2["promotion"]
    assert promo["current_version"] == "v1" and promo["current_miou"] is not None
    assert store.current() == ("v2" if promo["promote"] else "v1")


def test_argparse_options(tmp_path: Path):
    import argparse

    from segdesk.commands.train import add_train_arguments, train_from_args

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args([str(tmp_path), "--minutes", "0.5", "--device", "cpu", "--base-width", "8"])
    assert (args.minutes, args.device, args.base_width, args.depth, args.from_scratch) == (
        0.5,
        "cpu",
        8,
        None,
        False,
    )
    _make_project(tmp_path, ["unlabeled"])
    lines: list[str] = []
    assert train_from_args(args, out=lines.append) == 1 and "no reviewed images" in lines[-1]


def test_no_prior_correction_reaches_the_training_and_is_recorded(tmp_path: Path):
    import argparse

    from segdesk.commands.train import add_train_arguments, train_from_args

    _make_project(tmp_path, ["reviewed", "reviewed", "reviewed"])
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    base = [str(tmp_path), "--epochs", "1", "--device", "cpu", "--base-width", "4", "--depth", "2"]
    assert not parser.parse_args(base).no_prior_correction
    lines: list[str] = []
    assert train_from_args(parser.parse_args([*base, "--no-prior-correction"]), out=lines.append) == 0, lines
    training = ModelStore(tmp_path).info("v1")["training"]
    assert training["config"]["prior_correction"] is False and training["prior"] is None


def test_files_labelled_elsewhere_train_only_with_use_elsewhere(tmp_path: Path):
    """`segdesk train` follows the app's rule (core/training_plan.py) and says what it uses."""
    import json

    _make_project(tmp_path, ["reviewed", "reviewed", "reviewed"])
    for i in range(3):  # as Labelme (or an older segdesk that reviewed silently) left them
        path = tmp_path / f"{i}.json"
        data = json.loads(path.read_text())
        data["segdesk"] = {"status": "reviewed"} if i else {}
        path.write_text(json.dumps(data))
    lines: list[str] = []
    assert train_command(tmp_path, minutes=0.01, out=lines.append) == 1
    text = "\n".join(lines)
    assert "3 image(s) labelled elsewhere are left out until confirmed" in text and "--use-elsewhere" in text
    lines.clear()
    rc = train_command(tmp_path, epochs=1, device="cpu", base_width=4, depth=2, use_elsewhere=True,
                       out=lines.append)  # fmt: skip
    assert rc == 0, lines
    assert "confirmed 3 image(s) labelled elsewhere" in lines[0] and "3 image(s) will train" in lines[1]
    how = {json.loads((tmp_path / f"{i}.json").read_text())["segdesk"]["reviewed"]["how"] for i in range(3)}
    assert how == {"confirmed"}


def test_skip_empty_leaves_out_reviewed_images_without_shapes(tmp_path: Path):
    _make_project(tmp_path, ["reviewed", "reviewed", "reviewed"])
    doc = Document(image_path="2.png", image_height=64, image_width=64)
    doc.set_status("reviewed")
    save_document(doc, tmp_path / "2.json")
    lines: list[str] = []
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args([str(tmp_path), "--epochs", "1", "--device", "cpu", "--base-width", "4",
                              "--depth", "2", "--skip-empty"])  # fmt: skip
    assert train_from_args(args, out=lines.append) == 0, lines
    assert lines[0].startswith("2 image(s) will train: 0.png, 1.png")
    assert sorted(ModelStore(tmp_path).info("v1")["images"]) == ["0.png", "1.png"]


def test_skip_empty_with_distributed_is_refused_plainly(tmp_path: Path):
    _make_project(tmp_path, ["reviewed"])
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    lines: list[str] = []
    args = parser.parse_args([str(tmp_path), "--distributed", "--skip-empty"])
    assert distributed_precheck(args, out=lines.append) == 1  # segdesk.cli asks it before the ranks start
    assert "--skip-empty does not work with --distributed" in lines[-1]
