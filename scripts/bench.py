#!/usr/bin/env python3
"""Run the benchmarks in scripts/benchmarks/ and print one table, row by row.

Usage: scripts/bench [--only NAME]... [--quick] [--json OUT]

Every benchmark measures our code and a baseline in the same run (best of k
timings each) and reports the speedup baseline/ours against its target.  The
signature-bound targets are stated against libsodium's Ed25519 verify rate
(1 and 2 processes), measured in the same run; a second table sums up the
headline targets (issue 14), then how many of the other targeted rows pass.
Each benchmark's rows are printed as soon as it finishes, so that an
interrupted run (Ctrl-C) still shows what it measured, followed by the targets
table of the benchmarks that ran.
The exit code is 1 when a row misses its target, except with --quick, whose
small sizes are for smoke tests and too noisy to judge.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
import traceback
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmarks  # noqa: E402  (needs the path above)
from benchmarks import GOALS, Row  # noqa: E402

HEADERS = ("benchmark", "ours", "baseline", "speedup", "target", "result")
GOAL_HEADERS = ("target", "measured", "baseline", "ratio", "target", "result")
OTHERS = "everything else with a target"


def discover() -> dict[str, ModuleType]:
    """Every module in scripts/benchmarks/, by its NAME."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"benchmarks.{info.name}")
        name = getattr(module, "NAME", None)
        assert isinstance(name, str) and callable(getattr(module, "run", None)), (
            f"benchmarks/{info.name}.py must define NAME and run(quick)")
        assert name not in found, f"two benchmarks are called {name}"
        found[name] = module
    return found


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def _figure(row: Row, seconds: float | None) -> str:
    """Seconds, an amount (``68.2 MB``), or for a row that counts items the rate, e.g.
    ``14,100 events/s``."""
    if seconds is None:
        return "-"
    if row.quantity:
        return f"{seconds:,.1f} {row.quantity}"
    if row.count is None:
        return _seconds(seconds)
    return f"{row.count / seconds:,.0f} {row.unit}/s"


def _cells(row: Row) -> tuple[str, str, str, str, str]:
    """(ours, baseline, speedup, target, result) as the tables print them."""
    speedup = row.speedup
    return (
        _figure(row, row.ours),
        f"{row.baseline_name}: {_figure(row, row.baseline)}",
        "-" if speedup is None else f"{speedup:.2f}x",
        "-" if row.target is None else f">= {row.target:g}x",
        row.result,
    )


# Column widths the streamed table starts from (those of a full --quick run), so that
# rows printed before later benchmarks have run still line up with them.  A wider cell
# widens its column from that row on.
_STREAM_WIDTHS = (87, 19, 52, 7, 7, 6)


class TableStream:
    """The benchmark table, printed a benchmark at a time: cells joined by `` | ``, the
    header and its ``-+-`` rule printed with the first benchmark's rows."""

    def __init__(self) -> None:
        self._widths = [max(len(header), least)
                        for header, least in zip(HEADERS, _STREAM_WIDTHS, strict=True)]
        self._started = False

    def lines(self, rows: list[Row]) -> list[str]:
        """The lines that print ``rows``, after the header if none were printed yet."""
        cells = [(row.benchmark, *_cells(row)) for row in rows]
        if not self._started:
            for line in cells:
                self._widths = [max(width, len(cell))
                                for width, cell in zip(self._widths, line, strict=True)]
        printed = [] if self._started else [self._line(HEADERS),
                                            "-+-".join("-" * width for width in self._widths)]
        self._started = True
        return printed + [self._line(line) for line in cells]

    def _line(self, cells: tuple[str, ...]) -> str:
        return " | ".join(cell.ljust(width)
                          for cell, width in zip(cells, self._widths, strict=True)).rstrip()


def format_goals(rows: list[Row]) -> str:
    """The headline targets, each with its row's figures (``not run`` if none), then one
    line for the remaining rows that have a target."""
    lines: list[tuple[str, ...]] = [GOAL_HEADERS]
    for goal in GOALS:
        answering = [row for row in rows if row.goal == goal]
        if not answering:
            lines.append((goal, "-", "-", "-", "-", "not run"))
        lines.extend((goal, *_cells(row)) for row in answering)
    others = [row for row in rows if not row.goal and row.target is not None]
    passed = sum(row.result == "pass" for row in others)
    lines.append((OTHERS, f"{passed} of {len(others)} pass", "-", "-", "still pass",
                   "pass" if passed == len(others) else "FAIL"))
    return _render(lines)


def _render(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]
    rendered = [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a smoke test; targets shown but not enforced")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the rows as JSON")
    args = parser.parse_args(argv)

    available = discover()
    selected = args.only or sorted(available)
    unknown = [name for name in selected if name not in available]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; have {', '.join(sorted(available))}")

    rows: list[Row] = []
    crashed: list[str] = []
    table = TableStream()
    try:
        for name in selected:
            print(f"running {name}{' (quick)' if args.quick else ''} ...", file=sys.stderr,
                  flush=True)
            try:
                measured = available[name].run(args.quick)
            except Exception:  # one broken benchmark must not cost the figures of the others
                print(f"benchmark {name} failed:", file=sys.stderr)
                traceback.print_exc()
                crashed.append(name)
                continue
            rows.extend(measured)
            for line in table.lines(measured):
                print(line, flush=True)
    except KeyboardInterrupt:
        print(f"interrupted while running {name}; the targets table covers what ran",
              file=sys.stderr, flush=True)
        print()
        print(format_goals(rows), flush=True)
        return 130

    print()
    print(format_goals(rows))
    if args.json:
        args.json.write_text(json.dumps({
            "python": platform.python_version(),
            "machine": platform.machine(),
            "quick": args.quick,
            "rows": [row.as_json() for row in rows],
        }, indent=1) + "\n")
    if crashed:
        print(f"benchmarks that failed to run: {', '.join(crashed)}", file=sys.stderr)
    failed = [row for row in rows if row.result == "FAIL"]
    return 1 if crashed or (failed and not args.quick) else 0


if __name__ == "__main__":
    raise SystemExit(main())
