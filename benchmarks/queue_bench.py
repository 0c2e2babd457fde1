"""Queue overhead per item and web-import rate against the stand-in (real HTTP, real PostgreSQL).

    python -m benchmarks.queue_bench [--items 20] [--scale 0.25] [--library 120]

Overhead = (queue run time / items) - (plain Service.generate time / items), same prompts,
count=1, delay 0. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import keyring

from core.config import load_settings
from core.imagefx.types import GenerationRequest
from core.service import Service
from core.service.queue import ITEM_DONE, QueueEvent, QueueOptions, QueueService
from core.service.webimport import WebImporter
from core.standin import DEMO_COOKIE, StandInServer
from core.store import Database
from tests.support.memkeyring import MemoryKeyring
from tests.support.pg import TcpPostgres, create_database


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--library", type=int, default=120)
    args = ap.parse_args()
    keyring.set_keyring(MemoryKeyring())
    pg = TcpPostgres().start()
    standin = StandInServer(image_scale=args.scale).start()
    try:
        _, url = create_database(pg.url())
        data = Path(tempfile.mkdtemp(prefix="qbench-"))
        settings = load_settings().with_overrides(data_dir=data, config_dir=data, labs_url=standin.url,
                                                  api_url=standin.url)
        svc = Service(settings, database=Database(settings, url=url)).open()
        svc.sign_in(DEMO_COOKIE)
        svc.generate(GenerationRequest(prompt="warm-up", count=1))  # connections, token

        t = time.perf_counter()
        for i in range(args.items):
            svc.generate(GenerationRequest(prompt=f"plain {i}", count=1))
        plain = (time.perf_counter() - t) / args.items

        q = QueueService(svc)
        q.add_prompts([f"queued {i}" for i in range(args.items)], QueueOptions(count=1))
        per_item: list[float] = []
        last = [time.perf_counter()]

        def tick(e: QueueEvent) -> None:
            if e.kind == ITEM_DONE:
                now = time.perf_counter()
                per_item.append(now - last[0])
                last[0] = now

        t = time.perf_counter()
        last[0] = t
        summary = q.run(delay=0, on_event=tick)
        queued = (time.perf_counter() - t) / args.items
        assert summary.done == args.items

        standin.add_account("bench-lib", "bench@example.com", "Bench")
        standin.seed_library("bench@example.com", args.library)
        svc.sign_in("__Secure-next-auth.session-token=bench-lib")
        t = time.perf_counter()
        first = WebImporter(svc).run()
        import_s = time.perf_counter() - t
        t = time.perf_counter()
        again = WebImporter(svc).run()
        again_s = time.perf_counter() - t
        svc.close()
        print(json.dumps({
            "items": args.items, "image_scale": args.scale,
            "plain_generate_ms": round(plain * 1000, 1), "queue_item_ms": round(queued * 1000, 1),
            "queue_overhead_ms": round((queued - plain) * 1000, 1),
            "queue_item_median_ms": round(statistics.median(per_item) * 1000, 1),
            "import_images": first.imported, "import_s": round(import_s, 2),
            "import_images_per_s": round(first.imported / import_s, 1),
            "reimport_new": again.imported, "reimport_ms": round(again_s * 1000, 1),
        }, indent=2))
    finally:
        standin.stop()
        pg.stop()


if __name__ == "__main__":
    main()
