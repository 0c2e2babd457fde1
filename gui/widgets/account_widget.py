"""Who is signed in, in the toolbar: avatar and name, with a menu to switch, add or sign out.

When ImageFX refuses the current account's cookie (a call failed with a sign-in error), the
button says so until the next successful sign-in or call: a warning mark on the avatar,
"— sign in again" after the name, and "Sign in again…" first in its menu
(:meth:`AccountWidget.set_rejected`).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QMenu, QSizePolicy, QToolButton, QWidget

from core.service import Account
from gui import icons, theme


def round_avatar(image: QImage | None, name: str, size: int = 28) -> QPixmap:
    """The avatar in a circle; the initial on a coloured disc when there is no picture."""
    scale = 2
    pm = QPixmap(size * scale, size * scale)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    path = QPainterPath()
    path.addEllipse(QRectF(0, 0, size * scale, size * scale))
    p.setClipPath(path)
    if image is not None and not image.isNull():
        p.drawImage(QRectF(0, 0, size * scale, size * scale), image)
    else:
        p.fillPath(path, QColor(theme.colors().accent))
        f = QFont()
        f.setPixelSize(int(size * scale * 0.5))
        f.setBold(True)
        p.setFont(f)
        p.setPen(QColor("#ffffff"))
        p.drawText(QRectF(0, 0, size * scale, size * scale), Qt.AlignmentFlag.AlignCenter,
                   (name.strip()[:1] or "?").upper())
    p.end()
    pm.setDevicePixelRatio(scale)
    return pm


def _with_warning(pm: QPixmap) -> QPixmap:
    """The avatar with a small warning badge in its lower right corner."""
    out = QPixmap(pm)
    p = QPainter(out)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    size = out.deviceIndependentSize()
    side = size.width() * 0.55
    badge = QRectF(size.width() - side, size.height() - side, side, side)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(theme.colors().error_fg))
    p.drawEllipse(badge)
    p.setPen(QColor("#ffffff"))
    f = QFont()
    f.setPixelSize(int(side * 0.8))
    f.setBold(True)
    p.setFont(f)
    p.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")
    p.end()
    return out


class AccountWidget(QToolButton):
    sign_in_requested = Signal()
    sign_out_requested = Signal(str)
    switch_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setIconSize(QSize(28, 28))
        self.setAccessibleName("Account")
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)  # its name is never cut
        self.menu_ = QMenu(self)
        self.setMenu(self.menu_)
        self.accounts: list[Account] = []
        self.avatars: dict[str, QImage] = {}
        self.rejected: str | None = None  # the account whose cookie ImageFX refused
        self.from_environment = False  # the current account is a cookie given for the run, not stored
        self.set_accounts([])

    @property
    def current(self) -> Account | None:
        return next((a for a in self.accounts if a.current), None)

    def set_accounts(self, accounts: list[Account]) -> None:
        self.accounts = accounts
        cur = self.current
        if cur is None:
            self.setText("Sign in")
            icons.bind(self, "sign-in")
            self.setToolTip("Sign in with your labs.google cookie")
        elif self.rejected == cur.email:
            self.setText(f"{cur.name or cur.email} — sign in again")
            icons.unbind(self)
            self.setIcon(_with_warning(round_avatar(self.avatars.get(cur.email), cur.name or cur.email)))
            self.setToolTip(f"ImageFX no longer accepts the cookie of {cur.email}. Sign in again with a fresh "
                            "cookie (click here, or Account → Sign in).")
        else:
            self.setText(cur.name or cur.email)
            icons.unbind(self)
            self.setIcon(round_avatar(self.avatars.get(cur.email), cur.name or cur.email))
            self.setToolTip(f"Signed in as {cur.name} <{cur.email}>" + (
                " with the cookie given for this run (GOOGLE_COOKIE); it is not stored on this computer"
                if self.from_environment else ""))
        bad = cur is not None and self.rejected == cur.email
        self.setAccessibleDescription("ImageFX refused this account's cookie: sign in again" if bad else "")
        self.setStyleSheet(f"QToolButton {{ color: {theme.colors().error_fg}; }}" if bad else "")
        self.updateGeometry()  # the toolbar makes room for a longer name
        self._build_menu()

    def set_rejected(self, email: str | None) -> None:
        """ImageFX refused ``email``'s cookie (None: it accepts it again)."""
        if email != self.rejected:
            self.rejected = email
            self.set_accounts(self.accounts)

    def set_avatar(self, email: str, image: QImage) -> None:
        self.avatars[email] = image
        self.set_accounts(self.accounts)

    def _build_menu(self) -> None:
        m = self.menu_
        m.clear()
        cur = self.current
        if cur is not None and self.rejected == cur.email:
            again = m.addAction("Sign in again…")
            icons.bind(again, "warning")
            again.triggered.connect(self.sign_in_requested.emit)
            m.addSeparator()
        if cur is not None:
            head = m.addAction(round_avatar(self.avatars.get(cur.email), cur.name), f"{cur.name}\n{cur.email}")
            head.setEnabled(False)
            m.addSeparator()
        others = [a for a in self.accounts if not a.current]
        if others:
            section = m.addSection("Switch account")
            section.setEnabled(False)
            for a in others:
                act = m.addAction(round_avatar(self.avatars.get(a.email), a.name), f"{a.name} <{a.email}>")
                act.triggered.connect(lambda _=False, e=a.email: self.switch_requested.emit(e))
            m.addSeparator()
        add = m.addAction("Add another account…" if cur else "Sign in…")
        icons.bind(add, "sign-in")
        add.triggered.connect(self.sign_in_requested.emit)
        if cur is not None:
            out = m.addAction(f"Sign out {cur.email}")
            icons.bind(out, "sign-out")
            out.triggered.connect(lambda _=False, e=cur.email: self.sign_out_requested.emit(e))
