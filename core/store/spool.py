"""A local folder that holds delivered generations until their database has them.

A generated image is never lost. The moment ImageFX's answer is in, the whole generation is
written here (temp file, fsync, rename, fsync of the folder: a crash or a SIGKILL leaves a whole
entry or none), *then* it is stored, *then* its entry is removed (``Service.deliver``). If the
store fails, or the process dies in between, the entry stays and :meth:`Spool.drain` stores it
at the next start. Media ids are unique, so an entry that did reach the database before a crash
is not stored twice. An entry from the prompt queue carries its item's id
(``NewGeneration.queue_item_id``), so whoever drains it marks that item done in the same
transaction (``Service.store_spooled``).

Each entry remembers its database (:func:`database_target`: the embedded data folder, or
user@host:port/dbname of a server; never a password), in the file and in its name, and is only
ever stored there: a generation spooled while a team server was down does not land in the
embedded database that happens to open next. ``imagefx maintenance spool`` lists what waits for
another database.

An entry that can never be stored (not JSON, not an object, a number where an e-mail belongs,
image data that is not base64 or not an image, a FIFO or a device where a file belongs, values
the database refuses) is set aside in ``spool/rejected/`` with a ``.txt`` saying why, once,
instead of warning on every start; the other entries drain.

An entry whose generation is being stored right now is locked (``flock`` on its file, held from
the write until the store ends), so another process on the same data folder (the desktop app and a
``queue run`` in a terminal), or another runner in this one, never drains it under its writer's
feet; a process that dies drops its locks, and the entry drains as usual. (Windows has no
``flock``: there the lock is skipped, and a doubly stored entry is still stored once, media ids
being unique.)
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.private import fsync_dir, private_dir
from core.store.database import DatabaseError, DatabaseRejected, DatabaseUnavailable
from core.store.records import GenerationRecord, NewGeneration

if TYPE_CHECKING:
    from core.store.database import Database

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

FORMAT = 2  # 1: no "target" (stored into whichever database opened next)
MAX_ENTRY_BYTES = 512 * 1024 * 1024  # 8 images of a few MB each, with room to spare
REJECTED = "rejected"


class SpoolError(OSError):
    """The spool folder cannot be written (disk full, permissions)."""


class SpoolEntryError(ValueError):
    """An entry that can never be stored; the message says why, for the ``.txt`` beside it."""


def database_target(db: Database) -> str:
    """Which database a spool entry belongs to, without any password: ``embedded:<data folder>``
    or ``postgresql://user@host:port/dbname`` (a Unix socket folder as the host)."""
    if db.is_embedded:
        return f"embedded:{db.settings.embedded_db_dir.expanduser().resolve()}"
    url = db.url()
    host = url.host or str(url.query.get("host") or "localhost")
    return f"postgresql://{url.username or ''}@{host}:{url.port or 5432}/{url.database or ''}"


def _key(target: str) -> str:
    return hashlib.sha256(target.encode("utf-8", "surrogatepass")).hexdigest()[:12]


@dataclass(frozen=True)
class SpoolEntry:
    """What ``maintenance spool`` shows of an entry (its images stay on disk)."""

    path: Path
    target: str | None  # None: an entry from before entries remembered their database
    here: bool  # waits for the database this spool was opened for
    prompt: str = ""
    images: int = 0
    created_at: datetime | None = None
    problem: str | None = None  # set aside: why (rejected/…txt)


@dataclass
class DrainResult:
    stored: list[GenerationRecord] = field(default_factory=list)
    set_aside: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)


class Spool:
    """The spool folder of one data directory, opened for one database (``target``)."""

    def __init__(self, directory: Path, target: str | None = None) -> None:
        self.directory = directory
        self.target = target
        self.notices: list[str] = []  # entries set aside since opening: said once, to the user
        self._held: dict[Path, int] = {}  # entries being stored now: their locked file descriptors
        self._held_lock = threading.Lock()

    @property
    def rejected_dir(self) -> Path:
        return self.directory / REJECTED

    # --- writing ----------------------------------------------------------------------------------

    def _ensure(self, directory: Path) -> None:
        private_dir(directory)  # 0700 from its first byte, whatever the umask (issue 12)

    def path_for(self, gen: NewGeneration) -> Path:
        suffix = f".{_key(self.target)}" if self.target else ""
        return self.directory / f"{gen.spool_id}{suffix}.json"

    def put(self, gen: NewGeneration, *, hold: bool = False) -> Path:
        """Write atomically (temp file + fsync + rename + fsync of the folder), so a crash leaves a
        whole entry or none, and the entry survives a power cut once this returns.

        ``hold``: the entry stays locked for its writer, who is about to store it, until
        :meth:`remove` or :meth:`release`."""
        final = self.path_for(gen)
        tmp = self.directory / f".{gen.spool_id}.tmp"
        data = gen.to_json()
        data.update(format=FORMAT, target=self.target)
        try:
            self._ensure(self.directory)
            # ensure_ascii: lone surrogates (from a hostile answer) are written as escapes, not refused.
            payload = json.dumps(data).encode("ascii")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                if hold and fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody else can hold it yet
                os.replace(tmp, final)
                fsync_dir(self.directory)
            except BaseException:
                os.close(fd)
                raise
            if hold and fcntl is not None:
                with self._held_lock:
                    self._held[final] = fd
            else:
                os.close(fd)
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise SpoolError(exc.errno, f"cannot write the spool folder {self.directory}: {exc.strerror}"
                             ) from None
        return final

    def release(self, path: Path) -> None:
        """Unlock an entry its writer will not store now (the database is away): a later drain may."""
        with self._held_lock:
            fd = self._held.pop(path, None)
        if fd is not None:
            os.close(fd)

    def remove(self, path: Path) -> None:
        """An entry whose generation is stored now: gone (and unlocked)."""
        try:
            path.unlink(missing_ok=True)
        finally:
            self.release(path)

    def discard(self, spool_id: str) -> None:
        """Forget an entry that is stored now (its generation's transaction committed)."""
        for path in self._entries():
            if path.name.split(".", 1)[0] == spool_id:
                self.remove(path)

    def _try_lock(self, path: Path) -> int | None:
        """A locked descriptor of an entry nobody is storing, for a drain; None if its writer holds it
        (or it is gone). Without flock (Windows), -1: go ahead."""
        if fcntl is None:
            return -1
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return -1  # gone, a link, unreadable: load() says which
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None  # being stored right now by its writer
        return fd

    def set_aside(self, path: Path, why: str, *, notify: bool = True) -> Path | None:
        """Move an entry that can never be stored to ``rejected/``, with a ``.txt`` saying why;
        ``notify``: also a notice for the user (off when the caller tells them itself)."""
        try:
            self._ensure(self.rejected_dir)
            dest = self.rejected_dir / path.name
            os.replace(path, dest)
            self.release(path)
            note = dest.with_suffix(".txt")
            fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(why.rstrip() + "\n")
        except FileNotFoundError:
            return None  # another process on this data folder dealt with it a moment ago
        except OSError as exc:
            log.error("spool entry %s cannot be set aside (%s); it stays", path.name, exc.strerror)
            return None
        message = f"A spool entry could not be stored and was set aside in {dest}: {why}"
        log.info("%s", message)  # the front end tells the user (notices), once
        if notify:
            self.notices.append(message)
        return dest

    # --- reading ----------------------------------------------------------------------------------

    def _entries(self) -> list[Path]:
        """Every entry file, oldest first (``*.json`` at the top level; not ``rejected/``)."""
        try:
            names = os.listdir(self.directory)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            log.warning("the spool folder cannot be read (%s)", exc.strerror)
            return []
        found = []
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            path = self.directory / name
            try:
                found.append((path.lstat().st_mtime, name, path))
            except FileNotFoundError:
                pass  # stored and removed by another process since the listing
        return [path for _, _, path in sorted(found)]

    def _is_here(self, path: Path) -> bool:
        parts = path.name.split(".")
        if len(parts) == 2:  # "<id>.json": written before entries remembered their database
            return True
        return self.target is not None and parts[1] == _key(self.target)

    def pending(self) -> list[Path]:
        """Entries for this spool's database (and old ones that name none), oldest first."""
        return [p for p in self._entries() if self._is_here(p)]

    def waiting_elsewhere(self) -> list[Path]:
        """Entries that belong to another database: they wait for it."""
        return [p for p in self._entries() if not self._is_here(p)]

    def __len__(self) -> int:
        return len(self.pending())

    def read(self, path: Path) -> dict[str, Any]:
        """An entry's JSON object, read safely: a regular file only (a FIFO, a device or a link is
        an error, never a read that hangs or never ends), bounded in size."""
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise FileNotFoundError(str(path)) from None
            if exc.errno == errno.ELOOP:
                raise SpoolEntryError("it is a symbolic link, not a spool file") from None
            raise SpoolEntryError(f"it cannot be read ({exc.strerror})") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SpoolEntryError("it is not a regular file (a FIFO, a device or a folder)")
            if info.st_size > MAX_ENTRY_BYTES:
                raise SpoolEntryError(f"it is too large ({info.st_size // (1024 * 1024)} MB)")
            chunks = []
            left = MAX_ENTRY_BYTES + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        raw = b"".join(chunks)
        if len(raw) > MAX_ENTRY_BYTES:
            raise SpoolEntryError("it is too large")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise SpoolEntryError("it is not a JSON spool entry") from None
        if not isinstance(data, dict):
            raise SpoolEntryError(f"it holds {type(data).__name__ if data is not None else 'null'}, "
                                  "not a generation")
        return data

    def load(self, path: Path) -> NewGeneration:
        """The generation in an entry; SpoolEntryError (with the reason) if it can never be stored."""
        return parse_entry(self.read(path))

    def entries(self) -> list[SpoolEntry]:
        """Every entry, waiting (here or for another database) or set aside, for ``maintenance spool``."""
        out = []
        for path in self._entries():
            out.append(self._describe(path, here=self._is_here(path)))
        if self.rejected_dir.is_dir():
            for path in sorted(self.rejected_dir.glob("*.json")):
                try:
                    why = path.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").strip()
                except OSError:
                    why = "set aside"
                entry = self._describe(path, here=False)
                out.append(SpoolEntry(path=path, target=entry.target, here=False, prompt=entry.prompt,
                                      images=entry.images, created_at=entry.created_at, problem=why or "set aside"))
        return out

    def _describe(self, path: Path, *, here: bool) -> SpoolEntry:
        try:
            data = self.read(path)
        except (OSError, SpoolEntryError) as exc:
            return SpoolEntry(path=path, target=None, here=here, problem=str(exc))
        raw_target, raw_images, raw_prompt = data.get("target"), data.get("images"), data.get("prompt")
        target = raw_target if isinstance(raw_target, str) else None
        images = raw_images if isinstance(raw_images, list) else []
        created = None
        if isinstance(data.get("created_at"), str):
            try:
                created = datetime.fromisoformat(data["created_at"])
            except ValueError:
                created = None
        prompt = raw_prompt if isinstance(raw_prompt, str) else ""
        return SpoolEntry(path=path, target=target, here=here, prompt=prompt, images=len(images),
                          created_at=created)

    # --- draining ---------------------------------------------------------------------------------

    def drain(self, store: Callable[[NewGeneration], GenerationRecord], *,
              entries: list[Path] | None = None) -> DrainResult:
        """Store every entry of this database with ``store``; an entry is removed only after its commit.

        Stops at :class:`DatabaseUnavailable` (raised on: the rest stay for later). An entry that
        can never be stored is set aside (:meth:`set_aside`); one the database refuses for a
        passing reason (a full disk) stays for a later try, and the next one is tried.
        """
        result = DrainResult()
        for path in self.pending() if entries is None else entries:
            with self._held_lock:
                if path in self._held:
                    continue  # this process is storing it right now
            lock = self._try_lock(path)
            if lock is None:
                continue  # another process (or runner) is storing it right now
            try:
                self._drain_one(path, store, result)
            finally:
                if lock >= 0:
                    os.close(lock)
        return result

    def _drain_one(self, path: Path, store: Callable[[NewGeneration], GenerationRecord],
                   result: DrainResult) -> None:
        try:
            gen = self.load(path)
        except FileNotFoundError:
            return  # another process on this data folder stored it a moment ago
        except SpoolEntryError as exc:
            if self.set_aside(path, str(exc)):
                result.set_aside.append((path.name, str(exc)))
            return
        try:
            record = store(gen)
        except DatabaseUnavailable:
            raise  # still down (or not answering in time): this entry and the rest stay
        except DatabaseRejected as exc:
            if self.set_aside(path, exc.user_message):
                result.set_aside.append((path.name, exc.user_message))
            return
        except DatabaseError as exc:
            log.warning("spool entry %s could not be stored yet (%s); it stays in the spool", path.name,
                        exc.user_message)
            return
        path.unlink(missing_ok=True)
        result.stored.append(record)


# --- the entry's shape ------------------------------------------------------------------------------

def _text(data: dict[str, Any], key: str, *, required: bool = False, where: str = "") -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise SpoolEntryError(f"{where}{key} is {_kind(value)}, not text")
    return value


def _whole(data: dict[str, Any], key: str, *, where: str = "") -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpoolEntryError(f"{where}{key} is {_kind(value)}, not a whole number")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return "empty" if not value else "text"
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SpoolEntryError(f"{what} is not base64") from None


def parse_entry(data: dict[str, Any]) -> NewGeneration:
    """A spool entry's JSON as a generation, every field checked: what cannot be stored (or would
    break an export later, like image data that is not an image) is refused here, with the reason."""
    from core import images as image_facts

    email = _text(data, "user_email", required=True)
    assert email is not None
    if "@" not in email:
        raise SpoolEntryError(f"user_email {email[:60]!r} is not an e-mail address")
    raw_images = data.get("images")
    if not isinstance(raw_images, list) or not raw_images:
        raise SpoolEntryError(f"images is {_kind(raw_images)}, not a list of images")
    for n, img in enumerate(raw_images, 1):
        where = f"image {n}: "
        if not isinstance(img, dict):
            raise SpoolEntryError(f"{where}is {_kind(img)}, not an object")
        _text(img, "media_id", required=True, where=where)
        encoded = _text(img, "encoded_image", required=True, where=where)
        assert encoded is not None
        if image_facts.sniff(_b64(encoded, f"{where}the image data")) is None:
            raise SpoolEntryError(f"{where}the image data is not an image")
        thumb = img.get("thumbnail")
        if thumb is not None:
            if not isinstance(thumb, str):
                raise SpoolEntryError(f"{where}thumbnail is {_kind(thumb)}, not base64 text")
            _b64(thumb, f"{where}the thumbnail")
        for key in ("returned_prompt", "model", "aspect_ratio", "workflow_id", "fingerprint_log_record_id",
                    "mime_type"):
            _text(img, key, where=where)
        for key in ("seed", "width", "height", "byte_size", "thumb_width", "thumb_height"):
            _whole(img, key, where=where)
    _text(data, "user_name")
    if not isinstance(data.get("prompt"), str):
        raise SpoolEntryError(f"prompt is {_kind(data.get('prompt'))}, not text")
    for key in ("aspect_ratio", "model", "workflow_id", "source", "user_image_url", "spool_id"):
        _text(data, key)
    for key in ("seed", "count", "queue_item_id"):
        _whole(data, key)
    created = _text(data, "created_at")
    if created is not None:
        try:
            datetime.fromisoformat(created)
        except ValueError:
            raise SpoolEntryError(f"created_at {created[:40]!r} is not a date") from None
    try:
        return NewGeneration.from_json({**data, "user_name": data.get("user_name") or email})
    except (KeyError, TypeError, ValueError) as exc:
        raise SpoolEntryError(f"it is not a generation ({type(exc).__name__}: {exc})"[:300]) from None
