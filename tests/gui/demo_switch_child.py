"""Child process for ``test_demo_switch.py``: the offline demo switched on and off in a real window.

Run as ``python -m tests.gui.demo_switch_child SWITCHES`` under an X server (``xvfb-run``,
``QT_QPA_PLATFORM=xcb``), with ``IMAGEFX_DATA_DIR`` a fresh data folder (the embedded database,
as a user has it) and ``IMAGEFX_LABS_URL``/``IMAGEFX_API_URL`` naming a stand-in that plays
Google, where ``REAL_COOKIE`` signs in ``REAL_EMAIL``.

The window is built the way ``main.py`` builds it (``gui.service_factory.default_factory``).
Before it opens, the real account stores one generation and signs out again, so the window
opens with its welcome bar. The demo is switched on from that bar, off with Ctrl+Shift+D; then
the user signs in, and the demo is switched on and off by Ctrl+Shift+D and by the Tools menu in
turn, SWITCHES times in all. After each switch
the child waits for the library to be back and checks what a user would look at: the
gallery shows that library's images only (never the other's), the account shown is the real
one outside the demo, and a Generate through the editor works and lands in that library
under that account. One JSON line per switch on stdout; exit code 0 if every switch held.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

REAL_PROMPT = "the real library's lighthouse"


def seed_real_library() -> None:
    from core.config import load_settings
    from core.imagefx import GenerationRequest
    from core.service import Service

    with Service(load_settings()) as svc:
        svc.open()
        svc.sign_in(os.environ["REAL_COOKIE"])
        svc.generate(GenerationRequest(REAL_PROMPT, count=2))
        svc.sign_out()  # a first run of the window: not signed in, so the welcome bar offers the demo


def main(switches: int) -> int:
    seed_real_library()
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from core.config import load_settings
    from core.standin import DEMO_COOKIE, DEMO_EMAIL
    from gui import theme
    from gui.app import EarlyService, create_application
    from gui.widgets.main_window import MainWindow

    real_email = os.environ["REAL_EMAIL"]
    settings = load_settings()
    early = EarlyService(None, False, settings)  # as gui.app.run builds it
    app = create_application()
    theme.apply(app, "light")
    w = MainWindow(early.factory, settings=settings)
    w.resize(1280, 800)
    w.show()
    w.activateWindow()

    def wait(cond: Any, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.processEvents()
            if cond():
                return True
            time.sleep(0.01)
        return False

    def settled() -> bool:
        return w.ctx.connected and not w.model.loading and w.worker.active == 0 and not w.generating

    def prompts() -> list[str]:
        return [w.model.record(i).prompt for i in range(w.model.rowCount())]  # type: ignore[union-attr]

    ok = wait(settled, 60)
    made = {False: 0, True: 0}  # images generated through the editor, per library
    failures = 0
    for n in range(switches + 1):
        demo = n % 2 == 1
        started = time.monotonic()
        how = "start"
        if n == 1:
            how = "welcome bar"
            wait(lambda: w.account_bar.button("Try the offline demo") is not None, 15)
            button = w.account_bar.button("Try the offline demo")
            if button is not None:
                QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        elif n:
            if n % 4 in (1, 2):
                how = "Ctrl+Shift+D"
                QTest.keyClick(w, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
            else:
                how = "Tools menu"
                w.actions_["demo"].trigger()
        problems: list[str] = []
        if not wait(lambda d=demo: settled() and w.ctx.service is not None and w.ctx.service.demo == d, 45):
            problems.append(f"no working library after the switch ({w.db_label.text()!r}, "
                            f"banner {w.db_banner.text!r})")
        switched_in = time.monotonic() - started
        if n == 2 and not problems:
            # Back from the demo, still not signed in: the welcome bar again. Then the user signs in
            # (what Account → Sign in does), and from now on the real account is there to check.
            if w.account_bar.button("Try the offline demo") is None:
                problems.append(f"no welcome bar after the demo: {w.account_bar.text!r}")
            signed_real: list[object] = []
            w.ctx.call(lambda s: s.sign_in(os.environ["REAL_COOKIE"]), on_success=signed_real.append,
                       on_failure=signed_real.append)
            wait(lambda signed_real=signed_real: bool(signed_real), 15)
            w.refresh_accounts()
        if n == 1 and not problems:
            # Signing in while in the demo (Account → Sign in, with the demo's cookie) must not make
            # the demo account the real one: after the demo, Generate still uses the user's own.
            signed: list[object] = []
            w.ctx.call(lambda s: s.sign_in(DEMO_COOKIE), on_success=signed.append, on_failure=signed.append)
            wait(lambda signed=signed: bool(signed), 15)
        if not problems and n == 0:  # not signed in yet: the library is shown, nothing is generated
            if REAL_PROMPT not in prompts():
                problems.append(f"the real library is not what the gallery shows: {prompts()[:4]}")
        elif not problems:
            shown = prompts()
            real_shown = [p for p in shown if p.startswith(("the real library", "real generation"))]
            demo_shown = [p for p in shown if p.startswith("demo generation")]
            if demo and real_shown:
                problems.append(f"the demo shows the real library's images: {real_shown[:2]}")
            if not demo and (demo_shown or REAL_PROMPT not in shown):
                problems.append(f"the real library is not what the gallery shows: {shown[:4]}")
            if len(shown) != made[demo] + (0 if demo else 2):
                problems.append(f"{len(shown)} images shown, {made[demo] + (0 if demo else 2)} expected")
            wait(lambda: w.account.current is not None, 10)
            account = w.account.current.email if w.account.current else None
            if account != (DEMO_EMAIL if demo else real_email):
                problems.append(f"the account shown is {account}")
            prompt = f"{'demo' if demo else 'real'} generation {n}"
            w.editor.set_text(prompt)
            w.editor.count.setValue(1)
            QTest.mouseClick(w.editor.generate_button, Qt.MouseButton.LeftButton)
            if not wait(lambda: not w.generating and w.worker.active == 0, 30):
                problems.append("the generation did not finish")
            elif not prompts() or prompts()[0] != prompt:
                problems.append(f"Generate failed: {w.editor.status.text()!r} {w.message_bar.text!r}")
            else:
                made[demo] += 1
                top = w.model.record(0)
                who = top.user_email if top else None
                if who != (DEMO_EMAIL if demo else real_email):
                    problems.append(f"generated as {who}")
        failures += bool(problems)
        print(json.dumps({"switch": n, "demo": demo, "how": how, "seconds": round(switched_in, 2),
                          "problems": problems}), flush=True)
    w.close()
    early.discard()
    QApplication.processEvents()
    return 0 if ok and not failures else 3


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
