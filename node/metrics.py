"""Prometheus metrics of one node (its own registry, so tests can run many nodes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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

    def render(self) -> bytes:
        return generate_latest(self.registry)
