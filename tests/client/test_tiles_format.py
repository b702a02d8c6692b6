"""The C2SP tlog-tiles format (:mod:`client.tiles`): paths and the entry-bundle framing.

Paths are checked against a formatter written here from the specification's
own examples, and every other spelling of a resource is refused; bundles are
checked against an encoder written here with ``struct``.  That the node
serves these resources, and that they hash to its checkpoints, is
tests/node/test_tiles.py (with a tile reader of its own).
"""

from __future__ import annotations

import struct

import pytest

from client.block import MAX_LEAF_SIZE
from client.errors import InvalidEncoding, UsageError
from client.tiles import (
    MAX_TILE_LEVEL,
    TILE_WIDTH,
    TileRef,
    entry_bundles,
    format_entry_bundle,
    format_tile_path,
    parse_entry_bundle,
    parse_tile_path,
)


def naive_path(level: int | str, index: int, width: int) -> str:
    digits = str(index).zfill(3)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    number = "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])
    return f"tile/{level}/{number}" + ("" if width == 256 else f".p/{width}")


def naive_bundle(leaves: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(leaf)) + leaf for leaf in leaves)


# -- paths -------------------------------------------------------------------------------------


def test_the_specifications_examples() -> None:
    assert format_tile_path(TileRef(4, 1234067, 8)) == "tile/4/x001/x234/067.p/8"
    assert format_tile_path(TileRef(None, 1234067)) == "tile/entries/x001/x234/067"
    assert format_tile_path(TileRef(None, 5, 7)) == "tile/entries/005.p/7"
    assert parse_tile_path("tile/4/x001/x234/067.p/8") == TileRef(4, 1234067, 8)
    assert parse_tile_path("tile/entries/x001/000") == TileRef(None, 1000)


@pytest.mark.parametrize("level", [None, 0, 1, 9, MAX_TILE_LEVEL])
def test_paths_round_trip_and_match_a_naive_formatter(level: int | None) -> None:
    for index in (0, 1, 5, 999, 1000, 1001, 256**3, 1234067, 10**18, 10**21 - 1):
        for width in (1, 7, 255, TILE_WIDTH):
            tile = TileRef(level, index, width)
            path = format_tile_path(tile)
            assert path == naive_path("entries" if level is None else level, index, width)
            assert parse_tile_path(path) == tile


@pytest.mark.parametrize(("path", "reason"), [
    ("", "not a tile path"),
    ("tile/0", "not a tile path"),
    ("tiles/0/000", "not a tile path"),
    ("/tile/0/000", "not a tile path"),
    ("tile/64/000", "tile level '64'"),
    ("tile/00/000", "tile level '00'"),
    ("tile/-1/000", "tile level '-1'"),
    ("tile/data/000", "tile level 'data'"),
    ("tile/0/000.p/0", "partial tile width '0'"),
    ("tile/0/000.p/256", "partial tile width '256'"),
    ("tile/0/000.p/05", "partial tile width '05'"),
    ("tile/0/000.p/", "partial tile width ''"),
    ("tile/0/00", "3-digit groups"),
    ("tile/0/0000", "3-digit groups"),
    ("tile/0/001/002", "3-digit groups"),
    ("tile/0/x1/001", "3-digit groups"),
    ("tile/0/000.p", "3-digit groups"),
    ("tile/0/000.q/5", "3-digit groups"),
    ("tile/0/000/", "3-digit groups"),
    ("tile/0/%30%30%30", "3-digit groups"),
    ("tile/0/" + "x999/" * 7 + "999", "more than 7 groups"),
    # Another spelling of a resource that has a path: refused, not redirected.
    ("tile/0/x000/001", "not the canonical path"),
    ("tile/entries/x000/000", "not the canonical path"),
])
def test_every_other_spelling_is_refused(path: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        parse_tile_path(path)


def test_a_resource_exists_from_the_tree_size_that_fills_it() -> None:
    # The specification's tree of 70,000: tile 1/001 is 17 wide, 2/000 is 1 wide.
    assert TileRef(0, 273, 112).end == 70_000
    assert TileRef(1, 1, 17).end == (256 + 17) * 256 <= 70_000 < (256 + 18) * 256
    assert TileRef(2, 0, 1).end == 65_536
    assert TileRef(None, 3, 5).end == 3 * 256 + 5 and TileRef(None, 3, 5).first == 768
    assert TileRef(1, 2).first == 512 and TileRef(1, 2).end == 3 * 256 * 256


# -- entry bundles -------------------------------------------------------------------------------


def test_entry_bundles_cover_exactly_the_unread_leaves_of_a_tree_size() -> None:
    def plan(start: int, end: int) -> list[tuple[int, int]]:
        bundles = list(entry_bundles(start, end))
        assert all(b.level is None for b in bundles)
        return [(b.index, b.width) for b in bundles]

    assert plan(0, 0) == [] and plan(256, 256) == []
    assert plan(0, 1) == [(0, 1)]
    assert plan(0, 256) == [(0, 256)]
    assert plan(0, 257) == [(0, 256), (1, 1)]
    # A run that stopped mid-bundle re-reads that bundle's start; the last is partial.
    assert plan(300, 600) == [(1, 256), (2, 88)]
    assert plan(511, 512) == [(1, 256)]


LEAVES = [b"\x01", bytes(range(256)) * 3, b"leaf " * 40]


def test_a_bundle_is_each_leaf_after_its_uint16_length() -> None:
    assert format_entry_bundle(LEAVES) == naive_bundle(LEAVES)
    assert format_entry_bundle([b"ab"]) == b"\x00\x02ab"
    longest = bytes(MAX_LEAF_SIZE)
    assert format_entry_bundle([longest])[:2] == MAX_LEAF_SIZE.to_bytes(2, "big")
    full = [i.to_bytes(2, "big") for i in range(TILE_WIDTH)]
    assert parse_entry_bundle(format_entry_bundle(full), TileRef(None, 9)) == full
    assert parse_entry_bundle(naive_bundle(LEAVES), TileRef(None, 0, 3)) == LEAVES


def test_entry_bundle_framing_is_checked() -> None:
    ref = TileRef(None, 0, 3)
    for broken, reason in [
        (naive_bundle(LEAVES) + b"\x00", "bytes after its 3 entries"),
        (naive_bundle(LEAVES)[:-1], "ends inside entry 2"),
        (naive_bundle(LEAVES[:2]) + b"\x00", "ends inside the length of entry 2"),
        (naive_bundle(LEAVES[:2]), "holds 2 entries, not 3"),
        (b"", "holds 0 entries, not 3"),
        (naive_bundle([LEAVES[0], b"", LEAVES[2]]), "entry 1 has 0 bytes"),
        (naive_bundle(LEAVES[:2]) + struct.pack(">H", MAX_LEAF_SIZE + 1)
         + bytes(MAX_LEAF_SIZE + 1), f"entry 2 has {MAX_LEAF_SIZE + 1} bytes"),
    ]:
        with pytest.raises(InvalidEncoding, match=reason) as caught:
            parse_entry_bundle(broken, ref)
        assert "tile/entries/000.p/3" in str(caught.value)


def test_every_truncation_and_every_extension_of_a_bundle_is_refused() -> None:
    bundle = naive_bundle(LEAVES)
    ref = TileRef(None, 0, len(LEAVES))
    for cut in range(len(bundle)):
        with pytest.raises(InvalidEncoding):
            parse_entry_bundle(bundle[:cut], ref)
    for extra in (b"\x00", b"\x00\x01x", naive_bundle([b"more"])):
        with pytest.raises(InvalidEncoding, match="bytes after its 3 entries"):
            parse_entry_bundle(bundle + extra, ref)
