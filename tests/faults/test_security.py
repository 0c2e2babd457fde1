"""Security: no cookie or token at rest in the database or the data folder, TLS to a remote
server (require, verify-full), no password in logs or output, parameterised SQL.

Already covered elsewhere, and marked there: users.google_cookie is Fernet ciphertext that
only the keyring's key opens and sessions.access_token a hash (tests/core/test_secrets.py),
the 0600 key file without a keyring (tests/core/test_secrets.py, tests/e2e/test_cli.py),
no cookie or token in log records, exception texts or CLI output (tests/core/test_redaction.py,
tests/e2e/test_cli.py, tests/e2e/test_cli_errors.py). The suite-wide log scan in
tests/support/fault_suite.py checks every log record of the whole run besides.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from core.config import Settings
from core.imagefx import GenerationRequest
from core.service import Service
from core.service.service import check_database
from core.standin import StandInServer
from core.store import Database, DatabaseError, DatabaseUnavailable
from core.store.backup import pg_tool
from tests.faults.conftest import Account, one_line_error
from tests.support.dbcheck import rows, scalar
from tests.support.pg import TcpPostgres, create_database, drop_database, system_pg_bin

Run = Callable[..., subprocess.CompletedProcess[str]]
DB_PASSWORD = "tls-Secret-pw-5150"


def _png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 20)).save(out, "PNG")
    return out.getvalue()


# --- nothing secret at rest -------------------------------------------------------------------------

@pytest.mark.fault_case("security: no cookie or token anywhere in the database or the data folder")
def test_no_cookie_or_token_at_rest(make_service: Callable[..., Service], account: Account, standin: StandInServer,
                                    db_url: str, data_dir: Path, tmp_path: Path) -> None:
    svc = make_service()
    svc.sign_in(account.cookie)
    standin.rotate_cookie = True
    svc.client().fetch_session()  # labs.google rotates the cookie: the new value is a secret too
    standin.rotate_cookie = False
    result = svc.generate(GenerationRequest("a safe at rest", count=2))
    svc.fetch(result.record.images[0].media_id)
    svc.caption_bytes(_png(), "picture.png", count=1)
    svc.delete_expired_sessions()
    svc.spool.put(result.generation)  # a spool entry on disk as well
    client = svc.client()
    secrets = {account.session_token, client.cookie.split("=", 1)[1].split(";")[0], client.session().access_token}
    assert len(secrets) == 3

    dump = subprocess.run([pg_tool("pg_dump"), "--data-only", "--dbname", db_url], capture_output=True, text=True,
                          timeout=60)
    assert dump.returncode == 0, dump.stderr
    assert "a safe at rest" in dump.stdout  # the dump is real and complete
    for secret in secrets:
        assert secret not in dump.stdout
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.parent.name == "spool" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path


# --- TLS to a remote server ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_pg() -> Iterator[TcpPostgres]:
    """A password-protected server that speaks TLS with a self-signed certificate for 127.0.0.1.

    The embedded wheel's PostgreSQL is built without SSL, so this is Debian's (``postgresql``)."""
    bin_dir = system_pg_bin()
    if bin_dir is None or shutil.which("openssl") is None:
        pytest.skip("TLS needs a PostgreSQL built with SSL (Debian postgresql) and openssl; the embedded "
                    "wheel's server has no SSL")
    pg = TcpPostgres(password=DB_PASSWORD, ssl=True, bin_dir=bin_dir).start()
    yield pg
    pg.stop()


@pytest.fixture
def tls_db(tls_pg: TcpPostgres) -> Iterator[str]:
    name, _ = create_database(tls_pg.url())
    yield name
    drop_database(tls_pg.url(), name)


def _server(settings: Settings, pg: TcpPostgres, name: str, **db: str) -> Settings:
    return settings.with_overrides(database=replace(
        settings.database, mode="server", host="127.0.0.1", port=pg.port, name=name, user="postgres",
        password=DB_PASSWORD, **db))


@pytest.mark.fault_case("security: sslmode=require connects over TLS")
def test_sslmode_require_connects_over_tls(settings: Settings, tls_pg: TcpPostgres, tls_db: str, account: Account,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = _server(settings, tls_pg, tls_db, sslmode="require").with_overrides(log_queries=True)
    svc = Service(s, cookie=account.cookie).open()
    try:
        with svc.db.session() as session:
            assert session.execute(sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar()
        assert svc.generate(GenerationRequest("sent over TLS", count=1)).record.images
    finally:
        svc.close()
    assert DB_PASSWORD not in caplog.text
    assert DB_PASSWORD not in s.database.describe()


@pytest.mark.fault_case("security: sslmode=verify-full checks the certificate")
@pytest.mark.parametrize("root_cert, host, says", [
    ("none", "127.0.0.1", "none was given"),
    ("other", "127.0.0.1", "not signed by the given CA certificate"),
    ("server", "localhost", "not made for that host name"),
    ("server", "127.0.0.1", ""),
], ids=["no-root-cert", "wrong-root-cert", "wrong-host-name", "right-root-cert"])
def test_verify_full_checks_the_servers_certificate(settings: Settings, tls_pg: TcpPostgres, tls_db: str,
                                                    tmp_path: Path, root_cert: str, host: str, says: str) -> None:
    cert = ""
    if root_cert == "server":
        cert = str(tmp_path / "ca.crt")
        shutil.copy(tls_pg.data / "server.crt", cert)
    elif root_cert == "other":
        cert = str(tmp_path / "other.crt")
        subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=some other CA",
                        "-keyout", str(tmp_path / "other.key"), "-out", cert], check=True, capture_output=True)
    s = _server(settings, tls_pg, tls_db, sslmode="verify-full", sslrootcert=cert)
    s = s.with_overrides(database=replace(s.database, host=host))
    if not says:
        assert check_database(s)  # the server's version: connected, certificate and name checked
        return
    with pytest.raises(DatabaseError) as info:
        check_database(s)
    err = info.value
    assert says in err.user_message and "CA certificate" in err.action
    assert not isinstance(err, DatabaseUnavailable)  # not "down": retrying will not help
    assert DB_PASSWORD not in str(err) and "\n" not in str(err)
    db = Database(s)  # the app's own connect says the same
    with pytest.raises(DatabaseError, match=says):
        db.connect()
    db.close()


@pytest.mark.fault_case("security: the database password never reaches logs or output")
def test_the_password_is_never_logged_or_printed(cli: Run, tls_pg: TcpPostgres, tls_db: str, tmp_path: Path,
                                                 demo_cookie: str) -> None:
    env = {"DATABASE_URL": "", "DB_HOST": "127.0.0.1", "DB_PORT": str(tls_pg.port), "DB_NAME": tls_db,
           "DB_USER": "postgres", "DB_PASSWORD": DB_PASSWORD, "DB_SSLMODE": "require", "LOG_QUERIES": "true"}
    runs = [cli("-v", "generate", "-p", "a password-free log", "-n", "1", "-d", str(tmp_path / "out"),
                "-c", demo_cookie, env=env),
            cli("-v", "maintenance", "backup", "-o", str(tmp_path / "b.sql"), env=env)]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-500:] for r in runs]
    assert any("SQL " in r.stderr for r in runs) and any("DEBUG" in r.stderr for r in runs)
    wrong = cli("history", env={**env, "DB_PASSWORD": "not-the-Secret-0815"})
    one_line_error(wrong, 6, "user name or password")
    url = f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{tls_pg.port}/nowhere_db?sslmode=require"
    missing = cli("history", env={"DATABASE_URL": url})
    one_line_error(missing, 6, "does not exist")
    logs = "".join(p.read_text() for p in (tmp_path / "cli-data" / "logs").glob("*.log*"))
    for text in [r.stdout + r.stderr for r in [*runs, wrong, missing]] + [logs]:
        assert DB_PASSWORD not in text and "not-the-Secret-0815" not in text
    assert "a password-free log" in (tmp_path / "b.sql").read_text()


# --- parameterised SQL ----------------------------------------------------------------------------------

HOSTILE = [
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE prompts;--",
    "a \"quoted\" 'single' `back` cat",
    "100% _under_ \\back\\slash cat",
    "cat' OR '1'='1",
    "$$; DELETE FROM generated_images; $$",
    "E'\\x27' || chr(39) ; SELECT pg_sleep(5); --",
]


@pytest.mark.fault_case("security: all SQL parameterised (prompts full of quotes and DROP TABLE)")
def test_hostile_prompts_are_stored_and_searched_as_text(module_service: Service, module_db: str) -> None:
    svc = module_service
    tables = scalar(module_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    for prompt in HOSTILE:
        record = svc.generate(GenerationRequest(prompt, count=1)).record
        assert scalar(module_db, "SELECT prompt_text FROM prompts WHERE id = %s", (record.prompt_id,)) == prompt
    for prompt in HOSTILE:
        assert [r.prompt for r in svc.history(search=prompt, limit=50)] == [prompt], prompt
        page = svc.gallery_page(search=prompt)
        assert [i.prompt for i in page] == [prompt]
        assert svc.count_images(search=prompt) == 1
    svc.caption_bytes(_png(), HOSTILE[0] + ".png", count=1)
    assert [c.image_path for c in svc.caption_history(search=HOSTILE[0])] == [HOSTILE[0] + ".png"]
    assert svc.history(search="' OR 1=1 --; DROP") == []  # words and a substring, never SQL
    assert scalar(module_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == tables
    assert rows(module_db, "SELECT count(*) FROM users") == [(1,)]
