"""The PySide6 app. The PySide guard is imported first, before any Qt call (see pyside_fix)."""

import segdesk.ui.pyside_fix  # noqa: F401
