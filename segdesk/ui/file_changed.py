"""When another program saved the open annotation: ask before segdesk's save replaces it.

``Session.save`` goes through :func:`save_checked`: the file must still be what was loaded (or last
saved; ``core.disk_stamps``). If Labelme or a script wrote it in between, the person is asked
through ``Session.ask_changed`` (the window sets :func:`ask_changed`; tests replace it):

* ``reload``: drop segdesk's edits and show the file as the other program left it;
* ``overwrite``: write segdesk's version anyway;
* ``cancel``: write nothing and keep the edits (the next save asks again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from segdesk.core.disk_stamps import FileChangedError, stamp_for

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from segdesk.core.document import Document

ChangedAnswer = Literal["reload", "overwrite", "cancel"]
SaveOutcome = Literal["saved", "reloaded", "cancelled"]


def save_checked(session: Any, entry: Any, document: Document) -> SaveOutcome:
    """Save ``document`` for ``entry`` unless another program changed the file; then ask."""
    try:
        session.project.save(entry, document, if_unchanged=stamp_for(document))
        return "saved"
    except FileChangedError:
        answer = session.ask_changed(entry.json_path.name)
    if answer == "overwrite":
        session.project.save(entry, document)
        return "saved"
    if answer == "reload":
        session.undo_stack.setClean()
        session._load(session.current.index)
        return "reloaded"
    session.failed.emit(
        f"{entry.json_path}: another program changed this file since it was opened; "
        "segdesk did not overwrite it (your edits are kept)"
    )
    return "cancelled"


def ask_changed(parent: QWidget, name: str) -> ChangedAnswer:
    """Reload / Overwrite / Cancel, as a message box."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("File changed on disk")
    box.setText(f"{name} was changed by another program since segdesk opened it.")
    box.setInformativeText(
        "Reload it (your edits here are dropped), overwrite it with your version, or cancel and decide later."
    )
    reload_button = box.addButton("Reload", QMessageBox.ButtonRole.DestructiveRole)
    overwrite_button = box.addButton("Overwrite", QMessageBox.ButtonRole.AcceptRole)
    cancel_button = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel_button)
    box.exec()
    clicked = box.clickedButton()
    if clicked is reload_button:
        return "reload"
    if clicked is overwrite_button:
        return "overwrite"
    return "cancel"


__all__ = ["ChangedAnswer", "ask_changed", "save_checked"]
