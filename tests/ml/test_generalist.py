"""The shipped generalist starting model: found through the package, valid, carried by the wheel and the
frozen app, and a clear error naming the file when it is damaged."""

from __future__ import annotations

import importlib.resources
import shutil
import sys
from pathlib import Path

import pytest
import torch

from segdesk.core.errors import ModelError
from segdesk.ml.generalist import MAX_BYTES, NAME, card, generalist_path, load_generalist, warm_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_model_is_package_data_and_loads() -> None:
    path = generalist_path()
    packaged = importlib.resources.files("segdesk.ml") / "weights" / NAME / "model.safetensors"
    assert path == Path(str(packaged)) and path.is_file()
    # one shipped model: a retrained generalist replaces the old one (the wheel carries weights/*/*)
    assert [p.name for p in (ROOT / "segdesk" / "ml" / "weights").iterdir() if p.is_dir()] == [NAME]
    assert path.stat().st_size <= MAX_BYTES
    model, meta = load_generalist()
    assert meta["classes"] == ["_background_", "object"] and model.config.num_classes == 2
    info = card()
    assert info["name"] == NAME and {"data", "recipe", "metrics"} <= set(info)
    # it never saw the DSB dev benchmark's test images (the last 30 by name)
    assert len(info["data"]["dsb2018_nuclei_dev"]["images"]) == 50
    # the wheel and the frozen app carry it
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "weights/*/*" in data["package-data"]["segdesk.ml"]
    assert '"segdesk" / "ml" / "weights"' in (ROOT / "packaging" / "segdesk.spec").read_text(encoding="utf-8")


def test_a_warm_model_has_the_shipped_encoder_and_decoder_and_a_new_head() -> None:
    shipped, _meta = load_generalist()
    model, _ = warm_model(["_background_", "cell", "nucleus"], seed=3)
    again, _ = warm_model(["_background_", "cell", "nucleus"], seed=3)
    state, original = model.state_dict(), shipped.state_dict()
    assert model.config.num_classes == 3 and model.head.out_channels == 3
    body = [k for k in original if not k.startswith("head.")]
    assert body and all(torch.equal(state[k], original[k]) for k in body)
    # the head is new: not the shipped rows, and the same for the same seed
    assert not torch.equal(state["head.weight"][:2], original["head.weight"])
    assert torch.equal(state["head.weight"], again.state_dict()["head.weight"])
    assert shipped.head.out_channels == 2  # the cached original is untouched
    assert warm_model(["a", "b"])[0].head.out_channels == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_a_damaged_shipped_file_is_a_clear_error_naming_it(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "model.safetensors"
    shutil.copy(generalist_path(), path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-200] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        path.unlink()
    with pytest.raises(ModelError) as info:
        load_generalist(path)
    assert str(path) in str(info.value)
