"""Light and dark themes: Fusion style, one palette each, and a small style sheet.

Fusion looks the same on every platform and honours the palette completely, so the
two themes are just two colour tables. "Follow the system" reads the platform's colour
scheme (``QStyleHints.colorScheme``) and switches when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from gui import icons

THEMES = ("system", "light", "dark")
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


@dataclass(frozen=True)
class Colors:
    window: str
    base: str
    alt_base: str
    panel: str
    text: str
    muted: str
    border: str
    button: str
    accent: str
    accent_text: str
    info_bg: str
    info_fg: str
    warn_bg: str
    warn_fg: str
    error_bg: str
    error_fg: str
    ok_bg: str
    ok_fg: str
    demo_bg: str
    demo_fg: str
    cell: str
    disabled: str


LIGHT = Colors(
    window="#f3f4f7", base="#ffffff", alt_base="#f6f7f9", panel="#ffffff", text="#1d2027",
    muted="#656b78", border="#d9dce3", button="#ffffff", accent="#5457e8", accent_text="#ffffff",
    info_bg="#e8f0fe", info_fg="#1a3f8a", warn_bg="#fff4d6", warn_fg="#6b4a00",
    error_bg="#fde7e7", error_fg="#8a1c1c", ok_bg="#e3f6e8", ok_fg="#1d5e2e",
    demo_bg="#ff9f1a", demo_fg="#2b1700", cell="#e9ebf0", disabled="#a3a7b0",
)
DARK = Colors(
    window="#1c1d22", base="#141519", alt_base="#1f2026", panel="#23252c", text="#e7e8ec",
    muted="#9a9fab", border="#363944", button="#2b2d35", accent="#7073f5", accent_text="#ffffff",
    info_bg="#1f2c4a", info_fg="#c4d6ff", warn_bg="#463612", warn_fg="#ffe2a3",
    error_bg="#4a1f22", error_fg="#ffc9c9", ok_bg="#1d3b27", ok_fg="#bff0cc",
    demo_bg="#ff9f1a", demo_fg="#2b1700", cell="#2a2c34", disabled="#5d616c",
)

_current: Colors = LIGHT
_mode: str = "system"


def colors() -> Colors:
    """The colours in use, for widgets that paint themselves (the gallery delegate)."""
    return _current


def resolve(mode: str) -> str:
    """``system`` → ``light`` or ``dark`` from the platform; others unchanged."""
    if mode == "dark" or mode == "light":
        return mode
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def _palette(c: Colors) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    for r, v in ((role.Window, c.window), (role.WindowText, c.text), (role.Base, c.base),
                 (role.AlternateBase, c.alt_base), (role.ToolTipBase, c.panel), (role.ToolTipText, c.text),
                 (role.PlaceholderText, c.muted), (role.Text, c.text), (role.Button, c.button),
                 (role.ButtonText, c.text), (role.BrightText, "#ffffff"), (role.Highlight, c.accent),
                 (role.HighlightedText, c.accent_text), (role.Link, c.accent), (role.Light, c.panel),
                 (role.Midlight, c.border), (role.Mid, c.border), (role.Dark, c.muted), (role.Shadow, "#000000")):
        p.setColor(r, QColor(v))
    group = QPalette.ColorGroup.Disabled
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group, r, QColor(c.disabled))
    return p


def style_sheet(c: Colors) -> str:
    return f"""
QToolTip {{ color: {c.text}; background: {c.panel}; border: 1px solid {c.border}; padding: 4px; }}
QMainWindow::separator {{ width: 1px; background: {c.border}; }}
QSplitter::handle {{ background: {c.border}; }}
QSplitter::handle:horizontal {{ width: 1px; }}
QSplitter::handle:vertical {{ height: 1px; }}
QToolBar {{ border: none; border-bottom: 1px solid {c.border}; spacing: 4px; padding: 4px 6px; }}
QStatusBar {{ border-top: 1px solid {c.border}; }}
QStatusBar::item {{ border: none; }}
QTabWidget::pane {{ border: none; border-top: 1px solid {c.border}; }}
QTabBar::tab {{ padding: 7px 16px; border: none; color: {c.muted}; }}
QTabBar::tab:selected {{ color: {c.text}; border-bottom: 2px solid {c.accent}; }}
QLineEdit, QPlainTextEdit {{
    border: 1px solid {c.border}; border-radius: 6px; padding: 4px 6px; background: {c.base};
}}
QLineEdit:focus, QPlainTextEdit:focus {{ border: 1px solid {c.accent}; }}
QLineEdit[invalid="true"] {{ border: 1px solid {c.error_fg}; }}
QLabel#filterError {{ color: {c.error_fg}; }}
QTreeWidget#boardsSidebar {{ background: {c.panel}; border: none; }}
QAbstractSpinBox QLineEdit, QComboBox QLineEdit {{ border: none; padding: 0; background: transparent; }}
QAbstractSpinBox, QComboBox {{ min-height: 22px; }}
QPushButton {{
    border: 1px solid {c.border}; border-radius: 6px; padding: 5px 12px; background: {c.button};
}}
QPushButton:hover {{ border-color: {c.accent}; }}
QPushButton:disabled {{ color: {c.disabled}; }}
QPushButton#primary {{ background: {c.accent}; color: {c.accent_text}; border: none; font-weight: 600;
    padding: 8px 14px; }}
QPushButton#primary:disabled {{ background: {c.border}; color: {c.muted}; }}
QPushButton#danger {{ color: #d33a3a; }}
QToolButton {{ border: 1px solid transparent; border-radius: 6px; padding: 3px; }}
QToolButton:hover {{ border-color: {c.border}; background: {c.alt_base}; }}
QToolButton:checked {{ background: {c.alt_base}; border-color: {c.accent}; }}
QRadioButton::indicator {{ width: 14px; height: 14px; border-radius: 8px; border: 1px solid {c.muted};
    background: {c.base}; }}
QRadioButton::indicator:checked {{ border: 1px solid {c.accent}; background: qradialgradient(cx:0.5, cy:0.5,
    radius:0.5, fx:0.5, fy:0.5, stop:0 {c.accent}, stop:0.5 {c.accent}, stop:0.6 {c.base}, stop:1 {c.base}); }}
QFrame#card {{ background: {c.panel}; border: 1px solid {c.border}; border-radius: 10px; }}
QFrame#sidebar {{ background: {c.panel}; }}
QLabel#heading {{ font-size: 15px; font-weight: 600; }}
QLabel#subtle, QLabel#fieldLabel {{ color: {c.muted}; }}
QLabel#emptyTitle {{ font-size: 16px; font-weight: 600; color: {c.text}; }}
QLabel#emptyText {{ color: {c.muted}; }}
QLabel#demoBadge {{ background: {c.demo_bg}; color: {c.demo_fg}; font-weight: 700; border-radius: 4px;
    padding: 2px 8px; }}
QLabel#dbStatus {{ color: {c.muted}; padding: 0 6px; }}
QLabel#captionReject {{ color: {c.error_fg}; background: {c.error_bg}; border-radius: 4px; padding: 3px 6px; }}
QLabel#captionText {{ background: {c.alt_base}; border: 1px solid {c.border}; border-radius: 6px;
    padding: 6px 8px; }}
QFrame#tagChip {{ background: {c.alt_base}; border: 1px solid {c.border}; border-radius: 11px; }}
QFrame#tagChip[partial="true"] {{ border-style: dashed; }}
QFrame#tagChip QToolButton {{ border: none; background: transparent; padding: 1px 2px; }}
QFrame#tagChip QToolButton#tagChipName:hover {{ color: {c.accent}; }}
QFrame#tagChip QToolButton#tagChipRemove:hover {{ background: {c.border}; border-radius: 8px; }}
QFrame#dropZone {{ border: 2px dashed {c.border}; border-radius: 12px; background: {c.alt_base}; }}
QFrame#dropZone[active="true"] {{ border-color: {c.accent}; }}
QFrame#messageBar[kind="info"] {{ background: {c.info_bg}; border-bottom: 1px solid {c.border}; }}
QFrame#messageBar[kind="info"] QLabel {{ color: {c.info_fg}; }}
QFrame#messageBar[kind="warning"] {{ background: {c.warn_bg}; border-bottom: 1px solid {c.border}; }}
QFrame#messageBar[kind="warning"] QLabel {{ color: {c.warn_fg}; }}
QFrame#messageBar[kind="error"] {{ background: {c.error_bg}; border-bottom: 1px solid {c.border}; }}
QFrame#messageBar[kind="error"] QLabel {{ color: {c.error_fg}; }}
QFrame#messageBar[kind="success"] {{ background: {c.ok_bg}; border-bottom: 1px solid {c.border}; }}
QFrame#messageBar[kind="success"] QLabel {{ color: {c.ok_fg}; }}
QFrame#messageBar QPushButton {{ padding: 3px 10px; }}
QListView#gallery {{ border: none; background: {c.window}; }}
QListView#queueList {{ border: none; background: {c.base}; }}
QWidget#queueHeader {{ background: {c.panel}; border-bottom: 1px solid {c.border}; }}
QLabel#queueStatus {{ border-radius: 6px; padding: 6px 10px; }}
QLabel#queueStatus[kind="info"] {{ background: {c.info_bg}; color: {c.info_fg}; }}
QLabel#queueStatus[kind="warning"] {{ background: {c.warn_bg}; color: {c.warn_fg}; }}
QLabel#queueStatus[kind="error"] {{ background: {c.error_bg}; color: {c.error_fg}; }}
QProgressBar#queueProgress, QProgressBar#taskProgress {{ border: none; border-radius: 3px; background: {c.cell}; }}
QProgressBar#queueProgress::chunk, QProgressBar#taskProgress::chunk {{ border-radius: 3px; background: {c.accent}; }}
QScrollArea {{ border: none; }}
"""


def apply(app: QApplication, mode: str) -> str:
    """Apply ``mode`` (system, light, dark); returns the resolved light/dark name."""
    global _current, _mode
    _mode = mode if mode in THEMES else "system"
    name = resolve(_mode)
    _current = DARK if name == "dark" else LIGHT
    app.setStyle("Fusion")
    app.setPalette(_palette(_current))
    app.setStyleSheet(style_sheet(_current))
    icons.set_tint(_current.text, _current.disabled)
    icons.retint()
    return name


def mode() -> str:
    return _mode
