"""Shared fixtures: the stand-in server, real PostgreSQL databases, a keyring, a signed-in service.

Everything is real: PostgreSQL servers (our own TCP server from the embedded wheel's
binaries, the embedded server, and the server named by ``IMAGEFX_TEST_PG_URL`` when one
is given, as on CI), the stand-in server over HTTP on loopback, the ``keyring`` API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if "QT_QPA_PLATFORM" not in os.environ:
    # Qt's offscreen screen is 800×600 unless told otherwise: smaller than the smallest window the
    # app is made for (900×600). The tests' windows open on a 1280×800 laptop screen instead.
    _screen = Path(tempfile.gettempdir()) / f"imagefx-test-screen-{os.getpid()}.json"
    _screen.write_text('{"screens": [{"name": "laptop", "x": 0, "y": 0, "width": 1280, "height": 800,'
                       ' "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}')
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screen}"
# The developer's own settings must not leak into tests.
for _var in ("GOOGLE_COOKIE", "DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
             "IMAGEFX_DB", "LOG_QUERIES", "IMAGEFX_DEMO", "IMAGEFX_LABS_URL", "IMAGEFX_API_URL",
             "IMAGEFX_CONFIG_DIR"):
    os.environ.pop(_var, None)

import keyring  # noqa: E402

from core.config import Settings, load_settings  # noqa: E402
from core.standin import DEMO_COOKIE, StandInServer  # noqa: E402
from tests.support.fault_suite import _RESULTS as fault_suite_key  # noqa: E402
from tests.support.fault_suite import (  # noqa: E402, F401  (pytest hooks of the fault suite, issue 5)
    DataLoss,
    pytest_configure,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_unconfigure,
)
from tests.support.memkeyring import MemoryKeyring  # noqa: E402
from tests.support.pg import TcpPostgres, create_database, drop_database  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV_PG_URL = os.environ.get("IMAGEFX_TEST_PG_URL", "")


@pytest.fixture(scope="session", autouse=True)
def _session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test may touch the real home: a data dir for anything that forgets to ask for one."""
    d = tmp_path_factory.mktemp("imagefx-data")
    old = os.environ.get("IMAGEFX_DATA_DIR")
    os.environ["IMAGEFX_DATA_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("IMAGEFX_DATA_DIR", None)
    else:
        os.environ["IMAGEFX_DATA_DIR"] = old


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


# --- stand-in server -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def standin_server(request: pytest.FixtureRequest) -> Iterator[StandInServer]:
    server = StandInServer(image_scale=0.25).start()
    yield server
    server.stop()
    # Every session cookie value the stand-in knew: none may appear in the suite's log output.
    request.config.stash[fault_suite_key].add_secrets([*server._sessions, *server._revoked])


def _reset_standin(server: StandInServer) -> None:
    server.clear_faults()
    server.rotate_cookie = False
    server.image_format = "PNG"
    server.prompt_rewriter = None


@pytest.fixture
def standin(standin_server: StandInServer) -> Iterator[StandInServer]:
    """The shared stand-in, without faults or knobs left over from another test."""
    _reset_standin(standin_server)
    yield standin_server
    _reset_standin(standin_server)


@pytest.fixture
def data_loss(request: pytest.FixtureRequest, standin_server: StandInServer) -> DataLoss:
    """Counts images the stand-in delivered during this test that the app kept nowhere
    (:meth:`DataLoss.check`); the fault suite's summary adds them up."""
    return DataLoss(standin_server, request.node)


# --- PostgreSQL ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_tcp() -> Iterator[TcpPostgres]:
    """Our own TCP server: works on any machine, with or without a system PostgreSQL."""
    server = TcpPostgres().start()
    yield server
    server.stop()


def server_admin_urls() -> list[str]:
    """For parametrised server-mode tests: ours always, the environment's when given."""
    return ["own"] + (["env"] if ENV_PG_URL else [])


@pytest.fixture
def admin_url(request: pytest.FixtureRequest, pg_tcp: TcpPostgres) -> str:
    which = getattr(request, "param", "own")
    if which == "env":
        if not ENV_PG_URL:
            pytest.skip("IMAGEFX_TEST_PG_URL is not set")
        return ENV_PG_URL
    return pg_tcp.url()


@pytest.fixture
def db_url(admin_url: str) -> Iterator[str]:
    """A fresh, empty database; dropped afterwards."""
    name, url = create_database(admin_url)
    yield url
    drop_database(admin_url, name)


@pytest.fixture
def server_reachable_dir() -> Iterator[Path]:
    """A temporary directory for an embedded PostgreSQL server's data.

    Not under ``tmp_path``: run as root (CI), the server runs as the ``pgserver`` user, who
    must traverse every parent directory, and each pytest session that starts on the machine
    resets ``/tmp/pytest-of-<user>`` to 0700, which pulls the data dir away from a server
    that is running.
    """
    d = Path(tempfile.mkdtemp(prefix="imagefx-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --- app objects ---------------------------------------------------------------------------

@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("IMAGEFX_DATA_DIR", str(d))
    return d


@pytest.fixture
def settings(data_dir: Path, standin: StandInServer) -> Settings:
    s = load_settings()
    return s.with_overrides(labs_url=standin.url, api_url=standin.url, request_timeout=10.0)


@pytest.fixture
def make_service(settings: Settings, db_url: str) -> Iterator[Callable[..., object]]:
    from core.service import Service
    from core.store import Database

    made: list[Service] = []

    def make(**kw: object) -> Service:
        s = kw.pop("settings", settings)
        svc = Service(s, database=Database(s, url=kw.pop("url", db_url)), **kw)  # type: ignore[arg-type]
        made.append(svc)
        return svc.open()

    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def service(make_service: Callable[..., object]) -> object:
    return make_service()


@pytest.fixture
def signed_in(service: object) -> object:
    service.sign_in(DEMO_COOKIE)  # type: ignore[attr-defined]
    return service


@pytest.fixture
def cli_env(tmp_path: Path, standin: StandInServer, db_url: str) -> dict[str, str]:
    """Environment for ``python main.py`` subprocesses: stand-in, a fresh database, a file keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update({
        "IMAGEFX_DATA_DIR": str(tmp_path / "cli-data"),
        "IMAGEFX_LABS_URL": standin.url,
        "IMAGEFX_API_URL": standin.url,
        "IMAGEFX_TIMEOUT": "10",
        "DATABASE_URL": db_url,
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
    })
    return env


@pytest.fixture
def cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full_env = dict(cli_env)
        if env:
            full_env.update(env)
        return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], input=input, env=full_env,
                              capture_output=True, text=True, timeout=timeout,
                              cwd=full_env["HOME"])  # not the checkout: a stray output file lands in the test's folder

    return run


@pytest.fixture
def demo_cookie() -> str:
    return DEMO_COOKIE
