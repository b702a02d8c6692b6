"""Ed25519 checks of submitted events, spread over the machine's cores.

Signature verification is the dominant cost of ingesting events, so large
submissions are verified in a pool of worker processes (one per core);
small ones inline, where a process round trip would cost more than it saves.
Each check is :func:`client.keys.verify_signature`, the one Ed25519 rule of
docs/protocol.md §3.1.1.  libsodium releases the GIL while it verifies (a
Python thread keeps running during a long verify), but the per-signature
Python work around it does not: measured with 200-byte messages, two threads
gave 17-45k/s and two processes 14-48k/s against 20-25k/s inline, too close
on a shared machine to trade the processes' isolation from the event loop for.

Workers receive ``(public key, signature, signed message)`` triples, the
message built here by :func:`client.events.signing_bytes` from the decoded
event and this network's origin, exactly as
:meth:`SignedEvent.verify_signature` builds it; nothing they return is
trusted beyond "this key signed this message".  Building the message here
rather than decoding the event again in the worker halves the workers'
Python work per event.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from client.errors import SignatureError
from client.events import SignedEvent, signing_bytes
from client.hashes import Hash
from client.keys import verify_signature

POOL_THRESHOLD = 64
"""Submissions with fewer events are verified inline."""

VERIFIED_CACHE = 50_000
"""Hashes of events whose signature verified, remembered (oldest forgotten first)."""

INLINE_SLICE = 64
"""Signatures verified in the node's own process between two yields to the event loop."""

MAX_CHUNK = 1024
"""Most signatures sent to one worker at once (bigger chunks cost fewer round trips)."""

PARENT_CHECK_INTERVAL = 1.0
"""Seconds between a worker's checks that the node that started it is still alive."""

Signed = tuple[bytes, bytes, bytes]
"""``(Ed25519 public key, signature, signed message)``."""


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit once the node process is gone.

    A node stopped cleanly shuts its pool down, but one killed (``kill -9``,
    the OOM killer) cannot, and a spawned worker holds both ends of its own
    call queue's pipe, so it would wait for work forever: every crash would
    leak the node's workers and their memory.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_INTERVAL)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _verify_chunk(triples: list[Signed]) -> list[bool]:
    results = []
    for public_key, signature, message in triples:
        try:
            verify_signature(public_key, signature, message)
        except SignatureError:
            results.append(False)
        else:
            results.append(True)
    return results


class SignatureChecker:
    def __init__(self, origin: str, *, workers: int | None = None) -> None:
        self.origin = origin
        count = workers if workers is not None else (os.cpu_count() or 1)
        self._workers = count
        self._verified: OrderedDict[Hash, None] = OrderedDict()
        self._pool: ProcessPoolExecutor | None = None
        if count > 1:
            # spawn, not fork: the parent runs an event loop and LevelDB threads.
            self._pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_exit_with_parent,
                                             initargs=(os.getpid(),))

    async def check(self, events: Sequence[SignedEvent]) -> list[bool]:
        """Whether each event's signature verifies for this network.

        Events verified recently (by hash, which covers the signature) are not
        verified again: a block's events often arrive by gossip after the block.
        """
        known = self._verified
        todo = [e for e in events if e.hash not in known]
        if len(todo) < len(events):
            fresh = dict(zip((e.hash for e in todo), await self._check(todo), strict=True))
            return [fresh.get(e.hash, True) for e in events]
        return await self._check(todo)

    async def _check(self, events: Sequence[SignedEvent]) -> list[bool]:
        verdicts = await self._verify(events)
        known = self._verified
        for event, ok in zip(events, verdicts, strict=True):
            if ok:
                known[event.hash] = None
        while len(known) > VERIFIED_CACHE:
            known.popitem(last=False)
        return verdicts

    async def _verify(self, events: Sequence[SignedEvent]) -> list[bool]:
        origin = self.origin
        triples = [(e.signer, e.signature, signing_bytes(origin, e.payload, e.created, e.signer))
                   for e in events]
        if len(triples) < POOL_THRESHOLD:
            return _verify_chunk(triples)
        if self._pool is None:
            # In this process: hand the event loop back between slices so consensus
            # messages are not held up behind a large batch (~0.1 ms per signature).
            verdicts: list[bool] = []
            for start in range(0, len(triples), INLINE_SLICE):
                verdicts += _verify_chunk(triples[start:start + INLINE_SLICE])
                await asyncio.sleep(0)
            return verdicts
        loop = asyncio.get_running_loop()
        size = min(MAX_CHUNK, -(-len(triples) // self._workers))
        chunks = [triples[i:i + size] for i in range(0, len(triples), size)]
        results = await asyncio.gather(*(
            loop.run_in_executor(self._pool, _verify_chunk, chunk) for chunk in chunks
        ))
        return [ok for chunk_result in results for ok in chunk_result]

    async def warm_up(self) -> None:
        """Start every worker process now rather than on the first large submission
        (spawning one costs about a second of CPU)."""
        if self._pool is None:
            return
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _verify_chunk, [])
                               for _ in range(self._workers)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
