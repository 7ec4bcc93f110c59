"""Opening: a big image is read off the GUI thread, stale reads are dropped, and the JSON is parsed once."""

from __future__ import annotations

import threading
import time

import numpy as np
import PIL.Image
import pytest

from segdesk.core import _labelme_json, parsed
from segdesk.core.document import Document
from segdesk.core.labelme_io import save_document
from segdesk.core.shapes import Shape
from segdesk.ui import open_loader
from segdesk.ui import session as session_module
from segdesk.ui.session import Session


def _folder(tmp_path, n: int = 2):
    for i in range(n):
        PIL.Image.fromarray(np.full((40, 60, 3), 50 * i, dtype=np.uint8)).save(tmp_path / f"im{i}.png")
        doc = Document(f"im{i}.png", 40, 60, shapes=[Shape("cell", [[1, 1], [20, 1], [20, 20 + i]])])
        save_document(doc, tmp_path / f"im{i}.json")
    return tmp_path


@pytest.fixture
def slow_reads(monkeypatch):
    """Every image counts as big, and reading one takes a while on whichever thread does it."""
    threads: list[threading.Thread] = []
    real = open_loader.read_image

    def slow(path, **kwargs):
        threads.append(threading.current_thread())
        time.sleep(0.3)
        return real(path, **kwargs)

    monkeypatch.setattr(session_module, "ASYNC_PIXELS", 10)
    monkeypatch.setattr(open_loader, "read_image", slow)
    return threads


def test_big_image_is_read_off_the_gui_thread_and_the_loop_keeps_running(qtbot, tmp_path, slow_reads) -> None:
    session = Session(autosave=False)
    ticks: list[float] = []
    started: list[object] = []
    session.loading_started.connect(started.append)
    with qtbot.waitSignal(session.image_loaded, timeout=5000) as loaded:
        t = time.perf_counter()
        session.open_folder(_folder(tmp_path))
        assert time.perf_counter() - t < 0.25  # open_folder returned before the 0.3 s read
        assert session.loading() and session.current is None
        while session.loading():
            ticks.append(time.perf_counter())
            qtbot.wait(5)
    current = loaded.args[0]
    assert current.index == 0 and current.error is None and current.display.shape == (40, 60, 3)
    assert len(current.document.shapes) == 1
    assert slow_reads and slow_reads[0] is not threading.main_thread()
    assert len(ticks) > 5  # the event loop ran while the image was read
    assert [p.name for p in started] == ["im0.png"]  # the window says what it is opening
    session._loader.wait()


def test_a_newer_open_drops_the_one_on_its_way(qtbot, tmp_path, slow_reads) -> None:
    session = Session(autosave=False)
    shown: list[int] = []
    session.image_loaded.connect(lambda current: shown.append(current.index))
    session.open_folder(_folder(tmp_path))
    assert session.go_to(1)  # before image 0 arrived
    qtbot.waitUntil(lambda: not session.loading(), timeout=5000)
    session._loader.wait()
    qtbot.wait(50)
    assert shown == [1] and session.index == 1
    np.testing.assert_array_equal(session.current.display, np.full((40, 60, 3), 50, dtype=np.uint8))


def test_a_read_error_in_the_background_is_shown_as_the_image_error(qtbot, tmp_path, slow_reads) -> None:
    folder = _folder(tmp_path, 1)
    (folder / "im0.json").write_text('{"shapes": [', encoding="utf-8")
    session = Session(autosave=False)
    with qtbot.waitSignal(session.image_loaded, timeout=5000) as loaded:
        session.open_folder(folder)
    assert loaded.args[0].document is None and "im0.json" in loaded.args[0].error
    session._loader.wait()


def test_opening_a_json_file_parses_it_once(qtbot, tmp_path, monkeypatch) -> None:
    folder = _folder(tmp_path, 1)
    calls: list[str] = []
    real = _labelme_json.parse_json_bytes
    monkeypatch.setattr(
        _labelme_json, "parse_json_bytes", lambda path, raw: calls.append(str(path)) or real(path, raw)
    )
    parsed.forget()
    session = Session(autosave=False)
    assert session.open_path(folder / "im0.json")
    assert session.current is not None and len(session.current.document.shapes) == 1
    assert calls == [str(folder / "im0.json")]


def test_a_big_json_file_is_parsed_off_the_gui_thread_once(qtbot, tmp_path, monkeypatch, slow_reads) -> None:
    folder = _folder(tmp_path, 2)
    calls: list[threading.Thread] = []
    real = _labelme_json.parse_json_bytes

    def counting(path, raw):
        calls.append(threading.current_thread())
        return real(path, raw)

    monkeypatch.setattr(_labelme_json, "parse_json_bytes", counting)
    monkeypatch.setattr(session_module, "ASYNC_JSON_BYTES", 10)
    parsed.forget()
    session = Session(autosave=False)
    with qtbot.waitSignal(session.image_loaded, timeout=5000) as loaded:
        assert session.open_path(folder / "im1.json")
        assert session.loading() and session.current is None
    assert loaded.args[0].index == 1 and loaded.args[0].error is None
    assert loaded.args[0].document.shapes[0].points[2].tolist() == [20, 21]
    opened = [t for t in calls if t is not threading.main_thread()]
    assert len(opened) == 1  # im1.json once, on a pool thread (im0.json: its status, on the GUI thread)
    session._loader.wait()


def test_a_big_json_naming_a_missing_image_says_so(qtbot, tmp_path, monkeypatch) -> None:
    folder = _folder(tmp_path, 1)
    save_document(Document("gone.png", 40, 60), folder / "other.json")
    monkeypatch.setattr(session_module, "ASYNC_JSON_BYTES", 10)
    session = Session(autosave=False)
    with qtbot.waitSignal(session.failed, timeout=5000) as failed:
        session.open_path(folder / "other.json")
    assert "gone.png" in failed.args[0] and "does not exist" in failed.args[0]
    session._loader.wait()


def test_the_image_beside_a_big_json_is_decoded_while_it_is_parsed(qtbot, tmp_path, monkeypatch) -> None:
    folder = _folder(tmp_path, 1)
    events: list[str] = []
    real_parse, real_read = _labelme_json.parse_json_bytes, open_loader.read_image

    def slow_parse(path, raw):
        events.append("parse")
        value = real_parse(path, raw)
        time.sleep(0.2)
        events.append("parsed")
        return value

    def read(path, after_read):
        events.append("read")
        time.sleep(0.2)  # a slow disk: the parse still waits for the bytes (they then decode beside it)

        def read_done():
            events.append("bytes")
            after_read()

        return real_read(path, after_read=read_done)

    monkeypatch.setattr(_labelme_json, "parse_json_bytes", slow_parse)
    monkeypatch.setattr(open_loader, "read_image", read)
    monkeypatch.setattr(session_module, "ASYNC_JSON_BYTES", 10)
    monkeypatch.setattr(session_module, "ASYNC_PIXELS", 10)
    parsed.forget()
    session = Session(autosave=False)
    with qtbot.waitSignal(session.image_loaded, timeout=5000) as loaded:
        session.open_path(folder / "im0.json")
    assert loaded.args[0].error is None and loaded.args[0].display.shape == (40, 60, 3)
    # Decoded during the parse, and only once; the parse (which holds the GIL) starts once the image's
    # bytes are in, so the image's GIL-free decode is not held up behind it.
    assert events == ["read", "bytes", "parse", "parsed"]
    session._loader.wait()


def test_a_session_deleted_mid_read_is_no_trouble(qtbot, tmp_path, slow_reads) -> None:
    import shiboken6

    session = Session(autosave=False)
    session.open_folder(_folder(tmp_path))
    assert session.loading()
    pool = session._loader.pool
    shiboken6.delete(session)  # as when the window closes during a read
    assert pool.waitForDone(5000)
    qtbot.wait(50)  # the reads' results arrive nowhere, and nothing breaks


def test_next_counts_from_the_image_on_its_way(qtbot, tmp_path, slow_reads) -> None:
    folder = _folder(tmp_path, 3)
    PIL.Image.fromarray(np.zeros((40, 60, 3), dtype=np.uint8)).save(folder / "im2.png")
    session = Session(autosave=False)
    shown: list[int] = []
    session.image_loaded.connect(lambda current: shown.append(current.index))
    session.open_folder(folder)  # image 0 on its way
    assert session.next_image()  # 1 on its way
    assert session.next_image()  # 2, not 1 again
    qtbot.waitUntil(lambda: not session.loading(), timeout=5000)
    session._loader.wait()
    qtbot.wait(50)
    assert shown == [2]


def test_going_back_to_the_shown_image_drops_the_one_on_its_way(qtbot, tmp_path, monkeypatch) -> None:
    session = Session(autosave=False)
    session.open_folder(_folder(tmp_path))  # small images: shown at once
    assert session.index == 0
    monkeypatch.setattr(session_module, "ASYNC_PIXELS", 10)
    shown: list[int] = []
    session.image_loaded.connect(lambda current: shown.append(current.index))
    assert session.go_to(1) and session.loading()
    assert session.go_to(0) and not session.loading()
    session._loader.wait()
    qtbot.wait(50)
    assert shown == [] and session.index == 0


def test_edits_made_while_a_big_image_is_read_are_saved_before_it_shows(qtbot, tmp_path, slow_reads) -> None:
    from segdesk.core.commands import AddShapes
    from segdesk.core.labelme_io import load_document
    from segdesk.ui.undo import DocumentCommand

    folder = _folder(tmp_path, 2)
    session = Session(autosave=True)
    with qtbot.waitSignal(session.image_loaded, timeout=5000):
        session.open_folder(folder)
    session._loader.wait()
    old = session.document
    with qtbot.waitSignal(session.image_loaded, timeout=5000) as loaded:
        session.go_to(1)
        assert session.loading()
        shape = Shape("cell", [[30, 5], [50, 5], [50, 25]])
        session.undo_stack.push(DocumentCommand(old, AddShapes([1], [shape])))
    assert loaded.args[0].index == 1
    assert len(load_document(folder / "im0.json").shapes) == 2  # saved before image 1 replaced it
    session._loader.wait()


def test_the_gc_pause_nests_across_threads_and_restores_the_collector() -> None:
    import gc
    import threading

    from segdesk.ui.open_loader import gc_paused

    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with gc_paused():
        assert not gc.isenabled()
        thread.start()
        assert inside.wait(5)
    assert not gc.isenabled()  # the other thread still parses
    release.set()
    thread.join(5)
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector that was off stays off
    finally:
        gc.enable()
