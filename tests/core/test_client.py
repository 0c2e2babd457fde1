"""The ImageFX client against the stand-in server over real HTTP on loopback.

Token caching, cookie rotation, which failures are retried (and how long it waits), and
the base URLs taken from the environment.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from core.config import load_settings
from core.imagefx import (
    AuthError,
    BadRequest,
    GenerationRequest,
    ImageFXClient,
    NetworkError,
    ProtocolChanged,
    RateLimited,
    RequestTimeout,
    SafetyRefusal,
    ServerError,
)
from core.imagefx.errors import ImageFXError
from core.standin import DEMO_COOKIE, DEMO_EMAIL, StandInServer
from tests.support.net import closed_url

ONE = GenerationRequest("a red fox in the snow", count=1)


@pytest.fixture
def make_client(standin: StandInServer) -> Iterator[Callable[..., ImageFXClient]]:
    made: list[ImageFXClient] = []

    def make(cookie: str = DEMO_COOKIE, **kw: object) -> ImageFXClient:
        kw.setdefault("labs_url", standin.url)
        kw.setdefault("api_url", standin.url)
        kw.setdefault("timeout", 10.0)
        kw.setdefault("retries", 2)
        kw.setdefault("backoff", 0.01)
        client = ImageFXClient(cookie, **kw)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


class Calls:
    """How many requests an endpoint of the shared stand-in received since this was made."""

    def __init__(self, server: StandInServer) -> None:
        self.server = server
        self.start = dict(server.calls)

    def __getitem__(self, endpoint: str) -> int:
        return self.server.calls[endpoint] - self.start[endpoint]


# --- the access token ----------------------------------------------------------------------------

def test_the_access_token_is_fetched_once_for_many_calls(standin: StandInServer, make_client: Callable[
        ..., ImageFXClient]) -> None:
    client = make_client()
    calls = Calls(standin)
    gen = client.generate(ONE)
    client.generate(ONE)
    client.generate(GenerationRequest("a blue car", count=2))
    client.fetch_media(gen.images[0].media_id)
    client.caption(gen.images[0].image_bytes(), "image/png", 1)
    assert calls["generate"] == 3 and calls["fetch_media"] == 1 and calls["caption"] == 1
    assert calls["session"] == 1
    assert client.session_fetches == 1


def test_threads_starting_at_once_fetch_the_token_once(standin: StandInServer, make_client: Callable[
        ..., ImageFXClient]) -> None:
    client = make_client()
    standin.delay("session", 0.3)  # a slow session answer: every thread arrives while it is pending
    calls = Calls(standin)
    barrier = threading.Barrier(6)
    results: list[object] = []

    def work() -> None:
        barrier.wait()
        try:
            results.append(client.generate(ONE))
        except ImageFXError as exc:  # pragma: no cover - reported below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 6 and all(not isinstance(r, Exception) for r in results), results
    assert calls["session"] == 1
    assert calls["generate"] == 6


@pytest.mark.parametrize("lifetime, expected_fetches", [
    (4 * 60.0, 3),  # inside the refresh margin from the start: refreshed before every call
    (3 * 24 * 3600.0, 1),  # tokens reported to live for days: trust "expires", keep it
])
def test_the_token_is_refreshed_only_when_it_is_about_to_expire(lifetime: float, expected_fetches: int) -> None:
    with StandInServer(image_scale=0.1, token_lifetime=lifetime) as server:
        client = ImageFXClient(DEMO_COOKIE, labs_url=server.url, api_url=server.url, retries=0)
        for _ in range(3):
            client.generate(ONE)
        client.close()
        assert server.calls["session"] == expected_fetches
        assert server.calls["generate"] == 3


@pytest.mark.fault_case("network: client 401 mid-session refreshes once")
def test_a_token_rejected_midway_is_refreshed_once_and_the_call_repeated(
        standin: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client()
    client.session()
    first = client.session().access_token
    calls = Calls(standin)
    standin.fail("generate", "unauthorized")
    gen = client.generate(ONE)
    assert len(gen.images) == 1
    assert calls["session"] == 1 and calls["generate"] == 2
    assert client.session().access_token != first


def test_a_rotated_session_cookie_is_kept_and_sent_from_then_on(
        standin: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    rotated: list[str] = []
    client = make_client(on_cookie_rotated=rotated.append)
    standin.rotate_cookie = True
    client.generate(ONE)
    assert client.cookie != DEMO_COOKIE
    assert "standin-rotated-" in client.cookie and "_ga=GA1.1.standin" in client.cookie
    assert rotated == [client.cookie]
    kept = client.cookie
    standin.rotate_cookie = False
    client.fetch_session()
    assert standin.last_request["session"]["headers"]["cookie"] == kept


def test_requests_carry_the_headers_of_the_web_app(standin: StandInServer,
                                                   make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client()
    client.generate(ONE)
    session_headers = standin.last_request["session"]["headers"]
    generate_headers = standin.last_request["generate"]["headers"]
    assert "authorization" not in session_headers
    assert session_headers["cookie"] == DEMO_COOKIE
    assert generate_headers["authorization"] == f"Bearer {client.session().access_token}"
    assert generate_headers["origin"] == "https://labs.google"
    assert generate_headers["referer"] == "https://labs.google/fx/tools/image-fx"
    assert generate_headers["content-type"] == "application/json"


# --- retries -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fault, params", [
    ("rate_limit", {}),
    ("server_error", {"status": 500}),
    ("server_error", {"status": 503}),
    ("reset", {}),
    ("close_mid_body", {}),
], ids=["429", "500", "503", "connection-reset", "cut-off-answer"])
@pytest.mark.fault_case("network: client retries")
def test_rate_limits_server_errors_and_broken_connections_are_retried(
        standin: StandInServer, make_client: Callable[..., ImageFXClient], fault: str,
        params: dict[str, object]) -> None:
    client = make_client(retries=2)
    client.session()
    calls = Calls(standin)
    standin.fail("generate", fault, times=2, **params)
    assert len(client.generate(ONE).images) == 1
    assert calls["generate"] == 3


@pytest.mark.fault_case("network: client retries stop")
def test_retries_stop_after_the_configured_number(standin: StandInServer,
                                                  make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client(retries=2)
    client.session()
    calls = Calls(standin)
    standin.fail("generate", "server_error", times=5, status=502)
    with pytest.raises(ServerError):
        client.generate(ONE)
    assert calls["generate"] == 3
    calls = Calls(standin)
    with pytest.raises(ServerError):
        client.generate(ONE, retries=0)  # the CLI's --retry 0
    assert calls["generate"] == 1


@pytest.mark.parametrize("endpoint, fault, error", [
    ("generate", "safety", SafetyRefusal),
    ("generate", "bad_request", BadRequest),
    ("generate", "html", ProtocolChanged),
    ("generate", "no_panels", ProtocolChanged),
    ("generate", "truncated_json", ProtocolChanged),
    ("generate", "bad_base64", ProtocolChanged),
    ("session", "empty_session", AuthError),
    ("session", "refresh_needed", AuthError),
    ("session", "unauthorized", AuthError),
    ("session", "forbidden", AuthError),
])
@pytest.mark.fault_case("network: client not retried")
def test_refusals_bad_cookies_and_bad_answers_are_not_retried(
        standin: StandInServer, make_client: Callable[..., ImageFXClient], endpoint: str, fault: str,
        error: type[ImageFXError]) -> None:
    client = make_client(retries=3)
    if endpoint != "session":
        client.session()
    calls = Calls(standin)
    standin.fail(endpoint, fault, times=5)
    started = time.monotonic()
    with pytest.raises(error):
        client.generate(ONE)
    assert calls[endpoint] == 1
    assert time.monotonic() - started < 1.0


@pytest.mark.fault_case("network: client timeout")
def test_a_request_that_gets_no_answer_times_out(standin: StandInServer,
                                                 make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client(timeout=0.5, retries=2)
    client.session()
    calls = Calls(standin)
    standin.fail("generate", "hang", seconds=5)
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        client.generate(ONE)
    assert time.monotonic() - started < 2.0
    assert calls["generate"] == 1  # the service may still be working on it: not sent again


@pytest.mark.fault_case("network: client 429 Retry-After honoured")
def test_retry_after_is_honoured(standin: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client(retries=1, backoff=0.01)
    client.session()
    calls = Calls(standin)
    standin.fail("generate", "rate_limit", retry_after=1)
    started = time.monotonic()
    client.generate(ONE)
    elapsed = time.monotonic() - started
    assert calls["generate"] == 2
    assert 1.0 <= elapsed < 3.0


@pytest.mark.fault_case("network: client long Retry-After")
def test_a_long_retry_after_is_handed_to_the_caller_instead_of_slept_through(
        standin: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client(retries=3)
    client.session()
    calls = Calls(standin)
    standin.fail("generate", "rate_limit", retry_after=600)
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        client.generate(ONE)
    assert time.monotonic() - started < 1.0
    assert calls["generate"] == 1
    assert info.value.retry_after == 600
    assert "10 minutes" in str(info.value)


# --- where it connects ---------------------------------------------------------------------------

def _client_from_settings() -> ImageFXClient:
    s = load_settings()
    return ImageFXClient(DEMO_COOKIE, labs_url=s.labs_url, api_url=s.api_url, timeout=5, retries=0)


@pytest.mark.fault_case("network: client connection refused")
def test_base_urls_come_from_the_environment(standin: StandInServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = closed_url()
    monkeypatch.setenv("IMAGEFX_LABS_URL", standin.url + "/")
    monkeypatch.setenv("IMAGEFX_API_URL", dead)
    settings = load_settings()
    assert (settings.labs_url, settings.api_url) == (standin.url, dead)

    calls = Calls(standin)
    with _client_from_settings() as client:
        assert client.fetch_session().email == DEMO_EMAIL  # labs.google: the stand-in
        with pytest.raises(NetworkError):
            client.generate(ONE)  # the API host: nothing listens there
    assert calls["session"] == 1 and calls["generate"] == 0

    monkeypatch.setenv("IMAGEFX_LABS_URL", dead)
    monkeypatch.setenv("IMAGEFX_API_URL", standin.url)
    with _client_from_settings() as client, pytest.raises(NetworkError) as info:
        client.generate(ONE)
    assert "refused" in str(info.value)


# --- the other calls -----------------------------------------------------------------------------

def test_fetch_media_returns_the_generated_image(make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client()
    gen = client.generate(GenerationRequest("a bowl of ramen", count=2, seed=42))
    assert [i.seed for i in gen.images] == [42, 43]
    fetched = client.fetch_media(gen.images[1].media_id)
    assert fetched.image_bytes() == gen.images[1].image_bytes()
    assert fetched.seed == 43 and fetched.prompt == "a bowl of ramen"


def test_caption_and_user_history(standin: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    standin.add_account("history-session", "history@example.com", "History")
    client = make_client(cookie="__Secure-next-auth.session-token=history-session")
    ids = standin.seed_library("history@example.com", 3)
    page = client.user_history(limit=2)
    assert len(page.entries) == 2 and page.next_cursor
    rest = client.user_history(page.next_cursor, limit=2)
    assert {e.media_id for e in page.entries + rest.entries} == set(ids)
    png = base64.b64decode(client.fetch_media(ids[0]).encoded_image)
    captions = client.caption(png, "image/png", 3)
    assert len(captions) == 3 and all(c.text for c in captions)
