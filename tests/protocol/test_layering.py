"""The package boundaries of DESIGN.md, enforced: a failing test, not a convention."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The offline verifier must work with no network stack loaded at all.
NETWORK_MODULES = {"aiohttp", "socket", "http", "urllib", "requests", "client.http"}
STORAGE_MODULE = "node/store.py"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_client_never_imports_node() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files("client")
        if any(name == "node" or name.startswith("node.") for name in imported_modules(path))
    ]
    assert offenders == []


def test_only_the_storage_module_imports_plyvel() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("client", "node")
        for path in python_files(package)
        if "plyvel" in imported_modules(path) and str(path.relative_to(ROOT)) != STORAGE_MODULE
    ]
    assert offenders == []


CLOCK_MODULES = {"time", "datetime"}
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "time_ns",
               "monotonic_ns"}
PURE_CLIENT_MODULES = ["encoding", "hashes", "merkle", "batch", "keys", "note", "checkpoint",
                       "events", "credentials", "smt", "bundle", "verify", "trust", "tlogproof",
                       "durations"]
PURE_NODE_MODULES = ["consensus", "driver", "rules", "smt", "wire", "records"]
"""The node's core: state machines, rules, tree maths and formats.  ``now`` is an argument."""


def existing(package: str, names: list[str]) -> list[Path]:
    """The listed modules' paths; a listed module that is gone fails the test, so a
    rename cannot quietly drop a module from the check."""
    paths = [ROOT / package / f"{name}.py" for name in names]
    missing = [str(path.relative_to(ROOT)) for path in paths if not path.exists()]
    assert missing == [], f"listed as pure but missing (renamed? update the list): {missing}"
    return paths


def forbidden_imports(path: Path, forbidden: set[str]) -> list[str]:
    return sorted(m for m in imported_modules(path)
                  if m.split(".")[0] in forbidden or m in forbidden)


def clock_reads(path: Path) -> list[str]:
    """``datetime.now()``, ``time.monotonic()`` and the like, however they were imported."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return sorted(f"line {node.lineno}: {ast.unparse(node)}" for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr in CLOCK_READS
                  and isinstance(node.value, ast.Name)
                  and node.value.id in {"time", "datetime", "date"})


def test_pure_protocol_modules_do_no_io() -> None:
    """The protocol core never touches the network, the event loop or the database."""
    forbidden = NETWORK_MODULES | {"asyncio", "plyvel"}
    offenders = {}
    for path in existing("client", PURE_CLIENT_MODULES):
        bad = forbidden_imports(path, forbidden)
        if bad:
            offenders[path.stem] = bad
    assert offenders == {}


def test_pure_node_modules_do_no_io_and_read_no_clock() -> None:
    """The consensus machine, its driver, the rules, the trees and the formats run the
    same in the node and in the simulation: no event loop, sockets or clocks."""
    forbidden = NETWORK_MODULES | CLOCK_MODULES | {"asyncio", "plyvel", "selectors", "ssl",
                                                   "threading", "concurrent"}
    offenders = {}
    for path in existing("node", PURE_NODE_MODULES):
        bad = forbidden_imports(path, forbidden) + clock_reads(path)
        if bad:
            offenders[path.stem] = bad
    assert offenders == {}


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """Guard against a layering test that passes because it sees nothing."""
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio\nfrom datetime import datetime\n"
                      "x = datetime.now()\nimport time as t\n")
    assert forbidden_imports(sample, {"asyncio", "time"}) == ["asyncio", "time"]
    assert clock_reads(sample) == ["line 3: datetime.now"]
    try:
        existing("node", ["no_such_module"])
    except AssertionError:
        pass
    else:
        raise AssertionError("a missing module passed the check")
