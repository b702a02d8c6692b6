"""N real consensus drivers over a simulated network: agreement, validity, progress, evidence.

Each run is one seeded scenario: n validators (4 or 7), one of them faulty in
one way, an in-memory network with a virtual clock and an event queue.
Before the global stabilisation time (GST) the network drops, delays and
reorders messages at random; after it every message arrives within DELTA.
Every node runs the node's own :class:`node.driver.ConsensusDriver` (so its
pacing, pinning, early-message, re-gossip and catch-up rules are the ones
under test); the simulation is only the runner around it, as
node/producer.py is in the node: it signs (a keyed hash stands in for
Ed25519), floods frames like node/peers.py, answers block requests, keeps the
write-ahead records across crashes, and serves committed blocks for catch-up.

Checked per run: no two honest nodes decide different blocks at a height;
every decided block was proposed and valid; after GST every honest node
decides the next K heights within BOUND virtual seconds; no honest node ever
signs two different messages for one (height, round, kind), across restarts
too; evidence names the equivocator and never an honest node.  Loops are
bounded by MAX_EVENTS so a liveness bug fails instead of hanging.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from client.encoding import pack
from client.hashes import Hash
from node.consensus import ConsensusMachine
from node.consensus_types import (
    NIL_ROUND,
    Broadcast,
    Decide,
    Evidence,
    Input,
    Message,
    OwnBlock,
    Proposal,
    ProposalInput,
    RequestBlock,
    StartHeight,
    TimeoutConfig,
    TimeoutInput,
    TimeoutKind,
    Vote,
    VoteInput,
    VoteKind,
    proposer_of,
    quorum_size,
)
from node.driver import ConsensusDriver
from node.driver_types import (
    AnnounceHead,
    BlockBuilt,
    BuildBlock,
    CancelTimers,
    CheckProposal,
    Commit,
    Committed,
    DeleteBodies,
    Pacing,
    PersistBody,
    PersistSnapshot,
    ProposalArrived,
    ProposalChecked,
    RecordEvidence,
    Recover,
    Regossip,
    RegossipDue,
    Requeue,
    Send,
    SetTimer,
    StartCatchUp,
    VoteArrived,
)
from node.records import BlockBody
from node.wire import ProposalFrame, VoteFrame, encode_frame

TIMEOUTS = TimeoutConfig(propose=0.4, prevote=0.2, precommit=0.2, delta=0.1)
DELTA = 0.05            # after GST every message arrives within DELTA
MIN_DELAY = 0.002
PRE_GST_DROP = 0.3
PRE_GST_MAX_DELAY = 1.5
PARTITION_PERIOD = (0.2, 1.0)   # a partition lasts this long (virtual seconds)
PARTITION_MAX_DELAY = 0.2
TICK = 0.5              # the runner's re-gossip tick and catch-up watch (node: 1 s, 0.5 s)
PACING = Pacing(block_interval=0.003, empty_block_interval=1.0, max_block_events=100)
K = 3                   # heights every honest node must decide after GST
BOUND = 20.0            # ... within this many virtual seconds after GST
MAX_EVENTS = 150_000
MAX_SYNC_BATCH = 32
SEEDS = 40              # per (n, behaviour); scripts sweep thousands more the same way
FIRST_HEIGHT = 1

BEHAVIOURS = ("equivocating_proposer", "invalid_votes", "double_vote", "amnesia", "silent",
              "crash")
EQUIVOCATING = {"equivocating_proposer", "double_vote"}


def block_id(*parts: object) -> Hash:
    return Hash(hashlib.sha256(repr(parts).encode()).digest())


@dataclass(frozen=True)
class Scenario:
    n: int
    seed: int
    behaviour: str
    restart: bool = False
    partitions: bool = False   # before GST: changing partitions instead of random loss


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    height: int
    round: int
    block_id: Hash
    precommits: tuple[Vote, ...]


@dataclass
class Node:
    index: int
    id: bytes
    behaviour: str | None              # None for an honest node
    driver: Driver | None              # the real node/driver.py; None while crashed
    alive: bool = True
    epoch: int = 0                     # inputs queued in an earlier life are void
    timer_generation: int = 0          # timers set before the last CancelTimers are void
    # Durable: survives a crash.
    wal: bytes | None = None
    bodies: dict[Hash, BlockBody] = field(default_factory=dict)
    decided: dict[int, CommitCertificate] = field(default_factory=dict)   # the block store
    # The peer layer's volatile state: lost on a crash.
    seen: set[Message] = field(default_factory=set)
    per_peer: list[tuple[int, Message]] = field(default_factory=list)  # faulty: what went where
    peer_heights: dict[int, int] = field(default_factory=dict)          # from status frames
    evidence: list[Evidence] = field(default_factory=list)
    restarts: int = 0

    @property
    def head(self) -> int:
        return max(self.decided, default=0)


Driver = ConsensusDriver[Hash]


class Simulation:
    def __init__(self, scenario: Scenario, *, heights: int = K) -> None:
        self.scenario = scenario
        self.heights = heights
        self.rng = random.Random(f"vcledger-consensus-sim/{scenario}")
        n = scenario.n
        self.ids: list[bytes] = [block_id("validator", scenario.seed, i) for i in range(n)]
        self.secrets: dict[bytes, bytes] = {vid: block_id("secret", vid) for vid in self.ids}
        self.validators = tuple(self.ids)
        self.quorum = quorum_size(n)
        self.faulty = self.rng.randrange(n)
        self.gst = self.rng.uniform(2.0, 5.0)
        self.crash_at = self.rng.uniform(0.0, self.gst + 2.0)
        self.side: frozenset[int] = frozenset()
        self.blocks: dict[Hash, bool] = {}            # every block ever built -> valid?
        self.proposed: dict[int, set[Hash]] = {}      # height -> block ids sent in proposals
        self.signed_by_honest: dict[tuple[bytes, int, int, int], Any] = {}
        self.frames: dict[bytes, Message] = {}        # frame bytes -> the message they carry
        self.failures: list[str] = []
        self.equivocated = False
        # What the run exercised, so a test can show the scenarios are not idle.
        self.stats = {"invalid_proposals": 0, "synced_heights": 0, "catch_up_requests": 0,
                      "max_round": 0, "resumes": 0, "dropped": 0, "regossips": 0}
        self.queue: list[tuple[float, int, str, Any]] = []
        self.seq = 0
        self.events = 0
        self.now = 0.0
        self.nodes = [Node(i, vid, scenario.behaviour if i == self.faulty else None, None)
                      for i, vid in enumerate(self.ids)]
        for node in self.nodes:
            node.driver = self.new_driver(node)
        self.honest = [node for node in self.nodes if node.behaviour is None]
        if scenario.behaviour == "silent":
            self.nodes[self.faulty].alive = False
        self.restart_plan: tuple[int, float, float] | None = None
        if scenario.restart:
            victim = self.rng.choice(self.honest).index
            down = self.rng.uniform(0.5, self.gst + 1.0)
            self.restart_plan = (victim, down, down + self.rng.uniform(0.2, 3.0))

    def new_driver(self, node: Node) -> Driver:
        return ConsensusDriver(own_id=node.id, validators=self.validators, timeouts=TIMEOUTS,
                               pacing=PACING, signer=self.sign)

    # -- event queue -----------------------------------------------------------

    def push(self, at: float, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, payload))

    def run(self) -> float | None:
        """Run until the goals are met; return the virtual time it took after GST."""
        for node in self.nodes:
            if node.alive:
                self.drive(node, Recover(0, None))
                self.push(self.rng.uniform(0, TICK), "tick", (node.index, node.epoch))
        if self.restart_plan:
            victim, down, up = self.restart_plan
            self.push(down, "crash", victim)
            self.push(up, "recover", victim)
        if self.scenario.behaviour == "crash":
            self.push(self.crash_at, "crash", self.faulty)
        self.push(self.gst, "gst", None)
        if self.scenario.partitions:
            self.push(0.0, "partition", None)
        target: int | None = None
        while self.queue and self.events < MAX_EVENTS:
            at, _, kind, payload = heapq.heappop(self.queue)
            self.now = at
            self.events += 1
            if kind == "gst":
                target = max(self.height_of(node) for node in self.honest) + self.heights - 1
            elif at > self.gst + BOUND:
                return None
            self.dispatch(kind, payload)
            if target is not None and self.goals_met(target):
                return self.now - self.gst
        return None

    def goals_met(self, target: int) -> bool:
        if any(target not in node.decided for node in self.honest):
            return False
        if self.restart_plan and self.nodes[self.restart_plan[0]].restarts == 0:
            return False
        if self.scenario.behaviour in EQUIVOCATING:
            return self.evidence_against(self.ids[self.faulty])
        return True

    def evidence_against(self, culprit: bytes) -> bool:
        return any(sender_of(e.first) == culprit for node in self.honest for e in node.evidence)

    def height_of(self, node: Node) -> int:
        return node.head + 1

    def dispatch(self, kind: str, payload: Any) -> None:
        if kind == "deliver":
            dst, (msg, data) = payload
            self.receive(self.nodes[dst], msg, data)
        elif kind == "timer":
            index, epoch, generation, event = payload
            node = self.nodes[index]
            if node.alive and node.epoch == epoch and node.timer_generation == generation:
                self.drive(node, event)
        elif kind == "input":
            index, epoch, event = payload
            node = self.nodes[index]
            if node.alive and node.epoch == epoch:
                self.drive(node, event)
        elif kind == "tick":
            index, epoch = payload
            node = self.nodes[index]
            if node.alive and node.epoch == epoch:
                self.tick(node)
                self.push(self.now + TICK, "tick", (index, epoch))
        elif kind == "status":
            dst, (sender, height) = payload
            node = self.nodes[dst]
            if node.alive:
                node.peer_heights[sender] = max(node.peer_heights.get(sender, 0), height)
        elif kind == "fetch":
            dst, (requester, height) = payload
            self.serve_blocks(self.nodes[dst], self.nodes[requester], height)
        elif kind == "sync":
            dst, batch = payload
            self.receive_certificates(self.nodes[dst], batch)
        elif kind == "partition":
            if self.now < self.gst:
                self.side = frozenset(node.index for node in self.honest
                                      if self.rng.random() < 0.5)
                self.push(self.now + self.rng.uniform(*PARTITION_PERIOD), "partition", None)
        elif kind == "crash":
            self.crash(self.nodes[payload])
        elif kind == "recover":
            self.recover(self.nodes[payload])

    # -- the network --------------------------------------------------------------

    def send(self, src: Node, dst: Node, kind: str, payload: Any, msg: Message | None) -> None:
        if dst is src:
            return
        # A real gossip layer learns what each peer has; this one just looks.
        if msg is not None and msg in dst.seen:
            return
        if self.now < self.gst and self.scenario.partitions:
            # Honest validators on different sides cannot talk; the faulty
            # one reaches both, the classic set-up for a split decision.
            honest_pair = src.behaviour is None and dst.behaviour is None
            if honest_pair and (src.index in self.side) != (dst.index in self.side):
                self.stats["dropped"] += 1
                return
            delay = self.rng.uniform(MIN_DELAY, PARTITION_MAX_DELAY)
        elif self.now < self.gst:
            if self.rng.random() < PRE_GST_DROP:
                self.stats["dropped"] += 1
                return
            delay = self.rng.uniform(0.0, PRE_GST_MAX_DELAY)
        else:
            delay = self.rng.uniform(MIN_DELAY, DELTA)
        self.push(self.now + delay, kind, (dst.index, payload))

    def send_message(self, src: Node, dst: Node, msg: Message) -> None:
        self.send(src, dst, "deliver", (msg, self.frame_of(msg)), msg)

    def frame_of(self, msg: Message) -> bytes:
        if isinstance(msg, Proposal):
            data = encode_frame(ProposalFrame(msg.signed, msg.block_id, ()))
        else:
            data = encode_frame(VoteFrame(msg.signed))
        self.frames[data] = msg
        return data

    # -- signing (a keyed hash stands in for Ed25519) ------------------------------

    def sign(self, msg: Message) -> Message:
        return dataclasses.replace(msg, signed=self.signature(msg))

    def signature(self, msg: Message) -> bytes:
        if isinstance(msg, Proposal):
            body = pack(["proposal", msg.height, msg.round, msg.block_id, msg.valid_round])
        else:
            body = pack([int(msg.kind), msg.height, msg.round, msg.block_id])
        return hashlib.sha256(self.secrets[sender_of(msg)] + body).digest()

    def verified(self, msg: Message) -> bool:
        return sender_of(msg) in self.secrets and msg.signed == self.signature(msg)

    # -- the runner: carries out the real driver's actions --------------------------

    def drive(self, node: Node, item: Any) -> None:
        """Hand one input to node/driver.py and carry out its actions, in order; an
        action answered at once (a built or checked block, a commit) is answered at
        once, as node/producer.py does."""
        assert node.driver is not None
        for action in node.driver.handle(item, self.now, pending_events=1):
            answer = self.carry_out(node, action)
            if answer is not None:
                self.drive(node, answer)

    def carry_out(self, node: Node, action: Any) -> Any:
        if isinstance(action, SetTimer):
            self.push(action.at, "timer",
                      (node.index, node.epoch, node.timer_generation, action.input))
        elif isinstance(action, CancelTimers):
            node.timer_generation += 1
        elif isinstance(action, Send):
            self.frames[action.data] = action.message
            self.record_signed(node, action.message)
            node.seen.add(action.message)
            self.disseminate(node, action.message)
        elif isinstance(action, PersistSnapshot):
            node.wal = action.snapshot
        elif isinstance(action, PersistBody):
            node.bodies[action.block_id] = action.body
        elif isinstance(action, DeleteBodies):
            node.bodies.clear()
        elif isinstance(action, BuildBlock):
            built = block_id("block", node.index, action.height, action.round)
            self.blocks[built] = True
            return BlockBuilt(action.height, action.round, built, BlockBody(built, ()), built)
        elif isinstance(action, CheckProposal):
            valid = self.blocks.get(action.proposal.block_id, False)
            return ProposalChecked(action.proposal, action.body, valid,
                                   action.proposal.block_id if valid else None)
        elif isinstance(action, Commit):
            decision = action.decision
            if not self.blocks.get(action.block, False):
                self.failures.append(f"node {node.index} committed an invalid block")
            self.commit(node, CommitCertificate(decision.height, decision.round,
                                                decision.block_id, decision.precommits))
            return Committed(decision.height)
        elif isinstance(action, RecordEvidence):
            self.check_evidence(node, action.evidence)
        elif isinstance(action, StartCatchUp):
            self.stats["catch_up_requests"] += 1
            self.fetch_blocks(node)
        elif isinstance(action, Requeue):
            self.push(self.now, "input", (node.index, node.epoch, action.input))
        elif isinstance(action, Regossip):
            self.stats["regossips"] += 1
            for data in action.frames:
                msg = self.frames[data]
                for peer in self.nodes:
                    self.send(node, peer, "deliver", (msg, data), msg)
        elif isinstance(action, AnnounceHead):
            for peer in self.nodes:
                self.send(node, peer, "status", (node.index, node.head), None)
        return None

    def receive(self, node: Node, msg: Message, data: bytes) -> None:
        """The peer layer: verify, drop what was seen, hand it on, flood it."""
        if not node.alive or msg in node.seen:
            return
        assert self.verified(msg), "the simulated network delivered a forged message"
        node.seen.add(msg)
        if isinstance(msg, Proposal):
            if msg.proposer != proposer_of(self.validators, msg.height, msg.round):
                return
            self.drive(node, ProposalArrived(msg, BlockBody(msg.block_id, ()), data))
        else:
            self.drive(node, VoteArrived(msg, data))
        if node.behaviour is None:
            for peer in self.nodes:
                self.send(node, peer, "deliver", (msg, data), msg)
        elif node.behaviour == "amnesia" and isinstance(msg, Proposal):
            self.vote_for_everything(node, msg)

    def vote_for_everything(self, node: Node, proposal: Proposal) -> None:
        """The strongest helper of a split: the faulty validator adds its prevote
        and precommit to every proposal's quorum, whatever it voted before."""
        for kind in VoteKind:
            vote = self.sign(Vote(kind, proposal.height, proposal.round, proposal.block_id,
                                  node.id))
            for peer in self.nodes:
                if peer is not node:
                    self.send_message(node, peer, vote)
                    node.per_peer.append((peer.index, vote))

    def commit(self, node: Node, certificate: CommitCertificate) -> None:
        self.stats["max_round"] = max(self.stats["max_round"], certificate.round)
        assert certificate.height == node.head + 1, "a block committed out of order"
        node.decided[certificate.height] = certificate

    def tick(self, node: Node) -> None:
        """The runner's periodic work: the re-gossip tick and the catch-up watch."""
        if node.behaviour is not None:
            for dst, msg in node.per_peer:
                self.send_message(node, self.nodes[dst], msg)
            return
        self.drive(node, RegossipDue())
        # Heights travel over reliable links in the node (a hello on every connection, a
        # status after every commit); over this lossy network they are simply repeated.
        for peer in self.nodes:
            self.send(node, peer, "status", (node.index, node.head), None)
        if max(node.peer_heights.values(), default=0) > node.head:
            self.fetch_blocks(node)

    # -- catch-up --------------------------------------------------------------------

    def fetch_blocks(self, node: Node) -> None:
        """Ask one peer (a random one: no peer is special) for blocks after the head."""
        peer = self.rng.choice([p for p in self.nodes if p is not node])
        self.send(node, peer, "fetch", (node.index, node.head + 1), None)

    def serve_blocks(self, node: Node, requester: Node, height: int) -> None:
        if not node.alive:
            return
        batch = tuple(node.decided[h] for h in range(height, height + MAX_SYNC_BATCH)
                      if h in node.decided)
        if batch:
            self.send(node, requester, "sync", batch, None)

    def receive_certificates(self, node: Node, batch: tuple[CommitCertificate, ...]) -> None:
        """Check each commit certificate and re-execute its block, in order; commit."""
        if not node.alive or node.driver is None:
            return
        for certificate in batch:
            if certificate.height != node.head + 1:
                continue
            voters = {v.voter for v in certificate.precommits if (
                v.kind == VoteKind.PRECOMMIT and v.height == certificate.height
                and v.round == certificate.round and v.block_id == certificate.block_id
                and v.voter in self.validators and self.verified(v))}
            if len(voters) < self.quorum or not self.blocks.get(certificate.block_id, False):
                self.failures.append(f"bad commit certificate {certificate}")
                return
            self.commit(node, certificate)
            self.stats["synced_heights"] += 1
            self.drive(node, Committed(certificate.height))
        if max(node.peer_heights.values(), default=0) > node.head:
            self.fetch_blocks(node)

    def disseminate(self, node: Node, msg: Message) -> None:
        if isinstance(msg, Proposal):
            self.proposed.setdefault(msg.height, set()).add(msg.block_id)
        if node.behaviour is None:
            for peer in self.nodes:
                self.send_message(node, peer, msg)
            return
        peers = [peer for peer in self.nodes if peer is not node]
        for peer, variant in self.faulty_variants(node, msg, peers):
            self.send_message(node, peer, variant)
            node.per_peer.append((peer.index, variant))

    def faulty_variants(
        self, node: Node, msg: Message, peers: list[Node]
    ) -> Iterator[tuple[Node, Message]]:
        behaviour = node.behaviour
        if behaviour == "crash" and self.now >= self.crash_at:
            return
        if behaviour == "equivocating_proposer" and isinstance(msg, Proposal):
            other = block_id("equivocation", msg.height, msg.round)
            self.blocks[other] = self.rng.random() < 0.5   # valid or not
            variant = self.sign(dataclasses.replace(msg, block_id=other))
            self.proposed.setdefault(msg.height, set()).add(other)
            self.equivocated = True
            for i, peer in enumerate(peers):
                yield peer, (msg if i % 2 else variant)
            return
        if behaviour == "invalid_votes":
            if isinstance(msg, Proposal):
                bad = block_id("invalid", msg.height, msg.round)
                self.blocks[bad] = False
                self.stats["invalid_proposals"] += 1
                variant = self.sign(dataclasses.replace(msg, block_id=bad))
                self.proposed.setdefault(msg.height, set()).add(bad)
            else:
                unknown = block_id("unknown", msg.height, msg.round, int(msg.kind))
                variant = self.sign(dataclasses.replace(msg, block_id=unknown))
            for peer in peers:
                yield peer, variant
            return
        if behaviour == "double_vote" and isinstance(msg, Vote):
            conflicting = None if msg.block_id else block_id("double", msg.height, msg.round)
            variant = self.sign(dataclasses.replace(msg, block_id=conflicting))
            both = self.rng.choice(peers)
            for i, peer in enumerate(peers):
                yield peer, (msg if i % 2 else variant)
                if peer is both:
                    yield peer, (variant if i % 2 else msg)
            return
        for peer in peers:
            yield peer, msg

    # -- crash and restart ----------------------------------------------------------

    def crash(self, node: Node) -> None:
        node.alive = False
        node.epoch += 1
        node.driver = None
        node.seen = set()
        node.per_peer = []
        node.peer_heights = {}

    def recover(self, node: Node) -> None:
        assert node.wal is not None
        node.alive = True
        node.restarts += 1
        node.driver = self.new_driver(node)
        restored = ConsensusMachine.restore(node.wal, own_id=node.id, timeouts=TIMEOUTS)
        if restored.height == node.head + 1:
            self.stats["resumes"] += 1
        self.drive(node, Recover(node.head, node.wal, tuple(node.bodies.items())))
        self.push(self.now + TICK, "tick", (node.index, node.epoch))

    # -- invariants checked as the run goes -----------------------------------------

    def record_signed(self, node: Node, msg: Message) -> None:
        """An honest validator never signs two different messages for one slot."""
        if node.behaviour is not None:
            return
        content: object
        if isinstance(msg, Proposal):
            key, content = (node.id, msg.height, msg.round, 0), (msg.block_id, msg.valid_round)
        else:
            key, content = (node.id, msg.height, msg.round, int(msg.kind)), msg.block_id
        earlier = self.signed_by_honest.setdefault(key, content)
        if earlier != content:
            self.failures.append(f"honest node {node.index} signed {content!r} after {earlier!r}")

    def check_evidence(self, node: Node, evidence: Evidence) -> None:
        first, second = evidence.first, evidence.second
        if isinstance(first, Vote) and isinstance(second, Vote):
            same_slot = first.kind == second.kind and first.voter == second.voter
        elif isinstance(first, Proposal) and isinstance(second, Proposal):
            same_slot = first.proposer == second.proposer
        else:
            same_slot = False
        same_slot = same_slot and (first.height, first.round) == (second.height, second.round)
        if not (same_slot and first != second and self.verified(first)
                and self.verified(second)):
            self.failures.append(f"malformed evidence {evidence}")
        node.evidence.append(evidence)


def sender_of(msg: Message) -> bytes:
    return msg.proposer if isinstance(msg, Proposal) else msg.voter


def scenarios() -> list[Scenario]:
    result = []
    for n in (4, 7):
        for behaviour in BEHAVIOURS:
            for seed in range(SEEDS):
                result.append(Scenario(n, seed, behaviour, restart=seed % 2 == 1,
                                       partitions=seed % 4 >= 2))
    return result


def run_and_check(scenario: Scenario, *, heights: int = K) -> Simulation:
    sim = Simulation(scenario, heights=heights)
    took = sim.run()
    assert sim.failures == []
    # Agreement, over decisions taken by the machines and by sync alike.
    heights = {h for node in sim.honest for h in node.decided}
    for height in heights:
        ids = {node.decided[height].block_id for node in sim.honest if height in node.decided}
        assert len(ids) == 1, f"disagreement at height {height}: {ids}"
        (decided,) = ids
        # Validity: proposed by someone at this height, and valid.
        assert decided in sim.proposed.get(height, set())
        assert sim.blocks[decided] is True
    assert took is not None, (
        f"no progress: {sim.events} events, heights "
        f"{[sim.height_of(node) for node in sim.honest]} at t={sim.now:.2f}, gst={sim.gst:.2f}"
    )
    assert took <= BOUND
    for node in sim.honest:
        assert sorted(node.decided) == list(range(1, len(node.decided) + 1)), \
            "a node's chain has a gap"
    for node in sim.honest:
        for evidence in node.evidence:
            assert sender_of(evidence.first) == sim.ids[sim.faulty]
    if scenario.behaviour in EQUIVOCATING:
        assert sim.evidence_against(sim.ids[sim.faulty])
    if scenario.restart:
        assert sum(node.restarts for node in sim.honest) == 1
    return sim


@pytest.mark.parametrize("scenario", scenarios(), ids=str)
def test_scenario(scenario: Scenario) -> None:
    run_and_check(scenario)


SCALE_CHUNKS = 8
SCALE_SEEDS_PER_CHUNK = 30
SCALE_HEIGHTS = 8


@pytest.mark.parametrize("chunk", range(SCALE_CHUNKS))
def test_safety_and_liveness_at_scale(chunk: int) -> None:
    """Seeds the socket tests could never afford: every behaviour, with and without
    restarts and partitions, each run deciding SCALE_HEIGHTS heights after GST."""
    steps = 0
    for offset in range(SCALE_SEEDS_PER_CHUNK):
        seed = 10_000 + chunk * SCALE_SEEDS_PER_CHUNK + offset
        scenario = Scenario((4, 7)[seed % 2], seed, BEHAVIOURS[seed % len(BEHAVIOURS)],
                            restart=seed % 3 == 0, partitions=seed % 5 < 2)
        steps += run_and_check(scenario, heights=SCALE_HEIGHTS).events
    assert steps > 20_000, "the runs were too short to show anything"


def test_the_scenarios_exercise_what_they_claim() -> None:
    """Guard against a simulation that passes because nothing happens in it."""
    totals: dict[str, int] = {}
    for scenario in [s for s in scenarios() if s.seed < 6]:
        sim = Simulation(scenario)
        sim.run()
        for key, value in sim.stats.items():
            totals[key] = max(value, totals.get(key, 0)) if key == "max_round" \
                else totals.get(key, 0) + value
    assert totals["dropped"] > 1000
    assert totals["invalid_proposals"] > 5
    assert totals["synced_heights"] > 10
    assert totals["catch_up_requests"] > 0   # the driver asked to catch up
    assert totals["regossips"] > 0           # the driver re-sent a stuck height's messages
    assert totals["max_round"] >= 3          # decisions after failed rounds
    assert totals["resumes"] > 0             # restarts resumed mid-height


def test_a_run_is_a_function_of_its_scenario() -> None:
    def trace(scenario: Scenario) -> tuple[object, ...]:
        sim = Simulation(scenario)
        took = sim.run()
        return took, sim.events, tuple(
            tuple(sorted((h, c.round, c.block_id) for h, c in node.decided.items()))
            for node in sim.nodes)
    scenario = Scenario(7, 3, "double_vote", restart=True)
    assert trace(scenario) == trace(scenario)


class ScriptedNetwork:
    """Machines whose every message is delivered by hand: the adversary's schedule."""

    def __init__(self, validators: tuple[bytes, ...], honest: tuple[bytes, ...]) -> None:
        self.machines = {vid: ConsensusMachine(own_id=vid, validators=validators,
                                               timeouts=TIMEOUTS) for vid in honest}
        self.outbox: dict[bytes, list[Message]] = {vid: [] for vid in honest}
        self.decided: dict[bytes, Hash] = {}
        for vid in honest:
            self.run(vid, StartHeight(FIRST_HEIGHT))

    def run(self, vid: bytes, event: Input) -> None:
        work: deque[Input] = deque([event])
        while work:
            for effect in self.machines[vid].handle(work.popleft(), 0.0):
                if isinstance(effect, Broadcast):
                    self.outbox[vid].append(effect.message)
                    msg = effect.message
                    work.append(ProposalInput(msg, True) if isinstance(msg, Proposal)
                                else VoteInput(msg))
                elif isinstance(effect, RequestBlock):
                    work.append(OwnBlock(effect.height, effect.round,
                                         block_id("block", vid, effect.round)))
                elif isinstance(effect, Decide):
                    self.decided[vid] = effect.block_id

    def deliver(self, msg: Message, *to: bytes) -> None:
        for vid in to:
            self.run(vid, ProposalInput(msg, True) if isinstance(msg, Proposal)
                     else VoteInput(msg))

    def sent(self, vid: bytes, kind: VoteKind | None, round: int) -> Message:
        (msg,) = [m for m in self.outbox[vid] if m.round == round and (
            isinstance(m, Proposal) if kind is None else isinstance(m, Vote) and m.kind == kind)]
        return msg

    def timeout(self, vid: bytes, kind: TimeoutKind, round: int) -> None:
        self.run(vid, TimeoutInput(kind, FIRST_HEIGHT, round))


def test_locks_defeat_the_split_vote_attack() -> None:
    """The schedule that makes an unlocked Tendermint decide two blocks.

    Validators A, B, C are correct, F is faulty; proposer(1, 0) = B and
    proposer(1, 1) = C.  Round 0: only A and B see B's proposal v, F prevotes v
    to them, both lock v and precommit it; F's precommit for v reaches only A,
    so A decides v.  B and C move to round 1 on nil precommits (F sends those
    to them).  Round 1: C proposes a fresh block w and F votes for it.  Because
    B is locked on v it prevotes nil, so w never gets 2f+1 prevotes.  Without
    the lock (tried by hand: drop the lock test at [L23]) B prevotes w and C
    decides w.
    """
    validators = tuple(block_id("validator", i) for i in range(4))
    a, b, c, f = validators[0], validators[1], validators[2], validators[3]
    assert proposer_of(validators, 1, 0) == b and proposer_of(validators, 1, 1) == c
    net = ScriptedNetwork(validators, honest=(a, b, c))
    v = net.sent(b, None, 0)
    net.deliver(v, a)
    net.deliver(net.sent(a, VoteKind.PREVOTE, 0), b)
    net.deliver(net.sent(b, VoteKind.PREVOTE, 0), a, c)
    net.deliver(Vote(VoteKind.PREVOTE, 1, 0, v.block_id, f), a, b)
    assert net.machines[a].locked == net.machines[b].locked == (0, v.block_id)
    net.deliver(net.sent(b, VoteKind.PRECOMMIT, 0), a)
    net.deliver(Vote(VoteKind.PRECOMMIT, 1, 0, v.block_id, f), a)
    assert net.decided == {a: v.block_id}
    # C never saw v: it times out, and with F's nil votes everyone left moves on.
    net.timeout(c, TimeoutKind.PROPOSE, 0)
    net.deliver(Vote(VoteKind.PREVOTE, 1, 0, None, f), c)
    net.timeout(c, TimeoutKind.PREVOTE, 0)
    nil_precommit_f = Vote(VoteKind.PRECOMMIT, 1, 0, None, f)
    net.deliver(nil_precommit_f, b, c)
    net.deliver(net.sent(c, VoteKind.PRECOMMIT, 0), b)
    net.deliver(net.sent(b, VoteKind.PRECOMMIT, 0), c)
    for vid in (b, c):
        net.timeout(vid, TimeoutKind.PRECOMMIT, 0)
        assert net.machines[vid].round == 1
    w = net.sent(c, None, 1)
    assert isinstance(w, Proposal) and w.block_id != v.block_id and w.valid_round == NIL_ROUND
    net.deliver(w, b)
    for kind in VoteKind:
        net.deliver(Vote(kind, 1, 1, w.block_id, f), b, c)
    net.deliver(net.sent(b, VoteKind.PREVOTE, 1), c)
    net.deliver(net.sent(c, VoteKind.PREVOTE, 1), b)
    for vid in (b, c):
        if any(m.round == 1 and isinstance(m, Vote) and m.kind == VoteKind.PRECOMMIT
               for m in net.outbox[vid]):
            net.deliver(net.sent(vid, VoteKind.PRECOMMIT, 1), b, c)
    assert set(net.decided.values()) == {v.block_id}, "two blocks decided at one height"
    prevote = net.sent(b, VoteKind.PREVOTE, 1)
    assert isinstance(prevote, Vote) and prevote.block_id is None   # the lock at work
