"""Run a plain callable in a QThread: progress, success, failure and cancel as Qt signals.

A job function has the signature ``fn(cancel, report) -> result``: ``cancel`` is a
``threading.Event`` the function polls (``cancel.is_set()``), ``report(record)`` hands a progress
record to the GUI. The function never touches a widget or a document; it gets snapshots.

Qt-only on purpose: this module must not import segdesk.ml (the job functions of job_functions.py reach it
through segdesk.services, inside functions).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from segdesk.core.cancel import JobFn
from segdesk.core.errors import Cancelled, SegdeskError
from segdesk.services.child_process import error_message

#: What a job function looks like: fn(cancel, report) -> result (one definition, in core).
JobFunction = JobFn

#: At most this many progress signals per second reach the GUI (the last one always does).
PROGRESS_RATE_HZ = 10.0


#: Raised by a job function that stops because its cancel event was set (the core's Cancelled).
JobCancelled = Cancelled


class JobWorker(QObject):
    """Lives in the job's QThread and calls the job function once, in ``run``."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: JobFunction, cancel: threading.Event, *, rate_hz: float) -> None:
        super().__init__()
        self._fn = fn
        self._cancel = cancel
        self._interval = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self._last_emit = 0.0
        self._pending: list[object] = []
        self._lock = threading.Lock()

    def _report(self, record: object) -> None:
        # Throttled here, in the worker, so a chatty job cannot flood the GUI's event queue.
        with self._lock:
            now = time.monotonic()
            if now - self._last_emit >= self._interval:
                self._pending.clear()
                self._last_emit = now
                emit = True
            else:
                self._pending[:] = [record]
                emit = False
        if emit:
            self.progress.emit(record)

    def flush_due(self) -> None:
        """Emit a held-back record once its interval has passed (called by the Job's timer).

        Without it, the last record before a long quiet step ("exporting ...") would only show
        when the job ends.
        """
        with self._lock:
            if not self._pending or time.monotonic() - self._last_emit < self._interval:
                return
            record = self._pending.pop()
            self._last_emit = time.monotonic()
        self.progress.emit(record)

    def _flush(self) -> None:
        with self._lock:
            record = self._pending.pop() if self._pending else None
            self._pending.clear()
        if record is not None:
            self.progress.emit(record)

    @Slot()
    def run(self) -> None:
        """Call the function; exactly one of succeeded / failed / cancelled, then finished."""
        try:
            result = self._fn(self._cancel, self._report)
        except JobCancelled:
            self._flush()
            self.cancelled.emit()
        except BaseException as exc:
            self._flush()
            # An error caused by stopping half-way (a closed file, ...) is still a cancel.
            if self._cancel.is_set() and not isinstance(exc, SegdeskError):
                self.cancelled.emit()
            else:
                self.failed.emit(error_message(exc))
        else:
            self._flush()
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.finished.emit()


class Job(QObject):
    """A handle on one run of a job function in its own QThread (GUI-thread object)."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(
        self,
        fn: JobFunction,
        *,
        name: str = "job",
        rate_hz: float = PROGRESS_RATE_HZ,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self._fn = fn
        self._rate_hz = rate_hz
        self._cancel = threading.Event()
        self._thread: QThread | None = None
        self._worker: JobWorker | None = None
        self._started = False
        self._done = False
        # Delivers a held-back progress record while the function is quiet (GUI thread).
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(max(1, round(1000 / rate_hz)) if rate_hz > 0 else 100)
        self._flush_timer.timeout.connect(self._flush_due)

    def start(self) -> None:
        """Start the thread; a Job runs once."""
        if self._started:
            raise RuntimeError(f"job {self.name!r} was already started")
        thread = QThread()
        thread.setObjectName(f"segdesk-{self.name}")
        worker = JobWorker(self._fn, self._cancel, rate_hz=self._rate_hz)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.succeeded.connect(self.succeeded)
        worker.failed.connect(self.failed)
        worker.cancelled.connect(self.cancelled)
        # quit() is thread-safe; called directly in the worker thread, so a GUI thread blocked
        # in wait() (window closing) still sees the thread end.
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self._started = True
        thread.start()
        self._flush_timer.start()

    def cancel(self) -> None:
        """Ask the function to stop: sets the event directly (a queued signal would wait)."""
        self._cancel.set()

    def is_running(self) -> bool:
        return self._started and not self._done

    def wait(self, ms: int) -> bool:
        """Block up to ``ms`` for the thread to end; True when it has (or never started)."""
        if self._thread is None or self._done:
            return True
        return bool(self._thread.wait(ms))

    @Slot()
    def _flush_due(self) -> None:
        if self._worker is not None and not self._done:
            self._worker.flush_due()

    @Slot()
    def _on_thread_finished(self) -> None:
        self._flush_timer.stop()
        if self._done:
            return
        if self._thread is not None:
            self._thread.wait()  # finished is emitted just before the thread really ends
        self._done = True
        # The thread and worker stay referenced (both idle now) until the Job itself goes away:
        # dropping them inside a slot their own signal invoked is how PySide objects get freed twice.
        self.finished.emit()


class JobRunner(QObject):
    """Keeps the window's jobs by name: one running job per name, cancel-all on close."""

    job_started = Signal(str)
    job_finished = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: dict[str, Job] = {}
        self._retired: list[Job] = []

    def start(
        self,
        name: str,
        fn: JobFunction,
        *,
        connect: Callable[[Job], None] | None = None,
        rate_hz: float = PROGRESS_RATE_HZ,
    ) -> Job:
        """Start ``fn`` as job ``name``; ``connect(job)`` hooks up signals before it starts.

        Raises RuntimeError if a job of that name still runs.
        """
        if self.is_running(name):
            raise RuntimeError(f"a {name} job is already running")
        # No Qt parent and no deleteLater: Python owns each Job; a finished one is retired and
        # released on the next start, never while its own finished signal is being emitted.
        self._retired.clear()
        job = Job(fn, name=name, rate_hz=rate_hz)
        if connect is not None:
            connect(job)
        job.finished.connect(lambda: self._forget(name))
        self._jobs[name] = job
        job.start()
        self.job_started.emit(name)
        return job

    def _forget(self, name: str) -> None:
        job = self._jobs.get(name)
        if job is not None and not job.is_running():
            self._retired.append(self._jobs.pop(name))
        self.job_finished.emit(name)

    def job(self, name: str) -> Job | None:
        return self._jobs.get(name)

    def is_running(self, name: str | None = None) -> bool:
        if name is None:
            return any(j.is_running() for j in self._jobs.values())
        job = self._jobs.get(name)
        return job is not None and job.is_running()

    def cancel(self, name: str) -> None:
        job = self._jobs.get(name)
        if job is not None:
            job.cancel()

    def cancel_all(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel every job and wait for their threads; False if one would not stop in time."""
        self.cancel_all()
        deadline = time.monotonic() + timeout_ms / 1000.0
        for job in list(self._jobs.values()):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if not job.wait(left):
                return False
        return True
