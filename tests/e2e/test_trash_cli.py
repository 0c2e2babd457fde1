"""``imagefx trash list|add|restore|empty`` as a user runs it, and what history and export then show."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from core.imagefx import GenerationRequest
from core.service import Service
from tests.support.dbcheck import rows, scalar

Run = Callable[..., subprocess.CompletedProcess[str]]


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, f"{done.args[2:]} exited {done.returncode}:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def test_trash_list_add_restore_empty_and_what_history_and_export_show(
        cli: Run, signed_in: Service, standin: object, db_url: str, tmp_path: Path) -> None:
    tower = signed_in.generate(GenerationRequest("a lighthouse in a storm", count=3)).record.images
    (pot,) = signed_in.generate(GenerationRequest("a teapot", count=1)).record.images

    # Moved there by id and by media id: out of history and export, listed in the Trash.
    assert ok(cli("trash", "add", str(pot.id), tower[0].media_id)) == [
        "Moved 2 images to the Trash; 'imagefx trash restore' brings them back."]
    history = json.loads(cli("history", "--json").stdout)
    assert [(h["prompt"], h["image_count"]) for h in history] == [("a lighthouse in a storm", 2)]
    assert tower[0].media_id not in history[0]["media_ids"]
    listed = json.loads(cli("trash", "list", "--json").stdout)
    assert {d["id"] for d in listed} == {pot.id, tower[0].id} and all(d["trashed_at"] for d in listed)
    text = cli("trash", "list")
    assert len(text.stdout.splitlines()) == 2 and "(30 days left)" in text.stdout
    assert "2 images in the Trash (deleted for good 30 days after they were trashed)" in text.stderr
    ok(cli("export", "-d", str(tmp_path / "out")))
    assert len(list((tmp_path / "out").glob("*.png"))) == 2  # the lighthouse's two left in the library

    # Restore by media id; a name that is nowhere is an error that restores nothing else wrongly.
    assert ok(cli("trash", "restore", tower[0].media_id)) == ["Restored 1 image."]
    assert json.loads(cli("history", "--json").stdout)[0]["image_count"] == 3
    bad = cli("trash", "restore", "no-such-image")
    assert bad.returncode == 2 and "No image 'no-such-image' in the library" in bad.stderr

    # Emptying after N days: only what has been there long enough goes, with its prompt row.
    ok(cli("trash", "add", str(tower[1].id)))
    scalar(db_url, f"UPDATE generated_images SET trashed_at = now() - interval '40 days' WHERE id = {pot.id} "
                   "RETURNING id")
    assert ok(cli("trash", "empty", "--older-than", "30")) == ["Deleted 1 image from the Trash for good."]
    assert rows(db_url, "SELECT prompt_text FROM prompts") == [("a lighthouse in a storm",)]
    assert ok(cli("trash", "empty")) == ["Deleted 1 image from the Trash for good."]  # no tty: no question
    assert scalar(db_url, "SELECT count(*) FROM generated_images") == 2
    assert ok(cli("trash", "empty")) == ["The Trash is empty."]
    done = cli("trash", "list")
    assert done.returncode == 0 and done.stdout == "" and "The Trash is empty." in done.stderr
