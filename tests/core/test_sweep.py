"""Issue 14 item 12: a project's stale temporaries (segdesk's own only) are removed when it opens."""

from __future__ import annotations

import os
import time
from pathlib import Path

from segdesk.core.sweep import STALE_AFTER_S, sweep_stale_temporaries


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def _file(path: Path, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    return _age(path, STALE_AFTER_S + 5) if old else path


def test_removes_only_segdesks_stale_temporaries(tmp_path: Path) -> None:
    models = tmp_path / ".segdesk" / "models"
    stale = [
        _file(tmp_path / ".a.json.0123abcd.segdesk-tmp"),
        _file(tmp_path / "exports" / ".masks.json.deadbeef.segdesk-tmp"),
        _file(models / "v3" / ".model.safetensors.00ff00ff.segdesk-tmp"),
    ]
    staging = models / ".staging-12345678"
    _file(staging / "model.safetensors")
    _age(staging, STALE_AFTER_S + 5)
    export_staging = tmp_path / "exports" / ".masks.segdesk-export-abcdef01"
    _file(export_staging / "a.png")
    _age(export_staging, STALE_AFTER_S + 5)
    kept = [
        _file(tmp_path / ".b.json.0123abcd.segdesk-tmp", old=False),  # a save in progress
        _file(tmp_path / "a.json"),
        _file(tmp_path / "notes.segdesk-tmp"),  # not segdesk's pattern
        _file(tmp_path / ".a.json.XYZ.segdesk-tmp"),
        _file(tmp_path / "deep" / "deeper" / ".c.json.0123abcd.segdesk-tmp"),  # beyond the sweep
        _file(models / "v3" / "model.safetensors"),
    ]
    young_staging = models / ".staging-87654321"
    young_staging.mkdir()
    removed = sweep_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([*stale, staging, export_staging])
    assert all(not p.exists() for p in removed)
    assert all(p.exists() for p in kept) and young_staging.exists()


def test_never_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    victim = _file(outside / ".x.json.0123abcd.segdesk-tmp")
    project = tmp_path / "project"
    project.mkdir()
    (project / "linked").symlink_to(outside, target_is_directory=True)
    link = project / ".y.json.0123abcd.segdesk-tmp"
    link.symlink_to(victim)
    _age(link, STALE_AFTER_S + 5)
    assert sweep_stale_temporaries(project) == []
    assert victim.exists() and link.is_symlink()


def test_a_missing_folder_is_fine(tmp_path: Path) -> None:
    assert sweep_stale_temporaries(tmp_path / "nothing") == []
