"""Fixtures shared by the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import pytest


@pytest.fixture
def imdecode_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The flags of every ``cv2.imdecode`` call (the GIL-free decode paths: png_fast, fast_decode)."""
    calls: list[int] = []
    real = cv2.imdecode

    def spy(buf, flags):
        calls.append(flags)
        return real(buf, flags)

    monkeypatch.setattr(cv2, "imdecode", spy)
    yield calls
