"""The PyInstaller bundle's smoke test, when a built bundle is named: ``IMAGEFX_TEST_BUNDLE=dist/imagefx``.

Building the bundle takes two to three minutes (``python3 tools/build_bundle.py``, which runs the
same smoke test itself), too slow for every test run; this runs ``tools/smoke_bundle.py`` on a
bundle built beforehand, so CI or a release check can include it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = os.environ.get("IMAGEFX_TEST_BUNDLE")


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLE, reason="set IMAGEFX_TEST_BUNDLE to a bundle built by tools/build_bundle.py")
def test_the_bundle_starts_stores_and_opens_its_window():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "smoke_bundle.py"), str(BUNDLE)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Bundle smoke test passed" in done.stdout
