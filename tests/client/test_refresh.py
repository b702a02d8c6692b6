"""``refresh_bundle`` (client/refresh.py) against a real node service over HTTP on 127.0.0.1.

The node runs in this process behind aiohttp's test server (as in
test_api.py), and the test seals every block, so the chain is exact and no
test waits on a clock.  A *mirror* forwards every request to the node except
``GET /v1/checkpoint``, which it answers with a checkpoint the test pins: an
older one that the network really cosigned, or a forged one cosigned with the
validator's own key (a fork).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from client.batch import build_batch
from client.bundle import Bundle, CredentialReceipt, format_bundle, parse_bundle
from client.checkpoint import format_checkpoint
from client.events import BatchAnchor, CredentialRevoke, RevocationReason, SignedEvent
from client.http import NodeClient, ServedCheckpoint, fetch_bundle
from client.note import cosign
from client.refresh import BundleNotRefreshable, refresh_bundle
from client.state import STATE_DIR_ENV, CheckpointRollback, ForkDetected, remembered_checkpoint
from client.trust import Trust
from client.verify import verify_bundle
from node.ledger import Head
from node.service import NodeService
from tests.nodeutil import (
    TestIssuer,
    assemble_in_process,
    digest,
    fixed_key,
    seal_block,
    submit_pending,
    write_network,
)

GOVERNANCE = fixed_key("governance")
ISSUER = TestIssuer(fixed_key("issuer"))
BATCH_DIGESTS = [digest(f"refresh batch {i}") for i in range(5)]
BATCH = build_batch(BATCH_DIGESTS)
BATCH_ID = "2026-autumn"


class TestClock:
    """The node's wall clock, handed to its assembly: ``time.time()`` until the test stops
    it, then a time only the test moves."""

    __test__ = False  # not a test class, for pytest

    def __init__(self) -> None:
        self._stopped_at: float | None = None

    def __call__(self) -> float:
        return time.time() if self._stopped_at is None else self._stopped_at

    def stop(self) -> float:
        """Stop the clock now; returns the time it shows from then on."""
        self._stopped_at = time.time()
        return self._stopped_at

    def advance(self, seconds: float) -> None:
        assert self._stopped_at is not None, "stop the clock before moving it"
        self._stopped_at += seconds


@dataclass
class LiveNode:
    service: NodeService
    server: TestServer
    validator_seed: bytes
    clock: TestClock
    anchor: SignedEvent | None = None

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def trust(self) -> Trust:
        return self.service.genesis.trust()

    async def seal(self, *events: SignedEvent) -> Head:
        if events:
            await submit_pending(self.service, events)
        head: Head = await seal_block(self.service)
        return head

    def checkpoint_note(self, tree_size: int | None = None) -> str:
        note = self.service.checkpoints.note(tree_size)
        assert note is not None
        return note

    def forged_note(self, tree_size: int) -> str:
        """A checkpoint for a history the node never had, validly cosigned by its validator."""
        validator = self.service.genesis.validators[0].name
        body = format_checkpoint(self.trust.origin, tree_size, bytes(range(32)))
        return body + "\n" + cosign(body, validator, self.validator_seed, int(time.time()))


class Mirror:
    """Forwards every request to ``upstream``, except that /v1/checkpoint is ``pinned``."""

    def __init__(self, upstream: str, pinned: str) -> None:
        self.upstream = upstream
        self.pinned = pinned
        self.session: aiohttp.ClientSession | None = None
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def forward(self, request: web.Request) -> web.Response:
        if request.path == "/v1/checkpoint":
            return web.Response(text=self.pinned, content_type="text/plain")
        assert self.session is not None
        async with self.session.request(request.method, self.upstream + request.path_qs,
                                        data=await request.read(),
                                        headers={"Content-Type": request.content_type}
                                        ) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status,
                                headers={"Content-Type": answer.headers["Content-Type"]})

    async def start(self) -> None:
        self.session = aiohttp.ClientSession()
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()
        if self.session is not None:
            await self.session.close()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state"
    monkeypatch.setenv(STATE_DIR_ENV, str(directory))
    return directory


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveNode]:
    net = write_network(tmp_path / "net", governance=GOVERNANCE)
    clock = TestClock()
    assembled = assemble_in_process(net, clock=clock)
    service = assembled.service
    await service.start(assembled.producer)
    server = TestServer(assembled.app, host="127.0.0.1")
    await server.start_server()
    anchor = ISSUER.sign(BatchAnchor(ISSUER.did, BATCH_ID, BATCH.root, BATCH.size))
    node = LiveNode(service, server, net.validator_keys[0].seed, clock, anchor)
    # Block 1 registers the issuer; block 2 issues "a" and "b" and anchors a batch.
    await node.seal(ISSUER.register(GOVERNANCE))
    await node.seal(ISSUER.issue("a"), ISSUER.issue("b"), anchor)
    try:
        yield node
    finally:
        await server.close()
        await service.close()


MirrorFactory = Callable[[LiveNode, str], Awaitable[Mirror]]


@pytest.fixture
async def mirror() -> AsyncIterator[MirrorFactory]:
    made: list[Mirror] = []

    async def make(node: LiveNode, pinned: str) -> Mirror:
        m = Mirror(node.url, pinned)
        await m.start()
        made.append(m)
        return m

    yield make
    for m in made:
        await m.close()


def now() -> int:
    return int(time.time())


async def bundle_of(node: LiveNode, label: str) -> Bundle:
    async with NodeClient(node.url) as client:
        return await fetch_bundle(client, issuer=ISSUER.did, credential_digest=digest(label),
                                  receipt=None, min_cosignatures=1)


async def refresh(url: str, old: Bundle, trust: Trust) -> Bundle:
    async with NodeClient(url) as client:
        return await refresh_bundle(client, old, trust, now=now())


def tree_size(bundle: Bundle) -> int:
    return bundle.header_proof.index + 1


def batch_receipt(node: LiveNode, index: int) -> CredentialReceipt:
    assert node.anchor is not None
    receipt = BATCH.receipt(index)
    return CredentialReceipt(node.trust.origin, ISSUER.did, BATCH_ID, BATCH.root, BATCH.size,
                             index, BATCH_DIGESTS[index], receipt.audit_path, node.anchor.hash)


# -- refreshing ------------------------------------------------------------------------------


async def test_refresh_brings_a_bundle_to_the_newest_checkpoint(live: LiveNode,
                                                                 state_dir: Path) -> None:
    old = await bundle_of(live, "a")
    assert verify_bundle(old, live.trust, digest_only=True, now=now()).status == "valid"
    head = await live.seal(ISSUER.issue("c"))
    new = await refresh(live.url, old, live.trust)
    assert tree_size(new) == head.tree_size > tree_size(old)
    assert (new.event, new.event_proof.index) == (old.event, old.event_proof.index)
    assert new.receipt is None and new.issuer == old.issuer
    verdict = verify_bundle(new, live.trust, digest_only=True, now=now())
    assert verdict.status == "valid" and verdict.tree_size == head.tree_size
    # The round trip through the file format is the one the CLI writes.
    assert parse_bundle(format_bundle(new)) == new
    remembered = remembered_checkpoint(live.trust)
    assert remembered is not None and remembered.checkpoint.tree_size == head.tree_size


async def test_a_credential_revoked_since_refreshes_to_revoked(live: LiveNode,
                                                               state_dir: Path) -> None:
    old = await bundle_of(live, "a")
    await live.seal(ISSUER.sign(CredentialRevoke(ISSUER.did, digest("a"),
                                                 RevocationReason.FRAUD)))
    # As of its checkpoint, the old bundle still says valid; past the trust file's max
    # age it is stale (exit 5), so the holder cannot keep presenting it.
    assert verify_bundle(old, live.trust, digest_only=True, now=now()).status == "valid"
    later = now() + live.trust.max_age_seconds + 60
    stale = verify_bundle(old, live.trust, digest_only=True, now=later)
    assert (stale.status, stale.exit_code) == ("stale", 5)
    new = await refresh(live.url, old, live.trust)
    verdict = verify_bundle(new, live.trust, digest_only=True, now=now())
    assert verdict.status == "revoked" and verdict.revocation is not None
    assert verdict.revocation.reason == "fraud"


async def test_a_batched_credential_keeps_its_receipt(live: LiveNode, state_dir: Path) -> None:
    receipt = batch_receipt(live, 3)
    async with NodeClient(live.url) as client:
        old = await fetch_bundle(client, issuer=ISSUER.did, credential_digest=BATCH_DIGESTS[3],
                                 receipt=receipt, min_cosignatures=1)
    assert verify_bundle(old, live.trust, digest_only=True, now=now()).status == "valid"
    await live.seal(ISSUER.issue("c"))
    new = await refresh(live.url, old, live.trust)
    assert new.receipt == receipt and tree_size(new) > tree_size(old)
    assert verify_bundle(new, live.trust, digest_only=True, now=now()).status == "valid"


async def test_the_node_sealing_a_block_meanwhile_is_followed(live: LiveNode,
                                                              state_dir: Path) -> None:
    """The checkpoint checked first and the one the proofs come at may differ."""
    old = await bundle_of(live, "a")

    class Racing(NodeClient):
        calls = 0

        async def served_checkpoint(self, **options: Any) -> ServedCheckpoint:
            served = await super().served_checkpoint(**options)
            Racing.calls += 1
            if Racing.calls == 1:
                await live.seal(ISSUER.issue("meanwhile"))
            return served

    async with Racing(live.url) as client:
        new = await refresh_bundle(client, old, live.trust, now=now())
    head = live.service.ledger.head
    assert Racing.calls == 2 and tree_size(new) == head.tree_size
    remembered = remembered_checkpoint(live.trust)
    assert remembered is not None and remembered.checkpoint.tree_size == head.tree_size


# -- refusing --------------------------------------------------------------------------------


async def test_a_node_older_than_the_bundle_is_refused(live: LiveNode, state_dir: Path,
                                                       mirror: MirrorFactory) -> None:
    older = live.checkpoint_note()  # block 2's checkpoint, really cosigned
    await live.seal(ISSUER.issue("c"))
    old = await bundle_of(live, "a")
    stale = await mirror(live, older)
    with pytest.raises(CheckpointRollback) as caught:
        await refresh(stale.url, old, live.trust)
    message = caught.value.diagnostics()
    assert message.startswith(f"this node serves tree size {tree_size(old) - 2}; the bundle is "
                              f"already at tree size {tree_size(old)} — it may be stale or "
                              "hiding events")
    assert "left as it was" in message


async def test_a_node_older_than_what_was_verified_before_is_refused(
        live: LiveNode, state_dir: Path, mirror: MirrorFactory, tmp_path: Path) -> None:
    """Status check first: a mirror pinned to an older checkpoint after the real node was seen."""
    old = await bundle_of(live, "a")  # at block 2
    path = tmp_path / "diploma.bundle.json"
    path.write_text(format_bundle(old))
    await live.seal(ISSUER.issue("c"))
    pinned = live.checkpoint_note()  # block 3: newer than the bundle
    head = await live.seal(ISSUER.issue("d"))
    await refresh(live.url, old, live.trust)  # this machine has now seen block 4
    stale = await mirror(live, pinned)
    with pytest.raises(CheckpointRollback,
                       match=f"this node serves tree size {head.tree_size - 2}; already "
                             f"verified {head.tree_size} — it may be stale or hiding events"):
        await refresh(stale.url, parse_bundle(path.read_text()), live.trust)
    assert path.read_text() == format_bundle(old)


async def test_a_forked_checkpoint_is_refused(live: LiveNode, state_dir: Path,
                                              mirror: MirrorFactory) -> None:
    old = await bundle_of(live, "a")
    head = await live.seal(ISSUER.issue("c"))
    forged = live.forged_note(head.tree_size)
    forked = await mirror(live, forged)
    # Nothing remembered yet: the consistency proof from the bundle's checkpoint fails.
    with pytest.raises(ForkDetected) as caught:
        await refresh(forked.url, old, live.trust)
    fork = caught.value
    assert "not consistent with the bundle's" in fork.description
    assert fork.first.note == old.event_proof.checkpoint_note
    assert fork.second.note == forged and fork.second.node == forked.url
    assert remembered_checkpoint(live.trust) is None  # a fork is not remembered
    # After the real node was seen: the same tree size with another root.
    await refresh(live.url, old, live.trust)
    with pytest.raises(ForkDetected, match=f"two different roots for tree size {head.tree_size}"):
        await refresh(forked.url, old, live.trust)
    remembered = remembered_checkpoint(live.trust)
    assert remembered is not None and remembered.checkpoint.root == head.log_root


async def test_a_bundle_that_does_not_verify_is_not_refreshed(live: LiveNode,
                                                              state_dir: Path) -> None:
    old = await bundle_of(live, "a")
    flipped = bytearray(old.event)
    flipped[-1] ^= 1
    tampered = dataclasses.replace(old, event=bytes(flipped))
    with pytest.raises(BundleNotRefreshable, match="fetch a new one with `vcledger bundle`"):
        await refresh(live.url, tampered, live.trust)
    other_network = live.trust.model_copy(update={"origin": "elsewhere.example/net"})
    with pytest.raises(BundleNotRefreshable, match="network"):
        await refresh(live.url, old, other_network)
    assert remembered_checkpoint(live.trust) is None


# -- the node keeps saying how fresh it is ---------------------------------------------------


async def test_the_node_reports_the_age_of_its_newest_checkpoint(live: LiveNode) -> None:
    stopped_at = live.clock.stop()  # the node's clock: cosignatures and the scrape
    head = await live.seal()

    async def age() -> float:
        async with aiohttp.ClientSession() as session, \
                session.get(live.url + "/metrics") as response:
            text = await response.text()
        (value,) = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                    if s.name == "vcledger_checkpoint_age_seconds"]
        return float(value)

    cosigned_at = int(stopped_at)
    assert live.checkpoint_note().startswith(f"{live.trust.origin}\n{head.tree_size}\n")
    assert await age() == pytest.approx(stopped_at - cosigned_at)
    live.clock.advance(600)  # no block for ten minutes
    assert await age() == pytest.approx(stopped_at + 600 - cosigned_at)
