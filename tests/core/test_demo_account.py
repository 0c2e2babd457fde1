"""The offline demo keeps its own current account: signing in or switching there never changes the
real one, which is current again when the demo ends (issue 11 §2)."""

from __future__ import annotations

from core.config import Settings
from core.service import Service
from core.standin import DEMO_COOKIE, DEMO_EMAIL, StandInServer
from core.store import Database


def test_signing_in_during_the_demo_leaves_the_real_account_current(
        signed_in: Service, standin: StandInServer, settings: Settings, db_url: str) -> None:
    standin.add_account("real-session", "real@example.com", "Real")
    signed_in.sign_in("__Secure-next-auth.session-token=real-session")
    assert signed_in.current_email() == "real@example.com"

    demo_settings = settings.with_overrides(demo=True)
    with Service(demo_settings, database=Database(demo_settings, url=db_url)) as demo:
        demo.open()
        assert demo.current_email() == DEMO_EMAIL
        assert [(a.email, a.name, a.current) for a in demo.accounts() if a.current] == [
            (DEMO_EMAIL, "Demo User", True)]
        demo.sign_in(DEMO_COOKIE)  # Account → Sign in, inside the demo
        assert demo.current_email() == DEMO_EMAIL
        assert demo.whoami().email == DEMO_EMAIL
    assert signed_in.current_email() == "real@example.com"  # what the next real Generate uses
    assert signed_in.whoami().email == "real@example.com"
