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
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

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
from node.errors import MempoolFull
from node.service import NodeService, SingleValidatorProducer

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
        service = NodeService(network.config, network.genesis, VALIDATOR)
        try:
            await service.start(SingleValidatorProducer(service))
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
