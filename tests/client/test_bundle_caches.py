"""The client's parse caches can only ever save work, never change a verdict.

Bundles checked together share pieces (the checkpoint note, the header, the issuer's
record and proof), so ``client`` caches the parsing of those pieces by exact text or
bytes (client/bundle.py, client/bundle_checks.py, client/note.py, client/checkpoint.py,
client/keys.py).  A cache keyed by less than the full input, or one that kept a failure
or a verified result, would let one bundle's verdict leak into another's.  These tests
change one character of every piece of real bundles (the protocol vectors) and check
that the verdict with every cache warm from the original bundle is the verdict with
every cache empty, that it is not the original's, and that the original's verdict is
unchanged afterwards.
"""

from __future__ import annotations

import copy
import functools
import json
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import client  # noqa: F401  (the package whose modules hold the caches)
from client.trust import parse_trust
from client.verdict import Verdict
from client.verify import verify_bundle

ROOT = Path(__file__).resolve().parents[2]
VALID = json.loads((ROOT / "tests" / "vectors" / "bundle_valid.json").read_text())
TRUST = parse_trust(json.dumps(VALID["trust"]))
CASES = {case["name"]: case for case in VALID["cases"]}

_HEX = "0123456789abcdef"
_BASE64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
POSITIONS_PER_PIECE = 6


def client_caches() -> list[Any]:
    """Every ``functools.lru_cache`` held by a module of the client package."""
    found: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if name != "client" and not name.startswith("client."):
            continue
        for value in vars(module).values():
            if isinstance(value, functools._lru_cache_wrapper):
                found[id(value)] = value
    return list(found.values())


def clear_caches() -> None:
    for cache in client_caches():
        cache.cache_clear()


def verdict(case: dict[str, Any], bundle: dict[str, Any]) -> Verdict:
    options = case["verify"]
    credential = None if options["digest_only"] else case["credential_json"].encode()
    return verify_bundle(json.dumps(bundle), TRUST, credential_json=credential,
                         digest_only=options["digest_only"], now=options["now"],
                         at=options["at"], expected_issuer=options["expected_issuer"])


def pieces(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...],
                                                                           str]]:
    """Every string in the bundle document with its path (the format name aside)."""
    if isinstance(value, dict):
        for member, inner in value.items():
            if member != "format":
                yield from pieces(inner, (*path, member))
    elif isinstance(value, list):
        for position, inner in enumerate(value):
            yield from pieces(inner, (*path, position))
    elif isinstance(value, str):
        yield path, value


def changed(text: str, position: int) -> str:
    """``text`` with the character at ``position`` replaced by another of its alphabet,
    so the piece still looks like what it is (hex stays hex, base64 stays base64)."""
    character = text[position]
    for alphabet in (_HEX, _BASE64, string.ascii_letters + string.digits):
        if character in alphabet:
            replacement = alphabet[(alphabet.index(character) + 1) % len(alphabet)]
            break
    else:
        replacement = "x"
    return text[:position] + replacement + text[position + 1:]


def with_piece(bundle: dict[str, Any], path: tuple[str | int, ...], text: str
               ) -> dict[str, Any]:
    mutant = copy.deepcopy(bundle)
    container: Any = mutant
    for step in path[:-1]:
        container = container[step]
    container[path[-1]] = text
    return mutant


def mutants(bundle: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, text in pieces(bundle):
        step = max(1, len(text) // POSITIONS_PER_PIECE)
        # The last character too: a cache keyed by a prefix would miss it.
        for position in sorted({*range(0, len(text), step), len(text) - 1}):
            name = "/".join(map(str, path)) + f"[{position}]"
            yield name, with_piece(bundle, path, changed(text, position))


@pytest.mark.parametrize("name", ["direct_valid", "batch_valid", "direct_revoked"])
def test_a_warm_cache_never_changes_a_verdict(name: str) -> None:
    case = CASES[name]
    bundle = case["bundle"]
    clear_caches()
    original = verdict(case, bundle)
    assert original.status == case["expected"]["status"]
    checked = 0
    for where, mutant in mutants(bundle):
        clear_caches()
        cold = verdict(case, mutant)
        verdict(case, bundle)  # every piece of the original is now cached
        warm = verdict(case, mutant)
        assert warm == cold, where
        assert warm != original, f"changing {where} went unnoticed"
        assert verdict(case, bundle) == original, f"{where} poisoned a cache"
        checked += 1
    # Every piece was changed at several places, the long ones at six or more.
    assert checked >= 6 * len(list(pieces(bundle)))


def test_every_cache_is_bounded() -> None:
    # Importing the verifier loads every module a verification touches.
    caches = client_caches()
    assert len(caches) >= 8, "the walk should find the parse caches"
    unbounded = [cache.__wrapped__.__qualname__ for cache in caches
                 if cache.cache_info().maxsize is None]
    assert not unbounded, f"unbounded caches: {unbounded}"
