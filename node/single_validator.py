"""Block production for a network with exactly one validator: this node decides alone.

No consensus, no peers to wait for: a block is sealed when enough events wait or the
oldest has waited ``block_interval``, and an empty one every ``empty_block_interval``
so the checkpoint stays fresh.  :class:`node.producer.ServedSingleValidator` adds the
peer endpoint observers follow it through.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from client.events import SignedEvent
from node.driver_types import Pacing
from node.ledger import PreparedBlock
from node.peers import PeerSet
from node.service import NodeService


class SingleValidatorProducer:
    """Block production for a network with exactly one validator (this node).

    Seals a block when events are pending and either ``max_block_events`` are
    waiting or ``block_interval`` has passed since the oldest arrived; seals an
    empty block when nothing happened for ``empty_block_interval`` so the
    checkpoint (and its cosignature timestamp) stays fresh.
    """

    def __init__(self, service: NodeService) -> None:
        assert service.key is not None
        self.service = service
        self.key = service.key
        params = service.genesis.consensus
        self.pacing = Pacing(params.block_interval_ms / 1000,
                             params.empty_block_interval_ms / 1000, params.max_block_events)
        self._wake = asyncio.Event()

    def commit_expected(self) -> bool:
        return False  # this node alone decides; no block exists elsewhere first

    def behind_peers(self) -> bool:
        return False

    @property
    def peers(self) -> PeerSet | None:
        return None

    def events_admitted(self, events: list[SignedEvent]) -> None:
        self._wake.set()

    async def run(self) -> None:
        service = self.service
        if service.ledger.head.height == 0:
            await self.seal()  # block 1 gives the network its first checkpoint right away
        else:
            service.cosign_head()  # in case the node stopped between commit and cosigning
        last_block = time.monotonic()
        while True:
            now = time.monotonic()
            pending = len(service.mempool)
            if pending:
                deadline = self.pacing.build_at(now, pending,
                                                service.oldest_pending_admitted_at())
                if now >= deadline:
                    await self.seal()
                    last_block = time.monotonic()
                    continue
            else:
                deadline = last_block + self.pacing.empty_block_interval
                if now >= deadline:
                    await self.seal()
                    last_block = time.monotonic()
                    continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - now))

    async def seal(self) -> None:
        service = self.service
        block = service.prepare_from_mempool(self.key.public_key)
        await service.write_block(block, self.certificate(block))
        service.cosign_head()
        self.committed()

    def certificate(self, block: PreparedBlock) -> bytes | None:
        """The commit certificate stored with ``block`` (none by default)."""
        return None

    def committed(self) -> None:
        """Called after each block is written and cosigned."""
