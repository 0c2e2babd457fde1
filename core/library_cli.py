"""The command line of the library (issue 14): ``tag``, ``board``, ``rate``, ``note``, ``search``,
and the image listing ``history --images`` shares.

Images are named by id (``history --images`` shows them) or media id. Every mutation goes
through ``service.library`` (core/service/library.py), so a change made here reaches every
open window at once (the database's NOTIFY triggers). Errors are one sentence on stderr with
exit code 2 (core/cli.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

SORT_CHOICES = ("newest", "oldest", "rating")


def _stars(value: str) -> int:
    if value.isascii() and value.isdigit() and 0 <= int(value) <= 5:
        return int(value)
    raise argparse.ArgumentTypeError(f"{value!r} is not a rating; use 0 to 5 stars")


def add_parsers(sub: argparse._SubParsersAction, parser_class: type, positive: Any) -> None:  # type: ignore[type-arg]
    """The library's commands, added to the main parser's subcommands."""
    t = sub.add_parser("tag", help="tag images, and rename, merge or list tags")
    tsub = t.add_subparsers(dest="tag_command", metavar="ACTION", parser_class=parser_class, required=True)
    ta = tsub.add_parser("add", help="put tags on images: TAGS is one tag, or several separated by commas")
    ta.add_argument("tags", metavar="TAGS")
    ta.add_argument("images", nargs="+", metavar="IMAGE", help="image ids or media ids")
    tr = tsub.add_parser("remove", help="take tags off images")
    tr.add_argument("tags", metavar="TAGS")
    tr.add_argument("images", nargs="+", metavar="IMAGE")
    tl = tsub.add_parser("list", help="the tags in use with their image counts (or the tags of some images)")
    tl.add_argument("images", nargs="*", metavar="IMAGE", help="only the tags of these images")
    tl.add_argument("-p", "--prefix", default="", help="only tags starting with this (autocomplete)")
    tl.add_argument("--json", action="store_true", help="JSON instead of text")
    tn = tsub.add_parser("rename", help="rename a tag everywhere (into an existing tag: the two merge)")
    tn.add_argument("old")
    tn.add_argument("new")
    tm = tsub.add_parser("merge", help="merge tags: every image with SOURCE gets TARGET instead")
    tm.add_argument("sources", nargs="+", metavar="SOURCE")
    tm.add_argument("target", metavar="TARGET")
    td = tsub.add_parser("delete", help="take a tag off every image and forget it")
    td.add_argument("tag")

    b = sub.add_parser("board", help="boards (collections): create, rename, delete, add, remove, list, show")
    bsub = b.add_subparsers(dest="board_command", metavar="ACTION", parser_class=parser_class, required=True)
    bsub.add_parser("create", help="make a new, empty board").add_argument("name")
    bn = bsub.add_parser("rename", help="rename a board")
    bn.add_argument("old")
    bn.add_argument("new")
    bsub.add_parser("delete", help="delete a board (its images stay in the library)").add_argument("name")
    ba = bsub.add_parser("add", help="put images on a board")
    ba.add_argument("name")
    ba.add_argument("images", nargs="+", metavar="IMAGE")
    ba.add_argument("--create", action="store_true", help="make the board if there is none of that name")
    br = bsub.add_parser("remove", help="take images off a board (they stay in the library)")
    br.add_argument("name")
    br.add_argument("images", nargs="+", metavar="IMAGE")
    bl = bsub.add_parser("list", help="the boards with their image counts, and the saved searches")
    bl.add_argument("--json", action="store_true", help="JSON instead of text")
    bs = bsub.add_parser("show", help="the images on a board (or found by a saved search)")
    bs.add_argument("name")
    _listing_options(bs, positive)

    r = sub.add_parser("rate", help="give images 0-5 stars (0 takes them off): rate IMAGE... STARS")
    r.add_argument("images", nargs="+", metavar="IMAGE")
    r.add_argument("stars", type=_stars, metavar="STARS")

    n = sub.add_parser("note", help="an image's note: note IMAGE TEXT writes it ('' clears, - reads stdin); "
                                    "note IMAGE prints it")
    n.add_argument("image", metavar="IMAGE")
    n.add_argument("text", nargs="?", default=None, metavar="TEXT")

    s = sub.add_parser("search", help="saved searches (smart boards): save, list, delete, show")
    ssub = s.add_subparsers(dest="search_command", metavar="ACTION", parser_class=parser_class, required=True)
    ss = ssub.add_parser("save", help="save a filter under a name (see 'history --filter')")
    ss.add_argument("name")
    ss.add_argument("filter", metavar="FILTER")
    ss.add_argument("--sort", choices=SORT_CHOICES, default="newest")
    sl = ssub.add_parser("list", help="the saved searches")
    sl.add_argument("--json", action="store_true", help="JSON instead of text")
    ssub.add_parser("delete", help="forget a saved search").add_argument("name")
    sw = ssub.add_parser("show", help="the images a saved search finds")
    sw.add_argument("name")
    _listing_options(sw, positive, sort=False)


def _listing_options(p: argparse.ArgumentParser, positive: Any, *, sort: bool = True) -> None:
    p.add_argument("-l", "--limit", type=positive, default=50, help="how many images (default 50)")
    if sort:
        p.add_argument("--sort", choices=SORT_CHOICES, default="newest")
    p.add_argument("--json", action="store_true", help="one JSON array instead of text")


def add_history_options(h: argparse.ArgumentParser) -> None:
    h.add_argument("-f", "--filter", default="",
                   help='filter: words, tag:, board:, stars:>=4, fav, model:, aspect:, seed:, account:, '
                        'before:/after:/on: dates, note:, has:, AND/OR/NOT, -term, (…), "quotes"')
    h.add_argument("--sort", choices=SORT_CHOICES, default="newest", help="newest (default), oldest, rating")
    h.add_argument("--images", action="store_true", help="one line per image (with its id, stars and tags), "
                                                          "not per generation")


# --- output -------------------------------------------------------------------------------------

def _one_line(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def image_json(record: Any, labels: Any) -> dict[str, Any]:
    return {"id": record.id, "media_id": record.media_id, "prompt": record.prompt,
            "created_at": record.created_at.isoformat(), "user_email": record.user_email, "model": record.model,
            "aspect_ratio": record.aspect_ratio, "seed": record.seed, "favorite": record.is_favorite,
            "rating": record.rating, "tags": list(labels.tags) if labels else [],
            "boards": list(labels.boards) if labels else [], "note": labels.note if labels else ""}


def print_images(records: Sequence[Any], labels: dict[int, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps([image_json(r, labels.get(r.id)) for r in records], ensure_ascii=False, indent=2))
        return
    for r in records:
        lab = labels.get(r.id)
        when = r.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        stars = "*" * r.rating + "." * (5 - r.rating)
        fav = "fav" if r.is_favorite else "   "
        tags = f"  [{', '.join(lab.tags)}]" if lab and lab.tags else ""
        print(f"{r.id:>7}  {when}  {stars}  {fav}  {r.media_id}  {_one_line(r.prompt)}{tags}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- commands -----------------------------------------------------------------------------------

def cmd_tag(args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, _service
    from core.service.library import tag_names

    with _service(args) as svc:
        svc.open()
        lib = svc.library
        action = args.tag_command
        if action in ("add", "remove"):
            names, ids = tag_names([args.tags]), lib.resolve(args.images)
            if action == "add":
                changes = lib.add_tags(ids, names)
                print(f"Tagged {_plural(changes.count, 'image')} with {', '.join(names)} "
                      f"({len(ids) - changes.count} had {'them' if len(names) > 1 else 'it'} already).")
            else:
                changes = lib.remove_tags(ids, names)
                print(f"Took {', '.join(names)} off {_plural(changes.count, 'image')}.")
        elif action == "list":
            if args.images:
                labels = lib.labels(lib.resolve(args.images))
                if args.json:
                    print(json.dumps({str(i): list(v.tags) for i, v in labels.items()}, ensure_ascii=False))
                else:
                    for image_id, lab in labels.items():
                        print(f"{image_id:>7}  {', '.join(lab.tags) or '(no tags)'}")
                return EXIT_OK
            tags = lib.tags(prefix=args.prefix)
            if args.json:
                print(json.dumps([{"name": t.name, "count": t.count} for t in tags], ensure_ascii=False, indent=2))
            elif not tags:
                print("No tags yet." if not args.prefix else "No tag starts with that.", file=sys.stderr)
            for t in [] if args.json else tags:
                print(f"{t.count:>7}  {t.name}")
        elif action == "rename":
            lib.rename_tag(args.old, args.new)
            print(f"Renamed the tag {args.old!r} to {args.new!r}.")
        elif action == "merge":
            changes = lib.merge_tags(args.sources, args.target)
            print(f"Merged {', '.join(args.sources)} into {args.target!r} ({_plural(changes.count, 'image')}).")
        else:
            changes = lib.delete_tag(args.tag)
            print(f"Deleted the tag {args.tag!r} (it was on {_plural(changes.count, 'image')}).")
    return EXIT_OK


def _show(svc: Any, filter_text: str, sort: str, limit: int, as_json: bool, empty: str) -> None:
    records = svc.gallery_page(filter=filter_text, sort=sort, limit=limit, with_thumbnails=False)
    if not records and not as_json:
        print(empty, file=sys.stderr)
        return
    print_images(records, svc.library.labels([r.id for r in records]), as_json=as_json)


def cmd_board(args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, _service
    from core.service.library import board_filter

    with _service(args) as svc:
        svc.open()
        lib = svc.library
        action = args.board_command
        if action == "create":
            lib.create_board(args.name)
            print(f"Created the board {args.name!r}.")
        elif action == "rename":
            lib.rename_board(args.old, args.new)
            print(f"Renamed the board {args.old!r} to {args.new!r}.")
        elif action == "delete":
            changes = lib.delete_board(args.name)
            print(f"Deleted the board {args.name!r}; its {_plural(changes.count, 'image')} stay in the library.")
        elif action in ("add", "remove"):
            ids = lib.resolve(args.images)
            if action == "add":
                changes = lib.add_to_board(args.name, ids, create=args.create)
                print(f"Added {_plural(changes.count, 'image')} to {args.name!r} "
                      f"({len(ids) - changes.count} were on it already).")
            else:
                changes = lib.remove_from_board(args.name, ids)
                print(f"Took {_plural(changes.count, 'image')} off {args.name!r}.")
        elif action == "list":
            boards, searches = lib.boards(), lib.saved_searches()
            if args.json:
                print(json.dumps({"boards": [{"id": b.id, "name": b.name, "count": b.count} for b in boards],
                                  "saved_searches": [{"name": x.name, "filter": x.filter, "sort": x.sort}
                                                     for x in searches]}, ensure_ascii=False, indent=2))
                return EXIT_OK
            if not boards and not searches:
                print("No boards yet.", file=sys.stderr)
            for b in boards:
                print(f"{b.count:>7}  {b.name}")
            for x in searches:
                print(f"  smart  {x.name}  ({x.filter}; {x.sort})")
        else:  # show: a board, or else a saved search of that name
            from core.service.service import ValidationError

            try:
                found = [b for b in lib.boards() if b.name.lower() == " ".join(args.name.split()).lower()]
                if found:
                    _show(svc, board_filter(found[0].name), args.sort, args.limit, args.json,
                          f"The board {args.name!r} is empty.")
                    return EXIT_OK
                saved = lib.saved_search(args.name)
            except ValidationError:
                raise ValidationError(f"There is no board or saved search called {args.name!r}.") from None
            _show(svc, saved.filter, saved.sort, args.limit, args.json, "The saved search finds no images.")
    return EXIT_OK


def cmd_rate(args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, _service

    with _service(args) as svc:
        svc.open()
        ids = svc.library.resolve(args.images)
        changes = svc.library.set_rating(ids, args.stars)
        what = f"{args.stars} star{'s' if args.stars != 1 else ''}" if args.stars else "no stars"
        print(f"Gave {_plural(changes.count, 'image')} {what} ({len(ids) - changes.count} had that already).")
    return EXIT_OK


def cmd_note(args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, _service

    with _service(args) as svc:
        svc.open()
        [image_id] = svc.library.resolve([args.image])
        if args.text is None:
            note = svc.library.note(image_id)
            if note:
                print(note)
            else:
                print("That image has no note.", file=sys.stderr)
            return EXIT_OK
        text = sys.stdin.read() if args.text == "-" else args.text
        changes = svc.library.set_note(image_id, text)
        if not text.strip():
            print("Note removed." if changes else "That image had no note.")
        else:
            print("Note saved." if changes else "The note was already that.")
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, _service

    with _service(args) as svc:
        svc.open()
        lib = svc.library
        action = args.search_command
        if action == "save":
            lib.save_search(args.name, args.filter, args.sort)
            print(f"Saved the search {args.name!r}: {args.filter}")
        elif action == "list":
            searches = lib.saved_searches()
            if args.json:
                print(json.dumps([{"name": x.name, "filter": x.filter, "sort": x.sort} for x in searches],
                                 ensure_ascii=False, indent=2))
            elif not searches:
                print("No saved searches yet.", file=sys.stderr)
            for x in [] if args.json else searches:
                print(f"{x.name}  ({x.filter}; {x.sort})")
        elif action == "delete":
            lib.delete_search(args.name)
            print(f"Deleted the saved search {args.name!r}.")
        else:
            saved = lib.saved_search(args.name)
            _show(svc, saved.filter, saved.sort, args.limit, args.json, "The saved search finds no images.")
    return EXIT_OK


COMMANDS = {"tag": cmd_tag, "board": cmd_board, "rate": cmd_rate, "note": cmd_note, "search": cmd_search}
