"""The cost of keeping a delivered generation in the spool first (issue 12), against the whole generation.

    python -m benchmarks.spool_bench [--target embedded:/tmp/imagefx-spool-bench] [--runs 9] [--count 4]

Every generation's answer is now written to the spool (JSON, fsync'd, renamed, folder fsync'd)
before it is stored, and the file removed after. This measures, with full-size stand-in images
(1024-class PNGs, ~1.3 MB of base64 each, like the real service's):

- ``spool``: ``Spool.put`` + unlink of the generation, alone;
- ``generate``: ``Service.generate`` from request to stored, against the stand-in on loopback
  (which answers at once: a real ImageFX generation takes 10-30 s, so this is the worst ratio);
- the ratio spool / generate.

Median of ``--runs`` runs each, after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from benchmarks.common import Target, clean_process_env, load_average


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spool_bench")
    parser.add_argument("--target", default=None, help="embedded:DIR or server:URL (default: a fresh embedded dir)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--count", type=int, default=4, help="images per generation (default 4)")
    args = parser.parse_args()
    clean_process_env()

    from core.imagefx import GenerationRequest
    from core.service import Service
    from core.standin import DEMO_COOKIE, StandInServer

    target = Target.parse(args.target or f"embedded:{tempfile.mkdtemp(prefix='imagefx-spool-bench-')}")
    standin = StandInServer(image_scale=1.0).start()
    settings = target.settings().with_overrides(labs_url=standin.url, api_url=standin.url)
    svc = Service(settings, cookie=DEMO_COOKIE, database=target.database()).open()
    try:
        req = GenerationRequest("a lighthouse at dusk, long exposure", count=args.count)
        svc.generate(req)  # warm-up: token, pool, first connection
        totals, spools, sizes = [], [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = svc.generate(req)
            totals.append(time.perf_counter() - started)
            gen = result.generation
            started = time.perf_counter()
            path = svc.spool.put(gen)
            sizes.append(path.stat().st_size)
            path.unlink()
            spools.append(time.perf_counter() - started)
        spool_ms, total_ms = statistics.median(spools) * 1000, statistics.median(totals) * 1000
        print(f"target {target.label}, {args.count} images of full size, {args.runs} runs, load {load_average()}")
        print(f"  spool entry      {statistics.median(sizes) / 1e6:6.1f} MB")
        print(f"  spool write+rm   {spool_ms:7.1f} ms  (min {min(spools) * 1000:.1f}, max {max(spools) * 1000:.1f})")
        print(f"  generate total   {total_ms:7.1f} ms  (min {min(totals) * 1000:.1f}, max {max(totals) * 1000:.1f}; "
              "stand-in answers at once)")
        print(f"  ratio            {spool_ms / total_ms:7.1%} of a generation against the stand-in; "
              f"{spool_ms / 10_000:.2%} of a 10 s real one")
    finally:
        svc.close()
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
