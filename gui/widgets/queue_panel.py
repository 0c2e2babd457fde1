"""The Queue tab: prompts waiting to be generated, the run's progress, and its controls.

What it shows comes from two places: the stored queue (reloaded after every edit) and the
run's events (each item's new state as it happens, waits and pauses, the time left). The
buttons are the window's actions (menu entries with shortcuts), so the menu, the keyboard
and the panel always agree on what can be done now.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QMimeData, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.service.queue import ITEM_STARTED, PAUSED, RESUMED, RUN_FINISHED, SIGN_IN, WAITING, QueueEvent, RunSummary
from core.store import QueueItem
from gui import icons
from gui.actions import add_actions
from gui.models.queue_model import ItemRole, QueueModel
from gui.queue_runner import PAUSED_BY_USER, RUNNING, STOPPING, QueueRunner
from gui.widgets.countdown import clock
from gui.widgets.empty_state import EmptyLook, EmptyStateListView
from gui.widgets.flow_layout import FlowLayout
from gui.widgets.queue_delegate import ROW_HEIGHT, QueueDelegate

PROMPT_FILE_SUFFIXES = (".txt",)


def prompt_files(mime: QMimeData) -> list[str]:
    """Local text files in a drag (one prompt per line)."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls()
            if u.isLocalFile() and u.toLocalFile().lower().endswith(PROMPT_FILE_SUFFIXES)]


def time_left(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 45:
        return "under a minute left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


class QueueView(EmptyStateListView):
    """The list: drag rows to reorder; drop a .txt file to add its prompts; Delete removes."""

    empty_look = EmptyLook("queue", 48, 1.2, 160, 440)

    files_dropped = Signal(list)
    delete_pressed = Signal()

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queueList")
        self.setAccessibleName("Queue")
        self.setAccessibleDescription("Prompts in run order. Drag to reorder; Delete removes the selected ones.")
        self.setModel(model)
        self.setItemDelegate(QueueDelegate(self))
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setMouseTracking(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(ROW_HEIGHT // 2)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.empty_title = "The queue is empty"
        self.empty_text = ("Write a prompt and press Add to queue (Ctrl+Shift+Enter), paste a list, or drop a "
                           ".txt file here: one prompt per line, # for comments.")

    # An external .txt file adds prompts; everything else is the internal reorder.
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if prompt_files(event.mimeData()):
            event.acceptProposedAction()
            return
        super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if prompt_files(event.mimeData()):
            event.acceptProposedAction()
            return
        super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        files = prompt_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.files_dropped.emit(files)
            return
        super().dropEvent(event)

    def event(self, e: QEvent) -> bool:
        # Delete here removes queue items, not the gallery's selected images (a window shortcut).
        if e.type() == QEvent.Type.ShortcutOverride and isinstance(e, QKeyEvent) and \
                e.key() == Qt.Key.Key_Delete and e.modifiers() == Qt.KeyboardModifier.NoModifier:
            e.accept()
            return True
        return super().event(e)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Delete and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.delete_pressed.emit()
            return
        super().keyPressEvent(event)

    def selected_items(self) -> list[QueueItem]:
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        model = self.model()
        return [it for it in (model.data(model.index(r), ItemRole) for r in rows) if it is not None]


class QueuePanel(QWidget):
    """Header with progress, a status line for waits and pauses, the controls, the list."""

    use_as_prompt = Signal(str)
    files_dropped = Signal(list)

    def __init__(self, runner: QueueRunner, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.actions_ = actions
        self.model = QueueModel(self)
        self._wait_until = 0.0
        self._wait_text = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        head = QWidget()
        head.setObjectName("queueHeader")
        hl = QVBoxLayout(head)
        hl.setContentsMargins(16, 12, 16, 10)
        hl.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(10)
        title = QLabel("Queue")
        title.setObjectName("heading")
        top.addWidget(title)
        self.summary = QLabel()
        self.summary.setObjectName("subtle")
        self.summary.setAccessibleName("Queue progress")
        top.addWidget(self.summary, 1)
        # The main button: the toggle action's text and state, with a white icon on the accent colour.
        self.toggle_button = QPushButton()
        self.toggle_button.setObjectName("primary")
        self.toggle_button.setMinimumWidth(150)
        self.toggle_button.clicked.connect(lambda: self.actions_["queue_toggle"].trigger())
        self.actions_["queue_toggle"].changed.connect(self._sync_toggle_button)
        top.addWidget(self.toggle_button)
        hl.addLayout(top)
        self.progress = QProgressBar()
        self.progress.setObjectName("queueProgress")
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress.setAccessibleName("Queue progress bar")
        hl.addWidget(self.progress)
        self.status = QLabel()
        self.status.setObjectName("queueStatus")
        self.status.setProperty("kind", "info")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Queue status")
        self.status.hide()
        hl.addWidget(self.status)
        bar = FlowLayout(spacing=4)  # wraps in a narrow window instead of clipping the buttons
        for key in ("queue_file", "queue_paste", "queue_cancel", "queue_retry", "queue_remove", "queue_clear"):
            bar.addWidget(self._button(key))
        hl.addLayout(bar)
        layout.addWidget(head)

        self.view = QueueView(self.model)
        layout.addWidget(self.view, 1)

        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._update_wait)

        runner.items_loaded.connect(self.model.set_items)
        runner.event.connect(self._on_event)
        runner.state_changed.connect(lambda _s: self.update_actions())
        runner.finished.connect(self._on_finished)
        self.model.moved.connect(runner.move)
        for sig in (self.model.modelReset, self.model.dataChanged, self.model.rowsMoved):
            sig.connect(lambda *_: self.update_actions())
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.view.files_dropped.connect(self.files_dropped.emit)
        self.view.delete_pressed.connect(self.remove_selected)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.update_actions()

    def _button(self, key: str) -> QToolButton:
        b = QToolButton()
        b.setDefaultAction(self.actions_[key])
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        return b

    def _sync_toggle_button(self) -> None:
        a = self.actions_["queue_toggle"]
        b = self.toggle_button
        text = a.text().replace("&", "")
        b.setText(text)
        b.setEnabled(a.isEnabled())
        b.setToolTip(a.toolTip())
        b.setAccessibleName(text)
        icons.bind(b, "pause" if self.runner.state == RUNNING else "play", "#ffffff")

    # --- what the buttons do -----------------------------------------------------------------

    def toggle_run(self) -> None:
        self.runner.toggle()

    def cancel_selected(self) -> None:
        """Selected pending (and running) items; with none selected, the item that runs now."""
        ids = [it.id for it in self.view.selected_items() if it.state in ("pending", "running")]
        self.runner.cancel(ids or None)

    def retry(self) -> None:
        """Selected failed or cancelled items; with none of those selected, every failed item."""
        ids = [it.id for it in self.view.selected_items() if it.state in ("failed", "cancelled")]
        self.runner.retry(ids or None)

    def remove_selected(self) -> None:
        ids = [it.id for it in self.view.selected_items() if it.state != "running"]
        if ids:
            self.runner.remove(ids)

    def clear_finished(self) -> None:
        self.runner.clear_finished()

    # --- state ---------------------------------------------------------------------------------

    def update_actions(self) -> None:
        a = self.actions_
        counts = self.model.counts()
        selected = self.view.selected_items()
        r = self.runner
        connected = r.ctx.service is not None
        toggle = a["queue_toggle"]
        if r.state == RUNNING:
            toggle.setText("&Pause queue")
            icons.bind(toggle, "pause")
            toggle.setEnabled(True)
        elif r.state == PAUSED_BY_USER:
            toggle.setText("&Resume queue")
            icons.bind(toggle, "play")
            toggle.setEnabled(True)
        else:
            toggle.setText("&Start queue")
            icons.bind(toggle, "play")
            # running rows without a run here: a crash left them; starting recovers them
            toggle.setEnabled(connected and r.state != STOPPING and (counts.pending + counts.running) > 0)
        tip = toggle.text().replace("&", "")
        toggle.setToolTip(f"{tip} (F6)")
        toggle.setStatusTip(tip)
        self._sync_toggle_button()
        a["queue_cancel"].setEnabled(any(it.state in ("pending", "running") for it in selected)
                                     or (r.active and r.current_item is not None))
        a["queue_retry"].setEnabled(counts.failed > 0 or any(it.state in ("failed", "cancelled") for it in selected))
        a["queue_remove"].setEnabled(any(it.state != "running" for it in selected))
        a["queue_clear"].setEnabled(counts.finished > 0)
        self._update_summary()

    def _update_summary(self) -> None:
        c = self.model.counts()
        if c.total == 0:
            self.summary.setText("Empty")
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            return
        text = f"{c.finished} of {c.total}"
        if c.failed:
            text += f" · {c.failed} failed"
        e = self.runner.last_event
        if self.runner.state == RUNNING and e is not None and e.progress.eta_seconds is not None:
            text += f" · {time_left(e.progress.eta_seconds)}"
        elif self.runner.state == PAUSED_BY_USER:
            text += " · paused"
        self.summary.setText(text)
        self.progress.setRange(0, c.total)
        self.progress.setValue(c.finished)

    def show_status(self, text: str, kind: str = "info") -> None:
        if not text:
            self._tick.stop()
            self._wait_until = 0.0
            self.status.hide()
            return
        self.status.setProperty("kind", kind)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.status.setText(text)
        self.status.show()

    def _update_wait(self) -> None:
        left = self._wait_until - time.monotonic()
        if left <= 0:
            self._tick.stop()
            self.show_status(self._wait_text.format(when="now"), "warning")
            return
        self.show_status(self._wait_text.format(when=f"in {clock(left)}"), "warning")

    def _on_event(self, e: QueueEvent) -> None:
        if e.item is not None:
            self.model.update_item(e.item)
        if e.kind == ITEM_STARTED:
            self.show_status("")
        elif e.kind == WAITING:
            what = "ImageFX asks to slow down" if e.reason == "rate_limit" else \
                f"ImageFX had a problem ({e.message.split('. ')[0].rstrip('.')})"
            self._wait_text = what + " — trying again {when}."
            self._wait_until = time.monotonic() + (e.wait_seconds or 0)
            self._update_wait()
            self._tick.start()
        elif e.kind == PAUSED:
            if e.reason == "network":
                self.show_status("Offline: ImageFX cannot be reached. The queue carries on by itself when it "
                                 "answers again.", "warning")
            elif e.reason == "database":
                self.show_status("The database cannot be reached. Finished images are kept on this computer; "
                                 "the queue carries on when it is back.", "warning")
            else:
                self.show_status("Paused. Press Resume (F6) to carry on.")
        elif e.kind == RESUMED:
            self.show_status("")
        elif e.kind == RUN_FINISHED:
            self.show_status("")
        self.update_actions()

    def _on_finished(self, summary: RunSummary) -> None:
        if summary.outcome == SIGN_IN:
            self.show_status("Paused: ImageFX wants you to sign in again. The queue carries on after you do "
                             "(Account → Sign in).", "error")
        self.update_actions()

    def pending_count(self) -> int:
        c = self.model.counts()
        return c.pending + (c.running if not self.runner.active else 0)

    # --- context menu --------------------------------------------------------------------------

    def _context_menu(self, pos: QPoint) -> None:
        idx: QModelIndex = self.view.indexAt(pos)
        item: QueueItem | None = idx.data(ItemRole) if idx.isValid() else None
        m = QMenu(self)
        if item is not None:
            use = m.addAction(icons.icon("remix"), "Use as prompt")
            use.triggered.connect(lambda _c=False, t=item.prompt: self.use_as_prompt.emit(t))
            m.addSeparator()
        add_actions(m, self.actions_, ("queue_cancel", "queue_retry", "queue_remove", None, "queue_clear"))
        m.popup(self.view.viewport().mapToGlobal(pos))
