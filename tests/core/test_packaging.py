"""The wheel ships every package and the demo project (pyproject lists packages by hand)."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_is_listed() -> None:
    listed = set(_config()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "segdesk").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_demo_project_is_shipped() -> None:
    config = _config()["tool"]["setuptools"]
    assert config["package-dir"]["segdesk.resources"] == "resources"
    patterns = config["package-data"]["segdesk.resources"]
    assert "demo/*" in patterns
    demo = ROOT / "resources" / "demo"
    assert any(demo.glob("*.json")) and (demo / "labels.txt").is_file()
