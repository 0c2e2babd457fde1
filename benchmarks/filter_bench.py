"""The library at scale (issue 14): the first page and the count of a filter, tag autocomplete,
the tag list and sort orders, on a seeded database (``benchmarks/seed.py``: tags, boards,
ratings and notes included).

    python -m benchmarks.filter_bench --target embedded:/work/benchdata/emb-100k --size 100k
    python -m benchmarks.filter_bench --target server:postgresql://postgres@127.0.0.1:5432/imagefx_bench_10k

What is timed is the service call the GUI makes (``Service.gallery_page(filter=…, limit=150,
with_thumbnails=False)``, ``count_images(filter=…)``, ``library.complete_tag(prefix)``), in one
process, warm (one run first, not counted). Rounds go through every figure in turn, so a burst
of load on this shared machine spreads over all of them; the median of ``--runs`` rounds is
printed with the spread and the 1-minute load average before and after. "before" is the query
the app ran until issue 14 for plain search words (an OR of LIKE with the full-text match, on the
same database), measured in the same rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Target, clean_process_env, load_average, ms, report

PAGE_MS, COUNT_MS, COMPLETE_MS = 50.0, 50.0, 10.0

FILTERS = [
    ("no filter", ""),
    ("words, common", "golden hour"),
    ("inside a word", "ighthou"),
    ("words, rare", "tortoise reading"),
    ("phrase", '"golden hour"'),
    ("NOT a word", "-lighthouse"),
    ("OR of words", "fox OR owl"),
    ("tag, common (21 %)", "tag:portfolio"),
    ("tag, rare", "tag:night"),
    ("tag prefix", "tag:client*"),
    ("board", 'board:"Board 01"'),
    ("stars:>=4", "stars:>=4"),
    ("fav", "fav"),
    ("model", "model:imagen_3_1"),
    ("aspect", "aspect:portrait"),
    ("account", "account:grace"),
    ("dates", "after:2025-06-01 before:2025-09-01"),
    ("note", "note:portfolio"),
    ("tag AND stars AND NOT fav", "tag:portfolio stars:>=4 -fav"),
    ("(tag OR board) AND words", '(tag:print OR board:"Board 02") golden'),
    ("NOT tag", "-tag:portfolio"),
    ("untagged", "-has:tag"),
]
SORTED = [("sort rating, no filter", "", "rating"), ("sort rating, tag", "tag:portfolio", "rating"),
          ("sort oldest, words", "golden hour", "oldest")]
PREFIXES = ["p", "cl", "ancient-f", "zz"]
BEFORE = {"words, common": "golden hour", "inside a word": "ighthou", "words, rare": "tortoise reading"}


def _before_sql(text: str) -> tuple[str, dict[str, Any]]:
    """The search of schema 4: LIKE on the lower-case copy OR the full-text match."""
    words = [w for w in text.lower().split() if w]
    query = " & ".join(f"'{w}':*" for w in words)
    where = ("prompt_id IN (SELECT id FROM prompts WHERE prompt_folded LIKE :pat "
             "OR search_vector @@ to_tsquery('simple', :q))")
    return where, {"pat": f"%{text.lower()}%", "q": query}


def measure(svc: Any, runs: int) -> list[Figure]:
    import sqlalchemy as sa

    jobs: list[tuple[str, Callable[[], Any], float]] = []
    for label, text in FILTERS:
        jobs.append((f"{label} `{text}`: first page", lambda t=text: svc.gallery_page(
            filter=t, limit=150, with_thumbnails=False), PAGE_MS))
        jobs.append((f"{label}: count", lambda t=text: svc.count_images(filter=t), COUNT_MS))
    for label, text, sort in SORTED:
        jobs.append((f"{label}: first page", lambda t=text, o=sort: svc.gallery_page(
            filter=t, sort=o, limit=150, with_thumbnails=False), PAGE_MS))
    for prefix in PREFIXES:
        jobs.append((f"tag autocomplete `{prefix}`", lambda p=prefix: svc.library.complete_tag(p), COMPLETE_MS))
    jobs.append(("tag list with counts (200 tags)", lambda: svc.library.tags(), COMPLETE_MS))
    jobs.append(("board list with counts (30 boards)", lambda: svc.library.boards(), PAGE_MS))
    jobs.append(("history --filter 'tag:portfolio stars:>=4' (CLI query)",
                 lambda: svc.history(filter="tag:portfolio stars:>=4", limit=50), PAGE_MS))

    def before(text: str, count: bool) -> Callable[[], Any]:
        where, params = _before_sql(text)
        if count:
            sql = f"SELECT count(*) FROM generated_images WHERE {where}"
        else:
            sql = (f"SELECT id, created_at FROM generated_images WHERE {where} "
                   "ORDER BY created_at DESC, id DESC LIMIT 150")

        def run() -> Any:
            with svc.db.session() as s:
                return s.execute(sa.text(sql), params).all()
        return run

    naive: dict[str, Callable[[], Any]] = {}
    for label, text in BEFORE.items():
        naive[f"{label} `{text}`: first page"] = before(text, False)
        naive[f"{label}: count"] = before(text, True)

    samples: dict[str, list[float]] = {name: [] for name, _f, _t in jobs}
    naive_samples: dict[str, list[float]] = {name: [] for name in naive}
    notes: dict[str, str] = {}
    for rnd in range(runs + 1):
        for name, fn, _target in jobs:
            t = time.perf_counter()
            result = fn()
            took = ms(time.perf_counter() - t)
            if rnd:
                samples[name].append(took)
            if isinstance(result, int):
                notes[name] = f"{result:,} images"
            if name in naive:
                t = time.perf_counter()
                naive[name]()
                if rnd:
                    naive_samples[name].append(ms(time.perf_counter() - t))
    return [Figure(name, "ms", samples[name], target, naive=naive_samples.get(name, []), note=notes.get(name, ""))
            for name, _fn, target in jobs]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="embedded:DIR or server:postgresql://...")
    ap.add_argument("--size", choices=["10k", "100k"], default="10k")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)
    clean_process_env()
    target = Target.parse(args.target)
    from core.service import Service

    svc = Service(target.settings(), database=target.database()).open()
    try:
        load_before = load_average()
        started = time.perf_counter()
        figures = measure(svc, args.runs)
        report(f"[{target.label} {args.size}] library ({time.perf_counter() - started:.0f} s, load {load_before} -> "
               f"{load_average()})", figures, args.json_out,
               {"target": target.label, "size": args.size, "bench": "library", "load_before": load_before,
                "load_after": load_average()})
    finally:
        svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
