"""What the benchmarks share: where the database is, how to open it, how to print a figure.

A *target* names one database: ``embedded:DIR`` (the app's embedded server, with ``DIR``
as ``IMAGEFX_DATA_DIR``) or ``server:URL`` (a PostgreSQL server, as ``DATABASE_URL``).
The same strings go to ``seed.py`` and ``bench.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.config import Settings, load_settings  # noqa: E402
from core.store import Database  # noqa: E402

# Variables of the developer's own set-up that must not leak into a benchmark run.
_FOREIGN_ENV = ("GOOGLE_COOKIE", "DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
                "IMAGEFX_DB", "LOG_QUERIES", "IMAGEFX_DEMO", "IMAGEFX_LABS_URL", "IMAGEFX_API_URL",
                "IMAGEFX_CONFIG_DIR", "IMAGEFX_DATA_DIR")


@dataclass(frozen=True)
class Target:
    mode: str  # "embedded" or "server"
    data_dir: Path  # IMAGEFX_DATA_DIR for the app (for a server: a scratch dir for settings and logs)
    url: str = ""  # server mode only

    @classmethod
    def parse(cls, text: str) -> Target:
        kind, sep, rest = text.partition(":")
        if not sep or kind not in ("embedded", "server") or not rest:
            raise SystemExit(f"bad target {text!r}: use embedded:DIR or server:postgresql://...")
        if kind == "embedded":
            return cls("embedded", Path(rest).expanduser().resolve())
        scratch = Path(tempfile.gettempdir()) / f"imagefx-bench-{hashlib.sha256(rest.encode()).hexdigest()[:10]}"
        return cls("server", scratch, rest)

    @property
    def label(self) -> str:
        return "embedded" if self.mode == "embedded" else "server"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for ``python main.py`` / the CLI on this database."""
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env.update({"IMAGEFX_DATA_DIR": str(self.data_dir), "PYTHONPATH": str(ROOT),
                    "QT_QPA_PLATFORM": env.get("QT_QPA_PLATFORM", "offscreen")})
        if self.mode == "server":
            env["DATABASE_URL"] = self.url
        env.update(extra)
        return env

    def settings(self) -> Settings:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        s = load_settings().with_overrides(data_dir=self.data_dir, config_dir=self.data_dir)
        return s

    def database(self) -> Database:
        """The app's own Database object (embedded server started on connect)."""
        if self.mode == "embedded":
            return Database(self.settings())
        return Database(self.settings(), url=self.url)


def clean_process_env() -> None:
    """Drop the developer's own database/cookie settings from this process."""
    for var in _FOREIGN_ENV:
        os.environ.pop(var, None)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


@dataclass
class Figure:
    """One measured figure: samples (ms or MB), its target, and the naive way's samples if any."""

    name: str
    unit: str
    samples: list[float]
    target: float | None = None
    naive: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def naive_median(self) -> float | None:
        return statistics.median(self.naive) if self.naive else None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.median <= self.target

    def line(self) -> str:
        spread = f"[{min(self.samples):.1f}–{max(self.samples):.1f}]" if len(self.samples) > 1 else ""
        target = f"target ≤ {self.target:g} {self.unit}" if self.target is not None else ""
        verdict = "" if self.met is None else ("OK  " if self.met else "MISS")
        out = f"  {verdict:4} {self.name:<44} {self.median:9.1f} {self.unit:<3} {spread:<18} {target}"
        nm = self.naive_median
        if nm is not None:
            ratio = nm / self.median if self.median > 0 else float("inf")
            out += f"   naive {nm:.1f} {self.unit} (×{ratio:.1f})"
        if self.note:
            out += f"   {self.note}"
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "median": self.median, "samples": self.samples,
                "target": self.target, "naive_median": self.naive_median, "naive": self.naive, "met": self.met,
                "note": self.note}


def report(title: str, figures: Sequence[Figure], json_out: Path | None = None, meta: dict | None = None) -> None:
    print(title)
    for f in figures:
        print(f.line(), flush=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        existing: list[Any] = []
        if json_out.exists():
            try:
                existing = json.loads(json_out.read_text())
            except ValueError:
                existing = []
        existing.append({"title": title, **(meta or {}), "figures": [f.to_json() for f in figures]})
        json_out.write_text(json.dumps(existing, indent=1, default=str))


def server_gone(pgdata: Path, timeout: float = 30.0) -> None:
    """Wait until no server runs on ``pgdata`` (its ``postmaster.pid`` removed on shutdown)."""
    deadline = time.monotonic() + timeout
    while (pgdata / "postmaster.pid").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server of {pgdata} is still running")
        time.sleep(0.02)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
