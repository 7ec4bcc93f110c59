"""``segdesk export masks|onnx`` end to end: parser, files written, ONNX parity, exit statuses."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest
import torch

from segdesk.commands.export import add_export_arguments, export_onnx_command
from segdesk.commands.export_masks import export_masks_command
from segdesk.core.review import reviewed_extra
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.inference.export import OnnxBackend, read_metadata, verify_onnx
from segdesk.ml.model import UNet, UNetConfig

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(45, 61), (64, 64)]):
        PIL.Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"im{i}.png")
        doc = {
            "version": "5.5.0",
            "flags": {},
            "shapes": [
                {
                    "label": "cell",
                    "points": [[3, 3], [30, 5], [20, 30]],
                    "group_id": None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                },
                {
                    "label": "cell",
                    "points": [[40, 20], [44, 40]],
                    "group_id": None,
                    "description": "",
                    "shape_type": "rectangle",
                    "flags": {},
                },
            ],
            "imagePath": f"im{i}.png",
            "imageData": None,
            "imageHeight": h,
            "imageWidth": w,
            "segdesk": reviewed_extra(),  # exports take reviewed images only by default
        }
        (root / f"im{i}.json").write_text(json.dumps(doc))
    return root


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="segdesk")
    sub = parser.add_subparsers(dest="command")
    add_export_arguments(sub.add_parser("export"))
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = _project(tmp_path_factory.mktemp("p") / "proj")
    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=4, depth=2, num_classes=2)).eval()
    ModelStore(root).add_version(net, {"classes": ["_background_", "cell"]})
    return root


def test_masks_through_the_parser(project: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    args = _parse(["export", "masks", str(project), "--format", "coco", "--out", str(tmp_path / "c")])
    assert args.handler(args, out=lines.append) == 0
    data = json.loads((tmp_path / "c" / "annotations.json").read_text())
    assert len(data["images"]) == 2 and len(data["annotations"]) == 4
    assert "2 image(s)" in lines[-1]
    # a second run refuses to overwrite and says how to
    lines.clear()
    assert args.handler(args, out=lines.append) == 2 and "--overwrite" in lines[-1]
    args = _parse(
        [
            "export",
            "masks",
            str(project),
            "--format",
            "index",
            "--out",
            str(tmp_path / "i"),
            "--reviewed-only",  # the default now; still accepted
            "--with-proposals",
        ]
    )
    assert args.handler(args, out=lines.append) == 0
    assert cv2.imread(str(tmp_path / "i" / "im0.png"), cv2.IMREAD_UNCHANGED)[10, 15] == 1


def test_masks_command_errors(project: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    assert export_masks_command(tmp_path / "nope", fmt="index", out_dir=tmp_path / "o", out=lines.append) == 2
    assert "nope" in lines[-1]


def test_masks_subprocess_does_not_load_torch(project: Path, tmp_path: Path) -> None:
    code = (
        "import sys, argparse\n"
        "from segdesk.commands.export import add_export_arguments\n"
        "p = argparse.ArgumentParser(); add_export_arguments(p)\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "rc = a.handler(a)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(rc)\n"
    )
    out = tmp_path / "voc"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code, "masks", str(project), "--format", "voc", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "SegmentationClass" / "im1.png").is_file() and (out / "class_names.txt").is_file()


@pytest.mark.slow
def test_onnx_export_verifies_and_has_parity(project: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    target = tmp_path / "m.onnx"
    args = _parse(["export", "onnx", str(project), "--out", str(target)])
    assert args.handler(args, echo=lines.append) == 0, lines
    assert any(line.startswith("verification on im0.png: OK") for line in lines), lines
    meta = read_metadata(target)
    assert meta["classes"] == ["_background_", "cell"] and meta["precision"] == "fp32"
    assert meta["model_version"] == "v1"  # the store's version, not null (issue 13, defect 7)
    backend = OnnxBackend(target)
    net, _ = ModelStore(project).load()
    # parity at two sizes, one not a multiple of 16 (nor of the model's 4)
    for h, w in [(64, 48), (37, 53)]:
        img = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
        report = verify_onnx(target, net, img)
        assert report.ok and report.max_abs_diff <= 1e-3 and report.argmax_agreement >= 0.999, (
            report.summary()
        )
        assert backend.logits(np.zeros((1, 3, h, w), np.float32)).shape == (1, 2, h, w)
    # exists: refused without --overwrite; an unknown version is named (each export takes ~10 s
    # here, so fp16 is left to tests/ml/test_export.py)
    before = target.read_bytes()
    assert export_onnx_command(project, out=target, echo=lines.append) == 2
    assert "--overwrite" in lines[-1] and target.read_bytes() == before
    assert export_onnx_command(project, out=target, overwrite=True, model="v9", echo=lines.append) == 2
    assert "v9" in lines[-1] and "v1" in lines[-1] and target.read_bytes() == before


def test_onnx_without_a_model(tmp_path: Path) -> None:
    lines: list[str] = []
    root = _project(tmp_path / "empty")
    assert export_onnx_command(root, out=tmp_path / "x.onnx", echo=lines.append) == 2
    assert "no model" in lines[-1] and not (tmp_path / "x.onnx").exists()


def test_onnx_to_a_folder_or_into_a_missing_folder_is_refused_before_exporting(tmp_path: Path) -> None:
    lines: list[str] = []
    root = _project(tmp_path / "empty")  # no model: the path is refused before the model is looked for
    assert export_onnx_command(root, out=tmp_path, overwrite=True, echo=lines.append) == 2
    assert lines[-1] == f"{tmp_path}: is a folder; give the file to write, e.g. {tmp_path / 'model.onnx'}"
    assert export_onnx_command(root, out=tmp_path / "no" / "m.onnx", echo=lines.append) == 2
    assert lines[-1] == f"{tmp_path / 'no' / 'm.onnx'}: the folder {tmp_path / 'no'} does not exist"
    assert tmp_path.is_dir() and not (tmp_path / "no").exists()
