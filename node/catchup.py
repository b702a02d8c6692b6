"""Catch-up: fetching committed blocks from peers over HTTP when this node is behind.

:class:`CatchUp` runs at most one fetch loop at a time.  It asks peers in
:class:`SyncSources` order for ``/v1/blocks/{height}/raw``, hands each block to
the one writer (the producer, through ``commit``, which checks the
certificate, re-executes the block and writes it) and goes on until no peer
is ahead.  It never writes the ledger itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from client.http import ResponseTooLarge, read_capped
from node.errors import PeerProtocolError
from node.peers import PeerSet
from node.wire import RawBlock, decode_raw_block

log = logging.getLogger("vcledger.consensus")

SYNC_POLL_INTERVAL = 0.5
SYNC_FETCH_TIMEOUT = 30.0


class SyncSources:
    """The order in which catch-up asks peers for blocks: the last one that served first.

    Peers are tried in ``node.toml`` order at first.  One that serves a block
    moves to the front, one that fails (no answer within the time limit, an
    error, a block that does not check out) to the back: a peer that answers
    slowly or not at all costs a lagging node one time limit, not one per block.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self._order = list(dict.fromkeys(urls))

    def order(self) -> list[str]:
        return list(self._order)

    def served(self, url: str) -> None:
        self._order.remove(url)
        self._order.insert(0, url)

    def failed(self, url: str) -> None:
        self._order.remove(url)
        self._order.append(url)


class CatchUp:
    """Fetches blocks for the producer; ``commit(block)`` is True once it was written."""

    def __init__(self, peers: PeerSet, head_height: Callable[[], int],
                 commit: Callable[[RawBlock], Awaitable[bool]]) -> None:
        self.peers = peers
        self.head_height = head_height
        self.commit = commit
        self.sources = SyncSources(peers.peer_urls)
        self.blocks_fetched = 0
        """Blocks fetched from peers and committed since the node started."""
        self.failures = 0
        """Block fetches that failed or brought a block the producer refused."""
        self._task: asyncio.Task[None] | None = None

    def behind_peers(self) -> bool:
        return self.peers.max_peer_height() > self.head_height()

    def want(self) -> None:
        """Start fetching unless a fetch loop is running."""
        if self._task is None or self._task.done():
            log.debug("catching up: peers at height %d, this node at %d",
                      self.peers.max_peer_height(), self.head_height())
            self._task = asyncio.create_task(self._sync(), name="sync")

    async def watch(self) -> None:
        """Poll the heights peers announce; catch up whenever one is ahead."""
        while True:
            await asyncio.sleep(SYNC_POLL_INTERVAL)
            if self.behind_peers():
                self.want()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _sync(self) -> None:
        """Fetch committed blocks from peers until none is ahead of this node."""
        failures = 0
        while failures < 2 * max(1, len(self.peers.peer_urls)):
            height = self.head_height() + 1
            progressed = False
            for url in self.sources.order():
                raw = await self._fetch_block(url, height)
                if raw is None:
                    self.failures += 1
                    self.sources.failed(url)
                    continue
                if await self.commit(raw):
                    self.blocks_fetched += 1
                    self.sources.served(url)
                    progressed = True
                    break
                self.failures += 1
                self.sources.failed(url)
            if not progressed:
                failures += 1
                if not self.behind_peers():
                    return
                await asyncio.sleep(SYNC_POLL_INTERVAL)
            else:
                failures = 0
        # No peer could serve the next block, however high some claim to be.  Heights
        # in hello and status frames are unsigned: until a peer claims one anew, do
        # not believe it, or a lying peer keeps this node fetching (and telling
        # clients it is catching up) for ever.
        head_height = self.head_height()
        for connection in self.peers.connections:
            if connection.height > head_height:
                log.info("peer %s claims height %d but no peer serves block %d; "
                         "not believed", connection.label, connection.height, head_height + 1)
                connection.height = head_height

    async def _fetch_block(self, url: str, height: int) -> RawBlock | None:
        log.debug("fetching block %d from %s", height, url)
        try:
            async with self.peers.session.get(
                f"{url}/v1/blocks/{height}/raw",
                timeout=aiohttp.ClientTimeout(total=SYNC_FETCH_TIMEOUT),
            ) as response:
                if response.status != 200:
                    log.debug("peer %s has no block %d (HTTP %d)", url, height, response.status)
                    return None
                data = await read_capped(response, self.peers.max_frame)
            return decode_raw_block(data, max_size=self.peers.max_frame)
        except ResponseTooLarge as exc:
            log.warning("peer %s served an oversized block %d: %s", url, height, exc)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.debug("fetching block %d from %s failed: %s", height, url, exc)
        except PeerProtocolError as exc:
            log.warning("peer %s served an unusable block %d: %s", url, height,
                        exc.diagnostics())
        return None
