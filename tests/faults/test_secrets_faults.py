"""Issue 12, "No secret lands where it should not" and "Nothing bricks the app": the settings file
never holds a password, damaged secret files are named and repaired by ``login``, eight sign-ins
at once lose nothing, bad settings values and cookie files get a sentence, and so does an
unwritable data folder. Through the real CLI (subprocesses) against the stand-in and a real
PostgreSQL, with the file vault (no keyring) where the case is about it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.config import load_settings, save_settings, strip_url_password
from core.secrets import SecretStore
from core.standin import DEMO_COOKIE, DEMO_EMAIL, StandInServer
from tests.faults.conftest import one_line_error
from tests.support.dbcheck import rows

Run = Callable[..., subprocess.CompletedProcess[str]]
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
PASSWORD = "Url-Secret-4711"
ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args[2:], done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


# --- no password in settings.json -----------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    f"postgresql://someone:{PASSWORD}@127.0.0.1:5432/lib?sslmode=require",
    f"postgresql://someone@127.0.0.1:5432/lib?password={PASSWORD}&sslmode=require",
    f"host=127.0.0.1 user=someone password={PASSWORD} dbname=lib",
], ids=["userinfo", "query", "keyword-dsn"])
@pytest.mark.fault_case("security: DATABASE_URL's password never reaches settings.json")
def test_a_saved_setting_never_writes_the_database_password(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                            url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("IMAGEFX_LABS_URL", "http://127.0.0.1:9")
    settings = load_settings()
    assert settings.database.mode == "server" and PASSWORD in settings.database.url  # used this run
    save_settings(settings.with_overrides(theme="dark"))  # what the window does on a theme change

    path = settings.settings_file
    text = path.read_text(encoding="utf-8")
    assert PASSWORD not in text and _mode(path) == 0o600
    assert json.loads(text)["theme"] == "dark"
    assert not list(path.parent.glob("*.tmp"))
    # Nothing that only came from the environment was kept: a run without it is back home.
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("IMAGEFX_LABS_URL")
    later = load_settings()
    assert later.database.mode == "embedded" and later.database.url == ""
    assert later.labs_url == "https://labs.google" and later.theme == "dark" and later.notices == ()
    assert PASSWORD not in strip_url_password(url) and "someone" in strip_url_password(url)


@pytest.mark.fault_case("security: an older settings.json's password is removed, and the user told once")
def test_a_password_left_in_an_older_settings_file_is_removed_and_said_once(cli: Run, cli_env: dict[str, str]
                                                                             ) -> None:
    path = Path(cli_env["IMAGEFX_DATA_DIR"]) / "settings.json"
    path.parent.mkdir(parents=True)
    old = {"theme": "dark", "database": {"mode": "server", "password": "Field-Secret-99",
                                         "url": f"postgresql://someone:{PASSWORD}@db.example:5432/lib"}}
    path.write_text(json.dumps(old))
    path.chmod(0o644)  # as the earlier version left it
    first = cli("history")  # DATABASE_URL in the environment names the test database: it still works
    _ok(first)
    warnings = [line for line in first.stderr.splitlines() if "password" in line]
    assert len(warnings) == 1 and str(path) in warnings[0] and "removed" in warnings[0]
    assert PASSWORD not in first.stderr and "Field-Secret-99" not in first.stderr
    text = path.read_text()
    assert PASSWORD not in text and "Field-Secret-99" not in text and _mode(path) == 0o600
    assert json.loads(text)["database"]["url"] == "postgresql://someone@db.example:5432/lib"
    assert json.loads(text)["theme"] == "dark"  # the rest of the file is kept
    second = cli("history")
    _ok(second)
    assert "password" not in second.stderr  # said once


# --- bad settings values -------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "setting", "default"), [
    ('{"request_timeout": 1e999}', "request_timeout", "120"),
    ('{"request_timeout": -5}', "request_timeout", "120"),
    ('{"request_timeout": NaN}', "request_timeout", "120"),
    ('{"database": {"connect_timeout": -1e999}}', "database.connect_timeout", "5"),
    ('{"generation": {"count": 1e999}}', "generation.count", "4"),
    ('{"queue_delay": "soon"}', "queue_delay", "2"),
], ids=["huge", "negative", "nan", "minus-inf-int", "count-inf", "text"])
@pytest.mark.fault_case("bad input: settings value out of range")
def test_a_bad_settings_value_is_named_with_the_default_used(cli: Run, cli_env: dict[str, str], tmp_path: Path,
                                                             raw: str, setting: str, default: str) -> None:
    path = Path(cli_env["IMAGEFX_DATA_DIR"]) / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(raw)
    done = cli("generate", "-p", "a sturdy bridge", "-n", "1", "-d", str(tmp_path / "out"),
               env={"GOOGLE_COOKIE": DEMO_COOKIE})
    _ok(done)
    assert len(done.stdout.splitlines()) == 1  # the generation itself went through
    [warning] = [line for line in done.stderr.splitlines() if line.strip()]
    assert setting in warning and f"default {default}" in warning and str(path) in warning


@pytest.mark.fault_case("bad input: IMAGEFX_TIMEOUT not a usable number")
def test_a_bad_timeout_in_the_environment_is_named(cli: Run, tmp_path: Path) -> None:
    done = cli("generate", "-p", "a patient owl", "-n", "1", "-d", str(tmp_path / "out"),
               env={"GOOGLE_COOKIE": DEMO_COOKIE, "IMAGEFX_TIMEOUT": "nan"})
    _ok(done)
    [warning] = [line for line in done.stderr.splitlines() if line.strip()]
    assert "IMAGEFX_TIMEOUT" in warning and "120 seconds are used" in warning


# --- damaged secret files --------------------------------------------------------------------------------

DAMAGE = {
    "key-empty": ("secret.key", b""),
    "key-junk": ("secret.key", b"\x00\xff this is not a key \xfe"),
    "key-truncated": ("secret.key", None),  # the real key, cut in half
    "vault-junk": ("vault.json", b"{\"cookie:demo@imagefx.local\": \"gAAAA"),
    "vault-list": ("vault.json", b"[\"not\", \"a\", \"vault\"]"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.fault_case("secrets: damaged secret file, login repairs it")
def test_a_damaged_key_file_or_vault_is_named_and_login_repairs_it(cli: Run, cli_env: dict[str, str],
                                                                   standin: StandInServer, tmp_path: Path,
                                                                   damage: str) -> None:
    data = Path(cli_env["IMAGEFX_DATA_DIR"])
    standin.add_account("other-damage-session", "other-damage@example.com", "Other")
    store = SecretStore(data, use_keyring=False)  # two accounts signed in before the damage
    store.save_cookie("other-damage@example.com", "__Secure-next-auth.session-token=other-damage-session")
    store.save_cookie(DEMO_EMAIL, DEMO_COOKIE)
    store.set_current_account(DEMO_EMAIL)
    name, content = DAMAGE[damage]
    target = data / "secrets" / name
    target.write_bytes(content if content is not None else target.read_bytes()[:20])

    broken = cli("generate", "-p", "a cracked vase", "-n", "1", "-d", str(tmp_path / "out"), env=NO_KEYRING)
    line = one_line_error(broken, 3, str(target), "damaged", "main.py login")

    fixed = cli("login", env={**NO_KEYRING, "GOOGLE_COOKIE": DEMO_COOKIE})
    _ok(fixed)
    assert "Signed in as" in fixed.stdout and "replaced" in fixed.stderr
    if name == "secret.key":  # the vault was readable: the account whose cookie is lost is named
        assert "other-damage@example.com" in fixed.stderr and "database" in fixed.stderr
    assert list((data / "secrets").glob(f"{name}.damaged-*"))  # set aside, not destroyed
    assert _mode(data / "secrets" / "secret.key") == 0o600
    again = cli("generate", "-p", "a mended vase", "-n", "1", "-d", str(tmp_path / "out"), env=NO_KEYRING)
    assert len(_ok(again).splitlines()) == 1
    assert line not in again.stderr


# --- eight sign-ins at once --------------------------------------------------------------------------------

@pytest.mark.fault_case("secrets: eight logins at once on a fresh folder without a keyring")
def test_eight_logins_at_once_all_succeed_and_every_cookie_is_kept(cli: Run, cli_env: dict[str, str],
                                                                   standin: StandInServer, db_url: str) -> None:
    accounts = [(f"eight-{i}-session-value", f"eight{i}@example.com") for i in range(8)]
    for token, email in accounts:
        standin.add_account(token, email, email.split("@")[0])

    def login(token: str) -> subprocess.CompletedProcess[str]:
        return cli("login", "--cookie-file", _cookie_file(cli_env, token), env=NO_KEYRING)

    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(login, [t for t, _ in accounts]))
    for done in runs:
        _ok(done)
        assert "Signed in as" in done.stdout
    secrets_dir = Path(cli_env["IMAGEFX_DATA_DIR"]) / "secrets"
    store = SecretStore(Path(cli_env["IMAGEFX_DATA_DIR"]), use_keyring=False)
    assert store.damage() is None
    for token, email in accounts:
        assert store.load_cookie(email) == f"__Secure-next-auth.session-token={token}", email
    assert sorted(p.name for p in secrets_dir.iterdir()) == [".lock", "secret.key", "vault.json"]
    assert all(_mode(p) == 0o600 for p in secrets_dir.iterdir()) and _mode(secrets_dir) == 0o700
    stored = dict(rows(db_url, "SELECT email, google_cookie IS NOT NULL FROM users"))
    assert stored == {email: True for _, email in accounts}


def _cookie_file(cli_env: dict[str, str], token: str) -> str:
    path = Path(cli_env["HOME"]) / f"{token}.txt"
    path.write_text(f"__Secure-next-auth.session-token={token}\n")
    return str(path)


# --- cookie files that are not UTF-8 text -------------------------------------------------------------------

@pytest.mark.parametrize(("content", "says"), [
    (b"__Secure-next-auth.session-token=caf\xe9-latin-1", "not UTF-8 text (byte 0xE9"),
    (bytes(range(256)) * 8, "binary file"),
], ids=["latin-1", "binary"])
@pytest.mark.fault_case("bad input: cookie file that is not UTF-8 text")
def test_a_cookie_file_that_is_not_text_is_a_sentence(cli: Run, tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "cookie.txt"
    path.write_bytes(content)
    one_line_error(cli("login", "--file", str(path)), 2, str(path), says)


def test_a_utf16_cookie_file_with_a_bom_is_read(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "cookie-notepad.txt"
    path.write_bytes(DEMO_COOKIE.encode("utf-16"))  # what Windows Notepad saves as "Unicode"
    assert "Signed in as" in _ok(cli("login", "--cookie-file", str(path)))


# --- an unwritable data folder ---------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("runuser"),
                    reason="needs root to run the CLI as another user (runuser)")
@pytest.mark.fault_case("secrets: login on a data folder the user cannot write")
def test_login_on_an_unwritable_data_folder_says_so(cli_env: dict[str, str], db_url: str,
                                                   server_reachable_dir: Path) -> None:
    if subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "import core.cli"],
                      cwd=ROOT, env={**cli_env, "PYTHONPATH": str(ROOT)}, capture_output=True).returncode:
        pytest.skip("user nobody cannot run this checkout's Python")
    server_reachable_dir.chmod(0o755)
    data = server_reachable_dir / "root-owned-data"  # nobody may look in, not write
    data.mkdir(mode=0o755)
    env = {**cli_env, **NO_KEYRING, "IMAGEFX_DATA_DIR": str(data), "GOOGLE_COOKIE": DEMO_COOKIE,
           "HOME": str(server_reachable_dir)}
    done = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, str(ROOT / "main.py"), "login"],
                          env=env, capture_output=True, text=True, timeout=60, cwd="/")
    line = one_line_error(done, 3, str(data / "secrets"), "cannot be created", "permission denied")
    assert "Unexpected" not in line and "OSError" not in line
