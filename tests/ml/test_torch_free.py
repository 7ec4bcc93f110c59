"""CPU prediction on the ONNX export never imports torch (a first ``import torch`` freezes the GUI).

The torch-free runs happen in a fresh interpreter (a subprocess): this test process has torch loaded
already. Their predictions are compared here with the torch backend's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from segdesk.ml import device as device_mod
from segdesk.ml.checkpoint import ModelStore, load_checkpoint, save_checkpoint
from segdesk.ml.checkpoint_file import weights_fingerprint_of_file
from segdesk.ml.inference.export import cached_onnx, weights_fingerprint
from segdesk.ml.inference.infer import Predictor
from segdesk.ml.inference.onnx_backend import OnnxBackend, export_is_current, onnx_path_for
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "albumentations", "onnx")  # onnx (the protobuf package) is not needed either


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project model version (tiny UNet) with its ONNX export beside it, as training leaves it."""
    store = ModelStore(tmp_path_factory.mktemp("project"))
    version = store.add_version(fresh_copy(trained_tiny_model()), {"classes": CLASSES})
    path = store.path(version)
    cached_onnx(path)  # ~8 s: once for the module
    return path


def _child_env() -> dict[str, str]:
    # Hide any CUDA device, so that "auto" means the CPU on a GPU machine too.
    return {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "NO_ALBUMENTATIONS_UPDATE": "1",
        "PYTHONPATH": str(REPO),
    }


def _run_child(code: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=_child_env(),
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _auto_is_cpu_in_child(monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    return not device_mod.gpu_may_be_usable()


def test_importing_the_services_and_the_predictor_loads_no_torch() -> None:
    loaded = _run_child(
        """
        import json, sys
        import segdesk.services.proposals, segdesk.services.proposal_files, segdesk.services.model_store
        import segdesk.services.training, segdesk.services.child_process
        import segdesk.ml.inference.infer, segdesk.ml.device, segdesk.ml.normalize
        import segdesk.ml.inference.onnx_backend, segdesk.ml.checkpoint_file, segdesk.ml.inference.tiling
        print(json.dumps({name: name in sys.modules for name in ("torch", "albumentations", "onnx")}))
        """
    )
    assert loaded == dict.fromkeys(HEAVY, False)


PREDICT = """
import json, sys
from pathlib import Path
import numpy as np
from segdesk.ml.inference.infer import Predictor
from segdesk.services.proposals import ProposalSettings, load_predictor, propose_image

ckpt, image_file, out_file, use_auto = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
image = np.load(image_file)
result = {}
outputs = {}
if use_auto:
    app = load_predictor(ckpt)  # what the app's predict job does: device "auto", build_onnx=False
    proposal = propose_image(app, image, ProposalSettings(), image_path=Path("x.png"))
    outputs["app_class_map"] = proposal.class_map
    result["app"] = [app.backend.name, app.model_version, app.device_type, len(proposal.shapes)]
    direct = Predictor.from_checkpoint(ckpt, build_onnx=False, device="auto", tile=64)
else:
    direct = Predictor.from_checkpoint(ckpt, build_onnx=False, device="cpu", tile=64)
pred = direct.predict(image)
outputs.update(direct_class_map=pred.class_map, direct_confidence=pred.confidence)
result["direct"] = [direct.backend.name, direct.model_version, direct.class_names, pred.tiles]
bare = Predictor.from_onnx(Path(sys.argv[5]))  # the export alone: its own classes and version
result["bare"] = [bare.class_names, bare.model_version, bare.multiple]
result["loaded"] = {name: name in sys.modules for name in ("torch", "albumentations", "onnx")}
np.savez(out_file, **outputs)
print(json.dumps(result))
"""


def test_cpu_prediction_on_the_export_never_imports_torch_and_matches_torch(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, _ = blob_image(150, 170, seed=4)
    np.save(tmp_path / "image.npy", image)
    use_auto = _auto_is_cpu_in_child(monkeypatch)  # False only on macOS / ROCm machines
    result = _run_child(
        PREDICT,
        str(checkpoint),
        str(tmp_path / "image.npy"),
        str(tmp_path / "out.npz"),
        "1" if use_auto else "0",
        str(onnx_path_for(checkpoint)),
    )
    assert result["loaded"] == dict.fromkeys(HEAVY, False)
    version = checkpoint.parent.name
    assert result["direct"][:3] == ["onnx", version, CLASSES] and result["direct"][3] > 1
    assert result["bare"] == [CLASSES, version, 4]
    out = np.load(tmp_path / "out.npz")
    model, meta = load_checkpoint(checkpoint)
    ref = Predictor(model, meta, device="cpu", backend="torch", tile=64).predict(image)
    assert (out["direct_class_map"] == ref.class_map).mean() >= 0.999
    assert np.abs(out["direct_confidence"] - ref.confidence).max() < 1e-3
    assert ref.class_map.any() and not ref.class_map.all()  # the model finds discs: a real comparison
    if use_auto:
        assert result["app"][:3] == ["onnx", version, "cpu"] and result["app"][3] > 0
        whole = Predictor(model, meta, device="cpu", backend="torch").predict(image)
        assert (out["app_class_map"] == whole.class_map).mean() >= 0.999


def test_fingerprint_from_the_file_equals_the_models(checkpoint: Path) -> None:
    model, meta = load_checkpoint(checkpoint)
    assert weights_fingerprint_of_file(checkpoint, meta["classes"]) == weights_fingerprint(model, CLASSES)
    assert weights_fingerprint_of_file(checkpoint.parent, ["a", "b"]) != weights_fingerprint(model, CLASSES)
    assert weights_fingerprint_of_file(checkpoint.parent / "missing.safetensors", CLASSES) is None


def _copy_version(checkpoint: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in ("model.safetensors", "model.json", "model.onnx"):
        shutil.copyfile(checkpoint.parent / name, folder / name)
    return folder / "model.safetensors"


def test_a_stale_or_damaged_export_falls_back_to_the_full_load(checkpoint: Path, tmp_path: Path) -> None:
    ckpt = _copy_version(checkpoint, tmp_path / "v5")
    fast = Predictor.from_checkpoint(ckpt, build_onnx=False, device="cpu")
    assert fast.backend.name == "onnx" and fast.model_version == "v5" and fast.device_type == "cpu"
    assert fast.device == torch.device("cpu")  # built on demand
    onnx = OnnxBackend(onnx_path_for(ckpt))
    assert export_is_current(onnx.metadata, ckpt, CLASSES)
    assert not export_is_current({**onnx.metadata, "version": "0.0"}, ckpt, CLASSES)
    model, meta = load_checkpoint(ckpt)
    with torch.no_grad():
        model.head.bias += 0.1
    save_checkpoint(model, meta, ckpt)  # new weights, the old export: stale
    assert not export_is_current(onnx.metadata, ckpt, CLASSES)
    stale = Predictor.from_checkpoint(ckpt, build_onnx=False, device="cpu")
    assert stale.backend.name == "torch" and stale.device == torch.device("cpu")
    onnx_path_for(ckpt).write_bytes(b"not an onnx file")
    assert Predictor.from_checkpoint(ckpt, build_onnx=False, device="cpu").backend.name == "torch"
    with pytest.raises(TypeError):  # an unknown option is refused as before, not silently dropped
        Predictor.from_checkpoint(checkpoint, build_onnx=False, device="cpu", tiles=64)


def test_from_onnx_refuses_another_normalization(checkpoint: Path, tmp_path: Path) -> None:
    import onnx

    from segdesk.core.errors import ModelError

    proto = onnx.load(str(onnx_path_for(checkpoint)))
    for prop in proto.metadata_props:
        if prop.key == "segdesk.normalization":
            prop.value = json.dumps({"method": "minmax"})
    onnx.save(proto, str(tmp_path / "other.onnx"))
    with pytest.raises(ModelError, match="other.onnx: normalization"):
        Predictor.from_onnx(tmp_path / "other.onnx")
    explicit = Predictor.from_onnx(tmp_path / "other.onnx", {"classes": ["bg", "fg"]})
    assert explicit.class_names == ["bg", "fg"] and explicit.model_version is None


# --- device choice without torch ------------------------------------------------------------------


def test_cpu_without_torch_only_says_yes_when_torch_would_pick_the_cpu() -> None:
    from segdesk.ml.device import cpu_without_torch, pick_device

    assert cpu_without_torch("cpu") and cpu_without_torch(" CPU ")
    for spec in ("cuda", "cuda:0", "mps", "cpu:0", "gpu", torch.device("cpu")):
        assert not cpu_without_torch(spec)
    if cpu_without_torch("auto"):
        assert pick_device("auto").type == "cpu" and cpu_without_torch("") and cpu_without_torch(None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cuda: Optional[str] = None\nhip: Optional[str] = None\n", False),
        ("cuda: Optional[str] = '12.4'\nhip: Optional[str] = None\n", True),
        ("cuda = None\nhip = '6.2.41133'\n", True),
        ("__version__ = '2.13.0'\n", None),  # cannot tell: torch decides
    ],
)
def test_torch_build_is_read_from_its_version_file(
    text: str, expected: bool | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import types

    (tmp_path / "version.py").write_text(text)
    spec = types.SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    monkeypatch.setattr(device_mod, "_torch_local_version", lambda: None)
    assert device_mod.torch_gpu_build() is expected


def test_a_gpu_build_without_driver_or_with_hidden_devices_means_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(device_mod.sys, "platform", "linux")
    monkeypatch.setattr(device_mod, "torch_gpu_build", lambda: True)
    monkeypatch.setattr(device_mod, "_rocm_driver_present", lambda: False)
    monkeypatch.setattr(device_mod, "_nvidia_driver_present", lambda: True)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert device_mod.gpu_may_be_usable()
    for hidden in ("", "-1", " -1,0"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert not device_mod.gpu_may_be_usable()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(device_mod, "_nvidia_driver_present", lambda: False)
    assert not device_mod.gpu_may_be_usable() and device_mod.cpu_without_torch("auto")
    monkeypatch.setattr(device_mod, "torch_gpu_build", lambda: None)  # unknown: ask torch
    assert device_mod.gpu_may_be_usable()
    monkeypatch.setattr(device_mod.sys, "platform", "darwin")
    monkeypatch.setattr(device_mod, "torch_gpu_build", lambda: False)
    assert device_mod.gpu_may_be_usable()  # MPS: only torch can tell
