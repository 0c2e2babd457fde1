"""The CLI tells the truth (issue 13), as a user meets it: a media id that does not exist, a model
the service does not offer, the seeds history shows, what ``queue run`` counts, and progress bars
on a terminal (plain lines when piped)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.standin import DEMO_COOKIE, StandInServer

ROOT = Path(__file__).resolve().parents[2]
SIGNED_IN = {"GOOGLE_COOKIE": DEMO_COOKIE}  # not --cookie: that one warns about other users
Run = Callable[..., subprocess.CompletedProcess[str]]


def one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, (done.returncode, done.stderr)
    assert len(lines) == 1 and "Traceback" not in done.stderr, lines
    return lines[0]


def test_fetch_of_an_unknown_media_id_says_it_was_not_found(cli: Run, demo_cookie: str, tmp_path: Path) -> None:
    line = one_line(cli("fetch", "CAMaNoSuchImage123", "-d", str(tmp_path), env=SIGNED_IN), 2)
    assert "no image with the media id CAMaNoSuchImage123" in line
    assert "Check the options" not in line and "model" not in line


def test_a_model_the_service_rejects_names_the_models_there_are(cli: Run, demo_cookie: str, tmp_path: Path) -> None:
    line = one_line(cli("generate", "-p", "a fox", "-m", "IMAGEN_3", "-d", str(tmp_path), env=SIGNED_IN), 2)
    assert "does not offer the model IMAGEN_3" in line and "IMAGEN_3_5" in line and "IMAGEN_4" in line
    helped = cli("generate", "--help")
    assert "IMAGEN_3_5 (Imagen 4; alias IMAGEN_4)" in " ".join(helped.stdout.split())


def test_history_shows_the_seeds_actually_used(cli: Run, demo_cookie: str, tmp_path: Path) -> None:
    made = cli("generate", "-p", "random seeds", "-n", "2", "-d", str(tmp_path / "a"), env=SIGNED_IN)
    assert made.returncode == 0, made.stderr
    chosen = cli("generate", "-p", "a chosen seed", "-n", "1", "-s", "4242", "-d", str(tmp_path / "b"), env=SIGNED_IN)
    assert chosen.returncode == 0, chosen.stderr
    rows = {r["prompt"]: r for r in json.loads(cli("history", "--json").stdout)}
    random_row, chosen_row = rows["random seeds"], rows["a chosen seed"]
    assert random_row["seed"] is None  # asked for none: random
    assert len(random_row["seeds"]) == 2 and all(isinstance(s, int) and s > 0 for s in random_row["seeds"])
    assert [i["media_id"] for i in random_row["images"]] == random_row["media_ids"]
    assert [i["seed"] for i in random_row["images"]] == random_row["seeds"]
    assert chosen_row["seed"] == 4242 and chosen_row["seeds"] == [4242]
    text = cli("history").stdout
    line = next(x for x in text.splitlines() if x.endswith("random seeds"))
    assert "seed 0" not in line
    assert f"seeds {random_row['seeds'][0]}, {random_row['seeds'][1]}" in line
    assert "seed 4242" in next(x for x in text.splitlines() if x.endswith("a chosen seed"))


def test_queue_run_counts_this_runs_items(cli: Run, demo_cookie: str) -> None:
    assert cli("queue", "add", "-p", "earlier one", "-p", "earlier two", "-n", "1").returncode == 0
    assert cli("queue", "run", "--delay", "0", env=SIGNED_IN).returncode == 0
    assert cli("queue", "add", "-p", "now one", "-p", "now two", "-p", "now three", "-n", "1").returncode == 0
    run = cli("queue", "run", "--delay", "0", env=SIGNED_IN)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "queue: 3 pending"
    assert "[1/3] done: now one (1 image(s))" in lines and "[3/3] done: now three (1 image(s))" in lines
    assert not any("/5]" in line for line in lines)


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """``args`` with standard error on a pseudo-terminal (what a person sees) and standard output
    on a pipe (what a script reads)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, env={**env, "TERM": "xterm-256color", "COLUMNS": "120"}, cwd=env["HOME"],
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output for 60 s")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(60), out, seen.decode("utf-8", "replace")


def test_export_shows_a_bar_on_a_terminal_and_plain_lines_when_piped(
        cli: Run, cli_env: dict[str, str], demo_cookie: str, standin: StandInServer, tmp_path: Path) -> None:
    assert cli("generate", "-p", "for the bar", "-n", "3", "-d", str(tmp_path / "g"), env=SIGNED_IN).returncode == 0
    code, out, terminal = _run_on_a_terminal([sys.executable, str(ROOT / "main.py"), "export", "--dir",
                                              str(tmp_path / "tty")], cli_env)
    assert code == 0, terminal
    assert len(out.splitlines()) == 3 and all(Path(p).is_file() for p in out.splitlines())  # data on stdout
    assert "Exporting" in terminal and "3/3" in terminal and "left" in terminal and "━" in terminal
    piped = cli("export", "--dir", str(tmp_path / "piped"))
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 3
    assert "━" not in piped.stderr and not re.search(r"\x1b\[", piped.stderr + piped.stdout)
