"""The main window's commands: every action with its text, shortcut, icon and tip; the menus and
lists of actions built from them; the keyboard-shortcuts window read back from the menus.

Each command is one ``QAction``, made once here and shared: the menu bar, the toolbar, the
gallery's context menu, the details panel's and the Queue tab's buttons all show the same
object, so their text, shortcut and enabled state always agree. The shortcuts window is
built from the menu bar, so it lists exactly what the menus offer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDialog, QMenu, QMenuBar, QTextBrowser, QToolBar, QVBoxLayout, QWidget

from gui import icons, theme

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow

Keys = Sequence[str | None]
"""Action keys in display order; ``None`` is a separator."""

TOOLBAR: Keys = ("generate", "queue_add", None, "save", "copy_image", "favorite", "remix", "delete", None, "viewer",
                 "refresh", None, "caption_files", None, "settings")
GALLERY_MENU: Keys = ("viewer", "compare", "select_generation", None, "remix", "favorite", "rating", "add_tags",
                      "caption_selected", None,
                      "copy_image", "copy_prompt", "copy_seed", None, "save", "export", "delete")


def add_actions(target: QMenu | QToolBar, actions: dict[str, QAction], keys: Keys) -> None:
    """Add ``actions[key]`` for each key to a menu or toolbar, a separator for each ``None``."""
    for key in keys:
        if key is None:
            target.addSeparator()
        else:
            target.addAction(actions[key])


def _native(action: QAction) -> str:
    return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)


def key_sequences(keys: Sequence[str | QKeySequence | QKeySequence.StandardKey]) -> list[QKeySequence]:
    """Every sequence of ``keys``, a standard key expanded to all its bindings on this platform, each
    once. Two equal sequences on one action (``StandardKey.Refresh`` *is* F5 on Linux) make Qt call
    the key "ambiguous" and ignore it: F1 and F5 did nothing."""
    out: list[QKeySequence] = []
    seen: set[str] = set()
    for k in keys:
        if isinstance(k, QKeySequence.StandardKey):
            seqs = QKeySequence.keyBindings(k)
        else:
            seqs = [k if isinstance(k, QKeySequence) else QKeySequence(k)]
        for seq in seqs:
            text = seq.toString()
            if text and text not in seen:
                seen.add(text)
                out.append(seq)
    return out


def build_actions(w: MainWindow) -> dict[str, QAction]:
    """Every command of the window, by key; each is also added to ``w`` so its shortcut works everywhere."""
    actions: dict[str, QAction] = {}
    K = QKeySequence.StandardKey
    explicit: dict[str, str] = {}  # key text -> the action that names it itself (not via a standard key)

    def A(key: str, text: str, icon: str | None = None, shortcuts: list | None = None,
          slot: Callable[[], None] | None = None, tip: str = "", checkable: bool = False) -> QAction:
        a = QAction(text, w)
        if icon:
            icons.bind(a, icon)
        if shortcuts:
            a.setShortcuts(key_sequences(shortcuts))
            for k in shortcuts:
                if not isinstance(k, QKeySequence.StandardKey):
                    explicit[QKeySequence(k).toString()] = key
        a.setCheckable(checkable)
        shortcut = _native(a)
        tip = tip or text.replace("&", "").rstrip("…")
        a.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
        a.setStatusTip(tip)
        if slot is not None:
            a.triggered.connect(lambda _checked=False: slot())
        w.addAction(a)
        actions[key] = a
        return a

    A("caption_files", "&Caption images…", "caption", ["Ctrl+O"], w._caption_browse,
      "Choose image files to caption")
    A("caption_folder", "Caption a &folder…", "folder", ["Ctrl+Alt+O"], lambda: (
        w.tabs.setCurrentIndex(1), w.captions.browse_folder()), "Caption every image in a folder, one after another")
    A("caption_selected", "Ca&ption", "caption", ["Ctrl+Alt+K"], lambda: (
        w.tabs.setCurrentIndex(1), w.captions.add_library_images(w.selected())),
      "Caption the selected images; Export writes each one's caption beside it as .txt")
    A("paste_caption", "&Paste image to caption", "paste", ["Ctrl+Shift+V"], w._caption_paste)
    A("save", "&Save image as…", "save", [K.Save], w.save_selected, "Save the selected images as PNG")
    A("settings", "Se&ttings…", "settings", ["Ctrl+,"], w.open_settings)
    A("quit", "&Quit", None, ["Ctrl+Q"], w.close)
    A("copy_image", "Copy &image", "copy", [K.Copy], w.copy_image, "Copy the image to the clipboard")
    A("copy_prompt", "Copy &prompt", "copy-text", ["Ctrl+Shift+C"], w.copy_prompt)
    A("copy_seed", "Copy s&eed", "seed", ["Ctrl+Alt+C"], w.copy_seed)
    A("favorite", "&Favourite", "star", ["Ctrl+D"], w.toggle_favorite, "Add to or remove from favourites")
    A("remix", "&Remix", "remix", ["Ctrl+R"], w.remix,
      "Put this image's prompt, seed, model and aspect ratio into the prompt editor")
    A("delete", "&Delete", "delete", [K.Delete], w.delete_selected,
      "Move the selected images to the Trash (Ctrl+Z undoes)")
    A("delete_forever", "Delete &forever…", None, ["Shift+Del"], w.delete_forever_selected,
      "Delete the selected images for good, without the Trash")
    A("restore", "R&estore from Trash", "restore", ["Ctrl+Shift+R"], w.restore_selected,
      "Put the selected images back in the library")
    A("show_trash", "&Trash", "delete", ["Ctrl+Shift+T"], lambda: w.show_trash(not w.model.trash),
      "Show the images in the Trash, to restore or delete for good", checkable=True)
    A("empty_trash", "Empty &Trash…", None, None, w.empty_trash, "Delete everything in the Trash for good")
    # Undo and redo come from the window's undo stack, which names what they undo (gui/undo.py).
    for key, act, icon, keys in (
            ("undo", w.history.stack.createUndoAction(w, "&Undo"), "undo", [K.Undo]),
            ("redo", w.history.stack.createRedoAction(w, "&Redo"), "redo", ["Ctrl+Shift+Z", "Ctrl+Y"])):
        icons.bind(act, icon)
        act.setShortcuts(key_sequences(keys))
        act.setStatusTip("Undo the last delete, favourite change or replaced prompt" if key == "undo"
                         else "Do again what was undone")
        w.addAction(act)
        actions[key] = act
    A("select_all", "Select &all", None, [K.SelectAll], lambda: w.gallery.view.selectAll())
    A("generate", "&Generate", "generate", ["Ctrl+Return", "Ctrl+Enter"], w.editor_generate,
      "Generate images from the prompt")
    A("cancel", "&Cancel generation", "cancel", ["Esc"], w.cancel_generation)
    A("queue_add", "Add to &queue", "queue-add", ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"],
      w.editor_add_to_queue, "Add the prompt to the queue with the editor's options")
    A("queue_file", "Add prompts from &file…", "file-text", ["Ctrl+Shift+P"], w.add_prompt_file,
      "Add a text file's prompts to the queue, one per line")
    A("queue_paste", "Add &pasted prompts…", "paste", ["Ctrl+Alt+V"], w.paste_prompts,
      "Paste a list of prompts, one per line, into the queue")
    A("queue_toggle", "&Start queue", "play", ["F6"], lambda: w.queue_panel.toggle_run(),
      "Start, pause or resume the queue")
    A("queue_cancel", "&Cancel queue item", "cancel", ["Ctrl+Shift+X"],
      lambda: w.queue_panel.cancel_selected(), "Cancel the selected queue items, or the one running now")
    A("queue_retry", "&Retry failed", "refresh", ["Ctrl+Alt+R"], lambda: w.queue_panel.retry(),
      "Run the failed queue items again")
    A("queue_remove", "Re&move from queue", "delete", ["Ctrl+Shift+Del"],
      lambda: w.queue_panel.remove_selected(), "Remove the selected queue items (or Delete in the queue)")
    A("queue_clear", "C&lear finished", "clear-finished", ["Ctrl+Shift+Backspace"],
      lambda: w.queue_panel.clear_finished(), "Remove done, failed and cancelled items from the queue")
    A("show_queue", "&Queue", "queue", ["Ctrl+3"], w.show_queue)
    for key, short in (("queue_file", "From file…"), ("queue_paste", "Paste list…"), ("queue_cancel", "Cancel"),
                       ("queue_retry", "Retry failed"), ("queue_remove", "Remove"),
                       ("queue_clear", "Clear finished")):
        actions[key].setIconText(short)  # the Queue tab's buttons: the tab says "queue" already
    A("export", "&Export…", "export", ["Ctrl+Shift+E"], w.export_images,
      "Export the selected images, or the whole search result, with their prompts inside")
    A("import_web", "&Import ImageFX web library…", "cloud-download", ["Ctrl+Shift+I"], w.import_web_library,
      "Bring the images you made on labs.google into the gallery")
    A("recent", "&Recent prompts…", "history", ["Ctrl+E"], w._show_recent)
    A("lock_seed", "&Lock seed", "lock", ["Ctrl+L"], lambda: w.editor.seed_lock.toggle(),
      checkable=False)
    A("focus_prompt", "Edit &prompt", None, ["Ctrl+K"], w.focus_prompt, "Move the cursor to the prompt")
    A("show_gallery", "&Gallery", "gallery", ["Ctrl+1"], lambda: w.tabs.setCurrentIndex(0))
    A("show_caption", "Ca&ptions", "caption", ["Ctrl+2"], lambda: w.tabs.setCurrentIndex(1))
    A("search", "&Search prompts", "search", [K.Find], w.focus_search)
    A("favorites_only", "&Favourites only", "star", ["Ctrl+Shift+F"],
      lambda: w.gallery.favorites.toggle())
    A("viewer", "Open &full size", "expand", ["Ctrl+Shift+O"], w.open_viewer,
      "Open the image full size, with zoom (or double-click it)")
    A("refresh", "&Refresh", "refresh", [K.Refresh, "F5"], w.refresh)  # F5 once (key_sequences)
    A("sign_in", "&Sign in…", "sign-in", ["Ctrl+Shift+L"], w.open_sign_in,
      "Sign in, or add another Google account")
    A("sign_out", "Sign &out", "sign-out", None, w.sign_out_current)
    A("demo", "Offline &demo", "offline", ["Ctrl+Shift+D"], w._toggle_demo,
      "Use the built-in stand-in server instead of Google (images are generated locally)",
      checkable=True)
    A("retry_db", "Reconnect to the &database", "database", None, w.ctx.reconnect)
    A("cleanup_sessions", "Delete &expired sessions", None, None, w.maintenance.delete_expired_sessions,
      "Delete sign-in sessions whose access token has expired")
    A("archive_old", "&Archive old images…", None, None, w.maintenance.archive_old_images,
      "Move images older than N days into the archive table")
    A("backup_db", "&Back up the database…", None, None, w.maintenance.backup_database,
      "Write a backup of the database (pg_dump) to a file")
    A("shortcuts", "&Keyboard shortcuts", None, [K.HelpContents, "F1"], w.show_shortcuts)
    A("about", "&About ImageFX Studio", None, None, w.show_about)
    actions["demo"].setChecked(w.is_demo)
    actions["cancel"].setEnabled(False)  # Esc does nothing until a generation runs
    _drop_clashes(actions, explicit)
    return actions


def _drop_clashes(actions: dict[str, QAction], explicit: dict[str, str]) -> None:
    """A standard key's extra bindings give way to a key another command names itself: on X11
    ``StandardKey.Delete`` is also Ctrl+D, which is Favourite here, and two commands on one key
    make Qt ignore it (tests/gui/test_shortcuts.py, tests/gui/test_layout_xvfb.py)."""
    for key, a in actions.items():
        seqs = a.shortcuts()
        kept = [q for q in seqs if explicit.get(q.toString(), key) == key]
        if len(kept) != len(seqs):
            a.setShortcuts(kept)


def build_menus(w: MainWindow) -> tuple[dict[str, QAction], QMenu]:
    """The menu bar; returns the theme actions (by theme key) and the Account → Switch account menu,
    which the window updates as the theme and the accounts change."""
    mb = w.menuBar()
    a = w.actions_

    def menu(title: str, keys: Keys) -> QMenu:
        m = mb.addMenu(title)
        add_actions(m, a, keys)
        return m

    menu("&File", ["caption_files", "caption_folder", "caption_selected", "paste_caption", None, "save", "export",
                   None, "import_web", None, "settings", None, "quit"])
    menu("&Edit", ["undo", "redo", None, "copy_image", "copy_prompt", "copy_seed", None, "favorite", "remix",
                   "delete", "delete_forever", "restore", "empty_trash", None, "remove_from_board", None, "select_all",
                   "select_generation"])
    menu("&Generate", ["generate", "cancel", "queue_add", None, "focus_prompt", "recent", "lock_seed"])
    menu("&Queue", ["queue_add", "queue_file", "queue_paste", None, "queue_toggle", "queue_cancel", "queue_retry",
                    "queue_remove", "queue_clear", None, "show_queue"])
    view = menu("&View", ["show_gallery", "show_caption", "show_queue", None, "search", "favorites_only",
                          "show_trash", None, "all_images", "new_board", "save_search", None, "viewer", "compare", None,
                          "refresh"])
    theme_menu = view.addMenu("&Theme")
    group = QActionGroup(w)
    theme_actions: dict[str, QAction] = {}
    for key in theme.THEMES:
        act = theme_menu.addAction(theme.THEME_LABELS[key])
        act.setCheckable(True)
        act.setChecked(key == w.settings.theme)
        act.triggered.connect(lambda _c=False, k=key: w.set_theme(k))
        group.addAction(act)
        theme_actions[key] = act
    account_menu = menu("&Account", ["sign_in", "sign_out"])
    switch_menu = account_menu.addMenu("S&witch account")
    menu("&Tools", ["demo", "retry_db", None, "cleanup_sessions", "archive_old", "backup_db"])
    menu("&Help", ["shortcuts", None, "about"])
    return theme_actions, switch_menu


# Keys the gallery grid itself understands (Qt's list view, and gui/widgets/gallery.py): no action
# or menu entry of their own, so the shortcuts window lists them from here.
GALLERY_KEYS: tuple[tuple[str, str], ...] = (
    ("Move between images", "← → ↑ ↓"),
    ("The newest / the oldest image", "Home / End"),
    ("A screen up / down", "Page Up / Page Down"),
    ("Add to the selection", "Shift+arrows, Ctrl+click, Shift+click"),
    ("Open full size", "Enter (or double-click)"),
    ("See the month while scrolling", "drag the scrollbar"),
    ("Larger / smaller thumbnails", "Ctrl++ / Ctrl+− (or Ctrl+wheel)"),
    ("The usual thumbnail size", "Ctrl+0"),
    ("Give the selection 1–5 stars / none", "1 – 5 / 0"),  # Edit → Rating (gui/controllers/library.py)
)


# Keys of special keyboards that standard shortcuts also bind on Linux (a "Save" or "Help" key,
# Sun's F14 for Undo): they work, but listing them beside Ctrl+S would only puzzle.
_UNLISTED = {Qt.Key.Key_Save, Qt.Key.Key_Refresh, Qt.Key.Key_Help, Qt.Key.Key_Close, Qt.Key.Key_ZoomIn,
             Qt.Key.Key_ZoomOut, Qt.Key.Key_Copy, Qt.Key.Key_Cut, Qt.Key.Key_Paste, Qt.Key.Key_Open,
             Qt.Key.Key_Find, Qt.Key.Key_Undo, Qt.Key.Key_Redo, Qt.Key.Key_Back, Qt.Key.Key_Forward,
             *(Qt.Key(Qt.Key.Key_F13.value + i) for i in range(23))}


def _keys_text(seqs: list[QKeySequence]) -> str:
    shown = [s for s in seqs if s.count() != 1 or s[0].key() not in _UNLISTED] or seqs[:1]
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in shown)


def shortcut_sections(menu_bar: QMenuBar) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every shortcut the window offers, by menu, then the gallery's and the viewer's own keys."""
    from gui.widgets.compare_view import COMPARE_KEYS  # these windows import this module
    from gui.widgets.image_viewer import VIEWER_KEYS

    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for menu_action in menu_bar.actions():
        m = menu_action.menu()
        if m is None:
            continue
        items = [(a.text().replace("&", ""), _keys_text(a.shortcuts()))
                 for a in m.actions() if not a.isSeparator() and a.shortcut().toString()]
        if items:
            sections.append((menu_action.text().replace("&", ""), items))
    sections.append(("Gallery", list(GALLERY_KEYS)))
    viewer = [(text, _keys_text(key_sequences(keys))) for _k, text, keys, _i in VIEWER_KEYS]
    sections.append(("Viewer (full size)", viewer))
    compare = [(text, _keys_text(key_sequences(keys))) for _k, text, keys, _i in COMPARE_KEYS]
    sections.append(("Compare", compare + [("Move the slider", "← / →, or drag it")]))
    return sections


def shortcuts_dialog(menu_bar: QMenuBar, parent: QWidget) -> QDialog:
    """A non-modal window listing, menu by menu, every entry that has a shortcut, then the keys of the
    gallery and the viewer."""
    from html import escape

    dlg = QDialog(parent)
    dlg.setWindowTitle("Keyboard shortcuts")
    dlg.setModal(False)
    dlg.resize(520, 620)
    lay = QVBoxLayout(dlg)
    text = QTextBrowser()
    text.setObjectName("shortcutList")
    rows = []
    for title, items in shortcut_sections(menu_bar):
        rows.append(f"<h3>{escape(title)}</h3><table width='100%'>")
        rows += [f"<tr><td>{escape(t)}</td><td align='right'><b>{escape(k)}</b></td></tr>" for t, k in items]
        rows.append("</table>")
    text.setHtml("".join(rows))
    lay.addWidget(text)
    return dlg
