"""tests/vectors/tiles.json against client/tiles.py (docs/protocol.md §15.7).

The vectors' paths and bundles were written without client.tiles (scripts/vectorgen/tiles.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.errors import InvalidEncoding, UsageError
from client.tiles import (
    TileRef,
    format_entry_bundle,
    format_tile_path,
    parse_entry_bundle,
    parse_tile_path,
)

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "tiles.json").read_text())


@pytest.mark.parametrize("case", VECTORS["paths"], ids=lambda c: c["path"])
def test_tile_path_formats_and_parses(case: dict) -> None:
    tile = TileRef(case["level"], case["index"], case["width"])
    assert format_tile_path(tile) == case["path"]
    assert parse_tile_path(case["path"]) == tile


@pytest.mark.parametrize("case", VECTORS["invalid_paths"], ids=lambda c: c["why"])
def test_other_spellings_are_refused(case: dict) -> None:
    with pytest.raises(UsageError):
        parse_tile_path(case["path"])


@pytest.mark.parametrize("case", VECTORS["entry_bundles"], ids=lambda c: str(c["width"]))
def test_entry_bundle_formats_and_parses(case: dict) -> None:
    leaves = [bytes.fromhex(leaf) for leaf in case["leaves"]]
    assert format_entry_bundle(leaves).hex() == case["bundle"]
    bundle = TileRef(None, 0, case["width"])
    assert parse_entry_bundle(bytes.fromhex(case["bundle"]), bundle) == leaves


@pytest.mark.parametrize("case", VECTORS["invalid_entry_bundles"], ids=lambda c: c["why"])
def test_bad_entry_bundles_are_refused(case: dict) -> None:
    with pytest.raises(InvalidEncoding):
        parse_entry_bundle(bytes.fromhex(case["bundle"]), TileRef(None, 0, case["width"]))
