"""No delivered image is lost (issue 12): a signal at each step after ImageFX delivered, a lock held
on ``prompts``, a database server that accepts and never answers (or goes quiet mid-store), prompt
bytes that are not UTF-8, answer values beyond what the library can hold, malformed spool entries.

Each case runs the real ``generate`` (or the service) against the stand-in and real PostgreSQL,
waits for a condition (the stand-in has sent the answer, the spool file is on disk, the store is
waiting on the lock in ``pg_stat_activity``), never a fixed sleep, and counts what was kept after
the next start with the fault suite's :class:`DataLoss`.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from core.imagefx import GenerationRequest
from core.service import Service, UnstorableAnswer
from core.standin import StandInServer
from tests.faults.conftest import Account
from tests.support.dbcheck import rows
from tests.support.fault_suite import DataLoss, spooled_media_ids
from tests.support.net import TcpProxy

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Proc:
    """A real ``python main.py …`` process whose stderr is read as it comes (for the held message)."""

    def __init__(self, env: dict[str, str], *args: str | bytes) -> None:
        self.popen = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], env=env, cwd=env["HOME"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err: list[str] = []
        self.out = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in iter(self.popen.stderr.readline, b""):
            self.err.append(line.decode("utf-8", "replace"))

    def said(self, phrase: str) -> bool:
        return any(phrase in line for line in self.err)

    def finish(self, timeout: float = 90) -> int:
        self.popen.wait(timeout)
        assert self.popen.stdout is not None
        self.out = self.popen.stdout.read()
        self._reader.join(5)
        return self.popen.returncode

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def bootstrap(url: str, settings_dir: Path) -> None:
    """The schema, so a test can lock ``prompts`` before the first generate."""
    from core.config import Settings
    from core.store import Database

    db = Database(Settings(data_dir=settings_dir, config_dir=settings_dir), url=url)
    db.connect()
    db.close()


@contextmanager
def locked(url: str, table: str = "prompts") -> Iterator[None]:
    """Another program holds a lock on ``table`` until the block ends."""
    with psycopg.connect(url) as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND application_name = 'ImageFX Studio' AND wait_event_type = 'Lock'").fetchone()
    return bool(n and n[0])


def stored(url: str) -> set[str]:
    return {m for (m,) in rows(url, "SELECT media_generation_id FROM generated_images")}


@pytest.fixture
def env(cli_env: dict[str, str], account: Account, db_url: str, tmp_path: Path) -> dict[str, str]:
    bootstrap(db_url, tmp_path / "boot")
    return {**cli_env, "GOOGLE_COOKIE": account.cookie, "IMAGEFX_STORE_TIMEOUT": "60"}


@pytest.fixture
def spool(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["IMAGEFX_DATA_DIR"]) / "spool"


def spool_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.json")) if spool.is_dir() else []


@contextmanager
def counted(data_loss: DataLoss, procs: list[Proc], *, db_url: str | None, spool: Path, out: Path) -> Iterator[None]:
    """Whatever happens in the block (a step that fails included), the processes end and what the
    stand-in delivered is counted against what the database, the spool and ``out`` kept."""
    try:
        yield
    finally:
        for p in procs:
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait(30)
        data_loss.check(db_urls=[db_url] if db_url else [], spools=[spool], folders=[out])


def next_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What the next run of the app does first: store what the spool kept for this database."""
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "maintenance", "spool"], env=env, cwd=env["HOME"],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    return done


# --- signals at each step after delivery ------------------------------------------------------------

HELD = "the command stops once"  # what a held signal is told, waiting or storing


@pytest.mark.fault_case("delivery: a signal after the answer arrived keeps the images")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_after_delivery_keeps_the_images(env: dict[str, str], db_url: str, standin: StandInServer,
                                                  spool: Path, tmp_path: Path, data_loss: DataLoss,
                                                  sig: int) -> None:
    out = tmp_path / "out"
    procs: list[Proc] = []
    with counted(data_loss, procs, db_url=db_url, spool=spool, out=out):
        _signal_steps(env, db_url, standin, spool, out, data_loss, sig, procs)


def _signal_steps(env: dict[str, str], db_url: str, standin: StandInServer, spool: Path, out: Path,
                  data_loss: DataLoss, sig: int, procs: list[Proc]) -> None:
    # 1. One signal the moment the answer is sent: held; the store (blocked on a lock meanwhile) finishes.
    with locked(db_url):
        before = len(standin.delivered)
        p = Proc(env, "generate", "-p", "kept through one signal", "-n", "2", "-d", str(out))
        procs.append(p)
        wait_for(lambda: len(standin.delivered) >= before + 2, "the stand-in to send the answer")
        p.popen.send_signal(sig)
        wait_for(lambda: p.said(HELD), "the process to say it holds the signal")
        wait_for(lambda: waiting_on_a_lock(db_url), "the store to wait on the lock")
        assert p.popen.poll() is None  # still at work: the signal did not throw the images away
    assert p.finish() == 128 + sig, p.stderr
    assert "after the images arrived: they are stored in the library" in p.stderr
    first = data_loss.delivered()[-2:]
    assert set(first) <= stored(db_url) and spool_files(spool) == []
    assert len(list(out.iterdir())) == 2

    # 2. A second signal during the store stops the process at once; the spool has the images.
    with locked(db_url):
        before = len(standin.delivered)
        p = Proc(env, "generate", "-p", "kept through two signals", "-n", "2", "-d", str(out))
        procs.append(p)
        wait_for(lambda: len(standin.delivered) >= before + 2, "the stand-in to send the answer")
        p.popen.send_signal(sig)
        wait_for(lambda: p.said(HELD), "the process to say it holds the signal")
        wait_for(lambda: waiting_on_a_lock(db_url), "the store to wait on the lock")
        p.popen.send_signal(sig)
        assert p.finish() == 128 + sig, p.stderr
    assert "2 image(s) that arrived are kept in the spool" in p.stderr
    second = data_loss.delivered()[-2:]
    assert spooled_media_ids(spool) == set(second) and not set(second) & stored(db_url)

    # 3. The next start stores them; nothing delivered is missing anywhere.
    assert "The spool is empty" in next_start(env).stdout
    assert set(first + second) <= stored(db_url)
    assert data_loss.check(db_urls=[db_url], spools=[spool], folders=[out]) == []


@pytest.mark.fault_case("delivery: two signals the moment the answer is sent: spooled, stored by history")
def test_two_signals_while_the_answer_is_parsed_keep_it_in_the_spool(env: dict[str, str], db_url: str,
                                                                      standin: StandInServer, spool: Path,
                                                                      tmp_path: Path, data_loss: DataLoss) -> None:
    """The answer is all in but not yet parsed, decoded and spooled (tens of ms for 4 images): the
    second Ctrl-C used to stop there and the 4 images were in neither the spool nor the library."""
    out = tmp_path / "out"
    procs: list[Proc] = []
    scale, standin.image_scale = standin.image_scale, 1.0  # full-size images: an answer of ~4 MB to parse
    try:
        _two_signals(env, db_url, standin, spool, out, data_loss, procs)
    finally:
        standin.image_scale = scale


def _two_signals(env: dict[str, str], db_url: str, standin: StandInServer, spool: Path, out: Path,
                 data_loss: DataLoss, procs: list[Proc]) -> None:
    with counted(data_loss, procs, db_url=db_url, spool=spool, out=out):
        before = len(standin.delivered)
        p = Proc(env, "generate", "-p", "two signals at once", "-n", "4", "-d", str(out))
        procs.append(p)
        deadline = time.monotonic() + 60
        while len(standin.delivered) < before + 4 and time.monotonic() < deadline:
            time.sleep(0.0005)  # the signals must come within a few ms of the last byte
        p.popen.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while not p.said(HELD) and time.monotonic() < deadline:  # two at once would count as one
            time.sleep(0.0005)
        p.popen.send_signal(signal.SIGINT)
        assert p.finish() == 130, p.stderr
        sent = data_loss.delivered()[-4:]
        assert set(sent) <= spooled_media_ids(spool) | stored(db_url), p.stderr
        # The next start may be a look at the history: it stores them first and lists them.
        shown = subprocess.run([sys.executable, str(ROOT / "main.py"), "history", "--json"], env=env,
                               cwd=env["HOME"], capture_output=True, text=True, timeout=90)
        assert shown.returncode == 0, shown.stderr
        listed = {m for g in json.loads(shown.stdout) for m in g["media_ids"]}
        assert set(sent) <= listed and spool_files(spool) == []


@pytest.mark.fault_case("delivery: SIGKILL once the answer is spooled, and while it is being stored")
def test_sigkill_after_the_spool_write_loses_nothing(env: dict[str, str], db_url: str, standin: StandInServer,
                                                    spool: Path, data_loss: DataLoss, tmp_path: Path) -> None:
    out = tmp_path / "out"
    procs: list[Proc] = []
    with counted(data_loss, procs, db_url=db_url, spool=spool, out=out):
        # The spool entry is on disk (the first thing done with an answer): killed there.
        with locked(db_url):
            p = Proc(env, "generate", "-p", "killed once spooled", "-n", "2", "-d", str(out))
            procs.append(p)
            wait_for(lambda: bool(spool_files(spool)), "the spool entry")
            p.popen.kill()
            assert p.finish() == -signal.SIGKILL
        next_start(env)
        assert set(data_loss.delivered()[-2:]) <= stored(db_url)

        # Killed in the middle of the store's transaction (waiting on the lock).
        with locked(db_url):
            p = Proc(env, "generate", "-p", "killed while storing", "-n", "2", "-d", str(out))
            procs.append(p)
            wait_for(lambda: waiting_on_a_lock(db_url), "the store to wait on the lock")
            p.popen.kill()
            assert p.finish() == -signal.SIGKILL
        assert data_loss.check(db_urls=[db_url], spools=[spool], folders=[out]) == []  # in the spool meanwhile
        assert len(spool_files(spool)) == 1
        next_start(env)
        assert spool_files(spool) == []
        assert data_loss.check(db_urls=[db_url], spools=[spool], folders=[out]) == []
        assert len(stored(db_url)) == 4


# --- the database does not answer ---------------------------------------------------------------------

@pytest.mark.fault_case("database: a lock held on prompts times out, images wait in the spool")
def test_a_lock_held_on_prompts_does_not_hang_generate(env: dict[str, str], db_url: str, spool: Path,
                                                       tmp_path: Path, data_loss: DataLoss) -> None:
    out = tmp_path / "out"
    with locked(db_url):
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "-p", "behind a lock", "-n", "2",
                               "-d", str(out)], env={**env, "IMAGEFX_STORE_TIMEOUT": "3"}, cwd=env["HOME"],
                              capture_output=True, text=True, timeout=90)
    assert done.returncode == 6, done.stderr
    assert "did not answer in time" in done.stderr and "kept in the spool" in done.stderr
    assert "Traceback" not in done.stderr and "database down" not in done.stderr.lower()
    assert len(spool_files(spool)) == 1 and len(list(out.iterdir())) == 2
    next_start(env)  # the lock is gone: stored
    assert spool_files(spool) == [] and len(stored(db_url)) == 2
    assert data_loss.check(db_urls=[db_url], spools=[spool], folders=[out]) == []


def _settings(env: dict[str, str], **database: object) -> None:
    config = Path(env["IMAGEFX_DATA_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({"database": database}))


@pytest.mark.fault_case("database: a server that accepts and never answers")
def test_a_silent_database_server_does_not_hang_generate(env: dict[str, str], spool: Path, tmp_path: Path,
                                                         data_loss: DataLoss) -> None:
    out = tmp_path / "out"
    _settings(env, connect_timeout=2)
    with TcpProxy(silent=True) as silent:
        url = f"postgresql://imagefx@127.0.0.1:{silent.port}/imagefx_db"
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "-p", "to a silent server",
                               "-n", "2", "-d", str(out)], env={**env, "DATABASE_URL": url}, cwd=env["HOME"],
                              capture_output=True, text=True, timeout=90)
        assert silent.accepted >= 1  # it was asked, and said nothing
    assert done.returncode == 6, done.stderr
    assert "cannot be reached" in done.stderr and "kept in the spool" in done.stderr
    assert len(spool_files(spool)) == 1 and len(list(out.iterdir())) == 2
    assert data_loss.check(spools=[spool], folders=[out]) == []


@pytest.mark.fault_case("database: the server goes silent in the middle of a generation")
def test_a_database_that_goes_silent_mid_store(env: dict[str, str], db_url: str, standin: StandInServer,
                                               spool: Path, tmp_path: Path, data_loss: DataLoss) -> None:
    out = tmp_path / "out"
    real = urlsplit(db_url)
    proxy = TcpProxy((real.hostname or "127.0.0.1", real.port or 5432))
    via = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{proxy.port}"))
    standin.delay("generate", 1.0)  # time to go quiet while the images are on their way
    before = standin.calls["generate"]
    p = Proc({**env, "DATABASE_URL": via, "IMAGEFX_STORE_TIMEOUT": "2"}, "generate", "-p", "the server went quiet",
             "-n", "2", "-d", str(out))
    wait_for(lambda: standin.calls["generate"] > before, "the generate request")
    proxy.silence()
    try:
        assert p.finish() == 6, p.stderr
    finally:
        proxy.close()
    assert "did not answer within" in p.stderr and "kept in the spool" in p.stderr
    assert len(spool_files(spool)) == 1
    with TcpProxy((real.hostname or "127.0.0.1", real.port or 5432), port=proxy.port):  # it answers again
        next_start({**env, "DATABASE_URL": via})
    assert spool_files(spool) == [] and len(stored(db_url)) == 2
    assert data_loss.check(db_urls=[db_url], spools=[spool], folders=[out]) == []


# --- bytes that are not UTF-8 -----------------------------------------------------------------------

@pytest.mark.fault_case("bad input: a prompt whose bytes are not UTF-8 is refused before sending")
@pytest.mark.parametrize("command", [["generate"], ["queue", "add"]], ids=["generate", "queue-add"])
def test_a_prompt_that_is_not_utf8_is_refused_before_anything_is_sent(env: dict[str, str], standin: StandInServer,
                                                                      tmp_path: Path, command: list[str]) -> None:
    before = standin.calls["generate"]
    extra = ["-d", str(tmp_path / "out")] if command == ["generate"] else ["-n", "1"]
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *command, "-p", b"caf\xe9 \xff", *extra],
                          env=env, cwd=env["HOME"], capture_output=True, timeout=60)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, err
    assert "not valid UTF-8" in err and "0xE9" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert standin.calls["generate"] == before and not (tmp_path / "out").exists()


# --- answer values the library cannot hold ---------------------------------------------------------

ODD_VALUES = {
    "media-id-10k": ("mediaGenerationId", "CAMa" + "x" * 10_000, "the media id is 10,005 characters long"),
    "nul": ("prompt", "a cat\x00 in a hat", "the prompt contains a NUL character"),
    "seed-2^40": ("seed", 2**40, "the seed 1099511627776 is beyond 32 bits"),
    "model-300": ("modelNameType", "M" * 300, "the model name is 300 characters long"),
    "surrogate": ("prompt", "\ud800 lone", "the prompt is not valid Unicode text"),
}


@pytest.mark.fault_case("hostile answer: values beyond what the library holds are kept aside, once")
@pytest.mark.parametrize("field, value, said", list(ODD_VALUES.values()), ids=list(ODD_VALUES))
def test_values_beyond_the_columns_say_imagefx_changed_and_keep_the_images(
        fault_service: Service, standin: StandInServer, db_url: str, data_loss: DataLoss,
        field: str, value: object, said: str) -> None:
    svc = fault_service
    standin.fail("generate", "odd_value", field=field, value=value)
    with pytest.raises(UnstorableAnswer) as info:
        svc.generate(GenerationRequest("odd values", count=2))
    err = info.value
    assert str(err).startswith("ImageFX changed its response: " + said), str(err)
    assert "database" not in str(err).lower()  # never "database down"
    assert err.kept_at is not None and err.kept_at.parent.name == "rejected" and err.kept_at.is_file()
    assert said in err.kept_at.with_suffix(".txt").read_text()
    assert len(err.generation.images) == 2
    assert len(svc.spool) == 0  # not waiting to be retried on every start
    assert svc.flush_spool() == 0 and svc.spool_notices() == []
    assert data_loss.check(db_urls=[db_url], spools=[svc.spool.directory]) == []


@pytest.mark.fault_case("hostile answer: a 10k media id through the CLI (kept in -d and rejected/)")
def test_the_cli_says_imagefx_changed_and_saves_the_images(env: dict[str, str], standin: StandInServer,
                                                          spool: Path, tmp_path: Path, data_loss: DataLoss) -> None:
    out = tmp_path / "out"
    standin.fail("generate", "odd_value", field="mediaGenerationId", value="CAMa" + "y" * 10_000)
    args = [sys.executable, str(ROOT / "main.py"), "generate", "-p", "a very long id", "-n", "2", "-d", str(out)]
    done = subprocess.run(args, env=env, cwd=env["HOME"], capture_output=True, text=True, timeout=90)
    assert done.returncode == 5, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ImageFX changed its response: the media id is"), lines
    assert "rejected" in lines[0] and str(out) in lines[0]
    assert len(list(out.iterdir())) == 2 and spool_files(spool) == []
    again = next_start(env)  # the next start says nothing about it: it was said once
    assert again.stderr == "" and "1 set aside" in again.stdout
    assert data_loss.check(spools=[spool], folders=[out]) == []


# --- malformed spool entries -------------------------------------------------------------------------

@pytest.mark.fault_case("spool: malformed entries are set aside with a message, the rest drain")
def test_malformed_spool_entries_are_set_aside_and_the_good_one_drains(
        env: dict[str, str], db_url: str, spool: Path, tmp_path: Path, fault_service: Service,
        data_loss: DataLoss) -> None:
    # A real entry, as a generation made while the database was down leaves it (written the old way,
    # without a database of its own, so it belongs to whichever database opens: this one).
    result = fault_service.generate(GenerationRequest("the good entry", count=2))
    good = result.generation.to_json()
    media = {i.media_id for i in result.generation.images}
    with psycopg.connect(db_url, autocommit=True) as conn:  # as if it had never reached the database
        conn.execute("DELETE FROM generated_images")
        conn.execute("DELETE FROM prompts")
    spool.mkdir(parents=True, exist_ok=True)
    (spool / f"{'a' * 32}.json").write_text(json.dumps(good))
    bad = {
        "list": "[]",
        "null": "null",
        "number-email": json.dumps({**good, "user_email": 42}),
        "not-base64": json.dumps({**good, "images": [{**good["images"][0], "encoded_image": "!!not base64!!"}]}),
        "not-an-image": json.dumps({**good, "images": [{**good["images"][0],
                                                        "encoded_image": base64.b64encode(b"hello").decode()}]}),
        "deep": "[" * 100_000 + "]" * 100_000,
    }
    for n, text in enumerate(bad.values()):
        (spool / f"{n:032x}.json").write_text(text)
    os.mkfifo(spool / f"{'f' * 32}.json")  # a FIFO where an entry belongs: reading it would hang
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "export", "--dir", str(out)], env=env,
                          cwd=env["HOME"], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    notices = [line for line in done.stderr.splitlines() if "was set aside" in line]
    assert len(notices) == len(bad) + 1, done.stderr
    assert any("not a regular file" in line for line in notices)
    assert any("user_email is a number" in line for line in notices)
    assert any("not base64" in line for line in notices) and any("not an image" in line for line in notices)
    assert "Traceback" not in done.stderr and "Unexpected error" not in done.stderr
    assert spool_files(spool) == []  # drained or set aside: nothing left to warn about
    assert media <= stored(db_url)
    assert len([p for p in out.iterdir() if p.suffix == ".png"]) == 2  # and export works with what drained
    assert len(list((spool / "rejected").glob("*.txt"))) == len(bad) + 1
    again = next_start(env)
    assert "was set aside" not in again.stderr  # said once
    assert data_loss.check(db_urls=[db_url], spools=[spool], folders=[out]) == []
