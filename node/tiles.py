"""The log as C2SP tlog-tiles static resources, read from the node's store.

The format (paths, :class:`TileRef`, the entry-bundle framing) is
:mod:`client.tiles`; this module serves it from :class:`node.tlog.PersistentLog`.
Hashes of tlog-tiles level ``L`` are nodes of level ``8 L`` of :mod:`node.tlog`,
whose stored tile ``(8 L, N)`` holds exactly the hashes of tlog-tiles tile
``L/N``: every tlog-tiles tile is a stored tile or a prefix of one, served
without rehashing.

A tile or bundle is served once all its hashes (entries) exist in the log, and
never changes after (:attr:`client.tiles.TileRef.end`), so every partial tile
of every past checkpoint stays available (the specification lets a log delete
them; this one need not).  Anything beyond the log is
:class:`node.errors.NotFound`; a path that is not a tile path is
:class:`client.errors.UsageError` (from :func:`client.tiles.parse_tile_path`,
which the routes in :mod:`node.api` call before this module).
"""

from __future__ import annotations

from client.tiles import TILE_HEIGHT, TILE_WIDTH, TileRef, format_entry_bundle, format_tile_path
from node.errors import NotFound
from node.tlog import TILE_WIDTH as STORED_TILE_WIDTH
from node.tlog import PersistentLog

__all__ = ["CHECKPOINT_CACHE_CONTROL", "IMMUTABLE_CACHE_CONTROL", "read_tile"]

assert STORED_TILE_WIDTH == TILE_WIDTH, "a stored tile would not be a tlog-tiles tile"

IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Tiles and entry bundles: their bytes never change (tlog-tiles: "long-lived")."""

CHECKPOINT_CACHE_CONTROL = "public, max-age=2"
"""The checkpoint changes with each block; tlog-tiles: no caching "beyond a few seconds"."""


def read_tile(log: PersistentLog, tile: TileRef) -> bytes:
    """The bytes of ``tile``: its hashes concatenated, or its entry bundle.

    :class:`NotFound` unless the log already holds all of it.
    """
    size = log.size
    if tile.end > size:
        raise NotFound(f"{format_tile_path(tile)} is not in the log of {size} entries yet")
    if tile.level is None:
        return format_entry_bundle(log.leaves(tile.first, tile.first + tile.width))
    return log.tile(TILE_HEIGHT * tile.level, tile.index, tile.width)
