"""Child process for ``test_layout_xvfb.py``: the real window on a real X server (xcb), at each size.

Run as ``python -m tests.gui.layout_child JSON_ARGS``; prints one JSON line: the problems found
(:mod:`tests.support.layout_check`) and the screenshots taken. It opens the main window on a
database the parent filled (images with long prompts, a caption, queue items), against the
stand-in, and looks at: the default window against the screen; at every size, the Gallery tab
with an image selected, the Captions tab and the Queue tab; then the dialogs (sign-in with its
result shown, Settings → Database after a failed connection test, the web import, the shortcuts
window) and the viewer with its parameters, each inside the screen and centred.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(args: dict) -> int:
    from PySide6.QtCore import QEventLoop, QSize

    from core.config import load_settings
    from core.service import Service
    from core.standin import DEMO_COOKIE
    from core.store import Database
    from gui import theme
    from gui.app import create_application
    from gui.widgets.main_window import MainWindow
    from tests.support.layout_check import centred_on, fits_screen, problems
    from tests.support.shortcut_check import shared_keys

    settings = load_settings().with_overrides(labs_url=args["standin"], api_url=args["standin"],
                                              request_timeout=10.0)
    app = create_application([])
    theme.apply(app, "light")
    svc = Service(settings, database=Database(settings, url=args["db"])).open()
    svc.sign_in(DEMO_COOKIE)
    shots = Path(args["shots"])
    shots.mkdir(parents=True, exist_ok=True)
    found: list[str] = []
    taken: list[str] = []

    def wait(cond: object, seconds: float = 20) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            if cond():  # type: ignore[operator]
                return True
            time.sleep(0.01)
        return False

    def settle(ms: int = 250) -> None:
        end = time.monotonic() + ms / 1000
        while time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.01)

    def look(widget: object, where: str, shot: str) -> None:
        settle(150)  # layouts asked for (a name that changed, a row that loaded) are done
        found.extend(f"{where}: {p}" for p in problems(widget))  # type: ignore[arg-type]
        path = shots / f"{shot}.png"
        widget.grab().save(str(path))  # type: ignore[attr-defined]
        taken.append(str(path))

    w = MainWindow(lambda _demo: svc, settings=settings)
    w.show()
    wait(lambda: w.ctx.connected and w.model.counted and not w.model.loading)
    wait(lambda: w.gallery.view.visible_thumbnails_ready(), 10)
    tag = args["tag"]
    screen = w.screen().availableGeometry()
    problem = fits_screen(w)
    if problem:
        found.append(f"default window on {screen.width()}x{screen.height()}: {problem}")
    look(w, f"default {w.width()}x{w.height()}", f"{tag}-default")
    # the Captions tab with results: a picture with a long file name, and a file it refuses
    w.captions.add_paths([Path(p) for p in args["caption_files"]])
    wait(lambda: not w.captions.busy and w.worker.active == 0, 30)
    w.gallery.select_ids([w.model.id_at(0)])
    found.extend(f"two commands on {k}: {v}" for k, v in shared_keys(w).items())  # X11's key bindings
    # a board with a long name holding two images, and a saved search: the board's view at every size
    board = "Prints for the long hallway upstairs, second try"
    w.boards.add_to_board(board, [w.model.id_at(0), w.model.id_at(1)], create=True)
    w.boards.save_search("Everything with a lighthouse, best first", "lighthouse", "rating")
    wait(lambda: board in w.boards_sidebar.names("board") and w.boards_sidebar.names("search"), 10)
    for text in args["sizes"]:
        width, height = (int(x) for x in text.split("x"))
        size = QSize(min(width, screen.width()), min(height, screen.height()))
        w.resize(size.width() - (w.frameGeometry().width() - w.width()),
                 size.height() - (w.frameGeometry().height() - w.height()))
        w.move(screen.topLeft())
        settle(400)
        for tab, name in ((0, "gallery"), (1, "captions"), (2, "queue")):
            w.tabs.setCurrentIndex(tab)
            settle(250)
            if w.frameGeometry().width() > size.width() + 2 or w.frameGeometry().height() > size.height() + 2:
                found.append(f"{text} {name}: the window cannot be that small, its layouts need "
                             f"{w.frameGeometry().width()}x{w.frameGeometry().height()}")
            look(w, f"{text} {name}", f"{tag}-{text}-{name}")
        w.tabs.setCurrentIndex(0)
        w.boards.show_board(board)
        wait(lambda: w.model.counted and not w.model.loading and w.model.total == 2, 10)
        settle(250)
        if w.frameGeometry().width() > size.width() + 2 or w.frameGeometry().height() > size.height() + 2:
            found.append(f"{text} board: the window cannot be that small, its layouts need "
                         f"{w.frameGeometry().width()}x{w.frameGeometry().height()}")
        look(w, f"{text} board", f"{tag}-{text}-board")
        w.boards.show_all()
        wait(lambda: w.model.counted and not w.model.loading, 10)
    # the offline demo's look: its badges in the toolbar and the status bar, at the smallest size
    w.is_demo = True
    w._update_title()
    width, height = (int(x) for x in args["sizes"][0].split("x"))
    w.resize(min(width, screen.width()), min(height, screen.height()))
    settle(400)
    look(w, f"{args['sizes'][0]} demo", f"{tag}-{args['sizes'][0]}-demo")
    w.is_demo = False
    w._update_title()
    smallest = args["sizes"][0]
    width, height = (int(x) for x in smallest.split("x"))
    w.resize(min(width, screen.width()), min(height, screen.height()))
    w.move(screen.topLeft())
    settle(300)
    main_screen = w.screen().availableGeometry()

    def dialog(dlg: object, name: str) -> None:
        wait(lambda: dlg.isVisible(), 5)  # type: ignore[attr-defined]
        settle(300)
        # a dialog centred over the window, the viewer on the window's screen
        over = main_screen if name == "viewer" else w.frameGeometry()
        for p in (fits_screen(dlg), centred_on(dlg, over)):  # type: ignore[arg-type]
            if p:
                found.append(f"{name}: {p}")
        look(dlg, name, f"{tag}-{name}")

    # sign-in, with its result shown
    w.open_sign_in()
    dlg = w.sign_in_dialog
    dlg.cookie.setPlainText(DEMO_COOKIE)
    dlg.verify()
    wait(lambda: dlg.card.isVisible(), 10)
    dialog(dlg, "sign-in")
    dlg.close()
    # Settings → Database, after a connection test that failed with a long message
    w.open_settings("database")
    sd = w.settings_dialog
    sd.server.setChecked(True)
    sd.host.setText("127.0.0.1")
    sd.port.setValue(1)  # nothing listens there: the test fails with its long sentence
    sd.test_connection()
    wait(lambda: sd.test_result.text() not in ("", "Connecting…"), 20)
    dialog(sd, "settings-database")
    sd.reject()
    # the web import, asking first
    w.import_web_library()
    dialog(w.import_dialog, "web-import")
    w.import_dialog.reject()
    # the shortcuts window
    w.show_shortcuts()
    dialog(w.shortcuts_window, "shortcuts")
    w.shortcuts_window.close()
    # the viewer, with the image's parameters
    w.open_viewer()
    wait(lambda: w.viewer is not None and w.viewer.isVisible(), 10)
    w.viewer.show_info(True)
    found.extend(f"viewer: two commands on {k}: {v}" for k, v in shared_keys(w.viewer).items())
    dialog(w.viewer, "viewer")
    w.viewer.close()
    w.close()
    svc.close()
    print(json.dumps({"problems": found, "shots": taken}), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    sys.exit(main(json.loads(sys.argv[1])))
