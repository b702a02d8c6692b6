"""The one place a node is put together: store, ledger, mempool, checkpoints, signature
checker, metrics, service, peer set, block producer and the HTTP API.

:func:`assemble_node` is what ``vcledger-node run`` and the in-process tests
use.  Each part is built here and handed to the parts that use it through their
constructors: the service gets the store, ledger, mempool, checkpoints,
signature checker and metrics; the producer gets the service and the peer set
(whose callbacks forward to the producer); the API reads the service; the metrics
read every part through one :class:`NodeReadings`.  The service knows its
producer through :meth:`node.service.NodeService.start`.  No part writes another's
attributes.

The node's wall clock is a parameter.  :func:`wall_clock_from_environment`
reads the one test-only knob, :data:`TEST_CLOCK_OFFSET_VARIABLE`, so a test can
run a node whose clock is off by a known amount (clock-skew tests across hosts).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from client.keys import KeyPair
from node.api import build_app
from node.config import Genesis, NodeConfig
from node.cosignatures import Checkpoints
from node.errors import ConfigError
from node.ledger import Ledger
from node.mempool import Mempool
from node.metrics import NodeMetrics, NodeReadings, newest_checkpoint_time
from node.peers import FrameHandler, PeerConnection, PeerSet
from node.producer import ConsensusProducer, ServedSingleValidator
from node.service import BlockProducer, NodeService
from node.signatures import SignatureChecker
from node.store import Store
from node.wire import max_frame_size

log = logging.getLogger("vcledger.node")

TEST_CLOCK_OFFSET_VARIABLE = "VCLEDGER_TEST_CLOCK_OFFSET_SECONDS"
"""FOR TESTS ONLY: seconds (a float, may be negative) added to the node's wall clock."""


@dataclass(frozen=True, slots=True)
class AssembledNode:
    service: NodeService
    producer: BlockProducer
    app: web.Application


ProducerFactory = Callable[[NodeService], BlockProducer]
"""Builds the block producer for an assembled service (tests pass one that seals on demand)."""


def make_producer(service: NodeService) -> BlockProducer:
    """The sole validator of a one-validator network decides alone; consensus otherwise
    (also for observers, which follow the validators).  Either way with its peer set."""
    built: ConsensusProducer | ServedSingleValidator
    # The producer is built with the peer set, and the set calls back into the producer:
    # its callbacks forward to the producer made next (no frame arrives before start).
    peers = make_peer_set(
        service,
        handler=lambda connection, frame: built.on_frame(connection, frame),  # noqa: PLW0108
        greeting=lambda connection: built.greeting(connection))  # noqa: PLW0108
    if len(service.genesis.validators) == 1 and service.config.role == "validator":
        built = ServedSingleValidator(service, peers)
    else:
        built = ConsensusProducer(service, peers, evidence_held=count_evidence(service.store))
    return built


def make_peer_set(service: NodeService, *, handler: FrameHandler,
                  greeting: Callable[[PeerConnection], Iterable[bytes]]) -> PeerSet:
    """The node's peer connections: this network's peers of the node file, hello with the
    head height, frames up to the largest block the genesis allows."""
    genesis, ledger = service.genesis, service.ledger
    return PeerSet(
        origin=genesis.origin,
        genesis_hash=genesis.hash,
        peer_urls=service.config.peers,
        max_frame=max_frame_size(genesis.consensus.max_block_events),
        handler=handler,
        hello_height=lambda: ledger.head.height,
        greeting=greeting,
    )


def count_evidence(store: Store) -> int:
    """Evidence records in the store (read once at start; the producer counts new ones)."""
    return sum(1 for _ in store.iter_evidence(None, sys.maxsize))


def assemble_node(config: NodeConfig, genesis: Genesis, key: KeyPair | None, *,
                  clock: Callable[[], float] = time.time,
                  signature_workers: int | None = None,
                  producer: ProducerFactory = make_producer) -> AssembledNode:
    """Open the node's database and build every part; nothing runs until
    ``service.start(producer)``.  Raises :class:`ConfigError` for a key that does not
    fit the node's role (the database is closed again).

    ``signature_workers`` overrides the node file's setting (tests run many nodes on a
    few cores)."""
    store = Store.open(config.data_dir, create=True)
    signatures: SignatureChecker | None = None
    try:
        ledger = Ledger(store, genesis)
        checkpoints = Checkpoints(store, ledger, genesis)
        signatures = SignatureChecker(
            genesis.origin,
            workers=config.signature_workers if signature_workers is None else signature_workers)
        metrics = NodeMetrics()
        service = NodeService(config, genesis, key, store=store, ledger=ledger,
                              mempool=Mempool(config.mempool.max_events),
                              checkpoints=checkpoints, signatures=signatures, metrics=metrics,
                              clock=clock)
        service.check_role()
        built = producer(service)
        metrics.watch(readings_of(service, built))
        return AssembledNode(service, built, build_app(service))
    except BaseException:
        if signatures is not None:
            signatures.close()
        store.close()
        raise


def readings_of(service: NodeService, producer: BlockProducer) -> NodeReadings:
    """What the metrics read from this node at each scrape.  Peers, rounds and catch-up
    only where consensus runs: a single validator has none of them."""
    ledger, checkpoints, quorum = service.ledger, service.checkpoints, service.genesis.quorum

    def newest_block_time() -> float | None:
        header = ledger.head.header
        return None if header is None else header.time_ms / 1000

    def newest_checkpoint_cosignatures() -> int | None:
        head = ledger.head
        return None if head.height == 0 else checkpoints.signer_count(head.tree_size)

    held = count_evidence(service.store)
    common = NodeReadings(
        clock=service.clock,
        data_dir=service.config.data_dir,
        newest_block_time=newest_block_time,
        newest_checkpoint_time=lambda: newest_checkpoint_time(checkpoints, quorum),
        newest_checkpoint_cosignatures=newest_checkpoint_cosignatures,
        evidence_records=lambda: held)  # only consensus records new evidence
    if not isinstance(producer, ConsensusProducer):
        return common
    peers, catch_up = producer.peers, producer.catch_up

    def peers_connected() -> int:
        # A peer counts once, through the link this node dialled (it may also have dialled in).
        return len({c.label for c in peers.connections} & set(peers.peer_urls))

    return dataclasses.replace(
        common,
        peers_connected=peers_connected,
        peers_known=lambda: len(peers.peer_urls),
        consensus_position=producer.consensus_position,
        round_changes=lambda: producer.round_changes,
        catch_up_blocks=lambda: catch_up.blocks_fetched,
        catch_up_failures=lambda: catch_up.failures,
        evidence_records=lambda: producer.evidence_records,
    )


def wall_clock_from_environment(environ: Mapping[str, str]) -> Callable[[], float]:
    """``time.time``, shifted by :data:`TEST_CLOCK_OFFSET_VARIABLE` if it is set (tests only)."""
    raw = environ.get(TEST_CLOCK_OFFSET_VARIABLE)
    if raw is None:
        return time.time
    try:
        offset = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{TEST_CLOCK_OFFSET_VARIABLE}={raw!r} is not a number of "
                          "seconds") from exc
    if not math.isfinite(offset):
        raise ConfigError(f"{TEST_CLOCK_OFFSET_VARIABLE}={raw!r} is not a finite number")
    log.warning("TEST ONLY: %s=%s shifts this node's wall clock by %+.3f s; this knob exists for "
                "tests only; never set it on a real node", TEST_CLOCK_OFFSET_VARIABLE, raw, offset)

    def shifted() -> float:
        return time.time() + offset

    return shifted
