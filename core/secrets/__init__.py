"""Where the Google cookie and the encryption key live.

The cookie is kept in the OS keyring (service :data:`SERVICE`, account = the Google
e-mail). The database only ever sees it encrypted with Fernet, whose key is also kept in
the keyring. On a machine without a keyring backend (a headless Linux box) the app still
works: secrets go to a Fernet-encrypted file in the data directory, with the key in a file
only the user can read, and :attr:`SecretStore.warning` says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
from pathlib import Path

import keyring
import keyring.core
import keyring.errors
from cryptography.fernet import Fernet, InvalidToken

from core.redact import register_secret

log = logging.getLogger(__name__)

SERVICE = "ImageFX Studio"
KEY_ACCOUNT = "__database-encryption-key__"
CURRENT_ACCOUNT = "__current-account__"
_COOKIE_PREFIX = "cookie:"
_DB_PASSWORD_PREFIX = "db-password:"


class SecretError(Exception):
    """A secret could not be read or written. The message is safe to show."""


def hash_token(token: str) -> str:
    """What ``sessions.access_token`` stores: a one-way hash, never the token."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _keyring_usable() -> tuple[bool, str]:
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken backend config must not stop the app
        return False, type(exc).__name__
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    priority = getattr(backend, "priority", 1)
    if "fail" in name.lower() or "null" in name.lower() or (isinstance(priority, (int, float))
                                                             and priority <= 0):
        return False, name
    # keyring's own rule: below 1 is "not recommended". That is keyrings.alt's plaintext file
    # (what keyring falls back to on a headless box with the test extras installed): our
    # encrypted file vault is better, unless the user named that backend on purpose.
    if isinstance(priority, (int, float)) and priority < 1 and not _chosen_by_user():
        return False, name
    return True, name


def _chosen_by_user() -> bool:
    """A backend named in PYTHON_KEYRING_BACKEND or keyring's config file."""
    try:
        return keyring.core.load_env() is not None or keyring.core.load_config() is not None
    except Exception:  # an unloadable choice is no choice
        return False


class _FileVault:
    """Fallback store: secrets encrypted in ``vault.json`` with a key in a 0600 file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key_file = directory / "secret.key"
        self.vault_file = directory / "vault.json"
        self._lock = threading.Lock()

    def key(self) -> bytes:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(self.directory, 0o700)
        except OSError:
            pass
        if self.key_file.exists():
            mode = stat.S_IMODE(self.key_file.stat().st_mode)
            if mode & 0o077:
                os.chmod(self.key_file, 0o600)
            return self.key_file.read_bytes().strip()
        key = Fernet.generate_key()
        # O_EXCL + 0600 from the first byte: never a moment where others can read it.
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self.vault_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretError(f"The secret store {self.vault_file} is damaged.") from exc

    def _save(self, data: dict[str, str]) -> None:
        tmp = self.vault_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.vault_file)

    def get(self, account: str) -> str | None:
        with self._lock:
            token = self._load().get(account)
        if token is None:
            return None
        try:
            return Fernet(self.key()).decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretError("The stored secret cannot be decrypted with the key file.") from None

    def set(self, account: str, value: str) -> None:
        token = Fernet(self.key()).encrypt(value.encode("utf-8")).decode("ascii")
        with self._lock:
            data = self._load()
            data[account] = token
            self._save(data)

    def delete(self, account: str) -> None:
        with self._lock:
            data = self._load()
            if data.pop(account, None) is not None:
                self._save(data)


class SecretStore:
    """Cookies, the database encryption key and server passwords, in the keyring if there is one."""

    def __init__(self, data_dir: Path, *, use_keyring: bool | None = None) -> None:
        usable, backend = _keyring_usable()
        if use_keyring is False:
            usable = False
        self.uses_keyring = usable
        self.backend_name = backend if usable else "file"
        self._vault = _FileVault(data_dir / "secrets")
        self._fernet: Fernet | None = None
        self.warning: str | None = None
        if not usable:
            self.warning = (
                "No system keyring was found, so your cookie is kept encrypted in "
                f"{self._vault.directory} with a key file only you can read."
            )

    # --- raw get/set ---------------------------------------------------------------------

    def _get(self, account: str) -> str | None:
        if self.uses_keyring:
            try:
                return keyring.get_password(SERVICE, account)
            except keyring.errors.KeyringError as exc:
                raise SecretError(f"The system keyring could not be read ({type(exc).__name__}).") from None
        return self._vault.get(account)

    def _set(self, account: str, value: str) -> None:
        if self.uses_keyring:
            try:
                keyring.set_password(SERVICE, account, value)
                return
            except keyring.errors.KeyringError as exc:
                raise SecretError(
                    f"The system keyring could not store the secret ({type(exc).__name__}).") from None
        self._vault.set(account, value)

    def _delete(self, account: str) -> None:
        if self.uses_keyring:
            try:
                keyring.delete_password(SERVICE, account)
            except keyring.errors.PasswordDeleteError:
                pass
            except keyring.errors.KeyringError as exc:
                raise SecretError(f"The system keyring could not delete ({type(exc).__name__}).") from None
            return
        self._vault.delete(account)

    # --- cookies -------------------------------------------------------------------------

    def save_cookie(self, email: str, cookie: str) -> None:
        register_secret(cookie)
        self._set(_COOKIE_PREFIX + email.lower(), cookie)

    def load_cookie(self, email: str) -> str | None:
        cookie = self._get(_COOKIE_PREFIX + email.lower())
        register_secret(cookie)
        return cookie

    def delete_cookie(self, email: str) -> None:
        self._delete(_COOKIE_PREFIX + email.lower())

    def current_account(self) -> str | None:
        return self._get(CURRENT_ACCOUNT) or None

    def set_current_account(self, email: str | None) -> None:
        if email:
            self._set(CURRENT_ACCOUNT, email.lower())
        else:
            self._delete(CURRENT_ACCOUNT)

    # --- encryption for the database -----------------------------------------------------

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            if self.uses_keyring:
                key = self._get(KEY_ACCOUNT)
                if not key:
                    key = Fernet.generate_key().decode("ascii")
                    self._set(KEY_ACCOUNT, key)
                self._fernet = Fernet(key.encode("ascii"))
            else:
                self._fernet = Fernet(self._vault.key())
        return self._fernet

    def encrypt(self, text: str) -> str:
        return self._cipher().encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            value = self._cipher().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretError("The stored cookie cannot be decrypted with this machine's key.") from None
        register_secret(value)
        return value

    # --- database passwords ----------------------------------------------------------------

    def save_db_password(self, where: str, password: str) -> None:
        register_secret(password)
        self._set(_DB_PASSWORD_PREFIX + where, password)

    def load_db_password(self, where: str) -> str | None:
        value = self._get(_DB_PASSWORD_PREFIX + where)
        register_secret(value)
        return value
