"""The two words every long job speaks: a cancel token and a progress report (one definition each).

A job is a plain function or generator in core / ml / services; it polls ``cancel.is_set()`` between
units of work and hands progress records to ``report`` (or yields them). ``threading.Event`` and a
child process's token both fit :class:`CancelToken`; the app's job runner (``segdesk.ui.job_runner``) turns
reports into Qt signals, the CLI prints them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol


class CancelToken(Protocol):
    """Anything that says whether the person asked to stop (``threading.Event`` does)."""

    def is_set(self) -> bool: ...


#: A progress callback: receives one record (a dataclass or a short string) at a time.
Report = Callable[[object], None]

#: A job function as the app runs it: ``fn(cancel, report) -> result``.
JobFn = Callable[[threading.Event, Report], Any]

__all__ = ["CancelToken", "JobFn", "Report"]
