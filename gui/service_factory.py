"""How the app builds its Service: settings from disk, the server password from the keyring.

Runs on a worker thread (``AppContext.start``): loading the keyring backend and, in demo
mode, starting the stand-in server both take a moment.
"""

from __future__ import annotations

import os
from dataclasses import replace

from core.config import Settings, load_settings
from core.secrets import SecretError, SecretStore
from core.service import Service


def with_saved_password(settings: Settings) -> Settings:
    """A server password typed in Settings lives in the keyring, not in settings.json."""
    db = settings.database
    if db.mode != "server" or db.url or os.environ.get("DB_PASSWORD"):
        return settings
    try:
        from gui.dialogs.settings import password_key

        saved = SecretStore(settings.data_dir).load_db_password(password_key(db))
    except SecretError:
        return settings
    return settings.with_overrides(database=replace(db, password=saved)) if saved else settings


def default_factory(demo: bool) -> Service:
    settings = load_settings(demo=demo)
    return Service(with_saved_password(settings))
