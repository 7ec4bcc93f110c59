"""in_child: a job function run in a spawned process, with progress, errors, cancel and crashes.

The factories are module-level so the child can import them by name.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from segdesk.core.errors import Cancelled, TrainingError
from segdesk.services.child_process import ChildJobError, error_message, in_child


def counting(n: int):
    def run(cancel, report):
        for i in range(n):
            report(("step", i))
        return {"pid": os.getpid(), "n": n}

    return run


def failing(kind: str):
    def run(cancel, report):
        report("about to fail")
        if kind == "segdesk":
            raise TrainingError("/p: the loss became nan at step 3; lower the learning rate (lr)")
        if kind == "memory":
            raise MemoryError()
        if kind == "cuda_oom":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")
        if kind == "exit":
            os._exit(3)
        if kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError("bad value")

    return run


def polling(stop_after_s: float):
    def run(cancel, report):
        start = time.monotonic()
        report("running")
        while time.monotonic() - start < stop_after_s:
            if cancel.is_set():
                raise Cancelled("stopped on request")
            time.sleep(0.01)
        return "finished"

    return run


def stubborn():
    def run(cancel, report):
        report("running")
        time.sleep(60)  # one long call that never looks at the cancel token
        return "finished"

    return run


def _run(fn, cancel: threading.Event | None = None):
    records: list[object] = []
    result = fn(cancel or threading.Event(), records.append)
    return result, records


def test_result_and_progress_come_back_from_another_process():
    result, records = _run(in_child(counting, 5, name="test"))
    assert result["n"] == 5 and result["pid"] != os.getpid()
    assert records == [("step", i) for i in range(5)]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("segdesk", "/p: the loss became nan at step 3; lower the learning rate (lr)"),
        ("memory", "Out of memory: the job needs more memory than is available"),
        ("cuda_oom", "Out of memory: CUDA out of memory. Tried to allocate 2.00 GiB"),
        ("value", "ValueError: bad value"),
        ("exit", "the test process ended unexpectedly (exit code 3)"),
        ("kill", "the test process was stopped by SIGKILL (out of memory?)"),
    ],
)
def test_failures_in_the_child_are_messages_for_a_person(kind: str, expected: str):
    with pytest.raises(ChildJobError) as info:
        _run(in_child(failing, kind, name="test"))
    assert str(info.value) == expected
    assert error_message(info.value) == expected  # what the job's failed signal carries


def test_cancel_reaches_the_child_quickly():
    cancel = threading.Event()
    fn = in_child(polling, 60.0, name="test")
    timer = threading.Timer(3.0, cancel.set)  # after the child has started (spawn takes ~1 s)
    timer.start()
    try:
        with pytest.raises(Cancelled, match="stopped on request"):
            start = time.monotonic()
            _run(fn, cancel)
        assert time.monotonic() - start < 3.0 + 1.0
    finally:
        timer.cancel()


def test_a_child_that_ignores_cancel_is_terminated_after_the_grace_period():
    cancel = threading.Event()
    fn = in_child(stubborn, name="test", grace_s=0.5)
    threading.Timer(2.0, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled, match="the process was stopped"):
        _run(fn, cancel)
    assert time.monotonic() - start < 2.0 + 0.5 + 2.0


def test_a_finished_job_is_not_cancelled_afterwards():
    cancel = threading.Event()
    result, _records = _run(in_child(polling, 0.0, name="test"), cancel)
    assert result == "finished"


def niceness_probe():
    def run(cancel, report):
        return os.nice(0) if hasattr(os, "nice") else None

    return run


@pytest.mark.skipif(not hasattr(os, "nice"), reason="os.nice is POSIX")
def test_a_child_can_run_at_a_lower_priority_than_the_app():
    mine = os.nice(0)
    result, _records = _run(in_child(niceness_probe, name="test", niceness=5))
    assert result == min(mine + 5, 19)
    plain, _records = _run(in_child(niceness_probe, name="test"))
    assert plain == mine
