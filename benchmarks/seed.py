"""Fill a database with synthetic history: N generations of 4 images, spread over two years.

    python -m benchmarks.seed --target embedded:/work/benchdata/emb-10k --generations 2500
    python -m benchmarks.seed --target server:postgresql://postgres@127.0.0.1:5432/imagefx_bench_10k \\
        --generations 2500
    python -m benchmarks.seed --target ... --generations 25000 --payload-scale 0.25   # 100k images

What goes in is what the app would have stored:

- a pool of distinct pictures (``--pool``, default 300) drawn once by the stand-in's renderer
  (gradients, shapes, noise, the prompt as text: real 1024-class PNGs of 0.9–1 MB, 1.2–1.3 MB as
  base64, that do not compress to nothing), with mixed aspect ratios; each row reuses one;
- a thumbnail per distinct picture made with ``core.images.make_thumbnail`` (exactly what the app
  stores), copied into every row that uses the picture, so ``image_thumbnails`` has one row per image;
- prompts of 30–60 words from a realistic vocabulary (subjects, styles, lighting, lenses, places),
  so full-text and substring search have real work to do;
- ``created_at`` spread over the last two years, ids rising with time (as the app inserts them),
  4–5 users, about 3 % favourites;
- the library's marks (issue 14): ~60 % of images tagged with 1–4 of 200 tags (Zipf: a few very
  common, most rare), 30 boards (10 % of the images down to 0.3 %), ~25 % rated, 1 % with a note,
  two saved searches. ``--library-only`` adds them to a database seeded before they existed.

``--payload-scale 0.25`` stores 256-px PNGs (~90 KB base64) as ``encoded_image`` to keep the 100k
database at ~12 GB instead of ~130 GB; thumbnails still come from the full-size pictures, so the
gallery reads exactly what it would. Everything is deterministic for a given ``--seed``; the pool is
cached in ``--cache`` so a re-seed skips drawing it.

Bulk load: ``COPY`` in one transaction per table chunk, ``synchronous_commit=off``, then
``VACUUM ANALYZE``. Prints the seeding time and the database size.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import pickle
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import Target, clean_process_env

ASPECTS = [("IMAGE_ASPECT_RATIO_SQUARE", 5), ("IMAGE_ASPECT_RATIO_LANDSCAPE", 3),
           ("IMAGE_ASPECT_RATIO_PORTRAIT", 2), ("IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE", 1)]
MODELS = [("IMAGEN_3_5", 6), ("IMAGEN_3_1", 2), ("IMAGEN_3", 1), ("IMAGEN_4", 1)]
USERS = [("ada.lovelace@example.com", "Ada Lovelace"), ("grace.hopper@example.com", "Grace Hopper"),
         ("alan.kay@example.org", "Alan Kay"), ("margaret.h@example.net", "Margaret Hamilton")]
USER_WEIGHTS = [6, 3, 2, 1]

SUBJECTS = """cat fox owl wolf dragon robot astronaut knight samurai witch lighthouse castle cathedral
    village harbour market bridge train tram bicycle sailboat submarine airship balloon forest waterfall
    glacier volcano desert canyon meadow garden greenhouse library bookshop cafe kitchen workshop
    laboratory observatory temple pagoda monastery skyline street alley rooftop garage diner bakery
    jellyfish octopus whale tortoise hummingbird peacock stag bear tiger elephant giraffe koala
    portrait grandmother child musician dancer chef gardener blacksmith fisherman pilot detective""".split()
ADJECTIVES = """ancient abandoned cozy misty overgrown futuristic whimsical majestic tiny enormous
    weathered gleaming rusty crystalline floating submerged glowing shadowy serene chaotic bustling
    lonely vibrant muted ornate minimalist surreal dreamy melancholic playful regal battered pristine
    frozen sunlit moonlit rain-soaked snow-covered golden silver emerald crimson azure violet amber""".split()
ACTIONS = """reading a book; sipping tea; playing the violin; watching the sunset; repairing a clock;
    painting a mural; exploring ruins; flying over the clouds; sleeping on a windowsill; dancing in the
    rain; carrying lanterns; fishing at dawn; tending a garden; reading a map; building a sandcastle;
    stargazing on a hill; cooking noodles; riding through a storm; feeding pigeons; writing a letter""".split("; ")
PLACES = """in a bustling night market; on a foggy pier; inside a glass greenhouse; in a neon-lit alley;
    on the surface of the moon; in a sunflower field; beside a frozen lake; in a Victorian library;
    on a floating island; under cherry blossoms; in a desert oasis; inside a cathedral of ice;
    in a cyberpunk megacity; at the edge of a waterfall; in an autumn forest; on a Mediterranean terrace;
    in a Tokyo subway station; on an abandoned space station; in a Scottish highland glen""".split("; ")
STYLES = """oil painting; watercolor; studio photograph; 35mm film photograph; digital illustration;
    concept art; isometric 3D render; ukiyo-e woodblock print; art nouveau poster; pixel art;
    charcoal sketch; claymation still; low-poly render; children's book illustration; cinematic still;
    impressionist painting; gouache; tilt-shift photograph; vaporwave; baroque painting""".split("; ")
DETAILS = """golden hour lighting; soft volumetric light; dramatic rim lighting; overcast diffuse light;
    shallow depth of field; wide-angle lens; 85mm portrait lens; macro detail; long exposure;
    high contrast; pastel color palette; rich saturated colors; muted earth tones; intricate details;
    highly detailed textures; symmetrical composition; rule of thirds; bokeh background; light fog;
    reflections on wet pavement; film grain; award-winning composition; trending on artstation;
    ultra sharp focus; subtle vignette; warm color grading; cool blue shadows; 8k resolution""".split("; ")
EXTRA = """with a red umbrella; wearing a knitted scarf; surrounded by fireflies; under a starry sky;
    with steam rising; next to a sleeping dog; with paper lanterns overhead; holding a glowing orb;
    with vines climbing the walls; in the style of Studio Ghibli; with tiny mushrooms; as seen from above""".split("; ")


def make_prompt(rng: random.Random) -> str:
    """30–60 words: subject, adjectives, action, place, style, lighting and lens details."""
    target = rng.randint(30, 60)
    parts = [f"a {rng.choice(ADJECTIVES)} {rng.choice(ADJECTIVES)} {rng.choice(SUBJECTS)} "
             f"{rng.choice(ACTIONS).strip()} {rng.choice(PLACES).strip()}"]
    if rng.random() < 0.5:
        parts.append(rng.choice(EXTRA).strip())
    parts.append(rng.choice(STYLES).strip())
    details = [d.strip() for d in DETAILS]
    rng.shuffle(details)
    words = sum(len(p.split()) for p in parts)
    for d in details:
        if words >= target:
            break
        parts.append(d)
        words += len(d.split())
    return ", ".join(parts)


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _draw(args: tuple[int, int, float]) -> tuple[str, str, int, int, bytes, int, int, int]:
    """One pool picture: (aspect, payload base64, width, height, thumbnail, tw, th, payload bytes)."""
    from core import images
    from core.standin.images import image_size, render_image

    index, seed, payload_scale = args
    rng = random.Random(seed * 1_000_003 + index)
    aspect = _weighted(rng, ASPECTS)
    prompt = make_prompt(rng)
    full = render_image(prompt, rng.randrange(2**31), index % 4, aspect, scale=1.0, fmt="PNG")
    thumb, tw, th = images.make_thumbnail(full)
    payload = full if payload_scale == 1.0 else render_image(prompt, index, index % 4, aspect,
                                                             scale=payload_scale, fmt="PNG")
    w, h = image_size(aspect, payload_scale)
    return aspect, base64.b64encode(payload).decode("ascii"), w, h, thumb, tw, th, len(payload)


def load_pool(size: int, seed: int, payload_scale: float, cache: Path) -> list[tuple]:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"pool-{size}-{seed}-{payload_scale:g}.pickle"
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as ex:
        pool = list(ex.map(_draw, [(i, seed, payload_scale) for i in range(size)], chunksize=4))
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(pool, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    mb = sum(len(p[1]) for p in pool) / len(pool) / 1e6
    print(f"pool: {size} pictures drawn in {time.perf_counter() - t:.1f} s, {mb:.2f} MB base64 each on average")
    return pool


def _media_id(rng: random.Random) -> str:
    raw = rng.getrandbits(384).to_bytes(48, "big")
    return "CAMaJ" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def seed(target: Target, generations: int, *, per_generation: int = 4, pool_size: int = 300, seed_value: int = 42,
         payload_scale: float = 1.0, cache: Path, chunk: int = 250) -> None:
    pool = load_pool(pool_size, seed_value, payload_scale, cache)
    db = target.database()
    started = time.perf_counter()
    db.connect()  # starts the embedded server, creates the schema exactly as the app does
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.transaction():
            n = conn.execute("SELECT count(*) FROM generated_images").fetchone()[0]  # type: ignore[index]
        if n:
            raise SystemExit(f"{target.label}: the database already holds {n} images; drop it first "
                             "(python -m benchmarks.seed --drop ...)")
        conn.execute("SET synchronous_commit = off")
        conn.commit()
        rng = random.Random(seed_value)
        user_ids = []
        with conn.transaction():
            for email, name in USERS:
                row = conn.execute("INSERT INTO users (email, name) VALUES (%s, %s) "
                                   "ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                                   (email, name)).fetchone()
                user_ids.append(row[0])  # type: ignore[index]
        now = datetime.now(UTC).replace(microsecond=0)
        span = timedelta(days=730).total_seconds()
        # Creation times over two years, oldest first, so ids rise with time as in the app.
        times = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(generations))
        image_id = 0
        stored_bytes = 0
        for start in range(0, generations, chunk):
            with conn.transaction():
                prompts_rows = []
                image_rows = []
                thumb_rows = []
                for g in range(start, min(start + chunk, generations)):
                    prompt_id = g + 1
                    created = times[g]
                    user = rng.choices(user_ids, weights=USER_WEIGHTS)[0]
                    text = make_prompt(rng)
                    model = _weighted(rng, MODELS)
                    gen_seed = rng.randrange(2**31)
                    workflow = hashlib.md5(f"{seed_value}-{g}".encode()).hexdigest()
                    first = pool[rng.randrange(len(pool))]
                    aspect = first[0]
                    prompts_rows.append((prompt_id, user, text, gen_seed, per_generation, aspect, model, workflow,
                                         created))
                    for k in range(per_generation):
                        pic = first if k == 0 else pool[rng.randrange(len(pool))]
                        image_id += 1
                        _aspect, b64, w, h, thumb, tw, th, nbytes = pic
                        image_rows.append((image_id, user, prompt_id, _media_id(rng), b64, gen_seed + k, model,
                                           aspect, f"fp-{image_id:08d}", workflow, created, text, "image/png", w,
                                           h, nbytes, rng.random() < 0.03, "generate"))
                        thumb_rows.append((image_id, thumb, "image/jpeg", tw, th, created))
                        stored_bytes += len(b64)
                with conn.cursor() as cur:
                    with cur.copy("COPY prompts (id, user_id, prompt_text, seed, number_of_images, aspect_ratio, "
                                  "generation_model, workflow_id, created_at) FROM STDIN") as cp:
                        for r in prompts_rows:
                            cp.write_row(r)
                    with cur.copy("COPY generated_images (id, user_id, prompt_id, media_generation_id, "
                                  "encoded_image, seed, model_name_type, aspect_ratio, fingerprint_log_record_id, "
                                  "workflow_id, created_at, returned_prompt, mime_type, width, height, byte_size, "
                                  "is_favorite, source) FROM STDIN") as cp:
                        for r in image_rows:
                            cp.write_row(r)
                    with cur.copy("COPY image_thumbnails (image_id, thumbnail, mime_type, width, height, "
                                  "created_at) FROM STDIN") as cp:
                        for r in thumb_rows:
                            cp.write_row(r)
            done = min(start + chunk, generations)
            if done % (chunk * 10) == 0 or done == generations:
                el = time.perf_counter() - started
                print(f"  {done * per_generation:,} images, {stored_bytes / 1e9:.1f} GB, {el:.0f} s", flush=True)
        with conn.transaction():
            for table in ("prompts", "generated_images"):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"(SELECT max(id) FROM {table}))")
        seed_library(conn, random.Random(seed_value + 1), image_id)
        load_s = time.perf_counter() - started
        conn.autocommit = True
        t = time.perf_counter()
        conn.execute("VACUUM ANALYZE users, prompts, generated_images, image_thumbnails, tags, image_tags, boards, "
                     "board_images, image_ratings, image_notes")
        vacuum_s = time.perf_counter() - t
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]  # type: ignore[index]
        print(f"seeded {target.label}: {generations:,} generations, {image_id:,} images in {load_s:.0f} s "
              f"(+ VACUUM ANALYZE {vacuum_s:.0f} s); database size {size}")
    finally:
        raw.close()
        db.close()


TAG_WORDS = """portfolio print wip client-a client-b reference moodboard keeper reject retouch upscale
    wallpaper avatar poster book-cover album-art sticker tshirt card gift social instagram blog banner
    thumbnail storyboard concept final draft v1 v2 v3 warm cool pastel neon monochrome vintage retro
    scifi fantasy horror cute cozy epic minimal busy dark light sunny rainy snowy night day indoor
    outdoor animal people landscape city nature food vehicle building water sky space""".split()


def seed_library(conn: object, rng: random.Random, images: int) -> None:
    """Tags, boards, ratings and notes on the seeded images, as a user of a big library has them
    (issue 14): ~60 % of images tagged with 1-4 of ~200 tags (a few very common, most rare), 30
    boards from a handful of images to a tenth of the library, ~25 % rated, 1 % with a note.
    One COPY per table; the tag counts come from the triggers, as in the app."""
    pairs = [f"{a}-{b}" for b in SUBJECTS for a in ADJECTIVES[:4]]
    tags = list(dict.fromkeys(TAG_WORDS + pairs))[:200]
    weights = [1.0 / (rank + 1) for rank in range(len(tags))]  # Zipf: "portfolio" on ~15 %, the last on ~0.1 %
    c: Any = conn
    started = time.perf_counter()
    with c.transaction():
        owner = c.execute("SELECT min(id) FROM users").fetchone()[0]
        tag_ids = [c.execute("INSERT INTO tags (user_id, name) VALUES (%s, %s) RETURNING id", (owner, t)).fetchone()[0]
                   for t in tags]
        board_ids = [c.execute("INSERT INTO boards (user_id, name) VALUES (%s, %s) RETURNING id",
                               (owner, f"Board {n + 1:02d}")).fetchone()[0] for n in range(30)]
        board_share = [0.1 / (n + 1) for n in range(30)]  # Board 01: 10 % of the images, Board 30: 0.3 %
        with c.cursor() as cur:
            with cur.copy("COPY image_tags (tag_id, image_id) FROM STDIN") as cp:
                for image in range(1, images + 1):
                    if rng.random() < 0.6:
                        for t in set(rng.choices(tag_ids, weights=weights, k=rng.randint(1, 4))):
                            cp.write_row((t, image))
            with cur.copy("COPY board_images (board_id, image_id) FROM STDIN") as cp:
                for image in range(1, images + 1):
                    for b, share in zip(board_ids, board_share, strict=True):
                        if rng.random() < share:
                            cp.write_row((b, image))
            rows = c.execute("SELECT id, created_at FROM generated_images").fetchall()
            with cur.copy("COPY image_ratings (image_id, rating, image_created_at, user_id) FROM STDIN") as cp:
                for image, created in rows:
                    if rng.random() < 0.25:
                        cp.write_row((image, rng.choices([1, 2, 3, 4, 5], weights=[5, 5, 7, 5, 3])[0], created, owner))
            with cur.copy("COPY image_notes (image_id, note, user_id) FROM STDIN") as cp:
                for image in range(1, images + 1):
                    if rng.random() < 0.01:
                        note = f"note {image}: {rng.choice(TAG_WORDS)} for {rng.choice(SUBJECTS)}"
                        cp.write_row((image, note, owner))
        for name, text, sort in (("Best", "stars:>=4", "rating"), ("Portfolio cats", "tag:portfolio cat", "newest")):
            c.execute("INSERT INTO saved_searches (user_id, name, filter_text, sort) VALUES (%s, %s, %s, %s)",
                      (owner, name, text, sort))
    print(f"  library marks: {len(tags)} tags, 30 boards, ratings and notes in {time.perf_counter() - started:.0f} s",
          flush=True)


def add_library(target: Target, seed_value: int) -> None:
    """``--library-only``: the marks of :func:`seed_library` on a database seeded before them."""
    db = target.database()
    db.connect()  # upgrades the schema first
    raw = db.engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.transaction():
            if conn.execute("SELECT count(*) FROM tags").fetchone()[0]:
                raise SystemExit(f"{target.label}: the database has tags already")
            images = conn.execute("SELECT max(id) FROM generated_images").fetchone()[0] or 0
        seed_library(conn, random.Random(seed_value + 1), images)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE tags, image_tags, boards, board_images, image_ratings, image_notes, prompts")
    finally:
        raw.close()
        db.close()


def drop(target: Target) -> None:
    """Remove a seeded database: the server database, or the embedded data dir."""
    import shutil

    if target.mode == "server":
        import psycopg

        base, _, name = target.url.rpartition("/")
        name = name.split("?")[0]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"dropped database {name}")
    else:
        db = target.database()
        db.close()
        shutil.rmtree(target.data_dir, ignore_errors=True)
        print(f"removed {target.data_dir}")


def ensure_server_database(target: Target) -> None:
    import psycopg

    base, _, name = target.url.rpartition("/")
    name = name.split("?")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="embedded:DIR or server:postgresql://user@host:port/dbname")
    ap.add_argument("--generations", type=int, default=2500, help="generations of 4 images (2500 = 10k images)")
    ap.add_argument("--pool", type=int, default=300, help="distinct pictures reused across rows")
    ap.add_argument("--payload-scale", type=float, default=1.0,
                    help="size of the stored PNG relative to full size (0.25 for the 100k run)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cache", type=Path, default=Path("/var/tmp/imagefx-bench-pool"),
                    help="where the drawn pool is kept between runs")
    ap.add_argument("--drop", action="store_true", help="remove the target's database instead")
    ap.add_argument("--library-only", action="store_true",
                    help="add tags, boards, ratings and notes to a database seeded without them")
    args = ap.parse_args(argv)
    clean_process_env()
    target = Target.parse(args.target)
    if args.drop:
        drop(target)
        return 0
    if args.library_only:
        add_library(target, args.seed)
        return 0
    if target.mode == "server":
        ensure_server_database(target)
    seed(target, args.generations, pool_size=args.pool, seed_value=args.seed, payload_scale=args.payload_scale,
         cache=args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
