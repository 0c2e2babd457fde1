"""Database faults: a server that stops mid-store, two app processes writing at once, a full
disk and an unwritable data folder.

Already covered elsewhere, and marked there: the database unreachable at start (CLI
tests/e2e/test_cli_errors.py, service tests/core/test_store.py, GUI banner
tests/gui/test_errors.py), the embedded server's app process killed with SIGKILL
(tests/core/test_embedded.py, tests/e2e/test_queue_cli.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.imagefx import GenerationRequest
from core.service import GenerationResult, Service
from core.standin import StandInServer
from tests.faults.conftest import Account, one_line_error
from tests.support.dbcheck import rows
from tests.support.fault_suite import DataLoss, spooled_media_ids
from tests.support.pg import TcpPostgres, create_database

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., subprocess.CompletedProcess[str]]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def own_pg() -> Iterator[TcpPostgres]:
    """A PostgreSQL server of this test's own, to stop and start (the shared one serves the others)."""
    pg = TcpPostgres().start()
    yield pg
    pg.stop()


@pytest.fixture
def own_db_url(own_pg: TcpPostgres) -> str:
    return create_database(own_pg.url())[1]


def media_ids(url: str) -> list[str]:
    return [m for (m,) in rows(url, "SELECT media_generation_id FROM generated_images")]


# --- the database stops in the middle of storing a generation ---------------------------------------

def generate_while_the_server_stops(svc: Service, standin: StandInServer, pg: TcpPostgres,
                                    prompt: str) -> GenerationResult:
    """Generate; while the answer is on its way (a slow stand-in), the database server stops."""
    standin.delay("generate", 1.0)
    before = standin.calls["generate"]
    results: list[GenerationResult] = []
    worker = threading.Thread(target=lambda: results.append(svc.generate(GenerationRequest(prompt, count=2))))
    worker.start()
    wait_for(lambda: standin.calls["generate"] > before, what="the generate request")
    pg.stop(remove=False)
    worker.join(30)
    assert len(results) == 1, "the generation failed instead of keeping its images"
    return results[0]


@pytest.mark.fault_case("database: server stops mid-store, spooled, stored once when back")
def test_the_database_stops_while_a_generation_is_on_its_way(
        make_service: Callable[..., Service], account: Account, own_pg: TcpPostgres, own_db_url: str,
        standin: StandInServer, data_loss: DataLoss) -> None:
    svc = make_service(url=own_db_url)
    svc.sign_in(account.cookie)
    spool = svc.spool.directory

    for round_ in (1, 2):  # twice: the second round proves nothing is stored twice
        result = generate_while_the_server_stops(svc, standin, own_pg, f"caught in the outage, round {round_}")
        assert result.spooled and "cannot be reached" in (result.storage_error or "")
        assert len(svc.spool) == 1
        round_ids = data_loss.delivered()[-2:]
        assert spooled_media_ids(spool) == set(round_ids)  # the images are on disk meanwhile

        own_pg.restart()
        if round_ == 1:
            assert svc.flush_spool() == 2  # the running app stores them once the database is back
        else:
            svc = make_service(url=own_db_url)  # or the next start does
        assert len(svc.spool) == 0
        entry = result.generation
        svc.spool.put(entry)  # a crash between commit and unlink leaves the entry behind...
        assert svc.flush_spool() == 0 and len(svc.spool) == 0  # ...and it is not stored again

    stored = media_ids(own_db_url)
    assert len(stored) == 4 and len(set(stored)) == 4
    assert sorted(stored) == sorted(data_loss.delivered())
    assert rows(own_db_url, "SELECT prompt_text FROM prompts ORDER BY id") == [
        ("caught in the outage, round 1",), ("caught in the outage, round 2",)]
    assert data_loss.check(db_urls=[own_db_url], spools=[spool]) == []


# --- two app processes on one database -------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    from core.config import load_settings
    from core.imagefx import GenerationRequest
    from core.service import GenerationResult, Service

    tag, start_at = sys.argv[1], float(sys.argv[2])
    svc = Service(load_settings())
    while time.time() < start_at:  # both processes begin together
        time.sleep(0.005)
    svc.open()
    for i in range(20):
        svc.generate(GenerationRequest(f"{tag} prompt {i:02d}", count=2))
    svc.close()
    print("done", tag, flush=True)
""")


@pytest.mark.fault_case("database: two app processes write 20 generations each at once")
def test_two_processes_write_to_one_database_at_once(cli_env: dict[str, str], db_url: str, tmp_path: Path,
                                                     demo_cookie: str, data_loss: DataLoss) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**cli_env, "GOOGLE_COOKIE": demo_cookie}  # a fresh database: both bootstrap the schema at once
    start_at = f"{time.time() + 1.0:.3f}"
    procs = [subprocess.Popen([sys.executable, str(script), tag, start_at], env=env, cwd=str(ROOT),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("alpha", "beta")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0 and "done" in out, err[-2000:]

    prompts = rows(db_url, "SELECT prompt_text, number_of_images, created_at FROM prompts ORDER BY created_at, id")
    assert len(prompts) == 40 and len({p for p, _, _ in prompts}) == 40
    assert all(n == 2 for _, n, _ in prompts)
    tags = [p.split()[0] for p, _, _ in prompts]
    switches = sum(1 for a, b in zip(tags, tags[1:], strict=False) if a != b)
    assert switches >= 3, tags  # really interleaved, not one after the other
    assert rows(db_url, "SELECT count(*), count(DISTINCT media_generation_id) FROM generated_images") == [(80, 80)]
    assert rows(db_url, "SELECT count(*) FROM generated_images g LEFT JOIN image_thumbnails t ON t.image_id = g.id "
                        "WHERE t.image_id IS NULL") == [(0,)]
    assert rows(db_url, "SELECT count(*) FROM users") == [(1,)]
    assert data_loss.check(db_urls=[db_url]) == []


FLUSHER = textwrap.dedent("""
    import sys, time
    from core.config import load_settings
    from core.service import GenerationResult, Service

    start_at = float(sys.argv[1])
    svc = Service(load_settings())
    while time.time() < start_at:
        time.sleep(0.005)
    svc.open()  # stores what is spooled
    svc.close()
    print("done", flush=True)
""")


@pytest.mark.fault_case("database: two processes flush the same spool at once, no duplicates")
def test_two_processes_storing_the_same_spool_at_once_store_each_image_once(
        make_service: Callable[..., Service], settings: object, cli_env: dict[str, str], db_url: str,
        tmp_path: Path, data_dir: Path, demo_cookie: str, data_loss: DataLoss) -> None:
    from urllib.parse import urlsplit, urlunsplit

    from core.store import Database
    from tests.support.net import TcpProxy, closed_port

    # The spool keeps entries for the database that was down (issue 13): the flushers open that
    # same database once it is back (its port now forwards to the real server).
    real = urlsplit(db_url)
    port = closed_port()
    same = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{port}"))
    down = Service(settings, cookie=demo_cookie,  # type: ignore[arg-type]
                   database=Database(settings, url=same))  # type: ignore[arg-type]
    try:
        for i in range(5):
            assert down.generate(GenerationRequest(f"spooled while down {i}", count=2)).spooled
    finally:
        down.close()
    assert len(down.spool) == 5
    script = tmp_path / "flusher.py"
    script.write_text(FLUSHER)
    env = {**cli_env, "IMAGEFX_DATA_DIR": str(data_dir), "DATABASE_URL": same}  # the same spool and database
    start_at = f"{time.time() + 1.0:.3f}"
    with TcpProxy((real.hostname or "127.0.0.1", real.port or 5432), port=port):
        procs = [subprocess.Popen([sys.executable, str(script), start_at], env=env, cwd=str(ROOT),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0 and "done" in out, err[-2000:]
    assert len(down.spool) == 0
    assert rows(db_url, "SELECT count(*), count(DISTINCT prompt_text) FROM prompts") == [(5, 5)]
    assert rows(db_url, "SELECT count(*), count(DISTINCT media_generation_id) FROM generated_images") == [(10, 10)]
    assert data_loss.check(db_urls=[db_url], spools=[down.spool.directory]) == []


# --- a full disk, an unwritable data folder ----------------------------------------------------------

def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A data folder on a 1 MB file system that is already full (a tmpfs mounted for the test)."""
    mnt = tmp_path / "tiny-fs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small file system of its own: mounting one needs root")
    done = _mount("-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mnt))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()})")
    try:
        (mnt / "data").mkdir()
        with open(mnt / "filler", "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        yield mnt / "data"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A data folder nobody may write: read-only by mode, and (as root, who ignores modes) on a
    read-only bind mount."""
    d = tmp_path / "readonly"
    (d / "data").mkdir(parents=True)
    mounted = False
    if os.geteuid() == 0:
        if _mount("--bind", str(d), str(d)).returncode != 0:
            pytest.skip("root ignores file modes, and a read-only bind mount is not allowed here")
        mounted = True
        if _mount("-o", "remount,bind,ro", str(d)).returncode != 0:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)
            pytest.skip("a read-only bind mount is not allowed here")
    else:
        (d / "data").chmod(0o500)
    try:
        yield d / "data"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)
        else:
            (d / "data").chmod(0o700)


@pytest.mark.fault_case("database: disk full under the data folder")
def test_a_full_disk_is_one_clear_line_and_the_images_are_saved_as_files(
        cli: Run, full_disk: Path, tmp_path: Path, demo_cookie: str, data_loss: DataLoss) -> None:
    env = {"DATABASE_URL": "", "IMAGEFX_DATA_DIR": str(full_disk)}
    out = tmp_path / "out"
    done = cli("generate", "-p", "a cat on a full disk", "-n", "2", "-d", str(out), "-c", demo_cookie, env=env)
    line = one_line_error(done, 6, "the disk holding", "is full")
    assert str(out) in line  # where the images are
    assert len(done.stdout.splitlines()) == 2
    assert data_loss.check(folders=[out]) == []
    one_line_error(cli("history", env=env), 6, "the disk holding", "is full")


@pytest.mark.fault_case("database: unwritable data folder")
def test_an_unwritable_data_folder_is_one_clear_line(cli: Run, unwritable_dir: Path, tmp_path: Path,
                                                     demo_cookie: str, data_loss: DataLoss) -> None:
    env = {"DATABASE_URL": "", "IMAGEFX_DATA_DIR": str(unwritable_dir)}
    out = tmp_path / "out"
    done = cli("generate", "-p", "a cat in a locked room", "-n", "1", "-d", str(out), "-c", demo_cookie, env=env)
    line = one_line_error(done, 6, "not writable")
    assert str(out) in line
    assert data_loss.check(folders=[out]) == []
    one_line_error(cli("history", env=env), 6, "not writable")
    assert json.loads(cli("history", "--json", env={"IMAGEFX_DATA_DIR": str(unwritable_dir)}).stdout or "[]") == []
