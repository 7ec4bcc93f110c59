"""``segdesk predict --shard K/N --resume``: a stable split, shards == one run byte for byte, resume redoes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest
import torch

from segdesk.commands.predict import STAMP_KEY, in_shard, parse_shard, predict_command
from segdesk.core.document import Document
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.review import reviewed_extra
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model

torch.set_num_threads(1)


def test_shards_partition_the_images_and_never_move_one() -> None:
    names = [f"img_{i:04d}.png" for i in range(300)]
    for n in (1, 2, 3, 7):
        owners = [[k for k in range(n) if in_shard(name, (k, n))] for name in names]
        assert all(len(o) == 1 for o in owners)  # every image in exactly one shard
        sizes = [sum(o == [k] for o in owners) for k in range(n)]
        assert min(sizes) > 300 / n * 0.6  # roughly balanced
    # The split is a function of the file name alone, fixed across runs, machines and Python
    # processes (no salted hash()), so images added later never move the others.
    assert [k for k in range(3) if in_shard("img_0000.png", (k, 3))] == [0]
    assert [k for k in range(3) if in_shard("a.png", (k, 3))] == [2]


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1", "a/b", "0/0", "1/2/3"])
def test_bad_shard_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    from segdesk.ml.checkpoint import ModelStore

    root = tmp_path / "p"
    root.mkdir()
    for i in range(9):
        img, _ = blob_image(64, 64, seed=40 + i, count=4)
        cv2.imwrite(str(root / f"im{i}.png"), img)
    reviewed = Document("im0.png", 64, 64, extra=reviewed_extra())
    save_document(reviewed, root / "im0.json")
    ModelStore(root).add_version(fresh_copy(trained_tiny_model()), {"classes": CLASSES})
    return root


def run(target: Path, **kwargs) -> tuple[int, list[str]]:
    lines: list[str] = []
    kwargs.update(device="cpu", backend="torch", tile=64, write=True)
    return predict_command(target, out=lines.append, **kwargs), lines


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_three_shards_give_the_files_of_one_run_and_resume_redoes_nothing(
    project: Path, tmp_path: Path
) -> None:
    sharded = tmp_path / "sharded"
    shutil.copytree(project, sharded)
    code, lines = run(project, masks_out=tmp_path / "m1")
    assert code == 0, lines
    counts = []
    for k in range(3):
        code, lines = run(sharded, masks_out=tmp_path / "m3", shard=(k, 3))
        assert code == 0, lines
        counts.append(int(lines[0].split(": ")[1].split(" of ")[0]))
    assert sum(counts) == 9 and all(counts)
    assert tree(sharded) == tree(project)  # every JSON file, the model store, byte for byte
    assert tree(tmp_path / "m3") == tree(tmp_path / "m1") and len(tree(tmp_path / "m1")) == 9
    stamp = load_document(sharded / "im3.json").extra[STAMP_KEY]
    assert stamp["model_version"] == "v1" and stamp["settings"]["tile"] == 64

    # A resumed run (all of it, or one shard) predicts nothing and writes nothing.
    mtimes = {p: p.stat().st_mtime_ns for p in sharded.glob("*.json")}
    code, lines = run(sharded, masks_out=tmp_path / "m3", resume=True)
    assert code == 0 and lines[-1] == "0 of 9 image(s) predicted, 9 already up to date", lines
    assert {p: p.stat().st_mtime_ns for p in sharded.glob("*.json")} == mtimes

    # An image interrupted before its JSON was written, a lost mask, is redone; nothing else is.
    (sharded / "im5.json").unlink()
    (tmp_path / "m3" / "im7.png").unlink()
    code, lines = run(sharded, masks_out=tmp_path / "m3", resume=True)
    assert code == 0 and lines[-1] == "2 of 9 image(s) predicted, 7 already up to date", lines
    assert tree(sharded) == tree(project) and tree(tmp_path / "m3") == tree(tmp_path / "m1")

    # Other settings or another model version make the proposals out of date (reviewed ones stay done).
    code, lines = run(sharded, masks_out=tmp_path / "m3", resume=True, min_area=30)
    assert lines[-1] == "8 of 9 image(s) predicted, 1 already up to date", lines


def test_resume_needs_write(project: Path) -> None:
    lines: list[str] = []
    code = predict_command(project, resume=True, device="cpu", out=lines.append)
    assert code == 2 and "--resume needs --write" in lines[-1]
