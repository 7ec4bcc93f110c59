"""ONNX export: parity with torch at several sizes, metadata, fp16, atomic writes, the cached export."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import segdesk
from segdesk.core.errors import ExportError, ModelError
from segdesk.ml.inference.export import (
    OnnxBackend,
    cached_onnx,
    export_onnx,
    onnx_path_for,
    read_metadata,
    verify_onnx,
)
from segdesk.ml.inference.infer import Predictor
from segdesk.ml.model import UNet
from segdesk.ml.normalize import NORMALIZATION, prepare_image
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model

torch.set_num_threads(1)
META = {
    "classes": CLASSES,
    "version": "v7",
    "colors": {"_background_": [0, 0, 0], "cell": [128, 0, 0]},
    "normalization": dict(NORMALIZATION),
}


@pytest.fixture(scope="module")
def net() -> UNet:
    return trained_tiny_model()


@pytest.fixture(scope="module")
def exported(net: UNet, tmp_path_factory) -> Path:
    return export_onnx(net, META, tmp_path_factory.mktemp("onnx") / "model.onnx")


@pytest.fixture(scope="module")
def exported_fp16(net: UNet, tmp_path_factory) -> Path:
    return export_onnx(net, META, tmp_path_factory.mktemp("onnx16") / "model-fp16.onnx", fp16=True)


@pytest.mark.parametrize("size", [(64, 64), (50, 70), (37, 101)])
def test_onnx_matches_torch_at_sizes_that_are_and_are_not_multiples(net, exported, size) -> None:
    img, _ = blob_image(*size, seed=sum(size))
    report = verify_onnx(exported, net, img)
    assert report.ok, report.summary()
    assert report.max_abs_diff <= 1e-3 and report.argmax_agreement >= 0.999
    assert report.shape == (1, 3, *size)


def test_dynamic_batch_and_inputs_smaller_than_the_padding_multiple(net, exported) -> None:
    imgs = [blob_image(40, 44, seed=s)[0] for s in range(3)]
    batch = np.stack([prepare_image(i) for i in imgs])
    assert verify_onnx(exported, net, batch).ok
    tiny = blob_image(3, 2, seed=1)[0]  # smaller than 2**depth: replicate padding, as torch does
    assert verify_onnx(exported, net, tiny).ok


def test_metadata_names_classes_colours_normalization_and_version(exported) -> None:
    meta = read_metadata(exported)
    assert meta["classes"] == CLASSES
    assert meta["colors"] == META["colors"]
    assert meta["normalization"] == NORMALIZATION
    assert meta["config"]["base_width"] == 4 and meta["config"]["depth"] == 2
    assert meta["version"] == segdesk.__version__ and meta["model_version"] == "v7"
    assert meta["precision"] == "fp32" and len(meta["fingerprint"]) == 64


def test_fp16_variant_loads_and_agrees(net, exported, exported_fp16) -> None:
    assert read_metadata(exported_fp16)["precision"] == "fp16"
    import onnx

    kinds = {
        init.data_type for init in onnx.load(str(exported_fp16)).graph.initializer if len(init.dims) == 4
    }
    assert kinds == {onnx.TensorProto.FLOAT16}  # conv weights stored (and computed) in half precision
    img, _ = blob_image(48, 60, seed=2)
    report = verify_onnx(exported_fp16, net, img)
    assert report.ok, report.summary()
    assert report.tolerance == 5e-2


def test_onnx_predictor_equals_torch_predictor_when_tiled(net, exported) -> None:
    img, _ = blob_image(120, 100, seed=5)
    a = Predictor(fresh_copy(net), META, device="cpu", tile=48, backend="torch").predict(img)
    b = Predictor(fresh_copy(net), META, device="cpu", tile=48, backend="onnx", onnx_path=exported).predict(
        img
    )
    assert b.tiles == a.tiles > 1
    assert (a.class_map == b.class_map).mean() >= 0.999
    assert np.abs(a.confidence - b.confidence).max() < 1e-3


def test_a_failed_export_leaves_the_previous_file_and_no_temp_file(net, tmp_path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(ExportError, match=r"model.onnx: opset: opset 17"):
        export_onnx(net, META, target, opset=17)
    assert target.read_bytes() == b"previous" and os.listdir(tmp_path) == ["model.onnx"]


def test_unwritable_destination_is_a_clear_export_error(net, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("segdesk.ml.inference.export.export_bytes", lambda *a, **k: b"graph")
    (tmp_path / "afile").write_text("x")  # a file where the folder should be: fails even as root
    with pytest.raises(ExportError, match="model.onnx"):
        export_onnx(net, META, tmp_path / "afile" / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_not_a_segdesk_model_is_refused(tmp_path) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not onnx at all")
    with pytest.raises(ModelError, match="x.onnx"):
        OnnxBackend(bad)


def test_cached_export_is_reused_until_the_weights_change(net, exported, tmp_path, monkeypatch) -> None:
    from segdesk.ml.checkpoint import ModelStore, save_checkpoint

    store = ModelStore(tmp_path)
    version = store.add_version(fresh_copy(net), {"classes": CLASSES})
    ckpt = store.path(version)
    target = onnx_path_for(ckpt)
    assert target == ckpt.parent / "model.onnx"
    shutil.copyfile(exported, target)  # an export of exactly these weights and classes
    calls: list[Path] = []
    monkeypatch.setattr(
        "segdesk.ml.inference.export.export_onnx", lambda m, meta, path, **kw: calls.append(path) or path
    )
    assert cached_onnx(ckpt) == target and calls == []
    predictor = Predictor.from_checkpoint(ckpt, device="cpu")
    assert predictor.backend.name == "onnx" and predictor.model_version == version and calls == []
    target.unlink()
    lazy = Predictor.from_checkpoint(ckpt, device="cpu", build_onnx=False)
    assert lazy.backend.name == "torch" and cached_onnx(ckpt, build=False) is None and calls == []
    shutil.copyfile(exported, target)
    changed = fresh_copy(net)
    with torch.no_grad():
        changed.head.bias += 0.1
    save_checkpoint(changed, {"classes": CLASSES}, ckpt)
    cached_onnx(ckpt)
    assert calls == [target]
    monkeypatch.setattr(segdesk, "__version__", "99.0")
    save_checkpoint(fresh_copy(net), {"classes": CLASSES}, ckpt)
    cached_onnx(ckpt)
    assert calls == [target, target]  # exported by another segdesk version: rebuilt


def test_exports_of_a_stored_version_name_it(net, tmp_path, monkeypatch) -> None:
    """A checkpoint does not record its version; the export must take it from the store (not null)."""
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.inference.export import with_model_version

    store = ModelStore(tmp_path)
    store.add_version(fresh_copy(net), {"classes": CLASSES})
    version = store.add_version(fresh_copy(net), {"classes": CLASSES})
    assert version == "v2"
    written: list[dict] = []
    monkeypatch.setattr(
        "segdesk.ml.inference.export.export_onnx", lambda m, meta, path, **kw: written.append(meta) or path
    )
    cached_onnx(store.path(version))  # what the app builds after a retrain
    assert written and written[-1]["version"] == "v2"
    assert with_model_version({"version": "v5"}, store.path(version))["version"] == "v5"
    assert with_model_version({}, store.folder / "v3")["version"] == "v3"


def test_cancelled_export_writes_nothing(net, tmp_path, monkeypatch) -> None:
    import threading

    from segdesk.core.errors import Cancelled

    monkeypatch.setattr("segdesk.ml.inference.export.export_bytes", lambda *a, **k: b"graph")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        export_onnx(net, META, tmp_path / "m.onnx", cancel=cancel)
    assert list(tmp_path.iterdir()) == []
    assert export_onnx(net, META, tmp_path / "m.onnx").read_bytes() == b"graph"
