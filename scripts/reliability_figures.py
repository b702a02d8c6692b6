"""Summarise the figures the fault and adversarial suite recorded, as Markdown tables.

The tests append one JSON object per measured figure to
``.reliability/figures.jsonl`` (``record_figure`` in ``tests/conftest.py``).
This prints one table per test file, so the figures in docs/reliability.md can
be refreshed from a real run (move the file aside first so it holds one run):

    .venv/bin/python scripts/reliability_figures.py [FIGURES.jsonl] [--long | --bounded]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent.parent / ".reliability" / "figures.jsonl"
BOOKKEEPING = {"test", "figure", "value", "long", "time"}
MAX_CELL = 220


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    text = text.replace("|", "\\|")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def render(entries: list[dict[str, Any]]) -> str:
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_file[entry["test"].split("::")[0]].append(entry)
    out: list[str] = []
    for file in sorted(by_file):
        rows = by_file[file]
        out.append(f"#### `{file}` ({rows[0]['time']} .. {rows[-1]['time']})\n")
        out.append("| test | figure | value | details |")
        out.append("|---|---|---|---|")
        for entry in rows:
            test = entry["test"].split("::", 1)[1]
            details = ", ".join(f"{k}={_cell(v)}" for k, v in entry.items()
                                if k not in BOOKKEEPING)
            out.append(f"| `{test}` | {_cell(entry['figure'])} | {_cell(entry['value'])} "
                       f"| {details} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", nargs="?", type=Path, default=DEFAULT)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--long", action="store_true", help="only figures of --long runs")
    mode.add_argument("--bounded", action="store_true", help="only figures of bounded runs")
    args = parser.parse_args(argv)
    try:
        lines = args.figures.read_text().splitlines()
    except OSError as exc:
        print(f"reliability_figures: cannot read {args.figures}: {exc.strerror}", file=sys.stderr)
        return 1
    entries = [json.loads(line) for line in lines if line.strip()]
    if args.long or args.bounded:
        entries = [e for e in entries if bool(e["long"]) == args.long]
    print(render(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
