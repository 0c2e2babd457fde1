"""``python main.py …`` as a user runs it: a real process, the stand-in over HTTP, a real
PostgreSQL (server mode by DATABASE_URL or DB_* variables, and the embedded server), and a
file keyring in a temporary home.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.export import read_parameters
from core.imagemeta import strip_text
from core.images import sniff
from core.service import Service
from core.standin import DEMO_COOKIE, DEMO_EMAIL, DEMO_NAME, StandInServer
from tests.support.dbcheck import counts, rows, scalar
from tests.support.pg import TcpPostgres, create_database, drop_database

Run = Callable[..., subprocess.CompletedProcess[str]]
BOTH_SERVERS = pytest.mark.parametrize("admin_url", ["own", "env"], indirect=True)


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    """stdout lines of a run that must have succeeded."""
    if done.returncode != 0:
        pytest.fail(f"{done.args[2:]} exited {done.returncode}:\n{done.stderr}", pytrace=False)
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def add_account(standin: StandInServer, tag: str) -> tuple[str, str]:
    email = f"{tag}@example.com"
    standin.add_account(f"{tag}-session-value", email, tag.title())
    return email, f"__Secure-next-auth.session-token={tag}-session-value"


# --- generate, fetch, caption ------------------------------------------------------------------------

@BOTH_SERVERS
def test_generate_saves_the_images_into_dir_prints_their_paths_and_stores_them(
        cli: Run, tmp_path: Path, db_url: str) -> None:
    out = tmp_path / "not" / "yet" / "there"
    lines = ok(cli("generate", "-p", "a purple cat in a teacup", "-n", "3", "-s", "7", "--size", "SQUARE",
                   "-d", str(out), "-c", DEMO_COOKIE))
    paths = [Path(line) for line in lines]
    assert len(paths) == 3 and set(paths) == set(out.iterdir())
    for p in paths:
        assert p.suffix == ".png" and sniff(p.read_bytes()).kind == "png"  # type: ignore[union-attr]
    assert rows(db_url, "SELECT prompt_text, seed, number_of_images, aspect_ratio FROM prompts") == [
        ("a purple cat in a teacup", 7, 3, "IMAGE_ASPECT_RATIO_SQUARE")]
    stored = sorted(base64.b64decode(e) for (e,) in rows(db_url, "SELECT encoded_image FROM generated_images"))
    # the files are the stored images with their parameters inside (core.export: one writer)
    assert stored == sorted(strip_text(p.read_bytes()) for p in paths)
    assert {read_parameters(p).seed for p in paths} == {s for (s,) in rows(db_url, "SELECT seed FROM generated_images")}
    assert counts(db_url)["image_thumbnails"] == 3


def test_generate_names_each_file_by_the_format_of_its_bytes(cli: Run, standin: StandInServer, tmp_path: Path,
                                                            db_url: str) -> None:
    standin.image_format = "JPEG"
    [line] = ok(cli("generate", "-p", "a jpeg sunset", "-n", "1", "-d", str(tmp_path), "-c", DEMO_COOKIE))
    assert line.endswith(".jpg") and Path(line).read_bytes()[:3] == b"\xff\xd8\xff"
    assert scalar(db_url, "SELECT mime_type FROM generated_images") == "image/jpeg"


@BOTH_SERVERS
def test_fetch_saves_the_image_by_media_id_and_stores_it(cli: Run, standin: StandInServer, tmp_path: Path,
                                                         db_url: str) -> None:
    [media_id] = standin.seed_library(DEMO_EMAIL, 1, ["a fetched lighthouse"])
    [line] = ok(cli("fetch", media_id, "-d", str(tmp_path / "got"), "-c", DEMO_COOKIE))
    assert Path(line).parent == tmp_path / "got" and strip_text(Path(line).read_bytes()) == standin.render(media_id)
    assert read_parameters(Path(line)).prompt.startswith("a fetched lighthouse")  # named and described as Export does
    assert "a-fetched-lighthouse" in Path(line).name
    assert rows(db_url, "SELECT media_generation_id, source FROM generated_images") == [(media_id, "fetch")]


def test_caption_prints_one_caption_per_line_and_stores_them(cli: Run, tmp_path: Path, db_url: str) -> None:
    picture = tmp_path / "picture.jpg"
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (250, 200, 20)).save(out, "JPEG")
    picture.write_bytes(out.getvalue())
    lines = ok(cli("caption", "-i", str(picture), "-n", "2", "-c", DEMO_COOKIE))
    assert len(lines) == 2 and all(line.strip() == line and line for line in lines)
    assert rows(db_url, "SELECT caption_text, image_type FROM image_captions ORDER BY id") == [
        (line, "jpeg") for line in lines]


# --- history -------------------------------------------------------------------------------------

@pytest.fixture
def history_db(signed_in: Service, standin: StandInServer) -> Iterator[None]:
    """Three generations in the CLI's database: fox (demo), cat (other), fox again (demo), oldest first."""
    from core.imagefx import GenerationRequest

    signed_in.generate(GenerationRequest("a red fox in snow", count=1))
    _, other_cookie = add_account(standin, "other")
    signed_in.sign_in(other_cookie)
    signed_in.generate(GenerationRequest("a cat on a windowsill", count=2))
    signed_in.switch_account(DEMO_EMAIL)
    signed_in.generate(GenerationRequest("a grey fox at night", count=1))
    yield


@BOTH_SERVERS
def test_history_needs_no_cookie_and_lists_newest_first(cli: Run, history_db: None) -> None:
    lines = ok(cli("history"))  # a fresh home: no keyring entry, no GOOGLE_COOKIE
    assert [line.rsplit("  ", 1)[1] for line in lines] == [
        "a grey fox at night", "a cat on a windowsill", "a red fox in snow"]
    assert "2 img" in lines[1] and "other@example.com" in lines[1]


@BOTH_SERVERS
def test_history_as_json(cli: Run, history_db: None, db_url: str) -> None:
    data = json.loads(cli("history", "--json").stdout)
    assert [(d["prompt"], d["user_email"], d["image_count"]) for d in data] == [
        ("a grey fox at night", DEMO_EMAIL, 1), ("a cat on a windowsill", "other@example.com", 2),
        ("a red fox in snow", DEMO_EMAIL, 1)]
    assert {m for d in data for m in d["media_ids"]} == {
        m for (m,) in rows(db_url, "SELECT media_generation_id FROM generated_images")}


@pytest.mark.parametrize("args, expected", [
    (["--user", "other@example.com"], ["a cat on a windowsill"]),
    (["--search", "fox"], ["a grey fox at night", "a red fox in snow"]),
    (["--limit", "1"], ["a grey fox at night"]),
], ids=["user", "search", "limit"])
def test_history_filters(cli: Run, history_db: None, args: list[str], expected: list[str]) -> None:
    done = cli("history", "--json", *args)
    ok(done)
    assert [d["prompt"] for d in json.loads(done.stdout)] == expected


# --- signing in and out ----------------------------------------------------------------------------

def _cookie_editor_json() -> str:
    return json.dumps([{"name": n, "value": v, "domain": ".labs.google"}
                       for n, v in (p.split("=", 1) for p in DEMO_COOKIE.split("; "))])


def _cookies_txt() -> str:
    return "# Netscape HTTP Cookie File\n" + "".join(
        f".labs.google\tTRUE\t/\tTRUE\t1893456000\t{n}\t{v}\n"
        for n, v in (p.split("=", 1) for p in DEMO_COOKIE.split("; ")))


def test_login_then_commands_use_the_stored_cookie(cli: Run, tmp_path: Path) -> None:
    assert ok(cli("login", "--cookie", DEMO_COOKIE)) == [f"Signed in as {DEMO_NAME} <{DEMO_EMAIL}>."]
    assert len(ok(cli("generate", "-p", "after login", "-n", "1", "-d", str(tmp_path / "out")))) == 1


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_login_reads_a_cookie_file_or_standard_input(cli: Run, tmp_path: Path, db_url: str, how: str) -> None:
    if how == "file":
        path = tmp_path / "cookies.json"
        path.write_text(_cookie_editor_json())
        done = cli("login", "--file", str(path))
    else:
        done = cli("login", input=_cookies_txt())
    assert ok(done) == [f"Signed in as {DEMO_NAME} <{DEMO_EMAIL}>."]
    assert rows(db_url, "SELECT email, google_cookie IS NOT NULL FROM users") == [(DEMO_EMAIL, True)]


def test_logout_forgets_the_cookie(cli: Run, tmp_path: Path, db_url: str) -> None:
    ok(cli("login", "--cookie", DEMO_COOKIE))
    assert scalar(db_url, "SELECT google_cookie FROM users") is not None
    assert "Signed out demo@imagefx.local" in ok(cli("logout"))[0]
    assert scalar(db_url, "SELECT google_cookie FROM users") is None
    after = cli("generate", "-p", "after logout", "-n", "1", "-d", str(tmp_path))
    assert after.returncode == 3 and "not signed in" in after.stderr


def test_the_cookie_comes_from_the_flag_then_google_cookie_then_the_keyring(
        cli: Run, standin: StandInServer, tmp_path: Path, db_url: str) -> None:
    stored_email, stored_cookie = add_account(standin, "keyring")
    env_email, env_cookie = add_account(standin, "envvar")
    flag_email, flag_cookie = add_account(standin, "flag")
    ok(cli("login", "--cookie", stored_cookie))
    out = str(tmp_path / "out")
    ok(cli("generate", "-p", "from the keyring", "-n", "1", "-d", out))
    ok(cli("generate", "-p", "from GOOGLE_COOKIE", "-n", "1", "-d", out, env={"GOOGLE_COOKIE": env_cookie}))
    ok(cli("generate", "-p", "from --cookie", "-n", "1", "-d", out, "-c", flag_cookie,
           env={"GOOGLE_COOKIE": env_cookie}))
    owners = dict(rows(db_url, "SELECT p.prompt_text, u.email FROM prompts p JOIN users u ON u.id = p.user_id"))
    assert owners == {"from the keyring": stored_email, "from GOOGLE_COOKIE": env_email, "from --cookie": flag_email}


@pytest.mark.fault_case("security: key file without a keyring is 0600 (CLI)")
def test_without_a_keyring_login_works_and_says_where_the_cookie_is_kept(cli: Run, tmp_path: Path) -> None:
    done = cli("login", "--cookie", DEMO_COOKIE, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert ok(done) == [f"Signed in as {DEMO_NAME} <{DEMO_EMAIL}>."]
    assert "No system keyring was found" in done.stderr
    key = tmp_path / "cli-data" / "secrets" / "secret.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    again = cli("generate", "-p", "no keyring", "-n", "1", "-d", str(tmp_path / "out"),
                env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert len(ok(again)) == 1


# --- where the database is -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def password_server() -> Iterator[TcpPostgres]:
    server = TcpPostgres(password="s3cret-db-pw-4711").start()
    yield server
    server.stop()


@pytest.mark.fault_case("security: wrong database password never printed")
def test_server_mode_from_db_host_port_name_user_password(cli: Run, password_server: TcpPostgres,
                                                          tmp_path: Path) -> None:
    name, url = create_database(password_server.url())
    env = {"DATABASE_URL": "", "DB_HOST": "127.0.0.1", "DB_PORT": str(password_server.port), "DB_NAME": name,
           "DB_USER": "postgres", "DB_PASSWORD": password_server.password or ""}
    try:
        ok(cli("generate", "-p", "stored by parts", "-n", "1", "-d", str(tmp_path), "-c", DEMO_COOKIE, env=env))
        assert scalar(url, "SELECT prompt_text FROM prompts") == "stored by parts"

        wrong = cli("history", env={**env, "DB_PASSWORD": "not-the-password-0815"})
        assert wrong.returncode == 6 and "user name or password" in wrong.stderr
        assert "not-the-password-0815" not in wrong.stdout + wrong.stderr
    finally:
        drop_database(password_server.url(), name)


def test_database_url_wins_over_the_parts(cli: Run, tmp_path: Path, db_url: str) -> None:
    env = {"DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_NAME": "nowhere"}  # DATABASE_URL (the fixture's) is set too
    ok(cli("generate", "-p", "stored by url", "-n", "1", "-d", str(tmp_path), "-c", DEMO_COOKIE, env=env))
    assert scalar(db_url, "SELECT prompt_text FROM prompts") == "stored by url"


def test_embedded_mode_keeps_history_in_the_data_dir_and_leaves_no_server(cli: Run, tmp_path: Path,
                                                                          server_reachable_dir: Path) -> None:
    from tests.core.test_embedded import postmasters, wait_until_gone

    data_dir = server_reachable_dir / "cli-data"
    env = {"DATABASE_URL": "", "IMAGEFX_DATA_DIR": str(data_dir)}
    ok(cli("generate", "-p", "stored in the embedded server", "-n", "2", "-d", str(tmp_path / "out"),
           "-c", DEMO_COOKIE, env=env))
    lines = ok(cli("history", env=env))
    assert len(lines) == 1 and lines[0].endswith("stored in the embedded server") and "2 img" in lines[0]
    pgdata = data_dir / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert wait_until_gone(pgdata) == [] and postmasters(pgdata) == []


@pytest.mark.fault_case("security: LOG_QUERIES prints no values (CLI)")
def test_log_queries_prints_statements_with_durations_and_no_values(cli: Run, history_db: None) -> None:
    done = cli("history", "--search", "windowsill", env={"LOG_QUERIES": "true"})
    sql = [line for line in done.stderr.splitlines() if line.startswith("SQL ")]
    assert ok(done) and sql and all(" ms  " in line for line in sql)
    assert not any("windowsill" in line for line in sql)


@pytest.mark.fault_case("security: no cookie or token in CLI output or log file")
def test_verbose_output_and_the_log_file_never_show_the_cookie_or_token(cli: Run, standin: StandInServer,
                                                                        tmp_path: Path) -> None:
    _, cookie = add_account(standin, "verbose")
    secret = cookie.split("=", 1)[1]
    runs = [cli("-v", "login", "--cookie", cookie),
            cli("-v", "generate", "-p", "a verbose cat", "-n", "1", "-d", str(tmp_path / "out")),
            cli("-v", "generate", "-p", "x", "-n", "1", "-d", str(tmp_path), "-c", cookie + "; broken")]
    standin.revoke(f"{secret}")
    runs.append(cli("-v", "generate", "-p", "revoked", "-n", "1", "-d", str(tmp_path)))
    assert [r.returncode for r in runs] == [0, 0, 3, 3]
    assert any("DEBUG" in r.stderr for r in runs)
    logs = "".join(p.read_text() for p in (tmp_path / "cli-data" / "logs").glob("*.log*"))
    for text in [r.stdout + r.stderr for r in runs] + [logs]:
        assert secret not in text and "ya29.standin-" not in text
