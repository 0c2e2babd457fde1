"""Secrets at rest: the cookie in the keyring, only Fernet ciphertext in users.google_cookie,
only a hash in sessions.access_token, a 0600 key file where there is no keyring, and one
round trip through a real Secret Service (gnome-keyring on a private D-Bus).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest
from cryptography.fernet import Fernet, InvalidToken
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from core.imagefx import GenerationRequest
from core.secrets import KEY_ACCOUNT, SERVICE, SecretError, SecretStore, hash_token
from core.service import Service
from core.standin import DEMO_COOKIE, DEMO_EMAIL, DEMO_SESSION_TOKEN
from tests.support.dbcheck import rows, scalar
from tests.support.memkeyring import MemoryKeyring

ROOT = Path(__file__).resolve().parents[2]


def test_the_cookie_is_kept_in_the_keyring_under_the_google_account(signed_in: Service,
                                                                    memory_keyring: MemoryKeyring) -> None:
    assert memory_keyring.store[(SERVICE, f"cookie:{DEMO_EMAIL}")] == DEMO_COOKIE
    assert signed_in.current_email() == DEMO_EMAIL
    assert signed_in.secrets.uses_keyring and signed_in.secrets.warning is None


@pytest.mark.fault_case("security: google_cookie decrypts only with the keyring key")
def test_users_google_cookie_holds_only_ciphertext_that_needs_the_keyring_key(
        signed_in: Service, db_url: str, memory_keyring: MemoryKeyring, data_dir: Path) -> None:
    stored = scalar(db_url, "SELECT google_cookie FROM users WHERE email = %s", (DEMO_EMAIL,))
    assert stored and DEMO_SESSION_TOKEN not in stored and "next-auth" not in stored
    key = memory_keyring.store[(SERVICE, KEY_ACCOUNT)]
    assert Fernet(key.encode()).decrypt(stored.encode()).decode() == DEMO_COOKIE
    with pytest.raises(InvalidToken):
        Fernet(Fernet.generate_key()).decrypt(stored.encode())

    # Another machine (a keyring without that key) cannot read it, and says so in a sentence.
    keyring.set_keyring(MemoryKeyring())
    with pytest.raises(SecretError, match="cannot be decrypted"):
        SecretStore(data_dir).decrypt(stored)


@pytest.mark.fault_case("security: sessions.access_token never holds the token")
def test_sessions_access_token_holds_a_hash_never_the_token(signed_in: Service, db_url: str) -> None:
    signed_in.generate(GenerationRequest("a quiet harbour", count=1))
    token = signed_in.client().session().access_token
    [(stored,)] = rows(db_url, "SELECT access_token FROM sessions")
    assert stored == hash_token(token) and token not in stored
    dump = str(rows(db_url, "SELECT s.*, u.* FROM sessions s JOIN users u ON u.id = s.user_id"))
    assert token not in dump and DEMO_SESSION_TOKEN not in dump


def test_signing_out_forgets_the_cookie_everywhere(signed_in: Service, db_url: str,
                                                   memory_keyring: MemoryKeyring) -> None:
    signed_in.sign_out()
    assert (SERVICE, f"cookie:{DEMO_EMAIL}") not in memory_keyring.store
    assert scalar(db_url, "SELECT google_cookie FROM users WHERE email = %s", (DEMO_EMAIL,)) is None
    assert scalar(db_url, "SELECT count(*) FROM sessions") == 0
    assert signed_in.current_email() is None and not signed_in.has_cookie()


@pytest.mark.fault_case("security: key file without a keyring is 0600")
def test_without_a_keyring_backend_the_app_works_with_a_0600_key_file_and_says_so(
        make_service: Callable[..., Service], data_dir: Path, db_url: str) -> None:
    keyring.set_keyring(fail.Keyring())
    svc = make_service()
    assert not svc.secrets.uses_keyring
    assert svc.secrets.warning and "No system keyring" in svc.secrets.warning
    svc.sign_in(DEMO_COOKIE)
    assert svc.generate(GenerationRequest("a snowy owl", count=1)).record.images

    secrets_dir = data_dir / "secrets"
    assert stat.S_IMODE((secrets_dir / "secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for path in secrets_dir.iterdir():
        assert DEMO_SESSION_TOKEN.encode() not in path.read_bytes()
    stored = scalar(db_url, "SELECT google_cookie FROM users")
    key = (secrets_dir / "secret.key").read_bytes().strip()
    assert Fernet(key).decrypt(stored.encode()).decode() == DEMO_COOKIE

    later = make_service()  # the next start finds the sign-in without a keyring
    assert later.current_email() == DEMO_EMAIL
    assert later.generate(GenerationRequest("a second owl", count=1)).record.images


@pytest.mark.fault_case("security: plaintext keyring not trusted")
def test_a_plaintext_file_keyring_is_not_trusted_unless_the_user_chose_it(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keyrings.alt's PlaintextKeyring (priority below 1) is what ``keyring`` falls back to on a
    headless box where the test extras are installed; it stores secrets as base64 text."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    plaintext = PlaintextKeyring()
    keyring.set_keyring(plaintext)
    store = SecretStore(data_dir)
    assert not store.uses_keyring and store.warning
    store.save_cookie(DEMO_EMAIL, DEMO_COOKIE)
    assert not Path(plaintext.file_path).exists()

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    chosen = SecretStore(data_dir)
    assert chosen.uses_keyring and chosen.warning is None


# --- a real Secret Service -----------------------------------------------------------------------

SECRET_SERVICE_SCRIPT = textwrap.dedent("""
    import tempfile
    from pathlib import Path

    import keyring
    from keyring.backends import SecretService, chainer

    from core.secrets import KEY_ACCOUNT, SERVICE, SecretStore

    backend = keyring.get_keyring()
    first = backend.backends[0] if isinstance(backend, chainer.ChainerBackend) else backend
    assert isinstance(first, SecretService.Keyring), repr(backend)

    cookie = "__Secure-next-auth.session-token=gnome-keyring-secret-0123456789; _ga=GA1.1.1"
    store = SecretStore(Path(tempfile.mkdtemp()))
    assert store.uses_keyring and store.warning is None, store.backend_name
    store.save_cookie("someone@example.com", cookie)
    ciphertext = store.encrypt(cookie)

    # Straight from the Secret Service, and through a new store as after a restart.
    direct = SecretService.Keyring()
    assert direct.get_password(SERVICE, "cookie:someone@example.com") == cookie
    assert direct.get_password(SERVICE, KEY_ACCOUNT)
    again = SecretStore(Path(tempfile.mkdtemp()))
    assert again.load_cookie("someone@example.com") == cookie
    assert again.decrypt(ciphertext) == cookie
    again.delete_cookie("someone@example.com")
    assert direct.get_password(SERVICE, "cookie:someone@example.com") is None
    print("secret service ok")
""")


def test_round_trip_through_a_real_secret_service(tmp_path: Path) -> None:
    missing = [tool for tool in ("gnome-keyring-daemon", "dbus-run-session") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian: gnome-keyring dbus)")
    script = tmp_path / "secret_service_check.py"
    script.write_text(SECRET_SERVICE_SCRIPT)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON_KEYRING", "DBUS_", "XDG_", "GNOME_KEYRING"))}
    env.update({"HOME": str(home), "PYTHONPATH": str(ROOT)})
    command = ("echo -n pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null; "
               f'exec "{sys.executable}" "{script}"')
    done = subprocess.run(["dbus-run-session", "--", "sh", "-c", command], env=env, capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "secret service ok" in done.stdout
    assert "gnome-keyring-secret" not in done.stdout + done.stderr
