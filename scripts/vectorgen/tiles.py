"""C2SP tlog-tiles vectors: tile paths and entry bundles (docs/protocol.md §15.7).

Paths are written here from the tlog-tiles rules restated (3-digit groups, ``x`` on all
but the last, ``.p/<W>`` for a partial tile), not with :mod:`client.tiles`; entry bundles
with ``struct``.  Checked by tests/protocol/test_tiles_vectors.py.
"""

from __future__ import annotations

import struct


def _path(level: int | None, index: int, width: int) -> str:
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    name = "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])
    partial = "" if width == 256 else f".p/{width}"
    return f"tile/{'entries' if level is None else level}/{name}{partial}"


TILES = [(0, 0, 256), (0, 5, 256), (0, 1234067, 5), (1, 0, 1), (2, 999, 255), (63, 0, 1),
         (None, 0, 256), (None, 1000, 17), (None, 2**56 - 1, 256)]

INVALID_PATHS = [
    ("tile/0/x000/005", "needless x000 group"),
    ("tile/0/005.p/256", "a full tile spelled as partial"),
    ("tile/0/005.p/0", "width 0"),
    ("tile/0/005.p/07", "width with a leading zero"),
    ("tile/00/005", "level with a leading zero"),
    ("tile/64/000", "level above 63"),
    ("tile/0/5", "index not in 3-digit groups"),
    ("tile/0/1234", "index group of 4 digits"),
    ("tile/0/001/234", "high group without x"),
    ("tile/0/x001/x234/x067", "last group with x"),
    ("tile/0/x001/x002/x003/x004/x005/x006/x007/008", "more than 7 groups"),
    ("tile/entry/000", "neither a level nor 'entries'"),
    ("tiles/0/000", "not under tile/"),
    ("tile/0", "no index"),
]


def _bundle(leaves: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(leaf)) + leaf for leaf in leaves)


MAX_LEAF_SIZE = 4096
"""An event's cap (docs/protocol.md §6), above a block header's 512."""

LEAVES = [b"\x01", b"\x92\x01\xa3abc", bytes(range(256)) * 16]


def generate() -> dict[str, object]:
    good = _bundle(LEAVES)
    return {"tiles.json": {
        "description": "C2SP tlog-tiles resources (docs/protocol.md §15.7). 'paths': each "
                       "(level, index, width) and its one path below the log's prefix (level "
                       "null: the entry bundle); 'invalid_paths' are refused. 'entry_bundles': "
                       "leaves (hex) and the bundle of a tile of that width; "
                       "'invalid_entry_bundles': bytes refused for a bundle of 'width'.",
        "paths": [{"level": lv, "index": n, "width": w, "path": _path(lv, n, w)}
                  for lv, n, w in TILES],
        "invalid_paths": [{"path": p, "why": why} for p, why in INVALID_PATHS],
        "entry_bundles": [
            {"width": len(LEAVES), "leaves": [leaf.hex() for leaf in LEAVES], "bundle": good.hex()},
            {"width": 1, "leaves": ["00"], "bundle": "000100"},
        ],
        "invalid_entry_bundles": [
            {"width": 3, "bundle": good[:-1].hex(), "why": "ends inside the last entry"},
            {"width": 3, "bundle": (good + b"\x00").hex(), "why": "ends inside a length"},
            {"width": 3, "bundle": (good + _bundle([b"\x01"])).hex(),
             "why": "bytes after the entries"},
            {"width": 4, "bundle": good.hex(), "why": "fewer entries than the width"},
            {"width": 1, "bundle": "0000", "why": "an entry of 0 bytes"},
            {"width": 1, "bundle": _bundle([b"\x01" * (MAX_LEAF_SIZE + 1)]).hex(),
             "why": "an entry longer than a log leaf"},
            {"width": 1, "bundle": "", "why": "empty"},
        ],
    }}
