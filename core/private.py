"""Folders and files only their owner can read, private from the first byte (issue 12).

``mkdir`` then ``chmod`` leaves a moment in which another local user can open the folder or
the file (and keep it open); creating with the mode avoids that. The process umask can only
take bits away, never add them, so what these make is never looser than asked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Make ``path`` (and any missing parents) 0700. An existing folder of ours that others can
    enter is tightened unless ``tighten`` is False (a folder the user chose for a backup)."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another process meanwhile
            pass
    if tighten and not missing:
        _tighten(path)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if missing; take group/other bits off an existing one of ours
    (for a file another writer rewrites keeping its mode, such as QSettings' INI file)."""
    try:
        os.close(open_private(path))
    except FileExistsError:
        _tighten(path)
    return path


def _tighten(path: Path) -> None:
    """Take group/other bits off ``path`` if it is ours (not on Windows: no such bits)."""
    if os.name == "nt":
        return
    st = path.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
        try:
            path.chmod(stat.S_IMODE(st.st_mode) & ~0o077)
        except OSError:  # a read-only file system: whoever writes next says so
            pass


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """``os.open`` with 0600 (``O_CREAT`` is implied): a descriptor for a new private file."""
    return os.open(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with a 0600 file holding ``data`` (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable: POSIX keeps it only once the folder itself is synced.
    Windows cannot open folders (NTFS journals the rename), so there it does nothing."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
