"""Crash and restart: SIGKILL at random moments, and databases copied while written.

Three scenarios on a real 4-validator network on 127.0.0.1:

* **Random kills under load** — writer threads post signed events to random
  nodes with ``?wait=commit`` while a killer SIGKILLs a random node at random
  points of the commit stream and restarts it (6 kills, 20 with ``--long``).
  Then every acknowledged event must sit at its promised index on every node,
  every node must hold the same block at every height, every checkpoint ever
  served must verify and be consistent with the final one, and no validator
  may have signed two different votes for one height, round and kind — judged
  from ``/v1/evidence``, from the write-ahead log of every killed node read
  right after its death, and from every node's commit certificates.
* **Kill during a large block** — a batch large enough that writing its block
  takes a while; the victim is killed the moment its LevelDB log has grown by
  a random amount, i.e. while (or just after) the block's batch is written.
  A SIGKILL cannot tear a write the OS has accepted, so the node must restart
  at a block boundary whose header, log root and status root equal the
  others' at that height, and catch up.
* **Copy while written** — a naive backup: ``shutil.copytree`` of a running
  validator's data directory while it writes blocks (LevelDB files copied one
  after another, some mid-append).  A node started on the copy must either
  start at a block boundary whose roots equal the network's and catch up, or
  refuse to start with a clear error — never serve a broken tree.

Seeds are printed (``VCLEDGER_SEED`` replays one); figures go to ``record_figure``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import os
import random
import re
import shutil
import signal
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client import encoding
from client.checkpoint import parse_checkpoint, verify_checkpoint
from client.merkle import leaf_hash, root_from_inclusion_proof, verify_consistency
from client.note import parse_note
from client.trust import Trust, load_trust
from node.consensus import ConsensusMachine
from node.consensus_types import VoteKind
from node.errors import StoreCorrupted
from node.producer import WAL_KEY
from node.provision import node_toml
from node.store import Store
from node.wire import read_certificate_claim, verify_certificate
from tests.nodeutil import (
    FAST_NETWORK_CONSENSUS,
    Load,
    NetworkFiles,
    NodeProcess,
    TestIssuer,
    assert_acknowledged_present,
    assert_same_chain,
    evidence_at,
    fault_seed,
    fixed_key,
    free_port,
    get_json,
    head_of,
    heads_agree,
    http_get,
    post_event_to,
    running_nodes,
    share_cores,
    wait_until,
    write_network,
)

pytestmark = pytest.mark.slow

CONSENSUS = FAST_NETWORK_CONSENSUS
BIG_BLOCKS = {**CONSENSUS, "max_block_events": 5000}
SERVING = re.compile(r"serving \S+ on http://\S+ \(height (\d+)\)")


# -- helpers ----------------------------------------------------------------------------


def connected(urls: list[str]) -> bool:
    for url in urls:
        status, health = get_json(url + "/healthz")
        if status != 200 or (health["peers"] or 0) < len(urls) - 1:
            return False
    return True


def start_network(network: NetworkFiles, tmp_path: Path) -> Any:
    return running_nodes([n.config for n in network.nodes], tmp_path, timeout=60)


def register(url: str, issuer: TestIssuer, network: NetworkFiles) -> None:
    status, body = post_event_to(url, issuer.register(network.governance).encoded, wait=20,
                                 timeout=40)
    assert status == 200 and body["status"] == "committed", body


def post_batch(url: str, events: list[bytes], *, wait: float | None) -> list[dict[str, Any]]:
    query = "" if wait is None else f"?wait=commit&timeout={wait:g}"
    request = urllib.request.Request(url + "/v1/events/batch" + query,
                                     data=encoding.pack(events),
                                     headers={"Content-Type": "application/vnd.vcledger.events"})
    with urllib.request.urlopen(request, timeout=(wait or 30) + 30) as response:
        results: list[dict[str, Any]] = json.loads(response.read())["results"]
    return results


def start_height(node: NodeProcess) -> int:
    """The height the node's newest start announced ("serving ... (height H)")."""
    text = node.log_text()
    latest = text[text.rindex(f"--- start {node.starts} ---"):]
    found = SERVING.search(latest)
    assert found, latest[-3000:]
    return int(found.group(1))


def start_or_refusal(node: NodeProcess, timeout: float = 60.0) -> dict[str, Any] | str:
    """Start the node; its ``/healthz`` if it serves, else the error line it exited with."""
    node.start()
    assert node.process is not None
    deadline = time.monotonic() + timeout
    while True:
        if node.process.poll() is not None:
            assert node.process.returncode != 0, "a refusing node must exit non-zero"
            text = node.log_text()
            latest = text[text.rindex(f"--- start {node.starts} ---"):]
            errors = [line for line in latest.splitlines()
                      if line.startswith("vcledger-node: error: ")]
            assert errors, f"node exited {node.process.returncode} without saying why:\n{latest}"
            assert "Traceback" not in latest, latest
            return errors[-1]
        health = node.health()
        if health is not None:
            return health
        assert time.monotonic() < deadline, f"{node.config} neither served nor refused"
        time.sleep(0.02)


def wait_for_log_growth(data_dir: Path, amount: int, *, timeout: float,
                        tight: bool = True) -> bool:
    """Poll until LevelDB has appended ``amount`` bytes to its log files (``*.log``);
    False on timeout.

    ``tight``: a busy loop over ``stat`` of the newest log (a few microseconds
    each), so the caller can act while a multi-megabyte write batch is still
    being appended; otherwise a poll every few milliseconds that leaves the CPU
    to the nodes.  A log rotated away counts at its largest observed size.
    """
    seen: dict[Path, int] = {}

    def newest() -> Path | None:
        logs = sorted(data_dir.glob("*.log"), key=lambda p: int(p.stem))
        for path in logs:
            with contextlib.suppress(FileNotFoundError):
                seen[path] = max(seen.get(path, 0), path.stat().st_size)
        return logs[-1] if logs else None

    current = newest()
    baseline = sum(seen.values())
    deadline = time.monotonic() + timeout
    for spin in itertools.count():
        if current is None or spin % 512 == 0:
            current = newest()
        if current is not None:
            try:
                seen[current] = max(seen.get(current, 0), os.stat(current).st_size)
            except FileNotFoundError:
                current = None
                continue
        if sum(seen.values()) - baseline >= amount:
            return True
        if spin % 512 == 0 and time.monotonic() > deadline:
            return False
        if not tight:
            time.sleep(0.001)
    raise AssertionError("unreachable")


LEVELDB_BLOCK = 32 * 1024
LEVELDB_HEADER = 7  # crc32c (4), length (2), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def leveldb_torn_batch(data_dir: Path) -> int | None:
    """If the newest LevelDB log file ends inside a record — a write batch that was
    being appended when the process died (or the file was copied) — the number of
    puts in that batch (0 if its header was cut off too); None if it ends cleanly.

    LevelDB's log format: 32 KiB blocks of records, each a 7-byte header
    (checksum, length, type) and a fragment typed FULL, or FIRST, MIDDLE...,
    LAST for a record split across blocks.  A record is a write batch: an
    8-byte sequence number, a 4-byte count of puts, the puts.  A torn tail is a
    FIRST/MIDDLE with no LAST, or a fragment shorter than its header says;
    LevelDB drops it on recovery.  A block's batch holds thousands of puts; a
    write-ahead record of consensus, one.
    """
    logs = sorted(data_dir.glob("*.log"), key=lambda p: int(p.stem))
    if not logs:
        return None
    data = logs[-1].read_bytes()
    in_record = False
    batch_start = 0
    offset = 0

    def count_at(start: int) -> int:
        header = data[start + 8:start + 12]
        return int.from_bytes(header, "little") if len(header) == 4 else 0

    while offset < len(data):
        left_in_block = LEVELDB_BLOCK - offset % LEVELDB_BLOCK
        if left_in_block < LEVELDB_HEADER:  # the block's trailer is zero padding
            offset += left_in_block
            continue
        header = data[offset:offset + LEVELDB_HEADER]
        if len(header) < LEVELDB_HEADER:
            return count_at(batch_start) if in_record else 0
        length = int.from_bytes(header[4:6], "little")
        kind = header[6]
        if kind == 0 and length == 0:  # preallocated zeros: nothing more was written
            break
        if kind in (FULL, FIRST):
            batch_start = offset + LEVELDB_HEADER
        if offset + LEVELDB_HEADER + length > len(data):
            return count_at(batch_start)
        in_record = kind in (FIRST, MIDDLE)
        offset += LEVELDB_HEADER + length
    return count_at(batch_start) if in_record else None


def assert_boundary_matches(url: str, reference: str, height: int) -> None:
    """The node at ``url`` holds, at ``height``, the block ``reference`` has, and its log
    proves the same root: same header (so the same previous hash and status root),
    and the root its own inclusion proof of the header leaf leads to is the root of
    the reference's checkpoint at that size.  (The node may hold no cosignature for
    that size: a copy or a restarted node may stop between a block and its
    cosignatures.)"""
    status, mine = get_json(f"{url}/v1/blocks/{height}")
    assert status == 200, mine
    status, theirs = get_json(f"{reference}/v1/blocks/{height}")
    assert status == 200, theirs
    assert mine["header"] == theirs["header"], (height, mine, theirs)
    size = mine["tree_size"]
    status, note = http_get(f"{reference}/v1/checkpoint?tree_size={size}")
    assert status == 200, note
    expected = parse_checkpoint(parse_note(note.decode()).body).root
    status, leaf = http_get(f"{url}/v1/entries/{size - 1}")
    assert status == 200 and leaf == base64.b64decode(mine["header"]["encoded"]), leaf
    status, proof = get_json(f"{url}/v1/proof/inclusion?index={size - 1}&tree_size={size}")
    assert status == 200, proof
    calculated = root_from_inclusion_proof(size - 1, size, leaf_hash(leaf),
                                           [bytes.fromhex(h) for h in proof["proof"]])
    assert calculated == expected, f"the log root at size {size} differs from the network's"


# -- signed votes: from write-ahead logs and commit certificates --------------------------


VoteSlot = tuple[bytes, int, int, int]
"""(validator public key, height, round, vote kind)."""


class SignedVotes:
    """Every vote a validator is known to have signed, by slot; two different block
    ids (nil included) in one slot would be equivocation."""

    def __init__(self) -> None:
        self.slots: dict[VoteSlot, set[bytes | None]] = defaultdict(set)
        self.proposals: dict[tuple[bytes, int, int], set[bytes]] = defaultdict(set)
        self.snapshots = 0

    def add_wal(self, data_dir: Path, validator: bytes) -> int | None:
        """Read the consensus snapshot of a stopped node; its height, None if there is none."""
        store = Store.open(data_dir, create=False)
        try:
            raw = store.get_wal(WAL_KEY)
        finally:
            store.close()
        if raw is None:
            return None
        machine = ConsensusMachine.restore(raw, own_id=validator)  # malformed raises
        snapshot = machine.snapshot()
        height = machine.height
        self.snapshots += 1
        proposals = snapshot[8]
        votes = snapshot[9]
        assert isinstance(proposals, list) and isinstance(votes, list)
        for p_round, block_id, _valid_round in proposals:
            self.proposals[(validator, height, p_round)].add(block_id)
        for v_round, kind, block_id in votes:
            self.slots[(validator, height, v_round, kind)].add(block_id)
        return height

    def add_certificate(self, block: dict[str, Any], trust_origin: str,
                        validators: tuple[bytes, ...]) -> None:
        assert block["certificate"] is not None, block
        raw = base64.b64decode(block["certificate"])
        certificate = verify_certificate(raw, trust_origin, validators, height=block["height"],
                                         block_id=read_certificate_claim(raw))
        for index, _signature in certificate.signatures:
            self.slots[(validators[index], certificate.height, certificate.round,
                        int(VoteKind.PRECOMMIT))].add(certificate.block_id)

    def conflicts(self) -> list[str]:
        found = [f"validator {k[0].hex()[:16]} height {k[1]} round {k[2]} kind {k[3]}: "
                 f"{sorted((b or b'').hex() for b in v)}"
                 for k, v in self.slots.items() if len(v) > 1]
        found += [f"validator {k[0].hex()[:16]} proposed twice at height {k[1]} round {k[2]}"
                  for k, v in self.proposals.items() if len(v) > 1]
        return found


def stored_height(data_dir: Path) -> int:
    """The head height recorded in a stopped node's database."""
    store = Store.open(data_dir, create=False)
    try:
        head = store.get_meta(b"head")
    finally:
        store.close()
    assert head is not None
    height: int = encoding.unpack(head, max_size=256, what="head record")[1]
    return height


def verify_served_checkpoints(notes: list[str], final_note: str, trust: Trust,
                              url: str) -> int:
    """Each served checkpoint verifies under the trust file and the final one extends it
    (RFC 9162 consistency proof from ``url``).  Returns how many were checked."""
    final = verify_checkpoint(final_note, trust.origin, trust.verifiers(),
                              trust.threshold).checkpoint
    roots: dict[int, bytes] = {final.tree_size: final.root}
    for note in notes:
        checkpoint = verify_checkpoint(note, trust.origin, trust.verifiers(),
                                       trust.threshold).checkpoint
        assert roots.setdefault(checkpoint.tree_size, checkpoint.root) == checkpoint.root, \
            f"two different checkpoints of size {checkpoint.tree_size} were served"
        assert checkpoint.tree_size <= final.tree_size
        status, body = get_json(f"{url}/v1/proof/consistency?old_size={checkpoint.tree_size}"
                                f"&tree_size={final.tree_size}")
        assert status == 200, body
        verify_consistency(checkpoint.tree_size, final.tree_size, checkpoint.root, final.root,
                           [bytes.fromhex(h) for h in body["proof"]])
    return len(notes) + 1


def newest_checkpoint(url: str, trust: Trust) -> str:
    status, body = http_get(f"{url}/v1/checkpoint?min_cosignatures={trust.threshold}")
    assert status == 200, body
    return body.decode()


def checkpoint_size(note: str) -> int:
    return int(note.split("\n")[1])


@pytest.fixture
def network(tmp_path: Path) -> NetworkFiles:
    return share_cores(write_network(tmp_path / "net", 4, consensus=CONSENSUS))


# -- random kills under load ------------------------------------------------------------


@pytest.mark.timeout(1200)  # --long runs the full size
def test_random_kills_lose_no_acknowledged_event(network: NetworkFiles, tmp_path: Path,
                                                 long_mode: bool,
                                                 record_figure: Callable[..., None]) -> None:
    seed = fault_seed("random kills")
    rng = random.Random(seed)
    kills = 20 if long_mode else 6
    trust = load_trust(network.trust)
    validators = network.genesis.validator_keys
    issuer = TestIssuer(fixed_key(f"crash issuer {seed}"), network.genesis.origin)
    votes = SignedVotes()
    started = time.monotonic()
    with start_network(network, tmp_path) as nodes:
        urls = [n.url for n in nodes]
        wait_until(lambda: connected(urls), timeout=30, what="a fully connected network")
        register(urls[0], issuer, network)
        load = Load(urls, issuer, seed=seed, writers=3, wait=10.0, threshold=trust.threshold)
        with load:
            for kill in range(kills):
                # The moment: after a random number of acknowledgements, then one of
                # right away (just after a commit), after the victim's next write or
                # two (a vote's write-ahead record is a few hundred bytes), or after
                # a random pause (any phase of a height).
                victim = rng.randrange(len(nodes))
                target = load.ack_count() + rng.randint(1, 10)
                wait_until(lambda: load.ack_count() >= target, timeout=90,  # noqa: B023
                           what=f"acknowledgements before kill {kill} (seed {seed})")
                moment = rng.choice(["after a commit", "after a write", "after a pause"])
                if moment == "after a write":
                    assert wait_for_log_growth(network.nodes[victim].directory / "data",
                                               rng.randint(100, 1500), timeout=60), seed
                elif moment == "after a pause":
                    threading.Event().wait(rng.uniform(0.0, 0.5))
                nodes[victim].kill()
                wal_height = votes.add_wal(network.nodes[victim].directory / "data",
                                           validators[victim])
                print(f"kill {kill}: node {victim} {moment}, its write-ahead log at height "
                      f"{wal_height}")
                if rng.random() < 0.5:  # the others move on: the victim must catch up
                    target = load.ack_count() + rng.randint(1, 8)
                    wait_until(lambda: load.ack_count() >= target, timeout=90,  # noqa: B023
                               what=f"three nodes committing without node {victim} "
                                    f"(seed {seed})")
                nodes[victim].start()
                nodes[victim].wait_healthy(timeout=60)
            target = load.ack_count() + 5
            wait_until(lambda: load.ack_count() >= target, timeout=90,
                       what=f"commits after the last restart (seed {seed})")
        wait_until(lambda: heads_agree(urls), timeout=60, what="all nodes at one head")
        load_seconds = time.monotonic() - started

        chains = assert_same_chain(urls)
        blocks = chains[0]
        found = assert_acknowledged_present(urls, load.acks, blocks)
        committed = [h for block in blocks for h in block["event_hashes"]]
        assert len(committed) == len(set(committed)), "an event was committed twice"
        assert len({a.index for a in load.acks}) == len(load.acks)
        assert not load.unexpected, load.unexpected

        served = max((checkpoint_size(n) for _, n in load.checkpoints), default=1)
        wait_until(lambda: checkpoint_size(newest_checkpoint(urls[0], trust)) >= served,
                   timeout=30, what="a final checkpoint at least as new as every served one")
        final_note = newest_checkpoint(urls[0], trust)
        checked = verify_served_checkpoints([n for _, n in load.checkpoints], final_note,
                                            trust, urls[0])
        for url in urls:
            assert evidence_at(url) == [], url
        for chain in chains:
            for block in chain:
                votes.add_certificate(block, trust.origin, validators)
        for i, node in enumerate(nodes):
            assert node.terminate() == 0, node.log_text()[-3000:]
            data_dir = network.nodes[i].directory / "data"
            wal_height = votes.add_wal(data_dir, validators[i])
            # A validator votes only on the height after its head.
            assert wal_height is None or wal_height <= stored_height(data_dir) + 1
        assert not votes.conflicts(), votes.conflicts()
        for node in nodes:
            assert "evidence:" not in node.log_text()
            assert "Traceback" not in node.log_text(), node.log_text()
        resumed = sum(node.log_text().count("from the write-ahead log") for node in nodes)

    heights = blocks[-1]["height"]
    print(f"kills {kills}, acknowledged {len(load.acks)}, checkpoints {checked}, "
          f"heights {heights}, resumed from the WAL {resumed}, {load_seconds:.0f} s")
    details = {"seed": seed, "seconds": round(load_seconds, 1)}
    record_figure("kills", kills, **details)
    record_figure("events acknowledged", len(load.acks), **details)
    record_figure("events found (on every node, at the promised index)", found, **details)
    record_figure("events unacknowledged (never promised)", len(load.unacknowledged), **details)
    record_figure("checkpoints checked", checked, **details)
    record_figure("heights", heights, **details)
    record_figure("wal snapshots checked", votes.snapshots, **details)
    record_figure("restarts that resumed a height from the write-ahead log", resumed, **details)
    record_figure("signed votes checked", len(votes.slots), **details)


# -- the disk: killed during a large block ----------------------------------------------


@pytest.mark.timeout(1200)  # --long runs the full size
def test_kill_during_a_large_block_restarts_at_a_block_boundary(
        tmp_path: Path, long_mode: bool, record_figure: Callable[..., None]) -> None:
    seed = fault_seed("kill during a large block")
    rng = random.Random(seed)
    rounds = 8 if long_mode else 3
    size = 3000 if long_mode else 2000
    # Blocks gather events for a second, so the whole batch lands in one block.
    network = share_cores(write_network(tmp_path / "net", 4, consensus={
        **BIG_BLOCKS, "block_interval_ms": 1000}))
    issuer = TestIssuer(fixed_key(f"big block issuer {seed}"), network.genesis.origin)
    outcomes: dict[str, int] = defaultdict(int)
    with start_network(network, tmp_path) as nodes:
        urls = [n.url for n in nodes]
        wait_until(lambda: connected(urls), timeout=30, what="a fully connected network")
        register(urls[0], issuer, network)
        for r in range(rounds):
            # Not the next proposer: its write-ahead copy of the block body is large too.
            proposer = ((head_of(urls[0]) or (0, ""))[0] + 1) % len(nodes)
            victim = rng.choice([i for i in range(len(nodes)) if i != proposer])
            entry = rng.choice([i for i in range(len(nodes)) if i != victim])
            reference = urls[entry]
            events = [issuer.issue(f"big {seed}/{r}/{i}") for i in range(size)]
            data_dir = network.nodes[victim].directory / "data"
            poster = threading.Thread(target=post_batch, args=(urls[entry],
                                                               [e.encoded for e in events]),
                                      kwargs={"wait": None}, daemon=True)
            poster.start()
            # Once the victim holds the batch (its signatures checked), it gets the
            # lowest CPU priority, so that on a busy machine this poller is scheduled
            # while the victim appends the block's batch to LevelDB's log (a few
            # milliseconds at full speed).  The kill comes past the victim's
            # write-ahead copy of the block body (every validator keeps the block it
            # saw 2f+1 prevotes for), inside the block's own batch.
            wait_until(lambda: (get_json(urls[victim] + "/healthz")[1]["mempool"]  # noqa: B023
                                >= size), timeout=60, interval=0.005,
                       what=f"the batch in node {victim}'s mempool (seed {seed})")
            assert nodes[victim].process is not None
            os.setpriority(os.PRIO_PROCESS, nodes[victim].process.pid, 19)
            body = sum(len(e.encoded) for e in events)
            assert wait_for_log_growth(data_dir, body + rng.randint(16 * 1024, 1024 * 1024),
                                       timeout=60), f"node {victim} wrote no block (seed {seed})"
            nodes[victim].kill()
            poster.join(timeout=60)
            torn = leveldb_torn_batch(data_dir)
            if torn is not None:
                outcomes["killed inside a block's write batch" if torn > 1
                         else "killed inside a one-put record (consensus write-ahead log)"
                         if torn == 1 else "killed inside a record's first bytes"] += 1
            health = start_or_refusal(nodes[victim])
            assert isinstance(health, dict), f"a SIGKILLed node refused to start: {health}"
            height = start_height(nodes[victim])
            assert_boundary_matches(urls[victim], reference, height)
            last = events[-1].hash.hex()
            wait_until(lambda: all(get_json(f"{u}/v1/events/{last}")[1].get("status")  # noqa: B023
                                   == "committed" for u in urls),
                       timeout=120, what=f"the big batch committed everywhere (seed {seed})")
            status, found = get_json(f"{reference}/v1/events/{events[0].hash.hex()}")
            assert status == 200, found
            outcomes["kept the big block" if found["height"] <= height
                     else "restarted before the big block"] += 1
            wait_until(lambda: heads_agree(urls), timeout=60, what="all nodes at one head")
        chains = assert_same_chain(urls)
        assert chains[0][-1]["height"] >= rounds
    print(f"kill during a large block: {dict(outcomes)}")
    record_figure(f"kills during a {size}-event block", rounds, seed=seed)
    for outcome, count in sorted(outcomes.items()):
        record_figure(f"kills during a {size}-event block: {outcome}", count, seed=seed)


# -- the disk: a copy taken while the node writes ----------------------------------------


class BatchLoad:
    """One thread posting batches of fresh events with ``?wait=commit`` to random nodes."""

    def __init__(self, urls: list[str], issuer: TestIssuer, seed: int, size: int) -> None:
        self.urls, self.issuer, self.size = urls, issuer, size
        self.rng = random.Random(f"{seed}/batches")
        self.batches = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            events = [self.issuer.issue(f"copy load {self.batches}/{i}").encoded
                      for i in range(self.size)]
            try:
                post_batch(self.urls[self.rng.randrange(len(self.urls))], events, wait=20)
            except (OSError, http.client.HTTPException):
                continue
            self.batches += 1

    def __enter__(self) -> BatchLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def copy_database(source: Path, target: Path, rng: random.Random, pid: int) -> list[str]:
    """Copy the live LevelDB directory of node process ``pid`` as a naive backup would,
    only slower.

    Like ``tar``: the files as listed at the start, each read up to the size it
    had when the copy of it began; in a random order, letting the node write
    more between two files.  A log file is copied just as the node appends to
    it, the node at the lowest CPU priority meanwhile, so that the copy takes
    a write batch half written.  Returns the names of files that vanished
    before their turn.
    """
    names = [p.name for p in source.iterdir()]
    rng.shuffle(names)
    target.mkdir()
    vanished = []
    for name in names:
        is_log = name.endswith(".log")
        if is_log:
            os.setpriority(os.PRIO_PROCESS, pid, 19)
            wait_for_log_growth(source, rng.randint(8 * 1024, 128 * 1024), timeout=5)
        try:
            with (source / name).open("rb") as original:
                size = os.fstat(original.fileno()).st_size
                (target / name).write_bytes(original.read(size))
        except FileNotFoundError:
            vanished.append(name)
        if is_log:
            with contextlib.suppress(PermissionError):  # raising priority needs root
                os.setpriority(os.PRIO_PROCESS, pid, 0)
        else:
            wait_for_log_growth(source, rng.randint(0, 128 * 1024), timeout=2, tight=False)
    return vanished


def observer_config(directory: Path, genesis_text: str, data_dir: Path,
                    peers: list[str]) -> Path:
    directory.mkdir()
    (directory / "genesis.toml").write_text(genesis_text)
    text = node_toml(role="observer", key=None, listen=f"127.0.0.1:{free_port()}",
                     peers=peers, signature_workers=1)
    text = text.replace('data_dir = "data"', f'data_dir = "{data_dir}"')
    (directory / "node.toml").write_text(text)
    return directory / "node.toml"


@pytest.mark.timeout(1200)  # --long runs the full size
def test_a_copy_taken_while_writing_starts_at_a_boundary_or_refuses(
        tmp_path: Path, long_mode: bool, record_figure: Callable[..., None]) -> None:
    seed = fault_seed("copy while writing")
    rng = random.Random(seed)
    copies = 10 if long_mode else 3
    network = share_cores(write_network(tmp_path / "net", 4, consensus=BIG_BLOCKS))
    issuer = TestIssuer(fixed_key(f"copy issuer {seed}"), network.genesis.origin)
    genesis_text = (network.nodes[0].directory / "genesis.toml").read_text()
    started: list[int] = []
    refused: list[str] = []
    vanished = torn = 0
    with start_network(network, tmp_path) as nodes:
        urls = [n.url for n in nodes]
        wait_until(lambda: connected(urls), timeout=30, what="a fully connected network")
        register(urls[0], issuer, network)
        with BatchLoad(urls, issuer, seed, size=1500 if long_mode else 400) as load:
            for c in range(copies):
                source = rng.randrange(len(nodes))
                data_dir = network.nodes[source].directory / "data"
                # Start copying while the node writes.
                assert wait_for_log_growth(data_dir, rng.randint(1, 256 * 1024), timeout=60,
                                           tight=False), \
                    f"node {source} wrote nothing for 60 s (seed {seed})"
                copy = tmp_path / f"copy{c}"
                assert nodes[source].process is not None
                vanished += len(copy_database(data_dir, copy, rng, nodes[source].process.pid))
                torn += leveldb_torn_batch(copy) is not None
                config = observer_config(tmp_path / f"observer{c}", genesis_text, copy, urls)
                observer = NodeProcess(config, tmp_path / f"observer{c}.log")
                try:
                    outcome = start_or_refusal(observer)
                    if isinstance(outcome, str):
                        refused.append(outcome)
                        continue
                    height = start_height(observer)
                    started.append(height)
                    # Height 0 would mean the node took a copy that lost its files for
                    # a new database (fixed: such a copy is refused).
                    assert height > 0, f"the copy started empty (seed {seed})"
                    assert_boundary_matches(observer.url, urls[source], height)
                    network_height = max(h[0] for h in map(head_of, urls) if h is not None)
                    wait_until(lambda: (head_of(observer.url) or (0, ""))[0]  # noqa: B023
                               >= network_height,  # noqa: B023
                               timeout=90, what=f"the copy catching up (seed {seed})")
                    assert_same_chain([urls[source], observer.url])
                finally:
                    observer.kill()
        assert load.batches >= 1
    print(f"copies: {len(started)} started (heights {started}), {len(refused)} refused "
          f"{refused}, {vanished} files vanished mid-copy, {torn} logs torn")
    record_figure("copies taken while writing", copies, seed=seed)
    record_figure("copies that started at a verified block boundary", len(started), seed=seed)
    record_figure("copies refused with a clear error", len(refused), seed=seed,
                  messages=refused)
    record_figure("files that vanished during a copy", vanished, seed=seed)
    record_figure("copies whose LevelDB log ended inside a write batch", torn, seed=seed)


def test_a_copy_missing_its_newest_files_is_refused_not_taken_as_new(tmp_path: Path) -> None:
    """Regression: a copy whose LevelDB log vanished before its turn (LevelDB rotated it
    into a table that was created after the copy listed the directory) opened as an
    empty database, and the node took it for a new one: it started at height 0, and a
    validator would have silently lost its write-ahead log."""
    network = write_network(tmp_path / "net", 1, consensus={"block_interval_ms": 20,
                                                           "empty_block_interval_ms": 100})
    node = NodeProcess(network.nodes[0].config, tmp_path / "node.log")
    node.start_healthy()
    wait_until(lambda: (node.health() or {}).get("height", 0) >= 3, timeout=30,
               what="three blocks")
    assert node.terminate() == 0
    source = network.nodes[0].directory / "data"
    copy = tmp_path / "copy"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.log"))
    assert not list(copy.glob("*.ldb")), "precondition: every block is still in the log"
    genesis_text = (network.nodes[0].directory / "genesis.toml").read_text()
    config = observer_config(tmp_path / "observer", genesis_text, copy, [])
    observer = NodeProcess(config, tmp_path / "observer.log")
    try:
        refusal = start_or_refusal(observer)
    finally:
        observer.kill()
    assert isinstance(refusal, str), f"started on a database that lost its files: {refusal}"
    assert "exists but holds nothing" in refusal and str(copy) in refusal, refusal
    with pytest.raises(StoreCorrupted, match="exists but holds nothing"):
        Store.open(copy, create=True)  # refused again: nothing was written on the way


def child_pids(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux ``/proc``)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2:].split()[1]) == pid:
                children.add(int(stat.parent.name))
    return children


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def test_a_killed_node_leaves_no_signature_workers_behind(tmp_path: Path) -> None:
    """Regression: the signature workers of a SIGKILLed node waited for work forever
    (each holds its own call queue's write end), so every crash leaked the node's
    workers — in this suite, hundreds of processes and 20 GiB of memory."""
    network = write_network(tmp_path / "net", 1, consensus={"block_interval_ms": 20,
                                                           "empty_block_interval_ms": 100})
    config = network.nodes[0].config
    config.write_text(config.read_text().replace("\n[mempool]",
                                                 "signature_workers = 2\n\n[mempool]", 1))
    node = NodeProcess(config, tmp_path / "node.log")
    workers: set[int] = set()
    try:
        node.start_healthy()
        assert node.process is not None
        pid = node.process.pid
        wait_until(lambda: len(child_pids(pid)) >= 2, timeout=60,
                   what="the node's two signature workers")
        workers = child_pids(pid)
        node.kill()
        wait_until(lambda: not any(alive(w) for w in workers), timeout=15,
                   what=f"the killed node's workers {sorted(workers)} to exit")
    finally:
        node.kill()
        for worker in workers:  # never leave them behind, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
