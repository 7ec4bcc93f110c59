"""Guard against PySide6 6.12 reference-count bugs that crash the app after a while. Import it first.

PySide6 6.12.0 drops references it does not own: ``Signal.emit()`` called from Python returns a
bool without taking a reference to it, and some calls do the same with ``None``. On Python 3.11
these are ordinary objects, so after a few thousand such calls the count reaches zero and CPython
aborts ("bool_dealloc: deallocating True or False"); a canvas that emits a signal per mouse move
dies within a minute. 6.11.x is not affected, nor is Python >= 3.12 (the singletons are immortal).

Importing this module gives ``None``, ``True`` and ``False`` a reserve of references (they are
never freed anyway) when the running PySide is 6.12 or a probe shows the emit bug. The real fix
is in PySide; pinning ``PySide6-Essentials != 6.12.0`` avoids it too.
"""

from __future__ import annotations

import ctypes
import sys

#: References added to each singleton; lost references would take centuries to use it up.
_RESERVE = 1 << 40
_applied = False


def emit_steals_bool_reference() -> bool:
    """Whether emitting a signal from Python drops a reference to a bool (the 6.12.0 bug)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        fired = Signal()

    probe = _Probe()
    before_true, before_false = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(8):
        probe.fired.emit()
    return sys.getrefcount(True) < before_true - 4 or sys.getrefcount(False) < before_false - 4


def _affected_version() -> bool:
    import PySide6

    return tuple(PySide6.__version_info__[:2]) == (6, 12)


def apply() -> bool:
    """Protect None, True and False when the running PySide needs it; True when protected."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    if not (_affected_version() or emit_steals_bool_reference()):
        return False
    for value in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        ctypes.c_ssize_t.from_address(id(value)).value += _RESERVE
    _applied = True
    return True


apply()
