"""Turn the JSON that ``bench.py --json-out`` appends into the README's table of figures.

    python -m benchmarks.table benchmarks/results/*.json

One row per figure; for each size the median in both modes next to the target (✔ met, ✘ not),
the naive way's median and the ratio, and how the figure grew from 10k to 100k images. When a
figure was measured more than once for the same mode and size, the last measurement counts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def load(paths: list[Path]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(figure name, mode, size) -> figure."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in paths:
        for run in json.loads(path.read_text()):
            for fig in run["figures"]:
                out[(fig["name"], run["target"], run["size"])] = {**fig, "load": run.get("load_after", "")}
    return out


def _cell(fig: dict[str, Any] | None) -> str:
    if fig is None:
        return "–"
    unit = " MB" if fig["unit"] == "MB" else ""
    mark = "" if fig["met"] is None else (" ✔" if fig["met"] else " ✘")
    return f"{fig['median']:.0f}{unit}{mark}" if fig["median"] >= 10 else f"{fig['median']:.1f}{unit}{mark}"


def _naive(fig: dict[str, Any] | None) -> str:
    if fig is None or fig.get("naive_median") is None:
        return ""
    ratio = fig["naive_median"] / fig["median"] if fig["median"] else float("inf")
    return f"{fig['naive_median']:.0f} (×{ratio:.0f})"


def _growth(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if a is None or b is None or not a["median"]:
        return ""
    return f"×{b['median'] / a['median']:.2f}"


def table(figs: dict[tuple[str, str, str], dict[str, Any]]) -> str:
    names: list[str] = []
    for name, _mode, _size in figs:
        if name not in names:
            names.append(name)
    head = ("| figure | target 10k | embedded 10k | server 10k | naive 10k emb / srv (×) | target 100k "
            "| embedded 100k | server 100k | naive 100k emb / srv (×) | growth 10k→100k emb / srv |")
    lines = [head, "|" + "---|" * 10]
    for name in names:
        row = [name.strip()]
        for size in ("10k", "100k"):
            emb, srv = figs.get((name, "embedded", size)), figs.get((name, "server", size))
            target = next((f["target"] for f in (emb, srv) if f is not None and f["target"] is not None), None)
            unit = next((f["unit"] for f in (emb, srv) if f is not None), "ms")
            row.append(f"≤ {target:g} {unit}" if target is not None else "")
            row += [_cell(emb), _cell(srv)]
            naive = " / ".join(x for x in (_naive(emb), _naive(srv)) if x)
            row.append(naive)
        g = [_growth(figs.get((name, m, "10k")), figs.get((name, m, "100k"))) for m in ("embedded", "server")]
        row.append(" / ".join(x or "–" for x in g))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print(__doc__)
        return 2
    print(table(load(paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
