"""A team database on a real server for tests (issue 15): several members with login roles of their own.

The server is the one named by ``IMAGEFX_TEST_PG_URL`` when set (CI), else our own TCP server with
password authentication, so members log in with their passwords. Roles belong to the whole server:
every name here is unique to the run, and :meth:`TeamDb.close` drops the database and its roles.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import psycopg

from core.config import load_settings
from core.service import Service
from core.store import Database, NewGeneration, NewImage, NewQueueItem, queue_repo, repo
from core.store import library as lib
from tests.support.pg import create_database, drop_database, pg_bin


def image(media_id: str, seed: int = 1) -> NewImage:
    return NewImage(media_id=media_id, encoded_image="iVBORw0KGgo=", seed=seed, returned_prompt=None,
                    model="IMAGEN_3_5", aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", workflow_id=None,
                    fingerprint_log_record_id=None, mime_type="image/png", width=8, height=8, byte_size=8,
                    thumbnail=b"\xff\xd8thumb", thumb_width=8, thumb_height=8)


def store(s: object, email: str, prompt: str, media: list[str], when: datetime | None = None) -> list[int]:
    gen = NewGeneration(user_email=email, user_name=email.split("@")[0], prompt=prompt, seed=7, count=len(media),
                        aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", model="IMAGEN_3_5", workflow_id=None,
                        images=[image(m, i) for i, m in enumerate(media)], created_at=when)
    return [i.id for i in repo.store_generation(s, gen).images]  # type: ignore[arg-type]


@dataclass
class Person:
    key: str
    email: str
    password: str = ""
    login: str = ""
    uid: int = 0
    images: list[int] = field(default_factory=list)


@dataclass
class TeamDb:
    admin_url: str  # the server's superuser, on its maintenance database
    name: str
    url: str  # the team database, as the admin (owner)
    people: dict[str, Person]

    def url_as(self, key: str) -> str:
        p = self.people[key]
        base = self.url.split("://", 1)[1].split("@", 1)[1]
        return f"postgresql://{quote(p.login, safe='')}:{quote(p.password, safe='')}@{base}"

    def connect_as(self, key: str, **kw: object) -> psycopg.Connection:
        return psycopg.connect(self.url_as(key), **kw)  # type: ignore[arg-type]

    def psql(self, key: str, script: str) -> subprocess.CompletedProcess[str]:
        """``psql`` as a member, as a person at a terminal would run it."""
        p = self.people[key]
        env = {**os.environ, "PGPASSWORD": p.password}
        return subprocess.run([str(pg_bin() / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1",
                               self.url_as(key).replace(f":{quote(p.password, safe='')}@", "@")],
                              input=script, env=env, capture_output=True, text=True, timeout=60)

    def close(self) -> None:
        drop_database(self.admin_url, self.name)
        roles = [p.login for p in reversed(self.people.values()) if p.login]
        roles += [f"{self.name}_{suffix}" for suffix in ("admin", "member", "owner")]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for _ in range(len(roles)):  # a role that granted memberships goes after those it granted
                left = []
                for role in roles:
                    try:
                        conn.execute(f'DROP ROLE IF EXISTS "{role}"')
                    except psycopg.errors.DependentObjectsStillExist:
                        left.append(role)
                if not left:
                    return
                roles = left
            raise AssertionError(f"roles left behind: {roles}")


def seed_single_user(url: str, people: list[Person]) -> None:
    """What a single-user database holds before it becomes a team's: for each account a row in every
    table (images with thumbnails, captions, an archived image, a queue item, web-import state, a
    session, tags, boards, stars, notes, a saved search), plus a tag made before anyone signed in."""
    settings = load_settings()
    db = Database(settings, url=url).connect()
    try:
        with db.session() as s:
            for n, p in enumerate(people):
                p.uid = repo.upsert_user(s, p.email, p.key.title(), None, f"gAAAAA-cookie-of-{p.key}").id
                repo.store_session(s, p.uid, f"session-hash-of-{p.key}", datetime.now(UTC) + timedelta(days=1))
                p.images = store(s, p.email, f"{p.key}'s lighthouse at golden hour", [f"CAMa{p.key}{k}{n}" for k in
                                                                                     range(3)])
                old = store(s, p.email, f"{p.key}'s old picture", [f"CAMa{p.key}old{n}"],
                            when=datetime.now(UTC) - timedelta(days=400))
                repo.archive_older_than(s, 365)
                repo.store_captions(s, p.uid, f"/photos/{p.key}.png", "png", [(f"{p.key} on a beach", None)])
                queue_repo.add_items(s, [NewQueueItem(f"{p.key}'s queued prompt", 1, "IMAGEN_3_5",
                                                      "IMAGE_ASPECT_RATIO_SQUARE")], p.email)
                queue_repo.begin_import(s, p.email)
                lib.add_tags(s, p.images[:2], [f"{p.key}-tag"], p.uid)
                board = lib.create_board(s, f"{p.key.title()}'s board", p.uid)
                assert board is not None
                lib.add_to_board(s, board, p.images[:2])
                lib.set_rating(s, p.images[:2], 4, p.uid)
                lib.set_note(s, p.images[0], f"{p.key}'s note", p.uid)
                lib.save_search(s, f"{p.key}'s search", "stars:>=4", "rating", p.uid)
                assert old
            queue_repo.add_items(s, [NewQueueItem("queued before anyone signed in", 1, "IMAGEN_3_5",
                                                  "IMAGE_ASPECT_RATIO_SQUARE")], None)
            lib.add_tags(s, people[0].images[:1], ["made-before-sign-in"], None)
    finally:
        db.close()


def make_team(admin_url: str, keys: list[str], *, seed: bool = True) -> TeamDb:
    """A new database on the server of ``admin_url``, seeded as one person's, turned into a team database
    (``team init``) with a member for each key (``team add-member``, through the service as the CLI does)."""
    tag = uuid.uuid4().hex[:8]
    name, url = create_database(admin_url, prefix=f"team_{tag}")
    people = {k: Person(k, f"{k}-{tag}@team.test", password=f"pw-{k}-{uuid.uuid4().hex[:12]}") for k in keys}
    team = TeamDb(admin_url, name, url, people)
    try:
        if seed:
            seed_single_user(url, list(people.values()))
        settings = load_settings()
        with Service(settings, database=Database(settings, url=url)) as svc:
            svc.team.init()
            for p in people.values():
                member, _ = svc.team.add_member(p.email, password=p.password)
                p.login = member.login or ""
    except BaseException:
        team.close()
        raise
    return team


def server_url() -> tuple[str, object | None]:
    """The server tests run team mode on: (admin URL, our own server to stop, or None)."""
    env = os.environ.get("IMAGEFX_TEST_PG_URL", "")
    if env:
        return env, None
    from tests.support.pg import TcpPostgres

    server = TcpPostgres(password=f"admin-{uuid.uuid4().hex[:12]}").start()
    return server.url(), server
