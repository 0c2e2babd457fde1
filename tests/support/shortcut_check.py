"""Two commands on one key in one window: Qt then calls the key "ambiguous" and does nothing
(issue 11 §5). The key bindings differ between platforms (on X11 ``StandardKey.Delete`` is also
Ctrl+D), so the check runs offscreen and on a real X server."""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget


def commands(window: QWidget) -> list[tuple[str, QKeySequence, object]]:
    """(name, key, owner) of every shortcut that acts in ``window``."""
    out: list[tuple[str, QKeySequence, object]] = []
    for a in window.findChildren(QAction):
        parent = a.parent()
        if isinstance(parent, QWidget) and parent.window() is not window:
            continue
        for seq in a.shortcuts():
            out.append((a.text().replace("&", ""), seq, a))
    for s in window.findChildren(QShortcut):
        out.append((s.objectName() or "shortcut", s.key(), s))
    return out


def shared_keys(window: QWidget) -> dict[str, list[str]]:
    """Keys that more than one command of ``window`` answers to, with those commands' names."""
    names: dict[str, list[str]] = defaultdict(list)
    for name, seq, _owner in commands(window):
        names[seq.toString()].append(name)
    return {k: v for k, v in names.items() if len(v) > 1}
