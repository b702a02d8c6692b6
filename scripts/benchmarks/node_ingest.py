"""Durable ingestion through a node vs the raw Ed25519 verify rate of the same cores.

Ours: the in-process path every submission takes (``NodeService.submit``,
which ``POST /v1/events/batch`` calls), on a one-validator node with the
default genesis limits (blocks of up to 2,000 events) and a fresh data
directory: N ``credential.issue`` events by one registered issuer, signed
before the clock starts, are submitted in batches of 1,000 (two batches in
flight, as two HTTP clients would), and the clock stops when the last one is
in a durably written (synced) block.  Each event is decoded, checked against
the ledger rules, has its signature verified in the node's process pool
(os.cpu_count() workers), is re-checked when its block is built, and is
written with the block's status-map and log updates.

Baseline, same run, same machine, alternating with ours: verifying the same
N signatures (public key, signature, signed message prepared in advance)
with libsodium in a pool of 2 processes (benchmarks/signatures.py), the
machine's limit: the most a node could ingest if signatures were all it did.
Target: ours at least 0.5x that rate.

The warm-up (the node's worker processes, the issuer's registration) happens
before the clock starts, in every repetition.

``PYTHONPATH=scripts .venv/bin/python -m benchmarks.node_ingest --stages [N]``
(from the repository root) prints where the node process's CPU goes instead: each stage
of the path wrapped in a thread-CPU timer, per event, for two ingestions of N
events (docs/performance.md, "Ingest").
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import node.ledger
import node.service
import node.signatures
import node.statemap
import node.store
import node.tlog
from benchmarks import GOAL_INGEST, Row, best_of
from benchmarks.node_scale import (
    ORIGIN,
    VALIDATOR,
    registration,
    signed_issues,
    write_network,
)
from benchmarks.signatures import LibsodiumPool
from client.events import decode_event, signing_bytes
from client.hashes import Hash
from node.assembly import assemble_node
from node.errors import MempoolFull
from node.single_validator import SingleValidatorProducer

NAME = "node_ingest"

FULL_EVENTS = 20_000
QUICK_EVENTS = 2_000
BATCH = 1_000
IN_FLIGHT = 2
TARGET = 0.5
BASELINE_PROCESSES = 2


async def _ingest(encoded: list[bytes], last: Hash, warm_up: list[bytes]) -> float:
    with tempfile.TemporaryDirectory(prefix="vcledger-bench-") as directory:
        network = write_network(Path(directory))
        # The plain single validator: the benchmark has no peers to serve.
        assembled = assemble_node(network.config, network.genesis, VALIDATOR,
                                  producer=SingleValidatorProducer)
        service = assembled.service
        try:
            await service.start(assembled.producer)
            # Untimed: the first block, the issuer, and the worker processes' start.
            first = registration()
            await service.submit([first.encoded])
            assert await service.wait_for(first.hash, 30) is not None
            await service.submit(warm_up)
            assert await service.wait_for(decode_event(warm_up[-1]).hash, 60) is not None

            started = time.perf_counter()
            slots = asyncio.Semaphore(IN_FLIGHT)

            async def submit(batch: list[bytes]) -> None:
                async with slots:
                    while True:
                        try:
                            results = await service.submit(batch)
                        except MempoolFull:
                            await asyncio.sleep(0.005)
                            continue
                        assert all(type(r).__name__ == "Pending" for r in results), results[:3]
                        return

            await asyncio.gather(*(submit(encoded[i:i + BATCH])
                                   for i in range(0, len(encoded), BATCH)))
            while service.ledger.event_position(last) is None:
                await service.wait_for(last, 60)
            elapsed = time.perf_counter() - started
            assert service.ledger.head.tree_size >= len(encoded) + len(warm_up)
            return elapsed
        finally:
            await service.close()


def run(quick: bool) -> list[Row]:
    count = QUICK_EVENTS if quick else FULL_EVENTS
    repeats = 2 if quick else 3
    workers = os.cpu_count() or 1
    encoded = signed_issues(0, count)
    warm_up = signed_issues(10_000_000, 10_000_000 + 200)
    events = [decode_event(e) for e in encoded]
    triples = [(e.signer, e.signature, signing_bytes(ORIGIN, e.payload, e.created, e.signer))
               for e in events]
    last = events[-1].hash

    ours = baseline = float("inf")
    with LibsodiumPool(BASELINE_PROCESSES) as pool:
        # Alternate, as best_of_interleaved does; but time only the ingestion
        # itself, not each repetition's fresh node and its warm-up.
        for _ in range(repeats):
            ours = min(ours, asyncio.run(_ingest(encoded, last, warm_up)))
            baseline = min(baseline, best_of(1, lambda: pool.verify_all(triples)))
    return [Row(
        benchmark=f"durable ingestion, {count} events in batches of {BATCH} ({workers} cores)",
        ours=ours,
        baseline_name=f"libsodium verify, {BASELINE_PROCESSES} processes",
        baseline=baseline,
        target=TARGET,
        count=count,
        unit="events",
        goal=GOAL_INGEST,
    )]


def _stage_timers() -> collections.Counter[str]:
    """Wrap each stage of the ingest path in a thread-CPU timer; the totals, in seconds.

    Outer stages only: a stage called inside another is counted in the outer one.
    Patches the modules for the rest of the process (this is a diagnostic run).
    """
    totals: collections.Counter[str] = collections.Counter()
    inside = [False]

    def timed(owner: Any, name: str, label: str) -> None:
        function: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside[0]:
                return function(*args, **kwargs)
            inside[0] = True
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                totals[label] += time.thread_time() - started
                inside[0] = False

        setattr(owner, name, wrapper)

    timed(node.service, "leaf_hash", "leaf hash (pending check)")
    timed(node.service, "decode_event", "decode")
    timed(node.ledger.Ledger, "event_position", "event_position (service)")
    timed(node.ledger.Ledger, "admit", "admission rules")
    timed(node.signatures, "signing_bytes", "signed message for workers")
    timed(node.ledger, "execute_events", "block rules")
    timed(node.statemap.StatusMap, "stage", "status map (SMT) update")
    timed(node.tlog.PersistentLog, "stage_append", "log append")
    timed(node.store.StoreBatch, "commit", "LevelDB synced write (thread)")
    timed(node.service.NodeService, "cosign_head", "checkpoint cosigning")
    return totals


def profile_stages(count: int) -> None:
    """Print the node process's CPU per event by stage, for two ingestions of ``count``."""
    totals = _stage_timers()
    encoded = signed_issues(0, count)
    warm_up = signed_issues(10_000_000, 10_000_000 + 200)
    last = decode_event(encoded[-1]).hash
    events = count + len(warm_up) + 1
    for repetition in (1, 2):
        totals.clear()
        main_started, process_started = time.thread_time(), time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        elapsed = asyncio.run(_ingest(encoded, last, warm_up))
        main = time.thread_time() - main_started
        process = time.process_time() - process_started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        print(f"run {repetition}: {count / elapsed:,.0f} events/s timed; CPU per event over the "
              f"whole run (start and warm-up included): event-loop thread "
              f"{main * 1e6 / events:.1f} us, all node threads {process * 1e6 / events:.1f} us, "
              f"signature workers (with their start) {workers * 1e6 / events:.1f} us")
        for label, seconds in totals.most_common():
            print(f"  {label:34s} {seconds * 1e6 / events:6.1f} us")
        print(f"  {'sum of the stages':34s} {sum(totals.values()) * 1e6 / events:6.1f} us")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--stages"] or len(sys.argv) > 3 or not (
            len(sys.argv) == 2 or sys.argv[2].isdigit()):
        sys.exit("usage: PYTHONPATH=scripts python -m benchmarks.node_ingest --stages [EVENTS]")
    profile_stages(int(sys.argv[2]) if len(sys.argv) == 3 else 6_000)
