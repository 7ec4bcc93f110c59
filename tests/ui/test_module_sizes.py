"""The ui stays in small modules (issue 15: none over about 400 lines), so a newcomer can read one
concern at a time and helpers' merges touch few lines of each."""

from __future__ import annotations

from pathlib import Path

import segdesk.ui

LIMIT = 400


def test_no_ui_module_is_over_400_lines() -> None:
    root = Path(segdesk.ui.__file__).parent
    sizes = {
        p.relative_to(root).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in root.rglob("*.py")
    }
    assert len(sizes) > 40  # the whole package was read
    assert {name: n for name, n in sizes.items() if n > LIMIT} == {}
