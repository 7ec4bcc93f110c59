"""The demo project is the person's own copy, never the shipped files (issue 13, defect 12)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import segdesk.ui.resources as resources
from segdesk.app import start_path


def _fake_shipped_demo(root: Path) -> Path:
    """A read-only 'installation': files and folder without write permission."""
    demo = root / "site-packages" / "segdesk" / "resources" / "demo"
    demo.mkdir(parents=True)
    (demo / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    (demo / "cells_01.json").write_text('{"shapes": []}')
    (demo / "cells_01.jpg").write_bytes(b"\xff\xd8fake")
    for path in [*demo.iterdir(), demo]:
        path.chmod(stat.S_IRUSR | (stat.S_IXUSR if path.is_dir() else 0))
    return demo


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    demo = _fake_shipped_demo(tmp_path)
    monkeypatch.setattr(resources, "demo_project_dir", lambda: demo)
    yield demo
    for path in [demo, *demo.iterdir()]:
        path.chmod(stat.S_IRWXU)


def test_data_dir_follows_the_override_then_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(tmp_path / "mine"))
    assert resources.user_data_dir() == tmp_path / "mine"
    assert resources.user_demo_dir() == tmp_path / "mine" / "demo"
    monkeypatch.delenv(resources.DATA_DIR_ENV)
    if os.name == "posix" and os.uname().sysname == "Linux":
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        assert resources.user_data_dir() == tmp_path / "xdg" / "segdesk"


def test_first_start_copies_the_demo_and_opens_the_copy(shipped: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(tmp_path / "data"))
    target = start_path(None, None)
    assert target == tmp_path / "data" / "demo" and target != shipped
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in shipped.iterdir())
    # The copy is the person's: writable even though the installation is read-only.
    for path in [target, *target.iterdir()]:
        assert path.stat().st_mode & stat.S_IWUSR, path
    (target / "cells_01.json").write_text('{"shapes": ["edited"]}')
    # Later starts open the same copy and never overwrite the person's edits.
    assert start_path(None, None) == target
    assert "edited" in (target / "cells_01.json").read_text()
    assert (shipped / "cells_01.json").read_text() == '{"shapes": []}'
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".demo-copying")]
    # A path given or a last folder still wins over the demo.
    assert start_path(str(tmp_path), None) == tmp_path
    assert start_path(None, tmp_path) == tmp_path


def test_an_unwritable_data_folder_is_an_error_naming_it(shipped: Path, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(blocker / "data"))
    with pytest.raises(OSError) as info:
        start_path(None, None)
    assert "not-a-folder" in str(info.value)


def test_without_a_shipped_demo_nothing_opens(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(resources, "demo_project_dir", lambda: None)
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(tmp_path / "data"))
    assert start_path(None, None) is None and not (tmp_path / "data").exists()
