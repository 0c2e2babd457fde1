"""Files out and back in, as a user runs it: ``export``, ``import-files``, ``library export/import``.

Real processes, the stand-in, real PostgreSQL: a library is exported, brought into a second,
empty database, and the two are compared row by row, every column (ids replaced by what they
point at), then imported again to show nothing is added twice.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from core.imagefx.types import GenerationRequest
from core.service import Service
from core.standin import DEMO_COOKIE
from core.store.models import GeneratedImage, GeneratedImageArchive, ImageCaption, Prompt, QueueItemRow
from tests.support.dbcheck import counts, execute, rows, scalar
from tests.support.pg import create_database, drop_database

Run = Callable[..., subprocess.CompletedProcess[str]]


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    if done.returncode != 0:
        pytest.fail(f"{done.args[2:]} exited {done.returncode}:\n{done.stderr}", pytrace=False)
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


@pytest.fixture
def second_db(admin_url: str) -> Iterator[str]:
    name, url = create_database(admin_url)
    yield url
    drop_database(admin_url, name)


@pytest.fixture
def third_db(admin_url: str) -> Iterator[str]:
    name, url = create_database(admin_url)
    yield url
    drop_database(admin_url, name)


def _cols(model: Any, *drop: str) -> list[str]:
    return [c.name for c in model.__table__.columns if c.name not in drop and c.computed is None]


def snapshot(url: str, *, files_only: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a library file carries, ids replaced by what they point at, sorted.

    ``files_only``: what image files carry (images and their prompts, the account's e-mail and
    name), for comparing an ``import-files`` result."""
    image_cols = ", ".join(f"g.{c}" for c in _cols(GeneratedImage, "id", "user_id", "prompt_id"))
    prompt_cols = ", ".join(f"p.{c}" for c in _cols(Prompt, "id", "user_id"))
    out = {
        "users": rows(url, "SELECT email, name FROM users ORDER BY email" if files_only else
                      "SELECT email, name, image_url, created_at, updated_at FROM users ORDER BY email"),
        "prompts": rows(url, f"SELECT u.email, {prompt_cols}, (SELECT array_agg(media_generation_id ORDER BY "
                             "media_generation_id) FROM generated_images WHERE prompt_id = p.id) "
                             "FROM prompts p JOIN users u ON u.id = p.user_id ORDER BY 1, 2, 3"),
        "images": rows(url, f"SELECT u.email, p.prompt_text, p.created_at, {image_cols} FROM generated_images g "
                            "JOIN users u ON u.id = g.user_id LEFT JOIN prompts p ON p.id = g.prompt_id "
                            "ORDER BY g.media_generation_id"),
    }
    if files_only:
        return out
    caption_cols = ", ".join(f"c.{c}" for c in _cols(ImageCaption, "id", "user_id"))
    archive_cols = ", ".join(f"a.{c}" for c in _cols(GeneratedImageArchive, "id", "user_id", "prompt_id"))
    queue_cols = ", ".join(f"q.{c}" for c in _cols(QueueItemRow, "id", "prompt_id", "claimed_by"))
    out.update({
        "thumbnails": rows(url, "SELECT g.media_generation_id, t.thumbnail, t.mime_type, t.width, t.height, "
                                "t.created_at FROM image_thumbnails t JOIN generated_images g ON g.id = t.image_id "
                                "ORDER BY 1"),
        "captions": rows(url, f"SELECT u.email, {caption_cols} FROM image_captions c JOIN users u ON "
                              "u.id = c.user_id ORDER BY 1, 2, 4"),
        "archive": rows(url, f"SELECT u.email, p.prompt_text, {archive_cols} FROM generated_images_archive a "
                             "JOIN users u ON u.id = a.user_id LEFT JOIN prompts p ON p.id = a.prompt_id "
                             "ORDER BY a.media_generation_id"),
        "queue": rows(url, f"SELECT {queue_cols}, p.prompt_text FROM generation_queue q LEFT JOIN prompts p ON "
                           "p.id = q.prompt_id ORDER BY q.created_at, q.prompt_text"),
        # the library's marks (issue 14), by owner's e-mail, name and media id
        "tags": rows(url, "SELECT u.email, t.name, t.image_count, t.created_at FROM tags t "
                          "LEFT JOIN users u ON u.id = t.user_id ORDER BY 1, 2"),
        "image_tags": rows(url, "SELECT t.name, g.media_generation_id, it.created_at FROM image_tags it "
                                "JOIN tags t ON t.id = it.tag_id JOIN generated_images g ON g.id = it.image_id "
                                "ORDER BY 1, 2"),
        "boards": rows(url, "SELECT u.email, b.name, b.created_at, b.updated_at FROM boards b "
                            "LEFT JOIN users u ON u.id = b.user_id ORDER BY 1, 2"),
        "board_images": rows(url, "SELECT b.name, g.media_generation_id, bi.added_at FROM board_images bi "
                                  "JOIN boards b ON b.id = bi.board_id JOIN generated_images g ON g.id = bi.image_id "
                                  "ORDER BY 1, 2"),
        "ratings": rows(url, "SELECT g.media_generation_id, r.rating, r.image_created_at, u.email, r.rated_at "
                             "FROM image_ratings r JOIN generated_images g ON g.id = r.image_id "
                             "LEFT JOIN users u ON u.id = r.user_id ORDER BY 1"),
        "notes": rows(url, "SELECT g.media_generation_id, n.note, u.email, n.updated_at FROM image_notes n "
                           "JOIN generated_images g ON g.id = n.image_id LEFT JOIN users u ON u.id = n.user_id "
                           "ORDER BY 1"),
        "saved_searches": rows(url, "SELECT u.email, x.name, x.filter_text, x.sort, x.created_at, x.updated_at "
                                    "FROM saved_searches x LEFT JOIN users u ON u.id = x.user_id ORDER BY 1, 2"),
    })
    return out


def mark(svc: Service) -> None:
    """Tags, boards, ratings, a note and a saved search (the CLI's commands call the same methods:
    tests/e2e/test_library_cli.py); the image in the Trash keeps its marks."""
    ids = [r.id for r in svc.gallery_page(sort="oldest", trash=True) + svc.gallery_page(sort="oldest")]
    lib = svc.library
    lib.add_tags(ids[:2], ["fox, Winter"])
    lib.add_tags(ids[2:3], ["富士山"])
    lib.add_to_board("Keepers", [ids[0], ids[2]], create=True)
    lib.create_board("Still empty")
    lib.set_rating(ids[:2], 4)
    lib.set_rating(ids[2:3], 2)
    lib.set_note(ids[1], "the better fox; print it")
    lib.save_search("Best foxes", "tag:fox stars:>=4", "rating")


def fill(svc: Service, tmp_path: Path, *, trash: bool = False) -> None:
    """A small library with a bit of everything: generations, a favourite, a fetched image, captions."""
    a = svc.generate(GenerationRequest(prompt="a red fox in snow", count=2, seed=1234,
                                       aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE"))
    svc.generate(GenerationRequest(prompt="富士山と桜、夕焼け", count=1, aspect_ratio="IMAGE_ASPECT_RATIO_PORTRAIT"))
    svc.generate(GenerationRequest(prompt='a "quoted", comma\nsecond line: Seed: 5, Size: 1x1', count=1))
    svc.set_favorite([a.record.images[0].id], True)
    if trash:
        svc.trash_images([a.record.images[1].id])  # the Trash's state travels in the library file
    picture = tmp_path / "to-caption.png"
    Image.new("RGB", (64, 48), "navy").save(picture)
    svc.caption_file(picture, count=2)


# --- import-files ----------------------------------------------------------------------------------

def test_exported_files_come_back_identical_in_every_field_and_only_once(
        cli: Run, signed_in: Service, db_url: str, second_db: str, third_db: str, tmp_path: Path) -> None:
    fill(signed_in, tmp_path)
    out = tmp_path / "export"
    ok(cli("export", "-d", str(out)))
    assert len(list(out.glob("*.png"))) == 4

    # with metadata.jsonl beside them: everything the export carried
    lines = ok(cli("import-files", str(out), env={"DATABASE_URL": second_db}))
    assert lines[-1] == "Import finished: 4 imported, 0 already in the library."
    assert snapshot(second_db, files_only=True) == snapshot(db_url, files_only=True)
    again = cli("import-files", str(out), str(out / next(out.glob("*.png")).name), env={"DATABASE_URL": second_db})
    assert ok(again)[-1] == "Import finished: 0 imported, 5 already in the library."
    assert counts(second_db)["generated_images"] == 4
    execute(second_db, "UPDATE generated_images SET trashed_at = now() WHERE id = (SELECT min(id) FROM "
                       "generated_images)")
    in_trash = ok(cli("import-files", str(out), env={"DATABASE_URL": second_db}))[-1]
    assert in_trash == "Import finished: 0 imported, 4 already in the library (1 of them in the Trash)."

    # the files alone (no metadata.jsonl): prompt, seed, model, aspect ratio, size, date and the bytes
    alone = tmp_path / "alone"
    alone.mkdir()
    for f in out.glob("*.png"):
        (alone / f.name).write_bytes(f.read_bytes())
    refused = cli("import-files", str(alone), env={"DATABASE_URL": third_db})  # no account signed in there
    assert refused.returncode == 2 and "No account to file it under" in refused.stderr
    assert "--user EMAIL" in refused.stderr  # said once, with what to do
    # the account a cookie given for the run signs in as (GOOGLE_COOKIE, --cookie, the demo)
    ok(cli("import-files", str(alone), env={"DATABASE_URL": third_db, "GOOGLE_COOKIE": DEMO_COOKIE}))
    sql = ("SELECT p.prompt_text, g.media_generation_id, g.seed, g.model_name_type, g.aspect_ratio, g.width, "
           "g.height, g.created_at, g.encoded_image, g.mime_type, g.byte_size FROM generated_images g "
           "JOIN prompts p ON p.id = g.prompt_id ORDER BY 2")
    assert rows(third_db, sql) == rows(db_url, sql)


def test_the_images_of_a_generation_come_back_in_their_order(cli: Run, signed_in: Service, db_url: str,
                                                             second_db: str, tmp_path: Path) -> None:
    """Seeds 9 and 10 name the files ``…_9.png`` and ``…_10.png``, which sort the other way round:
    the metadata.jsonl's image ids, not the names, give the order (it came back reversed)."""
    signed_in.generate(GenerationRequest(prompt="the order of one generation", count=2, seed=9))
    out = tmp_path / "export"
    ok(cli("export", "-d", str(out)))
    assert sorted(f.name.rsplit("_", 1)[1] for f in out.glob("*.png")) == ["10.png", "9.png"]
    ok(cli("import-files", str(out), env={"DATABASE_URL": second_db}))
    sql = "SELECT seed, media_generation_id FROM generated_images ORDER BY id"
    assert [r[0] for r in rows(db_url, sql)] == [9, 10]
    assert rows(second_db, sql) == rows(db_url, sql)


def test_files_from_other_tools_come_in_and_the_rest_say_why_not(cli: Run, signed_in: Service, db_url: str,
                                                                  tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "masterpiece, a castle on a hill\nNegative prompt: blurry\nSteps: 20, "
                                "Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 2079987202, Size: 96x54, "
                                "Model: anything-v4.5")
    Image.new("RGB", (96, 54), "olive").save(folder / "sub" / "a1111.png", pnginfo=info)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + "a jpeg from elsewhere\nSteps: 30, Sampler: Euler a, " \
        "CFG scale: 5, Seed: 99, Size: 40x40".encode("utf-16-be")
    Image.new("RGB", (40, 40), "red").save(folder / "elsewhere.jpg", exif=exif)
    Image.new("RGB", (20, 20), "blue").save(folder / "plain.png")
    (folder / "fake.png").write_text("not an image")
    (folder / "notes.txt").write_text("skipped: not an image name")
    gif = tmp_path / "anim.gif"
    Image.new("P", (8, 8)).save(gif)
    done = cli("import-files", str(folder), str(gif), str(tmp_path / "missing.png"), "-u", "me@example.com")
    assert ok(done)[-1] == "Import finished: 2 imported, 0 already in the library, 4 not imported."
    reasons = {Path(line.split(": ", 1)[0]).name: line.split(": ", 1)[1] for line in done.stderr.splitlines()
               if ": " in line and not line.startswith("Importing")}
    assert reasons["plain.png"].startswith("It carries no prompt")
    assert reasons["fake.png"] == "It is not an image."
    assert "GIF" in reasons["anim.gif"] and reasons["missing.png"] == "No such file or folder."
    assert "notes.txt" not in reasons
    got = rows(db_url, "SELECT p.prompt_text, g.seed, g.aspect_ratio, g.width, g.model_name_type, g.source, "
                       "g.media_generation_id FROM generated_images g JOIN prompts p ON p.id = g.prompt_id "
                       "ORDER BY g.seed")
    assert [r[:6] for r in got] == [("a jpeg from elsewhere", 99, "IMAGE_ASPECT_RATIO_SQUARE", 40, None, "file"),
                                    ("masterpiece, a castle on a hill", 2079987202, "IMAGE_ASPECT_RATIO_LANDSCAPE",
                                     96, None, "file")]
    assert all(r[6].startswith("sha256:") for r in got)
    # the same content under another name is found by its hash
    (tmp_path / "copy.png").write_bytes((folder / "sub" / "a1111.png").read_bytes())
    again = cli("import-files", str(tmp_path / "copy.png"), "-u", "me@example.com")
    assert ok(again)[-1].startswith("Import finished: 0 imported, 1 already")
    # nothing at all usable: exit 2
    assert cli("import-files", str(folder / "plain.png"), "-u", "me@example.com").returncode == 2


# --- library export / import ---------------------------------------------------------------------

def test_the_library_file_round_trips_every_row_and_a_second_import_adds_nothing(
        cli: Run, signed_in: Service, db_url: str, second_db: str, tmp_path: Path) -> None:
    fill(signed_in, tmp_path, trash=True)
    ok(cli("queue", "add", "-p", "queued for later", "-p", "and another", "-n", "2"))
    old = scalar(db_url, "SELECT min(id) FROM generated_images")
    execute(db_url, "UPDATE generated_images SET created_at = now() - interval '200 days' WHERE id = %s", (old,))
    assert signed_in.archive_older_than(90).count == 1
    mark(signed_in)
    before = snapshot(db_url)
    assert all(before.values()), {k: len(v) for k, v in before.items()}

    path = tmp_path / "library.jsonl.gz"
    done = cli("library", "export", str(path))
    assert ok(done) == [str(path)]
    assert "Exported the library" in done.stderr
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert lines[0]["kind"] == "header" and lines[0]["version"] == 1 and lines[-1]["kind"] == "end"
    assert not any("google_cookie" in line for line in lines)  # no secrets in the file
    assert {line["kind"] for line in lines[1:-1]} == {"user", "prompt", "image", "thumbnail", "caption",
                                                       "archived_image", "queue_item", "tag", "image_tag", "board",
                                                       "board_image", "rating", "note", "saved_search"}

    first = ok(cli("library", "import", str(path), env={"DATABASE_URL": second_db}))
    assert first[-1].startswith("Imported ") and "already" not in first[-1]
    assert snapshot(second_db) == before
    second = ok(cli("library", "import", str(path), env={"DATABASE_URL": second_db}))
    assert second[-1].startswith("Imported nothing new from library.jsonl.gz;")
    assert snapshot(second_db) == before
    # names are one tag, board or search whatever their case: renamed since, the file's marks still find them
    there = {"DATABASE_URL": second_db}
    ok(cli("tag", "rename", "fox", "FOX", env=there))
    ok(cli("board", "rename", "keepers", "KEEPERS", env=there))
    third = ok(cli("library", "import", str(path), env=there))
    assert third[-1].startswith("Imported nothing new from library.jsonl.gz;") and "not imported" not in third[-1], \
        third
    # (the lists count what is in the library, as tag: and board: find it: the Trash's fox is left out)
    assert ok(cli("tag", "list", env=there)) == ["      1  FOX", "      1  Winter", "      1  富士山"]
    assert [line.split()[:2] for line in ok(cli("board", "list", env=there))] == [
        ["1", "KEEPERS"], ["0", "Still"], ["smart", "Best"]]

    # a file cut short keeps what it held and says so; a file that is not ours is refused
    plain = tmp_path / "cut.jsonl"
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    plain.write_bytes(data[: len(data) // 2].rsplit(b"\n", 1)[0] + b"\n")
    cut = cli("library", "import", str(plain), env={"DATABASE_URL": second_db})
    assert cut.returncode == 2 and "ends early" in cut.stdout
    (tmp_path / "other.jsonl").write_text('{"hello": 1}\n')
    refused = cli("library", "import", str(tmp_path / "other.jsonl"))
    assert refused.returncode == 2 and "is not a library file" in refused.stderr


def test_a_newer_file_is_refused_and_unknown_kinds_are_reported(cli: Run, db_url: str, tmp_path: Path) -> None:
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({"kind": "header", "format": "imagefx-studio-library", "version": 99}) + "\n")
    done = cli("library", "import", str(newer))
    assert done.returncode == 2 and "newer ImageFX Studio" in done.stderr
    mixed = tmp_path / "mixed.jsonl"
    lines = [{"kind": "header", "format": "imagefx-studio-library", "version": 1},
             {"kind": "user", "ref": 7, "email": "someone@example.com", "name": "Someone", "shoe_size": 44},
             {"kind": "hologram", "ref": 1},
             {"kind": "prompt", "ref": 3, "user_id": 8, "prompt_text": "points at nobody"},
             {"kind": "queue_item", "ref": 1, "prompt_text": "a queued owl", "state": "pending"},
             {"kind": "queue_item", "ref": 2, "prompt_text": "a state no one knows", "state": "bogus"},
             {"kind": "end"}]
    mixed.write_text("\n".join(json.dumps(x) for x in lines) + "\n[1, 2\n")
    done = cli("library", "import", str(mixed))
    assert ok(done)[-1].startswith("Imported 1 user, 1 queue item from mixed.jsonl; 2 lines not imported; "
                                   "skipped what this version does not know (hologram")
    assert "line 4 (prompt): user_id points at a user the file does not have" in done.stderr
    assert "line 6 (queue_item): the database refused it" in done.stderr  # alone: line 5 came in
    assert rows(db_url, "SELECT email, name FROM users") == [("someone@example.com", "Someone")]
    assert rows(db_url, "SELECT prompt_text, state FROM generation_queue") == [("a queued owl", "pending")]


def _png(colour: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, "PNG")
    return buf.getvalue()


def test_generate_dir_names_files_by_the_one_rule_with_the_parameters_inside(cli: Run, tmp_path: Path) -> None:
    from core import export

    out = tmp_path / "d"
    paths = [Path(p) for p in ok(cli("generate", "-p", "夕焼けの富士山", "-n", "2", "-s", "31", "-d", str(out),
                                     "-c", DEMO_COOKIE))]
    assert all("夕焼けの富士山" in p.name for p in paths) and len(set(paths)) == 2
    for p in paths:
        params = export.read_parameters(p)
        assert params is not None and params.prompt == "夕焼けの富士山" and params.media_id
    fetched = Path(ok(cli("fetch", export.read_parameters(paths[0]).media_id, "-d", str(out)))[0])
    assert fetched == paths[0]  # the same image into the same folder: already there, not a "-2" copy
