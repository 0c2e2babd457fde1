"""The use cases the GUI and the CLI share, on a real database and the stand-in over HTTP:
sign in, generate, fetch by media id, caption a file, history, session clean-up.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from core.imagefx import AuthError, CookieFormatError, GenerationRequest, ProtocolChanged
from core.images import ImageError
from core.secrets import SERVICE, hash_token
from core.service import Service, ValidationError
from core.standin import DEMO_COOKIE, DEMO_EMAIL, DEMO_NAME, StandInServer
from core.store import repo
from tests.support.dbcheck import counts, execute, rows, scalar
from tests.support.memkeyring import MemoryKeyring

OTHER_EMAIL = "second@example.com"
OTHER_COOKIE = "__Secure-next-auth.session-token=second-account-session"


def _sign_in_other(svc: Service, standin: StandInServer) -> None:
    standin.add_account("second-account-session", OTHER_EMAIL, "Second Person")
    svc.sign_in(OTHER_COOKIE)


def _image(fmt: str, size: tuple[int, int] = (80, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, fmt)
    return out.getvalue()


# --- sign in -------------------------------------------------------------------------------------

def test_sign_in_upserts_the_user_and_stores_a_session(service: Service, standin: StandInServer,
                                                       db_url: str) -> None:
    account = service.sign_in(DEMO_COOKIE)
    assert (account.email, account.name, account.current) == (DEMO_EMAIL, DEMO_NAME, True)
    standin.add_account("demo-session-token", DEMO_EMAIL, "Demo Renamed")  # the name changed on Google's side
    service.sign_in(DEMO_COOKIE)
    assert rows(db_url, "SELECT email, name FROM users") == [(DEMO_EMAIL, "Demo Renamed")]
    sessions = rows(db_url, "SELECT access_token, expires_at FROM sessions")
    assert len(sessions) == 2  # one per access token
    for token_hash, expires in sessions:
        assert token_hash.startswith("sha256:")
        assert timedelta(minutes=50) < expires - datetime.now(UTC) < timedelta(minutes=70)
    standin.add_account("demo-session-token", DEMO_EMAIL, DEMO_NAME)


@pytest.mark.parametrize("cookie, error", [
    ("not a cookie at all", CookieFormatError),
    ("_ga=GA1.1.1; other=2", CookieFormatError),
    ("__Secure-next-auth.session-token=nobody-has-this-session", AuthError),
])
@pytest.mark.fault_case("bad input: bad cookie at sign-in stores nothing")
def test_signing_in_with_a_bad_cookie_stores_nothing(service: Service, db_url: str, memory_keyring: MemoryKeyring,
                                                     cookie: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        service.sign_in(cookie)
    assert counts(db_url, ("users", "sessions")) == {"users": 0, "sessions": 0}
    assert memory_keyring.store == {}


def test_a_cookie_rotated_by_labs_google_is_stored_for_the_next_start(
        signed_in: Service, make_service: Callable[..., Service], standin: StandInServer,
        memory_keyring: MemoryKeyring, db_url: str) -> None:
    standin.rotate_cookie = True
    later = make_service()  # a new process: its first session call gets a new cookie
    later.generate(GenerationRequest("a rotating lighthouse", count=1))
    kept = memory_keyring.store[(SERVICE, f"cookie:{DEMO_EMAIL}")]
    assert kept != DEMO_COOKIE and "standin-rotated-" in kept
    stored = scalar(db_url, "SELECT google_cookie FROM users WHERE email = %s", (DEMO_EMAIL,))
    assert later.secrets.decrypt(stored) == kept


# --- generate ------------------------------------------------------------------------------------

def test_generate_stores_the_prompt_images_and_thumbnails_and_returns_records(
        signed_in: Service, standin: StandInServer, db_url: str) -> None:
    standin.prompt_rewriter = lambda p: p + ", highly detailed"
    result = signed_in.generate(GenerationRequest("a purple cat in a teacup", count=3, seed=100,
                                                  aspect_ratio="SQUARE"))
    record = result.record
    assert not result.spooled and record.prompt_id is not None and len(record.images) == 3
    assert [i.seed for i in record.images] == [100, 101, 102]
    for img in record.images:
        assert img.id and img.media_id.startswith("CAMa") and img.user_email == DEMO_EMAIL
        assert (img.prompt, img.returned_prompt) == ("a purple cat in a teacup",
                                                     "a purple cat in a teacup, highly detailed")
        assert (img.width, img.height, img.mime_type) == (256, 256, "image/png")
        assert img.thumbnail and img.thumbnail[:3] == b"\xff\xd8\xff"
        assert img.model == "IMAGEN_3_5" and img.aspect_ratio == "IMAGE_ASPECT_RATIO_SQUARE"
    assert rows(db_url, "SELECT prompt_text, seed, number_of_images, aspect_ratio, generation_model FROM prompts") \
        == [("a purple cat in a teacup", 100, 3, "IMAGE_ASPECT_RATIO_SQUARE", "IMAGEN_3_5")]
    assert counts(db_url)["image_thumbnails"] == 3
    stored = {m: base64.b64decode(e) for m, e in rows(db_url, "SELECT media_generation_id, encoded_image "
                                                              "FROM generated_images")}
    assert stored == {i.media_id: standin.render(i.media_id) for i in record.images}
    assert dict(result.image_bytes()) == stored


def test_generations_reuse_the_access_token_of_the_sign_in(signed_in: Service, standin: StandInServer,
                                                           db_url: str) -> None:
    before = dict(standin.calls)
    for n in range(3):
        signed_in.generate(GenerationRequest(f"a kite, take {n}", count=1))
    assert standin.calls["generate"] - before["generate"] == 3
    assert standin.calls["session"] == before["session"]
    assert scalar(db_url, "SELECT count(*) FROM sessions") == 1


def test_the_npm_clients_names_for_size_and_model_are_accepted(signed_in: Service, db_url: str) -> None:
    record = signed_in.generate(GenerationRequest("a wide valley", count=1, model="IMAGEN_4",
                                                  aspect_ratio="MOBILE_LANDSCAPE")).record
    assert record.images[0].aspect_ratio == "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE"
    assert rows(db_url, "SELECT generation_model, aspect_ratio FROM prompts") == [
        ("IMAGEN_3_5", "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE")]


@pytest.mark.parametrize("request_", [
    GenerationRequest("", count=1),
    GenerationRequest("a cat", count=0),
    GenerationRequest("a cat", count=9),
    GenerationRequest("a cat", seed=-1),
    GenerationRequest("a cat", aspect_ratio="HUGE"),
], ids=["empty-prompt", "count-0", "count-9", "negative-seed", "unknown-size"])
@pytest.mark.fault_case("bad input: out-of-range request refused (service)")
def test_bad_requests_are_refused_before_anything_is_sent(signed_in: Service, standin: StandInServer,
                                                          request_: GenerationRequest) -> None:
    before = standin.calls["generate"]
    with pytest.raises(ValidationError):
        signed_in.generate(request_)
    assert standin.calls["generate"] == before


@pytest.mark.fault_case("network: service answer not an image stores nothing")
def test_an_answer_that_is_not_an_image_stores_nothing(signed_in: Service, standin: StandInServer,
                                                       db_url: str) -> None:
    standin.fail("generate", "not_image")
    before = counts(db_url)
    with pytest.raises(ProtocolChanged):
        signed_in.generate(GenerationRequest("a cat", count=2))
    assert counts(db_url) == before and len(signed_in.spool) == 0


# --- fetch ---------------------------------------------------------------------------------------

def test_fetch_by_media_id_stores_a_new_image_once(signed_in: Service, standin: StandInServer, db_url: str) -> None:
    [media_id] = standin.seed_library(DEMO_EMAIL, 1, ["an old web image"])
    before = standin.calls["fetch_media"]
    record, data = signed_in.fetch(media_id)
    assert data == standin.render(media_id)
    assert record is not None and (record.media_id, record.prompt, record.source) == (
        media_id, "an old web image", "fetch")
    assert standin.calls["fetch_media"] == before + 1

    again, data2 = signed_in.fetch(media_id)  # from the database: no second call, no second row
    assert again is not None and again.id == record.id and data2 == data
    assert standin.calls["fetch_media"] == before + 1
    assert counts(db_url)["generated_images"] == 1


def test_fetching_an_image_generated_here_needs_no_network(signed_in: Service, standin: StandInServer) -> None:
    image = signed_in.generate(GenerationRequest("a teapot", count=1)).record.images[0]
    before = dict(standin.calls)
    record, data = signed_in.fetch(image.media_id)
    assert record is not None and record.id == image.id and data == standin.render(image.media_id)
    assert standin.calls == before


# --- captions ------------------------------------------------------------------------------------

def test_caption_a_file_persists_the_captions(signed_in: Service, tmp_path: Path, db_url: str) -> None:
    photo = tmp_path / "holiday photo.png"
    photo.write_bytes(_image("PNG"))
    result = signed_in.caption_file(photo, count=2)
    assert len(result.captions) == 2 and result.image_type == "png"
    assert rows(db_url, "SELECT image_path, image_type, caption_text FROM image_captions ORDER BY id") == [
        (str(photo.resolve()), "png", text) for text in result.captions]


def test_the_image_type_comes_from_the_bytes_not_the_name(signed_in: Service, tmp_path: Path,
                                                          db_url: str) -> None:
    misnamed = tmp_path / "really-a-jpeg.png"
    misnamed.write_bytes(_image("JPEG"))
    assert signed_in.caption_file(misnamed, count=1).image_type == "jpeg"
    assert scalar(db_url, "SELECT image_type FROM image_captions") == "jpeg"


@pytest.mark.fault_case("bad input: text file named .png")
def test_a_text_file_named_png_is_refused(signed_in: Service, standin: StandInServer, tmp_path: Path,
                                          db_url: str) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("shopping list: milk, eggs")
    before = standin.calls["caption"]
    with pytest.raises(ImageError, match="not an image"):
        signed_in.caption_file(fake)
    assert standin.calls["caption"] == before
    assert counts(db_url)["image_captions"] == 0


# --- history -------------------------------------------------------------------------------------

@pytest.fixture
def library(signed_in: Service, standin: StandInServer) -> Service:
    """Four generations by two accounts, oldest first: fox, cat, fox (other user), owl."""
    signed_in.generate(GenerationRequest("a red fox in snow", count=1))
    signed_in.generate(GenerationRequest("a cat on a windowsill", count=2))
    _sign_in_other(signed_in, standin)
    signed_in.generate(GenerationRequest("a grey fox at night", count=1))
    signed_in.switch_account(DEMO_EMAIL)
    signed_in.generate(GenerationRequest("an owl, 100% awake", count=1))
    return signed_in


def test_history_is_newest_first(library: Service) -> None:
    assert [r.prompt for r in library.history()] == [
        "an owl, 100% awake", "a grey fox at night", "a cat on a windowsill", "a red fox in snow"]
    assert [r.image_count for r in library.history()] == [1, 1, 2, 1]


def test_history_pages(library: Service) -> None:
    first = library.history(limit=2)
    assert [r.prompt for r in first] == ["an owl, 100% awake", "a grey fox at night"]
    with library.db.session() as s:
        rest = repo.history(s, limit=2, before=(first[-1].created_at, first[-1].prompt_id))
    assert [r.prompt for r in rest] == ["a cat on a windowsill", "a red fox in snow"]

    page1 = library.gallery_page(limit=3)
    page2 = library.gallery_page(limit=3, after=page1[-1].cursor)
    assert len(page1) == 3 and len(page2) == 2
    assert len({i.id for i in page1 + page2}) == 5
    stamps = [(i.created_at, i.id) for i in page1 + page2]
    assert stamps == sorted(stamps, reverse=True)


def test_images_added_since_are_what_was_stored_after_the_last_look(library: Service,
                                                                    make_service: Callable[..., Service]) -> None:
    _, since = library.images_added_since(None)
    assert library.images_added_since(since) == ([], since)  # nothing new: the same mark

    other = make_service()  # another process on the same database (the CLI, a second window)
    other.sign_in(DEMO_COOKIE)
    other.generate(GenerationRequest("a fox cub in tall grass", count=2))
    other.generate(GenerationRequest("a lighthouse in fog", count=3))

    new, mark = library.images_added_since(since)
    assert [r.prompt for r in new] == ["a fox cub in tall grass"] * 2 + ["a lighthouse in fog"] * 3
    assert mark == max(r.id for r in new) and library.images_added_since(mark) == ([], mark)

    # the filter applies, and the mark still moves past what it leaves out
    foxes, fox_mark = library.images_added_since(since, search="fox")
    assert [r.prompt for r in foxes] == ["a fox cub in tall grass"] * 2 and fox_mark == mark
    # a burst bigger than the limit comes over several calls, none skipped
    first, after_first = library.images_added_since(since, limit=3)
    rest, end = library.images_added_since(after_first, limit=3)
    assert after_first == first[-1].id and end == mark
    assert [r.id for r in first + rest] == [r.id for r in new]


@pytest.mark.parametrize("search, expected", [
    ("fox", ["a grey fox at night", "a red fox in snow"]),
    ("FOX NIGHT", ["a grey fox at night"]),
    ("indowsil", ["a cat on a windowsill"]),  # a plain substring works too
    ("100%", ["an owl, 100% awake"]),  # LIKE wildcards are text, not patterns
    ("giraffe", []),
])
def test_history_filters_by_text(library: Service, search: str, expected: list[str]) -> None:
    assert [r.prompt for r in library.history(search=search)] == expected


def test_history_filters_by_user(library: Service) -> None:
    assert [r.prompt for r in library.history(user_email=OTHER_EMAIL.upper())] == ["a grey fox at night"]
    assert len(library.history(user_email=DEMO_EMAIL)) == 3


# --- sessions ------------------------------------------------------------------------------------

@pytest.mark.fault_case("maintenance: delete expired sessions (service)")
def test_delete_expired_sessions(signed_in: Service, db_url: str) -> None:
    user_id = scalar(db_url, "SELECT id FROM users")
    with signed_in.db.session() as s:
        repo.store_session(s, user_id, hash_token("an-old-token"), datetime.now(UTC) - timedelta(hours=1))
    assert scalar(db_url, "SELECT count(*) FROM sessions") == 2
    assert signed_in.delete_expired_sessions() == 1
    [(left,)] = rows(db_url, "SELECT access_token FROM sessions")
    assert left == hash_token(signed_in.client().session().access_token)
    assert signed_in.delete_expired_sessions() == 0
    execute(db_url, "UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert signed_in.delete_expired_sessions() == 1
