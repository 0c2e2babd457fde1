"""Fixtures of the fault suite: an account of its own on the stand-in (so a test may revoke it),
and a signed-in service whose retries wait milliseconds instead of seconds."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from core.cli import COOKIE_ON_COMMAND_LINE
from core.config import Settings
from core.imagefx.protocol import SESSION_COOKIE_NAMES
from core.service import Service
from core.standin import StandInServer
from core.store import Database
from tests.support.pg import TcpPostgres, create_database, drop_database


@dataclass(frozen=True)
class Account:
    session_token: str
    email: str

    @property
    def cookie(self) -> str:
        return f"{SESSION_COOKIE_NAMES[0]}={self.session_token}; _ga=GA1.1.faultsuite"


@pytest.fixture
def account(standin: StandInServer) -> Account:
    """A fresh stand-in account: its cookie can be revoked without touching other tests."""
    token = f"fault-{uuid.uuid4().hex}"
    acc = Account(token, f"{token[:14]}@example.com")
    standin.add_account(acc.session_token, acc.email, "Fault Tester")
    return acc


def quick_retries(svc: Service, *, retries: int | None = None) -> Service:
    """The client's backoff in milliseconds, so a retried case takes no seconds."""
    client = svc.client()
    client.backoff = 0.01
    if retries is not None:
        client.retries = retries
    return svc


@pytest.fixture
def fault_service(make_service: Callable[..., Service], account: Account) -> Service:
    """Signed in with the test's own account, retries quick."""
    svc = make_service()
    svc.sign_in(account.cookie)
    return quick_retries(svc)


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *phrases: str) -> str:
    """The single stderr line of a CLI run that failed with ``code`` and says ``phrases``."""
    # The warning that --cookie VALUE is visible to other users is not the error (tests/e2e/test_cli_input.py).
    lines = [line for line in done.stderr.splitlines() if line.strip() and line != COOKIE_ON_COMMAND_LINE]
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, lines
    for phrase in phrases:
        assert phrase.lower() in lines[0].lower(), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def module_db(pg_tcp: TcpPostgres) -> Iterator[str]:
    """One database for a module's cases that each compare counts before and after."""
    name, url = create_database(pg_tcp.url(), prefix="imagefx_faults")
    yield url
    drop_database(pg_tcp.url(), name)


@pytest.fixture(scope="module")
def module_account(standin_server: StandInServer) -> Account:
    token = f"fault-module-{uuid.uuid4().hex}"
    acc = Account(token, f"{token[:20]}@example.com")
    standin_server.add_account(acc.session_token, acc.email, "Fault Module")
    return acc


@pytest.fixture(scope="module")
def module_service(tmp_path_factory: pytest.TempPathFactory, standin_server: StandInServer, module_db: str,
                   module_account: Account) -> Iterator[Service]:
    """A service on ``module_db`` with the module's account as its cookie (no keyring needed)."""
    data = tmp_path_factory.mktemp("faults-data")
    settings = Settings(data_dir=data, config_dir=data, labs_url=standin_server.url, api_url=standin_server.url,
                        request_timeout=10.0)
    svc = Service(settings, cookie=module_account.cookie, database=Database(settings, url=module_db)).open()
    quick_retries(svc, retries=1)
    yield svc
    svc.close()
