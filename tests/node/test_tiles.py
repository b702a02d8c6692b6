"""The C2SP tlog-tiles read API, read by a tile reader of this file's own.

The reader knows only the specification (c2sp.org/tlog-tiles) and RFC 9162:
it hashes with hashlib, never with node.tlog or client.merkle, fetches tiles
for one tree size, and from them alone recomputes the root, inclusion proofs
and consistency proofs, which it checks with its own RFC 9162 verifiers
against the checkpoints the node serves.  A node that served a wrong hash,
the wrong tile for a path, or entries that do not hash to the level-0 tile
fails here, whatever vcledger's own Merkle code believes.

Two logs are read: a real node over HTTP (level 0, partial tiles of past
checkpoints, errors, headers), and a 70,000-leaf log in a store (the
specification's own example: partial tiles at levels 0, 1 and 2).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import struct
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import msgpack
import pytest

from client.checkpoint import verify_checkpoint
from client.tiles import TileRef, format_tile_path, parse_tile_path
from node.errors import NotFound
from node.store import Store
from node.tiles import read_tile
from node.tlog import PersistentLog
from tests.nodeutil import (
    FAST_CONSENSUS,
    NetworkFiles,
    NodeProcess,
    TestIssuer,
    fixed_key,
    post_event,
    running_nodes,
    wait_until,
    write_network,
)

GOVERNANCE = fixed_key("governance")
ISSUER = TestIssuer(fixed_key("tile issuer"))
WIDTH = 256
IMMUTABLE = "public, max-age=31536000, immutable"

Fetch = Callable[[str], bytes | None]
"""A tile path (``tile/...``) to its bytes, or None when the log answers 404."""


# -- an independent tile reader (RFC 9162 and tlog-tiles only) ----------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash_of(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def parent(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (RFC 9162 §2.1.1's k), for n >= 2."""
    return 1 << ((n - 1).bit_length() - 1)


def naive_root(hashes: list[bytes]) -> bytes:
    if not hashes:
        return sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return parent(naive_root(hashes[:k]), naive_root(hashes[k:]))


def index_path(n: int) -> str:
    digits = str(n).zfill(3)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def tile_path(level: int | str, n: int, width: int) -> str:
    return f"tile/{level}/{index_path(n)}" + ("" if width == WIDTH else f".p/{width}")


class TileReader:
    """The tree of ``size`` entries, as far as its tiles say."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        self.fetch = fetch
        self.size = size
        self.tiles: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, n: int) -> list[bytes]:
        """Tile ``n`` of tlog-tiles ``level`` at this size: full, or as wide as the size says."""
        if (level, n) not in self.tiles:
            width = min(WIDTH, (self.size >> (8 * level)) - WIDTH * n)
            assert width >= 1, f"no tile {level}/{n} in a tree of {self.size}"
            data = self.fetch(tile_path(level, n, width))
            assert data is not None, f"{tile_path(level, n, width)} is missing"
            assert len(data) == 32 * width, f"{tile_path(level, n, width)}: {len(data)} bytes"
            self.tiles[level, n] = [data[i:i + 32] for i in range(0, len(data), 32)]
        return self.tiles[level, n]

    def node(self, height: int, k: int) -> bytes:
        """The hash of the complete subtree of 2**height entries starting at k * 2**height.

        Tile level ``l`` holds the subtrees of height 8 l; the heights in between are
        the RFC 9162 tree over 2**r consecutive hashes of one tile.
        """
        level, r = divmod(height, 8)
        first = k << r
        hashes = self.tile(level, first // WIDTH)
        return naive_root(hashes[first % WIDTH:first % WIDTH + (1 << r)])

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for the ranges RFC 9162's recursion visits."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self.node(n.bit_length() - 1, lo // n)
        k = split_point(n)
        return parent(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self) -> bytes:
        return self.subtree(0, self.size) if self.size else sha256(b"")

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf side first."""
        def path(m: int, lo: int, hi: int) -> list[bytes]:
            if hi - lo == 1:
                return []
            k = split_point(hi - lo)
            if m < k:
                return [*path(m, lo, lo + k), self.subtree(lo + k, hi)]
            return [*path(m - k, lo + k, hi), self.subtree(lo, lo + k)]
        return path(index, 0, self.size)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[size]) of RFC 9162 §2.1.4.1."""
        def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
            n = hi - lo
            if m == n:
                return [] if whole else [self.subtree(lo, hi)]
            k = split_point(n)
            if m <= k:
                return [*subproof(m, lo, lo + k, whole), self.subtree(lo + k, hi)]
            return [*subproof(m - k, lo + k, hi, False), self.subtree(lo, lo + k)]
        return subproof(old_size, 0, self.size, True) if 0 < old_size < self.size else []

    def entries(self, n: int) -> list[bytes]:
        """Entry bundle ``n`` at this size, each entry checked against the level-0 tile."""
        width = min(WIDTH, self.size - WIDTH * n)
        data = self.fetch(tile_path("entries", n, width))
        assert data is not None
        entries, offset = [], 0
        while offset < len(data):
            (length,) = struct.unpack_from(">H", data, offset)
            entries.append(data[offset + 2:offset + 2 + length])
            offset += 2 + length
        assert offset == len(data), "the bundle ends inside an entry"
        assert [leaf_hash_of(e) for e in entries] == self.tile(0, n), "entries != tile 0"
        return entries


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        assert sn != 0, "proof too long"
        if fn & 1 or fn == sn:
            r = parent(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = parent(r, p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "proof too short"
    return r


def roots_from_consistency(old: int, new: int, old_root: bytes,
                           proof: list[bytes]) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2: the (old, new) roots the proof leads to from ``old_root``."""
    if old & (old - 1) == 0:
        proof = [old_root, *proof]
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        assert sn != 0, "proof too long"
        if fn & 1 or fn == sn:
            fr, sr = parent(c, fr), parent(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = parent(sr, c)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "proof too short"
    return fr, sr


def parse_checkpoint_body(note: str) -> tuple[str, int, bytes]:
    origin, size, root = note.split("\n\n", 1)[0].split("\n")
    return origin, int(size), base64.b64decode(root, validate=True)


def check_proofs(reader: TileReader, old: TileReader, indices: list[int]) -> None:
    root = reader.root()
    for index in indices:
        leaf = reader.tile(0, index // WIDTH)[index % WIDTH]
        proof = reader.inclusion_proof(index)
        assert root_from_inclusion(index, reader.size, leaf, proof) == root
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]] if proof else proof
        if proof:
            assert root_from_inclusion(index, reader.size, leaf, flipped) != root
    proof = reader.consistency_proof(old.size)
    assert roots_from_consistency(old.size, reader.size, old.root(), proof) == (
        old.root(), root)


# -- a real node over HTTP -----------------------------------------------------------------


def get(url: str, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def http_fetch(url: str) -> Fetch:
    def fetch(path: str) -> bytes | None:
        status, headers, body = get(f"{url}/{path}")
        if status == 404:
            return None
        assert status == 200, (path, status, body)
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["Cache-Control"] == IMMUTABLE
        return body
    return fetch


def post_batch(node: NodeProcess, events: list[bytes]) -> None:
    request = urllib.request.Request(
        node.url + "/v1/events/batch?wait=commit&timeout=20", data=msgpack.packb(events),
        headers={"Content-Type": "application/vnd.vcledger.events"})
    with urllib.request.urlopen(request, timeout=40) as response:
        results = json.loads(response.read())["results"]
    assert {r["status"] for r in results} == {"committed"}, results[:3]


def checkpoint_at_least(node: NodeProcess, size: int) -> str:
    def newest() -> str | None:
        status, _, body = get(node.url + "/checkpoint")
        if status != 200:
            return None
        note = body.decode()
        return note if parse_checkpoint_body(note)[1] >= size else None
    return wait_until(newest, timeout=20, what=f"a checkpoint of at least {size} entries")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> NetworkFiles:
    return write_network(tmp_path_factory.mktemp("tiles") / "net", governance=GOVERNANCE,
                         consensus=FAST_CONSENSUS)


@pytest.fixture(scope="module")
def node(network: NetworkFiles) -> Iterator[NodeProcess]:
    with running_nodes([network.nodes[0].config], network.directory) as (started,):
        yield started


@pytest.mark.slow
def test_tiles_recompute_the_checkpoints_and_their_proofs(
        node: NodeProcess, network: NetworkFiles) -> None:
    assert post_event(node, ISSUER.register(GOVERNANCE).encoded)[0] == 200
    old_note = checkpoint_at_least(node, 2)
    post_batch(node, [ISSUER.issue(f"tile {i}").encoded for i in range(300)])
    post_batch(node, [ISSUER.issue(f"tile {i}").encoded for i in range(300, 600)])
    note = checkpoint_at_least(node, 600)

    trust = network.genesis.trust()
    for text in (old_note, note):
        verify_checkpoint(text, trust.origin, [v.verifier_key for v in trust.validators],
                          trust.threshold)
    status, headers, _ = get(node.url + "/checkpoint")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=2"

    fetch = http_fetch(node.url)
    origin, size, root = parse_checkpoint_body(note)
    _, old_size, old_root = parse_checkpoint_body(old_note)
    assert origin == trust.origin and size > 2 * WIDTH and size % WIDTH
    reader, old = TileReader(fetch, size), TileReader(fetch, old_size)
    assert reader.root() == root
    # The old checkpoint's partial tile: a prefix of a tile that is full by now.
    assert old.root() == old_root
    assert old.tiles[0, 0] == reader.tile(0, 0)[:old_size]

    entries = [e for n in range(-(-size // WIDTH)) for e in reader.entries(n)]
    assert len(entries) == size
    for index in (0, 1, WIDTH, size - 1):
        assert get(f"{node.url}/v1/entries/{index}")[2] == entries[index]

    indices = [0, 1, old_size - 1, WIDTH - 1, WIDTH, 2 * WIDTH + 1, size - 1]
    check_proofs(reader, old, indices)
    for index in indices:  # the node's own proof API says the same
        body = json.loads(get(f"{node.url}/v1/proof/inclusion?index={index}"
                              f"&tree_size={size}")[2])
        assert [bytes.fromhex(h) for h in body["proof"]] == reader.inclusion_proof(index)
    body = json.loads(get(f"{node.url}/v1/proof/consistency?old_size={old_size}"
                          f"&tree_size={size}")[2])
    assert [bytes.fromhex(h) for h in body["proof"]] == reader.consistency_proof(old_size)

    # Partial tiles of any width the log has reached, full or not yet.
    assert fetch(tile_path(0, 1, 5)) == b"".join(reader.tile(0, 1)[:5])
    last = size // WIDTH
    assert fetch(tile_path(0, last, size % WIDTH)) == b"".join(reader.tile(0, last))
    assert fetch(tile_path(0, last, size % WIDTH + 1)) is None
    assert fetch(tile_path(0, last, WIDTH)) is None
    assert fetch(tile_path("entries", last, size % WIDTH + 1)) is None
    # Level 1 hashes cover 256 entries each: one per full level-0 tile.
    assert fetch(tile_path(1, 0, last)) == b"".join(reader.tile(1, 0))
    assert fetch(tile_path(1, 0, last + 1)) is None
    assert fetch(tile_path(2, 0, 1)) is None  # needs 65,536 entries
    assert fetch(tile_path(0, 1234067, WIDTH)) is None

    # Entry bundles are gzip-compressed for a client that asks.
    status, headers, body = get(f"{node.url}/{tile_path('entries', 0, WIDTH)}",
                                {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["Cache-Control"] == IMMUTABLE
    assert gzip.decompress(body) == fetch(tile_path("entries", 0, WIDTH))


BAD_PATHS = [
    "tile/00/000", "tile/64/000", "tile/-1/000", "tile/a/000", "tile/0/1", "tile/0/0000",
    "tile/0/x000/001", "tile/0/001/002", "tile/0/x1/001", "tile/0/000.p/0",
    "tile/0/000.p/256", "tile/0/000.p/05", "tile/0/000.p/", "tile/0/000.p",
    "tile/0/000.q/5", "tile/0/000/", "tile/0/%30%30%30", "tile/entries/x000/000",
    "tile/data/000", "tile/0/" + "x999/" * 7 + "999",
]


@pytest.mark.slow
@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_tile_paths_are_400_json(node: NodeProcess, path: str) -> None:
    status, headers, body = get(f"{node.url}/{path}")
    assert status == 400, (path, status, body)
    assert headers["Content-Type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request" and error["message"]


@pytest.mark.slow
def test_a_tile_beyond_the_tree_is_404_json(node: NodeProcess) -> None:
    status, headers, body = get(f"{node.url}/{tile_path(0, 10**6, WIDTH)}")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert "Cache-Control" not in headers or "immutable" not in headers["Cache-Control"]


# -- the specification's example: 70,000 entries --------------------------------------------


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[PersistentLog, list[bytes]]]:
    store = Store.open(tmp_path_factory.mktemp("big") / "db", create=True)
    try:
        log = PersistentLog(store)
        leaves = [i.to_bytes(4, "big") * (1 + i % 3) for i in range(70_000)]
        batch = store.batch()
        staged = log.stage_append(leaves, batch)
        batch.commit()
        log.applied(staged)
        yield log, leaves
    finally:
        store.close()


def store_fetch(log: PersistentLog) -> Fetch:
    def fetch(path: str) -> bytes | None:
        try:
            return read_tile(log, parse_tile_path(path))
        except NotFound:
            return None
    return fetch


def test_the_specifications_example_tree_of_70000(
        big_log: tuple[PersistentLog, list[bytes]]) -> None:
    log, leaves = big_log
    fetch = store_fetch(log)
    # "273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1
    # tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1"
    assert fetch("tile/0/272") is not None and fetch("tile/0/273") is None
    assert fetch("tile/0/273.p/112") is not None and fetch("tile/0/273.p/113") is None
    assert fetch("tile/1/000") is not None and fetch("tile/1/001.p/17") is not None
    assert fetch("tile/1/001.p/18") is None and fetch("tile/2/000.p/1") is not None
    assert fetch("tile/2/000.p/2") is None and fetch("tile/3/000.p/1") is None

    hashes = [leaf_hash_of(leaf) for leaf in leaves]
    reader = TileReader(fetch, len(leaves))
    assert reader.root() == naive_root(hashes)
    assert len(reader.tile(2, 0)) == 1 and len(reader.tile(1, 1)) == 17
    old_size = 65_536 + 300
    old = TileReader(fetch, old_size)
    assert old.root() == naive_root(hashes[:old_size])
    check_proofs(reader, old, [0, 255, 256, 65_535, 65_536, old_size, 69_999])
    assert reader.entries(273) == leaves[273 * WIDTH:]
    assert reader.entries(7) == leaves[7 * WIDTH:8 * WIDTH]


def test_tile_paths_round_trip() -> None:
    assert format_tile_path(TileRef(4, 1234067, 8)) == "tile/4/x001/x234/067.p/8"
    assert parse_tile_path("tile/4/x001/x234/067.p/8") == TileRef(4, 1234067, 8)
    assert parse_tile_path("tile/entries/x001/000") == TileRef(None, 1000)
    for n in (0, 1, 999, 1000, 256**3, 10**20):
        for width in (1, 255, 256):
            tile = TileRef(n % 64, n, width)
            assert format_tile_path(tile) == tile_path(n % 64, n, width)
            assert parse_tile_path(format_tile_path(tile)) == tile
