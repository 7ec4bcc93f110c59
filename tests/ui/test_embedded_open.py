"""Issue 13 interop in the app: a folder of embedded-only files, and such a JSON opened directly."""

from __future__ import annotations

from pathlib import Path

from segdesk.ui.session import Session
from tests.core.test_embedded_entries import _embedded


def test_folder_and_json_of_embedded_images_open(qapp, tmp_path: Path) -> None:
    _embedded(tmp_path, "a")
    path = _embedded(tmp_path, "b", value=200)
    failures: list[str] = []
    session = Session(autosave=False)
    session.failed.connect(failures.append)
    assert session.open_folder(tmp_path)
    assert session.image_names() == ["a.jpg", "b.jpg"] and session.current.error is None
    assert session.open_path(path)
    assert session.index == 1 and session.current.raw is not None
    assert int(session.current.raw.max()) == 200 and failures == []
    assert session.save()  # saved beside itself, the embedded image kept
    assert '"imageData": "' in path.read_text()
