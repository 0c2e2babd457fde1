"""One settings object: defaults < settings file < environment < command-line flags.

Paths come from platformdirs; ``IMAGEFX_DATA_DIR`` moves the data directory (and, unless
``IMAGEFX_CONFIG_DIR`` says otherwise, the settings file with it) so tests never touch a
real home directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "ImageFX Studio"
APP_SLUG = "imagefx-studio"

DEFAULT_LABS_URL = "https://labs.google"
DEFAULT_API_URL = "https://aisandbox-pa.googleapis.com"

# The original schema document's connection defaults.
DEFAULT_DB_HOST = "localhost"
DEFAULT_DB_PORT = 5432
DEFAULT_DB_NAME = "imagefx_db"
DEFAULT_DB_USER = "imagefx"
DEFAULT_DB_PASSWORD = "imagefx_password"

_TRUE = {"1", "true", "yes", "on"}


def _env_bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in _TRUE


@dataclass(frozen=True)
class DatabaseSettings:
    """Where history lives. ``mode`` is ``embedded`` (default) or ``server``."""

    mode: str = "embedded"
    host: str = DEFAULT_DB_HOST
    port: int = DEFAULT_DB_PORT
    name: str = DEFAULT_DB_NAME
    user: str = DEFAULT_DB_USER
    password: str = DEFAULT_DB_PASSWORD
    sslmode: str = ""  # "", disable, prefer, require, verify-ca, verify-full
    sslrootcert: str = ""
    url: str = ""  # DATABASE_URL wins over the separate fields when set
    connect_timeout: int = 5

    def describe(self) -> str:
        """A one-line, password-free description for status bars and errors."""
        if self.mode == "embedded":
            return "embedded database"
        if self.url:
            from core.redact import redact_url

            return f"server {redact_url(self.url)}"
        return f"server {self.user}@{self.host}:{self.port}/{self.name}"


@dataclass(frozen=True)
class GenerationDefaults:
    count: int = 4
    model: str = "IMAGEN_3_5"
    aspect_ratio: str = "IMAGE_ASPECT_RATIO_LANDSCAPE"
    seed: int = 0
    retries: int = 1


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    config_dir: Path
    labs_url: str = DEFAULT_LABS_URL
    api_url: str = DEFAULT_API_URL
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    generation: GenerationDefaults = field(default_factory=GenerationDefaults)
    log_queries: bool = False
    demo: bool = False
    theme: str = "system"
    request_timeout: float = 120.0
    queue_delay: float = 2.0
    current_account: str = ""
    trash_days: int = 30  # images in the Trash longer than this are deleted for good at start-up; 0: never

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def embedded_db_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def default_data_dir() -> Path:
    env = os.environ.get("IMAGEFX_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_SLUG, appauthor=False))


def default_config_dir() -> Path:
    env = os.environ.get("IMAGEFX_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    if os.environ.get("IMAGEFX_DATA_DIR"):
        return default_data_dir()
    return Path(platformdirs.user_config_dir(APP_SLUG, appauthor=False))


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        # A damaged settings file must not keep the app from starting; defaults apply.
        return {}
    return data if isinstance(data, dict) else {}


def _coerce(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """Keep only known keys, converted to the field's type, so a hand-edited file can't crash us."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        value = raw[f.name]
        default = getattr(cls, f.name, None) if not callable(getattr(cls, f.name, None)) else None
        try:
            if isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, int):
                value = int(value)
            elif isinstance(default, float):
                value = float(value)
            elif isinstance(default, str):
                value = str(value)
        except (TypeError, ValueError):
            continue
        out[f.name] = value
    return out


def _database_from_env(base: DatabaseSettings) -> DatabaseSettings:
    env = os.environ
    changes: dict[str, Any] = {}
    for key, attr in (("DB_HOST", "host"), ("DB_NAME", "name"), ("DB_USER", "user"),
                      ("DB_PASSWORD", "password"), ("DB_SSLMODE", "sslmode"),
                      ("DB_SSLROOTCERT", "sslrootcert")):
        if env.get(key):
            changes[attr] = env[key]
    if env.get("DB_PORT"):
        try:
            changes["port"] = int(env["DB_PORT"])
        except ValueError:
            pass
    if env.get("DATABASE_URL"):
        changes["url"] = env["DATABASE_URL"]
    # Naming a server in the environment means "use it"; IMAGEFX_DB picks explicitly.
    if env.get("DB_HOST") or env.get("DATABASE_URL"):
        changes["mode"] = "server"
    mode = env.get("IMAGEFX_DB", "").strip().lower()
    if mode in ("embedded", "server"):
        changes["mode"] = mode
    return replace(base, **changes)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are command-line flags (highest precedence)."""
    data_dir = default_data_dir()
    config_dir = default_config_dir()
    raw = _read_file(config_dir / "settings.json")

    db = DatabaseSettings(**_coerce(DatabaseSettings, raw.get("database") or {}))
    gen = GenerationDefaults(**_coerce(GenerationDefaults, raw.get("generation") or {}))
    top = _coerce(Settings, {k: v for k, v in raw.items() if k not in ("database", "generation",
                                                                        "data_dir", "config_dir")})
    settings = Settings(data_dir=data_dir, config_dir=config_dir, database=db, generation=gen, **top)

    env = os.environ
    changes: dict[str, Any] = {"database": _database_from_env(settings.database)}
    if env.get("IMAGEFX_LABS_URL"):
        changes["labs_url"] = env["IMAGEFX_LABS_URL"].rstrip("/")
    if env.get("IMAGEFX_API_URL"):
        changes["api_url"] = env["IMAGEFX_API_URL"].rstrip("/")
    lq = _env_bool(env.get("LOG_QUERIES"))
    if lq is not None:
        changes["log_queries"] = lq
    demo = _env_bool(env.get("IMAGEFX_DEMO"))
    if demo is not None:
        changes["demo"] = demo
    if env.get("IMAGEFX_TIMEOUT"):
        try:
            changes["request_timeout"] = float(env["IMAGEFX_TIMEOUT"])
        except ValueError:
            pass
    settings = replace(settings, **changes)
    return replace(settings, **overrides) if overrides else settings


def save_settings(settings: Settings) -> None:
    """Persist what a user chose in the GUI. The database password is not written here."""
    data = asdict(settings)
    data.pop("data_dir", None)
    data.pop("config_dir", None)
    data.pop("demo", None)
    data["database"].pop("password", None)
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.settings_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, settings.settings_file)
