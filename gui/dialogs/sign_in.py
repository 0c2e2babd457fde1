"""Sign in: paste the labs.google cookie (or pick a cookies.txt / JSON export), verify it.

Verification is ``Service.sign_in``: the session endpoint says who the cookie belongs
to, and the service keeps the cookie in the keyring. Once verified, the paste box is
emptied and locked, so the cookie is never left on screen (screenshots, screen sharing).
A cookie picked from a file is never shown at all. Not modal: the main window stays usable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.service import Account, Service
from core.userfiles import read_text
from gui import icons
from gui.context import AppContext
from gui.errors import view_for
from gui.export import decode_image
from gui.widgets.account_widget import round_avatar

INSTRUCTIONS = """
<ol style="margin-left:-20px">
<li>Open <b>labs.google/fx/tools/image-fx</b> in your browser and sign in with your Google account.</li>
<li>Open the developer tools (<b>F12</b>) → <b>Network</b>, reload the page, click any request to
labs.google and copy the value of the <b>Cookie</b> request header.</li>
<li>Paste it below. An export from a cookie-editor extension (JSON) or a <i>cookies.txt</i> file
works too.</li>
</ol>
"""
MAX_COOKIE_FILE = 1024 * 1024
_KEYRING_NAMES = {"secretservice": "Secret Service", "kwallet": "KWallet", "macos": "macOS Keychain",
                  "windows": "Windows Credential Manager", "libsecret": "Secret Service"}


def cookie_storage(service: Service) -> tuple[str, str]:
    """Where this machine keeps the cookie: (a phrase for "stored …", the sentence the dialog shows).
    Runs on the worker: finding the keyring backend can take a moment (D-Bus)."""
    secrets = service.secrets
    if secrets.uses_keyring:
        backend = secrets.backend_name.lower()
        name = next((label for key, label in _KEYRING_NAMES.items() if key in backend), "")
        where = f"in your system keyring ({name})" if name else "in your system keyring"
        return where, f"The cookie is kept {where} and never shown again."
    folder = secrets.warning or ""
    return (f"encrypted in {secrets.vault_directory}",
            f"{folder} It is never shown again." if folder else "The cookie is never shown again.")


class SignInDialog(QDialog):
    signed_in = Signal(object)  # Account

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Sign in to ImageFX")
        self.setModal(False)
        self.setMinimumWidth(560)
        self.setAccessibleName("Sign in")
        self.account: Account | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        title = QLabel("Sign in with your labs.google cookie")
        title.setObjectName("heading")
        layout.addWidget(title)
        how = QLabel(INSTRUCTIONS)
        how.setWordWrap(True)
        how.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(how)

        self.cookie = QPlainTextEdit()
        self.cookie.setAccessibleName("Cookie")
        self.cookie.setAccessibleDescription("Paste the Cookie header, a JSON export or a cookies.txt file")
        self.cookie.setPlaceholderText("__Secure-next-auth.session-token=…; …")
        self.cookie.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.cookie.setTabChangesFocus(True)
        self.cookie.setFixedHeight(96)
        layout.addWidget(self.cookie)
        # Where the cookie goes is known once the service has looked for a keyring (on the worker).
        self.storage = "in your system keyring"
        note = QLabel("Once verified, the cookie is never shown again.")
        note.setObjectName("subtle")
        note.setWordWrap(True)
        note.setAccessibleName("Where the cookie is kept")
        self.note = note
        layout.addWidget(note)

        self.error = QLabel()
        self.error.setObjectName("captionReject")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Sign-in error")
        self.error.hide()
        layout.addWidget(self.error)

        self.card = QFrame()
        self.card.setObjectName("card")
        cl = QHBoxLayout(self.card)
        cl.setContentsMargins(12, 10, 12, 10)
        self.avatar = QLabel()
        self.avatar.setFixedSize(48, 48)
        cl.addWidget(self.avatar)
        who = QVBoxLayout()
        who.setSpacing(2)
        self.name = QLabel()
        self.name.setObjectName("heading")
        self.name.setAccessibleName("Signed-in name")
        self.email = QLabel()
        self.email.setObjectName("subtle")
        self.email.setAccessibleName("Signed-in e-mail")
        who.addWidget(self.name)
        who.addWidget(self.email)
        cl.addLayout(who, 1)
        self.ok = QLabel("✓ Signed in")
        self.ok.setStyleSheet("color: #2e9a4f; font-weight: 600;")
        cl.addWidget(self.ok)
        self.card.hide()
        layout.addWidget(self.card)

        buttons = QHBoxLayout()
        self.file_button = QPushButton("Load from file…")
        self.file_button.setAccessibleName("Load cookie from file")
        icons.bind(self.file_button, "folder")
        buttons.addWidget(self.file_button)
        buttons.addStretch(1)
        self.close_button = QPushButton("Close")
        self.close_button.setAccessibleName("Close")
        buttons.addWidget(self.close_button)
        self.verify_button = QPushButton("Verify and sign in")
        self.verify_button.setObjectName("primary")
        self.verify_button.setAccessibleName("Verify and sign in")
        self.verify_button.setDefault(True)
        buttons.addWidget(self.verify_button)
        layout.addLayout(buttons)

        self.verify_button.clicked.connect(self.verify)
        self.file_button.clicked.connect(self.pick_file)
        self.close_button.clicked.connect(self.close)
        self.cookie.textChanged.connect(self._text_changed)
        self._text_changed()
        self.ctx.call(cookie_storage, on_success=self._show_storage, on_failure=lambda _e: None, owner=self,
                      name="cookie storage", offline=True)

    def _show_storage(self, where: tuple[str, str]) -> None:
        self.storage, sentence = where
        self.note.setText(sentence)
        self._fit()

    def _fit(self) -> None:
        """Grow to fit a longer note or the account card: a word-wrapped label's height is not in
        the dialog's minimum size, so without this the texts overlap (seen on a bare X server)."""
        layout = self.layout()
        if layout is None:
            return
        layout.activate()
        need = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        need = max(need, layout.totalMinimumSize().height())
        if need > self.height():
            self.resize(self.width(), need)

    def reset(self) -> None:
        """Ready for another account (Add account…)."""
        self.account = None
        self.card.hide()
        self.error.hide()
        self.cookie.setReadOnly(False)
        self.cookie.clear()
        self.cookie.setPlaceholderText("__Secure-next-auth.session-token=…; …")
        self.verify_button.setText("Verify and sign in")
        self._text_changed()
        self.cookie.setFocus()

    def _text_changed(self) -> None:
        self.verify_button.setEnabled(bool(self.cookie.toPlainText().strip()) and not self.cookie.isReadOnly())

    def _busy(self, busy: bool) -> None:
        self.verify_button.setEnabled(not busy and bool(self.cookie.toPlainText().strip()))
        self.file_button.setEnabled(not busy)
        if busy:
            self.verify_button.setText("Verifying…")
            self.error.hide()

    def verify(self) -> None:
        text = self.cookie.toPlainText()
        if text.strip():
            self._sign_in(lambda s: s.sign_in(text))

    def pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Cookie file", str(Path.home()),
                                              "Cookie files (*.txt *.json);;All files (*)")
        if path:
            self.sign_in_from_file(Path(path))

    def sign_in_from_file(self, path: Path) -> None:
        """Read and verify on the worker; the file's content never reaches the screen."""
        def run(s: Service) -> Account:
            return s.sign_in(read_text(path, limit=MAX_COOKIE_FILE, what="cookie file"))

        self._sign_in(run)

    def _sign_in(self, fn: Callable[[Service], Account]) -> None:
        self._busy(True)

        def run(s: Service) -> tuple[Account, str | None]:
            return fn(s), s.repair_notice

        self.ctx.call(run, on_success=self._signed_in_with, on_failure=self._failed, owner=self, name="sign in")

    def _signed_in_with(self, result: tuple[Account, str | None]) -> None:
        account, repaired = result
        if repaired:  # a damaged key file or vault was replaced: say what that cost
            self.note.setText(repaired)
        self._signed_in(account)
        self._fit()

    def _signed_in(self, account: Account) -> None:
        self.account = account
        # The cookie is stored now; it leaves the screen.
        self.cookie.clear()
        self.cookie.setPlaceholderText(f"Cookie verified and stored {self.storage}.")
        self.cookie.setReadOnly(True)
        self.name.setText(account.name or account.email)
        self.email.setText(account.email)
        self.avatar.setPixmap(round_avatar(None, account.name or account.email, 48))
        self.card.show()
        self.error.hide()
        self.verify_button.setText("Signed in")
        self.verify_button.setEnabled(False)
        self.file_button.setEnabled(True)
        self.close_button.setFocus()
        self.signed_in.emit(account)
        url = account.image_url
        if url:
            self.ctx.call(lambda s: s.avatar(url), on_success=self._avatar, on_failure=lambda _e: None,
                          owner=self, name="avatar")

    def _avatar(self, data: bytes | None) -> None:
        if data and self.account is not None:
            img = decode_image(data)
            if not img.isNull():
                self.avatar.setPixmap(round_avatar(img, self.account.name, 48))

    def _failed(self, exc: BaseException) -> None:
        self._busy(False)
        self.verify_button.setText("Verify and sign in")
        self.error.setText(view_for(exc).text)
        self.error.show()
