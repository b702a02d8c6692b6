"""The one place a node is put together: service, block producer, peers and the HTTP API.

:func:`assemble_node` is what ``vcledger-node run`` and the in-process tests
use.  The parts are wired one way only: the service (store, ledger, mempool,
checkpoints, signature checker) knows its producer through
:meth:`node.service.NodeService.start`; the producer owns its peer set and
reads the service; the API reads the service.  No part writes another's
attributes.

The node's wall clock is a parameter.  :func:`wall_clock_from_environment`
reads the one test-only knob, :data:`TEST_CLOCK_OFFSET_VARIABLE`, so a test can
run a node whose clock is off by a known amount (clock-skew tests across hosts).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from client.keys import KeyPair
from node.api import build_app
from node.config import Genesis, NodeConfig
from node.errors import ConfigError
from node.producer import ConsensusProducer, ServedSingleValidator
from node.service import BlockProducer, NodeService

log = logging.getLogger("vcledger.node")

TEST_CLOCK_OFFSET_VARIABLE = "VCLEDGER_TEST_CLOCK_OFFSET_SECONDS"
"""FOR TESTS ONLY: seconds (a float, may be negative) added to the node's wall clock."""


@dataclass(frozen=True, slots=True)
class AssembledNode:
    service: NodeService
    producer: BlockProducer
    app: web.Application


def make_producer(service: NodeService) -> BlockProducer:
    """The sole validator of a one-validator network decides alone; consensus otherwise
    (also for observers, which follow the validators)."""
    if len(service.genesis.validators) == 1 and service.config.role == "validator":
        return ServedSingleValidator(service)
    return ConsensusProducer(service)


def assemble_node(config: NodeConfig, genesis: Genesis, key: KeyPair | None, *,
                  clock: Callable[[], float] = time.time) -> AssembledNode:
    """Open the node's database and build every part; nothing runs until
    ``service.start(producer)``.  Raises :class:`ConfigError` for a key that does not
    fit the node's role (the database is closed again)."""
    service = NodeService(config, genesis, key, clock=clock)
    try:
        service.check_role()
        producer = make_producer(service)
        return AssembledNode(service, producer, build_app(service))
    except BaseException:
        service.store.close()
        raise


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
