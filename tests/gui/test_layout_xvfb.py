"""Issue 11 §6: every size looks right, on a real X server (Xvfb, the xcb platform).

One Xvfb with two screens: 1920×1080 and 1280×1024. The real window (in a child process:
this one runs offscreen) is looked at at 900×600, 1280×800 and 1920×1080, at the default size
on the 1280×1024 screen, and on a 2× screen (``QT_SCALE_FACTOR=2`` on 1920×1080: 960×540
logical pixels): no clipped text, no overlapping widgets, the window inside the screen, the
dialogs and the viewer inside it and centred (tests/support/layout_check.py). Skipped when
Xvfb is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.standin import DEMO_COOKIE
from core.store import repo
from tests.gui.helpers import write_png

ROOT = Path(__file__).resolve().parents[2]
LONG_PROMPT = ("a lighthouse on a rocky coast at dusk, waves crashing, soft golden light, dramatic clouds, "
               "35 mm photo, film grain, wide angle, a lonely figure walking along the shore with a red umbrella")


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """A display with two screens (``:N.0`` 1920×1080, ``:N.1`` 1280×1024); skips without Xvfb."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    for n in range(91, 140):
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1920x1080x24", "-screen", "1", "1280x1024x24",
                                 "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None and not Path(f"/tmp/.X11-unix/X{n}").exists():
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{n}").exists():
            try:
                yield f":{n}"
            finally:
                proc.terminate()
                proc.wait(10)
            return
        proc.kill()
    pytest.skip("no free X display for Xvfb")


def _fill(svc, tmp_path: Path) -> None:
    """Images with long prompts (the details panel's hardest case), a caption, queue items."""
    from core.imagefx.types import GenerationRequest
    from core.service.queue import QueueOptions, QueueService

    svc.sign_in(DEMO_COOKIE)
    for prompt in (LONG_PROMPT, "a bowl of ramen", "a red fox in fresh snow"):
        svc.generate(GenerationRequest(prompt=prompt, count=4))
    svc.caption_file(write_png(tmp_path / "a photo with a long file name of a cat.png"))
    QueueService(svc).add_prompts([LONG_PROMPT, "a teal teapot on a wooden table"], QueueOptions(count=2))
    with svc.db.session() as s:
        assert repo.count_images(s) == 12


def _run(display: str, db_url: str, standin_url: str, tmp_path: Path, tag: str, sizes: list[str],
         scale: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "IMAGEFX_"))}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT), IMAGEFX_DATA_DIR=str(tmp_path / tag),
               HOME=str(tmp_path / "home"), PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")
    if scale:
        env["QT_SCALE_FACTOR"] = scale
    pics = tmp_path / "to caption"
    pics.mkdir(exist_ok=True)
    long_name = write_png(pics / "a holiday photo of the harbour at dusk with the boats coming in, from the hill.png")
    refused = pics / "shopping list.txt"
    refused.write_text("eggs, flour, milk")
    args = {"db": db_url, "standin": standin_url, "sizes": sizes, "shots": str(tmp_path / "shots"), "tag": tag,
            "caption_files": [str(long_name), str(refused)]}
    proc = subprocess.run([sys.executable, "-m", "tests.gui.layout_child", json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


def test_every_size_looks_right_on_a_real_x_server(xvfb, make_service, db_url, standin, tmp_path):
    _fill(make_service(), tmp_path)
    found: list[str] = []
    big = _run(f"{xvfb}.0", db_url, standin.url, tmp_path, "1920x1080", ["900x600", "1280x800", "1920x1080"])
    found += big["problems"]
    found += [f"1280x1024 screen: {p}" for p in _run(f"{xvfb}.1", db_url, standin.url, tmp_path, "1280x1024",
                                                       ["1280x1024"])["problems"]]
    found += [f"2x: {p}" for p in _run(f"{xvfb}.0", db_url, standin.url, tmp_path, "2x", ["960x540"],
                                        scale="2")["problems"]]
    assert found == [], "\n".join(found)
    assert len(big["shots"]) >= 12 and all(Path(p).stat().st_size > 10_000 for p in big["shots"])
