"""Which label texts segdesk can write to line-based files (labels.txt, class_names.txt).

A label that is empty (or only spaces), holds a line break of any kind Python's ``splitlines``
knows (``\\n``, ``\\r``, ``\\x85``, ``\\u2028`` ...) or a NUL or other control character would shift
every later class index in ``class_names.txt`` or be lost in ``labels.txt``. A label ending in
``::boundary`` is reserved for a model's learned object boundaries (``core/instances.py``), which are
never shown or written as labels. Every export refuses such labels, ``segdesk check`` flags the shapes
that carry one and the label dialog does not accept one.
"""

from __future__ import annotations

import unicodedata

from segdesk.core.instances import BOUNDARY_SUFFIX


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a class name, or None when it can."""
    if not label.strip():
        return "the label is empty"
    lines = label.splitlines()
    if len(lines) != 1 or lines[0] != label:
        return "the label holds a line break"
    if "\x00" in label:
        return "the label holds a NUL character"
    for char in label:
        if char != "\t" and unicodedata.category(char) == "Cc":
            return f"the label holds the control character U+{ord(char):04X}"
    if label.endswith(BOUNDARY_SUFFIX):
        return f"labels ending in {BOUNDARY_SUFFIX!r} are reserved for the model's object boundaries"
    return None


__all__ = ["label_problem"]
