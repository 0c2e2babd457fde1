"""Team server (issue 15): what row-level security costs a member, at 100k images over 20 members.

    python -m benchmarks.seed --target server:postgresql://postgres@127.0.0.1:5432/imagefx_team_bench \\
        --generations 25000 --payload-scale 0.1          # the usual 100k seeding (benchmarks/seed.py)
    python -m benchmarks.team_bench prepare --url postgresql://postgres@127.0.0.1:5432/imagefx_team_bench
    python -m benchmarks.team_bench run --url postgresql://postgres@127.0.0.1:5432/imagefx_team_bench
    python -m benchmarks.team_bench drop --url postgresql://postgres@127.0.0.1:5432/imagefx_team_bench

``prepare`` (a superuser's URL) spreads the seeded history over 20 accounts (whole generations,
round robin, so each has ~5,000 images; tags copied per member and each image's tags its owner's;
the 30 boards dealt out, each holding only its owner's images; stars and notes their image's
owner's), runs ``imagefx team init`` (core.store.team.init) and ``team add-member`` for each,
and shares five boards: the biggest with the whole team, the others with one member each, two of
them read-write. Every member then sees their own ~5,000 images plus ~650 shared ones.

``run`` measures, with the app's own Service calls (core/service/service.py), as the gallery and
the search box ask them:

- **first page**: ``gallery_page(limit=150, with_thumbnails=False)`` + ``thumbnails`` of its
  first 60 (the visible cells);
- **search**: ``gallery_page(search=…)`` and ``count_images(search=…)``, for words and a substring;
- **count**: ``count_images()`` (the status bar).

Each round runs every figure as a member (under RLS; ``--members`` of them in turn) and the same
call through a connection of its own that bypasses row-level security (the superuser of ``--url``,
on the same data: the tables as a single-user database has them, every row visible), in
alternating order. Both connections are warmed first (``--warm`` calls of each figure: an open app
runs these queries over and over, and psycopg prepares a statement run five times). Median of the
rounds; the ratio RLS ÷ no RLS beside it; target ≤ 1.2×. The load average is printed before and
after.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from benchmarks.common import ROOT, Target, clean_process_env, load_average, ms

MEMBERS = 20
TARGET_RATIO = 1.2
SEARCH_WORDS = "golden hour"
SEARCH_SUBSTRING = "ighthou"
# board number (Board NN, by size: 01 is the biggest) -> (member index or None for the whole team, read-only)
SHARES = {1: (None, True), 2: (3, True), 3: (4, False), 4: (5, True), 5: (6, False)}


def member_email(n: int) -> str:
    return f"member-{n:02d}@team.bench"


def member_password(url: str, n: int) -> str:
    """Deterministic, so ``run`` can log in on a server that asks for passwords (a bench database only)."""
    return "bench-" + hashlib.sha256(f"{url}|{n}".encode()).hexdigest()[:20]


def url_as(url: str, login: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(login, safe='')}:{quote(password, safe='')}@{host}"))


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


# --- prepare ---------------------------------------------------------------------------------------------

def prepare(url: str) -> None:
    from core.store import team

    started = time.perf_counter()
    with _connect(url) as conn:
        if conn.execute("SELECT to_regclass('public.imagefx_team') IS NOT NULL").fetchone()[0]:
            raise SystemExit("this database is a team database already (drop it and seed again)")
        images = conn.execute("SELECT count(*) FROM generated_images").fetchone()[0]
        if not images:
            raise SystemExit("seed the database first (python -m benchmarks.seed --target server:URL ...)")
        with conn.transaction():
            uids = []
            for n in range(1, MEMBERS + 1):
                uids.append(conn.execute(
                    "INSERT INTO users (email, name) VALUES (%s, %s) ON CONFLICT (email) DO UPDATE "
                    "SET name = EXCLUDED.name RETURNING id", (member_email(n), f"Member {n:02d}")).fetchone()[0])
            conn.execute("CREATE TEMP TABLE bench_members (n INTEGER PRIMARY KEY, uid INTEGER) ON COMMIT DROP")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO bench_members VALUES (%s, %s)", list(enumerate(uids)))
            # whole generations, round robin: a prompt and its images stay one person's
            conn.execute(f"UPDATE prompts p SET user_id = m.uid FROM bench_members m WHERE m.n = p.id % {MEMBERS}")
            conn.execute("UPDATE generated_images g SET user_id = p.user_id FROM prompts p WHERE p.id = g.prompt_id")
            conn.execute("UPDATE generated_images_archive a SET user_id = p.user_id FROM prompts p "
                         "WHERE p.id = a.prompt_id")
            conn.execute("UPDATE image_ratings r SET user_id = g.user_id FROM generated_images g "
                         "WHERE g.id = r.image_id")
            conn.execute("UPDATE image_notes r SET user_id = g.user_id FROM generated_images g WHERE g.id = r.image_id")
            # tags: every member has the same words; an image's tags are its owner's
            conn.execute("INSERT INTO tags (user_id, name) SELECT m.uid, t.name FROM tags t CROSS JOIN bench_members m "
                         "WHERE t.user_id IS DISTINCT FROM m.uid ON CONFLICT DO NOTHING")
            conn.execute("CREATE TEMP TABLE bench_links ON COMMIT DROP AS SELECT mine.id AS tag_id, it.image_id "
                         "FROM image_tags it JOIN tags t ON t.id = it.tag_id "
                         "JOIN generated_images g ON g.id = it.image_id "
                         "JOIN tags mine ON mine.user_id = g.user_id AND mine.name_folded = t.name_folded")
            conn.execute("DELETE FROM image_tags")
            conn.execute("INSERT INTO image_tags (tag_id, image_id) SELECT tag_id, image_id FROM bench_links")
            conn.execute("DELETE FROM tags WHERE user_id <> ALL (%s)", (uids,))
            # boards dealt out; each holds its owner's images only
            conn.execute(f"UPDATE boards b SET user_id = m.uid FROM bench_members m WHERE m.n = b.id % {MEMBERS}")
            conn.execute("DELETE FROM board_images bi USING boards b, generated_images g WHERE b.id = bi.board_id "
                         "AND g.id = bi.image_id AND g.user_id <> b.user_id")
            conn.execute("UPDATE saved_searches SET user_id = %s", (uids[0],))
            conn.execute("DELETE FROM users WHERE id <> ALL (%s)", (uids,))
        conn.execute("VACUUM ANALYZE")
        print(f"spread {images:,} images over {MEMBERS} accounts in {time.perf_counter() - started:.0f} s", flush=True)

        t = time.perf_counter()
        report = team.init(conn, owner_email=member_email(1))
        logins = []
        for n in range(1, MEMBERS + 1):
            member, _pw = team.add_member(conn, member_email(n), password=member_password(url, n))
            logins.append(member.login)
        with conn.transaction():
            for board_no, (who, read_only) in SHARES.items():
                conn.execute("INSERT INTO board_shares (board_id, member_role, read_only, shared_by) "
                             "SELECT b.id, %s, %s, 'bench' FROM boards b WHERE b.name = %s",
                             (None if who is None else logins[who], read_only, f"Board {board_no:02d}"))
        conn.execute("VACUUM ANALYZE")
        shared = conn.execute("SELECT count(*), count(DISTINCT image_id) FROM imagefx_share_access").fetchone()
        print(f"team init ({report.tables} tables) + {MEMBERS} members + {len(SHARES)} shares in "
              f"{time.perf_counter() - t:.0f} s; share index: {shared[0]:,} rows, {shared[1]:,} images", flush=True)


# --- run -------------------------------------------------------------------------------------------------

def _service(url: str) -> Any:
    from core.service import Service
    from core.store import Database

    target = Target.parse(f"server:{url}")
    return Service(target.settings(), database=Database(target.settings(), url=url)).open()


def _calls() -> list[tuple[str, Any]]:
    def first_page(svc: Any) -> int:
        rows = svc.gallery_page(limit=150, with_thumbnails=False)
        svc.thumbnails([r.id for r in rows[:60]])
        return len(rows)

    return [
        ("gallery first page (150 rows + 60 thumbnails)", first_page),
        (f"search words ({SEARCH_WORDS!r}): first page",
         lambda svc: len(svc.gallery_page(search=SEARCH_WORDS, limit=150, with_thumbnails=False))),
        ("search words: count", lambda svc: svc.count_images(search=SEARCH_WORDS)),
        (f"search substring ({SEARCH_SUBSTRING!r}): first page",
         lambda svc: len(svc.gallery_page(search=SEARCH_SUBSTRING, limit=150, with_thumbnails=False))),
        ("search substring: count", lambda svc: svc.count_images(search=SEARCH_SUBSTRING)),
        ("count (status bar)", lambda svc: svc.count_images()),
    ]


def run(url: str, rounds: int, measured: int, warm: int) -> int:
    load_before = load_average()
    # Each member measured gets a connection without RLS of its own, used exactly as often, so both
    # sides have the same warm caches and the same prepared statements (psycopg prepares a statement
    # run 5 times; an open app runs its few queries again and again).
    pairs = [(_service(url_as(url, member_email(n), member_password(url, n))), _service(url))
             for n in range(1, measured + 1)]
    calls = _calls()
    rls: dict[str, list[float]] = {name: [] for name, _ in calls}
    none: dict[str, list[float]] = {name: [] for name, _ in calls}
    seen: dict[str, list[int]] = {name: [] for name, _ in calls}
    try:
        import sqlalchemy as sa

        with pairs[0][1].db.session() as s:
            bypass = s.execute(sa.text("SELECT rolsuper OR rolbypassrls FROM pg_roles "
                                       "WHERE rolname = current_user")).scalar()
        if not bypass:
            raise SystemExit("--url must be a superuser's (or a BYPASSRLS role's): the side without RLS")
        for member, plain in pairs:
            for _name, call in calls:
                for _ in range(warm):
                    call(member)
                    call(plain)
        for i in range(rounds):
            member, plain = pairs[i % len(pairs)]
            for name, call in calls:
                first, second = (member, plain) if i % 2 == 0 else (plain, member)  # neither always first
                t = time.perf_counter()
                n = call(first)
                t1 = time.perf_counter()
                m = call(second)
                t2 = time.perf_counter()
                a, b = (ms(t1 - t), ms(t2 - t1)) if first is member else (ms(t2 - t1), ms(t1 - t))
                rls[name].append(a)
                none[name].append(b)
                seen[name].append(n if first is member else m)
    finally:
        for member, plain in pairs:
            member.close()
            plain.close()
    load_after = load_average()
    print(f"Team server: RLS overhead, {MEMBERS} members ({measured} measured in turn), median of {rounds} rounds "
          f"(load average before {load_before}, after {load_after})")
    print(f"| {'figure':<52} | {'as a member (RLS)':>17} | {'no RLS':>8} | {'ratio':>6} | ok  | member sees |")
    worst = 0.0
    for name, _ in calls:
        a, b = statistics.median(rls[name]), statistics.median(none[name])
        ratio = a / b if b else float("nan")
        worst = max(worst, ratio)
        print(f"| {name:<52} | {a:>14.1f} ms | {b:>5.1f} ms | {ratio:>5.2f}× | {'✔' if ratio <= TARGET_RATIO else '✘'}"
              f"   | {statistics.median(seen[name]):>11,.0f} |", flush=True)
    print(f"worst ratio {worst:.2f}× (target ≤ {TARGET_RATIO}×)")
    return 0 if worst <= TARGET_RATIO else 1


def drop(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with _connect(admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        from core.store.team import login_for, role_prefix

        p = role_prefix(name)
        for role in [login_for(member_email(n)) for n in range(1, MEMBERS + 1)] + [f"{p}_admin", f"{p}_member",
                                                                                  f"{p}_owner"]:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    print(f"dropped database {name} and its roles")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["prepare", "run", "drop"])
    ap.add_argument("--url", required=True, help="a superuser's URL of the seeded database")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--members", type=int, default=5, help="members measured in turn (each with its own peer)")
    ap.add_argument("--warm", type=int, default=6, help="calls of each figure per connection before measuring")
    args = ap.parse_args(argv)
    clean_process_env()
    assert ROOT
    if args.command == "prepare":
        prepare(args.url)
        return 0
    if args.command == "drop":
        drop(args.url)
        return 0
    return run(args.url, args.rounds, args.members, args.warm)


if __name__ == "__main__":
    sys.exit(main())
