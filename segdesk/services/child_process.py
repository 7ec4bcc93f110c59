"""Run a job function in a spawned child process, driven from a job's QThread.

Why a process: a thread that imports torch or runs Python-heavy work holds the GIL for hundreds
of milliseconds at a time and the window stops painting (measured: 160-290 ms for the first
``import torch``, 600 ms for an ONNX export). A child has its own interpreter, so the GUI
process stays responsive and never loads torch for training.

``in_child(factory, *args)`` returns a job function ``fn(cancel, report)`` (the app's
``segdesk.ui.job_runner`` runs it). Called in the job's QThread, it starts a child that runs
``factory(*args)(cancel, report)``: progress records come back over a pipe and are handed to
``report``; the result (or the error message) is returned (raised) as if the function had run in
the thread. ``factory`` and ``args`` must be picklable (module-level functions, dataclasses).

Cancel: the thread-safe ``cancel`` event is mirrored to a multiprocessing event the child's
function polls. A child that does not stop within ``grace_s`` (stuck in one long call) is
terminated; every file segdesk writes is atomic, so a killed child leaves the last good model.
The child also stops by itself if the parent process goes away.

Qt-free and ml-free on purpose, and outside ``segdesk.ui``: the child imports this module and what
``factory`` needs (``segdesk.services.training`` for a retrain), never PySide6; the parent nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from segdesk.core.cancel import JobFn, Report
from segdesk.core.errors import Cancelled, SegdeskError

#: Seconds a cancelled child may take to stop by itself before it is terminated.
GRACE_S = 2.0


class ChildJobError(SegdeskError):
    """The job failed in the child process; the message is the child's, ready for a person."""


def error_message(exc: BaseException) -> str:
    """A message for a person: SegdeskError text as is, anything else prefixed with its type."""
    if isinstance(exc, SegdeskError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory: the job needs more memory than is available"
    text = str(exc).strip()
    if "out of memory" in text.lower():
        return f"Out of memory: {text.splitlines()[0]}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _ChildCancel:
    """The child's cancel token: the parent's request, or the parent having gone away."""

    def __init__(self, stop: Any) -> None:
        self._stop = stop
        self._parent = multiprocessing.parent_process()
        self._checked = 0.0
        self._orphaned = False

    def is_set(self) -> bool:
        if self._stop.is_set() or self._orphaned:
            return True
        now = time.monotonic()
        if self._parent is not None and now - self._checked > 0.5:
            self._checked = now
            self._orphaned = not self._parent.is_alive()
        return self._orphaned


def _lower_priority(niceness: int) -> None:
    """Let the person's work (the GUI process, its proposals) win every contest for a core."""
    if niceness <= 0:
        return
    try:
        if hasattr(os, "nice"):
            os.nice(niceness)
        elif sys.platform == "win32":
            import ctypes

            below_normal = 0x00004000  # BELOW_NORMAL_PRIORITY_CLASS
            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), below_normal)
    except (OSError, AttributeError):
        pass  # an unchanged priority is only slower for the person, never wrong


def _child_main(
    conn: Connection, stop: Any, factory: Callable[..., JobFn], args: tuple, niceness: int = 0
) -> None:
    """The child's entry point: run the job, send ("progress", r)*, then one final message."""
    _lower_priority(niceness)
    cancel = _ChildCancel(stop)

    def report(record: object) -> None:
        conn.send(("progress", record))

    try:
        result = factory(*args)(cancel, report)
    except Cancelled as exc:
        conn.send(("cancelled", str(exc)))
    except BaseException as exc:  # every failure becomes a message; the parent decides
        conn.send(("cancelled" if cancel.is_set() else "error", error_message(exc)))
    else:
        conn.send(("result", result))
    finally:
        conn.close()


def _exit_message(name: str, code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        try:
            why = signal.Signals(-code).name
        except ValueError:
            why = f"signal {-code}"
        hint = " (out of memory?)" if why == "SIGKILL" else ""
        return f"the {name} process was stopped by {why}{hint}"
    return f"the {name} process ended unexpectedly (exit code {code})"


def in_child(
    factory: Callable[..., JobFn],
    *args: Any,
    name: str = "job",
    grace_s: float = GRACE_S,
    niceness: int = 0,
) -> JobFn:
    """A job function that runs ``factory(*args)`` in a spawned child process (see module doc).

    ``niceness`` > 0 lowers the child's CPU priority (``os.nice``; below-normal class on Windows).
    """

    def run(cancel: threading.Event, report: Report) -> Any:
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        stop = ctx.Event()
        child = ctx.Process(
            target=_child_main,
            args=(send, stop, factory, args, niceness),
            name=f"segdesk-{name}",
            daemon=True,
        )
        try:
            child.start()
        except (OSError, RuntimeError, ValueError) as exc:
            raise ChildJobError(f"cannot start the {name} process: {exc}") from exc
        finally:
            send.close()  # the child holds the only writing end: EOF when it exits
        try:
            return _relay(child, receive, stop, cancel, report, name=name, grace_s=grace_s)
        finally:
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join(2.0)

    return run


def _relay(
    child: Any,
    conn: Connection,
    stop: Any,
    cancel: threading.Event,
    report: Report,
    *,
    name: str,
    grace_s: float,
) -> Any:
    cancelled_at: float | None = None
    while True:
        if cancel.is_set() and cancelled_at is None:
            stop.set()
            cancelled_at = time.monotonic()
        if cancelled_at is not None and time.monotonic() - cancelled_at > grace_s:
            child.terminate()
            raise Cancelled(f"{name} cancelled (the process was stopped)")
        try:
            if not conn.poll(0.05):
                continue
            kind, payload = conn.recv()
        except (EOFError, OSError):
            child.join(1.0)
            if cancelled_at is not None:
                raise Cancelled(f"{name} cancelled") from None
            raise ChildJobError(_exit_message(name, child.exitcode)) from None
        if kind == "progress":
            report(payload)
        elif kind == "result":
            return payload
        elif kind == "cancelled":
            raise Cancelled(payload)
        else:
            raise ChildJobError(payload)


__all__ = ["GRACE_S", "ChildJobError", "error_message", "in_child"]
