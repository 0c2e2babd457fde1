"""Every kind of failure, end to end through ``python main.py``: the documented exit code and
one sentence on stderr, never a traceback.

Exit codes: 2 usage, 3 not signed in / cookie invalid, 4 safety filter, 5 network or server,
6 database.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.cli import COOKIE_ON_COMMAND_LINE
from core.standin import DEMO_COOKIE, StandInServer
from tests.support.net import closed_port, closed_url

Run = Callable[..., subprocess.CompletedProcess[str]]


def failed(done: subprocess.CompletedProcess[str], code: int, *phrases: str) -> str:
    """The single stderr line of a run that failed with ``code`` and says ``phrases``."""
    # The warning that --cookie VALUE is visible to other users is not the error (tests/e2e/test_cli_input.py).
    lines = [line for line in done.stderr.splitlines() if line.strip() and line != COOKIE_ON_COMMAND_LINE]
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, lines
    for phrase in phrases:
        assert phrase.lower() in lines[0].lower(), lines[0]
    return lines[0]


def generate(cli: Run, tmp_path: Path, *extra: str, cookie: str | None = DEMO_COOKIE,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = ["generate", "-p", "a quiet lake", "-n", "2", "-d", str(tmp_path / "out"), *extra]
    if cookie is not None:
        args += ["-c", cookie]
    return cli(*args, env=env)


# --- 3: not signed in, or the cookie no longer works -----------------------------------------------

@pytest.mark.fault_case("network: CLI not signed in")
def test_not_signed_in(cli: Run, tmp_path: Path) -> None:
    failed(generate(cli, tmp_path, cookie=None), 3, "not signed in", "login")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("fault, phrase", [
    ("empty_session", "not a signed-in labs.google session"),
    ("refresh_needed", "can no longer create access tokens"),
    ("unauthorized", "rejected the cookie"),
    ("forbidden", "rejected the cookie"),
], ids=["200-empty", "refresh-needed", "401", "403"])
@pytest.mark.fault_case("network: CLI dead session")
def test_each_form_of_a_dead_session(cli: Run, standin: StandInServer, tmp_path: Path, fault: str,
                                     phrase: str) -> None:
    standin.fail("session", fault)
    failed(generate(cli, tmp_path), 3, phrase)


@pytest.mark.fault_case("network: CLI cookie expired mid-session (401 after a good session)")
def test_a_token_the_api_keeps_rejecting(cli: Run, standin: StandInServer, tmp_path: Path) -> None:
    standin.fail("generate", "unauthorized", times=2)  # refreshed once, rejected again
    failed(generate(cli, tmp_path), 3, "no longer accepts your sign-in")


@pytest.mark.fault_case("security: no cookie in CLI output (revoked cookie at login)")
def test_a_revoked_cookie_at_login(cli: Run, standin: StandInServer) -> None:
    standin.add_account("soon-revoked-session", "revoked@example.com", "Revoked")
    standin.revoke("soon-revoked-session")
    line = failed(cli("login", "--cookie", "__Secure-next-auth.session-token=soon-revoked-session"), 3,
                  "rejected the cookie")
    assert "soon-revoked-session" not in line


@pytest.mark.parametrize("cookie, phrase", [
    ("just some words", "not a list of name=value pairs"),
    ("_ga=GA1.1.1; NID=abc", "__Secure-next-auth.session-token"),
], ids=["not-a-cookie", "missing-session-cookie"])
@pytest.mark.fault_case("bad input: unusable cookie (CLI)")
def test_a_cookie_that_is_not_usable(cli: Run, tmp_path: Path, cookie: str, phrase: str) -> None:
    failed(generate(cli, tmp_path, cookie=cookie), 3, phrase)


# --- 4: the safety filter ----------------------------------------------------------------------------

@pytest.mark.fault_case("network: CLI safety refusal")
def test_safety_refusal(cli: Run, standin: StandInServer, tmp_path: Path) -> None:
    before = standin.calls["generate"]
    done = cli("generate", "-p", "something forbidden", "-d", str(tmp_path), "-c", DEMO_COOKIE)
    failed(done, 4, "safety filter", "reword")
    assert standin.calls["generate"] == before + 1  # not retried


# --- 5: network and server ------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint, fault, params, phrases", [
    ("generate", "rate_limit", {"retry_after": 120}, ["rate limiting", "2 minutes"]),
    ("generate", "server_error", {"status": 503}, ["server error (HTTP 503)"]),
    ("generate", "html", {}, ["unexpected format"]),
    ("generate", "no_panels", {}, ["unexpected format"]),
], ids=["rate-limit", "server-error", "html", "no-panels"])
@pytest.mark.fault_case("network: CLI")
def test_service_failures(cli: Run, standin: StandInServer, tmp_path: Path, endpoint: str, fault: str,
                          params: dict[str, Any], phrases: list[str]) -> None:
    standin.fail(endpoint, fault, times=5, **params)
    failed(generate(cli, tmp_path, "-r", "0"), 5, *phrases)


@pytest.mark.fault_case("network: CLI connection refused")
def test_network_unreachable(cli: Run, tmp_path: Path) -> None:
    done = generate(cli, tmp_path, "-r", "0", env={"IMAGEFX_API_URL": closed_url()})
    failed(done, 5, "refused the connection")


@pytest.mark.fault_case("network: CLI no answer (timeout)")
def test_timeout(cli: Run, standin: StandInServer, tmp_path: Path) -> None:
    standin.fail("generate", "hang", times=3, seconds=10)
    failed(generate(cli, tmp_path, env={"IMAGEFX_TIMEOUT": "1"}), 5, "did not answer in time")


# --- 6: the database ----------------------------------------------------------------------------------

def _dead_database() -> dict[str, str]:
    return {"DATABASE_URL": f"postgresql://imagefx:db-secret-pw-99@127.0.0.1:{closed_port()}/imagefx_db"}


@pytest.mark.fault_case("database: unreachable at start (CLI says so)")
def test_database_down_for_history(cli: Run) -> None:
    line = failed(cli("history", env=_dead_database()), 6, "cannot be reached")
    assert "db-secret-pw-99" not in line


def test_a_server_without_the_user_says_so_not_unreachable(cli: Run, db_url: str) -> None:
    """The server answers, but refuses the role: "cannot be reached, check that it is running" sent
    the user to look at a server that was running all along."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url).set(username="no_such_role_here", password="db-secret-pw-77")
    line = failed(cli("history", env={"DATABASE_URL": url.render_as_string(hide_password=False)}), 6,
                  "no user by the name")
    assert "cannot be reached" not in line and "db-secret-pw-77" not in line


@pytest.mark.fault_case("database: unreachable at start, spooled for its own database (CLI)")
def test_database_down_while_generating_keeps_the_images(cli: Run, tmp_path: Path) -> None:
    done = generate(cli, tmp_path, env=_dead_database())
    assert done.returncode == 6, done.stderr
    assert "Traceback" not in done.stderr and "db-secret-pw-99" not in done.stderr
    assert "spool" in done.stderr
    saved = [Path(line) for line in done.stdout.splitlines()]
    assert len(saved) == 2 and all(p.is_file() and p.parent == tmp_path / "out" for p in saved)
    assert len(list((tmp_path / "cli-data" / "spool").glob("*.json"))) == 1

    # The entry waits for its own database: another one that works does not get it (issue 13)...
    back = cli("generate", "-p", "the lake again", "-n", "1", "-d", str(tmp_path / "out"), "-c", DEMO_COOKIE)
    assert back.returncode == 0, back.stderr
    assert len(list((tmp_path / "cli-data" / "spool").glob("*.json"))) == 1
    history = cli("history").stdout
    assert "a quiet lake" not in history and "the lake again" in history
    listed = cli("maintenance", "spool")
    assert listed.returncode == 0, listed.stderr
    assert "waiting for another database: postgresql://imagefx@127.0.0.1:" in listed.stdout
    assert "db-secret-pw-99" not in listed.stdout + listed.stderr
    assert "1 waiting for another one" in listed.stdout
    # ...unless the user says to store it here.
    moved = cli("maintenance", "spool", "--store-here")
    assert moved.returncode == 0 and "Stored 2 image(s)" in moved.stdout, moved
    assert list((tmp_path / "cli-data" / "spool").glob("*.json")) == []
    assert "a quiet lake" in cli("history").stdout


@pytest.mark.fault_case("database: embedded server cannot start (CLI)")
def test_an_embedded_database_that_cannot_start_still_keeps_the_images(cli: Run, tmp_path: Path) -> None:
    pgdata = tmp_path / "cli-data" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "stray.txt").write_text("initdb refuses a directory that is not empty")
    done = generate(cli, tmp_path, env={"DATABASE_URL": ""})
    assert done.returncode == 6, done.stderr
    assert "Traceback" not in done.stderr and "Unexpected error" not in done.stderr
    assert "embedded database could not start" in done.stderr and "spool" in done.stderr
    assert len([p for p in (tmp_path / "out").iterdir() if p.suffix == ".png"]) == 2
    assert len(list((tmp_path / "cli-data" / "spool").glob("*.json"))) == 1


# --- 2: bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, phrase", [
    (["-n", "0"], "out of range"),
    (["-n", "9"], "out of range"),
    (["--size", "HUGE"], "unknown size"),
    (["-s", "-1"], "out of range"),
    (["-n", "many"], "not a whole number"),
], ids=["count-0", "count-9", "unknown-size", "negative-seed", "count-not-a-number"])
@pytest.mark.fault_case("bad input: CLI arguments out of range")
def test_bad_arguments(cli: Run, tmp_path: Path, args: list[str], phrase: str) -> None:
    done = cli("generate", "-p", "a cat", "-d", str(tmp_path), *args)
    failed(done, 2, phrase)
    assert done.stdout == ""


@pytest.mark.fault_case("bad input: text file named .png (CLI)")
def test_a_text_file_named_png_is_not_captioned(cli: Run, tmp_path: Path) -> None:
    fake = tmp_path / "photo.png"
    fake.write_text("not a picture")
    failed(cli("caption", "-i", str(fake), "-c", DEMO_COOKIE), 2, "not an image")
