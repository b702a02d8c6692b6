"""The package boundaries of DESIGN.md, enforced: a failing test, not a convention."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


def test_pure_protocol_modules_do_no_io() -> None:
    """The protocol core never touches the network, the event loop or the database."""
    pure = ["encoding", "hashes", "merkle", "batch", "keys", "note", "checkpoint", "events",
            "credentials", "smt", "bundle", "verify", "trust", "tlogproof", "durations"]
    forbidden = NETWORK_MODULES | {"asyncio", "plyvel"}
    offenders = {}
    for name in pure:
        path = ROOT / "client" / f"{name}.py"
        if path.exists():
            modules = imported_modules(path)
            bad = {m for m in modules if m.split(".")[0] in forbidden or m in forbidden}
            if bad:
                offenders[name] = sorted(bad)
    assert offenders == {}
