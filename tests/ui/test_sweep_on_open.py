"""Issue 14 item 12: opening a folder in the app removes segdesk's stale temporaries there."""

from __future__ import annotations

import os
import time
from pathlib import Path

from segdesk.core.sweep import STALE_AFTER_S
from segdesk.ui.session import Session


def test_opening_a_folder_sweeps(qapp, tmp_path: Path) -> None:
    stale = tmp_path / ".a.json.0123abcd.segdesk-tmp"
    fresh = tmp_path / ".b.json.0123abcd.segdesk-tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half a file")
    then = time.time() - STALE_AFTER_S - 5
    os.utime(stale, (then, then))
    session = Session(autosave=False)
    assert session.open_folder(tmp_path, select=None)
    assert not stale.exists() and fresh.exists()
