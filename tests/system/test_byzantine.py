"""One validator of four is Byzantine: the three honest nodes must not be fooled or stopped.

Three ``vcledger-node`` processes run validators 0..2; validator 3 is a
:class:`byzantine.ByzantineValidator` holding its real key, so everything it
signs verifies.  All tests share one network (starting nodes is the slow
part) and each ends by checking that the honest nodes still agree on one
head and still commit a new event within a bounded time.

What each test shows is in its docstring; ``docs/reliability.md`` (Byzantine peers)
has the figures of a bounded and a ``--long`` run.  Every wait is a polled
condition with a deadline; the nodes are killed and reaped and the Byzantine
validator's thread joined whatever happens.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from client import encoding
from client.events import (
    CredentialIssue,
    CredentialRevoke,
    RevocationReason,
    SignedEvent,
    decode_event,
    sign_event,
)
from client.keys import KeyPair
from node.consensus_types import Proposal, Vote, VoteKind
from node.wire import (
    EventsFrame,
    Hello,
    decode_proposal,
    decode_vote,
    encode_frame,
    max_frame_size,
)
from tests.byzantine import ByzantineValidator, CraftedBlock
from tests.nodeutil import (
    FAST_NETWORK_CONSENSUS,
    NetworkFiles,
    NodeProcess,
    TestIssuer,
    fixed_key,
    http_get,
    post_event,
    running_nodes,
    wait_until,
    write_network,
)

pytestmark = pytest.mark.slow

SEED = 20260106
MAX_BLOCK_EVENTS = 16
CONSENSUS = {
    **FAST_NETWORK_CONSENSUS,
    "max_block_events": MAX_BLOCK_EVENTS,
    # Honest nodes never start a height on their own while a test runs, so at the
    # Byzantine validator's turn nothing happens until its proposal arrives, and
    # any block committed while the network is idle means it is being driven.
    "empty_block_interval_ms": 120_000,
}
MAX_FRAME = max_frame_size(MAX_BLOCK_EVENTS)
COMMIT_WITHIN = 20.0
"""Seconds an event submitted to an honest node may take to commit while under attack."""
RSS_GROWTH_LIMIT = 150 * 1024 * 1024
"""Generous: the honest nodes' bounded buffers (seen frames, early votes, ...) stay far below."""


@dataclass
class Net:
    files: NetworkFiles
    nodes: list[NodeProcess]
    byz: ByzantineValidator
    issuer: TestIssuer
    other_issuer: TestIssuer
    labels: Iterator[int]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def honest_keys(self) -> list[bytes]:
        return list(self.files.genesis.validator_keys[:3])

    def fresh(self) -> SignedEvent:
        return self.issuer.issue(f"byzantine test {next(self.labels)}")

    def commit(self, event: SignedEvent, node: int = 0,
               timeout: float = COMMIT_WITHIN) -> dict[str, Any]:
        status, body = post_event(self.nodes[node], event.encoded, wait=timeout)
        assert status == 200 and body["status"] == "committed", (status, body)
        return body

    def my_turn(self) -> int:
        """Commit filler events until validator 3 proposes round 0 of the next height."""
        for i in range(8):
            height = self.byz.follow() + 1
            if self.byz.is_my_turn(height):
                return height
            self.commit(self.fresh(), node=i % 3)
        raise AssertionError("the Byzantine validator's turn never came")

    def wait_committed(self, height: int, timeout: float = COMMIT_WITHIN) -> None:
        wait_until(lambda: self.byz.follow() >= height, timeout=timeout,
                   what=f"the honest nodes to commit height {height}", interval=0.05)

    def evidence(self, node: int) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.nodes[node].url}/v1/evidence?limit=1000")
        assert status == 200, body
        items: list[dict[str, Any]] = json.loads(body)["evidence"]
        return items

    def rss(self) -> list[int]:
        return [rss_bytes(node) for node in self.nodes]


def rss_bytes(node: NodeProcess) -> int:
    """VmRSS of a node process, from /proc."""
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def heads(net: Net) -> list[tuple[int, str] | None]:
    result = []
    for node in net.nodes:
        health = node.health()
        result.append(None if health is None else (health["height"], health["log_root"]))
    return result


def peer_counts(net: Net) -> list[int]:
    counts = []
    for node in net.nodes:
        health = node.health()
        assert health is not None
        counts.append(int(health["peers"]))
    return counts


def assert_honest_and_live(net: Net) -> None:
    """The three honest nodes sit at one head, and a new event commits on all of them."""
    body = net.commit(net.fresh(), node=1)
    wait_until(lambda: None not in heads(net) and len(set(heads(net))) == 1, timeout=15,
               what="the honest nodes to agree on one head", interval=0.05)
    height = net.byz.follow()
    assert height >= body["height"]
    for node in net.nodes:  # every honest node has every block the Byzantine one followed
        status, raw = http_get(f"{node.url}/v1/checkpoint")
        assert status == 200, raw


@contextlib.contextmanager
def started_network(directory: Path, consensus: dict[str, int]) -> Iterator[Net]:
    """Honest validators 0..2 as processes, validator 3 Byzantine, two issuers registered."""
    keys = [fixed_key(f"byzantine validator {i}") for i in range(4)]
    files = write_network(directory / "net", 4, consensus=consensus, validator_keys=keys,
                          governance=fixed_key("byzantine governance"))
    configs = [node.config for node in files.nodes[:3]]
    with running_nodes(configs, directory, timeout=60) as nodes:
        byz = ByzantineValidator(files.genesis, keys[3], [n.url for n in nodes],
                                 directory / "byzantine-ledger", SEED)
        try:
            host, port = files.nodes[3].listen.split(":")
            byz.serve(host, int(port))
            issuer = TestIssuer(fixed_key("byzantine issuer A"), files.genesis.origin,
                                "Issuer A")
            other = TestIssuer(fixed_key("byzantine issuer B"), files.genesis.origin,
                               "Issuer B")
            net = Net(files, nodes, byz, issuer, other, itertools.count())
            wait_until(lambda: all(c >= 2 for c in peer_counts(net)), timeout=30,
                       what="the honest nodes to connect to each other")
            net.commit(issuer.register(files.governance))
            net.commit(other.register(files.governance))
            byz.follow()
            byz.connect_all()
            yield net
        finally:
            byz.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with started_network(tmp_path_factory.mktemp("byzantine"), CONSENSUS) as started:
        yield started


# -- invalid blocks as proposer -------------------------------------------------------------


def _flip_last_byte(event: SignedEvent) -> SignedEvent:
    """The same event with one bit of its signature (the last field) changed."""
    return decode_event(event.encoded[:-1] + bytes([event.encoded[-1] ^ 1]))


def _committed_event(net: Net, defect: str) -> SignedEvent | None:
    """The event already in the log that a replay or a revocation needs (committed
    before the Byzantine validator's turn, which a commit would use up)."""
    if defect not in ("replayed_event", "revocation_by_wrong_issuer"):
        return None
    event = net.fresh()
    net.commit(event)
    return event


def _invalid_block(net: Net, defect: str, committed: SignedEvent | None
                   ) -> tuple[bytes, CraftedBlock, list[SignedEvent]]:
    """A proposal frame for the next height with exactly one defect; its body and
    the events that must never reach the log."""
    byz = net.byz
    good = [net.fresh(), net.fresh()]
    if defect == "wrong_block_id":
        block = byz.build_block(good)
        return byz.proposal_frame(block, block_id=byz.random_hash()), block, good
    if defect == "wrong_status_root":
        block = byz.build_block(good, status_root=byz.random_hash())
    elif defect == "wrong_previous_hash":
        block = byz.build_block(good, previous=byz.random_hash())
    elif defect == "wrong_height":
        block = byz.build_block(good, height=byz.ledger.head.height + 2)
    elif defect == "wrong_proposer_in_header":
        block = byz.build_block(good, proposer=net.honest_keys[0])
    elif defect == "time_beyond_clock_skew":
        block = byz.build_block(good, at_ms=int(time.time() * 1000) + 10 * 60_000)
    elif defect == "time_not_after_parent":
        parent = byz.ledger.head.header
        assert parent is not None
        block = byz.build_block(good, time_ms=parent.time_ms)
    elif defect == "bad_event_signature":
        good = [good[0], _flip_last_byte(good[1])]
        block = byz.build_block(good)
    elif defect == "replayed_event":
        assert committed is not None
        block = byz.build_block([good[0], committed], execute=False)
        good = [good[0]]  # the replayed one is in the log already, once
    elif defect == "revocation_by_wrong_issuer":
        assert committed is not None and isinstance(committed.payload, CredentialIssue)
        # Names issuer A, signed by issuer B's (valid, registered) key.
        revoke = sign_event(CredentialRevoke(net.issuer.did, committed.payload.digest,
                                             RevocationReason.FRAUD),
                            origin=net.files.genesis.origin, key=net.other_issuer.key,
                            created=int(time.time()))
        block = byz.build_block([revoke], execute=False)
        good = [revoke]
    elif defect == "too_many_events":
        good = [net.fresh() for _ in range(MAX_BLOCK_EVENTS + 1)]
        block = byz.build_block(good)
    else:
        raise AssertionError(defect)
    return byz.proposal_frame(block), block, good


DEFECTS = ["wrong_block_id", "wrong_status_root", "wrong_previous_hash", "wrong_height",
           "wrong_proposer_in_header", "time_beyond_clock_skew", "time_not_after_parent",
           "bad_event_signature", "replayed_event", "revocation_by_wrong_issuer",
           "too_many_events"]


@pytest.mark.parametrize("defect", DEFECTS)
def test_invalid_proposal_gets_nil_prevotes_and_never_commits(
        net: Net, defect: str, long_mode: bool, record_figure: Callable[..., None]) -> None:
    """As the proposer of round 0, send a block with one defect to every honest node:
    each prevotes nil, the height is decided in a later round with another block,
    and none of the block's events reaches the log.  (``--long``: three times.)"""
    for _ in range(3 if long_mode else 1):
        _propose_invalid_block(net, defect, record_figure)


def _propose_invalid_block(net: Net, defect: str, record_figure: Callable[..., None]) -> None:
    byz = net.byz
    committed = _committed_event(net, defect)
    height = net.my_turn()
    frame, block, never = _invalid_block(net, defect, committed)
    byz.send_all(frame, kind="invalid proposal")
    prevotes = byz.honest_votes(height, 0, VoteKind.PREVOTE, timeout=10)
    assert prevotes == {key: {None} for key in net.honest_keys}, prevotes
    net.wait_committed(height)
    assert byz.roots[height] != block.block_id
    assert byz.ledger.header(height).proposer != byz.key.public_key
    for node in net.nodes:
        for event in never:
            status, body = http_get(f"{node.url}/v1/events/{event.hash.hex()}")
            assert status == 404, (defect, body)
    if committed is not None:  # still where it was first committed, and only there
        position = byz.ledger.event_position(committed.hash)
        assert position is not None and position.height < height
    record_figure("invalid proposal rejected", 1, defect=defect, height=height)
    assert_honest_and_live(net)


def test_a_body_that_is_not_the_signed_block_does_not_poison_it(
        net: Net, record_figure: Callable[..., None]) -> None:
    """The proposer signs block X, sends node 1 the signed proposal with another body
    and the others X's real body, prevotes X and then withholds its precommit.

    Node 1 must not decide "X is invalid" from a body that is not X: the nodes
    that saw X lock on it, and if node 1 refused X for the rest of the height
    no round could ever gather three votes again (one of four Byzantine halts
    the network).  Node 1 should wait for X's real body, which the others relay.
    """
    byz = net.byz
    height = net.my_turn()
    block = byz.build_block([net.fresh()])
    other = byz.build_block([net.fresh()])
    real = byz.proposal_frame(block)
    wrong_body = byz.proposal_frame(other, block_id=block.block_id)
    assert wrong_body != real
    byz.send_plan([(net.urls[1], wrong_body), (net.urls[0], real), (net.urls[2], real)],
                  kind="proposal with a body that is not the signed block")
    byz.send_all(byz.vote_frame(VoteKind.PREVOTE, height, 0, block.block_id), kind="prevote")
    net.wait_committed(height)
    record_figure("commit after a mismatched proposal body", 1, height=height,
                  block=("the signed block" if byz.roots[height] == block.block_id
                         else "another block"))
    assert_honest_and_live(net)


# -- equivocation ----------------------------------------------------------------------------


def _check_evidence(net: Net, kind: str, height: int) -> int:
    """Every honest node recorded the Byzantine validator's two messages for (height, 0);
    each verifies against the validator set.  Returns the number of records checked."""
    origin, validators = net.files.genesis.origin, net.files.genesis.validator_keys
    me = net.byz.key.public_key
    checked = 0
    for node in range(3):
        wait_until(lambda node=node: any(  # type: ignore[misc]
            e["kind"] == kind and e["height"] == height for e in net.evidence(node)),
            timeout=10, what=f"node {node} to record {kind} evidence at height {height}")
        [entry] = [e for e in net.evidence(node) if e["kind"] == kind and e["height"] == height]
        assert entry["round"] == 0 and entry["validator"] == me.hex()
        first, second = (base64.b64decode(entry[k]) for k in ("first", "second"))
        messages: list[Proposal | Vote]
        if kind == "proposal":
            messages = [decode_proposal(m, origin, validators) for m in (first, second)]
            proposals = [m for m in messages if isinstance(m, Proposal)]
            assert {(p.height, p.round, p.proposer) for p in proposals} == {(height, 0, me)}
            assert proposals[0].block_id != proposals[1].block_id
        else:
            votes = [decode_vote(m, origin, validators) for m in (first, second)]
            assert {(v.kind, v.height, v.round, v.voter) for v in votes} == {
                (VoteKind(int(kind[-1])), height, 0, me)}
            assert votes[0].block_id != votes[1].block_id
        checked += 1
    return checked


@pytest.mark.parametrize("kind", ["proposal", "vote-1", "vote-2"])
def test_equivocation_is_recorded_as_evidence_and_changes_nothing(
        net: Net, kind: str, record_figure: Callable[..., None]) -> None:
    """Two different valid proposals for one (height, round) — one to node 0, the other
    to nodes 1 and 2 — or two different prevotes / precommits to everyone.  Every
    honest node records both signed messages as evidence, and they still commit
    one block, the same everywhere."""
    byz = net.byz
    height = net.my_turn()
    if kind == "proposal":
        first = byz.build_block([net.fresh()])
        second = byz.build_block([net.fresh()])
        byz.send_plan([(net.urls[0], byz.proposal_frame(first)),
                       (net.urls[1], byz.proposal_frame(second)),
                       (net.urls[2], byz.proposal_frame(second))], kind="equivocating proposal")
    else:
        vote_kind = VoteKind(int(kind[-1]))
        byz.send_all(byz.vote_frame(vote_kind, height, 0, None),
                     byz.vote_frame(vote_kind, height, 0, byz.random_hash()),
                     kind=f"equivocating {vote_kind.name.lower()}")
    checked = _check_evidence(net, kind, height)
    net.wait_committed(height)
    record_figure("evidence records checked", checked, kind=kind, height=height)
    assert_honest_and_live(net)


# -- votes that are not what they claim --------------------------------------------------


@pytest.mark.parametrize("forgery", ["signed_by_another_validator", "non_validator_key",
                                     "truncated_signature"])
def test_unverifiable_vote_disconnects_the_sender(net: Net, forgery: str,
                                                  record_figure: Callable[..., None]) -> None:
    """A vote whose signature is not the claimed voter's, or whose voter is not a
    validator, is refused and the link it came on is closed."""
    byz = net.byz
    byz.connect_all()
    height = byz.follow() + 1
    if forgery == "signed_by_another_validator":
        frame = byz.vote_frame(VoteKind.PREVOTE, height, 0, None,
                               claimed_voter=net.honest_keys[0])
    elif forgery == "non_validator_key":
        frame = byz.vote_frame(VoteKind.PREVOTE, height, 0, None,
                               signer=KeyPair.from_seed(byz.rng.randbytes(32)))
    else:
        frame = byz.vote_frame(VoteKind.PREVOTE, height, 0, None)
        frame = frame[:-3] + frame[-2:]  # drops a byte: the lengths no longer add up
    target = byz.rng.randrange(3)
    before = len(net.nodes[target].log_text())
    byz.send(net.urls[target], frame, kind="forged vote")
    assert byz.wait_closed(net.urls[target], timeout=10)
    wait_until(lambda: "broke the protocol" in net.nodes[target].log_text()[before:],
               timeout=10, what="the node to log why it disconnected")
    record_figure("forged vote disconnected", 1, forgery=forgery)
    byz.connect_all()
    assert_honest_and_live(net)


# -- messages from far ahead ---------------------------------------------------------------


def settle(counter: Callable[[], int], *, quiet: float, timeout: float, what: str) -> int:
    """Wait until ``counter()`` has not changed for ``quiet`` seconds; return how much
    it grew meanwhile.  Fails if it is still changing after ``timeout`` seconds."""
    start = last = counter()
    changed_at = time.monotonic()
    deadline = changed_at + timeout
    while time.monotonic() - changed_at < quiet:
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)
        now = counter()
        if now != last:
            last, changed_at = now, time.monotonic()
    return last - start


def _far_ahead_frames(net: Net, lie: str, count: int) -> list[bytes]:
    byz = net.byz
    base = byz.follow() + 2
    block = byz.build_block([])
    frames = []
    for _ in range(count):
        height = base + byz.rng.randrange(1, 10**9)
        round = byz.rng.randrange(0, 50)
        if lie == "votes":
            frames.append(byz.vote_frame(byz.rng.choice(list(VoteKind)), height, round,
                                         byz.rng.choice([None, byz.random_hash()])))
        elif lie == "proposals":
            frames.append(byz.proposal_frame(block, height=height, round=round,
                                             block_id=byz.random_hash()))
        else:
            frames.append(byz.status_frame(height, 2 * height))
    return frames


@pytest.mark.parametrize("lie", ["votes", "proposals", "status"])
def test_messages_from_far_ahead_cost_bounded_work(net: Net, lie: str, long_mode: bool,
                                                   record_figure: Callable[..., None]) -> None:
    """Signed votes and proposals for heights up to a billion blocks ahead, or status
    frames claiming such heights: the honest nodes may look for those blocks once,
    but must not keep fetching them, start producing blocks to catch up with a
    network that is not there, tell clients they are "catching up", or grow."""
    byz = net.byz
    byz.connect_all()
    frames = _far_ahead_frames(net, lie, 2000 if long_mode else 200)
    rss_before = net.rss()
    byz.send_all(*frames, kind=f"{lie} far ahead")
    net.commit(net.fresh())  # the frames went through each node's queue before this
    wait_until(lambda: len(set(heads(net))) == 1, timeout=10, what="one head", interval=0.05)
    fetches_while_settling = settle(byz.block_requests, quiet=1.0, timeout=15,
                                    what="catch-up fetches to stop")
    settled = byz.block_requests()
    head = heads(net)[0]
    assert head is not None
    # Idle now: no block may commit but for pending events, and no catch-up may run.  A
    # probe event shows it without a timing window: its block is the very next one on
    # every node, however slow (spurious empty blocks would have taken that height).
    probe = net.commit(net.fresh())
    assert probe["height"] == head[0] + 1, (probe, head)
    wait_until(lambda: [h and h[0] for h in heads(net)] == [head[0] + 1] * 3, timeout=10,
               what="every node to commit the probe's block and no other", interval=0.05)
    extra_fetches = byz.block_requests() - settled
    assert extra_fetches == 0, f"{extra_fetches} catch-up fetches on an idle network"
    stranger = TestIssuer(KeyPair.from_seed(byz.rng.randbytes(32)), net.files.genesis.origin)
    status, body = post_event(net.nodes[0], stranger.issue("unknown issuer").encoded, wait=None)
    assert status == 422 and body["error"]["code"] == "unknown_issuer", body
    growth = [after - before for before, after in zip(rss_before, net.rss(), strict=True)]
    assert max(growth) < RSS_GROWTH_LIMIT, growth
    record_figure("far-ahead messages sent", len(frames) * 3, lie=lie,
                  catch_up_fetches=fetches_while_settling, rss_growth_mib=max(growth) / 2**20)
    assert_honest_and_live(net)


# -- garbage on the wire ---------------------------------------------------------------------


def _garbage(net: Net, kind: str) -> bytes | str:
    byz = net.byz
    if kind == "oversized_frame":  # one byte over the cap every peer frame has
        return b"\x00" * (MAX_FRAME + 1)
    if kind == "malformed_msgpack":
        return b"\xc1\x93\x01"  # 0xc1 is never used in msgpack
    if kind == "truncated_frame":
        return byz.status_frame(7, 8)[:-1]
    if kind == "non_canonical_integer":  # [1, "status", 7, 8] with 7 as a uint8
        return b"\x94\x01\xa6status\xcc\x07\x08"
    if kind == "unknown_frame_type":
        return encoding.pack([1, "gossip", b"\x00" * 32])
    if kind == "unknown_version":
        return encoding.pack([2, "status", 7, 8])
    if kind == "deep_nesting":
        return b"\x91" * 100 + b"\x00"
    if kind == "map_instead_of_array":
        return b"\x81\xa4vote\x01"
    if kind == "negative_height":
        return encoding.pack([1, "status", -1, 8])
    if kind == "second_hello":
        return encode_frame(Hello(net.files.genesis.origin, net.files.genesis.hash,
                                  byz.rng.randbytes(16), 0))
    if kind == "text_message":
        return "hello, I am a validator"
    raise AssertionError(kind)


GARBAGE = ["oversized_frame", "malformed_msgpack", "truncated_frame", "non_canonical_integer",
           "unknown_frame_type", "unknown_version", "deep_nesting", "map_instead_of_array",
           "negative_height", "second_hello", "text_message"]


@pytest.mark.parametrize("kind", GARBAGE)
def test_garbage_frame_disconnects_the_sender(net: Net, kind: str,
                                              record_figure: Callable[..., None]) -> None:
    """Every malformed frame closes the link it came on (the node logs why, except
    for an oversized frame, which the WebSocket layer refuses before the node sees
    it); the node's peer count drops by that link and nothing else changes."""
    byz = net.byz
    byz.connect_all()
    target = byz.rng.randrange(3)
    node = net.nodes[target]
    peers_before = peer_counts(net)[target]  # with our link (see ByzantineValidator.connect)
    log_before = len(node.log_text())
    byz.send_raw(net.urls[target], _garbage(net, kind), kind=f"garbage: {kind}")
    assert byz.wait_closed(net.urls[target], timeout=10), f"{kind} did not close the link"
    wait_until(lambda: peer_counts(net)[target] == peers_before - 1, timeout=10,
               what="the node to drop the link from its peers")
    if kind != "oversized_frame":
        wait_until(lambda: re.search(r"broke the protocol|non-binary",
                                     node.log_text()[log_before:]),
                   timeout=10, what="the node to log why it disconnected")
    record_figure("garbage frame disconnected", 1, kind=kind)
    byz.connect_all()
    assert_honest_and_live(net)


# -- flooding ------------------------------------------------------------------------------------


def _flood_frames(net: Net, count: int) -> list[bytes]:
    """Frames that each pass decoding and signature checks: this height's votes for
    random blocks in rounds 0..16 (equivocation at scale), votes far ahead, status
    claims, events signed by unregistered issuers, and proposals for rounds whose
    proposer is someone else."""
    byz = net.byz
    height = byz.follow() + 1
    block = byz.build_block([])
    not_mine = [r for r in range(64) if not byz.is_my_turn(height, r)]
    strangers = [TestIssuer(KeyPair.from_seed(byz.rng.randbytes(32)), net.files.genesis.origin)
                 for _ in range(8)]
    frames = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            frames.append(byz.vote_frame(byz.rng.choice(list(VoteKind)), height,
                                         byz.rng.randrange(17), byz.random_hash()))
        elif kind == 1:
            frames.append(byz.vote_frame(VoteKind.PREVOTE, height + byz.rng.randrange(3, 10**6),
                                         byz.rng.randrange(100), None))
        elif kind == 2:
            claimed = height + byz.rng.randrange(10**6)
            frames.append(byz.status_frame(claimed, 2 * claimed))
        elif kind == 3:
            frames.append(encode_frame(EventsFrame(tuple(
                s.issue(f"flood {i} {j}").encoded for j, s in enumerate(strangers)))))
        else:
            frames.append(byz.proposal_frame(block, round=byz.rng.choice(not_mine),
                                             block_id=byz.random_hash()))
    return frames


def test_a_flood_of_valid_looking_frames_leaves_the_network_live_and_bounded(
        net: Net, long_mode: bool, record_figure: Callable[..., None]) -> None:
    """For a bounded time the Byzantine validator sends every honest node frames
    that decode and verify, as fast as the links take them.  Meanwhile a client
    keeps submitting events to the honest nodes: each commits within
    ``COMMIT_WITHIN`` seconds, the honest nodes stay connected to each other, agree
    afterwards, and their memory grows by less than ``RSS_GROWTH_LIMIT``."""
    byz = net.byz
    byz.connect_all()
    seconds = 60.0 if long_mode else 6.0
    frames = _flood_frames(net, 20_000 if long_mode else 2_500)
    rss_before = net.rss()
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            event = net.fresh()
            started = time.monotonic()
            status, body = post_event(net.nodes[i % 3], event.encoded, wait=COMMIT_WITHIN)
            if status == 200 and body.get("status") == "committed":
                latencies.append(time.monotonic() - started)
            else:
                failures.append(f"{status} {body}")
                return

    submitter = threading.Thread(target=client, name="flood-client", daemon=True)
    submitter.start()
    try:
        sent = byz.flood(frames, seconds=seconds, kind="flood")
    finally:
        stop.set()
        submitter.join(timeout=COMMIT_WITHIN + 15)
    assert not submitter.is_alive()
    assert not failures, failures
    assert latencies and max(latencies) < COMMIT_WITHIN, latencies
    wait_until(lambda: all(c >= 2 for c in peer_counts(net)), timeout=15,
               what="the honest nodes to stay connected to each other")
    growth = [after - before for before, after in zip(rss_before, net.rss(), strict=True)]
    assert max(growth) < RSS_GROWTH_LIMIT, growth
    record_figure("flood frames sent", sent, seconds=seconds, distinct=len(frames),
                  commits_during_flood=len(latencies),
                  max_commit_latency_s=round(max(latencies), 3),
                  rss_growth_mib=round(max(growth) / 2**20, 1))
    assert_honest_and_live(net)


MAX_STALL = 2.5
"""Seconds an honest node's /healthz may take while a peer floods it (5 s and more
when one peer's buffered frames were all handled before anything else ran)."""


@contextlib.contextmanager
def api_latency(node: NodeProcess) -> Iterator[list[float]]:
    """Poll ``/healthz`` from a thread while the body runs; yields ``[worst seconds]``."""
    worst = [0.0]
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            started = time.monotonic()
            with contextlib.suppress(OSError):
                http_get(node.url + "/healthz", timeout=30)
            worst[0] = max(worst[0], time.monotonic() - started)
            stop.wait(0.02)

    prober = threading.Thread(target=probe, name="healthz-probe", daemon=True)
    prober.start()
    try:
        yield worst
    finally:
        stop.set()
        prober.join(timeout=40)


SLOW_CONSENSUS = {**CONSENSUS, "timeout_propose_ms": 3000}
"""A propose timeout (longer than the genesis default) that keeps the Byzantine
validator's height open through at least one re-gossip round (every second)."""


@pytest.fixture(scope="module")
def slow_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with started_network(tmp_path_factory.mktemp("byzantine-slow"), SLOW_CONSENSUS) as started:
        yield started


def test_many_votes_in_a_slow_height_do_not_cut_the_honest_links(
        slow_net: Net, long_mode: bool, record_figure: Callable[..., None]) -> None:
    """At its turn the Byzantine validator proposes nothing and sends node 0
    thousands of distinct, validly signed votes for the height at once.  The
    height outlasts a re-gossip, when every honest node re-sends the messages it
    holds for the height to every peer.  The honest nodes must stay connected to
    each other and commit the height, and node 0 must keep answering its HTTP
    API meanwhile (``MAX_STALL`` seconds at most for ``/healthz``)."""
    byz = slow_net.byz
    height = slow_net.my_turn()
    count = 12_000 if long_mode else 6_000
    frames = [byz.vote_frame(byz.rng.choice(list(VoteKind)), height, byz.rng.randrange(17),
                             byz.random_hash()) for _ in range(count)]
    with api_latency(slow_net.nodes[0]) as worst:
        started = time.monotonic()
        byz.send(slow_net.urls[0], *frames, kind="votes for one slow height")
        slow_net.wait_committed(height, timeout=30)
        took = time.monotonic() - started
    assert worst[0] < MAX_STALL, f"/healthz took {worst[0]:.1f} s during the burst"
    for node in slow_net.nodes:
        assert "not keeping up" not in node.log_text(), node.log_text()[-3000:]
    assert all(c >= 2 for c in peer_counts(slow_net))
    record_figure("votes sent in one slow height", count, commit_s=round(took, 2),
                  worst_healthz_s=round(worst[0], 2))
    assert_honest_and_live(slow_net)


def test_big_proposals_are_neither_kept_nor_resent_without_bound(
        slow_net: Net, long_mode: bool, record_figure: Callable[..., None]) -> None:
    """At its turn the Byzantine validator sends node 0 dozens of proposals for the
    height, each carrying a frame-sized body: some for its own rounds, some for
    rounds it does not propose.  Node 0 must not relay the latter, and must keep
    only a few of the former for re-gossip: a node that connects during the
    height is greeted with at most ``MAX_HEIGHT_PROPOSALS_PER_SIGNER`` of them
    (re-sending them all every second would be a flood of its own, and keeping
    them all costs up to a frame each)."""
    byz = slow_net.byz
    height = slow_net.my_turn()
    count = 240 if long_mode else 40
    own = [r for r in range(4 * count + 4) if byz.is_my_turn(height, r)][:count]
    others = [r for r in range(1, 4 * count) if not byz.is_my_turn(height, r)][:count]
    header = byz.build_block([]).header
    junk = tuple(byz.rng.randbytes(4090) for _ in range(30))  # events no decoder accepts

    def frame(round: int) -> bytes:
        return byz.proposal_frame(CraftedBlock(height, header, junk, byz.random_hash()),
                                  round=round)

    frames = [frame(r) for r in others] + [frame(r) for r in own]
    assert all(len(f) <= MAX_FRAME for f in frames)
    rss_before = slow_net.rss()
    byz.send(slow_net.urls[0], *frames, kind="frame-sized proposals")
    # Node 0 relays each of its proposer's proposals to nodes 1 and 2, which pass
    # them back to us: once the last one is back, node 0 has handled them all.
    wait_until(lambda: frames[-1] in {d for _, d in list(byz.received)}, timeout=20,
               what="node 0 to relay the last proposal")
    relayed = {d for _, d in list(byz.received)} & set(frames[:len(others)])
    assert not relayed, f"{len(relayed)} proposals from a non-proposer were relayed"
    mark = len(byz.received)
    byz.connect(slow_net.urls[0])  # a fresh link: node 0 greets it with what it keeps
    settle(lambda: len(byz.received), quiet=0.5, timeout=15, what="node 0's greeting")
    greeting = {d for url, d in list(byz.received)[mark:] if url == slow_net.urls[0]}
    kept = len(greeting & set(frames[len(others):]))
    # It keeps the newest few of its proposer's (proof that the greeting was read).
    assert 1 <= kept <= 4, f"node 0 keeps {kept} of our proposals for re-gossip"
    slow_net.wait_committed(height, timeout=30)
    growth = [after - before for before, after in zip(rss_before, slow_net.rss(), strict=True)]
    assert max(growth) < RSS_GROWTH_LIMIT, growth
    record_figure("frame-sized proposals sent", len(frames), kept_for_regossip=kept,
                  frame_bytes=max(len(f) for f in frames),
                  rss_growth_mib=round(max(growth) / 2**20, 1))
    assert_honest_and_live(slow_net)


@pytest.mark.parametrize("rounds", ["own_round", "other_rounds"])
def test_extra_valid_proposals_do_not_push_out_the_block_being_decided(
        net: Net, rounds: str, record_figure: Callable[..., None]) -> None:
    """At its turn the Byzantine validator proposes a valid block X and, right behind
    it, more valid blocks of its own for the same height: in round 0 again
    (equivocation) or in rounds whose proposer is someone else.  Each is a real
    block, so a node that judged it keeps it ready to commit.  The honest nodes
    prevote X and must then commit X, not find they decided a block they no
    longer hold."""
    byz = net.byz
    height = net.my_turn()
    block = byz.build_block([])
    header = byz.ledger.head.header
    assert header is not None
    extra_rounds = ([0] * 12 if rounds == "own_round"
                    else [r for r in range(1, 17) if not byz.is_my_turn(height, r)][:12])
    extras = [byz.proposal_frame(byz.build_block([], at_ms=block_time), round=r)
              for r, block_time in zip(extra_rounds, itertools.count(
                  byz.block_time_ms() + 1000), strict=False)]
    byz.send_all(byz.proposal_frame(block), *extras, kind=f"extra valid proposals ({rounds})")
    byz.send_all(byz.vote_frame(VoteKind.PREVOTE, height, 0, block.block_id),
                 byz.vote_frame(VoteKind.PRECOMMIT, height, 0, block.block_id), kind="vote")
    net.wait_committed(height)
    record_figure("extra valid proposals sent", len(extras) * 3, rounds=rounds,
                  committed_the_first=byz.roots[height] == block.block_id)
    assert_honest_and_live(net)


@pytest.mark.parametrize("hello", ["oversized", "wrong_origin", "wrong_genesis", "not_a_hello",
                                   "none_at_all"])
def test_a_bad_hello_is_refused(net: Net, hello: str,
                                record_figure: Callable[..., None]) -> None:
    """A connection whose first frame is not a valid hello for this network (or that
    sends none) is closed without becoming a peer; the honest links stay up."""
    byz, genesis = net.byz, net.files.genesis
    nonce = byz.rng.randbytes(16)
    first: bytes | None
    if hello == "oversized":  # over the 64 KiB a frame before the hello may have
        first = encoding.pack([1, "hello", genesis.origin, genesis.hash, nonce, 0,
                               b"\x00" * (64 * 1024)])
    elif hello == "wrong_origin":
        first = encode_frame(Hello("vcledger.example/another", genesis.hash, nonce, 0))
    elif hello == "wrong_genesis":
        first = encode_frame(Hello(genesis.origin, byz.random_hash(), nonce, 0))
    elif hello == "not_a_hello":
        first = byz.status_frame(1, 2)
    else:
        first = None
    target = byz.rng.randrange(3)
    closed_after = byz.greet_with(net.urls[target], first, timeout=15)
    assert closed_after is not None, f"a {hello} hello left the connection open"
    wait_until(lambda: all(c >= 2 for c in peer_counts(net)), timeout=10,
               what="the honest links to stay up")
    record_figure("bad hello refused", 1, hello=hello, closed_after_s=round(closed_after, 2))
    assert_honest_and_live(net)


def test_after_every_attack_only_the_byzantine_validator_is_in_the_evidence(
        net: Net, record_figure: Callable[..., None]) -> None:
    """Runs last on the shared network: whatever came before, every evidence record
    on every honest node names validator 3 and verifies, no honest validator ever
    signed two conflicting messages, and the three honest nodes agree."""
    origin, validators = net.files.genesis.origin, net.files.genesis.validator_keys
    me = net.byz.key.public_key.hex()
    counts = []
    for node in range(3):
        records = net.evidence(node)
        counts.append(len(records))
        for entry in records:
            assert entry["validator"] == me, entry
            decode = decode_proposal if entry["kind"] == "proposal" else decode_vote
            for field in ("first", "second"):
                decode(base64.b64decode(entry[field]), origin, validators)
    assert_honest_and_live(net)
    record_figure("attacks on the shared network", sum(net.byz.sent.values()),
                  by_kind=dict(net.byz.sent), evidence_records=counts,
                  height=net.byz.ledger.head.height)
