"""``imagefx generate -n 4`` against the original npm CLI, whole process, same stand-in (issue 16).

    python -m benchmarks.cli_vs_npm [--runs 7] [--target embedded:DIR] [--before DIR]

Both CLIs generate 4 full-size images from the stand-in ImageFX server (its own process, one
port) and write them to a folder; ours also stores them in PostgreSQL (the embedded server of
``--target``, stopped before each run: a cold command, as a user's first of the day; default a
scratch library). The original is ``@rohitaryal/imagefx-api`` 3.0.3, fetched once with
``npm pack`` (its one dependency, yargs, with ``npm install``) into
``/var/tmp/imagefx-bench-npm`` and pointed at the stand-in by rewriting its two base URLs
(``https://labs.google``, ``https://aisandbox-pa.googleapis.com``) in ``dist/``. Without
``npm``/``node`` that pair is skipped, and the script says so.

*Client work* is a process's wall time minus the server's own time for the same two calls
(session, then ``runImageFx``), timed from this (warm) process in the same round. ``--before``
runs another checkout of the app (a ``git archive`` of main) in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import ROOT, Figure, Target, clean_process_env, load_average, ms, report, server_gone

NPM_PACKAGE = "@rohitaryal/imagefx-api@3.0.3"
NPM_DIR = Path("/var/tmp/imagefx-bench-npm")
BASE_URLS = ("https://labs.google", "https://aisandbox-pa.googleapis.com")
PROMPT = "a lighthouse on a cliff at dusk, storm clouds, oil painting"


def npm_cli(url: str) -> Path | None:
    """The original CLI's ``dist/cli.js``, its base URLs pointed at ``url``; None without npm/node."""
    if not shutil.which("npm") or not shutil.which("node"):
        return None
    package = NPM_DIR / "package"
    if not (package / "node_modules" / "yargs").is_dir():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", NPM_PACKAGE], cwd=NPM_DIR, check=True, capture_output=True, timeout=300)
        tarball = next(NPM_DIR.glob("rohitaryal-imagefx-api-*.tgz"))
        shutil.rmtree(package, ignore_errors=True)
        subprocess.run(["tar", "xzf", str(tarball)], cwd=NPM_DIR, check=True)
        subprocess.run(["npm", "install", "--omit=dev", "--no-audit", "--no-fund"], cwd=package, check=True,
                       capture_output=True, timeout=300)
    dist = package / "dist-standin"
    shutil.rmtree(dist, ignore_errors=True)
    shutil.copytree(package / "dist", dist)
    for js in dist.glob("*.js"):
        text = js.read_text()
        for base in BASE_URLS:
            text = text.replace(base, url)
        js.write_text(text)
    return dist / "cli.js"


def _timed(cmd: list[str], env: dict[str, str], cwd: Path, out_dir: Path) -> float:
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    took = ms(time.perf_counter() - t)
    written = [p for p in out_dir.iterdir() if p.stat().st_size > 0]
    if proc.returncode != 0 or len(written) != 4:
        raise RuntimeError(f"{cmd[:2]} failed ({proc.returncode}, {len(written)} files): "
                           f"{proc.stderr[-1500:]}{proc.stdout[-500:]}")
    return took


def _server_time(url: str, cookie: str) -> float:
    """The stand-in's own time for the two calls a generation makes, from a warm process."""
    t = time.perf_counter()
    req = urllib.request.Request(url + "/fx/api/auth/session", headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=60) as r:
        token = json.loads(r.read())["access_token"]
    body = json.dumps({"userInput": {"candidatesCount": 4, "prompts": [PROMPT], "seed": 0},
                       "clientContext": {"sessionId": ";1", "tool": "IMAGE_FX"},
                       "modelInput": {"modelNameType": "IMAGEN_3_5"},
                       "aspectRatio": "IMAGE_ASPECT_RATIO_LANDSCAPE"}).encode()
    req = urllib.request.Request(url + "/v1:runImageFx", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        panels = json.loads(r.read())["imagePanels"]
    assert len(panels[0]["generatedImages"]) == 4
    return ms(time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--target", default="", help="embedded:DIR or server:URL (default: a scratch embedded library)")
    ap.add_argument("--before", type=Path, default=None, help="also run this checkout (a git archive of main)")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)
    clean_process_env()
    from core.standin import DEMO_COOKIE

    scratch = Path(tempfile.mkdtemp(prefix="imagefx-bench-cli-"))
    scratch.chmod(0o711)
    target = Target.parse(args.target or f"embedded:{scratch / 'data'}")
    port_probe = subprocess.Popen([sys.executable, "-m", "core.standin", "--port", "0", "--scale", "1.0"], cwd=ROOT,
                                  env=target.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert port_probe.stdout is not None
        line = port_probe.stdout.readline()
        url = line.rsplit(" ", 1)[1].strip()
        node_cli = npm_cli(url)
        if node_cli is None:
            print("npm or node is missing: the original CLI is skipped (install Node.js to compare)")
        codes = ([("before", args.before)] if args.before else []) + [("", ROOT)]
        env = target.env(GOOGLE_COOKIE=DEMO_COOKIE, IMAGEFX_LABS_URL=url, IMAGEFX_API_URL=url)
        ours: dict[str, list[float]] = {label: [] for label, _c in codes}
        npm: list[float] = []
        server: list[float] = []
        out = scratch / "out"
        for i in range(args.runs + 1):  # the first round warms caches and is not counted
            for label, code in codes:
                if target.mode == "embedded":
                    server_gone(target.data_dir / "pgdata")
                took = _timed([sys.executable, str(code / "main.py"), "generate", "-p", f"{PROMPT} {i}", "-n", "4",
                               "-d", str(out)], {**env, "PYTHONPATH": str(code)}, code, out)
                if i > 0:
                    ours[label].append(took)
            if node_cli is not None:
                took = _timed(["node", str(node_cli), "generate", "-p", f"{PROMPT} {i}", "-n", "4", "-c", DEMO_COOKIE,
                               "-d", str(out)], {k: v for k, v in os.environ.items() if k != "GOOGLE_COOKIE"},
                              node_cli.parent, out)
                if i > 0:
                    npm.append(took)
            s = _server_time(url, DEMO_COOKIE)
            if i > 0:
                server.append(s)
    finally:
        port_probe.terminate()
        port_probe.wait(10)
    srv = statistics.median(server)
    figures = [Figure("stand-in's own time (session + runImageFx)", "ms", server)]
    if npm:
        figures.append(Figure("original npm CLI: generate -n 4, whole process", "ms", npm,
                              note=f"client work beyond the server: {statistics.median(npm) - srv:.0f} ms"))
    for label, samples in ours.items():
        tag = f" [{label}]" if label else ""
        med = statistics.median(samples)
        note = f"client work beyond the server: {med - srv:.0f} ms (target ≤ 60)"
        if npm:
            note += f"; ×{med / statistics.median(npm):.2f} npm (target ≤ ×1.0)"
        figures.append(Figure(f"imagefx generate -n 4, whole process{tag}", "ms", samples,
                              statistics.median(npm) if npm else None,
                              note=note))
    report(f"[{target.label}] generate -n 4 vs the original CLI (load {load_average()})", figures, args.json_out,
           {"target": target.label, "bench": "cli_vs_npm", "load_after": load_average()})
    if target.mode == "embedded":
        server_gone(target.data_dir / "pgdata")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
