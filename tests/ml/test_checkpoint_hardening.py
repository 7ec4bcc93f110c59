"""Issue 14 items 4 and 5: a checkpoint's header is checked before anything is allocated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from segdesk.core.errors import ModelError
from segdesk.ml import checkpoint_check
from segdesk.ml.checkpoint import load_checkpoint, read_meta, save_checkpoint
from segdesk.ml.model import UNet, UNetConfig

CLASSES = ["_background_", "cell"]


def _saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_checkpoint(UNet(UNetConfig(num_classes=2, base_width=4, depth=2)), {"classes": CLASSES}, path)
    return path


def _edit_header(path: Path, change) -> None:
    """Rewrite the safetensors header as another tool (or an attacker) might; data bytes kept."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    change(header)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n :])


def _edit_meta(path: Path, change) -> None:
    def edit(header: dict) -> None:
        meta = json.loads(header["__metadata__"]["segdesk"])
        change(meta)
        header["__metadata__"]["segdesk"] = json.dumps(meta)

    _edit_header(path, edit)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("base_width", 100_000, "outside 1..1024"),
        ("base_width", 1000, "parameters, over the limit"),  # 1000 x 2**4 channels: ~10^10 parameters
        ("depth", 60, "outside 1..6"),
        ("num_classes", 10**9, "outside"),
        ("in_channels", "3", "whole number"),
        ("base_width", True, "whole number"),
        ("upsample", ["x"], "expected text"),
    ],
)
def test_architecture_is_bounded_before_building(tmp_path: Path, monkeypatch, field, value, words) -> None:
    path = _saved(tmp_path)
    _edit_meta(path, lambda m: m["config"].update({field: value}))
    built = []
    monkeypatch.setattr("segdesk.ml.checkpoint.UNet", lambda *a, **k: built.append(1))
    with pytest.raises(ModelError, match=words) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and built == []


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda h: h.update(__metadata__=["segdesk"]), "expected an object"),
        (lambda h: h["__metadata__"].update(segdesk=["x"]), "expected JSON text"),
        (lambda h: h["__metadata__"].update(segdesk="[1, 2]"), "expected a JSON object"),
        (lambda h: h["__metadata__"].update(segdesk=json.dumps({"format_version": [1]})), "whole number"),
        (lambda h: h["__metadata__"].update(segdesk=json.dumps({"format_version": "1"})), "whole number"),
    ],
    ids=["metadata-list", "segdesk-list", "meta-list", "version-list", "version-text"],
)
def test_odd_types_in_the_header_name_the_file(tmp_path: Path, change, words) -> None:
    path = _saved(tmp_path)
    _edit_header(path, change)
    with pytest.raises(ModelError, match=words) as info:
        read_meta(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda e: e.update(shape=[10**6, 10**6]), "bytes do not hold"),
        (lambda e: e.update(shape=["4"]), "expected a list of sizes"),
        (lambda e: e.update(dtype="F128"), "unknown dtype"),
        (lambda e: e.update(data_offsets=[0, 10**12]), "beyond the file's end"),
    ],
    ids=["huge-shape", "text-shape", "dtype", "offsets"],
)
def test_tensor_entries_are_checked_before_reading(tmp_path: Path, change, words) -> None:
    path = _saved(tmp_path)
    _edit_header(path, lambda h: change(h["head.weight"]))
    with pytest.raises(ModelError, match=words) as info:
        load_checkpoint(path)
    assert "head.weight" in str(info.value) and str(path) in str(info.value)


def test_parameter_count_matches_the_model() -> None:
    for cfg in (UNetConfig(), UNetConfig(base_width=5, depth=3, num_classes=4, upsample="transpose")):
        count = checkpoint_check.unet_parameter_count(
            in_channels=cfg.in_channels,
            num_classes=cfg.num_classes,
            base_width=cfg.base_width,
            depth=cfg.depth,
            transpose=cfg.upsample == "transpose",
        )
        assert count == sum(p.numel() for p in UNet(cfg).parameters())


def test_a_good_checkpoint_still_loads(tmp_path: Path) -> None:
    model, meta = load_checkpoint(_saved(tmp_path))
    assert meta["classes"] == CLASSES and isinstance(model, UNet)


def test_a_symlinked_current_pointer_is_not_echoed(tmp_path: Path) -> None:
    from segdesk.ml.checkpoint import ModelStore

    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    store = ModelStore(tmp_path)
    store.folder.mkdir(parents=True)
    store.pointer.symlink_to(secret)
    with pytest.raises(ModelError, match="symbolic link") as info:
        store.current()
    assert "hunter2" not in str(info.value)


def test_a_pointer_with_junk_is_not_echoed(tmp_path: Path) -> None:
    from segdesk.ml.checkpoint import ModelStore

    store = ModelStore(tmp_path)
    store.folder.mkdir(parents=True)
    store.pointer.write_text("private notes " * 100)
    with pytest.raises(ModelError, match="version name") as info:
        store.current()
    assert "private" not in str(info.value)
