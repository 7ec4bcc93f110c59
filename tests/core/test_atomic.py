"""Atomic writes: the write interrupted at each step leaves the old file whole and no temp file."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segdesk.core import atomic
from segdesk.core.atomic import atomic_write_bytes, atomic_write_text, is_temp_file
from segdesk.core.errors import AnnotationWriteError, ModelError

OLD = b'{"old": true}\n'
NEW = b'{"new": true, "padding": "' + b"x" * 100_000 + b'"}\n'


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if is_temp_file(p))


@pytest.fixture()
def target(tmp_path: Path) -> Path:
    path = tmp_path / "a.json"
    path.write_bytes(OLD)
    return path


def test_writes_new_file_with_umask_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    atomic_write_text(path, "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    umask = os.umask(0)
    os.umask(umask)
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~umask
    assert _leftovers(tmp_path) == []


def test_replaces_and_keeps_existing_mode(target: Path) -> None:
    os.chmod(target, 0o600)
    atomic_write_bytes(target, NEW)
    assert target.read_bytes() == NEW
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(OLD)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write_bytes(link, NEW)
    assert link.is_symlink()
    assert real.read_bytes() == NEW


def _fail(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


class _FailingHandle:
    """A file object whose write stops half-way, as on a full disk."""

    def __init__(self, real):
        self._real = real

    def write(self, data):
        self._real.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()


@pytest.mark.parametrize("step", ["open", "chmod", "write", "fsync", "replace"])
def test_failure_at_each_step_keeps_old_file(
    target: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    os.chmod(target, 0o640)
    if step == "open":
        monkeypatch.setattr(atomic.os, "open", _fail)
    elif step == "chmod":
        monkeypatch.setattr(atomic, "_set_mode", _fail)
    elif step == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: _FailingHandle(real_fdopen(fd, mode)))
    elif step == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", _fail)
    elif step == "replace":
        monkeypatch.setattr(atomic.os, "replace", _fail)
    with pytest.raises(AnnotationWriteError) as info:
        atomic_write_bytes(target, NEW)
    monkeypatch.undo()
    assert str(target) in str(info.value)
    assert "No space left" in str(info.value)
    assert target.read_bytes() == OLD
    assert _leftovers(target.parent) == []


def test_folder_fsync_failure_after_replace_is_not_an_error(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) > 1:  # the folder's fsync (some file systems refuse it)
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    atomic_write_bytes(target, NEW)
    assert target.read_bytes() == NEW
    assert len(calls) == 2


def test_interrupt_during_write_removes_temp_and_propagates(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, NEW)
    monkeypatch.undo()
    assert target.read_bytes() == OLD
    assert _leftovers(target.parent) == []


def test_error_class_is_chosen_by_caller(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "model.safetensors"
    with pytest.raises(ModelError) as info:
        atomic_write_bytes(missing, b"x", error_cls=ModelError)
    assert "model.safetensors" in str(info.value)


def test_target_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    with pytest.raises(AnnotationWriteError):
        atomic_write_bytes(tmp_path / "d.json", b"x")
    assert _leftovers(tmp_path) == []


def test_unencodable_text_raises_write_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationWriteError):
        atomic_write_text(tmp_path / "a.txt", "\udc80")
    assert not (tmp_path / "a.txt").exists()


_CHILD = """
import os, sys, time
from segdesk.core import atomic
real_fsync = os.fsync
def slow_fsync(fd):
    open(sys.argv[2], "w").close()  # tell the parent the data is half-way to the disk
    time.sleep(60)
atomic.os.fsync = slow_fsync
atomic.atomic_write_bytes(sys.argv[1], b"new" * 1_000_000)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_process_killed_mid_write_leaves_old_file(target: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(target), str(marker)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, "the child process ended early"
            assert time.monotonic() < deadline, "the child process never started writing"
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert target.read_bytes() == OLD
    # A killed process cannot clean up; its leftover is recognisable and harmless.
    assert all(is_temp_file(tmp_path / n) for n in _leftovers(tmp_path))
    assert len(_leftovers(tmp_path)) == 1
