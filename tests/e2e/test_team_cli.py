"""A team on one server, from the outside (issue 15): each member runs the app as their own login (the
CLI in real processes, and an open app in a process of its own that keeps itself current through the
database's notifications). Each sees their own gallery plus the boards shared with them; a board's
new images reach the other member within a second; a share revoked disappears; a member removed is
out; the notifications a member hears carry ids only, and reading those ids again shows them nothing
that is not theirs.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.standin import StandInServer
from core.standin.server import SESSION_COOKIE_NAMES
from tests.support.pg import create_database
from tests.support.teamdb import Person, TeamDb, make_team, seed_single_user, server_url

ROOT = Path(__file__).resolve().parents[2]
SECOND = 1.0


@pytest.fixture
def team() -> Iterator[TeamDb]:
    admin, server = server_url()
    made = make_team(admin, ["ada", "bob", "cy"], seed=False)
    yield made
    made.close()
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


def _env(team: TeamDb, key: str | None, tmp: Path, standin: StandInServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_", "DATABASE_"))}
    home = tmp / (key or "admin")
    home.mkdir(exist_ok=True)
    env.update({"IMAGEFX_DATA_DIR": str(home / "data"), "IMAGEFX_LABS_URL": standin.url,
                "IMAGEFX_API_URL": standin.url, "IMAGEFX_TIMEOUT": "10", "HOME": str(home),
                "DATABASE_URL": team.url_as(key) if key else team.url, "PYTHONPATH": str(ROOT),
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                "XDG_DATA_HOME": str(home / ".local" / "share")})
    return env


class Watcher:
    """The member's open app (tests/e2e/team_watch_child.py): each line it prints, as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.team_watch_child"], env=env, cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.next(60)
        assert first is not None and "error" not in first, self.proc.stderr.read() if self.proc.stderr else ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def until(self, cond: Callable[[dict[str, Any]], bool], timeout: float = 15) -> float:
        """When (time.time()) the app first showed a state meeting ``cond``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = self.next(left)
            if line is not None and cond(line):
                return float(line["t"])
        raise AssertionError("the change never reached the other member's app")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(20)


def test_two_members_each_see_their_own_and_what_is_shared_within_a_second(team: TeamDb, standin: StandInServer,
                                                                         tmp_path: Path) -> None:
    ada, bob = team.people["ada"], team.people["bob"]
    cookies = {}
    for p in (ada, bob):
        token = f"team-{p.key}-{os.getpid()}"
        standin.add_account(token, p.email, p.key.title())
        cookies[p.key] = f"{SESSION_COOKIE_NAMES[0]}={token}"
    env = {k: _env(team, k, tmp_path, standin) for k in ("ada", "bob", "cy")}

    def run_raw(key: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env[key], capture_output=True,
                              text=True, timeout=120, cwd=env[key]["HOME"])

    def run(key: str, *args: str) -> list[str]:
        done = run_raw(key, *args)
        assert done.returncode == 0, f"{key}: {args} exited {done.returncode}: {done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout.splitlines()

    def images(key: str, *filter_args: str) -> list[dict[str, Any]]:
        return json.loads("\n".join(run(key, "history", "--images", "--json", *filter_args)) or "[]")

    for p in (ada, bob):
        run(p.key, "login", "--cookie", cookies[p.key])
        run(p.key, "generate", "-p", f"{p.key}'s harbour at dawn", "-n", "2")
    own = {k: sorted(i["id"] for i in images(k)) for k in ("ada", "bob")}
    assert len(own["ada"]) == len(own["bob"]) == 2 and not set(own["ada"]) & set(own["bob"])

    # cy hears every notification of the database (none may carry more than ids); the time one
    # arrives is when the change was committed, the moment the other member's app is timed from
    payloads: list[tuple[float, str]] = []
    stop = threading.Event()
    cy_listen = psycopg.connect(team.url_as("cy"), autocommit=True)
    cy_listen.execute("LISTEN imagefx_changes")

    def hear() -> None:
        while not stop.is_set():
            for n in cy_listen.notifies(timeout=0.2):
                payloads.append((time.time(), n.payload))

    hearing = threading.Thread(target=hear, daemon=True)
    hearing.start()

    def committed(after: float) -> float:
        return min(t for t, _p in payloads if t >= after)

    watcher = Watcher(env["ada"])
    took = []
    try:
        run("bob", "board", "add", "Harbour", str(own["bob"][0]), "--create")
        start = time.time()
        run("bob", "board", "share", "Harbour", "--with", ada.email, "--read-only")
        seen = watcher.until(lambda s: own["bob"][0] in s["gallery"] and "Harbour" in s["boards"])
        took.append(seen - committed(start))
        start = time.time()
        run("bob", "board", "add", "Harbour", str(own["bob"][1]))
        seen = watcher.until(lambda s: own["bob"][1] in s["gallery"])
        took.append(seen - committed(start))

        shared = images("ada", "--filter", "board:Harbour")
        assert [(i["id"], i["user_email"]) for i in shared] == [(i, bob.email) for i in reversed(own["bob"])]
        history = run("ada", "history")
        assert any(bob.email in line and "bob's harbour" in line for line in history)
        assert sorted(i["id"] for i in images("ada")) == sorted(own["ada"] + own["bob"])
        assert sorted(i["id"] for i in images("bob")) == own["bob"]  # ada's are not bob's to see
        assert not images("cy")

        # read-only is enforced in ada's own process: nothing of hers goes onto bob's board ...
        refused = run_raw("ada", "board", "add", "Harbour", str(own["ada"][0]))
        assert refused.returncode != 0 and "read-only" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert sorted(i["id"] for i in images("bob", "--filter", "board:Harbour")) == own["bob"]
        # ... until bob shares it read-write: then her image is on it, for bob too
        run("bob", "board", "share", "Harbour", "--with", ada.email)
        run("ada", "board", "add", "Harbour", str(own["ada"][0]))
        assert sorted(i["id"] for i in images("bob", "--filter", "board:Harbour")) == sorted(own["bob"] +
                                                                                            own["ada"][:1])
        run("ada", "board", "remove", "Harbour", str(own["ada"][0]))
        assert sorted(i["id"] for i in images("bob", "--filter", "board:Harbour")) == own["bob"]

        start = time.time()
        run("bob", "board", "unshare", "Harbour", "--with", ada.email)
        seen = watcher.until(lambda s: not set(own["bob"]) & set(s["gallery"]) and not s["boards"])
        took.append(seen - committed(start))
        assert sorted(i["id"] for i in images("ada")) == own["ada"]
        assert not [line for line in run("ada", "board", "list") if "Harbour" in line]
    finally:
        watcher.close()
        stop.set()
        hearing.join(5)
        cy_listen.close()
    print(f"\nfrom bob's commit to ada's app showing it: {', '.join(f'{t * 1000:.0f}' for t in took)} ms")
    assert max(took) <= SECOND, f"slower than a second: {took}"

    assert payloads
    heard: set[int] = set()
    for _t, text in payloads:
        payload = json.loads(text)
        assert set(payload) <= {"v", "n", "c", "o"}
        for ids in payload["c"].values():
            assert ids is None or all(isinstance(i, int) for i in ids)
            heard |= set(ids or ())
    assert set(own["bob"]) <= heard  # cy heard of bob's images by id ...
    with psycopg.connect(team.url_as("cy")) as conn:  # ... and reading them shows cy nothing
        assert conn.execute("SELECT count(*) FROM generated_images WHERE id = ANY(%s)",
                            (sorted(heard),)).fetchone()[0] == 0  # type: ignore[index]
        assert conn.execute("SELECT count(*) FROM prompts").fetchone()[0] == 0  # type: ignore[index]


def test_a_removed_member_is_out_and_their_library_stays(team: TeamDb, standin: StandInServer,
                                                         tmp_path: Path) -> None:
    admin = _env(team, None, tmp_path, standin)

    def run(*args: str, env: dict[str, str] = admin) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=env["HOME"])

    listed = json.loads(run("team", "list", "--json").stdout)
    assert {m["email"] for m in listed} == {p.email for p in team.people.values()}
    cy = team.people["cy"]
    # a member may not manage the team
    refused = run("team", "add-member", "eve@team.test", env=_env(team, "ada", tmp_path, standin))
    assert refused.returncode != 0 and "may not manage the team" in refused.stderr
    done = run("team", "remove-member", cy.email)
    assert done.returncode == 0, done.stderr
    assert "has left the team" in done.stdout
    with pytest.raises(psycopg.OperationalError):
        team.connect_as("cy").close()
    with psycopg.connect(team.url) as conn:  # the owner still has cy's account, nobody's now
        assert conn.execute("SELECT db_role FROM users WHERE email = %s", (cy.email,)).fetchone() == (None,)
    cy.login = ""
    # an admin member adds someone, whose password is printed once and works
    done = run("team", "add-member", "dee@team.test", "--admin", "--login", f"dee-{team.name}")
    with psycopg.connect(team.url) as conn:
        version = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
    if version < 160000:  # CREATEROLE could grant the owner role there: no admin members
        assert done.returncode != 0 and "older than 16" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stderr
    password = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if "shown only now" in line)
    team.people["dee"] = type(cy)("dee", "dee@team.test", password, f"dee-{team.name}")
    status = run("team", "status", env=_env(team, "dee", tmp_path, standin))
    assert status.returncode == 0 and "an admin member" in status.stdout, status.stderr
    done = run("team", "add-member", f"fay-{team.name}@team.test", env=_env(team, "dee", tmp_path, standin))
    assert done.returncode == 0, done.stderr
    team.people["fay"] = type(cy)("fay", "", "", f"fay-{team.name}@team.test")


def _counts(url: str) -> dict[str, int]:
    """Rows of every table of the app's schema, from the catalog, as the database's owner sees them."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")]
        return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}  # type: ignore[index]


def test_a_single_user_server_database_becomes_a_team_database_without_losing_a_row(standin: StandInServer,
                                                                                   tmp_path: Path) -> None:
    """`imagefx team init` on a server database one person has used (images, captions, tags, boards,
    the queue ...): every table holds the rows it held, each row that named no account has one, and
    a member added afterwards finds their library as it was."""
    admin, server = server_url()
    tag = uuid.uuid4().hex[:8]
    name, url = create_database(admin, prefix=f"team_{tag}")
    people = {k: Person(k, f"{k}-{tag}@team.test") for k in ("ada", "bob")}
    team = TeamDb(admin, name, url, people)
    try:
        seed_single_user(url, list(people.values()))
        before = _counts(url)
        for table in ("generated_images", "image_captions", "tags", "image_tags", "boards", "board_images",
                      "generation_queue", "generated_images_archive", "sessions", "users", "image_ratings"):
            assert before[table] > 0, f"the seed left {table} empty"
        with psycopg.connect(url) as conn:
            unowned = conn.execute("SELECT (SELECT count(*) FROM tags WHERE user_id IS NULL), "
                                   "(SELECT count(*) FROM generation_queue WHERE user_email IS NULL)").fetchone()
        assert unowned == (1, 1)

        env = _env(team, None, tmp_path, standin)
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "team", "init", "--owner", people["ada"].email],
                              env=env, capture_output=True, text=True, timeout=120, cwd=env["HOME"])
        assert done.returncode == 0, done.stderr
        assert "Team mode is on" in done.stdout and "Traceback" not in done.stderr
        assert f"1 tags row that named no account now belong to {people['ada'].email}" in done.stdout, done.stdout

        after = _counts(url)
        assert {t: after[t] for t in before} == before  # not a row lost (or made) in any table
        assert set(after) - set(before) <= {"board_shares", "imagefx_team", "imagefx_share_access",
                                            "imagefx_board_guests"}
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM tags WHERE user_id IS NULL").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM generation_queue WHERE user_id IS NULL").fetchone() == (0,)
            assert conn.execute("SELECT u.email FROM tags t JOIN users u ON u.id = t.user_id "
                                "WHERE t.name = 'made-before-sign-in'").fetchone() == (people["ada"].email,)

        # bob, added now, logs in as himself and finds his own library, all of it, and only it
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "team", "add-member", people["bob"].email],
                              env=env, capture_output=True, text=True, timeout=120, cwd=env["HOME"])
        assert done.returncode == 0, done.stderr
        people["bob"].password = next(line.split(": ", 1)[1] for line in done.stdout.splitlines()
                                      if "shown only now" in line)
        people["bob"].login = people["bob"].email
        with team.connect_as("bob") as conn:
            mine = {r[0] for r in conn.execute("SELECT id FROM generated_images")}
            assert mine == set(people["bob"].images)
            assert conn.execute("SELECT count(*) FROM image_captions").fetchone() == (1,)
            assert conn.execute("SELECT name FROM boards").fetchall() == [("Bob's board",)]
            assert conn.execute("SELECT count(*) FROM generation_queue").fetchone() == (1,)
            assert conn.execute("SELECT email FROM users").fetchall() == [(people["bob"].email,)]
    finally:
        team.close()
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
