"""Issue 12, "Hostile answers and files": a file a user names is read by one bounded reader
(core/userfiles.py) wherever it comes from (the CLI, a file dialog, a drop on the window), and
labs.google rotating cookies badly never leaves a cookie that fails every call.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.imagefx import GenerationRequest
from core.imagefx.cookies import cookie_dict, has_session_cookie, parse_cookie
from core.images import ImageError
from core.service import Service
from core.standin import StandInServer
from core.userfiles import UserFileError, read_bytes, read_text
from tests.faults.conftest import Account, one_line_error

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "picture.png"  # a name that promises an image; nobody ever writes to it
    os.mkfifo(path)
    return path


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        s.listen()
        yield path


HOSTILE = {"fifo": "named pipe", "/dev/zero": "device", "/dev/urandom": "device"}


def _target(kind: str, fifo: Path) -> str:
    return str(fifo) if kind == "fifo" else kind


@pytest.mark.parametrize("command", ["caption", "queue add", "login"])
@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.fault_case("bad input: a FIFO or a device named as a file (CLI)")
def test_a_fifo_or_an_endless_device_is_refused_at_once(cli: Run, fifo: Path, demo_cookie: str, command: str,
                                                        kind: str) -> None:
    path = _target(kind, fifo)
    args = {"caption": ["caption", "--image", path], "queue add": ["queue", "add", "--file", path],
            "login": ["login", "--file", path]}[command]
    started = time.monotonic()
    done = cli(*args, env={"GOOGLE_COOKIE": demo_cookie}, timeout=30)  # before: a hang, or MemoryError
    assert time.monotonic() - started < 25
    one_line_error(done, 2, path, HOSTILE[kind], "only regular files")


@pytest.mark.fault_case("bad input: a folder, a socket, an oversized or growing file (reader)")
def test_the_reader_refuses_whatever_is_not_a_bounded_regular_file(tmp_path: Path, unix_socket: Path) -> None:
    with pytest.raises(UserFileError, match="is a folder, not an image"):
        read_bytes(tmp_path, limit=100, what="image")
    with pytest.raises(UserFileError, match="is a socket"):
        read_bytes(unix_socket, limit=100)
    with pytest.raises(UserFileError, match="no such file"):
        read_bytes(tmp_path / "missing", limit=100)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 101)
    with pytest.raises(UserFileError, match=r"too large for a file \(101 bytes; the limit is 100 bytes\)"):
        read_bytes(big, limit=100)
    assert read_bytes(big, limit=101) == b"x" * 101
    # st_size says 0 but the file has content (/proc): read, and still bounded.
    status = Path(f"/proc/{os.getpid()}/status")
    if status.exists():
        assert os.stat(status).st_size == 0
        assert b"Name:" in read_bytes(status, limit=1 << 20)
        with pytest.raises(UserFileError, match="over 10 bytes"):
            read_bytes(status, limit=10)
    # A caller's own error type, for its own exit code.
    with pytest.raises(ImageError):
        read_bytes(tmp_path, limit=100, what="image", error=ImageError)
    text = tmp_path / "bom.txt"
    text.write_bytes("\ufeffcafé".encode())
    assert read_text(text, limit=100) == "café"


@pytest.mark.fault_case("bad input: a FIFO or a device dropped on the window (GUI readers)")
def test_the_window_reads_dropped_and_picked_files_through_the_same_reader(fifo: Path, make_service:
                                                                           Callable[..., Service]) -> None:
    from core.export import read_file, read_parameters_text
    from core.service.queue import QueueService
    from gui.widgets.caption_panel import CaptionJob, caption_job

    svc = make_service()
    started = time.monotonic()
    with pytest.raises(ImageError, match="named pipe"):  # a drop on the caption panel
        caption_job(svc, CaptionJob(path=fifo, name=fifo.name, count=1))
    with pytest.raises(ImageError, match="device"):
        caption_job(svc, CaptionJob(path=Path("/dev/zero"), name="zero", count=1))
    with pytest.raises(ValueError, match="named pipe"):  # a prompt-file drop on the window or queue
        QueueService(svc).add_file(fifo)
    with pytest.raises(ImageError, match="device"):  # an image dropped on the prompt editor
        read_parameters_text("/dev/urandom")
    with pytest.raises(ImageError, match="named pipe"):  # files dropped on the gallery (import)
        read_file(fifo)
    assert time.monotonic() - started < 10


# --- rotated Set-Cookie values ----------------------------------------------------------------------------

ROTATIONS = {
    "bad-name": "bad name=value; Path=/",
    "non-ascii": "_ga=caf\u00e9-GA1.2; Path=/",
    "control-char": "_gid=a\x01b; Path=/",
    "session-deleted": "__Secure-next-auth.session-token=; Max-Age=0; Path=/",
    "session-expired": "__Secure-next-auth.session-token=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
}


@pytest.fixture
def hostile_rotation(standin: StandInServer) -> Iterator[list[str]]:
    yield standin.extra_set_cookies
    standin.extra_set_cookies.clear()


@pytest.mark.parametrize("rotation", list(ROTATIONS))
@pytest.mark.fault_case("network: a rotated Set-Cookie that cannot be used")
def test_a_bad_rotated_cookie_never_replaces_the_one_that_works(make_service: Callable[..., Service],
                                                                 account: Account, hostile_rotation: list[str],
                                                                 rotation: str) -> None:
    hostile_rotation.append(ROTATIONS[rotation])
    svc = make_service()
    svc.sign_in(account.cookie)  # the session call carries the bad Set-Cookie
    stored = svc.secrets.load_cookie(account.email)
    assert stored is not None and has_session_cookie(stored) and parse_cookie(stored) == stored
    assert cookie_dict(stored)["__Secure-next-auth.session-token"] == account.session_token
    assert "bad name" not in stored and "\u00e9" not in stored and "\x01" not in stored
    # What used to follow "Signed in": every later command failed with exit 3. A new process (a new
    # service reading the stored cookie) generates.
    later = make_service()
    result = later.generate(GenerationRequest("after a bad rotation", count=1))
    assert len(result.record.images) == 1
    assert has_session_cookie(later.client().cookie)


@pytest.mark.fault_case("network: a good rotation next to a bad one is kept (CLI)")
def test_a_good_rotation_is_kept_while_a_bad_one_beside_it_is_dropped(cli: Run, standin: StandInServer,
                                                                       account: Account, hostile_rotation: list[str],
                                                                       tmp_path: Path) -> None:
    standin.rotate_cookie = True
    hostile_rotation += [ROTATIONS["bad-name"], ROTATIONS["non-ascii"], ROTATIONS["control-char"]]
    login = cli("login", input=account.cookie)
    assert login.returncode == 0 and "Signed in as" in login.stdout, login.stderr
    standin.rotate_cookie = False
    hostile_rotation.clear()
    done = cli("generate", "-p", "a freshly rotated key", "-n", "1", "-d", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr  # before: exit 3 on every generate after "Signed in"
    assert len(done.stdout.splitlines()) == 1
    sent = cookie_dict(standin.last_request["generate"]["headers"].get("cookie", "") or
                       standin.last_request["session"]["headers"]["cookie"])
    assert sent["__Secure-next-auth.session-token"].startswith("standin-rotated-")  # the good rotation
    assert "bad name" not in sent and "caf\u00e9-GA1.2" not in sent.values()


@pytest.mark.parametrize("args", [["queue", "add", "--file", "-"], ["login", "--cookie", "-"]], ids=["queue", "login"])
@pytest.mark.fault_case("bad input: /dev/zero as standard input")
def test_endless_standard_input_is_cut_off_with_a_sentence(cli_env: dict[str, str], args: list[str]) -> None:
    import sys

    root = Path(__file__).resolve().parents[2]
    with open("/dev/zero", "rb") as zero:
        done = subprocess.run([sys.executable, str(root / "main.py"), *args], stdin=zero, env=cli_env,
                              capture_output=True, text=True, timeout=60, cwd=cli_env["HOME"])
    one_line_error(done, 2, "Standard input holds more than")
