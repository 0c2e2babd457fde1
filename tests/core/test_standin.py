"""The stand-in ImageFX server, over real loopback HTTP, with ``requests`` and the real client.

The app's tests trust this server to behave like ImageFX and to fail like it on demand,
so each fault is checked against the client error it must produce.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image, features

from core.imagefx import (
    AuthError,
    BadRequest,
    GenerationRequest,
    ImageFXClient,
    ImageFXError,
    NetworkError,
    ProtocolChanged,
    RateLimited,
    RequestTimeout,
    SafetyRefusal,
    ServerError,
)
from core.imagefx.protocol import (
    ASPECT_RATIOS,
    CAPTION_PATH,
    FETCH_MEDIA_PATH,
    GENERATE_PATH,
    SESSION_PATH,
    USER_HISTORY_PATH,
    caption_body,
    fetch_media_url,
    user_history_url,
)
from core.standin import AUTH_MESSAGE, DEMO_COOKIE, DEMO_EMAIL, SAFETY_MESSAGE, StandInServer
from core.standin.images import detect_image_type, image_size

REPO = Path(__file__).resolve().parents[2]
SCALE = 0.25
EXPECTED_FULL = {
    "IMAGE_ASPECT_RATIO_SQUARE": (1024, 1024),
    "IMAGE_ASPECT_RATIO_PORTRAIT": (768, 1376),
    "IMAGE_ASPECT_RATIO_LANDSCAPE": (1376, 768),
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": (1184, 864),
    "IMAGE_ASPECT_RATIO_UNSPECIFIED": (1024, 1024),
}


@pytest.fixture(scope="module")
def server() -> Iterator[StandInServer]:
    with StandInServer(image_scale=SCALE) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server: StandInServer) -> Iterator[None]:
    """Each test starts without faults and must not trip a bug inside the server."""
    server.clear_faults()
    server.rotate_cookie = False
    server.image_format = "PNG"
    yield
    server.clear_faults()
    server.rotate_cookie = False
    assert server.errors == [], server.errors[-1]


@pytest.fixture
def make_client(server: StandInServer) -> Iterator[Callable[..., ImageFXClient]]:
    clients: list[ImageFXClient] = []

    def make(cookie: str = DEMO_COOKIE, **kw: Any) -> ImageFXClient:
        opts: dict[str, Any] = {"labs_url": server.url, "api_url": server.url, "retries": 0,
                                "backoff": 0.01, "timeout": 10.0}
        opts.update(kw)
        client = ImageFXClient(cookie, **opts)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., ImageFXClient]) -> ImageFXClient:
    return make_client()


def token_for(server: StandInServer, cookie: str = DEMO_COOKIE) -> str:
    r = requests.get(server.url + SESSION_PATH, headers={"Cookie": cookie}, timeout=5)
    assert r.status_code == 200
    return r.json()["access_token"]


def gen_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "userInput": {"candidatesCount": 2, "prompts": ["a purple cat"], "seed": 0},
        "clientContext": {"sessionId": ";1757113025397", "tool": "IMAGE_FX"},
        "modelInput": {"modelNameType": "IMAGEN_3_5"},
        "aspectRatio": "IMAGE_ASPECT_RATIO_LANDSCAPE",
    }
    body.update(over)
    return body


def post_generate(server: StandInServer, body: Any, token: str | None, **headers: str) -> requests.Response:
    h = dict(headers)
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(server.url + GENERATE_PATH, data=data, headers=h, timeout=10)


def png(size: tuple[int, int] = (40, 30), colour: tuple[int, int, int] = (200, 20, 20), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


# --- session ------------------------------------------------------------------------------

def test_session_with_demo_cookie(server: StandInServer) -> None:
    r = requests.get(server.url + SESSION_PATH, headers={"Cookie": DEMO_COOKIE}, timeout=5)
    assert r.status_code == 200
    data = r.json()
    assert data["user"]["email"] == DEMO_EMAIL and data["user"]["name"] == "Demo User"
    assert data["user"]["image"].startswith("http")
    assert data["access_token"].startswith("ya29.standin-")
    assert data["expires"].endswith("Z")
    expires = datetime.fromisoformat(data["expires"][:-1] + "+00:00")
    assert 3500 < (expires - datetime.now(UTC)).total_seconds() <= 3600
    assert requests.get(data["user"]["image"], timeout=5).content.startswith(b"\x89PNG")


@pytest.mark.parametrize("cookie", [None, "_ga=GA1.1.x", "__Secure-next-auth.session-token=unknown-value"])
def test_session_without_valid_cookie_is_empty(server: StandInServer, cookie: str | None) -> None:
    r = requests.get(server.url + SESSION_PATH, headers={"Cookie": cookie} if cookie else {}, timeout=5)
    assert r.status_code == 200 and r.json() == {}


def test_session_via_client(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    info = make_client().fetch_session()
    assert info.email == DEMO_EMAIL and info.access_token.startswith("ya29.standin-")
    # The short cookie name works as well.
    assert make_client("next-auth.session-token=demo-session-token").fetch_session().email == DEMO_EMAIL
    with pytest.raises(AuthError) as exc:
        make_client("__Secure-next-auth.session-token=nobody").fetch_session()
    assert exc.value.kind == AuthError.EMPTY_SESSION


def test_revoke_kills_cookie_and_its_tokens(server: StandInServer,
                                            make_client: Callable[..., ImageFXClient]) -> None:
    cookie = "__Secure-next-auth.session-token=revoke-me-token"
    server.add_account("revoke-me-token", "revoke@imagefx.local", "Revoked User")
    client = make_client(cookie)
    client.generate(GenerationRequest("a lamp", count=1))
    server.revoke("revoke-me-token")
    r = requests.get(server.url + SESSION_PATH, headers={"Cookie": cookie}, timeout=5)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    with pytest.raises(AuthError) as exc:  # the cached token died too; the refresh is refused
        client.generate(GenerationRequest("a lamp", count=1))
    assert exc.value.kind == AuthError.REJECTED


def test_expired_token_is_refused() -> None:
    with StandInServer(image_scale=SCALE, token_lifetime=0.2) as srv:
        token = token_for(srv)
        assert post_generate(srv, gen_body(), token).status_code == 200
        time.sleep(0.3)
        r = post_generate(srv, gen_body(), token)
        assert r.status_code == 401
        assert r.json() == {"error": {"code": 401, "message": AUTH_MESSAGE, "status": "UNAUTHENTICATED"}}


def test_cookie_rotation_updates_client(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    rotated: list[str] = []
    client = make_client(on_cookie_rotated=rotated.append)
    server.rotate_cookie = True
    client.fetch_session()
    server.rotate_cookie = False
    assert client.cookie != DEMO_COOKIE and rotated == [client.cookie]
    assert "_ga=GA1.1.standin" in client.cookie
    assert "__Secure-next-auth.session-token=standin-rotated-" in client.cookie
    # Both the new and the old value are valid sessions.
    assert make_client(client.cookie).fetch_session().email == DEMO_EMAIL
    assert make_client().fetch_session().email == DEMO_EMAIL


# --- generate -----------------------------------------------------------------------------

@pytest.mark.parametrize("aspect", ASPECT_RATIOS)
def test_generate_sizes_follow_aspect_ratio(client: ImageFXClient, aspect: str) -> None:
    gen = client.generate(GenerationRequest(f"a lighthouse, {aspect}", count=4, aspect_ratio=aspect))
    assert len(gen.images) == 4
    w, h = EXPECTED_FULL[aspect]
    expected = (round(w * SCALE), round(h * SCALE))
    assert image_size(aspect, SCALE) == expected
    for img in gen.images:
        data = img.image_bytes()
        assert data.startswith(b"\x89PNG")
        with Image.open(io.BytesIO(data)) as pic:
            assert pic.format == "PNG" and pic.size == expected
        assert img.aspect_ratio == aspect and img.model == "IMAGEN_3_5"
        assert img.media_id.startswith("CAMa") and len(img.media_id) >= 36
    assert len({i.media_id for i in gen.images}) == 4
    assert len({i.seed for i in gen.images}) == 4
    assert len({i.encoded_image for i in gen.images}) == 4


def test_generate_answer_shape(server: StandInServer) -> None:
    r = post_generate(server, gen_body(), token_for(server))
    assert r.status_code == 200
    data = r.json()
    assert set(data) == {"imagePanels", "workflowId"}
    panel = data["imagePanels"][0]
    assert panel["prompt"] == "a purple cat" and len(panel["generatedImages"]) == 2
    for img in panel["generatedImages"]:
        assert set(img) == {"encodedImage", "seed", "mediaGenerationId", "isMaskEditedImage", "prompt",
                            "modelNameType", "aspectRatio", "workflowId", "fingerprintLogRecordId"}
        assert img["isMaskEditedImage"] is False and img["workflowId"] == data["workflowId"]
        assert isinstance(img["seed"], int) and img["seed"] > 0


def test_generate_is_deterministic_per_seed(client: ImageFXClient) -> None:
    a = client.generate(GenerationRequest("a red fox", count=3, seed=1234))
    b = client.generate(GenerationRequest("a red fox", count=3, seed=1234))
    assert [i.seed for i in a.images] == [1234, 1235, 1236]
    assert [i.image_bytes() for i in a.images] == [i.image_bytes() for i in b.images]
    assert {i.media_id for i in a.images}.isdisjoint(i.media_id for i in b.images)


def test_generate_jpeg_format(server: StandInServer, client: ImageFXClient) -> None:
    with pytest.raises(ValueError):
        server.image_format = "GIF"
    server.image_format = "JPEG"
    img = client.generate(GenerationRequest("a blue car", count=1)).images[0]
    assert detect_image_type(img.image_bytes()) == "jpeg"
    assert client.fetch_media(img.media_id).image_bytes() == img.image_bytes()


def test_generate_accepts_npm_client_headers(server: StandInServer) -> None:
    """No Origin, no Referer, text/plain: the published npm client's requests must pass."""
    r = post_generate(server, gen_body(), token_for(server), **{"Content-Type": "text/plain;charset=UTF-8"})
    assert r.status_code == 200
    headers = server.last_request["generate"]["headers"]
    assert "origin" not in headers and "referer" not in headers


def test_client_sends_what_the_doc_says(server: StandInServer, client: ImageFXClient) -> None:
    client.generate(GenerationRequest("a cup", count=1, aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE"))
    last = server.last_request["generate"]
    assert last["headers"]["authorization"].startswith("Bearer ya29.standin-")
    assert last["headers"]["origin"] == "https://labs.google"
    assert last["json"]["userInput"] == {"candidatesCount": 1, "prompts": ["a cup"], "seed": 0}
    assert last["json"]["aspectRatio"] == "IMAGE_ASPECT_RATIO_SQUARE"


@pytest.mark.parametrize("token", [None, "ya29.standin-unknown"])
def test_generate_without_valid_token_is_401(server: StandInServer, token: str | None) -> None:
    r = post_generate(server, gen_body(), token, Cookie=DEMO_COOKIE)  # a cookie alone is not enough here
    assert r.status_code == 401
    assert r.json() == {"error": {"code": 401, "message": AUTH_MESSAGE, "status": "UNAUTHENTICATED"}}


def _with_user_input(**over: Any) -> dict[str, Any]:
    body = gen_body()
    body["userInput"] = {**body["userInput"], **over}
    return body


@pytest.mark.parametrize(("body", "needle"), [
    (b"{not json", "JSON"),
    (_with_user_input(candidatesCount=9), "candidates_count"),
    (_with_user_input(candidatesCount=0), "candidates_count"),
    (_with_user_input(candidatesCount="4"), "candidates_count"),
    (_with_user_input(prompts=[]), "prompts"),
    (_with_user_input(prompts=[""]), "prompts"),
    (_with_user_input(prompts="a cat"), "prompts"),
    (_with_user_input(seed="abc"), "seed"),
    (_with_user_input(seed=2**40), "seed"),
    (gen_body(modelInput={"modelNameType": "IMAGEN_9"}), "model_name_type"),
    (gen_body(aspectRatio="IMAGE_ASPECT_RATIO_WIDE"), "aspect_ratio"),
    (gen_body(aspectRatio="LANDSCAPE"), "aspect_ratio"),
    (gen_body(clientContext={"sessionId": ";1757113025397"}), "tool"),
    (gen_body(clientContext={"sessionId": "1757113025397", "tool": "IMAGE_FX"}), "session_id"),
])
def test_generate_validation(server: StandInServer, body: Any, needle: str) -> None:
    r = post_generate(server, body, token_for(server))
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT" and needle in err["message"]


def test_generate_null_seed_is_accepted(server: StandInServer) -> None:
    r = post_generate(server, _with_user_input(seed=None), token_for(server))
    assert r.status_code == 200


def test_blocked_word_is_safety_refusal(server: StandInServer, client: ImageFXClient) -> None:
    r = post_generate(server, _with_user_input(prompts=["some GORE here"]), token_for(server))
    assert r.status_code == 400 and r.json()["error"]["message"] == SAFETY_MESSAGE
    with pytest.raises(SafetyRefusal):
        client.generate(GenerationRequest("a Forbidden city at night"))
    # Whole words only.
    assert client.generate(GenerationRequest("an unforbiddenly gorgeous view", count=1)).images


def test_prompt_rewriter(server: StandInServer, client: ImageFXClient) -> None:
    server.prompt_rewriter = lambda p: p.upper()
    try:
        gen = client.generate(GenerationRequest("a quiet lake", count=1))
    finally:
        server.prompt_rewriter = None
    assert gen.prompt == "a quiet lake" and gen.images[0].prompt == "A QUIET LAKE"
    assert client.fetch_media(gen.images[0].media_id).prompt == "A QUIET LAKE"


# --- faults ---------------------------------------------------------------------------------

SESSION_FAULTS = [
    ("empty_session", {}, AuthError, AuthError.EMPTY_SESSION),
    ("refresh_needed", {}, AuthError, AuthError.REFRESH_NEEDED),
    ("unauthorized", {}, AuthError, AuthError.REJECTED),
    ("forbidden", {}, AuthError, AuthError.REJECTED),
    ("html", {}, ProtocolChanged, None),
    ("truncated_json", {}, ProtocolChanged, None),
    ("server_error", {"status": 503}, ServerError, None),
]


@pytest.mark.parametrize(("fault", "params", "error", "kind"), SESSION_FAULTS)
def test_session_faults(server: StandInServer, make_client: Callable[..., ImageFXClient], fault: str,
                        params: dict[str, Any], error: type[ImageFXError], kind: str | None) -> None:
    server.fail("session", fault, **params)
    with pytest.raises(error) as exc:
        make_client().fetch_session()
    if kind is not None:
        assert getattr(exc.value, "kind", None) == kind
    assert make_client().fetch_session().email == DEMO_EMAIL  # one fault, then normal again


GENERATE_FAULTS = [
    ("unauthorized", {}, 2, AuthError),  # 2: the client refreshes the token once on a 401
    ("forbidden", {}, 2, AuthError),
    ("safety", {}, 1, SafetyRefusal),
    ("bad_request", {}, 1, BadRequest),
    ("server_error", {"status": 500}, 1, ServerError),
    ("server_error", {"status": 502}, 1, ServerError),
    ("server_error", {"status": 503}, 1, ServerError),
    ("html", {}, 1, ProtocolChanged),
    ("truncated_json", {}, 1, ProtocolChanged),
    ("no_panels", {}, 1, ProtocolChanged),
    ("bad_base64", {}, 1, ProtocolChanged),
    ("empty_session", {}, 1, ProtocolChanged),
    ("close_mid_body", {}, 1, NetworkError),
    ("reset", {}, 1, NetworkError),
]


@pytest.mark.parametrize(("fault", "params", "times", "error"), GENERATE_FAULTS)
def test_generate_faults(server: StandInServer, client: ImageFXClient, fault: str, params: dict[str, Any],
                         times: int, error: type[ImageFXError]) -> None:
    client.session()  # the token is cached; only the generate call meets the fault
    server.fail("generate", fault, times=times, **params)
    with pytest.raises(error) as exc:
        client.generate(GenerationRequest("a fault test", count=1))
    assert not isinstance(exc.value, RequestTimeout)
    if fault == "server_error":
        assert exc.value.status == params["status"]
    if error is BadRequest:
        assert not isinstance(exc.value, SafetyRefusal)
    assert server.pending_faults() == []
    assert client.generate(GenerationRequest("after the fault", count=1)).images


def test_rate_limit_carries_retry_after(server: StandInServer, client: ImageFXClient) -> None:
    client.session()
    server.fail("generate", "rate_limit", retry_after=7)
    with pytest.raises(RateLimited) as exc:
        client.generate(GenerationRequest("x", count=1))
    assert exc.value.retry_after == 7
    server.fail("generate", "rate_limit")
    with pytest.raises(RateLimited) as exc:
        client.generate(GenerationRequest("x", count=1))
    assert exc.value.retry_after is None


def test_hang_is_a_timeout(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client(timeout=1.0)
    client.session()
    server.fail("generate", "hang")
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        client.generate(GenerationRequest("x", count=1))
    assert time.monotonic() - started < 5
    assert client.generate(GenerationRequest("x", count=1)).images  # the server is not stuck


def test_not_image_is_delivered_as_is(server: StandInServer, client: ImageFXClient) -> None:
    client.session()
    server.fail("generate", "not_image")
    img = client.generate(GenerationRequest("x", count=1)).images[0]
    assert img.image_bytes() == b"this is not an image"
    assert detect_image_type(img.image_bytes()) is None


def test_unauthorized_once_is_healed_by_a_token_refresh(server: StandInServer, client: ImageFXClient) -> None:
    client.session()
    before = client.session_fetches
    server.fail("generate", "unauthorized")
    assert client.generate(GenerationRequest("x", count=1)).images
    assert client.session_fetches == before + 1


@pytest.mark.parametrize(("endpoint", "fault", "error"), [
    ("fetch_media", "no_panels", ProtocolChanged),
    ("fetch_media", "bad_base64", ProtocolChanged),
    ("user_history", "truncated_json", ProtocolChanged),
    ("user_history", "html", ProtocolChanged),
    ("caption", "server_error", ServerError),
    ("caption", "no_panels", ProtocolChanged),
    ("caption", "reset", NetworkError),
])
def test_trpc_faults(server: StandInServer, client: ImageFXClient, endpoint: str, fault: str,
                     error: type[ImageFXError]) -> None:
    media_id = client.generate(GenerationRequest("trpc", count=1)).images[0].media_id
    server.fail(endpoint, fault)
    call = {"fetch_media": lambda: client.fetch_media(media_id).image_bytes(),
            "user_history": lambda: client.user_history(),
            "caption": lambda: client.caption(png(), "image/png", 2)}[endpoint]
    # fetch_media does not check base64 itself (unlike generate): image_bytes() raises ValueError.
    with pytest.raises((error, ValueError) if fault == "bad_base64" else error):
        call()


def test_wildcard_fault_hits_next_call(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    server.fail("*", "server_error", status=503)
    with pytest.raises(ServerError):
        make_client().fetch_session()
    assert server.pending_faults() == []


def test_fault_times_and_clear(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    server.fail("session", "empty_session", times=2)
    for _ in range(2):
        with pytest.raises(AuthError):
            make_client().fetch_session()
    make_client().fetch_session()
    server.fail("session", "empty_session", times=5)
    server.clear_faults()
    make_client().fetch_session()


def test_fail_rejects_unknown_names(server: StandInServer) -> None:
    with pytest.raises(ValueError):
        server.fail("generate", "meteor")
    with pytest.raises(ValueError):
        server.fail("nowhere", "reset")
    with pytest.raises(ValueError):
        server.fail("session", "bad_base64")
    with pytest.raises(ValueError):
        server.fail("generate", "server_error", status=404)
    with pytest.raises(ValueError):
        server.fail("generate", "reset", retry_afterr=1)


def test_retries_survive_server_errors(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client(retries=2, backoff=0.01)
    client.session()
    before = server.calls["generate"]
    server.fail("generate", "server_error", times=2)
    assert client.generate(GenerationRequest("retry me", count=1)).images
    assert server.calls["generate"] - before == 3


def test_retry_after_is_honoured(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    client = make_client(retries=1, backoff=30.0)  # a backoff wait would blow the time limit below
    client.session()
    before = server.calls["generate"]
    server.fail("generate", "rate_limit", retry_after=0.1)
    started = time.monotonic()
    assert client.generate(GenerationRequest("patience", count=1)).images
    elapsed = time.monotonic() - started
    assert 0.1 <= elapsed < 3
    assert server.calls["generate"] - before == 2


def test_delay(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    server.delay("session", 0.3)
    started = time.monotonic()
    make_client().fetch_session()
    assert time.monotonic() - started >= 0.3


def test_stop_does_not_wait_for_a_hanging_request() -> None:
    srv = StandInServer(image_scale=SCALE).start()
    srv.fail("session", "hang")
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(requests.get(srv.url + SESSION_PATH, headers={"Cookie": DEMO_COOKIE}, timeout=20))
        except requests.RequestException as exc:
            outcome.append(exc)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 5
    while srv.calls["session"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 2
    t.join(5)
    assert not t.is_alive() and isinstance(outcome[0], requests.RequestException)


# --- fetchMedia and history ---------------------------------------------------------------

def test_fetch_media_returns_generated_bytes(server: StandInServer, client: ImageFXClient) -> None:
    gen = client.generate(GenerationRequest("a bowl of ramen", count=2, seed=77,
                                            aspect_ratio="IMAGE_ASPECT_RATIO_PORTRAIT"))
    for img in gen.images:
        got = client.fetch_media(img.media_id)
        assert got.image_bytes() == img.image_bytes()
        assert (got.seed, got.prompt, got.aspect_ratio, got.media_id) == (img.seed, img.prompt,
                                                                           img.aspect_ratio, img.media_id)
    # The raw answer, with a cookie alone (no bearer token), as the doc reports.
    r = requests.get(fetch_media_url(server.url, gen.images[0].media_id), headers={"Cookie": DEMO_COOKIE},
                     timeout=5)
    image = r.json()["result"]["data"]["json"]["result"]["image"]
    assert image["mediaVisibility"] == "PRIVATE" and image["previousMediaGenerationId"] == ""
    assert server.last_request["fetch_media"]["input"] == {"json": {"mediaKey": gen.images[0].media_id}}


def test_fetch_media_unknown_and_foreign(server: StandInServer, client: ImageFXClient,
                                         make_client: Callable[..., ImageFXClient]) -> None:
    r = requests.get(fetch_media_url(server.url, "CAMa-nope"), headers={"Cookie": DEMO_COOKIE}, timeout=5)
    assert r.status_code == 404
    assert r.json() == {"error": {"json": {"message": "Media not found", "code": -32004,
                                           "data": {"code": "NOT_FOUND", "httpStatus": 404}}}}
    with pytest.raises(BadRequest):
        client.fetch_media("CAMa-nope")
    server.add_account("other-user-token", "other@imagefx.local", "Other")
    mine = client.generate(GenerationRequest("private", count=1)).images[0].media_id
    with pytest.raises(BadRequest):
        make_client("__Secure-next-auth.session-token=other-user-token").fetch_media(mine)
    r = requests.get(fetch_media_url(server.url, mine), timeout=5)  # no credentials at all
    assert r.status_code == 401


def test_history_pages_through_seeded_library(server: StandInServer,
                                              make_client: Callable[..., ImageFXClient]) -> None:
    server.add_account("library-token", "library@imagefx.local", "Library User")
    ids = server.seed_library("library@imagefx.local", 30)
    client = make_client("__Secure-next-auth.session-token=library-token")
    sizes, seen, times = [], [], []
    cursor = None
    while True:
        page = client.user_history(cursor, limit=12)
        sizes.append(len(page.entries))
        seen.extend(e.media_id for e in page.entries)
        times.extend(e.create_time for e in page.entries)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sizes == [12, 12, 6]
    assert len(set(seen)) == 30 and set(seen) == set(ids)
    assert seen == list(reversed(ids)) and times == sorted(times, reverse=True)  # newest first
    first, last = client.fetch_media(seen[0]), client.fetch_media(seen[-1])
    assert first.prompt != last.prompt and first.seed != last.seed
    # A cookie alone is enough, and the last page carries no token.
    r = requests.get(user_history_url(server.url, None, 30),
                     headers={"Cookie": "__Secure-next-auth.session-token=library-token"}, timeout=5)
    result = r.json()["result"]["data"]["json"]["result"]
    assert len(result["userWorkflows"]) == 30 and not result.get("nextPageToken")


def test_history_rejects_bad_cursor(server: StandInServer, client: ImageFXClient) -> None:
    with pytest.raises(BadRequest):
        client.user_history("not-a-cursor!", limit=12)


def test_seed_library_with_prompts(server: StandInServer) -> None:
    server.add_account("prompts-token", "prompts@imagefx.local", "Prompts")
    ids = server.seed_library("prompts@imagefx.local", 3, prompts=["a", "b"])
    assert len(ids) == 3
    with pytest.raises(ValueError):
        server.seed_library("ghost@imagefx.local", 1)


# --- caption ------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "mime", "count"), [("PNG", "image/png", 3), ("JPEG", "image/jpeg", 5)])
def test_caption(server: StandInServer, client: ImageFXClient, fmt: str, mime: str, count: int) -> None:
    caps = client.caption(png((60, 40), (20, 40, 220), fmt), mime, count)
    assert len(caps) == count and len({c.text for c in caps}) == count
    for c in caps:
        assert "60" in c.text and "40" in c.text and "blue" in c.text.lower()
        assert c.media_id
    assert any("landscape" in c.text for c in caps)
    assert server.last_request["caption"]["json"]["json"]["captionInput"]["candidatesCount"] == count


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP", "TIFF"] + (["AVIF"] if features.check("avif") else []))
def test_caption_other_raster_types(client: ImageFXClient, fmt: str) -> None:
    data = png((30, 50), (30, 160, 40), fmt)
    caps = client.caption(data, f"image/{fmt.lower()}", 2)
    assert "30x50" in caps[0].text and "portrait" in caps[0].text


def test_caption_svg(client: ImageFXClient) -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"></svg>'
    assert "120x80" in client.caption(svg, "image/svg+xml", 1)[0].text


@pytest.mark.parametrize(("data", "mime", "count"), [
    (b"hello, I am a text file\n", "image/png", 3),
    (png(fmt="JPEG"), "image/png", 3),  # JPEG bytes labelled PNG
    (png(), "image/png", 9),
    (png(), "image/png", 0),
    (png()[:40], "image/png", 3),  # a truncated PNG cannot be decoded
])
def test_caption_rejects(server: StandInServer, client: ImageFXClient, data: bytes, mime: str,
                         count: int) -> None:
    with pytest.raises(BadRequest):
        client.caption(data, mime, count)
    r = requests.post(server.url + CAPTION_PATH, headers={"Cookie": DEMO_COOKIE},
                      data=json.dumps(caption_body(data, mime, count, ";1")), timeout=5)
    err = r.json()["error"]["json"]
    assert r.status_code == 400 and err["code"] == -32600 and err["data"]["code"] == "BAD_REQUEST"
    assert err["message"]


def test_caption_rejects_bad_data_url(server: StandInServer) -> None:
    body = caption_body(png(), "image/png", 1, ";1")
    body["json"]["captionInput"]["mediaInput"]["rawBytes"] = base64.b64encode(png()).decode()
    r = requests.post(server.url + CAPTION_PATH, headers={"Cookie": DEMO_COOKIE}, json=body, timeout=5)
    assert r.status_code == 400 and "data:" in r.json()["error"]["json"]["message"]


# --- counters, control API, logging, entry point ----------------------------------------------

def test_calls_are_counted(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    before = dict(server.calls)
    make_client().fetch_session()
    assert server.calls["session"] == before["session"] + 1
    r = requests.get(server.url + "/_standin/calls", timeout=5)
    assert r.json()["calls"]["session"] == server.calls["session"]
    assert set(server.calls) == {"session", "generate", "fetch_media", "user_history", "caption"}
    calls = server.calls
    server.reset_calls()
    assert calls is server.calls and set(calls.values()) == {0} and server.last_request == {}


def test_control_api(server: StandInServer, make_client: Callable[..., ImageFXClient]) -> None:
    url = server.url + "/_standin/"
    assert requests.post(url + "fail", json={"endpoint": "session", "fault": "rate_limit", "times": 1,
                                             "retry_after": 3}, timeout=5).status_code == 200
    with pytest.raises(RateLimited) as exc:
        make_client().fetch_session()
    assert exc.value.retry_after == 3
    requests.post(url + "fail", json={"endpoint": "session", "fault": "reset", "times": 3}, timeout=5)
    assert requests.post(url + "clear", timeout=5).status_code == 200
    assert server.pending_faults() == []
    bad = requests.post(url + "fail", json={"endpoint": "session", "fault": "meteor"}, timeout=5)
    assert bad.status_code == 400 and "meteor" in bad.json()["error"]
    assert requests.post(url + "account", json={"session_token": "ctl-token", "email": "ctl@imagefx.local",
                                                "name": "Ctl"}, timeout=5).status_code == 200
    ctl_cookie = "__Secure-next-auth.session-token=ctl-token"
    assert make_client(ctl_cookie).fetch_session().email == "ctl@imagefx.local"
    assert requests.post(url + "revoke", json={"session_token": "ctl-token"}, timeout=5).status_code == 200
    with pytest.raises(AuthError):
        make_client(ctl_cookie).fetch_session()
    r = requests.post(url + "delay", json={"endpoint": "session", "seconds": 0.01}, timeout=5)
    assert r.status_code == 200


def test_quiet_and_no_secrets_in_output(server: StandInServer, client: ImageFXClient,
                                        capfd: pytest.CaptureFixture[str]) -> None:
    token = client.session().access_token
    client.generate(GenerationRequest("quiet", count=1))
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    server.verbose = True
    try:
        client.generate(GenerationRequest("loud", count=1))
        client.fetch_media(client.user_history().entries[0].media_id)
    finally:
        server.verbose = False
    out, err = capfd.readouterr()
    assert GENERATE_PATH in err and FETCH_MEDIA_PATH in err and USER_HISTORY_PATH in err
    for secret in (token, "demo-session-token", "mediaKey"):
        assert secret not in out + err


def test_main_prints_url_and_cookie() -> None:
    with subprocess.Popen([sys.executable, "-m", "core.standin", "--port", "0", "--scale", "0.1"],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(4)]
            url = lines[0].split()[-1]
            assert url.startswith("http://127.0.0.1:")
            assert any(DEMO_COOKIE in line for line in lines)
            r = requests.get(url + SESSION_PATH, headers={"Cookie": DEMO_COOKIE}, timeout=5)
            assert r.json()["user"]["email"] == DEMO_EMAIL
        finally:
            proc.terminate()  # SIGTERM: main() stops the server and exits 0
            proc.wait(10)
    assert proc.returncode == 0
