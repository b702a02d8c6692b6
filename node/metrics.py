"""Prometheus metrics of one node (its own registry, so tests can run many nodes).

Two kinds of values.  Counts the service keeps as things happen (events accepted, committed,
rejected; HTTP requests, through :mod:`node.httpmetrics`) are prometheus_client metrics it
updates.  Everything else is read from the running node at scrape time through the
callbacks of one :class:`NodeReadings`, which the node's assembly hands to
:meth:`NodeMetrics.watch` once: consensus, peers, catch-up and evidence then need no
reference to this module, and an age keeps growing while a stalled node writes nothing.

Every family is exported from the start, so dashboards and alert rules
(``configs/deploy/alerts.yml``) find their names on any node.  A gauge with no reading yet is NaN
("unknown"); a count with no reading is 0: the node has no such part (a single validator
has no peers, rounds or catch-up).  The ``_created`` series are switched off: they double
the output and no dashboard or alert reads them.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from client.checkpoint import checkpoint_time
from client.note import TIMESTAMP_SIZE, parse_note
from client.version import installed_version


class CheckpointSource(Protocol):
    """What :func:`newest_checkpoint_time` needs of :class:`node.cosignatures.Checkpoints`."""

    def newest_with(self, min_cosignatures: int, *, search_blocks: int = 64) -> str | None: ...


def newest_checkpoint_time(checkpoints: CheckpointSource, threshold: int) -> int | None:
    """The time of the newest checkpoint with ``threshold`` cosignatures, as verifiers compute
    it (the threshold-th newest cosignature, :func:`client.checkpoint.checkpoint_time`).

    None if there is no such checkpoint among the recent blocks.  The node
    keeps only cosignatures it verified, one per validator, none dated beyond
    the allowed drift (:meth:`node.cosignatures.Checkpoints.add`), so their
    timestamps are read here without checking the signatures again.
    """
    note = checkpoints.newest_with(threshold)
    if note is None:
        return None
    stamps = [int.from_bytes(line.signature[:TIMESTAMP_SIZE], "big")
              for line in parse_note(note).signatures]
    return checkpoint_time(stamps, threshold) if len(stamps) >= threshold else None


HTTP_LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                               2.5, 5.0, 10.0, 30.0)
"""Up to 30 s: a ``?wait=commit`` submission waits for its block."""



def directory_size(path: Path) -> int:
    """Bytes in the files under ``path``, 0 if it does not exist.

    LevelDB deletes table files during compaction: a file that vanishes between the
    listing and its ``stat`` is skipped, not an error.
    """
    total = 0
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += directory_size(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
    return total


def _maybe(value: float | None) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeReadings:
    """What the running node tells its metrics, each callback called at every scrape.

    Callbacks run on the event loop, inside the ``/metrics`` request: they must be cheap
    and must not block (read a counter or a field; no database scans).  A part this node
    does not have stays None (see the module note for what is exported then).
    """

    clock: Callable[[], float]
    """POSIX seconds now (the node's clock, which tests set)."""
    data_dir: Path
    """The node's database directory: its size on disk."""
    newest_block_time: Callable[[], float | None]
    """POSIX seconds in the newest committed block's header; None before the first block."""
    newest_checkpoint_time: Callable[[], int | None]
    """:func:`newest_checkpoint_time` of the node's checkpoints at the genesis quorum."""
    newest_checkpoint_cosignatures: Callable[[], int | None]
    """Cosignatures the node holds on the checkpoint of its newest block."""
    peers_connected: Callable[[], int] | None = None
    peers_known: Callable[[], int] | None = None
    """Peers in the node file (the ones it dials); with ``peers_connected``, a peer down."""
    consensus_position: Callable[[], tuple[int, int] | None] | None = None
    """``(height, round)`` the consensus state machine is working on."""
    round_changes: Callable[[], int] | None = None
    """Rounds entered above round 0 since the node started: each one a lost round."""
    catch_up_blocks: Callable[[], int] | None = None
    """Blocks fetched from peers and committed since the node started."""
    catch_up_failures: Callable[[], int] | None = None
    """Block fetches that failed or brought an unusable block since the node started."""
    evidence_records: Callable[[], int] | None = None
    """Evidence records of validator misbehaviour the node holds."""


class _ReadCounters(Collector):
    """Counters whose value a callback returns at scrape time (the runtime counts; this
    module only reads)."""

    def __init__(self) -> None:
        self._counters: dict[str, tuple[str, Callable[[], int] | None]] = {}

    def define(self, name: str, documentation: str) -> None:
        self._counters[name] = (documentation, None)

    def read_from(self, name: str, read: Callable[[], int] | None) -> None:
        documentation, _ = self._counters[name]
        self._counters[name] = (documentation, read)

    def describe(self) -> Iterator[Metric]:
        for name, (documentation, _) in self._counters.items():
            yield CounterMetricFamily(name, documentation)

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, read) in self._counters.items():
            yield CounterMetricFamily(name, documentation, value=0 if read is None else read())


class CountedHistogram(Collector):
    """A histogram that takes many equal observations in one call.

    A block commits a thousand events admitted in a few submissions: one
    :meth:`observe` per submission rather than per event (prometheus_client's
    ``Histogram.observe`` costs microseconds each, on the event loop).  The
    exposition is the same as a ``Histogram``'s (``_bucket``, ``_count``, ``_sum``).
    Used from the event loop only, so it takes no lock.
    """

    def __init__(self, name: str, documentation: str, *, buckets: tuple[float, ...],
                 registry: CollectorRegistry) -> None:
        self._name, self._documentation = name, documentation
        self._bounds = (*sorted(buckets), math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        registry.register(self)

    def observe(self, amount: float, count: int = 1) -> None:
        """Record ``count`` observations of ``amount``."""
        self._counts[bisect.bisect_left(self._bounds, amount)] += count
        self._sum += amount * count

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self._name, self._documentation)

    def collect(self) -> Iterator[Metric]:
        cumulative = list(itertools.accumulate(self._counts))
        yield HistogramMetricFamily(
            self._name, self._documentation,
            # The bucket labels prometheus_client's own Histogram writes.
            buckets=[(floatToGoString(bound), float(total))  # type: ignore[no-untyped-call]
                     for bound, total in zip(self._bounds, cumulative, strict=True)],
            sum_value=self._sum)


class NodeMetrics:
    def __init__(self) -> None:
        # Process-wide switch; set here so that no registry of a node ever has them.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client lacks a hint
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        Info("vcledger_build", "The vcledger version this node runs",
             registry=self.registry).info({"version": installed_version()})
        self.events_accepted = Counter(
            "vcledger_events_accepted_total", "Events admitted to the mempool",
            registry=self.registry)
        self.events_rejected = Counter(
            "vcledger_events_rejected_total", "Events refused at submission or block building",
            ["reason"], registry=self.registry)
        self.events_committed = Counter(
            "vcledger_events_committed_total", "Events written to the log in a block",
            registry=self.registry)
        self.block_height = Gauge(
            "vcledger_block_height", "Height of the newest committed block",
            registry=self.registry)
        self.tree_size = Gauge(
            "vcledger_tree_size", "Leaves in the log after the newest block",
            registry=self.registry)
        self.mempool_size = Gauge(
            "vcledger_mempool_events", "Events waiting for a block", registry=self.registry)
        self.commit_latency = CountedHistogram(
            "vcledger_commit_latency_seconds", "From admission to durable commit",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry)
        self.block_seconds = Histogram(
            "vcledger_block_build_seconds",
            "From sealing a prepared block to its waiters being answered",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry)

        self.checkpoint_age = self._read_gauge(
            "vcledger_checkpoint_age_seconds",
            "Age of the newest checkpoint with a quorum of cosignatures, by its time as "
            "verifiers compute it (NaN before the first one)")

        self.http_requests = Counter(
            "vcledger_http_requests_total", "HTTP requests answered, by route template "
            "(unmatched: no route), method and status", ["route", "method", "status"],
            registry=self.registry)
        self.http_latency = Histogram(
            "vcledger_http_request_duration_seconds", "From a request reaching the API to its "
            "response being ready, by route template and method (not peer WebSockets)",
            ["route", "method"], buckets=HTTP_LATENCY_BUCKETS, registry=self.registry)

        # Read at scrape time from NodeReadings (see watch); NaN until then.
        self.block_age = self._read_gauge(
            "vcledger_newest_block_age_seconds", "Age of the newest committed block by its "
            "header time (NaN before the first block)")
        self.checkpoint_cosignatures = self._read_gauge(
            "vcledger_checkpoint_cosignatures", "Validator cosignatures the node holds on the "
            "checkpoint of its newest block")
        self.database_bytes = self._read_gauge(
            "vcledger_database_bytes", "Size on disk of the node's database directory")
        self.peers_connected = self._read_gauge(
            "vcledger_peers_connected", "Peers with an open connection")
        self.peers_known = self._read_gauge(
            "vcledger_peers_known", "Peers this node is configured to connect to")
        self.consensus_height = self._read_gauge(
            "vcledger_consensus_height", "Height consensus is deciding (between heights: the "
            "next one)")
        self.evidence_records = self._read_gauge(
            "vcledger_evidence_records", "Evidence records of validator misbehaviour (double "
            "signing) the node holds")
        self.consensus_round = self._read_gauge(
            "vcledger_consensus_round", "Round of that height consensus is in (above 0: "
            "rounds were lost)")
        self._counts = _ReadCounters()
        self._counts.define("vcledger_consensus_round_changes",
                            "Rounds entered above round 0 (each a round lost to a missing "
                            "or refused proposal or too few votes)")
        self._counts.define("vcledger_catch_up_blocks", "Blocks fetched from peers to catch up")
        self._counts.define("vcledger_catch_up_failures",
                            "Catch-up block fetches that failed or brought an unusable block")
        self.registry.register(self._counts)

    def _read_gauge(self, name: str, documentation: str) -> Gauge:
        """A gauge in this node's registry that reads NaN ("unknown") until :meth:`watch`
        gives it a reading."""
        gauge = Gauge(name, documentation, registry=self.registry)
        gauge.set(math.nan)
        return gauge

    def watch_checkpoint_age(self, newest_time: Callable[[], int | None],
                             clock: Callable[[], float]) -> None:
        """Compute ``vcledger_checkpoint_age_seconds`` at each scrape from ``newest_time()``.

        At scrape time rather than on each commit, so that a network that
        stopped sealing blocks shows a growing age instead of a frozen one.
        """
        self.checkpoint_age.set_function(_age(newest_time, clock))

    def watch(self, readings: NodeReadings) -> None:
        """Read every value that is not counted as it happens from ``readings``, at each
        scrape.  Called once, when the node is assembled."""
        self.watch_checkpoint_age(readings.newest_checkpoint_time, readings.clock)

        self.block_age.set_function(_age(readings.newest_block_time, readings.clock))
        self.checkpoint_cosignatures.set_function(
            lambda: _maybe(readings.newest_checkpoint_cosignatures()))
        data_dir = readings.data_dir
        self.database_bytes.set_function(lambda: directory_size(data_dir))
        if readings.peers_connected is not None:
            self.peers_connected.set_function(readings.peers_connected)
        if readings.peers_known is not None:
            self.peers_known.set_function(readings.peers_known)
        if readings.evidence_records is not None:
            self.evidence_records.set_function(readings.evidence_records)
        if readings.consensus_position is not None:
            position = readings.consensus_position
            self.consensus_height.set_function(lambda: _maybe(_first(position())))
            self.consensus_round.set_function(lambda: _maybe(_second(position())))
        for name, read in (
            ("vcledger_consensus_round_changes", readings.round_changes),
            ("vcledger_catch_up_blocks", readings.catch_up_blocks),
            ("vcledger_catch_up_failures", readings.catch_up_failures),
        ):
            self._counts.read_from(name, read)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _age(newest_time: Callable[[], float | None],
         clock: Callable[[], float]) -> Callable[[], float]:
    """A reading of how old ``newest_time()`` is by ``clock()``; NaN while it is None."""
    def age() -> float:
        time = newest_time()
        return math.nan if time is None else clock() - time
    return age


def _first(pair: tuple[int, int] | None) -> int | None:
    return None if pair is None else pair[0]


def _second(pair: tuple[int, int] | None) -> int | None:
    return None if pair is None else pair[1]
