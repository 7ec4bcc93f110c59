"""Where segdesk's bundled resources (the demo project, icons) live, in a checkout or a frozen app,
and the person's own copy of the demo project (Qt-free)."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path


def resources_dir() -> Path | None:
    """The ``resources/`` folder: beside the package in a checkout, or inside a PyInstaller bundle.

    Returns ``None`` when neither exists (an installed wheel without the resources).
    """
    candidates: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    package_dir = Path(__file__).resolve().parent.parent  # segdesk/
    candidates += [package_dir.parent / "resources", package_dir / "resources"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def demo_project_dir() -> Path | None:
    """The demo project folder, or ``None`` when it is not shipped with this copy."""
    root = resources_dir()
    if root is None:
        return None
    demo = root / "demo"
    return demo if demo.is_dir() else None


#: Environment variable naming the folder for segdesk's own user data (the demo copy); tests and
#: portable installs set it. Without it: the platform's per-user data folder (see user_data_dir).
DATA_DIR_ENV = "SEGDESK_DATA_DIR"
DEMO_COPY_NAME = "demo"


def user_data_dir() -> Path:
    """segdesk's per-user data folder: ``$SEGDESK_DATA_DIR``, else ``$XDG_DATA_HOME/segdesk``
    (``~/.local/share/segdesk``) on Linux, ``%LOCALAPPDATA%\\segdesk`` on Windows,
    ``~/Library/Application Support/segdesk`` on macOS. Not created here."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "segdesk"


def user_demo_dir() -> Path:
    """Where the person's copy of the demo project lives (it may not exist yet)."""
    return user_data_dir() / DEMO_COPY_NAME


def prepare_demo_project() -> Path | None:
    """The person's own copy of the demo project, copied from the shipped one on first use.

    The shipped demo (a checkout's ``resources/demo``, the installed package, the frozen bundle) is
    never opened itself: edits, models and retrains would write into the installation, and fail
    where it is read-only. An existing copy is returned as it is (the person's edits stay). The
    copy is made beside the target and renamed into place, so an interrupted copy never counts as
    the demo. Returns None when this installation ships no demo.

    Raises:
        OSError: the data folder cannot be written (the message names the path).
    """
    source = demo_project_dir()
    if source is None:
        return None
    target = user_demo_dir()
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}-copying-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        # copyfile, not copy2: a read-only installation's permission bits must not come along.
        shutil.copytree(source, partial, copy_function=shutil.copyfile, ignore=_IGNORED)
        _make_writable(partial)
        os.replace(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if target.is_dir():  # another segdesk started at the same moment and copied it first
            return target
        raise
    return target


_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR | stat.S_IRUSR | (stat.S_IXUSR if path.is_dir() else 0))
