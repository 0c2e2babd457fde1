"""The use cases the GUI and the CLI share: one object, one method per thing a user does.

Methods block (network, database); the GUI calls them on worker threads, the CLI
directly. Errors come out as the typed errors of ``core.imagefx`` (what ImageFX said),
``core.store.DatabaseError`` (the database), ``ValidationError`` (bad input) and
``core.images.ImageError`` (a file that is not a usable image), each with a sentence for
the user.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from core import images, interrupts
from core.appinfo import command
from core.cancel import CancelToken
from core.changes import ChangeKind, Changes
from core.config import Settings, load_settings
from core.filters import FilterError, Node
from core.filters import parse as parse_filter
from core.imagefx import AuthError, protocol
from core.imagefx.cookies import parse_cookie
from core.imagefx.errors import ImageFXError, ProtocolChanged
from core.imagefx.types import GeneratedImage, GenerationRequest, SessionInfo
from core.redact import register_secret
from core.secrets import SecretError, SecretStore, hash_token
from core.service import prepare
from core.store import (
    CaptionRecord,
    Database,
    DatabaseError,
    DatabaseRejected,
    DatabaseUnavailable,
    GenerationRecord,
    HistoryRow,
    ImageRecord,
    NewGeneration,
    Spool,
    SpoolError,
    UserRecord,
    backup,
    deadline,
    queue_repo,
    repo,
)
from core.store.backup import BackupResult
from core.store.filtering import SORTS
from core.store.spool import DrainResult, SpoolEntry, database_target
from core.userfiles import read_bytes

if TYPE_CHECKING:
    from core.imagefx.client import ImageFXClient
    from core.service.library import Library
    from core.service.team import Team
    from core.standin import StandInServer
    from core.store.notify import ChangeListener

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 20_000
_MODEL_RE = re.compile(r"^[A-Z0-9_]{1,50}$")
T = TypeVar("T")
# After the database failed, calls that only record something (the session row) skip it for this
# long, so a server that hangs costs one connect timeout per generation, not three.
_DOWN_GRACE = 30.0


class ValidationError(ValueError):
    """Input the user can fix (CLI exit code 2). The message is one sentence."""


class FilterInvalid(ValidationError):
    """A filter (core/filters.py) that cannot be read; ``position`` is where (1-based), for the
    search box to put the cursor there."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


class StorageFailed(Exception):
    """Neither the database nor the spool could keep a generation; ``generation`` still holds it."""

    def __init__(self, message: str, generation: NewGeneration) -> None:
        super().__init__(message)
        self.user_message = message
        self.action = "Free disk space or fix the database; the images are still in this window."
        self.generation = generation


class UnstorableAnswer(ProtocolChanged):
    """ImageFX delivered images whose values the library cannot hold (the answer changed shape), or
    that the database refused. They are kept: ``generation`` holds them, ``kept_at`` is the spool
    file they were set aside in (None if the disk refused that too)."""

    def __init__(self, message: str, generation: NewGeneration, kept_at: Path | None) -> None:
        where = f" The images are kept in {kept_at}." if kept_at else ""
        super().__init__(message + where, action="Save them from there; if it keeps happening, update ImageFX "
                                                 "Studio.")
        self.generation = generation
        self.kept_at = kept_at


@dataclass(frozen=True)
class Account:
    email: str
    name: str
    image_url: str | None
    current: bool = False


@dataclass(frozen=True)
class GenerationResult:
    record: GenerationRecord
    generation: NewGeneration = field(repr=False)
    spooled: bool = False
    storage_error: str | None = None
    origin: str = ""

    @property
    def changes(self) -> Changes:
        """The images this generation added to the library (nothing while they wait in the spool)."""
        return _added(self.record).with_origin(self.origin)

    def image_bytes(self) -> list[tuple[str, bytes]]:
        """(media id, bytes) of every image, whether stored or spooled."""
        return [(i.media_id, base64.b64decode(i.encoded_image)) for i in self.generation.images]


MAX_CAPTION_CHARS = 20_000  # as long as a prompt may be: a caption is often used as one


@dataclass(frozen=True)
class CaptionResult:
    path: str
    image_type: str
    captions: tuple[str, ...]
    records: tuple[CaptionRecord, ...]
    downscaled: bool
    sent: bytes = field(default=b"", repr=False)  # the image as uploaded (an SVG drawn to PNG): a preview


def validate_request(req: GenerationRequest) -> GenerationRequest:
    if not isinstance(req.prompt, str) or not req.prompt.strip():
        raise ValidationError("The prompt is empty; write what you want to see.")
    if "\x00" in req.prompt:
        raise ValidationError("The prompt contains a NUL character, which cannot be sent or stored.")
    check_text(req.prompt, "The prompt")
    if len(req.prompt) > MAX_PROMPT_CHARS:
        raise ValidationError(f"The prompt is {len(req.prompt):,} characters long; the limit is "
                              f"{MAX_PROMPT_CHARS:,}.")
    if not protocol.MIN_COUNT <= req.count <= protocol.MAX_COUNT:
        raise ValidationError(f"The number of images must be {protocol.MIN_COUNT}–{protocol.MAX_COUNT}.")
    if req.seed is not None and not 0 <= req.seed <= protocol.MAX_SEED:
        raise ValidationError(f"The seed must be between 0 and {protocol.MAX_SEED}.")
    try:
        aspect = protocol.normalize_aspect_ratio(req.aspect_ratio)
    except ValueError as exc:
        raise ValidationError(str(exc).capitalize() + ".") from None
    model = protocol.normalize_model(req.model)
    if not _MODEL_RE.match(model):
        raise ValidationError(f"{req.model!r} is not a model name.")
    return GenerationRequest(prompt=req.prompt, count=req.count, model=model, aspect_ratio=aspect,
                             seed=req.seed or None)


def _added(record: GenerationRecord) -> Changes:
    return Changes.of(ChangeKind.IMAGES_ADDED, [i.id for i in record.images])


def check_text(text: str, what: str) -> None:
    """ValidationError if ``text`` is not valid Unicode: bytes that are not UTF-8 (a terminal in
    Latin-1, ``$'caf\\xe9'``) reach Python as lone surrogates, which can be neither sent nor stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        byte = f" (byte 0x{ord(bad) - 0xDC00:02X})" if 0xDC80 <= ord(bad) <= 0xDCFF else ""
        raise ValidationError(f"{what} is not valid UTF-8 text{byte} at character {exc.start + 1}; nothing was "
                              "sent. Set the terminal to UTF-8, or retype the text.") from None


class Service:
    """Everything a user can do. Thread-safe: each call opens its own database session."""

    def __init__(self, settings: Settings | None = None, *, cookie: str | None = None,
                 secrets: SecretStore | None = None, database: Database | None = None) -> None:
        self.settings = settings or load_settings()
        self._standin: StandInServer | None = None
        if self.settings.demo:
            self._start_demo()
        self._secrets = secrets
        self.db = database or Database(self.settings)
        self.spool = Spool(self.settings.spool_dir, target=database_target(self.db))
        self._db_failed_at = 0.0
        explicit = cookie if cookie is not None else os.environ.get("GOOGLE_COOKIE") or None
        if self._standin is not None and explicit is None:
            from core.standin import DEMO_COOKIE

            explicit = DEMO_COOKIE
        self._explicit_cookie = explicit
        self._demo_account: str | None = None  # the demo's current account (see _set_current)
        if self._standin is not None:
            from core.standin import DEMO_EMAIL

            self._demo_account = DEMO_EMAIL
        register_secret(explicit)
        self._clients: dict[str, ImageFXClient] = {}
        self._recorded_tokens: set[str] = set()
        self._lock = threading.RLock()
        # Names this service in the change descriptors it makes, so a window can tell its own
        # changes from those another process announces (core/changes.py).
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.repair_notice: str | None = None  # what the last sign_in replaced (damaged secrets), if anything
        self.db.origin = self.origin  # the database's NOTIFY triggers carry it (core/store/notify.py)
        self._library: Library | None = None
        self._team: Team | None = None
        self._listeners: list[ChangeListener] = []

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def secrets(self) -> SecretStore:
        """Created on first use: finding the keyring backend costs start-up time that
        read-only commands (``history``) need not pay."""
        if self._secrets is None:
            self._secrets = SecretStore(self.settings.data_dir)
        return self._secrets

    @property
    def demo(self) -> bool:
        return self._standin is not None

    def _start_demo(self) -> None:
        from core.standin import StandInServer

        self._standin = StandInServer().start()
        url = self._standin.url
        self.settings = self.settings.with_overrides(labs_url=url, api_url=url)
        log.info("offline demo mode: ImageFX calls go to the local stand-in server")

    def open(self) -> Service:
        """Connect to the database (starting the embedded one) and store anything spooled for it."""
        try:
            self.db.connect()
        except DatabaseUnavailable:
            self._db_failed_at = time.monotonic()
            raise
        self.flush_spool()
        return self

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            listeners, self._listeners = self._listeners, []
        for listener in listeners:  # before the database: a listener reconnecting would start it again
            listener.stop()
        self.db.close()
        if self._standin is not None:
            self._standin.stop()
            self._standin = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _announce(self, s: object, changes: Changes) -> Changes:
        """Every mutation's descriptor passes here, inside its writing transaction ``s``: it is stamped
        with this service's origin. Other processes hear of it from the database itself: its triggers
        send NOTIFY for every write, whoever makes it (schema.sql, core/store/notify.py)."""
        return changes.with_origin(self.origin) if changes else changes

    # --- accounts ------------------------------------------------------------------------

    def current_email(self) -> str | None:
        if self.demo:
            return self._demo_account
        try:
            return self.secrets.current_account()
        except SecretError:
            return None

    def _set_current(self, email: str | None) -> None:
        """The current account. The offline demo keeps its own, in memory: signing in or switching
        there must never change the real one, which is current again when the demo ends."""
        if self.demo:
            self._demo_account = email
        else:
            self.secrets.set_current_account(email)

    def has_cookie(self) -> bool:
        try:
            return self._cookie_for(None) is not None
        except (SecretError, AuthError, DatabaseError):
            return False

    def _cookie_for(self, email: str | None) -> str | None:
        if email is None and self._explicit_cookie:
            return self._explicit_cookie
        email = email or self.current_email()
        if not email:
            return None
        cookie = self.secrets.load_cookie(email)
        if cookie:
            return cookie
        # Not in the keyring (another machine, or a keyring that was reset): the database copy.
        try:
            with self.db.session() as s:
                token = repo.encrypted_cookie(s, email)
        except DatabaseError:
            return None
        if not token:
            return None
        try:
            return self.secrets.decrypt(token)
        except SecretError:
            return None

    def client(self, email: str | None = None) -> ImageFXClient:
        """The ImageFX client for an account (the current one by default); AuthError if none."""
        cookie = self._cookie_for(email)
        if not cookie:
            damage = self.secrets.damage()
            if damage:  # not "you are not signed in": the user did sign in, a file broke since
                raise SecretError(damage)
            raise AuthError("You are not signed in to ImageFX.", kind=AuthError.NOT_SIGNED_IN,
                            action=f"Sign in with your labs.google cookie ({command()} login, or "
                                   "Account → Sign in).")
        key = hash_token(cookie)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._new_client(cookie)
                self._clients[key] = client
            return client

    def _new_client(self, cookie: str) -> ImageFXClient:
        from core.imagefx.client import ImageFXClient  # loads requests: only when ImageFX is called

        client: ImageFXClient | None = None

        def rotated(new_cookie: str) -> None:
            session = client._session if client is not None else None
            if session is not None:
                self._remember_cookie(session.email, new_cookie)

        client = ImageFXClient(
            cookie, labs_url=self.settings.labs_url, api_url=self.settings.api_url,
            timeout=self.settings.request_timeout,
            retries=self.settings.generation.retries,
            on_cookie_rotated=rotated)
        return client

    def _remember_cookie(self, email: str, cookie: str) -> None:
        if self._explicit_cookie is None or self.secrets.load_cookie(email):
            self.secrets.save_cookie(email, cookie)
            try:
                with self.db.session() as s:
                    repo.set_encrypted_cookie(s, email, self.secrets.encrypt(cookie))
            except DatabaseError:
                log.warning("could not store the rotated cookie in the database")

    def sign_in(self, cookie_text: str) -> Account:
        """Verify a cookie with labs.google, keep it in the keyring, record user and session."""
        cookie = parse_cookie(cookie_text)
        register_secret(cookie)
        client = self._new_client(cookie)
        info = client.fetch_session()
        cookie = client.cookie  # may have been rotated by the session call
        # A damaged key file or vault is replaced only now that the new cookie is known to work.
        self.repair_notice = self.secrets.repair(signing_in=info.email)
        self.secrets.save_cookie(info.email, cookie)
        self._set_current(info.email)
        with self._lock:
            self._clients[hash_token(cookie)] = client
        with self.db.session() as s:
            user = repo.upsert_user(s, info.email, info.name, info.image_url, self.secrets.encrypt(cookie))
            repo.store_session(s, user.id, hash_token(info.access_token), info.expires)
        self._recorded_tokens.add(hash_token(info.access_token))
        return Account(email=user.email, name=user.name, image_url=user.image_url, current=True)

    def sign_out(self, email: str | None = None) -> None:
        """Forget an account's cookie everywhere (keyring, database) and its sessions."""
        email = (email or self.current_email() or "").lower()
        if not email:
            return
        cookie = None
        try:
            cookie = self.secrets.load_cookie(email)
        except SecretError:
            pass
        self.secrets.delete_cookie(email)
        if cookie:
            with self._lock:
                client = self._clients.pop(hash_token(cookie), None)
            if client:
                client.close()
        try:
            with self.db.session() as s:
                user = repo.get_user(s, email)
                if user:
                    repo.set_encrypted_cookie(s, email, None)
                    repo.delete_user_sessions(s, user.id)
        finally:
            if self.current_email() == email:
                others = [a.email for a in self.accounts() if a.email != email]
                self._set_current(others[0] if others else None)

    def switch_account(self, email: str) -> Account:
        accounts = {a.email: a for a in self.accounts()}
        if email.lower() not in accounts:
            raise ValidationError(f"{email} is not signed in on this computer.")
        self._set_current(email.lower())
        a = accounts[email.lower()]
        return Account(email=a.email, name=a.name, image_url=a.image_url, current=True)

    def accounts(self) -> list[Account]:
        """Accounts with a stored cookie; the current one flagged."""
        current = self.current_email()
        try:
            with self.db.session() as s:
                users = repo.list_users(s)
        except DatabaseError:
            users = []
        out = [Account(email=u.email, name=u.name, image_url=u.image_url, current=u.email == current)
               for u in users if u.has_cookie]
        if current and not any(a.email == current for a in out):
            name = current
            if self.demo:
                from core.standin import DEMO_EMAIL, DEMO_NAME

                name = DEMO_NAME if current == DEMO_EMAIL else current
            out.insert(0, Account(email=current, name=name, image_url=None, current=True))
        return out

    def whoami(self) -> SessionInfo:
        """The signed-in user as labs.google reports it (uses the cached token)."""
        return self.client().session()

    def _record_session(self, info: SessionInfo) -> None:
        """The user row and a session row (hashed token) for the account behind a call; skipped
        while the database was just found down (the generation must not wait on it twice)."""
        token_hash = hash_token(info.access_token)
        if token_hash in self._recorded_tokens or time.monotonic() - self._db_failed_at < _DOWN_GRACE:
            return
        try:
            self._bounded(lambda: self._record_session_once(info, token_hash))
            self._recorded_tokens.add(token_hash)
        except DatabaseError:
            log.info("could not record the session; it will be recorded later")

    def _record_session_once(self, info: SessionInfo, token_hash: str) -> None:
        with self.db.session() as s:
            deadline.limit_statements(s)
            user_id = repo.ensure_user(s, info.email, info.name, info.image_url)
            repo.store_session(s, user_id, token_hash, info.expires)

    def _bounded(self, fn: Callable[[], T]) -> T:
        """A database call that ends within the store's deadline (core/store/deadline.py); a
        failure that means the database is away is remembered for :data:`_DOWN_GRACE`."""
        try:
            return deadline.within(fn, self.db.where)
        except DatabaseUnavailable:
            self._db_failed_at = time.monotonic()
            raise

    # --- generate and fetch ----------------------------------------------------------------

    def generate(self, req: GenerationRequest, *, cancel: CancelToken | None = None,
                 retries: int | None = None,
                 on_delivered: Callable[[NewGeneration], None] | None = None) -> GenerationResult:
        """Generate and store one generation. The images are kept even if the database is down,
        and from the moment they are on their way a signal is held until they are (core/interrupts.py).

        The account's session is recorded once the images are in (or the call failed), so a
        database still starting (the CLI opens it meanwhile) does not hold up the call to ImageFX.
        ``on_delivered`` gets the generation as soon as it is in the spool, before thumbnails and
        the transaction (``generate -d`` writes its files then, issue 16)."""
        req = validate_request(req)
        client = self.client()
        info = client.session(cancel)
        try:
            with interrupts.guard("") as guard:
                guard.hold("Waiting for the images ImageFX is making; the command stops once they are kept "
                           "(interrupt again to give up on them).")
                gen = client.generate(req, cancel, retries=retries)
                if cancel is not None:
                    cancel.raise_if_cancelled()  # the GUI's Cancel: the user does not want them
                guard.say("Keeping the images that arrived; the command stops once they are stored "
                          "(interrupt again to stop now: they stay in the spool).")
                raw = prepare.raw_generation(gen, user_email=info.email, user_name=info.name,
                                             user_image_url=info.image_url, requested_seed=req.seed)
                new = self.deliver(raw, gen.images, gen.workflow_id, guard, on_delivered)  # the spool first
                self._record_session(info)
                return self._store(new)
        except Exception:
            self._record_session(info)  # the account's call counts even when the generation failed
            raise

    def deliver(self, raw: NewGeneration, answer: tuple[GeneratedImage, ...] | list[GeneratedImage],
                workflow_id: object = None, guard: interrupts.Guard | None = None,
                on_delivered: Callable[[NewGeneration], None] | None = None) -> NewGeneration:
        """What ImageFX delivered, kept first: written to the spool (fsync'd, atomic) before
        anything that can block or fail, then checked and prepared for storing. The caller stores
        it (:meth:`_store`), which removes the spool entry once the database has it.

        UnstorableAnswer when the answer's values cannot be kept by the library (it changed shape);
        the images are set aside in the spool's ``rejected/`` then, never retried on every start."""
        g = guard or interrupts.Guard("")
        with g.firm():
            try:
                raw.spooled_at = self.spool.put(raw, hold=True)  # locked: this process stores it next
                interrupts.kept(len(raw.images))
            except SpoolError as exc:  # the database may still take it; if not, StorageFailed says so
                log.info("the spool cannot be written (%s); storing without it", exc.strerror)
                raw.spooled_at = None
        problems = protocol.answer_problems(answer, workflow_id)
        if problems:
            raise self._unstorable(raw, f"ImageFX changed its response: {problems[0]}.")
        if on_delivered is not None:
            on_delivered(raw)
        try:
            return prepare.complete(raw)
        except ProtocolChanged:
            self._unspool(raw)  # not an image at all: nothing worth keeping was delivered
            raise

    def _unstorable(self, gen: NewGeneration, why: str) -> UnstorableAnswer:
        """Set a generation that can never be stored aside (rejected/), with ``why``."""
        kept = None
        if gen.spooled_at is not None:
            interrupts.kept(-len(gen.images))
            kept = self.spool.set_aside(gen.spooled_at, why, notify=False)
        else:
            try:
                kept = self.spool.set_aside(self.spool.put(gen), why, notify=False)
            except SpoolError:
                kept = None
        gen.spooled_at = None
        log.info("%s", why)
        return UnstorableAnswer(why, gen, kept)

    def _store(self, new: NewGeneration) -> GenerationResult:
        """Store a delivered generation within the store's deadline; its spool entry goes once it
        is stored. Database down or too slow: the entry stays (written now if it is not yet)."""
        try:
            record = self._bounded(lambda: self._store_once(new))
        except DatabaseRejected as exc:
            raise self._unstorable(new, f"The database refused these images: {exc.user_message}") from None
        except DatabaseError as exc:
            error = exc
        else:
            self._unspool(new)
            return GenerationResult(record=record, generation=new, origin=self.origin)
        if new.spooled_at is None:
            try:
                new.spooled_at = self.spool.put(new)
            except SpoolError as exc:
                raise StorageFailed(f"The images could not be stored: {error.user_message} The spool folder "
                                    f"failed too ({exc.strerror}).", new) from None
        else:
            self.spool.release(new.spooled_at)  # not stored now: whoever drains next may store it
        log.info("database unavailable; generation kept in the spool (%s)", error.user_message)
        record = GenerationRecord(prompt_id=None, prompt=new.prompt,
                                  created_at=new.created_at or datetime.now(UTC), images=(), spooled=True)
        return GenerationResult(record=record, generation=new, spooled=True,
                                storage_error=error.user_message)

    def _store_once(self, new: NewGeneration) -> GenerationRecord:
        try:
            with self.db.session() as s:
                deadline.limit_statements(s)
                record = repo.store_generation(s, new)
                self._announce(s, _added(record))
                return record
        except ValueError as exc:  # the driver refused a value (a NUL, a lone surrogate) before sending
            raise DatabaseRejected(f"a value cannot be stored ({type(exc).__name__})") from None

    def _unspool(self, new: NewGeneration) -> None:
        if new.spooled_at is None:
            return
        interrupts.kept(-len(new.images))
        try:
            self.spool.remove(new.spooled_at)
        except OSError as exc:  # stored; the entry is drained harmlessly later (media ids are unique)
            log.warning("stored, but the spool entry stays (%s)", exc.strerror)
        new.spooled_at = None

    def store_spooled(self, gen: NewGeneration) -> GenerationRecord:
        """One spool entry: the generation and, for a queue item's, the item's move to ``done``
        in the same transaction, so a drained item never runs again (tests/core/test_queue.py)."""
        try:
            gen = prepare.complete(gen)  # an entry written the moment it arrived has no thumbnails yet
        except ProtocolChanged as exc:
            raise DatabaseRejected(exc.user_message) from None

        def once() -> GenerationRecord:
            try:
                with self.db.session() as s:
                    deadline.limit_statements(s)
                    record = repo.store_generation(s, gen)
                    self._announce(s, _added(record))
                    if gen.queue_item_id is not None:
                        queue_repo.mark_spooled_done(s, gen.queue_item_id, record.prompt_id,
                                                     [i.media_id for i in gen.images])
                return record
            except ValueError as exc:
                raise DatabaseRejected(f"a value cannot be stored ({type(exc).__name__})") from None

        return self._bounded(once)

    def flush_spool(self, *, everything: bool = False) -> int:
        """Store generations kept while the database was down; returns how many images were stored.

        Only entries of this database (``everything``: also those waiting for another one, which
        the user chose to store here). Entries that can never be stored are set aside with a
        notice (:meth:`spool_notices`)."""
        entries = self.spool.pending() + (self.spool.waiting_elsewhere() if everything else [])
        if not entries:
            return 0
        result = DrainResult()
        try:
            result = self.spool.drain(self.store_spooled, entries=entries)
        except DatabaseUnavailable:
            pass
        stored = sum(len(r.images) for r in result.stored)
        if stored:
            log.info("stored %d spooled image(s)", stored)
        return stored

    def spool_notices(self) -> list[str]:
        """Spool entries set aside since the last call (each said once)."""
        notices, self.spool.notices = self.spool.notices, []
        return notices

    def spool_entries(self) -> list[SpoolEntry]:
        return self.spool.entries()

    def fetch(self, media_id: str, *, cancel: CancelToken | None = None) -> tuple[ImageRecord | None, bytes]:
        """An image by media id: from the database if stored, else from ImageFX (then stored)."""
        media_id = media_id.strip()
        if not media_id or len(media_id) > 255 or any(c.isspace() for c in media_id):
            raise ValidationError("That is not a media id.")
        try:
            with self.db.session() as s:
                existing = repo.get_image_by_media_id(s, media_id)
                data = repo.image_data(s, existing.id) if existing else None
            if existing and data:
                return existing, base64.b64decode(data)
        except DatabaseUnavailable:
            pass
        client = self.client()
        info = client.session(cancel)
        self._record_session(info)
        with interrupts.guard("") as guard:
            guard.hold("Waiting for the image; the command stops once it is kept (interrupt again to give up).")
            img = client.fetch_media(media_id, cancel)
            raw = prepare.raw_fetched(img, user_email=info.email, user_name=info.name, user_image_url=info.image_url)
            result = self._store(self.deliver(raw, [img], None, guard))
        stored = result.record.images[0] if result.record.images else None
        if stored is None and not result.spooled:
            with self.db.session() as s:
                stored = repo.get_image_by_media_id(s, media_id)
        return stored, base64.b64decode(img.encoded_image)

    # --- captions ------------------------------------------------------------------------

    def caption_file(self, path: str | Path, *, count: int = 3, image_type: str | None = None,
                     cancel: CancelToken | None = None) -> CaptionResult:
        p = Path(path)
        data = read_bytes(p, limit=images.MAX_FILE_BYTES, what="image", error=images.ImageError)
        return self.caption_bytes(data, str(p.resolve()), count=count, image_type=image_type, cancel=cancel)

    def caption_bytes(self, data: bytes, name: str, *, count: int = 3, image_type: str | None = None,
                      cancel: CancelToken | None = None) -> CaptionResult:
        if not protocol.MIN_COUNT <= count <= protocol.MAX_COUNT:
            raise ValidationError(f"The number of captions must be {protocol.MIN_COUNT}–{protocol.MAX_COUNT}.")
        if image_type and image_type.lower().lstrip(".") not in protocol.CAPTION_IMAGE_TYPES:
            raise ValidationError(f"Unknown image type {image_type!r}; use one of "
                                  f"{', '.join(protocol.CAPTION_IMAGE_TYPES)}.")
        upload = images.prepare_upload(data, image_type)
        original = images.sniff(data)
        kind = original.kind if original else upload.kind
        client = self.client()
        info = client.session(cancel)
        self._record_session(info)
        captions = client.caption(upload.data, upload.mime, count, cancel)
        records: list[CaptionRecord] = []
        try:
            with self.db.session() as s:
                user_id = repo.ensure_user(s, info.email, info.name, info.image_url)
                records = repo.store_captions(s, user_id, name, kind,
                                              [(c.text, c.media_id) for c in captions])
        except DatabaseError:
            log.warning("captions could not be stored; shown only")
            raise
        return CaptionResult(path=name, image_type=kind, captions=tuple(c.text for c in captions),
                             records=tuple(records), downscaled=upload.downscaled, sent=upload.data)

    def caption_image(self, image_id: int, *, count: int = 3, cancel: CancelToken | None = None) -> CaptionResult:
        """Caption a library image (the same path as a file); its captions are kept as the image's
        (``image_path`` ``imagefx:<media id>``): the newest is written beside it on export."""
        record = self.image(image_id)
        if record is None:
            raise ValidationError("That image is no longer in the library.")
        data = self.image_bytes(image_id)
        return self.caption_bytes(data, repo.LIBRARY_CAPTION_PREFIX + record.media_id, count=count, cancel=cancel)

    def update_caption(self, caption_id: int, text: str) -> Changes:
        """Edit a stored caption (the Captions tab): spaces at the ends trimmed, never empty."""
        text = text.strip()
        if not text:
            raise ValidationError("A caption cannot be empty; write one, or keep the old one.")
        if "\x00" in text:
            raise ValidationError("A caption cannot contain a NUL character.")
        if len(text) > MAX_CAPTION_CHARS:
            raise ValidationError(f"A caption can be at most {MAX_CAPTION_CHARS:,} characters long.")
        with self.db.session() as s:
            if repo.update_caption(s, caption_id, text) is None:
                raise ValidationError("That caption is no longer stored (deleted elsewhere?).")
            return self._announce(s, Changes.of(ChangeKind.CAPTIONS, [caption_id]))

    def caption_history(self, search: str = "", limit: int = 200) -> list[CaptionRecord]:
        with self.db.session() as s:
            return repo.list_captions(s, search=search, limit=limit)

    # --- library -------------------------------------------------------------------------

    def user_id(self, email: str) -> int | None:
        with self.db.session() as s:
            u = repo.get_user(s, email)
            return u.id if u else None

    def users(self) -> list[UserRecord]:
        with self.db.session() as s:
            return repo.list_users(s)

    def history(self, *, limit: int = 20, search: str = "", user_email: str | None = None, filter: str = "",
                sort: str = "newest") -> list[HistoryRow]:
        if limit < 1:
            raise ValidationError("The limit must be at least 1.")
        compiled, sort = _compiled(filter), _sort(sort)
        with self.db.session() as s:
            return repo.history(s, limit=limit, search=search, user_email=user_email, node=compiled, sort=sort)

    def gallery_page(self, *, after: tuple[object, ...] | None = None, limit: int = 120, search: str = "",
                     favorites_only: bool = False, user_id: int | None = None,
                     with_thumbnails: bool = True, trash: bool = False, filter: str = "",
                     sort: str = "newest") -> list[ImageRecord]:
        """A page of the library in ``sort`` order (newest, oldest, rating), after ``after`` (the last
        record's ``cursor_for(sort)``). ``filter`` is the filter language (core/filters.py; a bad one
        raises FilterInvalid, a ValidationError naming the position), ``search`` plain words;
        ``trash=True`` lists the Trash. The GUI asks ``with_thumbnails=False`` and reads thumbnails
        for the cells it paints (:meth:`thumbnails`), so rows stay small."""
        compiled, sort = _compiled(filter), _sort(sort)
        with self.db.session() as s:
            return repo.gallery_page(s, after=after, limit=limit, search=search,
                                     favorites_only=favorites_only, user_id=user_id,
                                     with_thumbnails=with_thumbnails, trash=trash, node=compiled, sort=sort)

    def gallery_anchors(self, every: int, *, search: str = "", favorites_only: bool = False,
                        trash: bool = False, filter: str = "", sort: str = "newest") -> list[tuple[Any, ...]]:
        """Every ``every``-th ``(position, *cursor_for(sort))`` of the gallery's order
        (:func:`core.store.repo.gallery_anchors`)."""
        compiled, sort = _compiled(filter), _sort(sort)
        with self.db.session() as s:
            return repo.gallery_anchors(s, every, search=search, favorites_only=favorites_only, trash=trash,
                                        node=compiled, sort=sort)

    def thumbnails(self, image_ids: list[int]) -> dict[int, bytes]:
        """Stored thumbnails (JPEG bytes) by image id, one query; ids without one are absent."""
        with self.db.session() as s:
            return repo.thumbnails(s, image_ids)

    def images_added_since(self, after_id: int | None, *, limit: int = 200, search: str = "",
                           favorites_only: bool = False, trash: bool = False,
                           filter: str = "") -> tuple[list[ImageRecord], int]:
        """What others stored since ``after_id`` (see :func:`core.store.repo.images_added_since`):
        the gallery asks every few seconds, so images from the CLI or another window show up."""
        compiled = _compiled(filter)
        with self.db.session() as s:
            return repo.images_added_since(s, after_id, limit=limit, search=search,
                                           favorites_only=favorites_only, trash=trash, node=compiled)

    def count_images(self, *, search: str = "", favorites_only: bool = False,
                     user_id: int | None = None, trash: bool = False, filter: str = "") -> int:
        compiled = _compiled(filter)
        with self.db.session() as s:
            return repo.count_images(s, search=search, favorites_only=favorites_only, user_id=user_id,
                                     trash=trash, node=compiled)

    def image(self, image_id: int) -> ImageRecord | None:
        with self.db.session() as s:
            return repo.get_image(s, image_id)

    def image_bytes(self, image_id: int) -> bytes:
        with self.db.session() as s:
            data = repo.image_data(s, image_id)
        if data is None:
            raise ValidationError("That image is no longer in the library.")
        return base64.b64decode(data)

    def images_matching(self, image_ids: list[int] | frozenset[int], *, search: str = "",
                        favorites_only: bool = False, trash: bool = False,
                        filter: str = "") -> list[ImageRecord]:
        """Those of ``image_ids`` the gallery's filter shows now (a view re-reading what changed)."""
        compiled = _compiled(filter)
        with self.db.session() as s:
            return repo.images_matching(s, list(image_ids), search=search, favorites_only=favorites_only,
                                        trash=trash, node=compiled)

    def generation_of(self, image_id: int, *, search: str = "", favorites_only: bool = False,
                      trash: bool = False, filter: str = "") -> list[ImageRecord]:
        """The images of ``image_id``'s generation (one request's images) that the gallery's filter
        shows now, newest first: "Select generation" selects them."""
        compiled = _compiled(filter)
        with self.db.session() as s:
            ids = repo.generation_ids(s, image_id)
            return repo.images_matching(s, ids, search=search, favorites_only=favorites_only,
                                        trash=trash, node=compiled)

    # --- the library: tags, boards, ratings, notes, saved searches (issue 14) ------------------

    @property
    def team(self) -> Team:
        """The team on a shared server (core/service/team.py): members, shared boards (issue 15)."""
        if self._team is None:
            from core.service.team import Team

            self._team = Team(self)
        return self._team

    @property
    def library(self) -> Library:
        """Organising the library (core/service/library.py); every mutation returns its Changes."""
        if self._library is None:
            from core.service.library import Library

            self._library = Library(self)
        return self._library

    def listen_for_changes(self, callback: Callable[[Changes], None], *, include_own: bool = False,
                           mode: str = "auto") -> ChangeListener:
        """Hear every change made to this database by anyone else (another window, a terminal, a queue
        run), within a second: ``callback(changes)`` on the listener's own thread. Started; ``stop()``
        it when done (:meth:`close` stops it too). See core/store/notify.py (LISTEN/NOTIFY, reconnects,
        polling fallback)."""
        from core.store.notify import ChangeListener

        self.db.connect()  # the triggers that announce changes come with the schema
        listener = ChangeListener(self.db.url, callback, own_origin=self.origin, include_own=include_own, mode=mode,
                                  on_lost=self.db.ping if self.db.is_embedded else None)
        with self._lock:
            self._listeners.append(listener)
        return listener.start()

    def set_favorite(self, image_ids: list[int], favorite: bool) -> Changes:
        with self.db.session() as s:
            return self._announce(s, Changes.of(ChangeKind.FAVORITE, repo.set_favorite(s, image_ids, favorite)))

    def delete_images(self, image_ids: list[int]) -> Changes:
        """Delete for good (the gallery's Delete moves images to the Trash instead)."""
        with self.db.session() as s:
            return self._announce(s, Changes.of(ChangeKind.IMAGES_REMOVED, repo.delete_images(s, image_ids)))

    # --- the Trash (issue 11: nothing is final by accident) -----------------------------------

    def trash_images(self, image_ids: list[int]) -> Changes:
        """Move images to the Trash: out of the gallery, history and export, restorable."""
        with self.db.session() as s:
            return self._announce(s, Changes.of(ChangeKind.IMAGES_TRASHED, repo.trash_images(s, image_ids)))

    def restore_images(self, image_ids: list[int]) -> Changes:
        """Images back from the Trash, where they were (their dates are kept)."""
        with self.db.session() as s:
            return self._announce(s, Changes.of(ChangeKind.IMAGES_RESTORED, repo.restore_images(s, image_ids)))

    def empty_trash(self, *, older_than_days: float | None = None,
                    image_ids: list[int] | None = None) -> Changes:
        """Delete for good what is in the Trash: everything, what has been there more than
        ``older_than_days``, or those of ``image_ids`` that are in it ("Delete forever")."""
        if older_than_days is not None and older_than_days < 0:
            raise ValidationError("The number of days must be 0 or more.")
        older = timedelta(days=older_than_days) if older_than_days is not None else None
        with self.db.session() as s:
            return self._announce(s, Changes.of(ChangeKind.IMAGES_REMOVED,
                                                repo.empty_trash(s, older_than=older, image_ids=image_ids)))

    def trash(self, *, limit: int = 200, after: tuple[datetime, int] | None = None) -> list[ImageRecord]:
        """What is in the Trash, newest image first (``trashed_at`` says since when)."""
        return self.gallery_page(after=after, limit=limit, trash=True, with_thumbnails=False)

    def find_images(self, refs: list[str]) -> tuple[list[int], list[str]]:
        """Image ids for what a user typed (ids or media ids), and the references not found."""
        refs = [r.strip() for r in refs if r.strip()]
        with self.db.session() as s:
            found = repo.find_images(s, refs)
        return list(dict.fromkeys(found[r] for r in refs if r in found)), [r for r in refs if r not in found]

    def recent_prompts(self, limit: int = 20) -> list[str]:
        with self.db.session() as s:
            return repo.recent_prompts(s, limit)

    def backfill_thumbnails(self, limit: int = 50) -> int:
        """Make thumbnails for images stored without one (a database made by another tool)."""
        with self.db.session() as s:
            ids = repo.images_without_thumbnails(s, limit)
        done = 0
        for image_id in ids:
            try:
                data = self.image_bytes(image_id)
                thumb, w, h = images.make_thumbnail(data)
            except (images.ImageError, ValueError):
                continue
            info = images.sniff(data)
            size = images.dimensions(data)
            with self.db.session() as s:
                repo.save_thumbnail(s, image_id, thumb, w, h)
                repo.set_image_facts(s, image_id, info.mime if info else None, size[0] if size else None,
                                     size[1] if size else None, len(data))
            done += 1
        return done

    # --- maintenance -----------------------------------------------------------------------

    def delete_expired_sessions(self) -> int:
        with self.db.session() as s:
            return repo.delete_expired_sessions(s)

    def archive_older_than(self, days: int) -> Changes:
        """Move images older than ``days`` to the archive table (images in the Trash stay there)."""
        if days < 0:
            raise ValidationError("The number of days must be 0 or more.")
        with self.db.session() as s:
            return self._announce(s, Changes.of(ChangeKind.IMAGES_REMOVED, repo.archive_older_than(s, days)))

    def backup(self, path: str | Path) -> BackupResult:
        """pg_dump of the database in use (embedded or server) to ``path`` (.sql or .sql.gz)."""
        return backup.backup(self.db, Path(path))

    def restore(self, path: str | Path) -> float:
        """Load a backup into the configured database, which must be empty. Do not ``open()`` first:
        opening creates the schema, and the backup brings its own."""
        try:
            return backup.restore(self.db, Path(path))
        except backup.BackupFileError as exc:  # bad input (exit code 2), not a database failure
            raise ValidationError(str(exc)) from None

    # --- for the desktop app (issue 3) ----------------------------------------------------------

    def avatar(self, url: str | None, *, max_bytes: int = 2 * 1024 * 1024) -> bytes | None:
        """The account picture from the session answer (a public URL, sent no cookie); None if it
        cannot be had. The GUI shows initials instead, so any failure is quiet."""
        if not url or not url.lower().startswith(("https://", "http://")):
            return None
        from urllib.parse import urlsplit

        import requests

        http = requests.Session()
        # Loopback (the stand-in's avatars) must not go through a proxy from the environment.
        http.trust_env = (urlsplit(url).hostname or "") not in ("127.0.0.1", "localhost", "::1")
        try:
            with http.get(url, timeout=(5, 10), stream=True) as resp:
                if resp.status_code != 200:
                    return None
                data = resp.raw.read(max_bytes + 1, decode_content=True)
        except (requests.RequestException, OSError):
            return None
        finally:
            http.close()
        if len(data) > max_bytes or images.sniff(data) is None:
            return None
        return data


def _compiled(filter_text: str) -> Node | None:
    """A filter of the filter language, parsed (the store compiles it, looking up the names it
    holds); FilterInvalid (a ValidationError, with the position) when it cannot be read."""
    if not filter_text or not filter_text.strip():
        return None
    try:
        return parse_filter(filter_text)
    except FilterError as exc:
        raise FilterInvalid(str(exc), exc.position) from None


def _sort(sort: str) -> str:
    if sort not in SORTS:
        raise ValidationError(f"Unknown sort order {sort!r}; use {', '.join(SORTS)}.")
    return sort


def describe(exc: BaseException) -> str:
    """One sentence (what happened + what to do) for any error a service call can raise."""
    if isinstance(exc, ImageFXError):
        return str(exc)
    if isinstance(exc, DatabaseError):
        return str(exc)
    if isinstance(exc, (ValidationError, images.ImageError)):
        return str(exc)
    from core.export import ExportError  # the file writer's one sentence (a full disk, a planted link)

    if isinstance(exc, ExportError):
        return str(exc)
    if isinstance(exc, StorageFailed):
        return f"{exc.user_message} {exc.action}"
    if isinstance(exc, SecretError):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__})."


def check_database(settings: Settings) -> str:
    """Connect once to the configured database server and return its version; creates nothing
    (Settings → Database → Test connection). DatabaseError with a sentence if it fails."""
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from core.store.database import describe_error, server_url

    where = settings.database.describe()
    engine = sa.create_engine(server_url(settings.database), poolclass=NullPool,
                              connect_args={"connect_timeout": settings.database.connect_timeout,
                                            "application_name": "ImageFX Studio"})
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SHOW server_version")).scalar())
    except DBAPIError as exc:
        raise describe_error(exc, where) from None
    finally:
        engine.dispose()
