"""Ed25519 checks of submitted events, spread over the machine's cores.

Signature verification is the dominant cost of ingesting events, so large
submissions are verified in a pool of worker processes (one per core);
small ones inline, where a process round trip would cost more than it saves.
Workers receive raw event bytes and decode them themselves: nothing they
return is trusted beyond "this byte string carries a valid signature for
this network".
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from client.errors import LedgerError
from client.events import SignedEvent, decode_event

POOL_THRESHOLD = 64
"""Submissions with fewer events are verified inline."""

CHUNK = 256


def _verify_chunk(origin: str, encoded_events: list[bytes]) -> list[bool]:
    results = []
    for data in encoded_events:
        try:
            decode_event(data).verify_signature(origin)
        except LedgerError:
            results.append(False)
        else:
            results.append(True)
    return results


class SignatureChecker:
    def __init__(self, origin: str, *, workers: int | None = None) -> None:
        self.origin = origin
        count = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        if count > 1:
            # spawn, not fork: the parent runs an event loop and LevelDB threads.
            self._pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))

    async def check(self, events: Sequence[SignedEvent]) -> list[bool]:
        """Whether each event's signature verifies for this network."""
        if self._pool is None or len(events) < POOL_THRESHOLD:
            return _verify_chunk(self.origin, [e.encoded for e in events])
        loop = asyncio.get_running_loop()
        chunks = [[e.encoded for e in events[i:i + CHUNK]] for i in range(0, len(events), CHUNK)]
        results = await asyncio.gather(*(
            loop.run_in_executor(self._pool, _verify_chunk, self.origin, chunk) for chunk in chunks
        ))
        return [ok for chunk_result in results for ok in chunk_result]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
