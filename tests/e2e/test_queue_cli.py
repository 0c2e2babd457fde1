"""``python main.py queue …``, ``export`` and ``import-web`` as real processes, against the
stand-in over HTTP and a real PostgreSQL; including a queue run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from core.export import parse_parameters
from core.standin import DEMO_COOKIE, SAFETY_MESSAGE, StandInServer
from tests.conftest import ROOT
from tests.support.dbcheck import rows, scalar

Run = Callable[..., subprocess.CompletedProcess[str]]


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def queue_json(cli: Run, env: dict[str, str] | None = None) -> list[dict]:
    done = cli("queue", "list", "--json", env=env)
    ok(done)
    return json.loads(done.stdout)


def test_a_prompt_file_runs_to_the_end_with_the_right_states(cli: Run, standin: StandInServer, tmp_path: Path,
                                                             db_url: str) -> None:
    f = tmp_path / "batch.txt"
    f.write_text("# a night's work\n\na lighthouse at dusk\n\n# refused:\nsomething forbidden\n"
                 "a bowl of ramen\n   \na purple nebula\n", encoding="utf-8")
    assert ok(cli("queue", "add", "--file", str(f), "-n", "2", "--size", "SQUARE", "-s", "11")) == [
        "Added 4 prompts to the queue (4 pending)."]
    assert ok(cli("queue", "add", "--prompt", "one more", "-n", "1")) == ["Added 1 prompt to the queue (5 pending)."]
    standin.fail("generate", "rate_limit", retry_after=0.3)  # the first prompt meets a 429 first
    done = cli("queue", "run", "--delay", "0", env={"GOOGLE_COOKIE": DEMO_COOKIE})
    lines = ok(done)  # exit 0: the queue ran to its end, even with a failed item
    assert lines[0] == "queue: 5 pending"
    assert any(line.startswith("waiting 0s (rate_limit)") for line in lines)
    assert "[1/5] done: a lighthouse at dusk (2 image(s))" in lines
    assert any(line.startswith("[2/5] failed: something forbidden: Refused by the safety filter") for line in lines)
    assert lines[-1].startswith("Queue finished: 4 done, 1 failed. 7 image(s)")
    items = queue_json(cli)
    assert [(i["prompt"], i["state"], len(i["images"])) for i in items] == [
        ("a lighthouse at dusk", "done", 2), ("something forbidden", "failed", 0), ("a bowl of ramen", "done", 2),
        ("a purple nebula", "done", 2), ("one more", "done", 1)]
    assert SAFETY_MESSAGE in items[1]["error"]
    assert all(i["error"] is None for i in items if i["state"] == "done")
    assert rows(db_url, "SELECT prompt_text, seed, number_of_images, aspect_ratio FROM prompts "
                        "WHERE prompt_text = 'a bowl of ramen'") == [("a bowl of ramen", 11, 2,
                                                                      "IMAGE_ASPECT_RATIO_SQUARE")]
    text = ok(cli("queue", "list"))
    assert text[1].split()[:2] == [str(items[1]["id"]), "failed"]
    assert ok(cli("queue", "clear")) == ["Removed 5 items from the queue."]


def test_a_bad_file_is_a_usage_error(cli: Run, tmp_path: Path) -> None:
    done = cli("queue", "add", "--file", str(tmp_path / "nope.txt"))
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr
    assert cli("queue", "add").returncode == 2
    assert cli("queue", "run", "--delay", "-1").returncode == 2


def test_sign_in_failure_pauses_the_queue_with_exit_3(cli: Run, standin: StandInServer) -> None:
    standin.add_account("pause-me-session", "pause@example.com", "Pause")
    ok(cli("queue", "add", "-p", "first", "-p", "second", "-n", "1"))
    standin.revoke("pause-me-session")  # the cookie dies (signed out elsewhere)
    cookie = "__Secure-next-auth.session-token=pause-me-session"
    done = cli("queue", "run", "--delay", "0", env={"GOOGLE_COOKIE": cookie})
    assert done.returncode == 3, done.stderr
    assert "sign in again" in done.stderr and "2 item(s) are still pending" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert [i["state"] for i in queue_json(cli)] == ["pending", "pending"]


def _read_until(proc: subprocess.Popen[str], wanted: str, timeout: float = 30) -> list[str]:
    """stdout lines of a running process up to the first that starts with ``wanted``."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip("\n"))
        if line.startswith(wanted):
            return seen
    raise AssertionError(f"never saw {wanted!r}; got {seen}")


KILL_PROMPTS = ["kill test one", "kill test two", "kill test three", "kill test four"]


def _kill_mid_item_then_run_again(cli: Run, cli_env: dict[str, str], standin: StandInServer,
                                  env: dict[str, str]) -> None:
    """Run the queue, SIGKILL it while item two's request is in flight, run it again."""
    env = {**env, "GOOGLE_COOKIE": DEMO_COOKIE}
    ok(cli("queue", "add", *[arg for p in KILL_PROMPTS for arg in ("-p", p)], "-n", "2", env=env))
    standin.delay("generate", 0.8, times=20)  # every answer takes a while: time to kill mid-item
    generates_before = standin.calls.get("generate", 0)
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "queue", "run", "--delay", "0"],
                            env={**cli_env, **env}, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _read_until(proc, "[1/4] running: kill test two")
        # Kill once the stand-in holds item two's request (its answer is 0.8 s away), not after
        # a fixed sleep: on a loaded machine a sleep can outlast the answer.
        deadline = time.monotonic() + 30
        while standin.calls.get("generate", 0) < generates_before + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert standin.calls.get("generate", 0) == generates_before + 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    standin.clear_faults()  # the slow answers were only needed to kill it mid-item

    lines = ok(cli("queue", "run", "--delay", "0", env=env))
    # item two was left running by the dead process: it runs again (its second attempt, below)
    assert lines[0] == "recovered: kill test two: Interrupted: the app stopped while this item was running; " \
                       "it runs again."
    assert lines[-1].startswith("Queue finished: 3 done, 0 failed. 6 image(s)")
    listed = queue_json(cli, env)
    assert [(i["prompt"], i["state"], i["attempts"], len(i["images"])) for i in listed] == [
        ("kill test one", "done", 1, 2), ("kill test two", "done", 2, 2), ("kill test three", "done", 1, 2),
        ("kill test four", "done", 1, 2)]
    history = json.loads("\n".join(ok(cli("history", "--json", env=env))))
    assert sorted((h["prompt"], h["image_count"]) for h in history) == sorted((p, 2) for p in KILL_PROMPTS)


@pytest.mark.parametrize("admin_url", ["own", "env"], indirect=True)
@pytest.mark.fault_case("database: app SIGKILLed mid-item, next start finishes (CLI queue)")
def test_a_queue_run_killed_mid_item_finishes_later_with_every_prompt_stored_once(
        cli: Run, cli_env: dict[str, str], standin: StandInServer, db_url: str) -> None:
    _kill_mid_item_then_run_again(cli, cli_env, standin, {})
    assert rows(db_url, "SELECT prompt_text, count(*) FROM prompts GROUP BY prompt_text ORDER BY 1") == sorted(
        (p, 1) for p in KILL_PROMPTS)  # every prompt stored exactly once
    assert scalar(db_url, "SELECT count(*) FROM generated_images") == 8
    assert scalar(db_url, "SELECT count(*) FROM generation_queue q JOIN prompts p ON p.id = q.prompt_id") == 4


@pytest.mark.fault_case("database: embedded server's app SIGKILLed mid-item, next start works (CLI queue)")
def test_the_same_with_the_embedded_database(cli: Run, cli_env: dict[str, str], standin: StandInServer,
                                             tmp_path: Path) -> None:
    """The desktop set-up: the killed process leaves the embedded server running; the next one
    reuses it, recovers the item, and the last one out stops the server."""
    from tests.core.test_embedded import postmasters, wait_until_gone

    _kill_mid_item_then_run_again(cli, cli_env, standin, {"DATABASE_URL": ""})
    pgdata = tmp_path / "cli-data" / "pgdata"
    assert wait_until_gone(pgdata) == [] and postmasters(pgdata) == []


def test_export_writes_pngs_that_show_their_prompt_elsewhere(cli: Run, tmp_path: Path, db_url: str) -> None:
    ok(cli("queue", "add", "-p", "a red fox in snow", "-p", "a/b: <CON> 🦊?", "-n", "2", "-s", "500"))
    ok(cli("queue", "run", "--delay", "0", env={"GOOGLE_COOKIE": DEMO_COOKIE}))
    out = tmp_path / "exported"
    lines = ok(cli("export", "--dir", str(out), "--limit", "3"))  # the newest three of four
    assert len(lines) == 3
    assert len(ok(cli("export", "--dir", str(tmp_path / "foxes"), "--search", "fox"))) == 2
    stored = {r[0]: (r[1], r[2]) for r in rows(
        db_url, "SELECT g.media_generation_id, p.prompt_text, g.seed FROM generated_images g "
                "JOIN prompts p ON p.id = g.prompt_id")}
    for line in lines:
        path = Path(line)
        assert path.parent == out and path.suffix == ".png"
        with Image.open(path) as img:
            p = parse_parameters(img.info["parameters"])
        assert (p.prompt, p.seed) == stored[p.media_id]
    assert len((out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    assert cli("export", "--dir", str(out), "--template", "{nope}").returncode == 2


def test_import_web_with_a_limit_resumes_and_then_adds_nothing(cli: Run, standin: StandInServer,
                                                                db_url: str) -> None:
    standin.add_account("web-lib-session", "weblib@example.com", "Web Lib")
    ids = standin.seed_library("weblib@example.com", 30)  # three pages of twelve
    env = {"GOOGLE_COOKIE": "__Secure-next-auth.session-token=web-lib-session"}
    first = ok(cli("import-web", "--limit", "12", env=env))
    assert first == ["page 1: 12 new, 0 already, 1 page(s)",
                     "Import stopped at the limit: 12 new image(s), 0 already in the gallery."]
    second = ok(cli("import-web", env=env))
    assert second[0] == "Resuming the last import."
    assert second[-1] == "Import finished: 18 new image(s), 0 already in the gallery."
    assert ok(cli("import-web", env=env))[-1] == "Import finished: 0 new image(s), 12 already in the gallery."
    got = rows(db_url, "SELECT media_generation_id, source FROM generated_images")
    assert sorted(m for m, _ in got) == sorted(ids) and {s for _, s in got} == {"import"}
