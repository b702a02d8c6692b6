"""The log as C2SP tlog-tiles static resources: tile paths and the entry-bundle framing.

c2sp.org/tlog-tiles serves a transparency log as immutable files that any
tile reader (Go's ``sumdb/tlog``, Tessera clients, mirrors, witnesses) turns
into roots and proofs itself.  This module is the format, once, for both
sides: the node serves these resources (:mod:`node.tiles`, routes in
:mod:`node.api`) and ``vcledger monitor --issuer`` reads the log through them
(:mod:`client.monitor`).

* ``tile/<L>/<N>[.p/<W>]``: hash *n* ``i`` (0 <= i < 256, or < W) of tlog-tiles
  level ``L`` tile ``N`` is ``MTH(D[(256 N + i) 256**L : (256 N + i + 1) 256**L])``
  (RFC 9162 §2.1.1), i.e. node ``256 N + i`` of level ``8 L`` of the Merkle tree.
* ``tile/entries/<N>[.p/<W>]``: leaves ``256 N .. 256 N + W - 1``, each as a
  big-endian uint16 length and the leaf bytes (an event or a block header,
  docs/protocol.md §8: what the log's RFC 9162 leaf hash ``SHA-256(0x00 || leaf)``
  covers).  Leaves are 1..:data:`client.block.MAX_LEAF_SIZE` bytes, far under
  the 65,535 a prefix can say; nothing follows the last leaf.
* ``<N>`` is written in 3-digit groups, all but the last prefixed with ``x``
  (``1234067`` is ``x001/x234/067``); ``.p/<W>`` (1 <= W <= 255) names a partial
  tile.  Decimal numbers have no leading zeros.  Parsing re-formats and compares,
  so each resource has exactly one path.

A tree of size ``s`` has each tile (bundle) as wide as ``s`` reaches into it,
up to 256 (tlog-tiles, "Partial Tiles"): a partial tile of width ``W`` is the
first ``W`` hashes of its tile whatever the log's size now, so a resource
never changes once it exists (:attr:`TileRef.end`).

Pure: no I/O.  A path that is not a tile path is :class:`UsageError`; an
entry bundle whose framing is wrong is :class:`InvalidEncoding`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from client.block import MAX_LEAF_SIZE
from client.errors import InvalidEncoding, UsageError

__all__ = [
    "ENTRIES_LEVEL",
    "MAX_INDEX_GROUPS",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileRef",
    "entry_bundles",
    "format_entry_bundle",
    "format_tile_path",
    "parse_entry_bundle",
    "parse_tile_path",
]

TILE_HEIGHT = 8
"""tlog-tiles level ``L`` is level ``TILE_HEIGHT * L`` of the Merkle tree."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile, leaves in a full entry bundle: 256."""

MAX_TILE_LEVEL = 63
"""The largest ``<L>`` a tile path may name (tlog-tiles, "Merkle Tree")."""

ENTRIES_LEVEL = "entries"
"""The path element that stands in for ``<L>`` in an entry bundle's path."""

MAX_INDEX_GROUPS = 7
"""3-digit groups of ``<N>``: 7 reach 10**21, past any tile of a log of 2**64 - 1 leaves."""

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
    def first(self) -> int:
        """The position, in its level, of the resource's first hash; for an entry
        bundle, the log index of its first leaf."""
        return self.index * TILE_WIDTH

    @property
    def end(self) -> int:
        """The log size from which all of this resource exists."""
        level = 0 if self.level is None else self.level
        return (self.first + self.width) << (TILE_HEIGHT * level)


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


def entry_bundles(start: int, end: int) -> Iterator[TileRef]:
    """The entry bundles that hold leaves ``start .. end - 1`` of a tree of size ``end``,
    in order.

    The last is partial unless ``end`` is a multiple of 256: a tree of that size
    has only that prefix of the bundle.  The first may begin before ``start``
    (a reader that stopped mid-bundle).
    """
    for index in range(start // TILE_WIDTH, -(-end // TILE_WIDTH)):
        yield TileRef(None, index, min(TILE_WIDTH, end - index * TILE_WIDTH))


def format_entry_bundle(leaves: Sequence[bytes]) -> bytes:
    """The entry bundle of ``leaves``: each as a big-endian uint16 length and its bytes.

    Precondition: every leaf is a log leaf (1..MAX_LEAF_SIZE bytes) and there
    are 1..256 of them.
    """
    assert 1 <= len(leaves) <= TILE_WIDTH, len(leaves)
    return b"".join(_LENGTH_PREFIX.pack(len(leaf)) + leaf for leaf in leaves)


def parse_entry_bundle(untrusted_bundle: bytes, bundle: TileRef) -> list[bytes]:
    """The ``bundle.width`` leaves of entry bundle ``bundle``, served as ``untrusted_bundle``.

    Only the framing is checked (:class:`InvalidEncoding` if it is wrong): every
    length 1..MAX_LEAF_SIZE, exactly ``bundle.width`` entries, nothing after the
    last.  Whether the leaves are the log's is for the caller to prove against
    a checkpoint.  Precondition: ``bundle`` is an entry bundle (level None).
    """
    assert bundle.level is None, bundle
    leaves: list[bytes] = []
    offset = 0
    while offset < len(untrusted_bundle):
        if len(leaves) == bundle.width:
            raise InvalidEncoding(f"entry bundle {format_tile_path(bundle)} has bytes after "
                                  f"its {bundle.width} entries")
        if offset + _LENGTH_PREFIX.size > len(untrusted_bundle):
            raise InvalidEncoding(f"entry bundle {format_tile_path(bundle)} ends inside the "
                                  f"length of entry {len(leaves)}")
        (length,) = _LENGTH_PREFIX.unpack_from(untrusted_bundle, offset)
        offset += _LENGTH_PREFIX.size
        if not 0 < length <= MAX_LEAF_SIZE:
            raise InvalidEncoding(f"entry bundle {format_tile_path(bundle)}: entry "
                                  f"{len(leaves)} has {length} bytes (a log leaf has "
                                  f"1..{MAX_LEAF_SIZE})")
        if offset + length > len(untrusted_bundle):
            raise InvalidEncoding(f"entry bundle {format_tile_path(bundle)} ends inside entry "
                                  f"{len(leaves)}")
        leaves.append(untrusted_bundle[offset:offset + length])
        offset += length
    if len(leaves) != bundle.width:
        raise InvalidEncoding(f"entry bundle {format_tile_path(bundle)} holds {len(leaves)} "
                              f"entries, not {bundle.width}")
    return leaves
