"""Prometheus metrics of one node (its own registry, so tests can run many nodes)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from client.checkpoint import checkpoint_time
from client.note import TIMESTAMP_SIZE, parse_note


class CheckpointSource(Protocol):
    """What :func:`newest_checkpoint_time` needs of :class:`node.checkpoints.Checkpoints`."""

    def newest_with(self, min_cosignatures: int, *, search_blocks: int = 64) -> str | None: ...


def newest_checkpoint_time(checkpoints: CheckpointSource, threshold: int) -> int | None:
    """The time of the newest checkpoint with ``threshold`` cosignatures, as verifiers compute
    it (the threshold-th newest cosignature, :func:`client.checkpoint.checkpoint_time`).

    None if there is no such checkpoint among the recent blocks.  The node
    keeps only cosignatures it verified, one per validator, none dated beyond
    the allowed drift (:meth:`node.checkpoints.Checkpoints.add`), so their
    timestamps are read here without checking the signatures again.
    """
    note = checkpoints.newest_with(threshold)
    if note is None:
        return None
    stamps = [int.from_bytes(line.signature[:TIMESTAMP_SIZE], "big")
              for line in parse_note(note).signatures]
    return checkpoint_time(stamps, threshold) if len(stamps) >= threshold else None


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.commit_latency = Histogram(
            "vcledger_commit_latency_seconds", "From admission to durable commit",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry)
        self.block_seconds = Histogram(
            "vcledger_block_build_seconds",
            "From sealing a prepared block to its waiters being answered",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry)

        self.checkpoint_age = Gauge(
            "vcledger_checkpoint_age_seconds",
            "Age of the newest checkpoint with a quorum of cosignatures, by its time as "
            "verifiers compute it (NaN before the first one)", registry=self.registry)

    def watch_checkpoint_age(self, newest_time: Callable[[], int | None],
                             clock: Callable[[], float]) -> None:
        """Compute ``vcledger_checkpoint_age_seconds`` at each scrape from ``newest_time()``.

        At scrape time rather than on each commit, so that a network that
        stopped sealing blocks shows a growing age instead of a frozen one.
        """
        def age() -> float:
            time = newest_time()
            return math.nan if time is None else clock() - time

        self.checkpoint_age.set_function(age)

    def render(self) -> bytes:
        return generate_latest(self.registry)
