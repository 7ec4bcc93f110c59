"""Every menu / toolbar action of the main window, with Labelme's default shortcuts where it has one.

The actions only exist here; the main window connects them. Shortcuts follow labelme 6.3.1's
``config/default_config.yaml`` so that people who come from Labelme keep their habits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar, QWidget

#: Canvas modes, in toolbar order, with their action text and shortcut (Labelme has them for two).
MODES: tuple[tuple[str, str, str], ...] = (
    ("edit", "&Edit shapes", "Ctrl+J"),
    ("polygon", "Create &polygon", "Ctrl+N"),
    ("rectangle", "Create &rectangle", "Ctrl+R"),
    ("circle", "Create &circle", ""),
    ("line", "Create &line", ""),
    ("linestrip", "Create line&strip", ""),
    ("point", "Create p&oint", ""),
    ("brush", "&Brush (paint the label)", "B"),
    ("eraser", "E&raser", "E"),
)
#: What the brush and eraser do besides a stroke (their tool tips).
MODE_TIPS = {
    "brush": "Paint the current label. Shift+click fills a closed hole; Ctrl+click fills the region of "
    "colours like the clicked one ({ / } how alike); [ / ] or Shift+wheel: size",
    "eraser": "Erase the current label (any label when none is chosen). Ctrl+click erases the region of "
    "colours like the clicked one; [ / ] or Shift+wheel: size",
}


@dataclass
class Actions:
    """The window's actions by name; ``by_category`` lists them for the shortcuts window."""

    items: dict[str, QAction] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    mode_group: QActionGroup | None = None

    def __getitem__(self, name: str) -> QAction:
        return self.items[name]

    def mode_action(self, mode: str) -> QAction:
        return self.items[f"mode_{mode}"]

    def by_category(self) -> list[tuple[str, QAction]]:
        return [(self.categories[name], action) for name, action in self.items.items()]


def _add(
    actions: Actions,
    parent: QWidget,
    name: str,
    text: str,
    *,
    category: str,
    shortcuts: tuple[str, ...] = (),
    tip: str = "",
    checkable: bool = False,
) -> QAction:
    action = QAction(text, parent)
    action.setObjectName(f"action_{name}")
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    action.setToolTip(tip or text.replace("&", ""))
    action.setStatusTip(tip or text.replace("&", ""))
    action.setCheckable(checkable)
    # The window owns every action so that shortcuts work whichever dock has the focus.
    parent.addAction(action)
    actions.items[name] = action
    actions.categories[name] = category
    return action


def create_actions(parent: QWidget) -> Actions:
    """Create every action of the main window, owned by ``parent``."""
    a = Actions()
    f, n, e, v, h = "File", "Navigate", "Edit", "View", "Help"
    _add(
        a,
        parent,
        "open_dir",
        "Open &folder...",
        category=f,
        shortcuts=("Ctrl+U",),
        tip="Open a folder of images",
    )
    _add(
        a,
        parent,
        "open",
        "&Open...",
        category=f,
        shortcuts=("Ctrl+O",),
        tip="Open an image or a Labelme JSON file",
    )
    _add(
        a,
        parent,
        "save",
        "&Save",
        category=f,
        shortcuts=("Ctrl+S",),
        tip="Save this image's annotation and mark it reviewed",
    )
    _add(
        a,
        parent,
        "autosave",
        "Save &automatically",
        category=f,
        checkable=True,
        tip="Save each change as it happens",
    )
    _add(
        a,
        parent,
        "export",
        "&Export...",
        category=f,
        shortcuts=("Ctrl+Shift+E",),
        tip="Export masks, a VOC folder, COCO JSON or the model (ONNX)",
    )
    _add(
        a,
        parent,
        "import_masks",
        "&Import masks...",
        category=f,
        tip="Turn a folder of masks (class masks or instance maps) into this folder's annotations",
    )
    _add(a, parent, "quit", "&Quit", category=f, shortcuts=("Ctrl+Q",))

    _add(a, parent, "prev_image", "&Previous image", category=n, shortcuts=("A", "Ctrl+Shift+A"))
    _add(a, parent, "next_image", "&Next image", category=n, shortcuts=("D", "Ctrl+Shift+D"))

    _add(a, parent, "undo", "&Undo", category=e, shortcuts=("Ctrl+Z",))
    _add(a, parent, "redo", "&Redo", category=e, shortcuts=("Ctrl+Shift+Z", "Ctrl+Y"))
    a.mode_group = QActionGroup(parent)
    a.mode_group.setExclusive(True)
    for mode, text, shortcut in MODES:
        action = _add(
            a,
            parent,
            f"mode_{mode}",
            text,
            category=e,
            shortcuts=(shortcut,) if shortcut else (),
            checkable=True,
            tip=MODE_TIPS.get(mode, ""),
        )
        action.setData(mode)
        action.setIconText(mode.capitalize())
        a.mode_group.addAction(action)
    _add(
        a,
        parent,
        "edit_label",
        "Edit &label...",
        category=e,
        shortcuts=("Ctrl+E",),
        tip="Change label, group id, description and flags of the selected shapes",
    )
    _add(
        a,
        parent,
        "to_mask",
        "Convert to &mask",
        category=e,
        tip="Turn the selected polygons into masks (to touch them up with the brush)",
    )
    _add(
        a,
        parent,
        "to_polygons",
        "Convert to pol&ygons",
        category=e,
        tip="Turn the selected masks into polygons, one per separate part (holes are not kept)",
    )
    _add(a, parent, "duplicate", "&Duplicate", category=e, shortcuts=("Ctrl+D",))
    _add(a, parent, "copy", "&Copy", category=e, shortcuts=("Ctrl+C",))
    _add(a, parent, "paste", "&Paste", category=e, shortcuts=("Ctrl+V",))
    _add(a, parent, "delete", "De&lete shapes", category=e, shortcuts=("Delete",))

    _add(a, parent, "toggle_shapes", "&Show shapes", category=v, shortcuts=("T",), checkable=True)
    _add(a, parent, "fit_window", "&Fit window", category=v, shortcuts=("Ctrl+F",))
    _add(a, parent, "zoom_in", "Zoom &in", category=v, shortcuts=("Ctrl++", "Ctrl+="))
    _add(a, parent, "zoom_out", "Zoom o&ut", category=v, shortcuts=("Ctrl+-",))
    _add(a, parent, "zoom_100", "&Original size", category=v, shortcuts=("Ctrl+0",))
    _add(
        a,
        parent,
        "view_adjust",
        "&Brightness / contrast...",
        category=v,
        tip="Change brightness and contrast for viewing (the image file is never changed)",
    )
    _add(a, parent, "fill_opacity", "Fill &opacity...", category=v)
    _add_model_actions(a, parent)
    _add(a, parent, "shortcuts", "&Keyboard shortcuts", category=h, shortcuts=("F1",))
    _add(a, parent, "about", "&About segdesk", category=h)
    for name, short in (
        ("open_dir", "Open folder"),
        ("prev_image", "Prev"),
        ("next_image", "Next"),
        ("fit_window", "Fit"),
        ("delete", "Delete"),
    ):
        a[name].setIconText(short)
    a["autosave"].setChecked(True)
    a["toggle_shapes"].setChecked(True)
    a["mode_edit"].setChecked(True)
    return a


#: The Model menu: (name, text, shortcut, tip). Enter / double-click on a proposal also accept it.
MODEL_ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("predict", "&Predict this image", "Ctrl+P", "Run the model on this image"),
    ("accept_all", "&Accept all proposals", "Shift+Return", "Accept every proposal on this image"),
    ("accept_selected", "Accept &selected proposals", "Ctrl+Return", "Accept the selected proposals"),
    ("reject_all", "&Reject all proposals", "Ctrl+Shift+Backspace", "Remove every proposal"),
    (
        "mark_reviewed",
        "&Mark reviewed",
        "Ctrl+Shift+R",
        "Say this image is right: save it as reviewed (it trains)",
    ),
    (
        "review_next",
        "Mark reviewed and go to the &next image",
        "R",
        "Mark this image reviewed, then show the next",
    ),
    ("unreview", "&Un-review", "Ctrl+Shift+U", "Take the review back: this image no longer trains"),
    ("next_uncertain", "&Next most uncertain", "Ctrl+Shift+N", "Go to the image the model is least sure of"),
    ("retrain", "Re&train on my labels", "Ctrl+Shift+T", "Fine-tune the model on the images marked reviewed"),
)


#: Checkable Model-menu actions (name, text, shortcut, tip); the model panel has a twin check box.
MODEL_TOGGLES: tuple[tuple[str, str, str, str], ...] = (
    (
        "confidence_overlay",
        "Show &confidence overlay",
        "Ctrl+Shift+C",
        "Show where the model is unsure on this image (view only, never saved)",
    ),
)


def _add_model_actions(a: Actions, parent: QWidget) -> None:
    for name, text, shortcut, tip in MODEL_ACTIONS:
        _add(a, parent, name, text, category="Model", shortcuts=(shortcut,), tip=tip)
    for name, text, shortcut, tip in MODEL_TOGGLES:
        _add(a, parent, name, text, category="Model", shortcuts=(shortcut,), tip=tip, checkable=True)
    _add(
        a,
        parent,
        "training_settings",
        "Training &settings ...",
        category="Model",
        tip="Fix parts of a Retrain's plan for this project: time cap, working scale, patches, model size",
    )


def build_menus(window: QMainWindow, actions: Actions) -> QMenu:
    """Fill the menu bar and the tool bar; returns the (empty) "Open recent" menu to fill on show."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([actions["open_dir"], actions["open"]])
    recent = file_menu.addMenu("Open &recent")
    recent.setObjectName("menu_recent")
    file_menu.addSeparator()
    file_menu.addActions([actions["save"], actions["autosave"]])
    file_menu.addSeparator()
    file_menu.addActions([actions["import_masks"], actions["export"]])
    file_menu.addSeparator()
    file_menu.addAction(actions["quit"])

    edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([actions["undo"], actions["redo"]])
    edit_menu.addSeparator()
    edit_menu.addActions([actions.mode_action(mode) for mode, _t, _s in MODES])
    edit_menu.addSeparator()
    edit_menu.addActions([actions[n] for n in ("edit_label", "duplicate", "copy", "paste", "delete")])
    edit_menu.addActions([actions["to_mask"], actions["to_polygons"]])

    view_menu = bar.addMenu("&View")
    view_menu.addActions(
        [actions[n] for n in ("zoom_in", "zoom_out", "fit_window", "zoom_100", "toggle_shapes")]
    )
    view_menu.addSeparator()
    view_menu.addActions([actions["view_adjust"], actions["fill_opacity"]])
    view_menu.addSeparator()
    docks = view_menu.addMenu("&Docks")
    docks.setObjectName("menu_docks")

    model_menu = bar.addMenu("&Model")
    model_menu.addActions([actions[name] for name, *_rest in MODEL_ACTIONS])
    model_menu.addAction(actions["training_settings"])
    model_menu.addSeparator()
    model_menu.addActions([actions[name] for name, *_rest in MODEL_TOGGLES])

    go_menu = bar.addMenu("&Go")
    go_menu.addActions([actions["prev_image"], actions["next_image"]])

    help_menu = bar.addMenu("&Help")
    help_menu.addActions([actions["shortcuts"], actions["about"]])

    tools = QToolBar("Tools", window)
    tools.setObjectName("toolbar_tools")
    tools.addActions([actions["open_dir"], actions["save"], actions["prev_image"], actions["next_image"]])
    tools.addSeparator()
    tools.addActions([actions.mode_action(mode) for mode, _t, _s in MODES])
    tools.addSeparator()
    tools.addActions([actions["undo"], actions["redo"], actions["delete"], actions["fit_window"]])
    actions["mark_reviewed"].setIconText("Reviewed")  # short on the tool bar
    tools.addAction(actions["mark_reviewed"])
    window.addToolBar(tools)
    return recent
