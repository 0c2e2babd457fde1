"""Speed at scale (issue 4): start-up, gallery, search, storage, measured on a seeded database.

    python -m benchmarks.bench all --target embedded:/work/benchdata/emb-10k --size 10k
    python -m benchmarks.bench startup|gallery|search|store|generate|history --target TARGET

Each subcommand prints the median of several runs, the spread, the target beside it and, where
there is one, the naive way's figure and the ratio. ``--json-out FILE`` appends the figures to a
JSON file (``benchmarks/results/`` is git-ignored) that ``python -m benchmarks.table`` turns into
the README table. Seed the database first with ``python -m benchmarks.seed``.

Everything is real: PostgreSQL (embedded or a server), Qt widgets on the offscreen platform, the
stand-in ImageFX server over HTTP in its own process, ``python main.py`` as a subprocess.
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Figure, Target, clean_process_env, load_average, ms, report, server_gone

TARGETS: dict[str, dict[str, float]] = {
    # figure: {size: target}; ms unless the name says MB
    "startup": {"10k": 1500, "100k": 2000},
    "first_page": {"10k": 150, "100k": 200},
    "scroll_stall": {"10k": 50, "100k": 50},
    "scroll_rss": {"10k": 150, "100k": 200},
    "search": {"10k": 50, "100k": 100},
    "store": {"10k": 400, "100k": 400},
    "generate_stall": {"10k": 50, "100k": 50},
    "history_cli": {"10k": 1000, "100k": 1200},
}

SEARCH_WORDS = "golden hour"
SEARCH_SUBSTRING = "ighthou"  # inside a word: full-text cannot find it, only a substring match can
SEARCH_RARE = "tortoise reading"


def target_for(name: str, size: str) -> float:
    return TARGETS[name][size]


# --- start-up: python main.py to the first gallery page painted -----------------------------------

BARE_WINDOW = """
import os, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
t0 = float(os.environ["IMAGEFX_BENCH_T0_MONOTONIC"])
app = QApplication(sys.argv[:1])
w = QMainWindow()
w.resize(1280, 800)

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6

def report():
    print(f"IMAGEFX_BENCH first_paint since_start_ms={(time.monotonic() - t0) * 1000:.1f}", flush=True)
    QTimer.singleShot(int(os.environ.get("IMAGEFX_BENCH_IDLE_MS", "0")), idle)

def idle():
    print(f"IMAGEFX_BENCH idle rss_mb={rss():.1f}", flush=True)
    app.quit()

class Probe(QObject):
    fired = False
    def eventFilter(self, obj, event):
        if not self.fired and event.type() == QEvent.Type.Paint:
            self.fired = True
            QTimer.singleShot(0, report)
        return False

probe = Probe()
w.installEventFilter(probe)
w.show()
app.exec()
"""

IDLE_MS = 3000  # how long the window idles after its first page before its resident memory is read


def _first_paint(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, float]:
    """One cold start of ``cmd``: (ms to the first paint, the child's own ms, idle RSS MB).

    The parent's clock runs from just before the process starts to the first-paint line; the
    child's from ``IMAGEFX_BENCH_T0_MONOTONIC`` (the same instant, ``time.monotonic``: one
    system-wide clock) to just before it prints."""
    t0 = time.perf_counter()
    env = {**env, "IMAGEFX_BENCH_T0_MONOTONIC": f"{time.monotonic():.6f}", "IMAGEFX_BENCH_IDLE_MS": str(IDLE_MS)}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = idle = ""
    t1 = 0.0
    assert proc.stdout is not None
    for raw in proc.stdout:
        if raw.startswith("IMAGEFX_BENCH first_paint"):
            t1 = time.perf_counter()
            first = raw
        elif raw.startswith("IMAGEFX_BENCH idle"):
            idle = raw
            break
    _out, err = proc.communicate(timeout=60)
    if not first or not idle:
        raise RuntimeError(f"no first paint reported (exit {proc.returncode}): {err[-1500:]}")
    inner = re.search(r"since_start_ms=([\d.]+)", first)
    rss = re.search(r"rss_mb=([\d.]+)", idle)
    return ms(t1 - t0), float(inner.group(1)) if inner else float("nan"), float(rss.group(1)) if rss else 0.0


def bench_startup(target: Target, size: str, runs: int, before: Path | None = None) -> list[Figure]:
    """Cold start: a new ``python main.py`` each run (the embedded server stops when the window
    closes), against a bare ``QMainWindow`` shown, round by round in the same run; with
    ``before`` (another checkout, e.g. a ``git archive`` of main) that code too, in the same rounds.

    ``IMAGEFX_BENCH_EXIT_AFTER_FIRST_PAINT=1`` makes the app print one line when the gallery's first
    page is painted with its thumbnails, idle for ``IDLE_MS`` (3 s), print its resident memory and quit
    (gui/app.py)."""
    env = target.env(IMAGEFX_BENCH_EXIT_AFTER_FIRST_PAINT="1")
    codes = ([("before", before)] if before else []) + [("", ROOT)]
    got: dict[str, tuple[list[float], list[float], list[float]]] = {label: ([], [], []) for label, _c in codes}
    bare_ms: list[float] = []
    bare_rss: list[float] = []
    for i in range(runs + 1):  # the first round warms the OS file cache and is not counted
        for label, code in codes:
            a, a_in, a_rss = _first_paint([sys.executable, str(code / "main.py")], {**env, "PYTHONPATH": str(code)},
                                          code)
            time.sleep(0.3)
            if i > 0:
                got[label][0].append(a)
                got[label][1].append(a_in)
                got[label][2].append(a_rss)
        b, _b_in, b_rss = _first_paint([sys.executable, "-c", BARE_WINDOW], env)
        time.sleep(0.3)
        if i > 0:
            bare_ms.append(b)
            bare_rss.append(b_rss)
    figures = []
    bare, bare_mb = statistics.median(bare_ms), statistics.median(bare_rss)
    figures.append(Figure("bare QMainWindow shown (peer)", "ms", bare_ms))
    for label, (app_ms, inner, rss) in got.items():
        tag = f" [{label}]" if label else ""
        figures.append(Figure(f"cold start to first page painted{tag}", "ms", app_ms, target_for("startup", size),
                              note=f"×{statistics.median(app_ms) / bare:.2f} the bare window (target ×3); "
                                   f"the app's own clock: {statistics.median(inner):.0f} ms"))
        figures.append(Figure(f"idle window RSS (first page shown){tag}", "MB", rss, 100.0,
                              note=f"bare QMainWindow: {bare_mb:.0f} MB (×{statistics.median(rss) / bare_mb:.2f})"))
    return figures


HOLD = """
import sys
from core.config import load_settings
from core.store import Database
db = Database(load_settings()).connect()
print("ready", flush=True)
sys.stdin.readline()
db.close()
"""


def _history_once(env: dict[str, str], code: Path = ROOT) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(code / "main.py"), "history", "--limit", "50"], cwd=code,
                          env={**env, "PYTHONPATH": str(code)}, capture_output=True, text=True, timeout=60)
    t1 = time.perf_counter()
    if proc.returncode != 0 or proc.stdout.count("\n") != 50:
        raise RuntimeError(f"history failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return ms(t1 - t0)


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "pgserver", "--", *cmd] if os.geteuid() == 0 else cmd


class _FloorCluster:
    """The floor of ``history``: PostgreSQL's own tools on a cluster of their own (trust, a socket
    in its folder), a table of 2,500 generations: ``pg_ctl start -w`` + ``psql`` + ``pg_ctl stop -w``
    (cold), or ``psql`` alone (server up)."""

    def __init__(self) -> None:
        import shutil
        import tempfile

        from core.store.embedded import bin_dir

        self.bin = bin_dir()
        self.base = Path(tempfile.mkdtemp(prefix="imagefx-bench-floor-"))
        self.base.chmod(0o711)
        self.data = self.base / "pgdata"
        self.data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.data, "pgserver", "pgserver")
        subprocess.run(_as_server_user([str(self.bin / "initdb"), "-A", "trust", "-U", "postgres", "-E", "utf8",
                                        "--no-sync", "-D", str(self.data)]), check=True, capture_output=True)
        try:
            self._fill()
        except BaseException:
            self.close()  # never leave its server running
            raise

    def _fill(self) -> None:
        self.start()
        self.psql("CREATE TABLE prompts (id serial PRIMARY KEY, created_at timestamptz, prompt_text text, "
                  "seed int); INSERT INTO prompts (created_at, prompt_text, seed) SELECT now() - i * "
                  "interval '1 minute', repeat('a lighthouse at dusk ', 4), i FROM generate_series(1, 2500) i; "
                  "CREATE INDEX ON prompts (created_at DESC, id DESC)")
        self.psql("VACUUM ANALYZE prompts")
        self.stop()

    def start(self) -> None:
        subprocess.run(_as_server_user([str(self.bin / "pg_ctl"), "-w", "-s", "-D", str(self.data), "-l",
                                        str(self.data / "log"), "-o", f"-c listen_addresses='' -k {self.data}",
                                        "start"]), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(self.bin / "pg_ctl"), "-w", "-s", "-D", str(self.data), "-m", "fast",
                                        "stop"]), check=True, capture_output=True)

    QUERY = "SELECT id, created_at, prompt_text, seed FROM prompts ORDER BY created_at DESC, id DESC LIMIT 50"

    def psql(self, sql: str | None = None) -> None:
        out = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-h", str(self.data), "-U", "postgres",
                              "-d", "postgres", "-c", sql or self.QUERY], check=True, capture_output=True, text=True)
        assert sql or out.stdout.count("\n") == 50

    def close(self) -> None:
        import shutil

        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _history_sql(target: Target) -> tuple[str, str, dict[str, str]]:
    """The SQL ``history --limit 50`` runs, with its values in (for psql against the same server),
    and how psql reaches that server: (sql, connection string, environment)."""
    import psycopg
    from sqlalchemy import event

    from core.store import repo

    db = target.database()
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    try:
        db.connect()
        event.listen(db.engine, "before_cursor_execute", note)
        with db.session() as s:
            repo.history(s, limit=50)
        statement, params = next((st, pa) for st, pa in seen if "prompt_text" in st)
        with db.engine.connect() as c:
            raw = c.connection.dbapi_connection
            sql = psycopg.ClientCursor(raw).mogrify(statement, params)
        url = db.engine.url
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        host = (url.query.get("host") or url.host or "") if target.mode == "embedded" else (url.host or "")
        conninfo = f"host={host} dbname={url.database} user={url.username}" + (
            f" port={url.port}" if url.port else "")
    finally:
        db.close()
    return sql, conninfo, env


def bench_history(target: Target, size: str, runs: int, before: Path | None = None) -> list[Figure]:
    """``python main.py history --limit 50``, whole process: cold (no server running; embedded only)
    against ``pg_ctl start + psql + pg_ctl stop``, and with the server up against ``psql`` running
    the same query on the same server, round by round (with ``before``: that checkout too)."""
    from core.store.embedded import bin_dir

    env = target.env()
    codes = ([("before", before)] if before else []) + [("", ROOT)]
    figures = []
    if target.mode == "embedded":
        pgdata = target.data_dir / "pgdata"
        floor = _FloorCluster()
        cold: dict[str, list[float]] = {label: [] for label, _c in codes}
        cold_floor: list[float] = []
        try:
            for i in range(runs + 1):
                for label, code in codes:
                    server_gone(pgdata)
                    a = _history_once(env, code)
                    if i > 0:
                        cold[label].append(a)
                t = time.perf_counter()
                floor.start()
                floor.psql()
                floor.stop()
                if i > 0:
                    cold_floor.append(ms(time.perf_counter() - t))
        finally:
            floor.close()
        server_gone(pgdata)
        fl = statistics.median(cold_floor)
        figures.append(Figure("floor: pg_ctl start + psql + pg_ctl stop", "ms", cold_floor))
        for label, samples in cold.items():
            tag = f" [{label}]" if label else ""
            figures.append(Figure(f"`history --limit 50`, cold{tag}", "ms", samples, round(1.5 * fl, 1),
                                  note=f"×{statistics.median(samples) / fl:.2f} the floor (target ×1.5)"))
    hold = subprocess.Popen([sys.executable, "-c", HOLD], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    warm: dict[str, list[float]] = {label: [] for label, _c in codes}
    peer: list[float] = []
    try:
        assert hold.stdout is not None and hold.stdout.readline().strip() == "ready"
        sql, conninfo, penv = _history_sql(target)
        psql = str(bin_dir() / "psql")
        for i in range(runs + 1):
            for label, code in codes:
                a = _history_once(env, code)
                if i > 0:
                    warm[label].append(a)
            t = time.perf_counter()
            out = subprocess.run([psql, "-X", "-q", "-A", "-t", "-d", conninfo, "-c", sql], env=penv,
                                 capture_output=True, text=True, check=True)
            b = ms(time.perf_counter() - t)
            assert out.stdout.count("\n") >= 50, out.stdout[-500:]
            if i > 0:
                peer.append(b)
    finally:
        assert hold.stdin is not None
        hold.stdin.write("\n")
        hold.stdin.flush()
        hold.wait(30)
    figures.append(Figure("peer: psql, same query, same server", "ms", peer))
    for label, samples in warm.items():
        tag = f" [{label}]" if label else ""
        figures.append(Figure(f"`history --limit 50`, server up{tag}", "ms", samples, 150.0,
                              note=f"×{statistics.median(samples) / statistics.median(peer):.1f} psql"))
    return figures


# --- search ---------------------------------------------------------------------------------------

def _naive_search_sql(text: str) -> tuple[str, dict[str, Any]]:
    """ILIKE with no index to use, OFFSET paging, every column (the full image too)."""
    return ("SELECT g.*, p.prompt_text FROM generated_images g JOIN prompts p ON p.id = g.prompt_id "
            "WHERE p.prompt_text ILIKE :pat ORDER BY g.created_at DESC LIMIT 150 OFFSET 0",
            {"pat": f"%{text}%"})


def bench_search(target: Target, size: str, runs: int) -> list[Figure]:
    import sqlalchemy as sa

    from core.service import Service
    from core.store import repo

    svc = Service(target.settings(), database=target.database()).open()
    figures = []
    try:
        for label, text in (("words", SEARCH_WORDS), ("substring", SEARCH_SUBSTRING), ("rare words", SEARCH_RARE)):
            page_s, count_s, naive_s = [], [], []
            found = 0
            for i in range(runs + 1):
                t = time.perf_counter()
                rows = svc.gallery_page(search=text, limit=150, with_thumbnails=False)  # as the gallery asks
                t1 = time.perf_counter()
                n = svc.count_images(search=text)
                t2 = time.perf_counter()
                with svc.db.session() as s:
                    s.execute(sa.text("SET LOCAL enable_indexscan = off"))
                    s.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
                    sql, params = _naive_search_sql(text)
                    t3 = time.perf_counter()
                    naive_rows = s.execute(sa.text(sql), params).all()
                    t4 = time.perf_counter()
                if i > 0:
                    page_s.append(ms(t1 - t))
                    count_s.append(ms(t2 - t1))
                    naive_s.append(ms(t4 - t3))
                found = n
                del naive_rows
            assert rows or not found
            figures.append(Figure(f"search {label} ({text!r}): first page", "ms", page_s, target_for("search", size),
                                  naive=naive_s, note=f"{found:,} matches"))
            figures.append(Figure(f"search {label}: count", "ms", count_s, target_for("search", size)))
        hist = []
        for i in range(runs + 1):
            t = time.perf_counter()
            with svc.db.session() as s:
                repo.history(s, limit=50, search=SEARCH_WORDS)
            if i > 0:
                hist.append(ms(time.perf_counter() - t))
        figures.append(Figure("search words, history (CLI query)", "ms", hist, target_for("search", size)))
    finally:
        svc.close()
    return figures


# --- storing one generation --------------------------------------------------------------------------

def _generation(n: int = 4, tag: str = "") -> Any:
    from core.imagefx.types import GeneratedImage, Generation
    from core.standin.images import render_image

    prompt = f"a lighthouse on a cliff at dusk, storm clouds, oil painting {tag}"
    images = []
    for i in range(n):
        data = render_image(prompt, 1000 + i, i, "IMAGE_ASPECT_RATIO_SQUARE", scale=1.0)
        images.append(GeneratedImage(media_id=f"bench-{tag}-{i}-{time.time_ns()}",
                                     encoded_image=base64.b64encode(data).decode("ascii"), seed=1000 + i,
                                     prompt=prompt, model="IMAGEN_3_5", aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE"))
    return Generation(prompt=prompt, images=tuple(images), model="IMAGEN_3_5",
                      aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE")


def bench_store(target: Target, size: str, runs: int) -> list[Figure]:
    """prepare (decode, thumbnails on a small pool) + one transaction, as Service.generate does it.

    Naive: thumbnails made one after another, and the image column left to PostgreSQL's default
    compression (pglz), which tries to compress every megabyte of base64 PNG and fails.
    """
    import sqlalchemy as sa

    from core.service import prepare
    from core.store import repo

    svc = _service(target)
    total, prep, tx, naive = [], [], [], []
    stored: list[int] = []
    gens = [_generation(4, f"s{i}") for i in range(runs + 1)]
    naive_gens = [_generation(4, f"n{i}") for i in range(runs)]
    try:
        for i, gen in enumerate(gens):
            t = time.perf_counter()
            new = prepare.new_generation(gen, user_email="bench@example.com", user_name="Bench", user_image_url=None,
                                         requested_seed=None)
            t1 = time.perf_counter()
            with svc.db.session() as s:
                rec = repo.store_generation(s, new)
            t2 = time.perf_counter()
            stored += [r.id for r in rec.images]
            if i > 0:
                prep.append(ms(t1 - t))
                tx.append(ms(t2 - t1))
                total.append(ms(t2 - t))
        with svc.db.session() as s:
            s.execute(sa.text("ALTER TABLE generated_images ALTER COLUMN encoded_image SET STORAGE EXTENDED"))
            s.execute(sa.text("ALTER TABLE image_thumbnails ALTER COLUMN thumbnail SET STORAGE EXTENDED"))
        try:
            for gen in naive_gens:
                t = time.perf_counter()
                images = [prepare.new_image(img, gen.aspect_ratio, gen.model) for img in gen.images]  # one by one
                new = _with_images(gen, images)
                with svc.db.session() as s:
                    rec = repo.store_generation(s, new)
                naive.append(ms(time.perf_counter() - t))
                stored += [r.id for r in rec.images]
        finally:
            with svc.db.session() as s:
                s.execute(sa.text("ALTER TABLE generated_images ALTER COLUMN encoded_image SET STORAGE EXTERNAL"))
                s.execute(sa.text("ALTER TABLE image_thumbnails ALTER COLUMN thumbnail SET STORAGE EXTERNAL"))
    finally:
        if stored:
            svc.delete_images(stored)
        svc.close()
    return [Figure("store a generation of 4 (prepare + transaction)", "ms", total, target_for("store", size),
                   naive=naive),
            Figure("  of which prepare (decode + 4 thumbnails)", "ms", prep),
            Figure("  of which the transaction", "ms", tx)]


def _with_images(gen: Any, images: list[Any]) -> Any:
    from datetime import UTC, datetime

    from core.store import NewGeneration

    return NewGeneration(user_email="bench@example.com", user_name="Bench", prompt=gen.prompt, seed=0,
                         count=len(images), aspect_ratio=gen.aspect_ratio, model=gen.model, workflow_id=None,
                         images=images, created_at=datetime.now(UTC))


def _service(target: Target) -> Any:
    from core.service import Service

    return Service(target.settings(), database=target.database()).open()


# --- the GUI: first page, scrolling, memory, generating ----------------------------------------------

class _Heartbeat:
    """A 5 ms timer on the UI thread; the longest gap between ticks is the longest stall."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.gaps: list[float] = []
        self.on_tick: Callable[[], None] | None = None

    def start(self) -> None:
        self.gaps = []
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now
        if self.on_tick is not None:
            self.on_tick()

    @property
    def max_stall_ms(self) -> float:
        return ms(max(self.gaps) - self.interval) if self.gaps else 0.0


def _wait(app: Any, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    """Run the UI thread's event loop until ``cond()``, sleeping while nothing happens.

    ``processEvents(AllEvents, 5)`` returns at once when no event is pending, so a loop of it spins
    and takes a core from the workers (the first page looked ~×1.5 slower, issue 16).
    ``WaitForMoreEvents`` blocks until an event arrives; a 20 ms timer wakes the loop so the
    condition and the deadline are looked at even while nothing else happens."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.perf_counter() + timeout
    flags = QEventLoop.ProcessEventsFlag.AllEvents | QEventLoop.ProcessEventsFlag.WaitForMoreEvents
    wake = QTimer()
    wake.setInterval(20)
    wake.timeout.connect(lambda: None)
    wake.start()
    try:
        while not cond():
            if time.perf_counter() > deadline:
                raise TimeoutError("the GUI did not get there in time")
            app.processEvents(flags)
    finally:
        wake.stop()


def _window(target: Target, *, labs_url: str = "") -> tuple[Any, Any]:
    import keyring

    from core.service import Service
    from gui.app import create_application
    from gui.widgets.main_window import MainWindow
    from tests.support.memkeyring import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    app = create_application([])
    settings = target.settings()
    if labs_url:
        settings = settings.with_overrides(labs_url=labs_url, api_url=labs_url)

    def factory(_demo: bool) -> Service:
        return Service(settings, database=target.database())

    w = MainWindow(factory, settings=settings)
    w.resize(1600, 1000)
    w.main_splitter.setSizes([330, 1270])
    w.gallery_splitter.setSizes([1000, 270])
    w.show()
    _wait(app, lambda: w.ctx.connected and w.model.rowCount() > 0)
    return app, w


def _visible_ready(w: Any) -> tuple[bool, int]:
    """Whether every visible cell has its thumbnail; and how many thumbnails are decoded so far."""
    decoded = getattr(w.model, "decoded_count", lambda: -1)()
    ready = getattr(w.gallery.view, "visible_thumbnails_ready", None)  # absent before issue 4: decoded in paint
    return w.model.rowCount() > 0 and (ready is None or ready()), decoded


class _PaintProbe:
    """Notes when the gallery's viewport has been painted (an event filter; product code untouched)."""

    def __init__(self, viewport: Any) -> None:
        from PySide6.QtCore import QEvent, QObject

        probe = self

        class Filter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint:
                    probe.paints += 1
                return False

        self.paints = 0
        self.filter = Filter()
        viewport.installEventFilter(self.filter)


def _first_page_once(app: Any, w: Any, probe: _PaintProbe) -> tuple[float, int]:
    """Reload with cold thumbnail caches; ms from the query to the visible cells painted, thumbnails decoded."""
    from PySide6.QtGui import QPixmapCache

    QPixmapCache.clear()
    clear = getattr(w.model, "clear_thumbnail_cache", None)
    if clear:
        clear()
    _wait(app, lambda: not w.model.loading)
    view = w.gallery.view
    painted_at = [0.0]
    decoded = [0]

    def done() -> bool:
        if w.model.rowCount() == 0 or w.model.loading:
            return False
        ok, n = _visible_ready(w)
        if ok and probe.paints:
            before = probe.paints
            view.viewport().repaint()  # synchronous: the cells are on screen when it returns
            if probe.paints > before:
                painted_at[0] = time.perf_counter()
                decoded[0] = n
        return painted_at[0] > 0

    probe.paints = 0
    t0 = time.perf_counter()
    w.model.reload()
    _wait(app, done, 30)
    return ms(painted_at[0] - t0), decoded[0]


def _settle(app: Any, n: int = 40) -> None:
    """Let the UI thread run its loop for ``n`` × 5 ms (blocking, see :func:`_wait`)."""
    end = time.perf_counter() + n * 0.005
    _wait(app, lambda: time.perf_counter() >= end, timeout=n * 0.005 + 60)


def _scroll_once(app: Any, w: Any) -> tuple[float, float, int, float]:
    """Scroll from the top to the very end, a screen per 16 ms frame, the model fetching page after page.

    Returns (longest UI stall ms, peak RSS above idle MB, rows, seconds)."""
    import psutil
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QPixmapCache

    proc = psutil.Process()
    view = w.gallery.view
    QPixmapCache.clear()
    w.model.reload()
    _wait(app, lambda: w.model.rowCount() > 0 and not w.model.loading)
    _settle(app)
    gc.collect()
    idle = proc.memory_info().rss
    peak = [idle]
    sb = view.verticalScrollBar()
    step = max(1, view.viewport().height())
    ticks = [0]
    finished = [False]

    def tick() -> None:
        ticks[0] += 1
        if ticks[0] % 20 == 0:
            peak[0] = max(peak[0], proc.memory_info().rss)

    # The end: before issue 11 the model appended pages as the view neared its end (done when no page
    # was left); since, every image has a row from the count on and rows load as they are painted
    # (done when the last row is in).
    loaded_last = getattr(w.model, "is_loaded", None)

    def at_end() -> bool:
        if loaded_last is None:
            return w.model.exhausted
        return w.model.counted and loaded_last(w.model.rowCount() - 1)

    def scroll() -> None:
        if sb.value() >= sb.maximum() and at_end() and not w.model.loading:
            finished[0] = True
            return
        sb.setValue(min(sb.maximum(), sb.value() + step))

    hb = _Heartbeat()
    hb.on_tick = tick
    scroller = QTimer()
    scroller.setInterval(16)
    scroller.timeout.connect(scroll)
    t0 = time.perf_counter()
    hb.start()
    scroller.start()
    _wait(app, lambda: finished[0], 900)
    scroller.stop()
    _settle(app)  # the last thumbnails arrive
    hb.stop()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return hb.max_stall_ms, round((peak[0] - idle) / 1e6, 1), len(w.model.records()), time.perf_counter() - t0


def _scroll_in_child(target: Target) -> tuple[float, float, int, float]:
    import json

    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench", "_scroll", "--target", _target_text(target)],
                          cwd=ROOT, env=target.env(), capture_output=True, text=True, timeout=1200)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"scroll run failed ({proc.returncode}): {proc.stderr[-1500:]}")
    d = json.loads(lines[-1])
    return d["stall_ms"], d["rss_mb"], d["rows"], d["seconds"]


def _target_text(target: Target) -> str:
    return f"embedded:{target.data_dir}" if target.mode == "embedded" else f"server:{target.url}"


def scroll_child(target: Target) -> None:
    """``bench.py _scroll``: one whole-gallery scroll in this (new) process; prints one JSON line."""
    import json

    app, w = _window(target)
    try:
        stall, mb, rows, seconds = _scroll_once(app, w)
    finally:
        w.close()
        app.processEvents()
    print(json.dumps({"stall_ms": stall, "rss_mb": mb, "rows": rows, "seconds": seconds}), flush=True)


def bench_gallery(target: Target, size: str, runs: int, scroll_runs: int) -> list[Figure]:
    app, w = _window(target)
    probe = _PaintProbe(w.gallery.view.viewport())
    try:
        first, decoded = [], []
        for i in range(runs + 1):
            t, n = _first_page_once(app, w, probe)
            if i > 0:
                first.append(t)
                decoded.append(n)
        naive_first = _naive_first_page(w, runs)
        figures = [Figure("first page, query to pixels", "ms", first, target_for("first_page", size),
                          naive=naive_first,
                          note=f"page of {w.model.rowCount()} rows, {min(decoded)} thumbnails decoded")]
        stalls, rss = [], []
        rows, elapsed = 0, 0.0
        for _ in range(scroll_runs):  # each in a new process: a fresh heap, as when the app starts
            stall, mb, rows, elapsed = _scroll_in_child(target)
            stalls.append(stall)
            rss.append(mb)
        figures.append(_last_page(w, runs))
        figures.append(Figure("scroll whole gallery: longest UI stall", "ms", stalls, target_for("scroll_stall", size),
                              naive=_naive_screen_decode(w), note=f"{rows:,} rows loaded in {elapsed:.0f} s"))
        figures.append(Figure("scroll whole gallery: RSS above idle", "MB", rss, target_for("scroll_rss", size),
                              naive=[_naive_memory_mb(w)], note="naive: rows holding their full images (est.)"))
    finally:
        w.close()
        app.processEvents()
    return figures


def _last_page(w: Any, runs: int) -> Figure:
    """The last page of the gallery: keyset cursor (what the model does) against OFFSET (naive: and every column)."""
    import sqlalchemy as sa

    svc = w.ctx.service
    with svc.db.session() as s:
        n = s.execute(sa.text("SELECT count(*) FROM generated_images")).scalar_one()
        cursor = tuple(s.execute(sa.text("SELECT created_at, id FROM generated_images "
                                         "ORDER BY created_at DESC, id DESC OFFSET :k LIMIT 1"),
                                 {"k": max(0, n - 151)}).one())
    keyset, offset = [], []
    for i in range(runs + 1):
        t = time.perf_counter()
        rows = svc.gallery_page(after=cursor, limit=150, with_thumbnails=False)
        t1 = time.perf_counter()
        with svc.db.session() as s:
            naive = s.execute(sa.text("SELECT g.*, p.prompt_text FROM generated_images g LEFT JOIN prompts p "
                                      "ON p.id = g.prompt_id ORDER BY g.created_at DESC OFFSET :k LIMIT 150"),
                              {"k": max(0, n - 150)}).all()
        t2 = time.perf_counter()
        if i > 0:
            keyset.append(ms(t1 - t))
            offset.append(ms(t2 - t1))
    assert len(rows) == len(naive) == min(150, n)
    return Figure("last page of the gallery (keyset cursor)", "ms", keyset, naive=offset,
                  note="naive: OFFSET, every column")


def _naive_first_page(w: Any, runs: int) -> list[float]:
    """The naive way: OFFSET page with every column (encoded_image), full images decoded for 60 thumbnails."""
    import sqlalchemy as sa
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPixmap

    svc = w.ctx.service
    out = []
    for i in range(runs + 1):
        t = time.perf_counter()
        with svc.db.session() as s:
            rows = s.execute(sa.text("SELECT g.*, p.prompt_text FROM generated_images g "
                                     "LEFT JOIN prompts p ON p.id = g.prompt_id "
                                     "ORDER BY g.created_at DESC LIMIT 150 OFFSET 0")).mappings().all()
        for r in rows[:60]:
            img = QImage.fromData(base64.b64decode(r["encoded_image"]))
            QPixmap.fromImage(img.scaled(168, 168, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                         Qt.TransformationMode.SmoothTransformation))
        if i > 0:
            out.append(ms(time.perf_counter() - t))
    return out


def _naive_screen_decode(w: Any) -> list[float]:
    """A naive gallery decodes full images in paint: one new screenful of cells, on the UI thread."""
    import sqlalchemy as sa
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    view = w.gallery.view
    cols = max(1, view.viewport().width() // view.gridSize().width())
    rows = max(1, view.viewport().height() // view.gridSize().height())
    n = cols * (rows + 1)
    svc = w.ctx.service
    with svc.db.session() as s:
        data = s.execute(sa.text("SELECT encoded_image FROM generated_images ORDER BY created_at DESC "
                                 "LIMIT :n OFFSET 5000"), {"n": n}).scalars().all()
    t = time.perf_counter()
    for d in data:
        QImage.fromData(base64.b64decode(d)).scaled(168, 168, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                                    Qt.TransformationMode.SmoothTransformation)
    return [ms(time.perf_counter() - t)]


def _naive_memory_mb(w: Any) -> float:
    import sqlalchemy as sa

    svc = w.ctx.service
    with svc.db.session() as s:
        total = s.execute(sa.text("SELECT sum(octet_length(encoded_image)) FROM generated_images")).scalar()
    return round(float(total or 0) / 1e6, 1)


def bench_generate(target: Target, size: str, runs: int) -> list[Figure]:
    """Generate 4 full-size images against the stand-in (own process): the longest UI stall from the
    click to the new images painted at the top of the gallery."""
    from core.standin import DEMO_COOKIE

    port = _free_port()
    standin = subprocess.Popen([sys.executable, "-m", "core.standin", "--port", str(port), "--scale", "1.0"],
                               cwd=ROOT, env=target.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    url = f"http://127.0.0.1:{port}"
    stored: list[int] = []
    try:
        assert standin.stdout is not None
        standin.stdout.readline()
        app, w = _window(target, labs_url=url)
        svc = w.ctx.service
        svc.sign_in(DEMO_COOKIE)
        stalls, totals = [], []
        for i in range(runs + 1):
            stall, total, ids = _generate_once(app, w, i)
            stored += ids
            if i > 0:
                stalls.append(stall)
                totals.append(total)
        w.close()
        app.processEvents()
    finally:
        standin.send_signal(signal.SIGTERM)
        standin.wait(10)
        if stored:
            svc2 = _service(target)
            try:
                svc2.delete_images(stored)
            finally:
                svc2.close()
    shown = sorted(totals)[len(totals) // 2]
    return [Figure("generate 4 (stand-in, full size): longest UI stall", "ms", stalls,
                   target_for("generate_stall", size), note=f"click to shown: median {shown:.0f} ms")]


def _generate_once(app: Any, w: Any, i: int) -> tuple[float, float, list[int]]:
    from core.imagefx.types import GenerationRequest

    hb = _Heartbeat()
    before = w.model.rowCount()
    t0 = time.perf_counter()
    hb.start()
    w.generate(GenerationRequest(prompt=f"a lighthouse in a storm, oil painting, run {i}", count=4,
                                 model="IMAGEN_3_5", aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE"))
    _wait(app, lambda: not w.generating and w.model.rowCount() >= before + 4, 120)
    _wait(app, lambda: _visible_ready(w)[0], 30)
    _settle(app, 10)
    hb.stop()
    return hb.max_stall_ms, ms(time.perf_counter() - t0), [r.id for r in w.model.records()[:4]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["all", "startup", "gallery", "search", "store", "generate", "history", "_scroll"])
    ap.add_argument("--target", required=True, help="embedded:DIR or server:postgresql://...")
    ap.add_argument("--size", choices=["10k", "100k"], default="10k", help="which targets apply")
    ap.add_argument("--runs", type=int, default=7, help="runs per figure (median reported)")
    ap.add_argument("--scroll-runs", type=int, default=3, help="full-gallery scrolls")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--before", type=Path, default=None,
                    help="startup/history: also run this checkout of the app (e.g. a git archive of main), "
                         "round by round with this one")
    args = ap.parse_args(argv)
    clean_process_env()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    target = Target.parse(args.target)
    if args.what == "_scroll":
        scroll_child(target)
        return 0
    what = ["startup", "history", "search", "store", "gallery", "generate"] if args.what == "all" else [args.what]
    meta = {"target": target.label, "size": args.size, "load_before": load_average()}
    for name in what:
        started = time.perf_counter()
        if name == "startup":
            figs = bench_startup(target, args.size, args.runs, args.before)
        elif name == "history":
            figs = bench_history(target, args.size, args.runs, args.before)
        elif name == "search":
            figs = bench_search(target, args.size, args.runs)
        elif name == "store":
            figs = bench_store(target, args.size, args.runs)
        elif name == "gallery":
            figs = bench_gallery(target, args.size, args.runs, args.scroll_runs)
        else:
            figs = bench_generate(target, args.size, max(3, args.runs // 2))
        meta["load_after"] = load_average()
        report(f"[{target.label} {args.size}] {name}  ({time.perf_counter() - started:.0f} s, load {load_average()})",
               figs, args.json_out, {**meta, "bench": name})
    return 0


if __name__ == "__main__":
    sys.exit(main())
