"""Icons from ``resources/icons/*.svg``, tinted to the current theme.

The files are read through :func:`core.appinfo.shipped` (importlib.resources), so they are found in
a checkout, an installed wheel and the bundle alike.

The SVGs are hand-written line icons that draw with ``currentColor``. Qt's SVG renderer
has no notion of a current colour, so the text is recoloured before rendering; that is
what lets one set of files serve the light and the dark theme. :func:`bind` remembers
which action or button shows which icon, and :func:`retint` redraws them all when the
theme changes.
"""

from __future__ import annotations

import weakref
from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QAbstractButton

from core.appinfo import shipped

RESOURCES = shipped("resources")
ICON_DIR = RESOURCES / "icons"
APP_ICON_SVG = RESOURCES / "app.svg"
APP_ICON_PNG = RESOURCES / "app.png"

_SIZES = (16, 20, 24, 32, 48)
_tint = "#2b2d33"
_disabled_tint = "#9a9ca3"
_bound: dict[int, tuple[weakref.ref[QAction | QAbstractButton], str]] = {}


def set_tint(color: str, disabled: str) -> None:
    """Called by the theme; clears the cache so the next :func:`icon` call uses the new colour."""
    global _tint, _disabled_tint
    _tint, _disabled_tint = color, disabled
    _icon.cache_clear()


@lru_cache(maxsize=64)
def _svg_text(name: str) -> str:
    return (ICON_DIR / f"{name}.svg").read_text(encoding="utf-8")


def render_svg(data: bytes, size: int, color: str | None = None) -> QImage:
    """Draw SVG bytes into a square transparent image (QImage: safe on any thread)."""
    if color is not None:
        data = data.replace(b"currentColor", color.encode("ascii"))
    renderer = QSvgRenderer(QByteArray(data))
    img = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(Qt.GlobalColor.transparent)
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return img


def _scales() -> tuple[int, ...]:
    """Device pixel ratios to draw icons for: 2 only where a screen needs it. Each ratio is ten
    SVG renders per icon; drawing both cost ~65 ms of the main window's construction at start-up
    (benchmarks/README.md)."""
    from PySide6.QtGui import QGuiApplication

    screens = QGuiApplication.screens() if QGuiApplication.instance() is not None else []
    if screens and all(s.devicePixelRatio() <= 1 for s in screens):
        return (1,)
    return (1, 2)


@lru_cache(maxsize=256)
def _icon(name: str, color: str, disabled: str) -> QIcon:
    data = _svg_text(name).encode("utf-8")
    icon = QIcon()
    for size in _SIZES:
        for scale in _scales():
            for mode, tint in ((QIcon.Mode.Normal, color), (QIcon.Mode.Disabled, disabled)):
                pm = QPixmap.fromImage(render_svg(data, size * scale, tint))
                pm.setDevicePixelRatio(scale)
                icon.addPixmap(pm, mode)
    return icon


def icon(name: str, color: str | None = None) -> QIcon:
    """The named icon in the theme's colour (or ``color``)."""
    return _icon(name, color or _tint, _disabled_tint if color is None else QColor(color).darker(150).name())


def bind(target: QAction | QAbstractButton, name: str, color: str | None = None) -> None:
    """Set ``target``'s icon now and again after every :func:`retint`."""
    target.setIcon(icon(name, color))
    _bound[id(target)] = (weakref.ref(target), f"{name}|{color or ''}")


def unbind(target: QAction | QAbstractButton) -> None:
    """Stop managing ``target``'s icon (it shows a picture of its own now, e.g. an avatar)."""
    _bound.pop(id(target), None)


def retint() -> None:
    """Redraw every bound icon (after a theme change); forget targets that are gone."""
    for key_id, (ref, key) in list(_bound.items()):
        target = ref()
        if target is None:
            del _bound[key_id]
            continue
        name, _, color = key.partition("|")
        try:
            target.setIcon(icon(name, color or None))
        except RuntimeError:  # the C++ object was deleted
            del _bound[key_id]


def app_icon() -> QIcon:
    """The application icon drawn from the SVG at the usual sizes (app.png is for file managers)."""
    icon = QIcon()
    if APP_ICON_SVG.is_file():
        data = APP_ICON_SVG.read_bytes()
        for size in (16, 24, 32, 48, 64, 128, 256):
            icon.addPixmap(QPixmap.fromImage(render_svg(data, size)))
    elif APP_ICON_PNG.is_file():
        pm = QPixmap()
        pm.loadFromData(APP_ICON_PNG.read_bytes())
        icon.addPixmap(pm)
    return icon
