"""Cookies and tokens never reach a log record or an error message, on success or failure."""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.engine import make_url

from core.config import DatabaseSettings, Settings
from core.imagefx import GenerationRequest, ImageFXError
from core.redact import MASK, install_log_redaction, redact, redact_url, register_secret
from core.service import Service, describe
from core.standin import StandInServer
from core.store import Database

SESSION_VALUE = "zq-SESSION-9f8e7d6c5b4a3210-unique"
COOKIE = f"__Secure-next-auth.session-token={SESSION_VALUE}; _ga=GA1.1.77"
EMAIL = "redaction@example.com"


@pytest.fixture
def account(standin: StandInServer) -> Iterator[str]:
    standin.add_account(SESSION_VALUE, EMAIL, "Redaction Tester")
    yield COOKIE


def _secrets_in(text: str, extra: list[str]) -> list[str]:
    """Which secrets appear in ``text``: the session value, any stand-in token, ``extra``."""
    found = [s for s in [SESSION_VALUE, *extra] if s and s in text]
    if "ya29.standin-" in text:
        found.append("ya29.standin-…")
    return found


@pytest.mark.fault_case("security: no cookie or token in logs or exception text")
def test_no_cookie_or_token_in_logs_or_errors(service: Service, standin: StandInServer, account: str,
                                              tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()  # what both front ends install at start (core.logs.setup_logging)
    caplog.set_level(logging.DEBUG)
    errors: list[ImageFXError] = []

    service.sign_in(account)
    token = service.client().session().access_token
    standin.rotate_cookie = True
    service.client().fetch_session()  # a rotated cookie: its new value is a secret too
    rotated = service.client().cookie
    standin.rotate_cookie = False
    result = service.generate(GenerationRequest("a red kite", count=2))
    service.fetch(result.record.images[0].media_id)
    picture = tmp_path / "p.png"
    out = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(out, "PNG")
    picture.write_bytes(out.getvalue())
    service.caption_file(picture, count=1)

    # Failures whose server text echoes the secrets back, as real servers sometimes do.
    for fault, params in (("bad_request", {"message": f"Bad header Cookie: {account}"}),
                          ("rate_limit", {"message": f"quota for Bearer {token} exhausted", "retry_after": 999}),
                          ("server_error", {"message": f"upstream saw {SESSION_VALUE}"}),
                          ("safety", {})):
        standin.fail("generate", fault, **params)
        with pytest.raises(ImageFXError) as info:
            service.generate(GenerationRequest("a red kite", count=1), retries=0)
        errors.append(info.value)
        logging.getLogger("imagefx.test").warning("generate failed: %s (%s)", info.value, info.value.detail)
    standin.revoke(SESSION_VALUE)
    service.client()._session = None  # type: ignore[union-attr]  # force the dead cookie to be tried
    with pytest.raises(ImageFXError) as info:
        service.generate(GenerationRequest("a red kite", count=1))
    errors.append(info.value)
    logging.getLogger("imagefx.test").exception("with a traceback: %s", rotated)

    secrets = [token, rotated.split("=", 1)[1].split(";")[0], account, rotated]
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert _secrets_in(text, secrets) == [], (record.name, text[:300])
    for err in errors:
        for text in (str(err), repr(err), err.user_message, err.action or "", err.detail or "", describe(err)):
            assert _secrets_in(text, secrets) == [], text
    assert any(MASK in r.getMessage() for r in caplog.records)  # the echoes were there, masked


def test_registered_secrets_and_their_parts_are_masked() -> None:
    register_secret("__Secure-next-auth.session-token=abc123def456ghi; NID=nid-value-123456")
    text = redact("cookie abc123def456ghi and nid-value-123456 here")
    assert "abc123def456ghi" not in text and "nid-value-123456" not in text


@pytest.mark.parametrize("text, secret", [
    ("Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.x.y", "eyJ0eXAiOiJKV1QiLCJhbGciOi"),
    ("token ya29.a0AfH6SMBx-unseen-before", "ya29.a0AfH6SMBx-unseen-before"),
    ("Cookie: __Secure-next-auth.session-token=never-registered-value; SID=sid-never-seen",
     "never-registered-value"),
    ("Cookie: __Secure-next-auth.session-token=never-registered-value; SID=sid-never-seen", "sid-never-seen"),
    ('{"access_token": "opaque-token-never-seen", "expires": 1}', "opaque-token-never-seen"),
    ("postgresql://imagefx:hunter2-password@db.example.com:5432/imagefx_db", "hunter2-password"),
])
def test_secrets_never_seen_before_are_masked_by_their_shape(text: str, secret: str) -> None:
    assert secret not in redact(text)


@pytest.mark.fault_case("security: no password in database descriptions")
def test_database_descriptions_carry_no_password() -> None:
    url = "postgresql://imagefx:pa55-w0rd-xyz@db.example.com:5432/imagefx_db?sslmode=require&password=pa55-w0rd-xyz"
    assert "pa55-w0rd-xyz" not in redact_url(url)
    assert "pa55-w0rd-xyz" not in DatabaseSettings(mode="server", url=url).describe()
    assert "pa55-w0rd-xyz" not in DatabaseSettings(mode="server", password="pa55-w0rd-xyz").describe()


def test_a_database_given_a_url_names_that_server_without_its_password(settings: Settings) -> None:
    embedded = dataclasses.replace(settings, database=DatabaseSettings(mode="embedded"))
    url = "postgresql://imagefx:pa55-w0rd-xyz@db.example.com:5432/imagefx_db"
    assert Database(embedded).where == "the embedded database"
    for given in (url, make_url(url)):  # the settings say embedded; the URL is where the data goes
        where = Database(embedded, url=given).where
        assert "db.example.com:5432/imagefx_db" in where and "embedded" not in where
        assert "pa55-w0rd-xyz" not in where
