"""Adding a label to a project's labels.txt without disturbing what the file already says."""

from __future__ import annotations

from pathlib import Path

from segdesk.core.atomic import atomic_write_text
from segdesk.core.errors import ProjectError


def append_label(labels_file: str | Path, label: str) -> bool:
    """Add ``label`` as the last line of ``labels_file`` (atomically); False when it is listed already.

    The file's other lines, their order and comments stay exactly as they are: class values come
    from line positions (labelme2voc), so a new label only ever goes at the end.

    Raises:
        ProjectError: naming the file, for a label that cannot be a line (empty, surrounding
            spaces, a line break) or a file that cannot be read or written.
    """
    path = Path(labels_file)
    if not label.strip() or label != label.strip() or "\n" in label or "\r" in label:
        raise ProjectError(path, None, f"invalid label {label!r}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(path, None, f"cannot read the file: {exc}") from exc
    if label in (line.strip() for line in text.splitlines()):
        return False
    if text and not text.endswith(("\n", "\r")):
        text += "\n"
    atomic_write_text(path, text + label + "\n", error_cls=ProjectError)
    return True


__all__ = ["append_label"]
