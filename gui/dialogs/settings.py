"""Settings: where the database is, default generation options, and the theme.

Saved to ``settings.json`` through :func:`core.config.save_settings` (which never writes
the database password); the password goes to the keyring with
``SecretStore.save_db_password``, keyed by user@host:port/name, and the service factory
reads it back (``gui.app.service_factory``). "Test connection" connects once without
touching the schema (``core.service.service.check_database``).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.config import DatabaseSettings, GenerationDefaults, Settings, save_settings
from core.imagefx import protocol
from core.secrets import SecretStore
from core.service.service import check_database
from gui.context import AppContext
from gui.errors import view_for
from gui.theme import THEME_LABELS, THEMES

SSL_MODES = ("", "disable", "prefer", "require", "verify-ca", "verify-full")
SSL_LABELS = {"": "Default (prefer)", "disable": "Disable", "prefer": "Prefer", "require": "Require",
              "verify-ca": "Verify CA", "verify-full": "Verify CA and host name"}


def password_key(db: DatabaseSettings) -> str:
    return f"{db.user}@{db.host}:{db.port}/{db.name}"


class SettingsDialog(QDialog):
    saved = Signal(object, bool)  # new Settings, whether the database changed

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Settings — ImageFX Studio")
        self.setModal(False)
        self.setMinimumWidth(520)
        self.setAccessibleName("Settings")
        s = ctx.settings
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)

        # --- database ---
        db_page = QWidget()
        dl = QVBoxLayout(db_page)
        self.embedded = QRadioButton("Embedded database (no set-up; kept in this computer's data folder)")
        self.server = QRadioButton("PostgreSQL server")
        for b, n in ((self.embedded, "Use the embedded database"), (self.server, "Use a PostgreSQL server")):
            b.setAccessibleName(n)
        group = QButtonGroup(self)
        group.addButton(self.embedded)
        group.addButton(self.server)
        dl.addWidget(self.embedded)
        dl.addWidget(self.server)
        self.server_box = QGroupBox("Server")
        form = QFormLayout(self.server_box)
        self.host = QLineEdit(s.database.host)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(s.database.port)
        self.name = QLineEdit(s.database.name)
        self.user = QLineEdit(s.database.user)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("unchanged" if s.database.mode == "server" else "")
        self.ssl = QComboBox()
        for m in SSL_MODES:
            self.ssl.addItem(SSL_LABELS[m], m)
        self.ssl.setCurrentIndex(max(0, self.ssl.findData(s.database.sslmode)))
        self.root_cert = QLineEdit(s.database.sslrootcert)
        self.root_cert.setPlaceholderText("CA certificate file (for Verify modes)")
        for label, w in (("Host", self.host), ("Port", self.port), ("Database", self.name), ("User", self.user),
                         ("Password", self.password), ("SSL", self.ssl), ("CA certificate", self.root_cert)):
            w.setAccessibleName(f"Database {label.lower()}")
            form.addRow(label, w)
        dl.addWidget(self.server_box)
        test_row = QHBoxLayout()
        self.test_button = self._button("Test connection")
        test_row.addWidget(self.test_button)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setAccessibleName("Connection test result")
        test_row.addWidget(self.test_result, 1)
        dl.addLayout(test_row)
        self.url_note = QLabel()
        self.url_note.setObjectName("subtle")
        self.url_note.setWordWrap(True)
        dl.addWidget(self.url_note)
        dl.addStretch(1)
        self.tabs.addTab(db_page, "Database")
        (self.server if s.database.mode == "server" else self.embedded).setChecked(True)
        if s.database.url:
            self.url_note.setText("DATABASE_URL is set in the environment; it overrides these fields.")

        # --- generation ---
        gen_page = QWidget()
        gl = QFormLayout(gen_page)
        self.model = QComboBox()
        for m in protocol.MODELS:
            self.model.addItem(protocol.MODEL_LABELS.get(m, m), m)
        self.model.setCurrentIndex(max(0, self.model.findData(s.generation.model)))
        self.aspect = QComboBox()
        for a in protocol.ASPECT_RATIOS:
            self.aspect.addItem(protocol.ASPECT_LABELS.get(a, a), a)
        self.aspect.setCurrentIndex(max(0, self.aspect.findData(s.generation.aspect_ratio)))
        self.count = QSpinBox()
        self.count.setRange(protocol.MIN_COUNT, protocol.MAX_COUNT)
        self.count.setValue(s.generation.count)
        self.seed = QSpinBox()
        self.seed.setRange(0, protocol.MAX_SEED)
        self.seed.setSpecialValueText("Random")
        self.seed.setValue(s.generation.seed)
        self.retries = QSpinBox()
        self.retries.setRange(0, 5)
        self.retries.setValue(s.generation.retries)
        for label, w in (("Model", self.model), ("Aspect ratio", self.aspect), ("Images", self.count),
                         ("Seed", self.seed), ("Retries on server errors", self.retries)):
            w.setAccessibleName(f"Default {label.lower()}")
            gl.addRow(label, w)
        self.tabs.addTab(gen_page, "Generation")

        # --- appearance ---
        look = QWidget()
        ll = QFormLayout(look)
        self.theme = QComboBox()
        self.theme.setAccessibleName("Theme")
        for t in THEMES:
            self.theme.addItem(THEME_LABELS[t], t)
        self.theme.setCurrentIndex(max(0, self.theme.findData(s.theme)))
        ll.addRow("Theme", self.theme)
        self.tabs.addTab(look, "Appearance")

        # --- library ---
        lib = QWidget()
        lf = QFormLayout(lib)
        self.trash_days = QSpinBox()
        self.trash_days.setRange(0, 3650)
        self.trash_days.setSuffix(" days")
        self.trash_days.setSpecialValueText("Never")
        self.trash_days.setValue(max(0, s.trash_days))
        self.trash_days.setAccessibleName("Empty the Trash after")
        self.trash_days.setToolTip("Images in the Trash longer than this are deleted for good when the app starts")
        lf.addRow("Empty the Trash after", self.trash_days)
        self.tabs.addTab(lib, "Library")

        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.save)
        box.rejected.connect(self.close)
        layout.addWidget(box)
        self.buttons = box

        self.embedded.toggled.connect(self._mode_changed)
        self.test_button.clicked.connect(self.test_connection)
        self._mode_changed()

    @staticmethod
    def _button(text: str) -> QPushButton:
        b = QPushButton(text)
        b.setAccessibleName(text)
        return b

    def _mode_changed(self) -> None:
        server = self.server.isChecked()
        self.server_box.setEnabled(server)
        self.test_button.setEnabled(server)
        self.test_result.setText("" if server else "The embedded database needs no set-up.")

    def database_settings(self) -> DatabaseSettings:
        old = self.ctx.settings.database
        password = self.password.text() or old.password
        return replace(old, mode="server" if self.server.isChecked() else "embedded", host=self.host.text().strip(),
                       port=self.port.value(), name=self.name.text().strip(), user=self.user.text().strip(),
                       password=password, sslmode=self.ssl.currentData(), sslrootcert=self.root_cert.text().strip())

    def new_settings(self) -> Settings:
        s = self.ctx.settings
        gen = GenerationDefaults(count=self.count.value(), model=self.model.currentData(),
                                 aspect_ratio=self.aspect.currentData(), seed=self.seed.value(),
                                 retries=self.retries.value())
        return s.with_overrides(database=self.database_settings(), generation=gen, theme=self.theme.currentData(),
                                trash_days=self.trash_days.value())

    def test_connection(self) -> None:
        trial = self.ctx.settings.with_overrides(database=replace(self.database_settings(), mode="server"))
        self.test_result.setText("Connecting…")
        self.test_button.setEnabled(False)

        def done(version: str) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(f"✓ Connected: PostgreSQL {version}")

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(view_for(exc).text)

        self.ctx.worker.run(lambda: check_database(trial), on_success=done, on_failure=failed, owner=self,
                            name="test database")

    def save(self) -> None:
        new = self.new_settings()
        old = self.ctx.settings
        db_changed = _db_identity(new.database) != _db_identity(old.database) or \
            (bool(self.password.text()) and new.database.mode == "server")
        password = self.password.text()
        data_dir = new.data_dir

        def persist() -> None:
            save_settings(new)
            if password and new.database.mode == "server":
                SecretStore(data_dir).save_db_password(password_key(new.database), password)

        def done(_: object) -> None:
            self.saved.emit(new, db_changed)
            self.close()

        def failed(exc: BaseException) -> None:
            self.test_result.setText(f"Could not save the settings: {view_for(exc).text}")

        self.ctx.worker.run(persist, on_success=done, on_failure=failed, owner=self, name="save settings")


def _db_identity(db: DatabaseSettings) -> tuple[object, ...]:
    return (db.mode, db.host, db.port, db.name, db.user, db.sslmode, db.sslrootcert, db.url)
