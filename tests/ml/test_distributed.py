"""``segdesk train --distributed`` under ``torchrun --nproc_per_node 2`` with gloo, on tiny generated data.

Two real torchrun jobs (about 20 s each on a busy 2-core machine): one trains and is compared with a
single process of the same global batch and steps; in the other a rank is killed mid-training.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from segdesk.cli import main as cli_main
from segdesk.commands.distributed import distributed_train_command
from segdesk.commands.train import train_command
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.training.distributed import RankShare
from tests.commands.test_train_cli import _make_project

torch.set_num_threads(1)

TINY = ["--device", "cpu", "--base-width", "4", "--depth", "2", "--patch-size", "32", "--batch-size", "4"]


def torchrun(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "segdesk", "train", str(folder), "--distributed", *TINY, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_rank_shares_make_up_the_single_process_batches() -> None:
    shares = [list(RankShare(22, 4, r, 2)) for r in range(2)]
    assert shares == [[0, 1, 4, 5, 8, 9, 12, 13, 16, 17], [2, 3, 6, 7, 10, 11, 14, 15, 18, 19]]
    with pytest.raises(Exception, match="multiple of 3"):
        RankShare(20, 4, 0, 3)


def test_without_torchrun_the_flag_explains_how_to_launch(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    lines: list[str] = []
    assert distributed_train_command(tmp_path, out=lines.append) == 2
    text = "\n".join(lines)
    assert "not started by torchrun" in text and "torchrun --nproc_per_node 2 -m segdesk train" in text
    # The same through the command line, options parsed.
    assert cli_main(["train", str(tmp_path), "--distributed", "--epochs", "2", "--batch-size", "8"]) == 2
    assert "not started by torchrun" in capsys.readouterr().out


def test_two_gloo_ranks_write_one_version_matching_one_process(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    _make_project(one, ["reviewed"] * 5 + ["unlabeled"])
    shutil.copytree(one, two)
    job = torchrun(two, "--epochs", "3")
    # Meanwhile, the same global batch (4) and steps in one process.
    lines: list[str] = []
    rc = train_command(
        one, device="cpu", base_width=4, depth=2, patch_size=32, batch_size=4, epochs=3, out=lines.append
    )
    assert rc == 0, lines
    output, _ = job.communicate(timeout=300)
    assert job.returncode == 0, output
    assert "training on 2 ranks on 4 reviewed image(s)" in output
    # rank 0 alone saves (whether it is made current is the promotion check's call on toy data)
    assert len(re.findall(r"^saved v1", output, re.M)) == 1, output
    store, single = ModelStore(two), ModelStore(one)
    assert store.versions() == ["v1"]
    meta, ref = store.info("v1"), single.info("v1")
    assert meta.keys() == ref.keys() and meta["training"].keys() == ref["training"].keys()
    assert meta["images"] == ref["images"] and meta["metrics"]["val_images"] == ref["metrics"]["val_images"]
    assert meta["training"]["steps"] == ref["training"]["steps"] == 3 * (64 // 4)
    model, _ = store.load("v1")  # the same checkpoint format: it loads as one process's does
    assert model.state_dict().keys() == single.load("v1")[0].state_dict().keys()
    miou, ref_miou = meta["metrics"]["miou"], ref["metrics"]["miou"]
    assert ref_miou > 0.8 and abs(miou - ref_miou) < 0.05, (miou, ref_miou)


@pytest.mark.parametrize("how", ["kill rank 1", "Ctrl+C"])
def test_a_killed_rank_or_a_cancel_stops_every_rank_and_keeps_the_current_model(
    tmp_path: Path, how: str
) -> None:
    _make_project(tmp_path, ["reviewed"] * 4)
    lines: list[str] = []
    assert (
        train_command(
            tmp_path, device="cpu", base_width=4, depth=2, patch_size=32, epochs=1, out=lines.append
        )
        == 0
    )
    store = ModelStore(tmp_path)
    store.set_current("v1")  # one epoch on toy data is no better than a threshold: the person picks it
    before = (store.current(), sorted(p.name for p in store.folder.iterdir()))
    job = torchrun(tmp_path, "--minutes", "2")
    seen: list[str] = []
    assert job.stdout is not None
    pids: dict[int, int] = {}
    for line in job.stdout:
        seen.append(line)
        for m in re.finditer(r"rank (\d)/2: pid (\d+)", line):  # (whole lines now; before, two ranks' met)
            pids[int(m[1])] = int(m[2])
        if line.startswith("epoch   0"):  # rank 0 scored the current model: training is under way
            break
    assert set(pids) == {0, 1}, "".join(seen)
    time.sleep(1.0)
    if how == "Ctrl+C":
        job.send_signal(signal.SIGINT)  # torchrun passes it on to every rank
    else:
        os.kill(pids[1], signal.SIGKILL)
    start = time.monotonic()
    rest, _ = job.communicate(timeout=120)
    output = "".join(seen) + rest
    assert job.returncode != 0, output
    assert time.monotonic() - start < 60
    if how == "Ctrl+C":
        for rank in (0, 1):
            assert f"rank {rank}/2: training cancelled (SIGINT" in output, output
    else:
        stopped = r"rank 0/2: (lost contact with the other ranks|training cancelled \(SIGTERM)"
        assert re.search(stopped, output), output
    assert "no model saved" in output and "saved v2" not in output
    assert (store.current(), sorted(p.name for p in store.folder.iterdir())) == before


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_nccl_ranks_on_the_gpus_write_one_version(tmp_path: Path) -> None:
    """The NCCL path: one rank per GPU of this machine (not run yet: no GPU was lent when it was written)."""
    _make_project(tmp_path, ["reviewed"] * 5)
    gpus = torch.cuda.device_count()
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(gpus)]
    cmd += ["-m", "segdesk", "train", str(tmp_path), "--distributed", "--device", "cuda", "--epochs", "3"]
    cmd += ["--base-width", "4", "--depth", "2", "--patch-size", "32", "--batch-size", str(4 * gpus)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nccl on cuda:0" in done.stdout
    store = ModelStore(tmp_path)
    assert store.versions() == ["v1"] and store.current() == "v1"
    assert store.info("v1")["metrics"]["miou"] > 0.8
