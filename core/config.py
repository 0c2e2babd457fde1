"""One settings object: defaults < settings file < environment < command-line flags.

Paths come from platformdirs; ``IMAGEFX_DATA_DIR`` moves the data directory (and, unless
``IMAGEFX_CONFIG_DIR`` says otherwise, the settings file with it) so tests never touch a
real home directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
_FALSE = {"0", "false", "no", "off"}


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
    # What was wrong while loading (one sentence each), for the CLI and the window to show.
    notices: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def library_dir(self) -> Path:
        """Where the library lives; the offline demo has one of its own, never the user's."""
        return self.data_dir / "demo" if self.demo else self.data_dir

    @property
    def spool_dir(self) -> Path:
        return self.library_dir / "spool"

    @property
    def embedded_db_dir(self) -> Path:
        return self.library_dir / "pgdata"

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


SETTINGS_FILE_LIMIT = 1024 * 1024  # a settings file is a few hundred bytes; anything near this is not one


def _read_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The file's JSON object and what was wrong with it. A damaged file must not keep the app
    from starting: the defaults apply, and the user is told which file and why."""
    from core.userfiles import UserFileError, read_text

    try:
        text = read_text(path, limit=SETTINGS_FILE_LIMIT, what="settings file")
    except UserFileError as exc:
        try:
            missing = not path.exists() and not path.is_symlink()
        except OSError:  # a folder we may not even look into: say so below
            missing = False
        if missing:
            return {}, []
        return {}, [f"{exc} The default settings are used."]
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {}, [f"{path} is not valid JSON ({exc}); the default settings are used."]
    if not isinstance(data, dict):
        return {}, [f"{path} does not hold a settings object; the default settings are used."]
    return data, []


# --- values: what each setting may be -------------------------------------------------------------

# Ranges of the numeric settings: a timeout of 1e999, -5 or NaN would hang or break every call.
_RANGES: dict[str, tuple[float, float, str]] = {
    "request_timeout": (1, 3600, "a number of seconds from 1 to 3600"),
    "queue_delay": (0, 86_400, "a number of seconds from 0 to 86400"),
    "trash_days": (0, 36_500, "a whole number of days from 0 (never) to 36500"),
    "database.port": (1, 65_535, "a port number from 1 to 65535"),
    "database.connect_timeout": (1, 3600, "a whole number of seconds from 1 to 3600"),
    "generation.count": (1, 8, "a whole number from 1 to 8"),
    "generation.seed": (0, 2**31 - 1, "a whole number from 0 to 2147483647"),
    "generation.retries": (0, 10, "a whole number from 0 to 10"),
}
_CHOICES: dict[str, tuple[str, ...]] = {"database.mode": ("embedded", "server")}


class _Invalid(ValueError):
    """What a value must be, in words."""


def _show(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE  # "false" is false, not bool("false")
    raise _Invalid("true or false")


def _to_number(key: str, value: object, default: int | float) -> int | float:
    low, high, words = _RANGES.get(key, (-math.inf, math.inf, "a number"))
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid(words)
    number: int | float
    if isinstance(value, int):
        number = value
    else:
        try:
            number = float(value)
        except ValueError:
            raise _Invalid(words) from None
        if not math.isfinite(number):  # 1e999 reads as inf, and NaN compares false with everything
            raise _Invalid(words)
    if isinstance(default, int):
        if isinstance(number, float):
            if not number.is_integer():
                raise _Invalid(words)
            number = int(number)
    else:
        number = float(number)
    if not low <= number <= high:
        raise _Invalid(words)
    return number


def _convert(key: str, value: object, default: object) -> object:
    """``value`` as the type of ``default``, within the setting's range; _Invalid says what it must be."""
    if isinstance(default, bool):
        return _to_bool(value)
    if isinstance(default, int | float):
        return _to_number(key, value, default)
    if isinstance(default, str):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _Invalid("text")
        text = str(value)
        choices = _CHOICES.get(key)
        if choices:
            if text.strip().lower() not in choices:
                raise _Invalid(" or ".join(choices))
            return text.strip().lower()
        return text
    return value


def _coerce(cls: type, raw: dict[str, Any], prefix: str, notices: list[str], origin: str) -> dict[str, Any]:
    """Known keys only, each checked: a hand-edited file can't crash us, and a bad value is named."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw or f.name in _NOT_IN_FILE:
            continue
        default = getattr(cls, f.name, None)
        key = prefix + f.name
        try:
            out[f.name] = _convert(key, raw[f.name], default)
        except _Invalid as exc:
            notices.append(f"{origin}: {key} is {_show(raw[f.name])}, but it must be {exc}; the default "
                           f"{_show(default)} is used.")
    return out


# --- passwords never live in the settings file --------------------------------------------------------

_DSN_PASSWORD_RE = re.compile(r"""(?:^|\s)password\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S+)""")


def strip_url_password(url: str) -> str:
    """A database URL (or key=value DSN) without its password, which belongs in the environment or
    the keyring: ``postgresql://u:secret@h/db?password=x`` becomes ``postgresql://u@h/db``."""
    if "://" not in url:
        return " ".join(_DSN_PASSWORD_RE.sub(" ", url).split())
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = (userinfo.split(":", 1)[0] + "@" + host) if at else parts.netloc
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _without_passwords(raw: dict[str, Any]) -> bool:
    """Remove every password from a raw settings object in place; True if there was one."""
    db = raw.get("database")
    if not isinstance(db, dict):
        return False
    found = db.pop("password", None) is not None
    url = db.get("url")
    if isinstance(url, str) and url:
        clean = strip_url_password(url)
        if clean != url:
            db["url"] = clean
            found = True
    return found


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, 0600 from its first byte: a unique temp file (so two
    processes saving at once cannot mix their bytes), fsynced, then renamed over the old one."""
    if path.is_symlink():  # a dotfile manager's link: write where it points, keep the link
        path = path.resolve()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _migrate(path: Path, raw: dict[str, Any]) -> list[str]:
    """An earlier version wrote DATABASE_URL's password into the file: take it out, and say so (once:
    the next run finds none)."""
    if not _without_passwords(raw):
        return []
    try:
        write_private(path, json.dumps(raw, indent=2, ensure_ascii=False))
    except OSError as exc:
        return [f"A database password was found in plain text in {path}; it is not used, but it could not "
                f"be removed ({exc.strerror}): remove it from the file by hand."]
    return [f"A database password was found in plain text in {path} (an earlier version wrote it there); "
            "it was removed and is not used. Give it with DATABASE_URL or DB_PASSWORD, or in Settings → "
            "Database, which keeps it in the keyring."]


# --- the environment -----------------------------------------------------------------------------------

def _database_from_env(base: DatabaseSettings, notices: list[str]) -> DatabaseSettings:
    env = os.environ
    changes: dict[str, Any] = {}
    for key, attr in (("DB_HOST", "host"), ("DB_NAME", "name"), ("DB_USER", "user"),
                      ("DB_PASSWORD", "password"), ("DB_SSLMODE", "sslmode"),
                      ("DB_SSLROOTCERT", "sslrootcert")):
        if env.get(key):
            changes[attr] = env[key]
    if env.get("DB_PORT"):
        try:
            changes["port"] = _to_number("database.port", env["DB_PORT"], DEFAULT_DB_PORT)
        except _Invalid as exc:
            notices.append(f"DB_PORT is {_show(env['DB_PORT'])}, but it must be {exc}; it is ignored.")
    if env.get("DATABASE_URL"):
        changes["url"] = env["DATABASE_URL"]
    # Naming a server in the environment means "use it"; IMAGEFX_DB picks explicitly.
    if env.get("DB_HOST") or env.get("DATABASE_URL"):
        changes["mode"] = "server"
    mode = env.get("IMAGEFX_DB", "").strip().lower()
    if mode in ("embedded", "server"):
        changes["mode"] = mode
    elif mode:
        notices.append(f"IMAGEFX_DB is {_show(env['IMAGEFX_DB'])}, but it must be embedded or server; it is "
                       "ignored.")
    return replace(base, **changes)


def _with_env(settings: Settings, notices: list[str]) -> Settings:
    env = os.environ
    changes: dict[str, Any] = {"database": _database_from_env(settings.database, notices)}
    if env.get("IMAGEFX_LABS_URL"):
        changes["labs_url"] = env["IMAGEFX_LABS_URL"].rstrip("/")
    if env.get("IMAGEFX_API_URL"):
        changes["api_url"] = env["IMAGEFX_API_URL"].rstrip("/")
    for var, attr in (("LOG_QUERIES", "log_queries"), ("IMAGEFX_DEMO", "demo")):
        if env.get(var, "").strip():
            try:
                changes[attr] = _to_bool(env[var])
            except _Invalid as exc:
                notices.append(f"{var} is {_show(env[var])}, but it must be {exc}; it is ignored.")
    if env.get("IMAGEFX_TIMEOUT", "").strip():
        try:
            changes["request_timeout"] = _to_number("request_timeout", env["IMAGEFX_TIMEOUT"], 120.0)
        except _Invalid as exc:
            notices.append(f"IMAGEFX_TIMEOUT is {_show(env['IMAGEFX_TIMEOUT'])}, but it must be {exc}; "
                           f"{settings.request_timeout:g} seconds are used.")
    return replace(settings, **changes)


# --- load and save ---------------------------------------------------------------------------------------

_NOT_IN_FILE = ("database", "generation", "data_dir", "config_dir", "demo", "notices")


def _from_file(raw: dict[str, Any], data_dir: Path, config_dir: Path, notices: list[str]) -> Settings:
    origin = str(config_dir / "settings.json")
    db_raw = raw.get("database")
    gen_raw = raw.get("generation")
    db = DatabaseSettings(**_coerce(DatabaseSettings, db_raw if isinstance(db_raw, dict) else {}, "database.",
                                    notices, origin))
    gen = GenerationDefaults(**_coerce(GenerationDefaults, gen_raw if isinstance(gen_raw, dict) else {},
                                       "generation.", notices, origin))
    top = _coerce(Settings, raw, "", notices, origin)
    return Settings(data_dir=data_dir, config_dir=config_dir, database=db, generation=gen, **top)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are command-line flags (highest precedence).

    What was wrong on the way (a damaged file, a value out of range, a password that had no
    business in the file) is in :attr:`Settings.notices`, one sentence each, for the CLI and
    the window to show; the defaults stand in for what could not be used.
    """
    data_dir = default_data_dir()
    config_dir = default_config_dir()
    path = config_dir / "settings.json"
    raw, notices = _read_file(path)
    notices += _migrate(path, raw)
    settings = _with_env(_from_file(raw, data_dir, config_dir, notices), notices)
    settings = replace(settings, notices=tuple(notices))
    return replace(settings, **overrides) if overrides else settings


def _flatten(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def save_settings(settings: Settings) -> None:
    """Persist what a user chose in the GUI, 0600 from the first byte.

    Never a password (not ``database.password``, not the one inside ``database.url``), and
    nothing that only came from the environment this run (``DATABASE_URL``, ``IMAGEFX_LABS_URL``…):
    the environment is not a choice, and a later run without it must not inherit it. Keys this
    version does not know are kept as they were.
    """
    path = settings.settings_file
    raw, _ = _read_file(path)
    _without_passwords(raw)
    ignored: list[str] = []
    on_file = _from_file(raw, settings.data_dir, settings.config_dir, ignored)
    file_values = _flatten(asdict(on_file))
    env_values = _flatten(asdict(_with_env(on_file, ignored)))
    data: dict[str, Any] = {k: v for k, v in raw.items() if k not in _NOT_IN_FILE}
    for section in ("database", "generation"):
        data[section] = dict(raw[section]) if isinstance(raw.get(section), dict) else {}
    for key, value in _flatten(asdict(settings)).items():
        if key[0] in _NOT_IN_FILE[2:] or key == ("database", "password"):
            continue
        target = data if len(key) == 1 else data[key[0]]
        if value == env_values.get(key) != file_values.get(key):
            # The environment's value, unchanged by the user: the file keeps what it had.
            if key[-1] in target:
                target[key[-1]] = file_values.get(key)
            continue
        target[key[-1]] = value
    _without_passwords(data)
    write_private(path, json.dumps(data, indent=2, default=str, ensure_ascii=False))
