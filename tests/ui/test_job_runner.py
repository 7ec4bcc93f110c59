"""JobWorker / Job / JobRunner: signals in order, throttled progress, cancel, errors, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from PySide6.QtCore import QThread

from segdesk.core.errors import ProjectError
from segdesk.ui.job_runner import Job, JobCancelled, JobRunner, error_message

Report = Callable[[object], None]


def _record(job: Job) -> list[tuple[str, object]]:
    events: list[tuple[str, object]] = []
    job.progress.connect(lambda r: events.append(("progress", r)))
    job.succeeded.connect(lambda r: events.append(("succeeded", r)))
    job.failed.connect(lambda m: events.append(("failed", m)))
    job.cancelled.connect(lambda: events.append(("cancelled", None)))
    job.finished.connect(lambda: events.append(("finished", None)))
    return events


def test_success_runs_off_the_gui_thread_and_finished_is_last(qtbot) -> None:
    seen: dict[str, object] = {}

    def fn(cancel: threading.Event, report: Report) -> int:
        seen["thread"] = QThread.currentThread()
        report(1)
        return 42

    job = Job(fn, name="t")
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()
    assert seen["thread"] is not QThread.currentThread()
    assert events == [("progress", 1), ("succeeded", 42), ("finished", None)]
    assert not job.is_running()
    with pytest.raises(RuntimeError):
        job.start()


def test_progress_is_throttled_and_the_last_record_arrives(qtbot) -> None:
    def fn(cancel: threading.Event, report: Report) -> None:
        for i in range(2000):
            report(i)
            time.sleep(0.0001)

    job = Job(fn, name="t", rate_hz=10.0)
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=10000):
        job.start()
    progress = [r for kind, r in events if kind == "progress"]
    assert progress[-1] == 1999
    assert len(progress) < 100  # 2000 reports over well under 10 s at <= 10 per second
    assert [k for k, _ in events][-2:] == ["succeeded", "finished"]


def test_a_held_back_record_shows_while_the_function_is_quiet(qtbot) -> None:
    release = threading.Event()

    def fn(cancel: threading.Event, report: Report) -> None:
        report("saving")
        report("exporting")  # within the interval: held back, then a long quiet step
        release.wait(10)

    job = Job(fn, name="t", rate_hz=10.0)
    events = _record(job)
    job.start()
    try:
        qtbot.waitUntil(lambda: ("progress", "exporting") in events, timeout=2000)
        assert not job.wait(0)  # shown while the function still runs, not at its end
    finally:
        release.set()
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert [r for kind, r in events if kind == "progress"] == ["saving", "exporting"]


def test_cancel_sets_the_event_directly_and_stops_a_busy_loop(qtbot) -> None:
    started = threading.Event()

    def fn(cancel: threading.Event, report: Report) -> None:
        started.set()
        while not cancel.is_set():  # a busy worker never returns to its event loop
            time.sleep(0.001)
        raise JobCancelled

    job = Job(fn, name="t")
    events = _record(job)
    job.start()
    assert started.wait(5)
    t0 = time.monotonic()
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.cancel()
    assert time.monotonic() - t0 < 2.0
    assert [k for k, _ in events] == ["cancelled", "finished"]


def test_a_normal_return_after_cancel_counts_as_cancelled(qtbot) -> None:
    def fn(cancel: threading.Event, report: Report) -> str:
        cancel.wait(5)
        return "partial"

    job = Job(fn, name="t")
    events = _record(job)
    job.start()
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.cancel()
    assert [k for k, _ in events] == ["cancelled", "finished"]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            ProjectError("/p/labels.txt", "line 3", "duplicate label 'cat'"),
            "/p/labels.txt: line 3: duplicate label 'cat'",
        ),
        (ValueError("loss is NaN"), "ValueError: loss is NaN"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "Out of memory: CUDA out of memory."),
    ],
)
def test_exceptions_become_failed_messages(qtbot, exc: Exception, expected: str) -> None:
    def fn(cancel: threading.Event, report: Report) -> None:
        raise exc

    job = Job(fn, name="t")
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()
    assert events[0][0] == "failed"
    assert str(events[0][1]).startswith(expected)
    assert events[-1] == ("finished", None)


def test_error_message_for_memory_error() -> None:
    assert error_message(MemoryError()).startswith("Out of memory")


def test_runner_allows_one_job_per_name_and_shutdown_waits(qtbot) -> None:
    runner = JobRunner()
    release = threading.Event()

    def fn(cancel: threading.Event, report: Report) -> None:
        while not cancel.is_set() and not release.is_set():
            time.sleep(0.001)

    runner.start("train", fn)
    assert runner.is_running("train") and runner.is_running()
    with pytest.raises(RuntimeError, match="already running"):
        runner.start("train", fn)
    t0 = time.monotonic()
    assert runner.shutdown(3000)
    assert time.monotonic() - t0 < 2.0
    with qtbot.waitSignal(runner.job_finished, timeout=5000):
        pass
    assert runner.job("train") is None


def test_runner_shutdown_reports_a_job_that_will_not_stop(qtbot) -> None:
    runner = JobRunner()
    release = threading.Event()

    def stubborn(cancel: threading.Event, report: Report) -> None:
        release.wait(10)  # ignores cancel on purpose

    runner.start("stuck", stubborn)
    assert runner.shutdown(100) is False
    assert runner.is_running("stuck")
    release.set()
    with qtbot.waitSignal(runner.job_finished, timeout=5000):
        pass
    assert not runner.is_running()
