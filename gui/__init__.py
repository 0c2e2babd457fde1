"""The desktop app: a thin Qt front end over ``core.service`` (no widget talks HTTP or SQL).

- ``app.run(demo)`` starts it (``python main.py``); ``app.create_application`` makes the QApplication.
- ``worker.Worker``: the one way to run a service call off the UI thread and get the answer back on it.
- ``context.AppContext``: the service's life (built and opened on the worker, reconnects when the
  database comes back) and ``call()`` for widgets.
- ``models/``: the gallery's paging list model, caption history, the full-image cache.
- ``widgets/``: one widget per file, ``main_window.MainWindow`` wires them together.
- ``dialogs/``: sign-in and settings. ``settings.GuiSettings``: window state and last options.
- ``theme``, ``icons``: light/dark palettes and the hand-written SVG icons in ``resources/``.
"""
