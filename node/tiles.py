"""The log as C2SP tlog-tiles static resources: tile paths, tiles and entry bundles.

c2sp.org/tlog-tiles serves a transparency log as immutable files that any
tile reader (Go's ``sumdb/tlog``, Tessera clients, mirrors, witnesses) turns
into roots and proofs itself:

* ``tile/<L>/<N>[.p/<W>]``: hash *n* ``i`` (0 <= i < 256, or < W) of tlog-tiles
  level ``L`` tile ``N`` is ``MTH(D[(256 N + i) 256**L : (256 N + i + 1) 256**L])``.
  That is node ``256 N + i`` of level ``8 L`` of :mod:`node.tlog`, whose stored
  tile ``(8 L, N)`` holds exactly these hashes: every tlog-tiles tile is a stored
  tile or a prefix of one, served without rehashing.
* ``tile/entries/<N>[.p/<W>]``: leaves ``256 N .. 256 N + W - 1``, each as a
  big-endian uint16 length and the leaf bytes (an event or a block header,
  docs/protocol.md §8: what the log's RFC 9162 leaf hash ``SHA-256(0x00 || leaf)``
  covers).  Leaves are at most :data:`client.block.MAX_LEAF_SIZE` bytes, far
  under the 65,535 a prefix can say.
* ``<N>`` is written in 3-digit groups, all but the last prefixed with ``x``
  (``1234067`` is ``x001/x234/067``); ``.p/<W>`` (1 <= W <= 255) names a partial
  tile.  Decimal numbers have no leading zeros.  Parsing re-formats and compares,
  so each resource has exactly one path.

A tile or bundle is served once all its hashes (entries) exist in the log, and
never changes after: a partial tile of width ``W`` is the first ``W`` hashes of
its tile whatever the log's size now, so every partial tile of every past
checkpoint stays available (the specification lets a log delete them; this one
need not).  Anything beyond the log is :class:`node.errors.NotFound`; a path
that is not a tile path is :class:`client.errors.UsageError`.  Pure functions
over :class:`node.tlog.PersistentLog`: the HTTP routes are in :mod:`node.api`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from client.block import MAX_LEAF_SIZE
from client.errors import UsageError
from node.errors import NotFound
from node.tlog import TILE_WIDTH, PersistentLog

__all__ = [
    "CHECKPOINT_CACHE_CONTROL",
    "ENTRIES_LEVEL",
    "IMMUTABLE_CACHE_CONTROL",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TileRef",
    "format_tile_path",
    "parse_tile_path",
    "read_tile",
]

TILE_HEIGHT = 8
"""tlog-tiles level ``L`` is level ``TILE_HEIGHT * L`` of the Merkle tree (256 = 2**8 wide)."""

MAX_TILE_LEVEL = 63
"""The largest ``<L>`` a tile path may name (tlog-tiles, "Merkle Tree")."""

ENTRIES_LEVEL = "entries"
"""The path element that stands in for ``<L>`` in an entry bundle's path."""

MAX_INDEX_GROUPS = 7
"""3-digit groups of ``<N>``: 7 reach 10**21, past any tile of a log of 2**64 - 1 leaves."""

IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Tiles and entry bundles: their bytes never change (tlog-tiles: "long-lived")."""

CHECKPOINT_CACHE_CONTROL = "public, max-age=2"
"""The checkpoint changes with each block; tlog-tiles: no caching "beyond a few seconds"."""

_LENGTH_PREFIX = struct.Struct(">H")
_GROUP = re.compile(r"[0-9]{3}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,2}")

assert MAX_LEAF_SIZE <= 0xFFFF, "an entry bundle's uint16 prefix could not hold a leaf"


@dataclass(frozen=True, slots=True)
class TileRef:
    """One tlog-tiles resource: tile ``index`` of ``level`` with ``width`` hashes or entries.

    ``level`` is the tlog-tiles level (0..63) or None for the entry bundle;
    ``width`` is 256 for a full tile, 1..255 for a partial one.
    """

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def end(self) -> int:
        """The log size from which all of this resource exists."""
        level = 0 if self.level is None else self.level
        return (self.index * TILE_WIDTH + self.width) << (TILE_HEIGHT * level)


def format_tile_path(tile: TileRef) -> str:
    """The path of ``tile`` below the log's prefix, e.g. ``tile/0/x001/x234/067.p/5``."""
    digits = f"{tile.index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    index = "/".join([*("x" + group for group in groups[:-1]), groups[-1]])
    level = ENTRIES_LEVEL if tile.level is None else str(tile.level)
    partial = "" if tile.width == TILE_WIDTH else f".p/{tile.width}"
    return f"tile/{level}/{index}{partial}"


def parse_tile_path(path: str) -> TileRef:
    """The resource a path (``tile/...``, as :func:`format_tile_path` writes) names.

    :class:`UsageError` for anything else, including another spelling of the
    same resource (leading zeros, a needless ``x000/`` group, ``.p/256``).
    """
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise UsageError(f"{path!r} is not a tile path: tile/<L>/<N>[.p/<W>]")
    level_text, rest = parts[1], parts[2:]
    level: int | None
    if level_text == ENTRIES_LEVEL:
        level = None
    elif _DECIMAL.fullmatch(level_text) and int(level_text) <= MAX_TILE_LEVEL:
        level = int(level_text)
    else:
        raise UsageError(f"tile level {level_text!r} is not a decimal in 0..{MAX_TILE_LEVEL} "
                         "(nor 'entries')")
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width_text = rest[-1]
        if not (_DECIMAL.fullmatch(width_text) and 1 <= int(width_text) < TILE_WIDTH):
            raise UsageError(f"partial tile width {width_text!r} is not a decimal in "
                             f"1..{TILE_WIDTH - 1}")
        width = int(width_text)
        rest = [*rest[:-2], rest[-2].removesuffix(".p")]
    if len(rest) > MAX_INDEX_GROUPS:
        raise UsageError(f"tile index {'/'.join(rest)!r} has more than {MAX_INDEX_GROUPS} "
                         "groups of 3 digits")
    *high, last = rest
    if not (_GROUP.fullmatch(last)
            and all(g.startswith("x") and _GROUP.fullmatch(g[1:]) for g in high)):
        raise UsageError(f"tile index {'/'.join(rest)!r} is not 3-digit groups, all but the "
                         "last prefixed with x (1234067 is x001/x234/067)")
    tile = TileRef(level, int("".join(g.removeprefix("x") for g in rest)), width)
    if format_tile_path(tile) != path:
        raise UsageError(f"{path!r} is not the canonical path of its tile; "
                         f"that is {format_tile_path(tile)!r}")
    return tile


def read_tile(log: PersistentLog, tile: TileRef) -> bytes:
    """The bytes of ``tile``: its hashes concatenated, or its entry bundle.

    :class:`NotFound` unless the log already holds all of it.
    """
    size = log.size
    if tile.end > size:
        raise NotFound(f"{format_tile_path(tile)} is not in the log of {size} entries yet")
    start = tile.index * TILE_WIDTH
    if tile.level is None:
        return b"".join(_LENGTH_PREFIX.pack(len(leaf)) + leaf
                        for leaf in log.leaves(start, start + tile.width))
    return log.tile(TILE_HEIGHT * tile.level, tile.index, tile.width)
