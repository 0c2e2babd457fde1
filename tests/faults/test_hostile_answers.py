"""Hostile answers (issue 12): JSON nested deeper than any stack, an answer dripped a byte at a time,
an answer larger than any real one, and a library listing that never ends. All through the real
HTTP path: the stand-in serves each fault (``StandInServer.fail``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.imagefx import GenerationRequest, ProtocolChanged, RequestTimeout
from core.service import Service
from core.service.control import RunOutcome
from core.service.webimport import MAX_FRUITLESS_PAGES, WebImporter
from core.standin import DEMO_COOKIE, StandInServer
from tests.faults.conftest import Account
from tests.support.fault_suite import DataLoss

ROOT = Path(__file__).resolve().parents[2]
SIGNED_IN = {"GOOGLE_COOKIE": DEMO_COOKIE}  # not --cookie: that one warns about other users


@pytest.mark.fault_case("hostile answer: JSON nested 200,000 deep")
@pytest.mark.parametrize("endpoint", ["session", "generate"])
def test_json_nested_too_deep_is_a_changed_answer_not_a_crash(
        make_service, account: Account, standin: StandInServer, endpoint: str) -> None:
    svc: Service = make_service(cookie=account.cookie)
    standin.fail(endpoint, "deep_json", times=5)
    with pytest.raises(ProtocolChanged) as info:
        svc.generate(GenerationRequest("a deep answer", count=1), retries=0)
    assert "unexpected format" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.fault_case("hostile answer: JSON nested 200,000 deep (CLI: exit 5, one line)")
def test_the_cli_reports_a_deep_answer_in_one_line(cli, standin: StandInServer, demo_cookie: str,
                                                   tmp_path: Path) -> None:
    standin.fail("generate", "deep_json", times=5)
    done = cli("generate", "-p", "deep", "-n", "1", "-r", "0", "-d", str(tmp_path / "out"), env=SIGNED_IN)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 5 and len(lines) == 1 and "unexpected format" in lines[0], done.stderr
    assert "Recursion" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.fault_case("hostile answer: an answer dripped a byte at a time is cut off at the deadline")
@pytest.mark.parametrize("part, said", [("all", "did not answer in time"),
                                        ("body", "did not finish answering within 2 s")], ids=["all", "body"])
def test_a_dripped_answer_is_cut_off_at_the_call_deadline(
        make_service, settings, account: Account, standin: StandInServer, data_loss: DataLoss,
        part: str, said: str) -> None:
    svc: Service = make_service(cookie=account.cookie, settings=settings.with_overrides(request_timeout=2.0))
    svc.client().session()  # signed in: only the generate answer drips
    standin.fail("generate", "drip", interval=0.05, part=part)
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as info:
        svc.generate(GenerationRequest("a slow drip", count=1), retries=0)
    elapsed = time.monotonic() - started
    assert said in str(info.value), str(info.value)
    assert elapsed < 30, f"the call ran {elapsed:.0f} s"  # a per-read timeout alone would wait for ever
    assert data_loss.check(spools=[svc.spool.directory]) == []  # nothing was delivered whole


@pytest.mark.fault_case("hostile answer: an answer larger than any real one is refused")
def test_an_answer_beyond_the_size_cap_is_refused(make_service, account: Account, standin: StandInServer) -> None:
    svc: Service = make_service(cookie=account.cookie)
    svc.client().max_answer_bytes = 20_000  # the real cap is 96 MB; a 4-image answer is far over this one
    with pytest.raises(ProtocolChanged) as info:
        svc.generate(GenerationRequest("too big", count=4), retries=0)
    assert "more than" in str(info.value) and "MB" in str(info.value)


# --- a library listing that never ends ------------------------------------------------------------

@pytest.mark.fault_case("hostile answer: an import listing that never ends")
@pytest.mark.parametrize("fault, said", [
    ("endless_listing", f"{MAX_FRUITLESS_PAGES} pages in a row brought nothing new"),
    ("repeat_token", "went round in a circle"),
], ids=["empty-pages-new-tokens", "same-token-again"])
def test_an_endless_listing_stops_with_a_clear_message(signed_in: Service, standin: StandInServer,
                                                       fault: str, said: str) -> None:
    standin.reset_calls()
    standin.fail("user_history", fault, times=10_000)
    summary = WebImporter(signed_in, backoff=0.01, probe_interval=0.01).run()
    assert summary.outcome is RunOutcome.STALLED
    assert said in summary.message and "run it again later" in summary.message
    assert standin.calls["user_history"] <= MAX_FRUITLESS_PAGES + 1


@pytest.mark.fault_case("hostile answer: an import listing beyond the page cap")
def test_the_import_stops_at_the_page_cap(signed_in: Service, standin: StandInServer) -> None:
    standin.seed_library(signed_in.current_email() or "", 5)
    summary = WebImporter(signed_in, page_size=1, max_pages=3).run()
    assert summary.outcome is RunOutcome.STALLED and "after 3 pages" in summary.message
    assert summary.imported == 3  # what came before the cap is kept


@pytest.mark.fault_case("hostile answer: an endless import listing (CLI: exit 5, one sentence)")
def test_the_cli_stops_an_endless_listing(cli, standin: StandInServer, demo_cookie: str) -> None:
    standin.fail("user_history", "endless_listing", times=10_000)
    done = cli("import-web", env=SIGNED_IN)
    assert done.returncode == 5, done.stderr
    assert "did not end" in done.stderr and "Traceback" not in done.stderr
