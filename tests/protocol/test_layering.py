"""The package boundaries of DESIGN.md, enforced: a failing test, not a convention."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
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
                       "durations", "tiles", "pathway_verify", "pathway_verdict",
                       "pathway_requirements"]
PURE_NODE_MODULES = ["consensus", "consensus_types", "consensus_log", "consensus_messages",
                     "consensus_snapshot", "driver", "driver_types", "rules", "statemap_tree",
                     "wire", "records"]
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


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` under ``root``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def load_time_imports(path: Path) -> set[str]:
    """What importing ``path`` imports: module-level statements, including those under a
    top-level ``if``/``try``, but not ``if TYPE_CHECKING:`` (never run) nor function
    bodies (run later, once every module is loaded).  ``from p import m`` yields both
    ``p`` and ``p.m``, since ``m`` may be a module."""
    names: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.Import):
                names.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
                names.add(statement.module)
                names.update(f"{statement.module}.{alias.name}" for alias in statement.names)
            elif isinstance(statement, ast.If):
                if not (isinstance(statement.test, ast.Name)
                        and statement.test.id == "TYPE_CHECKING"):
                    visit(statement.body)
                    visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
                visit(statement.orelse)
                visit(statement.finalbody)
                for handler in statement.handlers:
                    visit(handler.body)

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    return names


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports at load time."""
    modules = module_files(root, packages)
    return {name: (load_time_imports(path) & modules.keys()) - {name}
            for name, path in modules.items()}


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per back edge a depth-first walk finds."""
    on_path: list[str] = []
    done: set[str] = set()
    cycles: list[list[str]] = []

    def walk(module: str) -> None:
        on_path.append(module)
        for imported in sorted(graph[module]):
            if imported in on_path:
                cycles.append([*on_path[on_path.index(imported):], imported])
            elif imported not in done:
                walk(imported)
        on_path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            walk(module)
    return cycles


def import_depth(graph: Mapping[str, set[str]]) -> int:
    """Modules on the longest import chain (precondition: no cycles)."""

    @functools.cache
    def depth(module: str) -> int:
        return 1 + max((depth(imported) for imported in graph[module]), default=0)

    return max(depth(module) for module in graph)


def test_the_import_graph_has_no_cycles() -> None:
    """A cycle means two modules that cannot be understood, tested or loaded apart, and
    one of its arrows points up; with none, every module sits above what it imports."""
    graph = import_graph(ROOT, ("client", "node"))
    assert "node.consensus" in graph and "client.encoding" in graph["node.consensus"]
    assert import_cycles(graph) == []
    # Not a budget, a tripwire: a chain this long means layers are collapsing into one.
    assert import_depth(graph) <= 20


def test_the_cycle_check_sees_cycles(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("import pkg.c\n\ndef later() -> None:\n    import pkg.a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    import pkg.a\ntry:\n    from pkg.a import x\n"
                                  "except ImportError:\n    pass\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.b"] == {"pkg.c"}  # the function-level import is not a load-time one
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    (package / "c.py").write_text("")
    assert import_cycles(import_graph(tmp_path, ["pkg"])) == []
    assert import_depth(import_graph(tmp_path, ["pkg"])) == 3
