"""The fault suite in the window: dead sessions found mid-session, and the Tools menu's
database maintenance (delete expired sessions, archive old images, back up).

The other GUI fault cases live in tests/gui/test_errors.py (401 and 403 from the API, an
expired cookie, the database banner at start and mid-session) and carry the fault_case marker
there.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

from core.secrets import hash_token
from core.store import repo
from tests.gui.helpers import generate, settle
from tests.support.dbcheck import execute, scalar

PROMPT = "a kite over the dunes,\nwritten with care over two lines"


@pytest.mark.fault_case("network: GUI")
@pytest.mark.parametrize("fault, says", [
    ("empty_session", "not a signed-in labs.google session"),
    ("refresh_needed", "can no longer create access tokens"),
], ids=["session-answers-empty", "session-refresh-needed"])
def test_a_dead_session_found_mid_session_asks_to_sign_in_again(qtbot, window, standin, db_url, data_loss,
                                                                 fault, says):
    w = window
    generate(qtbot, w, "a good start", count=1)  # the session works
    assert w.model.rowCount() == 1
    standin.fail("generate", "unauthorized")  # the token is refused: the refresh meets the dead session
    standin.fail("session", fault)
    generate(qtbot, w, PROMPT, count=2)
    assert says in w.message_bar.text
    button = w.message_bar.button("Sign in again")
    assert button is not None, [b.text() for b in w.message_bar.buttons]
    assert w.editor.text() == PROMPT
    assert w.model.rowCount() == 1 and QApplication.activeModalWidget() is None
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert w.sign_in_dialog is not None and w.sign_in_dialog.isVisible()
    assert data_loss.check(db_urls=[db_url]) == []


# --- Tools menu ------------------------------------------------------------------------------------

def _tools_menu(w) -> list[str]:
    menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Tools")
    return [a.text() for a in menu.actions() if not a.isSeparator()]


@pytest.mark.fault_case("maintenance: GUI Tools menu")
def test_tools_menu_deletes_expired_sessions(qtbot, window, db_url):
    w = window
    assert {"Delete &expired sessions", "&Archive old images…", "&Back up the database…"} <= set(_tools_menu(w))
    user_id = scalar(db_url, "SELECT id FROM users")
    svc = w.ctx.service
    with svc.db.session() as s:
        repo.store_session(s, user_id, hash_token("an-expired-token"), datetime.now(UTC) - timedelta(hours=3))
    w.actions_["cleanup_sessions"].trigger()
    qtbot.waitUntil(lambda: "expired session" in w.message_bar.text, timeout=10_000)
    assert w.message_bar.text == "Deleted 1 expired session."
    assert scalar(db_url, "SELECT count(*) FROM sessions WHERE expires_at < now()") == 0
    assert scalar(db_url, "SELECT count(*) FROM sessions") == 1


@pytest.mark.fault_case("maintenance: GUI Tools menu")
def test_tools_menu_archives_old_images(qtbot, window, db_url, monkeypatch, data_loss):
    w = window
    generate(qtbot, w, "an old picture", count=2)
    generate(qtbot, w, "a new picture", count=1)
    settle(qtbot, w)
    execute(db_url, "UPDATE generated_images SET created_at = now() - interval '120 days' WHERE prompt_id = "
                    "(SELECT id FROM prompts WHERE prompt_text = 'an old picture')")
    asked: list[int] = []

    def ask(_parent, _title, _label, value, *_rest):
        asked.append(value)
        return 90, True

    monkeypatch.setattr(QInputDialog, "getInt", ask)
    w.actions_["archive_old"].trigger()
    qtbot.waitUntil(lambda: "Archived" in w.message_bar.text, timeout=10_000)
    assert asked == [90]  # the document's 90 days, offered as the default
    assert w.message_bar.text == "Archived 2 images older than 90 days."
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 1, timeout=10_000)
    assert scalar(db_url, "SELECT count(*) FROM generated_images_archive") == 2
    assert data_loss.check(db_urls=[db_url]) == []


@pytest.mark.fault_case("maintenance: GUI Tools menu")
def test_tools_menu_backs_up_the_database(qtbot, window, tmp_path, monkeypatch):
    w = window
    generate(qtbot, w, "worth a backup", count=1)
    target = tmp_path / "backups" / "mine.sql.gz"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Compressed SQL (*.sql.gz)"))
    w.actions_["backup_db"].trigger()
    qtbot.waitUntil(lambda: "Backup written" in w.message_bar.text, timeout=30_000)
    assert str(target) in w.message_bar.text and "maintenance restore" in w.message_bar.text
    assert "worth a backup" in gzip.decompress(Path(target).read_bytes()).decode()


@pytest.mark.fault_case("maintenance: GUI Tools menu")
def test_tools_menu_cancelled_dialogs_do_nothing(qtbot, window, monkeypatch):
    w = window
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (90, False))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    w.actions_["archive_old"].trigger()
    w.actions_["backup_db"].trigger()
    settle(qtbot, w)
    assert w.message_bar.text == ""


# --- nothing lost even when nothing can store -------------------------------------------------------

@pytest.mark.fault_case("database: database down and spool unwritable (GUI keeps the images to save)")
def test_images_nothing_could_store_can_still_be_saved_as_files(qtbot, make_window, settings, demo_cookie,
                                                                tmp_path, monkeypatch, data_loss):
    from core.service import Service
    from core.store import Database
    from tests.support.net import closed_port

    settings.spool_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.spool_dir.write_text("a file where the spool folder should be")  # the spool cannot be written

    def factory(_demo: bool) -> object:
        return Service(settings, cookie=demo_cookie,
                       database=Database(settings, url=f"postgresql://postgres@127.0.0.1:{closed_port()}/x"))

    w = make_window(factory=factory, wait=False, retry_interval_ms=60_000)
    qtbot.waitUntil(lambda: w.db_banner.text != "" and w.ctx.has_service, timeout=15_000)
    generate(qtbot, w, PROMPT, count=2)
    assert "exist only in this window" in w.message_bar.text
    button = w.message_bar.button("Save images…")
    assert button is not None and w.editor.text() == PROMPT
    assert len(data_loss.delivered()) == 2

    rescue_dir = tmp_path / "rescued"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(rescue_dir))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved 2 images" in w.message_bar.text, timeout=10_000)
    assert len(list(rescue_dir.iterdir())) == 2
    assert data_loss.check(folders=[rescue_dir]) == []
    from core.export import read_parameters  # written as Export writes: the parameters inside

    assert {read_parameters(p).prompt for p in rescue_dir.iterdir()} == {PROMPT}
