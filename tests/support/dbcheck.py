"""Looking at a test database from outside the app: psql, and raw psycopg reads."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg

from tests.support.pg import pg_bin

TABLES = ("users", "sessions", "prompts", "generated_images", "image_thumbnails", "image_captions")


def run_psql(url: str, file: Path) -> subprocess.CompletedProcess[str]:
    """``psql -f file`` as a person would run it; stops at the first error."""
    return subprocess.run([str(pg_bin() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(file)],
                          capture_output=True, text=True, timeout=60)


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def scalar(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    result = rows(url, sql, params)
    return result[0][0] if result else None


def execute(url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, params)  # type: ignore[arg-type]


def counts(url: str, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]
