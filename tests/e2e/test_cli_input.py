"""Issue 13 §3, the CLI's input truths, through real ``main.py`` processes: a cookie pasted on a
terminal (a pseudo-terminal here), the cookie kept off the command line (and hidden in
/proc/PID/cmdline when given there anyway), options people pass everywhere, unknown accounts,
"false" in the settings file, and --help/README documenting exit codes and the environment.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.cli import COOKIE_ON_COMMAND_LINE, ENVIRONMENT, EXIT_CODES, build_parser
from core.standin import DEMO_COOKIE, DEMO_EMAIL, DEMO_SESSION_TOKEN, StandInServer
from tests.support.dbcheck import rows

Run = Callable[..., subprocess.CompletedProcess[str]]
ROOT = Path(__file__).resolve().parents[2]


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, (done.args[2:], done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


# --- login on a terminal --------------------------------------------------------------------------------

def _login_on_a_terminal(cli_env: dict[str, str], typed: bytes) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """``login`` with a pseudo-terminal as standard input; ``typed`` goes in once it asks. Returns the
    run and everything the terminal showed (an echo would appear there)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "login"], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env, cwd=cli_env["HOME"])
    os.close(slave)
    stderr = b""
    deadline = time.monotonic() + 30
    while b"Paste the labs.google cookie" not in stderr and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        if ready:
            stderr += os.read(proc.stderr.fileno(), 4096)  # type: ignore[union-attr]
    assert b"Paste the labs.google cookie" in stderr, stderr
    view = b""
    for i in range(0, len(typed), 1000):  # a paste arrives in pieces; the pty buffer holds 4 KB
        os.write(master, typed[i:i + 1000])
        while select.select([master], [], [], 0)[0]:
            view += os.read(master, 65536)
    out, err = proc.communicate(timeout=60)
    while select.select([master], [], [], 0.2)[0]:
        try:
            view += os.read(master, 65536)
        except OSError:
            break
    os.close(master)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), (stderr + err).decode())
    return done, view


def test_login_on_a_terminal_takes_a_long_pasted_cookie_without_showing_it(cli_env: dict[str, str],
                                                                          db_url: str) -> None:
    # Longer than a terminal's 4095-byte line: a line-mode read (getpass) would cut it.
    long_cookie = f"_ga=GA1.1.{'7' * 5000}; {DEMO_COOKIE.split('; ')[0]}"
    done, view = _login_on_a_terminal(cli_env, long_cookie.encode() + b"\r")
    assert ok(done) == ["Signed in as Demo User <demo@imagefx.local>."]
    assert DEMO_SESSION_TOKEN.encode() not in view and b"7777" not in view  # never echoed
    assert rows(db_url, "SELECT email FROM users") == [(DEMO_EMAIL,)]


def test_login_on_a_terminal_takes_a_pasted_json_export_ended_by_ctrl_d(cli_env: dict[str, str]) -> None:
    export = json.dumps([{"name": n, "value": v, "domain": ".labs.google"}
                         for n, v in (p.split("=", 1) for p in DEMO_COOKIE.split("; "))], indent=2)
    done, view = _login_on_a_terminal(cli_env, export.encode().replace(b"\n", b"\r") + b"\x04")
    assert ok(done) == ["Signed in as Demo User <demo@imagefx.local>."]
    assert DEMO_SESSION_TOKEN.encode() not in view


# --- the cookie off the command line ------------------------------------------------------------------------

@pytest.mark.fault_case("security: --cookie on the command line is warned about and hidden from /proc")
def test_a_cookie_on_the_command_line_is_warned_about_and_hidden_from_other_users(
        cli_env: dict[str, str], standin: StandInServer, tmp_path: Path) -> None:
    standin.delay("generate", 4)  # hold the command while we look at it from outside
    before = standin.calls["generate"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "generate", "-p", "a watched kettle", "-n", "1",
                             "-d", str(tmp_path / "out"), "--cookie", DEMO_COOKIE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**cli_env, "IMAGEFX_TIMEOUT": "60"})
    try:
        deadline = time.monotonic() + 30
        while standin.calls["generate"] == before and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert standin.calls["generate"] > before, proc.poll()
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        if os.geteuid() == 0:  # what another local user sees
            seen = subprocess.run(["runuser", "-u", "nobody", "--", "cat", f"/proc/{proc.pid}/cmdline"],
                                  capture_output=True).stdout
            assert seen == cmdline
    finally:
        standin.clear_faults()
        out, err = proc.communicate(timeout=60)
    assert b"a watched kettle" in cmdline and b"--cookie" in cmdline  # it is the command line
    assert DEMO_SESSION_TOKEN.encode() not in cmdline and b"GA1.1.standin" not in cmdline
    assert proc.returncode == 0, err
    assert COOKIE_ON_COMMAND_LINE in err.splitlines()  # said, with the safe ways
    assert "--cookie-file" in COOKIE_ON_COMMAND_LINE and "GOOGLE_COOKIE" in COOKIE_ON_COMMAND_LINE


def test_the_safe_ways_to_give_a_cookie_work_without_a_warning(cli: Run, standin: StandInServer,
                                                               tmp_path: Path, db_url: str) -> None:
    standin.add_account("file-way-session", "file-way@example.com", "File Way")
    standin.add_account("stdin-way-session", "stdin-way@example.com", "Stdin Way")
    cookie_file = tmp_path / "cookie.txt"
    cookie_file.write_text("__Secure-next-auth.session-token=file-way-session\n")
    out = str(tmp_path / "out")
    runs = [cli("generate", "-p", "by file", "-n", "1", "-d", out, "--cookie-file", str(cookie_file)),
            cli("generate", "-p", "by stdin", "-n", "1", "-d", out, "--cookie", "-",
                input="__Secure-next-auth.session-token=stdin-way-session")]
    for done in runs:
        ok(done)
        assert "Warning" not in done.stderr
    owners = dict(rows(db_url, "SELECT p.prompt_text, u.email FROM prompts p JOIN users u ON u.id = p.user_id"))
    assert owners == {"by file": "file-way@example.com", "by stdin": "stdin-way@example.com"}


# --- options everywhere ---------------------------------------------------------------------------------------

def test_habitual_options_work_after_any_command(cli: Run, tmp_path: Path, db_url: str) -> None:
    cookie_file = tmp_path / "cookie.txt"
    cookie_file.write_text(DEMO_COOKIE)
    # -c and --cookie-file where no cookie is needed are ignored; -v after the command is verbose.
    history = cli("history", "-c", "-", "--cookie-file", str(cookie_file), "-v")
    assert history.returncode == 0 and " INFO " in history.stderr, history.stderr  # the verbose format
    made = cli("generate", "-p", "a habit", "-n", "1", "--sz", "SQUARE", "-d", str(tmp_path / "out"),
               "--cookie-file", str(cookie_file), "-v")
    assert len(ok(made)) == 1 and "DEBUG" in made.stderr
    assert rows(db_url, "SELECT aspect_ratio FROM prompts") == [("IMAGE_ASPECT_RATIO_SQUARE",)]
    demo = cli("generate", "-p", "a demo habit", "-n", "1", "-d", str(tmp_path / "demo"), "--demo")
    assert len(ok(demo)) == 1  # the demo's stand-in signed it in, not a cookie
    queued = cli("queue", "add", "-p", "an owl", "--sz", "PORTRAIT", "-c", DEMO_COOKIE, "--demo", "-v")
    assert "Added 1 prompt" in ok(queued)[0]


def test_every_command_accepts_the_habitual_options() -> None:
    """Every command and subcommand, including ones added later, has --cookie/-c, --cookie-file,
    --demo and -v, and a value after the command reaches the program."""
    parser = build_parser()

    def leaves(p: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
        subs = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]  # type: ignore[attr-defined]
        if not subs:
            return [(path, p)]
        out = [(path, p)] if path else []
        for name, child in subs[0].choices.items():
            out += leaves(child, path + (name,))
        return out

    found = leaves(parser)
    assert len(found) >= 15
    for path, p in found:
        have = p._option_string_actions  # type: ignore[attr-defined]
        for option in ("-c", "--cookie", "--cookie-file", "--demo", "-v", "--verbose"):
            assert option in have, (path, option)
    args = parser.parse_args(["accounts", "-c", "x=1", "--demo", "-v"])
    assert (args.cookie, args.demo, args.verbose) == ("x=1", True, True)
    args = parser.parse_args(["--demo", "-v", "accounts"])  # before the command: not undone after it
    assert (args.cookie, args.demo, args.verbose) == (None, True, True)


# --- accounts that do not exist ---------------------------------------------------------------------------------

def test_logout_and_history_of_an_unknown_account_say_so(cli: Run, signed_in: object) -> None:
    out = cli("logout", "--user", "unknown@x.example")
    assert out.returncode == 2 and out.stdout == ""
    assert "unknown@x.example is not signed in" in out.stderr and DEMO_EMAIL in out.stderr
    history = cli("history", "--user", "nobody")
    assert history.returncode == 2 and "There is no account nobody" in history.stderr
    assert DEMO_EMAIL in history.stderr and "No generations yet" not in history.stderr
    known = cli("history", "--user", DEMO_EMAIL.upper())  # a known account without generations
    assert known.returncode == 0 and known.stdout == "" and "No generations yet." in known.stderr
    assert "Signed out demo@imagefx.local" in ok(cli("logout", "--user", DEMO_EMAIL))[0]


# --- the settings file ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "logged"), [("false", False), ("true", True), ("no", False)])
def test_a_settings_file_value_false_is_false(cli: Run, cli_env: dict[str, str], value: str, logged: bool) -> None:
    path = Path(cli_env["IMAGEFX_DATA_DIR"]) / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"log_queries": value}))
    done = cli("history")
    assert done.returncode == 0, done.stderr
    assert ("SQL " in done.stderr) is logged  # bool("false") logged every statement
    assert "Warning" not in done.stderr


# --- documented ----------------------------------------------------------------------------------------------------

def test_help_and_readme_document_every_exit_code_and_environment_variable(cli: Run) -> None:
    text = ok(cli("--help"))
    helptext = "\n".join(text)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code, _ in EXIT_CODES:
        assert any(line.split()[:1] == [str(code)] for line in text), code
        assert f"| {code} |" in readme, code
    for name, _ in ENVIRONMENT:
        assert name in helptext and f"`{name}`" in readme, name
    for must in ("IMAGEFX_DB", "IMAGEFX_TIMEOUT", "IMAGEFX_CONFIG_DIR", "IMAGEFX_DEMO"):
        assert must in helptext
    assert "--cookie-file" in readme and "GOOGLE_COOKIE" in readme and "--cookie -" in readme
