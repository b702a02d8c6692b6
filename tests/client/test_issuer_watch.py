"""Issuer identity monitoring (``vcledger monitor --issuer``, issue 16).

Unit tests drive the pure part (:mod:`client.issuer_watch`) with real signed
events and a naive Merkle root.  The reading tests run a node service in this
process behind aiohttp's test server, with blocks the test seals, and read it
through a *mirror* that counts the requests and can hide the tile API or
tamper with an entry bundle: the log is read 256 leaves a request, a node
without tiles is read entry by entry, and a forged bundle is caught.  The
end-to-end test runs one real node and catches an issuance made with a copy
of the issuer's key that its records do not hold, then unrecorded rotation,
identifier change and compromise, a second run that reports nothing new, a
forged (inconsistent) checkpoint and a node that is down.  With several nodes,
a node that is down or answers 5xx is passed over for the next, but a node
serving a fork is an alarm even while another node is healthy.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from client.batch import build_batch
from client.block import BlockHeader
from client.bundle import format_batch_receipts
from client.checkpoint import Checkpoint, parse_checkpoint
from client.cli import main
from client.events import (
    CredentialIssue,
    IssuerCompromise,
    IssuerRegister,
    SignedEvent,
    sign_event,
)
from client.hashes import Hash, sha256
from client.http import NodeClient, NodeResponseError, NodeUnavailable
from client.issuer_watch import (
    EXIT_UNEXPECTED,
    EntriesDoNotMatch,
    Finding,
    IssuerRecords,
    LogScan,
    NoNodeReadable,
    ReadVia,
    RecordsError,
    Sighting,
    WatchReport,
    WatchState,
    classify,
    load_records,
    load_watch_state,
    save_watch_state,
    watch_state_file,
)
from client.keys import KeyPair, read_key_file
from client.merkle import CompactRange, leaf_hash, root_hash, verify_inclusion
from client.monitor import watch_issuer, watch_issuer_on_any
from client.note import cosign, parse_note
from client.state import ForkDetected, StateFileError
from client.tiles import (
    TILE_WIDTH,
    TileRef,
    format_entry_bundle,
    format_tile_path,
    parse_entry_bundle,
)
from tests.nodeutil import (
    FAST_CONSENSUS,
    TestIssuer,
    assemble_in_process,
    fixed_key,
    free_port,
    running_nodes,
    seal_block,
    submit_pending,
    write_network,
)

ORIGIN = "vcledger.example/watch"
ISSUER = KeyPair.from_seed(sha256(b"watched issuer"))
OTHER = KeyPair.from_seed(sha256(b"another issuer"))
GOVERNANCE = KeyPair.from_seed(sha256(b"governance"))


def _issue(key: KeyPair, number: int) -> SignedEvent:
    return sign_event(CredentialIssue(key.did, sha256(f"credential {number}".encode())),
                      origin=ORIGIN, key=key, created=1_700_000_000 + number)


def _log() -> list[bytes]:
    """A small log: registrations, issuances of two issuers, a compromise, two headers."""
    events = [
        sign_event(IssuerRegister(ISSUER.did, "Watched", ISSUER.public_key), origin=ORIGIN,
                   key=GOVERNANCE, created=1),
        sign_event(IssuerRegister(OTHER.did, "Other", OTHER.public_key), origin=ORIGIN,
                   key=GOVERNANCE, created=2),
        _issue(ISSUER, 1), _issue(OTHER, 2),
    ]
    header = BlockHeader(1, Hash(bytes(32)), 0, bytes(32), 0, len(events), Hash(bytes(32)),
                         Hash(bytes(32)))
    later = [_issue(ISSUER, 3),
             sign_event(IssuerCompromise(ISSUER.did, 6, "laptop stolen"), origin=ORIGIN,
                        key=GOVERNANCE, created=4)]
    header2 = BlockHeader(2, header.hash, 0, bytes(32), header.index + 1, len(later),
                          Hash(bytes(32)), Hash(bytes(32)))
    return [e.encoded for e in events] + [header.encoded] + [e.encoded for e in later] + [
        header2.encoded]


def _checkpoint(leaves: list[bytes]) -> Checkpoint:
    return Checkpoint(ORIGIN, len(leaves), root_hash([leaf_hash(leaf) for leaf in leaves]))


# -- the scan ----------------------------------------------------------------------------------


def test_scan_in_two_runs_sees_only_the_watched_issuer_and_proves_every_leaf(
        tmp_path: Path) -> None:
    leaves = _log()
    split = 5  # the first run ends after block 1's header
    first = LogScan(ISSUER.did, CompactRange())
    for index, leaf in enumerate(leaves[:split]):
        first.add(index, leaf)
    first.verify(_checkpoint(leaves[:split]), "node")
    assert [(s.index, s.event.kind.value) for s in first.sightings] == [
        (0, "issuer.register"), (2, "credential.issue")]

    # The compact range survives the state file, and the second run continues from it.
    path = watch_state_file(tmp_path / "net.json", ISSUER.did)
    save_watch_state(path, WatchState(ORIGIN, ISSUER.did, first.compact,
                                      frozenset({first.sightings[0].event.hash})))
    state = load_watch_state(path, ORIGIN, ISSUER.did)
    assert state.tree_size == split and state.reported == {first.sightings[0].event.hash}
    second = LogScan(ISSUER.did, state.compact)
    for index in range(split, len(leaves)):
        second.add(index, leaves[index])
    second.verify(_checkpoint(leaves), "node")
    assert [(s.index, s.event.kind.value) for s in second.sightings] == [
        (5, "credential.issue"), (6, "issuer.compromise")]


def test_a_substituted_leaf_does_not_reach_the_checkpoint_root() -> None:
    leaves = _log()
    forged = list(leaves)
    forged[3] = _issue(OTHER, 99).encoded  # the node hides one event behind another
    scan = LogScan(ISSUER.did, CompactRange())
    for index, leaf in enumerate(forged):
        scan.add(index, leaf)
    with pytest.raises(EntriesDoNotMatch, match="do not hash to the root"):
        scan.verify(_checkpoint(leaves), "http://node")


def test_a_short_read_and_an_undecodable_leaf_are_refused() -> None:
    leaves = _log()
    scan = LogScan(ISSUER.did, CompactRange())
    scan.add(0, leaves[0])
    with pytest.raises(EntriesDoNotMatch, match="read 1 leaves"):
        scan.verify(_checkpoint(leaves), "node")
    garbage = [leaves[0], b"\x93\x01\x02\x03"]
    scan = LogScan(ISSUER.did, CompactRange())
    for index, leaf in enumerate(garbage):
        scan.add(index, leaf)
    with pytest.raises(EntriesDoNotMatch, match=r"log entry 1 .* cannot decode"):
        scan.verify(_checkpoint(garbage), "node")


# -- classification and reports ---------------------------------------------------------------


def test_classify_skips_recorded_and_already_reported_unless_rescanning() -> None:
    sightings = [Sighting(i, _issue(ISSUER, i)) for i in range(4)]
    records = IssuerRecords(frozenset({sightings[0].event.hash}), 1)
    reported = frozenset({sightings[1].event.hash})
    assert [s.index for s in classify(sightings, records, reported, rescan=False)] == [2, 3]
    assert [s.index for s in classify(sightings, records, reported, rescan=True)] == [1, 2, 3]


def test_a_finding_names_the_event_its_kind_signer_and_details() -> None:
    event = _issue(ISSUER, 7)
    finding = Finding(12, event, (Hash(bytes(32)),))
    document = finding.as_json()
    assert document["event_hash"] == event.hash.hex()
    assert document["kind"] == "credential.issue" and document["index"] == 12
    assert document["signed_by_issuer_did_key"] is True
    assert document["details"] == {"digest": sha256(b"credential 7").hex()}
    assert document["inclusion_proof"] == ["00" * 32]
    line = finding.line()
    assert line.startswith(f"UNEXPECTED credential.issue event {event.hash.hex()} at log "
                           "index 12, signed by the issuer's did:key")
    compromise = sign_event(IssuerCompromise(ISSUER.did, 3, "stolen"), origin=ORIGIN,
                            key=GOVERNANCE, created=5)
    line = Finding(13, compromise, (), previously_reported=True).line()
    assert f"signed by key {GOVERNANCE.public_key.hex()}" in line
    assert "since_index 3, reason stolen" in line and line.endswith("(reported before)")


# -- the issuer's records ----------------------------------------------------------------------


def _hex(n: int) -> str:
    return sha256(bytes([n])).hex()


def test_records_from_a_folder_of_outputs_receipts_lists_and_other_files(tmp_path: Path) -> None:
    records = tmp_path / "records"
    (records / "batch").mkdir(parents=True)
    (records / "issue-1.json").write_text(json.dumps({"event_hash": _hex(1), "kind": "x"}))
    (records / "log.jsonl").write_text(json.dumps({"event_hash": _hex(2)}) + "\n\n"
                                       + json.dumps({"note": "no hash here"}) + "\n")
    (records / "more.txt").write_text(f"# revocations\n{_hex(3)}  credential.revoke\n\n")
    (records / "diploma.json").write_text(json.dumps({"issuer": "did:example:x"}))
    (records / "notes.md").write_text("not a record, not read")
    receipt_name = f"{_hex(9)}.json"
    receipt = {"format": "ignored: only the first receipt is parsed"}
    (records / "batch" / "index.jsonl").write_text(
        json.dumps({"receipt": receipt_name}) + "\n")
    # A real receipt, as `vcledger anchor` writes it, is parsed strictly.
    digests = [sha256(b"a"), sha256(b"b")]
    tree = build_batch(digests)
    (_, text), *_ = format_batch_receipts(
        origin=ORIGIN, issuer=ISSUER.did, batch_id="b1", anchor_event_hash=Hash(
            bytes.fromhex(_hex(4))), receipts=tree.receipts(), digests=digests)
    (records / "batch" / receipt_name).write_text(text)
    (records / "batch" / f"{_hex(10)}.json").write_text(json.dumps(receipt))  # never read
    loaded = load_records([records])
    assert loaded.event_hashes == {Hash(bytes.fromhex(_hex(n))) for n in (1, 2, 3, 4)}
    assert loaded.files_skipped == (str(records / "diploma.json"),)


def test_records_named_directly_must_be_records(tmp_path: Path) -> None:
    listing = tmp_path / "hashes"
    listing.write_text(f"{_hex(1)}\nnot-a-hash\n")
    with pytest.raises(RecordsError, match="line 2"):
        load_records([listing])
    credential = tmp_path / "diploma.json"
    credential.write_text(json.dumps({"issuer": "x"}))
    with pytest.raises(RecordsError, match="neither vcledger --json output"):
        load_records([credential])
    with pytest.raises(RecordsError, match="does not exist"):
        load_records([tmp_path / "missing"])
    listing.write_text(f"{_hex(1)}\n")
    assert load_records([listing]).event_hashes == {Hash(bytes.fromhex(_hex(1)))}


def test_a_watch_state_for_another_issuer_or_with_bad_peaks_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "watch.json"
    compact = CompactRange()
    compact.extend([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
    save_watch_state(path, WatchState(ORIGIN, ISSUER.did, compact))
    with pytest.raises(StateFileError, match="is for"):
        load_watch_state(path, ORIGIN, OTHER.did)
    document = json.loads(path.read_text())
    document["peaks"] = document["peaks"][:1]
    path.write_text(json.dumps(document))
    with pytest.raises(StateFileError, match="peaks"):
        load_watch_state(path, ORIGIN, ISSUER.did)
    assert load_watch_state(tmp_path / "none.json", ORIGIN, ISSUER.did).tree_size == 0


# -- reading a node: tiles, no tiles, a forged bundle ----------------------------------------

LIVE_GOVERNANCE = fixed_key("watch governance")
LIVE_ISSUER = TestIssuer(fixed_key("watched live issuer"))
EVENTS_PER_BLOCK = 150
BLOCKS = 4


class Mirror:
    """Forwards every GET to ``upstream``, counting requests by kind; ``tiles`` False
    answers 404 for every tile (a node from before the tile API), ``tamper`` rewrites
    entry bundles on the way, ``failing`` answers every request with that HTTP status,
    and ``checkpoint`` is served instead of the node's own."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.tiles = True
        self.tamper: Callable[[bytes], bytes] | None = None
        self.failing: int | None = None
        self.checkpoint: str | None = None
        self.requests: Counter[str] = Counter()
        self.session: aiohttp.ClientSession | None = None
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.forward)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def forward(self, request: web.Request) -> web.Response:
        kind = ("tile" if request.path.startswith("/tile/") else "entry"
                if request.path.startswith("/v1/entries/") else "other")
        self.requests[kind] += 1
        if self.failing is not None:
            return web.json_response({"error": {"code": "internal", "message": "overloaded"}},
                                     status=self.failing)
        if request.path == "/v1/checkpoint" and self.checkpoint is not None:
            return web.Response(text=self.checkpoint, content_type="text/plain")
        if kind == "tile" and not self.tiles:
            return web.Response(status=404, text="404: Not Found")
        assert self.session is not None
        async with self.session.get(self.upstream + request.path_qs) as answer:
            body = await answer.read()
            status, content_type = answer.status, answer.headers["Content-Type"]
        if kind == "tile" and status == 200 and self.tamper is not None:
            body = self.tamper(body)
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})

    def count(self, kind: str) -> int:
        return self.requests[kind]

    async def __aenter__(self) -> Mirror:
        self.session = aiohttp.ClientSession()
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.close()
        assert self.session is not None
        await self.session.close()

    def reset(self) -> None:
        self.requests.clear()


@dataclass
class Watched:
    """A node whose log holds the issuer's recorded events, and the mirror in front."""

    service: Any
    mirror: Mirror
    records: IssuerRecords
    state: Path
    network: Any

    @property
    def trust(self) -> Any:
        return self.service.genesis.trust()

    async def seal(self, *events: SignedEvent) -> None:
        await submit_pending(self.service, events)
        await seal_block(self.service)

    async def watch(self) -> WatchReport:
        async with NodeClient(self.mirror.url) as node:
            return await watch_issuer(node, self.trust, LIVE_ISSUER.did, self.records,
                                      now=int(time.time()), state_path=self.state)

    async def watch_any(self, *urls: str) -> WatchReport:
        return await watch_issuer_on_any(urls, self.trust, LIVE_ISSUER.did, self.records,
                                         timeout=5, now=int(time.time()),
                                         state_path=self.state)


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[Watched]:
    net = write_network(tmp_path / "net", governance=LIVE_GOVERNANCE)
    assembled = assemble_in_process(net)
    service = assembled.service
    await service.start(assembled.producer)
    server = TestServer(assembled.app, host="127.0.0.1")
    await server.start_server()
    mirror = Mirror(str(server.make_url("")).rstrip("/"))
    mirror.session = aiohttp.ClientSession()
    await mirror.server.start_server()
    try:
        recorded = [LIVE_ISSUER.register(LIVE_GOVERNANCE, created=1)]
        live = Watched(service, mirror, IssuerRecords(frozenset(), 0), tmp_path / "state.json",
                       net)
        await live.seal(recorded[0])
        for block in range(BLOCKS):
            events = [LIVE_ISSUER.issue(f"live {block}/{n}", created=2)
                      for n in range(EVENTS_PER_BLOCK)]
            recorded.extend(events)
            await live.seal(*events)
        live.records = IssuerRecords(frozenset(e.hash for e in recorded), 1)
        yield live
    finally:
        await mirror.server.close()
        await mirror.session.close()
        await server.close()
        await service.close()


def _bundles_for(size: int) -> int:
    return -(-size // TILE_WIDTH)


async def test_the_log_is_read_256_leaves_a_request_also_from_mid_bundle(
        watched: Watched) -> None:
    report = await watched.watch()
    size = report.tree_size
    assert size == 1 + BLOCKS * EVENTS_PER_BLOCK + 1 + BLOCKS  # events and header leaves
    assert report.read_via is ReadVia.TILES and report.exit_code == 0
    assert report.events_seen == report.accounted == 1 + BLOCKS * EVENTS_PER_BLOCK
    assert watched.mirror.count("tile") == _bundles_for(size) == 3
    assert watched.mirror.count("entry") == 0

    # The next run starts inside the partial bundle it read last time, and catches an
    # issuance nobody recorded.
    watched.mirror.reset()
    stray = LIVE_ISSUER.issue("nobody recorded this", created=3)
    await watched.seal(stray)
    report = await watched.watch()
    assert report.from_size == size and report.read_via is ReadVia.TILES
    assert [f.event.hash for f in report.findings] == [stray.hash]
    assert report.findings[0].index == size
    assert watched.mirror.count("tile") == 1 and watched.mirror.count("entry") == 0
    assert report.as_json()["read"] == {"from_index": size, "tree_size": size + 2,
                                        "via": "tiles"}


async def test_entry_bundles_travel_gzipped_and_arrive_whole(watched: Watched) -> None:
    bundle = TileRef(None, 0)
    async with aiohttp.ClientSession(auto_decompress=False) as raw, raw.get(
            f"{watched.mirror.upstream}/{format_tile_path(bundle)}",
            headers={"Accept-Encoding": "gzip"}) as answer:
        assert answer.status == 200 and answer.headers["Content-Encoding"] == "gzip"
        compressed = await answer.read()
    async with NodeClient(watched.mirror.upstream) as node:
        served = await node.tile(format_tile_path(bundle))
    assert served == gzip.decompress(compressed)
    assert len(compressed) < len(served)
    assert len(parse_entry_bundle(served, bundle)) == TILE_WIDTH


async def test_a_node_without_the_tile_api_is_read_entry_by_entry(watched: Watched) -> None:
    watched.mirror.tiles = False
    report = await watched.watch()
    assert report.read_via is ReadVia.ENTRIES and report.exit_code == 0
    assert report.events_seen == 1 + BLOCKS * EVENTS_PER_BLOCK
    assert watched.mirror.count("tile") == 1  # asked once, then never again
    assert watched.mirror.count("entry") == report.tree_size
    assert "one entry per request" in report.lines()[0]


async def test_a_forged_entry_bundle_is_caught_and_nothing_is_recorded(
        watched: Watched) -> None:
    # The node swaps one of the issuer's events for another issuer's, same length:
    # the bundle parses, but its leaves no longer hash to the checkpoint's root.
    def swap_one_event(bundle: bytes) -> bytes:
        leaves = parse_entry_bundle(bundle, TileRef(None, 0, _count(bundle)))
        victim = next(i for i, leaf in enumerate(leaves)
                      if b"credential.issue" in leaf and LIVE_ISSUER.did.encode() in leaf)
        other = TestIssuer(fixed_key("someone else"))
        forged = other.issue("cover", created=2).encoded
        assert len(forged) == len(leaves[victim])
        leaves[victim] = forged
        return format_entry_bundle(leaves)

    watched.mirror.tamper = swap_one_event
    with pytest.raises(EntriesDoNotMatch, match="do not hash to the root"):
        await watched.watch()
    assert not watched.state.exists()
    assert not watch_state_file(watched.state, LIVE_ISSUER.did).exists()

    watched.mirror.tamper = lambda bundle: bundle[:-1]
    with pytest.raises(NodeResponseError, match="malformed entry bundle"):
        await watched.watch()

    # Served honestly again, the same state reads the whole log.
    watched.mirror.tamper = None
    assert (await watched.watch()).exit_code == 0


# -- several nodes: pass over the ones that are down, never over a fork --------------------------


async def test_a_node_that_is_down_or_failing_is_passed_over_for_the_next(
        watched: Watched) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    report = await watched.watch_any(down, watched.mirror.url)
    assert report.node == watched.mirror.url and report.exit_code == 0
    assert report.events_seen == report.accounted == 1 + BLOCKS * EVENTS_PER_BLOCK
    assert [(s.node, s.code) for s in report.skipped] == [(down, "node_unavailable")]
    lines = report.lines()
    assert f"from {watched.mirror.url}" in lines[0]
    assert any(line.startswith(f"  could not read {down}, so read {watched.mirror.url}")
               for line in lines)
    assert report.as_json()["nodes_skipped"][0]["node"] == down

    # The first node answers 5xx: the next is read, and the watch goes on from the state
    # the previous run recorded, naming that node when there is nothing new.
    async with Mirror(watched.mirror.upstream) as failing:
        failing.failing = 503
        stray = LIVE_ISSUER.issue("while a node was failing", created=3)
        await watched.seal(stray)
        report = await watched.watch_any(failing.url, watched.mirror.url)
        assert [f.event.hash for f in report.findings] == [stray.hash]
        assert [s.code for s in report.skipped] == ["node_unavailable"]
        assert "overloaded" in report.skipped[0].message
        again = await watched.watch_any(failing.url, watched.mirror.url)
        assert again.lines()[0] == (f"issuer {LIVE_ISSUER.did}: no new log entries at "
                                    f"{watched.mirror.url} (tree size {again.tree_size})")


async def test_when_no_node_can_be_read_nothing_is_checked_or_recorded(
        watched: Watched) -> None:
    watched.mirror.failing = 500
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(NoNodeReadable) as raised:
        await watched.watch_any(down, watched.mirror.url)
    assert [s.node for s in raised.value.skipped] == [down, watched.mirror.url]
    assert raised.value.exit_code == 1
    assert raised.value.as_json()["nodes"][1]["code"] == "node_unavailable"
    assert not watched.state.exists()
    assert not watch_state_file(watched.state, LIVE_ISSUER.did).exists()
    # One node only: its own error, as before several nodes were allowed.
    with pytest.raises(NodeUnavailable):
        await watched.watch_any(watched.mirror.url)


async def test_a_node_serving_a_fork_is_an_alarm_although_the_next_is_healthy(
        watched: Watched) -> None:
    first = await watched.watch()
    remembered = watched.state.read_bytes()
    watched.mirror.reset()
    async with Mirror(watched.mirror.upstream) as forked:
        forked.checkpoint = _forged_checkpoint(watched, first.tree_size)
        with pytest.raises(ForkDetected) as raised:
            await watched.watch_any(forked.url, watched.mirror.url)
        assert raised.value.second.note == forked.checkpoint
        assert forked.url in raised.value.description
        assert watched.mirror.count("other") == 0  # the healthy node was never asked
    assert watched.state.read_bytes() == remembered


def test_the_command_tries_every_node_and_says_why_none_could_be_read(tmp_path: Path) -> None:
    network = write_network(tmp_path / "net")
    down = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    watch = ["monitor", "--issuer", LIVE_ISSUER.did, "--trust", str(network.trust),
             "--state", str(tmp_path / "state.json"), "--timeout", "5"]
    code, report, err = _cli(*watch, "--node", down[0], "--node", down[1])
    assert code == 1, err
    assert report["error"]["code"] == "no_node_readable"
    assert [n["node"] for n in report["error"]["nodes"]] == down
    code, _, err = _cli(*watch, "--node", down[0], "--node", down[1], json_output=False)
    assert code == 1 and "none of the 2 nodes could be read" in err
    assert all(url in err for url in down) and "Traceback" not in err
    # A malformed fallback URL is refused before any node is asked.
    code, report, err = _cli(*watch, "--node", down[0], "--node", "ftp://nowhere")
    assert code == 2 and "ftp://nowhere" in report["error"]["message"], err


def _forged_checkpoint(watched: Watched, size: int) -> str:
    """A checkpoint of another history at ``size``, validly cosigned by the validator."""
    body = Checkpoint(watched.trust.origin, size, Hash(bytes(range(32)))).body()
    trust_document = json.loads(watched.network.trust.read_text())
    validator = read_key_file(watched.network.nodes[0].directory / "validator.key")
    return body + "\n" + cosign(body, trust_document["validators"][0]["name"],
                                 validator.seed, int(time.time()))


def _count(bundle: bytes) -> int:
    count, offset = 0, 0
    while offset < len(bundle):
        (length,) = struct.unpack_from(">H", bundle, offset)
        offset += 2 + length
        count += 1
    return count


# -- end to end, against a real node -----------------------------------------------------------


def _cli(*argv: str, json_output: bool = True) -> tuple[int, Any, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--json"] if json_output else list(argv))
    text = out.getvalue()
    if not json_output:
        return code, text, err.getvalue()
    return code, json.loads(text) if text.strip() else None, err.getvalue()


def _record(path: Path, *argv: str) -> dict[str, Any]:
    """Run a vcledger command and keep its --json output as the issuer's record."""
    code, document, err = _cli(*argv)
    assert code == 0, err
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return document  # type: ignore[no-any-return]


def _ok(*argv: str) -> dict[str, Any]:
    code, document, err = _cli(*argv)
    assert code == 0, err
    return document  # type: ignore[no-any-return]


def _credential(issuer: str, number: int) -> str:
    return json.dumps({"@context": ["https://www.w3.org/ns/credentials/v2"],
                       "type": ["VerifiableCredential"], "issuer": issuer,
                       "credentialSubject": {"id": f"did:example:{number}"}})


@pytest.mark.slow
def test_a_copy_of_the_key_is_caught_and_the_records_are_not_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCLEDGER_STATE_DIR", str(tmp_path / "state"))
    network = write_network(tmp_path / "net", consensus=FAST_CONSENSUS)
    admin = str(network.directory / "governance.key")
    trust = str(network.trust)
    with running_nodes([network.nodes[0].config], tmp_path) as (node,):
        url = node.url
        records = tmp_path / "records"
        key = tmp_path / "issuer.key"
        issuer = _ok("keygen", "--out", str(key))["did"]
        _record(records / "register.json", "issuer", "register", "--admin-key", admin,
                "--issuer", issuer, "--name", "Example University", "--node", url)
        (tmp_path / "one.json").write_text(_credential(issuer, 1))
        own = _record(records / "issue-1.json", "issue", str(tmp_path / "one.json"),
                      "--key", str(key), "--node", url)
        batch = tmp_path / "batch"
        batch.mkdir()
        for number in range(3):
            (batch / f"c{number}.json").write_text(_credential(issuer, 100 + number))
        anchor = _ok("anchor", str(batch), "--key", str(key), "--receipts",
                     str(records / "batch-1"), "--batch-id", "batch-1", "--node", url)

        # Someone with a copy of the key file issues a credential the issuer never recorded.
        stolen_key = tmp_path / "elsewhere" / "copy.key"
        stolen_key.parent.mkdir()
        shutil.copy2(key, stolen_key)
        (tmp_path / "forged.json").write_text(_credential(issuer, 666))
        stolen = _ok("issue", str(tmp_path / "forged.json"), "--key", str(stolen_key),
                     "--node", url)

        watch = ("monitor", "--issuer", issuer, "--expect", str(records), "--node", url,
                 "--trust", trust)
        code, report, err = _cli(*watch)
        assert code == EXIT_UNEXPECTED, err
        (finding,) = report["unexpected"]
        assert finding["event_hash"] == stolen["event_hash"]
        assert finding["kind"] == "credential.issue"
        assert finding["index"] == stolen["event_index"]
        assert finding["signed_by_issuer_did_key"] is True
        assert report["events_under_issuer"] == 4 and report["accounted_for"] == 3
        assert own["event_hash"] != stolen["event_hash"] != anchor["event_hash"]
        # The evidence stands on its own: the audit path leads to the cosigned root.
        checkpoint = parse_checkpoint(parse_note(report["checkpoint"]).body)
        verify_inclusion(bytes.fromhex(finding["event_hash"]), finding["index"],
                         checkpoint.tree_size,
                         [bytes.fromhex(h) for h in finding["inclusion_proof"]], checkpoint.root)

        # A second run (cron, a minute later) reads only new entries and reports nothing.
        code, text, err = _cli(*watch, json_output=False)
        assert code == 0, err
        assert "nothing unexpected" in text and "UNEXPECTED" not in text

        # Rotation, identifier change and compromise nobody recorded; a recorded revocation.
        new_key = tmp_path / "issuer-2.key"
        _ok("keygen", "--out", str(new_key))
        rotate = _ok("issuer", "rotate", "--key", str(key), "--new-key", str(new_key),
                     "--issuer", issuer, "--node", url)
        revoke = _ok("revoke", "--digest", own["credential_digest"], "--reason", "superseded",
                     "--key", str(new_key), "--issuer", issuer, "--node", url)
        (records / "revocations.txt").write_text(f"{revoke['event_hash']}  superseded\n")
        update = _ok("issuer", "update", "--admin-key", admin, "--issuer", issuer, "--name",
                     "Not Example University", "--node", url)
        compromise = _ok("issuer", "compromised", "--admin-key", admin, "--issuer", issuer,
                         "--since-index", str(stolen["event_index"]), "--reason", "key copied",
                         "--node", url)
        code, text, err = _cli(*watch, json_output=False)
        assert code == EXIT_UNEXPECTED, err
        for event in (rotate, update, compromise):
            assert f"UNEXPECTED {event['kind']} event {event['event_hash']}" in text
        assert revoke["event_hash"] not in text and stolen["event_hash"] not in text
        assert "issuer compromised" in text

        # Asked to, it reads everything again and says what it reported before.
        code, report, err = _cli(*watch, "--rescan")
        assert code == EXIT_UNEXPECTED, err
        assert {f["event_hash"]: f["previously_reported"] for f in report["unexpected"]} == {
            e["event_hash"]: True for e in (stolen, rotate, update, compromise)}
        code, report, err = _cli(*watch)
        assert code == 0 and report["unexpected"] == [], err

        # A validly cosigned checkpoint of another history: a fork, an alarm of its own.
        size = checkpoint.tree_size
        body = Checkpoint(checkpoint.origin, size, Hash(bytes(range(32)))).body()
        trust_document = json.loads(network.trust.read_text())
        validator = read_key_file(network.nodes[0].directory / "validator.key")
        forged = body + "\n" + cosign(body, trust_document["validators"][0]["name"],
                                      validator.seed, int(time.time()))
        forged_state = tmp_path / "forged-state.json"
        forged_state.write_text(json.dumps({"format": "vcledger-state/v1",
                                            "origin": checkpoint.origin, "node": "elsewhere",
                                            "checkpoint": forged}))
        code, report, err = _cli(*watch, "--state", str(forged_state))
        assert code == 4, err
        assert report["error"]["first"]["checkpoint"] == forged
        assert not watch_state_file(forged_state, issuer).exists()

    # The node is gone: could not check, exit 1, nothing recorded.
    down = f"http://127.0.0.1:{free_port()}"
    code, report, err = _cli("monitor", "--issuer", issuer, "--node", down, "--trust", trust,
                             "--timeout", "5")
    assert code == 1 and "error" in report, err
