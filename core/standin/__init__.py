"""A local stand-in for the ImageFX web API, for tests, the CLI and an offline demo.

Public surface: :class:`StandInServer` (start it, point ``IMAGEFX_LABS_URL`` and
``IMAGEFX_API_URL`` at its ``url``, inject faults with ``fail``/``delay``), the demo
account (:data:`DEMO_COOKIE`), the names of endpoints and faults, and :func:`main`
(``python -m core.standin``). No Qt and no database: stdlib ``http.server`` and Pillow.
"""

from core.standin.server import (
    AUTH_MESSAGE,
    DEMO_COOKIE,
    DEMO_EMAIL,
    DEMO_NAME,
    DEMO_SESSION_TOKEN,
    ENDPOINTS,
    FAULTS,
    SAFETY_MESSAGE,
    StandInServer,
    main,
)

__all__ = [
    "AUTH_MESSAGE", "DEMO_COOKIE", "DEMO_EMAIL", "DEMO_NAME", "DEMO_SESSION_TOKEN", "ENDPOINTS", "FAULTS",
    "SAFETY_MESSAGE", "StandInServer", "main",
]
