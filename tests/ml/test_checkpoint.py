"""Checkpoints: bit-exact round trip, clear errors, versions, rollback, atomic replacement."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from segdesk.core.errors import ModelError
from segdesk.ml import checkpoint as ckpt
from segdesk.ml.checkpoint import ModelStore, load_checkpoint, read_meta, save_checkpoint
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.normalize import NORMALIZATION

torch.set_num_threads(1)
CLASSES = ["_background_", "cell", "nucleus"]


def _model(seed: int = 0, **kw) -> UNet:
    torch.manual_seed(seed)
    model = UNet(UNetConfig(num_classes=kw.pop("num_classes", 3), base_width=4, depth=2, **kw))
    with torch.no_grad():  # non-trivial BN statistics, so buffers are checked too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(7)
    return model.eval()


def _meta(**extra) -> dict:
    return {"classes": CLASSES, "metrics": {"miou": 0.5}, "images": ["a.png"], **extra}


def test_round_trip_is_bit_exact_and_meta_complete(tmp_path: Path):
    model = _model()
    path = tmp_path / "model.safetensors"
    written = save_checkpoint(model, _meta(), path)
    loaded, meta = load_checkpoint(path)
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k1 == k2 and v1.dtype == v2.dtype and torch.equal(v1, v2), k1
    x = torch.randn(1, 3, 20, 28)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    assert meta == written == json.loads((tmp_path / "model.json").read_text())
    assert meta["config"] == model.config.to_dict() and meta["classes"] == CLASSES
    assert meta["normalization"] == NORMALIZATION
    assert set(meta["colors"]) == set(CLASSES) and all(len(c) == 3 for c in meta["colors"].values())
    assert meta["segdesk_version"] and meta["date"] and len(meta["weights_sha256"]) == 64
    assert meta["images"] == ["a.png"] and not loaded.training
    assert read_meta(tmp_path) == meta  # a version folder works too


def test_never_unpickles(tmp_path: Path):
    torch.save(_model().state_dict(), tmp_path / "pickle.pt")
    with pytest.raises(ModelError, match="pickle.pt"):
        load_checkpoint(tmp_path / "pickle.pt")


@pytest.mark.parametrize(
    "damage, place",
    [
        (lambda b: b[: len(b) // 2], "weights"),  # truncated
        (lambda b: b[:-40] + bytes(40), "weights"),  # flipped weight bytes: checksum
        (lambda b: b"garbage", None),
        (lambda b: b"", None),
    ],
    ids=["truncated", "bitrot", "garbage", "empty"],
)
def test_damaged_file_is_a_model_error_naming_the_file(tmp_path: Path, damage, place):
    path = tmp_path / "model.safetensors"
    save_checkpoint(_model(), _meta(), path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ModelError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    if place:
        assert info.value.place == place


def _rewrite_meta(path: Path, change) -> None:
    """Re-save a checkpoint with its weights intact but edited metadata (as another tool might)."""
    from safetensors.torch import load, save

    meta = read_meta(path)
    change(meta)
    path.write_bytes(
        save(load(path.read_bytes()), metadata={"format": ckpt.FORMAT, "segdesk": json.dumps(meta)})
    )


@pytest.mark.parametrize(
    "change, place, words",
    [
        (lambda m: m["config"].update(arch="deeplab"), "config.arch", "unknown architecture"),
        (lambda m: m["config"].update(base_width=8), "weights", "shape"),
        (lambda m: m["config"].update(depth=3), "weights", "missing"),
        (lambda m: m.update(classes=["a", "b"]), "classes", "expected 3 class names"),
        (lambda m: m["normalization"].update(std=1.0), "normalization", "trained with"),
        (lambda m: m.update(format_version=99), "format_version", "newer"),
    ],
    ids=["arch", "width", "depth", "classes", "normalization", "future"],
)
def test_wrong_architecture_or_classes_is_clear(tmp_path: Path, change, place, words):
    path = tmp_path / "model.safetensors"
    save_checkpoint(_model(), _meta(), path)
    _rewrite_meta(path, change)
    with pytest.raises(ModelError, match=words) as info:
        load_checkpoint(path)
    assert info.value.place.startswith(place) and str(path) in str(info.value)


def test_expected_classes_are_checked(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(_model(), _meta(), path)
    load_checkpoint(path, expect_classes=CLASSES)
    with pytest.raises(ModelError, match="expected"):
        load_checkpoint(path, expect_classes=["_background_", "cell"])
    with pytest.raises(ModelError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_interrupted_save_leaves_the_old_checkpoint(tmp_path: Path, monkeypatch):
    path = tmp_path / "model.safetensors"
    save_checkpoint(_model(0), _meta(), path)
    before = path.read_bytes(), (tmp_path / "model.json").read_bytes()
    real_replace = os.replace

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt.os, "replace", crash)
    with pytest.raises(ModelError, match="disk full"):
        save_checkpoint(_model(1), _meta(), path)
    monkeypatch.setattr(ckpt.os, "replace", real_replace)
    assert (path.read_bytes(), (tmp_path / "model.json").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]
    load_checkpoint(path)


def test_crash_between_weights_and_sidecar_keeps_a_consistent_model(tmp_path: Path, monkeypatch):
    """The weights file is the commit point: its header metadata always matches its weights."""
    path = tmp_path / "model.safetensors"
    save_checkpoint(_model(0), _meta(images=["old.png"]), path)
    real_replace = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("power cut (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", second_fails)
    with pytest.raises(ModelError):
        save_checkpoint(_model(1), _meta(images=["new.png"]), path)
    model, meta = load_checkpoint(path)
    assert meta["images"] == ["new.png"] and torch.equal(model.head.weight, _model(1).head.weight)


def test_store_versions_current_and_rollback(tmp_path: Path):
    store = ModelStore(tmp_path)
    assert store.versions() == [] and store.current() is None
    with pytest.raises(ModelError, match="no current model"):
        store.load()
    v1 = store.add_version(_model(1), _meta())
    v2 = store.add_version(_model(2), _meta())
    assert (v1, v2) == ("v1", "v2") and store.versions() == ["v1", "v2"] and store.current() == "v2"
    assert (tmp_path / ".segdesk" / "models" / "v2" / "model.json").is_file()
    v3 = store.add_version(_model(3), _meta(), make_current=False)
    assert store.current() == "v2" and store.versions() == ["v1", "v2", "v3"]
    store.set_current("v1")  # roll back
    model, meta = store.load()
    assert torch.equal(model.head.weight, _model(1).head.weight)
    assert store.info(v3)["classes"] == CLASSES
    with pytest.raises(ModelError, match="no such model version"):
        store.set_current("v9")
    with pytest.raises(ModelError, match="not a model version name"):
        store.path("../evil")
    # Ten versions sort numerically.
    for i in range(4, 11):
        store.add_version(_model(i), _meta(), make_current=False)
    assert store.versions()[-2:] == ["v9", "v10"]
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".")]


def test_store_failed_save_leaves_no_version(tmp_path: Path, monkeypatch):
    store = ModelStore(tmp_path)
    store.add_version(_model(1), _meta())

    def boom(*a, **k):
        raise ModelError(None, None, "simulated")

    monkeypatch.setattr(ckpt, "save_checkpoint", boom)
    with pytest.raises(ModelError):
        store.add_version(_model(2), _meta())
    assert store.versions() == ["v1"] and store.current() == "v1"
    assert [p.name for p in store.folder.iterdir()] == ["current", "v1"] or sorted(
        p.name for p in store.folder.iterdir()
    ) == ["current", "v1"]


def test_broken_pointer_means_no_current_model_and_says_why(tmp_path: Path):
    """One rule for the GUI and the CLI: a dangling ``current`` is no current model (the window opens,
    the panel offers the saved versions); whatever needs a model names the pointer file."""
    from segdesk.commands.predict import resolve_model
    from segdesk.services import model_store

    store = ModelStore(tmp_path)
    store.add_version(_model(1), _meta())
    store.pointer.write_text("v7\n")
    assert store.current() is None and store.current_path() is None
    assert model_store.current_version(tmp_path) is None and model_store.versions(tmp_path) == ["v1"]
    assert str(store.pointer) in store.pointer_problem() and "'v7'" in store.pointer_problem()
    for call in (store.load, lambda: resolve_model(tmp_path, None)):
        with pytest.raises(ModelError, match="not a saved version") as info:
            call()
        assert str(store.pointer) in str(info.value)
    store.set_current("v1")
    assert store.pointer_problem() is None and store.current() == "v1"
