"""scripts/bench.py runs end to end on small sizes and prints its one table."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from bench import OTHERS  # noqa: E402  (scripts/ is not a package)
from benchmarks import (  # noqa: E402
    GOAL_BUNDLES_1,
    GOAL_BUNDLES_4,
    GOAL_INGEST,
    GOALS,
    LIMIT_1,
    LIMIT_2,
)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )


def test_quick_batch_tree_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = _bench("--quick", "--only", "batch_tree", "--json", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split(" | ")[0].strip() == "benchmark"
    assert "speedup" in lines[0] and "target" in lines[0] and "result" in lines[0]

    rows = json.loads(out.read_text())["rows"]
    by_baseline = {row["baseline_name"]: row for row in rows}
    # Ours against raw hashlib is always measured.
    hashlib_row = by_baseline["raw hashlib, same hash count"]
    assert hashlib_row["ours_seconds"] > 0 and hashlib_row["baseline_seconds"] > 0
    assert hashlib_row["result"] == "info"
    assert any("raw hashlib" in line for line in lines)
    # merkletools is measured when installed (scripts/bench installs it) and
    # otherwise marked, never silently dropped.
    tools_row = by_baseline["merkletools"]
    assert tools_row["target_speedup"] == 3.0
    if tools_row["baseline_seconds"] is None:
        assert tools_row["result"] == "not installed"
    else:
        assert tools_row["result"] in ("pass", "FAIL")
    assert any("merkletools" in line and tools_row["result"] in line for line in lines)


def test_unknown_benchmark_is_a_usage_error() -> None:
    result = _bench("--quick", "--only", "no_such_benchmark")
    assert result.returncode == 2
    assert "unknown benchmark no_such_benchmark" in result.stderr
    assert "batch_tree" in result.stderr


def test_batch_tree_degrades_without_merkletools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    # A None entry in sys.modules makes `import merkletools` fail as if absent.
    monkeypatch.setitem(sys.modules, "merkletools", None)
    batch_tree = importlib.import_module("benchmarks.batch_tree")

    rows = batch_tree.run(quick=True)
    tools_row = next(row for row in rows if row.baseline_name == "merkletools")
    assert tools_row.baseline is None and tools_row.result == "not installed"
    assert tools_row.ours > 0
    hashlib_row = next(row for row in rows if row.baseline_name.startswith("raw hashlib"))
    assert hashlib_row.speedup is not None and hashlib_row.speedup > 0


def test_quick_bundle_verification_benchmark_runs(tmp_path: Path) -> None:
    """The bundle benchmark builds real bundles: it must follow the bundle format."""
    out = tmp_path / "bench.json"
    result = _bench("--quick", "--only", "verify_bundles", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and all(row["ours_seconds"] > 0 for row in rows)


def _goal_lines(stdout: str) -> dict[str, list[str]]:
    """The targets table (after the blank line): its cells by the target's name."""
    _, _, goals = stdout.partition("\n\n")
    rows = [[cell.strip() for cell in line.split(" | ")] for line in goals.splitlines()]
    assert rows[0][:2] == ["target", "measured"], goals
    return {cells[0]: cells for cells in rows[2:]}


def test_quick_run_states_signature_targets_against_libsodium(tmp_path: Path) -> None:
    """The libsodium limit is measured in the run and every bundle target is put against it."""
    out = tmp_path / "bench.json"
    result = _bench("--quick", "--only", "signatures", "--only", "verify_bundles",
                    "--json", str(out))
    assert result.returncode == 0, result.stderr
    goals = _goal_lines(result.stdout)
    assert set(goals) == {*GOALS, OTHERS}

    rate = re.compile(r"^[\d,]+ (signatures|bundles)/s$")
    for limit in (LIMIT_1, LIMIT_2):
        measured, baseline = goals[limit][1], goals[limit][2]
        assert rate.match(measured), measured
        assert baseline.startswith("OpenSSL") and rate.match(baseline.split(": ")[1]), baseline
    for goal, signatures in ((GOAL_BUNDLES_1, 2), (GOAL_BUNDLES_4, 5)):
        _, measured, baseline, ratio, target, verdict = goals[goal]
        assert rate.match(measured), measured
        assert baseline.startswith(f"libsodium 1 process / {signatures} signatures: "), baseline
        assert float(ratio.rstrip("x")) > 0 and target == ">= 0.5x"
        assert verdict in ("pass", "FAIL")
    # Not selected: said so, never silently dropped.
    assert goals[GOAL_INGEST][-1] == "not run"

    rows = json.loads(out.read_text())["rows"]
    by_goal = {row["goal"]: row for row in rows}
    sodium_1 = by_goal[LIMIT_1]
    assert sodium_1["count"] > 0 and sodium_1["unit"] == "signatures"
    # The bundle baseline is libsodium's own 1-process rate shared among the signatures:
    # within a factor of 3 of the limit row's (both are measured, on a shared machine).
    sodium_rate = sodium_1["count"] / sodium_1["ours_seconds"]
    bundle_1 = by_goal[GOAL_BUNDLES_1]
    implied = 2 * bundle_1["count"] / bundle_1["baseline_seconds"]
    assert sodium_rate / 3 < implied < sodium_rate * 3
