"""Where the Google cookie and the encryption key live.

The cookie is kept in the OS keyring (service :data:`SERVICE`, account = the Google
e-mail). The database only ever sees it encrypted with Fernet, whose key is also kept in
the keyring. On a machine without a keyring backend (a headless Linux box) the app still
works: secrets go to a Fernet-encrypted file in the data directory, with the key in a file
only the user can read, and :attr:`SecretStore.warning` says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.redact import register_secret

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

# keyring (its backends, entry points: ~0.1 s) and cryptography load on first use: the window's
# first page and the history command never need them (issue 16).

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
    import keyring

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
    import keyring
    import keyring.core

    try:
        return keyring.core.load_env() is not None or keyring.core.load_config() is not None
    except Exception:  # an unloadable choice is no choice
        return False


class SecretDamaged(SecretError):
    """A secret file (the key file, the vault) or the keyring's key is damaged. ``login``
    repairs it (:meth:`SecretStore.repair`); the message says so."""




def _repair_hint() -> str:
    from core.appinfo import command

    return f"Run '{command()} login' (or Account → Sign in) to sign in again; it replaces the damaged file."

_KEY_FILE_LIMIT = 4096
_VAULT_LIMIT = 16 * 1024 * 1024
_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


def _key_problem(key: bytes) -> str | None:
    """Why ``key`` is not a Fernet key, in words; None if it is one."""
    from cryptography.fernet import Fernet

    if not key:
        return "it is empty"
    try:
        Fernet(key)
        return None
    except (ValueError, TypeError):
        pass
    if set(key) <= _B64 and len(key) < 44:
        return "it is truncated"
    return "it does not hold a key"


def _set_aside(path: Path, stamp: str) -> Path | None:
    """Rename a damaged file out of the way (kept, 0600, in case the user wants it back)."""
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    return target


class _FileVault:
    """Fallback store: secrets encrypted in ``vault.json`` with a key in a 0600 file.

    Several processes may use it at once (eight ``login``s in a row from a script): every
    read-modify-write holds an exclusive ``flock`` on ``.lock`` in the same folder, the key
    file appears whole or not at all (written to a temp file, then ``link``ed into place, which
    fails if another process won), and the vault is replaced atomically from a temp file of
    its own (``mkstemp``), so no writer overwrites another's half-written bytes.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key_file = directory / "secret.key"
        self.vault_file = directory / "vault.json"
        self._lock_file = directory / ".lock"
        self._thread_lock = threading.RLock()
        self._depth = 0

    # --- the folder and the lock ----------------------------------------------------------

    def _unwritable(self, exc: OSError) -> SecretError:
        state = "is not writable" if self.directory.is_dir() else "cannot be created"
        return SecretError(f"The cookie cannot be stored: the folder {self.directory} {state} "
                           f"({exc.strerror or type(exc).__name__}). Check its owner and permissions, or move "
                           "the data folder with IMAGEFX_DATA_DIR.")

    def _ensure_dir(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(exc) from None
        with contextlib.suppress(OSError):
            if not hasattr(os, "getuid") or self.directory.stat().st_uid == os.getuid():
                os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This thread and every other process, one at a time."""
        with self._thread_lock:
            if self._depth:  # already ours: a second flock on a new descriptor would wait for itself
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._ensure_dir()
            try:
                fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise self._unwritable(exc) from None
            try:
                _lock_fd(fd)
                self._depth = 1
                yield
            finally:
                self._depth = 0
                os.close(fd)  # closing releases the lock

    # --- the key ---------------------------------------------------------------------------

    def _read_key(self) -> bytes | None:
        """The key, None if there is no key file; SecretDamaged if it is not a key."""
        from core.userfiles import UserFileError, read_bytes

        if not self.key_file.exists() and not self.key_file.is_symlink():
            return None
        with contextlib.suppress(OSError):
            if stat.S_IMODE(self.key_file.stat().st_mode) & 0o077:
                os.chmod(self.key_file, 0o600)
        try:
            key = read_bytes(self.key_file, limit=_KEY_FILE_LIMIT, what="key file").strip()
        except UserFileError as exc:
            raise SecretDamaged(f"The key file {self.key_file} is damaged ({exc}). {_repair_hint()}") from None
        problem = _key_problem(key)
        if problem:
            raise SecretDamaged(f"The key file {self.key_file} is damaged ({problem}), so the cookies it "
                                f"protects cannot be read. {_repair_hint()}")
        return key

    def key(self) -> bytes:
        """The key, created on first use (0600 from its first byte, whole or not at all)."""
        from cryptography.fernet import Fernet

        key = self._read_key()
        if key is not None:
            return key
        with self._locked():
            key = self._read_key()  # another process may have made it while we waited
            if key is not None:
                return key
            key = Fernet.generate_key()
            try:
                fd, tmp = tempfile.mkstemp(prefix=".secret.key.", dir=self.directory)  # 0600
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key)
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, self.key_file)  # fails if the file exists: never two keys
                except FileExistsError:
                    pass
                except OSError:  # no hard links here (FAT, some network shares): the lock suffices
                    os.replace(tmp, self.key_file)
                finally:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
            except OSError as exc:
                raise self._unwritable(exc) from None
            found = self._read_key()
            assert found is not None
            return found

    # --- the vault ----------------------------------------------------------------------------

    def _load(self) -> dict[str, str]:
        from core.userfiles import UserFileError, read_text

        if not self.vault_file.exists() and not self.vault_file.is_symlink():
            return {}
        try:
            data = json.loads(read_text(self.vault_file, limit=_VAULT_LIMIT, what="secret store"))
        except UserFileError as exc:
            raise SecretDamaged(f"The secret store {self.vault_file} is damaged ({exc}). {_repair_hint()}") from None
        except ValueError:
            raise SecretDamaged(f"The secret store {self.vault_file} is damaged (it is not valid JSON). "
                                f"{_repair_hint()}") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in data.items()):
            raise SecretDamaged(f"The secret store {self.vault_file} is damaged (it does not hold named "
                                f"secrets). {_repair_hint()}")
        return data

    def _save(self, data: dict[str, str]) -> None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".vault.", suffix=".tmp", dir=self.directory)  # 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.vault_file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise self._unwritable(exc) from None

    def get(self, account: str) -> str | None:
        from cryptography.fernet import Fernet, InvalidToken

        token = self._load().get(account)  # replaced atomically: a reader needs no lock
        if token is None:
            return None
        key = self._read_key()
        if key is None:
            raise SecretDamaged(f"The key file {self.key_file} is missing, so the secrets in {self.vault_file} "
                                f"cannot be read. {_repair_hint()}")
        try:
            return Fernet(key).decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretDamaged(f"A secret in {self.vault_file} cannot be decrypted with the key file "
                                f"{self.key_file} (one of them was replaced or damaged). {_repair_hint()}") from None

    def set(self, account: str, value: str) -> None:
        from cryptography.fernet import Fernet

        with self._locked():
            token = Fernet(self.key()).encrypt(value.encode("utf-8")).decode("ascii")
            data = self._load()
            data[account] = token
            self._save(data)

    def delete(self, account: str) -> None:
        with self._locked():
            data = self._load()
            if data.pop(account, None) is not None:
                self._save(data)

    # --- damage ---------------------------------------------------------------------------------

    def damage(self) -> str | None:
        """What is damaged, in a sentence; None if the key file and the vault are sound."""
        from cryptography.fernet import Fernet, InvalidToken

        try:
            key = self._read_key()
            data = self._load()
            if data and key is None:
                raise SecretDamaged(f"The key file {self.key_file} is missing, so the secrets in "
                                    f"{self.vault_file} cannot be read. {_repair_hint()}")
            fernet = Fernet(key) if key is not None else None
            for token in data.values():
                if fernet is not None:
                    fernet.decrypt(token.encode("ascii"))
        except SecretDamaged as exc:
            return str(exc)
        except (InvalidToken, UnicodeError, ValueError):
            return (f"A secret in {self.vault_file} cannot be decrypted with the key file {self.key_file}. "
                    f"{_repair_hint()}")
        return None

    def repair(self) -> tuple[bool, list[str]]:
        """Set aside a damaged key file and vault; (whether the key was replaced, the accounts whose
        cookies were lost). Nothing happens to sound files."""
        from cryptography.fernet import Fernet

        with self._locked():
            if self.damage() is None:
                return False, []
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            lost: list[str] = []
            key_bad = False
            try:
                key_bad = self._read_key() is None and self.vault_file.exists()
            except SecretDamaged:
                key_bad = True
            try:
                data = self._load()
                lost = sorted(k[len(_COOKIE_PREFIX):] for k in data if k.startswith(_COOKIE_PREFIX))
                if not key_bad:  # the key is fine: only undecryptable entries are bad
                    fernet = Fernet(self.key())
                    bad = [k for k, v in data.items() if not _decrypts(fernet, v)]
                    for k in bad:
                        data.pop(k)
                    lost = sorted(k[len(_COOKIE_PREFIX):] for k in bad if k.startswith(_COOKIE_PREFIX))
                    self._save(data)
                    return False, lost
            except SecretDamaged:
                pass
            try:
                if key_bad:
                    _set_aside(self.key_file, stamp)
                _set_aside(self.vault_file, stamp)
            except OSError as exc:
                raise self._unwritable(exc) from None
            return key_bad, lost


def _decrypts(fernet: Fernet, token: str) -> bool:
    from cryptography.fernet import InvalidToken

    try:
        fernet.decrypt(token.encode("ascii"))
        return True
    except (InvalidToken, UnicodeError, ValueError):
        return False


def _lock_fd(fd: int) -> None:
    """An exclusive lock on an open file, held until it is closed (waits for other processes)."""
    if sys.platform == "win32":  # a platform check, so the type checker knows which module exists
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after ~10 s; keep waiting like flock does
                continue
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


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

    @property
    def vault_directory(self) -> Path:
        """Where secrets are kept without a keyring (the key file and the encrypted vault)."""
        return self._vault.directory

    # --- raw get/set ---------------------------------------------------------------------

    def _get(self, account: str) -> str | None:
        import keyring
        import keyring.errors

        if self.uses_keyring:
            try:
                return keyring.get_password(SERVICE, account)
            except keyring.errors.KeyringError as exc:
                raise SecretError(f"The system keyring could not be read ({type(exc).__name__}).") from None
        return self._vault.get(account)

    def _set(self, account: str, value: str) -> None:
        import keyring
        import keyring.errors

        if self.uses_keyring:
            try:
                keyring.set_password(SERVICE, account, value)
                return
            except keyring.errors.KeyringError as exc:
                raise SecretError(
                    f"The system keyring could not store the secret ({type(exc).__name__}).") from None
        self._vault.set(account, value)

    def _delete(self, account: str) -> None:
        import keyring
        import keyring.errors

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

    def _keyring_key(self) -> bytes | None:
        """The database key kept in the keyring; SecretDamaged if what is there is not a key."""
        key = self._get(KEY_ACCOUNT)
        if not key:
            return None
        raw = key.encode("utf-8", "replace")
        problem = _key_problem(raw)
        if problem:
            raise SecretDamaged(f"The database encryption key in the system keyring ({SERVICE}, {KEY_ACCOUNT}) "
                                f"is damaged ({problem}). {_repair_hint()}")
        return raw

    def _cipher(self) -> Fernet:
        from cryptography.fernet import Fernet

        if self._fernet is None:
            if self.uses_keyring:
                key = self._keyring_key()
                if key is None:
                    key = Fernet.generate_key()
                    self._set(KEY_ACCOUNT, key.decode("ascii"))
                self._fernet = Fernet(key)
            else:
                self._fernet = Fernet(self._vault.key())
        return self._fernet

    # --- damage and repair -----------------------------------------------------------------

    def damage(self) -> str | None:
        """What is damaged (the key file, the vault, the keyring's key), in a sentence; None if sound."""
        if self.uses_keyring:
            try:
                self._keyring_key()
            except SecretDamaged as exc:
                return str(exc)
            return None
        return self._vault.damage()

    def repair(self, signing_in: str | None = None) -> str | None:
        """Replace what is damaged, so signing in works again; a sentence saying what was lost
        (``signing_in``'s cookie is about to be stored again, so it is not named), None if nothing was.

        Called by ``Service.sign_in`` only after labs.google accepted the new cookie: a typo in a
        pasted cookie never costs the user their damaged-but-maybe-recoverable files.
        """
        from cryptography.fernet import Fernet

        if self.uses_keyring:
            if self.damage() is None:
                return None
            self._set(KEY_ACCOUNT, Fernet.generate_key().decode("ascii"))
            self._fernet = None
            return ("The damaged database encryption key in the system keyring was replaced; cookies stored "
                    "encrypted in the database with the old key can no longer be read there (the keyring's "
                    "own copies are unaffected).")
        damage = self._vault.damage()
        if damage is None:
            return None
        key_replaced, lost = self._vault.repair()
        self._fernet = None
        lost = [e for e in lost if e != (signing_in or "").lower()]
        where = self._vault.directory
        parts = ["The damaged key file was replaced" if key_replaced else "The damaged secret store was replaced",
                 f" (the damaged files are kept as *.damaged-* in {where})."]
        if lost:
            parts.append(f" The cookies of {', '.join(lost)} can no longer be read: sign in to "
                         f"{'that account' if len(lost) == 1 else 'those accounts'} again.")
        if key_replaced:
            parts.append(" Copies of cookies stored encrypted in the database with the old key can no longer "
                         "be read either.")
        return "".join(parts)

    def encrypt(self, text: str) -> str:
        return self._cipher().encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

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
