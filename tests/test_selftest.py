"""``segdesk --self-test`` from a checkout: every check runs, passes, and a broken install fails it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

STEP_LINES = (
    "segdesk ",
    "python ",
    "qt ",
    "window ",
    "torch ",
    "onnxruntime ",
    "albumentations ",
    "onnx export ",
    "predict/torch ",
    "predict/onnx ",
    "training step ",
)


def _run(args: list[str], settings: Path, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("QT_QPA_PLATFORM", None)  # the self-test must choose offscreen by itself
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "segdesk", *args]
    return subprocess.run(
        [*command, "--settings-dir", str(settings)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_self_test_passes_and_reports_every_check(tmp_path: Path) -> None:
    from segdesk.ui.resources import demo_project_dir

    demo = demo_project_dir()
    assert demo is not None
    before = {p.name: p.stat().st_mtime_ns for p in demo.iterdir()}
    proc = _run(["--self-test"], tmp_path / "settings")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert lines[0] == "segdesk self-test"
    for step in STEP_LINES:
        assert any(line.startswith(step) for line in lines), f"no {step.strip()!r} line in:\n{proc.stdout}"
    assert lines[-1].startswith("segdesk self-test: OK in ")
    assert "platform offscreen" in proc.stdout
    assert f"demo project {demo}: 6 images" in proc.stdout
    assert (
        "agrees with torch on 100.00% of pixels" in proc.stdout or "agrees with torch on 99.9" in proc.stdout
    )
    # The window's settings went where they were told, and the demo project was not written to.
    assert any((tmp_path / "settings").rglob("*.ini"))
    assert {p.name: p.stat().st_mtime_ns for p in demo.iterdir()} == before


def test_self_test_fails_with_the_step_and_the_reason(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import segdesk.ui.resources as resources\n"
        "resources.demo_project_dir = lambda: None  # as a bundle without resources/ would be\n"
        "from segdesk.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = _run(["--self-test"], tmp_path / "settings", code=code)
    assert proc.returncode == 1
    assert "segdesk self-test: FAILED at environment: SelfTestError: the demo project" in proc.stderr
    assert "OK" not in proc.stdout


def _prediction(class_map: np.ndarray, confidence: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(class_map=class_map, confidence=confidence)


def test_prediction_checks_catch_wrong_results() -> None:
    from segdesk.selftest import SelfTestError, _check_prediction

    image = np.zeros((6, 8, 3), np.uint8)
    good = _prediction(np.ones((6, 8), np.uint8), np.full((6, 8), 0.9, np.float32))
    _check_prediction(good, image, 3)
    with pytest.raises(SelfTestError, match="class map"):
        _check_prediction(_prediction(np.ones((8, 6), np.uint8), good.confidence.T), image, 3)
    with pytest.raises(SelfTestError, match="class 3 from a 3-class model"):
        _check_prediction(_prediction(np.full((6, 8), 3, np.uint8), good.confidence), image, 3)
    bad_confidence = good.confidence.copy()
    bad_confidence[0, 0] = np.nan
    with pytest.raises(SelfTestError, match="confidence"):
        _check_prediction(_prediction(good.class_map, bad_confidence), image, 3)
    with pytest.raises(SelfTestError, match="confidence"):
        _check_prediction(_prediction(good.class_map, np.full((6, 8), 0.2, np.float32)), image, 3)


def test_importing_the_self_test_module_loads_neither_qt_nor_torch() -> None:
    code = (
        "import sys, segdesk.selftest\n"
        "print(sorted(m for m in ('torch', 'PySide6', 'segdesk.ml', 'onnxruntime') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
