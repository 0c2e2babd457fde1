"""Network and service faults, through the core service and through ``python main.py``.

Every case runs against the stand-in server over real HTTP and a real PostgreSQL database,
checks the error the user sees (type, sentence, no secret), that nothing half-done was
stored, and counts the images that were delivered but kept nowhere (``data_loss``).
Cases already covered elsewhere carry the same marker there (tests/e2e/test_cli_errors.py,
tests/core/test_client.py, tests/gui/test_errors.py) and are not repeated here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.imagefx import (
    AuthError,
    BadRequest,
    GenerationRequest,
    ImageFXError,
    NetworkError,
    ProtocolChanged,
    RateLimited,
    RequestTimeout,
    SafetyRefusal,
    ServerError,
)
from core.service import Service, describe
from core.standin import StandInServer
from tests.faults.conftest import Account, one_line_error, quick_retries
from tests.support.dbcheck import counts, rows
from tests.support.fault_suite import DataLoss
from tests.support.net import closed_url
from tests.support.pg import TcpPostgres, create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., subprocess.CompletedProcess[str]]
TWO = GenerationRequest("a lighthouse in a storm", count=2)


@dataclass(frozen=True)
class Fault:
    """One way the service can fail, and what the user must be told."""

    id: str
    faults: tuple[tuple[str, str, dict[str, Any]], ...]  # (endpoint, fault, params), queued in order
    error: type[ImageFXError]
    phrase: str
    kind: str | None = None  # AuthError.kind
    settings: dict[str, Any] = field(default_factory=dict)


def _on(endpoint: str, fault: str, **params: Any) -> tuple[str, str, dict[str, Any]]:
    return (endpoint, fault, params)


# The session faults strike mid-session: one 401 on generate makes the client refresh its
# token, and the refresh meets the dead session.
SERVICE_FAULTS = [
    Fault("session-answers-empty", (_on("generate", "unauthorized"), _on("session", "empty_session")),
          AuthError, "not a signed-in labs.google session", AuthError.EMPTY_SESSION),
    Fault("session-refresh-needed", (_on("generate", "unauthorized"), _on("session", "refresh_needed")),
          AuthError, "can no longer create access tokens", AuthError.REFRESH_NEEDED),
    Fault("session-403", (_on("generate", "unauthorized"), _on("session", "forbidden")),
          AuthError, "rejected the cookie", AuthError.REJECTED),
    Fault("api-403", (_on("generate", "forbidden", times=2),), AuthError, "no longer accepts your sign-in",
          AuthError.REJECTED),
    Fault("safety", (_on("generate", "safety"),), SafetyRefusal, "safety filter"),
    Fault("other-400", (_on("generate", "bad_request"),), BadRequest, "rejected the request"),
    Fault("429-retry-after", (_on("generate", "rate_limit", retry_after=120),), RateLimited, "wait 2 minutes"),
    Fault("429-no-retry-after", (_on("generate", "rate_limit", times=3),), RateLimited, "wait a minute"),
    Fault("500", (_on("generate", "server_error", status=500, times=3),), ServerError, "HTTP 500"),
    Fault("502", (_on("generate", "server_error", status=502, times=3),), ServerError, "HTTP 502"),
    Fault("503", (_on("generate", "server_error", status=503, times=3),), ServerError, "HTTP 503"),
    Fault("html-instead-of-json", (_on("generate", "html"),), ProtocolChanged, "unexpected format"),
    Fault("truncated-json", (_on("generate", "truncated_json"),), ProtocolChanged, "unexpected format"),
    Fault("no-image-panels", (_on("generate", "no_panels"),), ProtocolChanged, "unexpected format"),
    Fault("image-not-base64", (_on("generate", "bad_base64"),), ProtocolChanged, "cannot be decoded"),
    Fault("image-not-an-image", (_on("generate", "not_image"),), ProtocolChanged, "not an image"),
    Fault("connection-refused", (), NetworkError, "refused the connection", settings={"api_url": "closed"}),
    Fault("no-answer-timeout", (_on("generate", "hang", seconds=5),), RequestTimeout, "did not answer in time",
          settings={"request_timeout": 0.5}),
    Fault("closed-mid-body", (_on("generate", "close_mid_body", times=3),), NetworkError, "Check your internet"),
    Fault("connection-reset", (_on("generate", "reset", times=3),), NetworkError, "Check your internet"),
]


@pytest.mark.fault_case("network: service")
@pytest.mark.parametrize("case", SERVICE_FAULTS, ids=[c.id for c in SERVICE_FAULTS])
def test_a_failing_generation_says_what_happened_and_stores_nothing_half_done(
        case: Fault, request: pytest.FixtureRequest, standin: StandInServer, data_loss: DataLoss) -> None:
    if case.settings:  # a service of its own, with other settings (no shared database then)
        account: Account = request.getfixturevalue("account")
        overrides = {k: (closed_url() if v == "closed" else v) for k, v in case.settings.items()}
        settings = request.getfixturevalue("settings").with_overrides(**overrides)
        svc: Service = request.getfixturevalue("make_service")(settings=settings)
        svc.sign_in(account.cookie)
        quick_retries(svc, retries=1)
        db_url: str = request.getfixturevalue("db_url")
        secret = account.session_token
    else:
        svc = request.getfixturevalue("module_service")
        db_url = request.getfixturevalue("module_db")
        secret = request.getfixturevalue("module_account").session_token
    if "api_url" not in case.settings:  # the session works, and a generation, before the fault
        assert svc.generate(GenerationRequest("a good start", count=1)).record.images
    before = counts(db_url)
    for endpoint, fault, params in case.faults:
        standin.fail(endpoint, fault, **params)

    with pytest.raises(case.error) as info:
        svc.generate(TWO)

    err = info.value
    message = describe(err)
    assert case.phrase.lower() in message.lower(), message
    assert "\n" not in message and secret not in message + repr(err)
    assert "ya29." not in message + repr(err) + (err.detail or "")
    if case.kind:
        assert err.kind == case.kind  # type: ignore[attr-defined]
    assert counts(db_url) == before  # no prompt row without its images, no half generation
    assert len(svc.spool) == 0
    assert data_loss.check(db_urls=[db_url], spools=[svc.spool.directory]) == []
    standin.clear_faults()


def test_an_expired_cookie_mid_session_asks_to_sign_in_again(fault_service: Service, account: Account,
                                                             standin: StandInServer, db_url: str,
                                                             data_loss: DataLoss) -> None:
    """The cookie dies (signed out elsewhere) after a good session: 401 on the call, 401 on the refresh."""
    fault_service.generate(GenerationRequest("before the cookie died", count=2))
    standin.revoke(account.session_token)
    with pytest.raises(AuthError) as info:
        fault_service.generate(TWO)
    assert info.value.kind == AuthError.REJECTED and "Sign in again" in str(info.value)
    assert [r.prompt for r in fault_service.history()] == ["before the cookie died"]
    assert data_loss.check(db_urls=[db_url]) == []


test_an_expired_cookie_mid_session_asks_to_sign_in_again = pytest.mark.fault_case(
    "network: cookie expired mid-session (service)")(test_an_expired_cookie_mid_session_asks_to_sign_in_again)


RECOVERABLE = [
    ("429-retry-after-short", "rate_limit", {"retry_after": 0.05}),
    ("429-no-retry-after", "rate_limit", {}),
    ("500", "server_error", {"status": 500}),
    ("502", "server_error", {"status": 502}),
    ("503", "server_error", {"status": 503}),
    ("connection-reset", "reset", {}),
    ("closed-mid-body", "close_mid_body", {}),
    ("401-token-refreshed", "unauthorized", {}),
]


@pytest.mark.fault_case("network: succeeds after retries, stored exactly once")
@pytest.mark.parametrize("fault, params", [c[1:] for c in RECOVERABLE], ids=[c[0] for c in RECOVERABLE])
def test_a_generation_that_succeeds_after_retries_stores_its_images_exactly_once(
        fault_service: Service, standin: StandInServer, db_url: str, data_loss: DataLoss, fault: str,
        params: dict[str, Any]) -> None:
    quick_retries(fault_service, retries=2)
    before = standin.calls["generate"]
    times = 1 if fault == "unauthorized" else 2
    standin.fail("generate", fault, times=times, **params)
    result = fault_service.generate(GenerationRequest("third time lucky", count=3))
    assert standin.calls["generate"] == before + times + 1
    assert not result.spooled and len(result.record.images) == 3
    delivered = data_loss.delivered()
    assert len(delivered) == 3  # only the answer that arrived whole carried images
    assert rows(db_url, "SELECT prompt_text, number_of_images FROM prompts") == [("third time lucky", 3)]
    stored = [m for (m,) in rows(db_url, "SELECT media_generation_id FROM generated_images")]
    assert sorted(stored) == sorted(delivered) and len(set(stored)) == 3
    assert data_loss.check(db_urls=[db_url]) == []


# --- the same faults through python main.py --------------------------------------------------------

CLI_FAULTS = [
    ("truncated-json", "truncated_json", {}, 5, "unexpected format"),
    ("image-not-base64", "bad_base64", {}, 5, "cannot be decoded"),
    ("image-not-an-image", "not_image", {}, 5, "not an image"),
    ("closed-mid-body", "close_mid_body", {}, 5, "check your internet"),
    ("connection-reset", "reset", {}, 5, "check your internet"),
    ("other-400", "bad_request", {}, 5, "rejected the request"),
    ("429-no-retry-after", "rate_limit", {}, 5, "wait a minute"),
    ("500", "server_error", {"status": 500}, 5, "HTTP 500"),
    ("502", "server_error", {"status": 502}, 5, "HTTP 502"),
]


@pytest.mark.fault_case("network: CLI")
@pytest.mark.parametrize("fault, params, code, phrase", [c[1:] for c in CLI_FAULTS], ids=[c[0] for c in CLI_FAULTS])
def test_the_cli_says_it_in_one_line_with_its_exit_code(cli: Run, standin: StandInServer, tmp_path: Path,
                                                        db_url: str, demo_cookie: str, data_loss: DataLoss,
                                                        fault: str, params: dict[str, Any], code: int,
                                                        phrase: str) -> None:
    standin.fail("generate", fault, times=3, **params)
    done = cli("generate", "-p", "a quiet lake", "-n", "2", "-r", "0", "-d", str(tmp_path / "out"),
               "-c", demo_cookie)
    line = one_line_error(done, code, phrase)
    assert "demo-session-token" not in done.stdout + line and "ya29." not in done.stdout + line
    assert done.stdout == ""
    assert counts(db_url)["prompts"] == 0
    assert data_loss.check(db_urls=[db_url], spools=[tmp_path / "cli-data" / "spool"]) == []


@pytest.mark.fault_case("network: CLI succeeds after retries, stored exactly once")
def test_the_cli_retries_and_stores_once(cli: Run, standin: StandInServer, tmp_path: Path, db_url: str,
                                         demo_cookie: str, data_loss: DataLoss) -> None:
    standin.fail("generate", "rate_limit", times=2, retry_after=0)
    done = cli("generate", "-p", "stored once", "-n", "2", "-r", "2", "-d", str(tmp_path / "out"),
               "-c", demo_cookie)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2
    assert rows(db_url, "SELECT count(*), count(DISTINCT media_generation_id) FROM generated_images") == [(2, 2)]
    assert data_loss.check(db_urls=[db_url]) == []


@pytest.fixture
def isolated_network() -> list[str]:
    """A command prefix that runs a process in a network namespace of its own, with only its
    own loopback: a DNS lookup fails at once there, and no packet leaves the machine."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("DNS failure needs unshare and ip (util-linux, iproute2)")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no permission for a network namespace here ({probe.stderr.decode().strip()})")
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


@pytest.mark.fault_case("network: DNS failure (CLI, through the service)")
def test_dns_failure(isolated_network: list[str], pg_tcp: TcpPostgres, cli_env: dict[str, str],
                     tmp_path: Path, demo_cookie: str) -> None:
    # The database is reached over its Unix socket, which a network namespace does not cut off.
    name, _ = create_database(pg_tcp.url())
    try:
        env = {**cli_env, "IMAGEFX_LABS_URL": "http://labs.imagefx-fault-suite.invalid",
               "IMAGEFX_API_URL": "http://api.imagefx-fault-suite.invalid",
               "DATABASE_URL": f"postgresql://postgres@/{name}?host={pg_tcp.base}&port={pg_tcp.port}"}
        done = subprocess.run([*isolated_network, sys.executable, str(ROOT / "main.py"), "generate", "-p", "a cat",
                               "-n", "1", "-r", "1", "-d", str(tmp_path / "out"), "-c", demo_cookie],
                              env=env, capture_output=True, text=True, timeout=60, cwd=str(ROOT))
        one_line_error(done, 5, "DNS lookup failed")
    finally:
        drop_database(pg_tcp.url(), name)
    assert os.environ.get("IMAGEFX_API_URL") is None  # nothing leaked into this process
