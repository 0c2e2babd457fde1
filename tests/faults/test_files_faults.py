"""Hostile folders and full disks for the files the app writes (issue 12): links planted in an export
folder, ``-d`` and export on a full disk, a kill in the middle of an export. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core.imagefx import GenerationRequest
from core.imagemeta import strip_text
from core.service import Service
from tests.faults.conftest import one_line_error
from tests.faults.test_database_faults import full_disk  # noqa: F401  (the 1 MB tmpfs fixture)
from tests.support.dbcheck import rows
from tests.support.fault_suite import DataLoss

Run = Callable[..., subprocess.CompletedProcess[str]]


def visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


@pytest.mark.fault_case("files: metadata.jsonl planted as a link in the export folder")
def test_export_never_writes_through_a_planted_link(cli: Run, signed_in: Service, tmp_path: Path) -> None:
    signed_in.generate(GenerationRequest(prompt="a fox in a shared folder", count=2))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "metadata.jsonl").symlink_to(victim)
    line = one_line_error(cli("export", "-d", str(shared)), 2, "symbolic link", "metadata.jsonl")
    assert "never written through links" in line
    assert victim.read_text() == "precious\n"
    assert visible(shared) == [shared / "metadata.jsonl"]  # nothing else written either
    # a hard link to someone's file is refused the same way
    (shared / "metadata.jsonl").unlink()
    os.link(victim, shared / "metadata.jsonl")
    one_line_error(cli("export", "-d", str(shared)), 2, "hard links")
    assert victim.read_text() == "precious\n"
    # a link planted under the name an image will get is left alone; the image goes beside it
    (shared / "metadata.jsonl").unlink()
    names = [Path(p).name for p in cli("export", "-d", str(tmp_path / "probe")).stdout.split()]
    for name in names:
        (shared / name).symlink_to(victim)
    done = cli("export", "-d", str(shared))
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious\n"
    assert all((shared / n).is_symlink() for n in names)
    written = [Path(p) for p in done.stdout.split()]
    assert len(written) == 2 and not any(p.is_symlink() for p in written)


@pytest.mark.fault_case("files: generate -d on a full disk")
def test_dir_on_a_full_disk_says_so_and_leaves_no_empty_image(cli: Run, full_disk: Path, db_url: str,  # noqa: F811
                                                                demo_cookie: str, data_loss: DataLoss) -> None:
    out = full_disk / "out"
    done = cli("generate", "-p", "a cat on a full disk", "-n", "2", "-d", str(out), "-c", demo_cookie)
    line = one_line_error(done, 2, "the disk holding", "is full", "stored in the library")
    assert str(out) in line
    assert not out.exists() or visible(out) == []
    assert not [p for p in full_disk.rglob("*") if p.is_file() and p.stat().st_size == 0]
    assert not out.exists()  # the folder it made for nothing is gone again
    assert data_loss.check(db_urls=[db_url]) == []
    assert rows(db_url, "SELECT count(*) FROM generated_images") == [(2,)]


@pytest.mark.fault_case("files: export and library export on a full disk")
def test_exports_on_a_full_disk_leave_nothing_behind(cli: Run, signed_in: Service, full_disk: Path) -> None:  # noqa: F811
    signed_in.generate(GenerationRequest(prompt="a lighthouse", count=2))
    one_line_error(cli("export", "-d", str(full_disk / "new" / "folder")), 2, "the disk holding", "is full")
    assert not (full_disk / "new").exists()
    target = full_disk / "library.jsonl"
    one_line_error(cli("library", "export", str(target)), 2, "the disk holding", "is full")
    assert not any(p.name.startswith(("library", ".library")) for p in full_disk.iterdir())  # no half file


@pytest.mark.fault_case("files: export killed (SIGKILL) in the middle")
def test_a_killed_export_leaves_only_whole_files_and_the_next_one_completes(cli_env: dict[str, str],
                                                                           signed_in: Service, tmp_path: Path,
                                                                           cli: Run) -> None:
    stored = {}
    for i in range(6):
        for img in signed_in.generate(GenerationRequest(prompt=f"a kite number {i}", count=4)).record.images:
            stored[img.media_id] = signed_in.image_bytes(img.id)
    out = tmp_path / "killed"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, str(root / "main.py"), "export", "-d", str(out)], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cli_env["HOME"])
    assert proc.stdout is not None
    proc.stdout.readline()  # the first file is in place
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    from core.export import read_parameters

    for p in visible(out):
        if p.name == "metadata.jsonl":
            continue
        media = read_parameters(p).media_id
        assert strip_text(p.read_bytes()) == stored[media]  # whole, never half an image
    done = cli("export", "-d", str(out))
    assert done.returncode == 0, done.stderr
    images = [p for p in visible(out) if p.suffix == ".png"]
    assert len(images) == 24 and not [p for p in images if "-2." in p.name]
    import json

    media = []
    for line in (out / "metadata.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            media.append(json.loads(line)["media_id"])
        except ValueError:
            pass  # a line the kill cut short
    assert sorted(media) == sorted(stored)  # one line per image, none twice
