"""node/service.py in-process: submissions, the mempool, waiting for commits, block writing.

Most tests drive blocks by hand through a producer that never seals on its own
(:class:`ManualProducer`), so every block boundary is chosen by the test; a
few run the real :class:`SingleValidatorProducer` with fast timing and poll
for its blocks with a bounded deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import msgpack
import pytest

from client.checkpoint import verify_checkpoint
from client.events import (
    CredentialIssue,
    CredentialRevoke,
    IssuerRegister,
    IssuerRotate,
    RevocationReason,
    SignedEvent,
    sign_event,
)
from node.errors import MempoolFull
from node.ledger import Head, Ledger
from node.service import (
    Committed,
    NodeService,
    Pending,
    Rejected,
    SubmitResult,
)
from node.single_validator import SingleValidatorProducer
from node.store import Store, StoreBatch
from tests import nodeutil
from tests.nodeutil import (
    FAST_CONSENSUS,
    TestIssuer,
    assemble_in_process,
    digest,
    fixed_key,
    write_network,
)

GOVERNANCE = fixed_key("governance")
ISSUER = TestIssuer(fixed_key("issuer"))
OTHER = TestIssuer(fixed_key("other issuer"))


class ManualProducer(nodeutil.ManualProducer):
    """The single-validator producer, except that it seals only when the test calls :func:`seal`,
    and counts the admissions it is told of."""

    def __init__(self, service: NodeService) -> None:
        super().__init__(service)
        self.arrivals = 0

    def events_admitted(self, events: list[SignedEvent]) -> None:
        self.arrivals += 1


ServiceFactory = Callable[..., Awaitable[NodeService]]


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """``await make_service(producer=..., consensus=..., **node_toml_settings)``."""
    started: list[NodeService] = []

    async def make(producer: str = "manual", consensus: dict[str, int] | None = None,
                   workers: int = 1, **settings: object) -> NodeService:
        net = write_network(tmp_path / f"net{len(started)}", governance=GOVERNANCE,
                            consensus=consensus, settings=settings)
        assembled = assemble_in_process(
            net, producer=ManualProducer if producer == "manual" else SingleValidatorProducer,
            signature_workers=workers)
        service = assembled.service
        started.append(service)
        await service.start(assembled.producer)
        return service

    yield make
    for service in started:
        await service.close()


async def seal(service: NodeService) -> Head:
    """Build the next block from the mempool and write it, as a producer would."""
    assert service.key is not None
    return await service.write_block(service.prepare_from_mempool(service.key.public_key))


async def submit_one(service: NodeService, event: SignedEvent | bytes) -> SubmitResult:
    data = event if isinstance(event, bytes) else event.encoded
    (result,) = await service.submit([data])
    return result


async def registered(service: NodeService, *issuers: TestIssuer) -> None:
    for issuer in issuers:
        assert isinstance(await submit_one(service, issuer.register(GOVERNANCE)), Pending)
    await seal(service)


def rejected_count(service: NodeService, reason: str) -> float:
    value = service.metrics.registry.get_sample_value(
        "vcledger_events_rejected_total", {"reason": reason})
    return value or 0.0


async def poll(condition: Callable[[], Any], *, timeout: float = 10.0, what: str) -> Any:
    """Yield to the event loop until ``condition()`` is truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
    return value


# -- submissions -------------------------------------------------------------------------


async def test_submit_wait_and_commit(make_service: ServiceFactory) -> None:
    service = await make_service()
    producer = service._producer
    assert isinstance(producer, ManualProducer)
    await registered(service, ISSUER)
    event = ISSUER.issue("one")

    result = await submit_one(service, event)
    assert result == Pending(event.hash)
    assert event.hash in service.mempool and producer.arrivals == 2
    waiter = asyncio.create_task(service.wait_for(event.hash, timeout=10))
    head = await seal(service)
    outcome = await waiter
    assert outcome == Committed(event.hash, head.tree_size - 2, head.height)
    assert event.hash not in service.mempool
    assert service.ledger.leaf(outcome.index) == event.encoded
    # After the commit both submitting again and waiting answer at once.
    assert await submit_one(service, event) == outcome
    assert await service.wait_for(event.hash, timeout=10) == outcome


async def test_batches_and_duplicates(make_service: ServiceFactory) -> None:
    service = await make_service()
    await registered(service, ISSUER)
    events = [ISSUER.issue(i) for i in range(5)]
    results = await service.submit([e.encoded for e in events] + [events[1].encoded])
    assert results == [Pending(e.hash) for e in events] + [Pending(events[1].hash)]
    assert len(service.mempool) == 5
    # Submitting again while pending changes nothing.
    assert await service.submit([events[0].encoded]) == [Pending(events[0].hash)]
    assert len(service.mempool) == 5
    head = await seal(service)
    assert head.header is not None and head.header.event_count == 5
    again = await service.submit([e.encoded for e in events])
    assert [type(r) for r in again] == [Committed] * 5
    assert [r.index for r in again if isinstance(r, Committed)] == list(
        range(head.header.first_index, head.header.index))
    accepted = service.metrics.registry.get_sample_value("vcledger_events_accepted_total")
    assert accepted == 6  # the registration and five credentials, each counted once


async def test_rejections_carry_their_rule(make_service: ServiceFactory) -> None:
    service = await make_service()
    await registered(service, ISSUER)
    imposter = fixed_key("imposter")
    future = int(time.time()) + 3600
    unknown = OTHER.issue("y")
    cases: list[tuple[bytes, str]] = [
        (b"\x93\x01\x02\x03", "bad_encoding"),
        (b"\xcc\x01", "bad_encoding"),  # non-canonical msgpack
        (sign_event(CredentialIssue(ISSUER.did, digest("x")), origin="vcledger.example/other",
                    key=ISSUER.key, created=int(time.time())).encoded, "bad_signature"),
        (unknown.encoded, "unknown_issuer"),
        (sign_event(CredentialIssue(ISSUER.did, digest("z")), origin=ISSUER.origin,
                    key=imposter, created=int(time.time())).encoded, "wrong_key"),
        (sign_event(IssuerRegister(OTHER.did, "Other", OTHER.key.public_key),
                    origin=ISSUER.origin, key=imposter, created=int(time.time())).encoded,
         "not_governance"),
        (ISSUER.register(GOVERNANCE, created=int(time.time()) - 5).encoded, "issuer_exists"),
        (ISSUER.issue("later", created=future).encoded, "created_in_future"),
        (ISSUER.sign(CredentialRevoke(ISSUER.did, digest("never"),
                                      RevocationReason.FRAUD)).encoded, "unknown_credential"),
    ]
    results = await service.submit([data for data, _ in cases])
    for (_, code), result in zip(cases, results, strict=True):
        assert isinstance(result, Rejected), (code, result)
        assert result.error.code == code, result.error.diagnostics()
        assert result.error.diagnostics()
        assert rejected_count(service, code) >= 1
    assert len(service.mempool) == 0
    # Decoding failures have no event hash; the others name theirs.
    assert isinstance(results[0], Rejected) and results[0].event_hash is None
    assert isinstance(results[3], Rejected) and results[3].event_hash == unknown.hash


async def test_signatures_checked_in_the_pool(make_service: ServiceFactory) -> None:
    """64 or more events go to the worker processes; a forged one is still caught."""
    service = await make_service(workers=2)
    await registered(service, ISSUER)
    events = [ISSUER.issue(f"pool {i}") for i in range(80)]
    forged = bytearray(events[17].encoded)
    forged[-1] ^= 1  # the last byte is inside the signature
    payloads = [e.encoded for e in events]
    payloads[17] = bytes(forged)
    # Signed for another network: the workers check the message built for ours.
    elsewhere = sign_event(CredentialIssue(ISSUER.did, digest("pool elsewhere")),
                           origin="vcledger.example/other", key=ISSUER.key,
                           created=int(time.time()))
    payloads[42] = elsewhere.encoded
    results = await service.submit(payloads)
    for i in (17, 42):
        rejected = results[i]
        assert isinstance(rejected, Rejected) and rejected.error.code == "bad_signature"
    assert all(isinstance(r, Pending) for i, r in enumerate(results) if i not in (17, 42))
    assert len(service.mempool) == 78


async def test_non_canonical_shapes_are_refused_on_the_way_in(
        make_service: ServiceFactory) -> None:
    """Floats and over-deep nesting anywhere in an event, not only at the top level."""
    service = await make_service()
    await registered(service, ISSUER)
    good = ISSUER.issue("shape")
    fields = msgpack.unpackb(good.encoded)
    nested_float = [*fields[:3], [fields[3][0], 1.5], *fields[4:]]
    too_deep: list[object] = [b"x"]
    for _ in range(9):
        too_deep = [too_deep]
    deep = [*fields[:3], [fields[3][0], too_deep], *fields[4:]]
    results = await service.submit([msgpack.packb(nested_float), msgpack.packb(deep)])
    assert [r.error.code for r in results if isinstance(r, Rejected)] == ["bad_encoding"] * 2
    assert "float" in results[0].error.diagnostics()  # type: ignore[union-attr]
    assert "deeper" in results[1].error.diagnostics()  # type: ignore[union-attr]


async def test_a_rotation_takes_effect_within_its_block(make_service: ServiceFactory) -> None:
    """Rules read an issuer's record once per block; a rotation earlier in the block wins."""
    service = await make_service()
    await registered(service, ISSUER)
    new_key = fixed_key("issuer, rotated")
    created = int(time.time())
    rotate = ISSUER.sign(IssuerRotate(ISSUER.did, new_key.public_key), created)
    by_old_key = ISSUER.issue("after rotation", created)
    by_new_key = sign_event(CredentialIssue(ISSUER.did, digest("by new key")),
                            origin=ISSUER.origin, key=new_key, created=created)
    # Admission judges each against the committed state: the old key is still current.
    assert [type(r) for r in await service.submit([rotate.encoded, by_old_key.encoded])] == [
        Pending, Pending]
    head = await seal(service)
    assert head.header is not None and head.header.event_count == 1
    dropped = await service.wait_for(by_old_key.hash, timeout=1)
    assert isinstance(dropped, Rejected) and dropped.error.code == "wrong_key"
    # And in the next blocks too: the old key is out, the new one in.
    again = ISSUER.issue("old key, next block", created + 1)
    result = await submit_one(service, again)
    assert isinstance(result, Rejected) and result.error.code == "wrong_key"
    assert await submit_one(service, by_new_key) == Pending(by_new_key.hash)
    await seal(service)
    assert isinstance(await service.wait_for(by_new_key.hash, timeout=1), Committed)


# -- the bounded mempool -----------------------------------------------------------------


async def test_full_mempool_refuses_and_recovers(make_service: ServiceFactory) -> None:
    service = await make_service(max_events=3)
    await registered(service, ISSUER)
    events = [ISSUER.issue(i) for i in range(5)]
    assert await service.submit([e.encoded for e in events[:2]]) == [
        Pending(e.hash) for e in events[:2]]
    # A batch that does not fit is refused whole: nothing of it is admitted.
    with pytest.raises(MempoolFull) as caught:
        await service.submit([e.encoded for e in events[2:4]])
    assert caught.value.retry_after >= 1 and caught.value.http_status == 503
    assert len(service.mempool) == 2
    assert await submit_one(service, events[2]) == Pending(events[2].hash)
    with pytest.raises(MempoolFull):
        await submit_one(service, events[3])
    # Events already accepted are never dropped for room; a block makes room.
    await seal(service)
    for event in events[:3]:
        assert isinstance(await submit_one(service, event), Committed)
    assert await submit_one(service, events[3]) == Pending(events[3].hash)


async def test_concurrent_submissions_never_overfill(make_service: ServiceFactory,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two submissions whose signature checks overlap: the room is checked again after.

    Each passes the first room check while the pool is still empty; whichever
    comes back second must be refused whole, not half admitted with an error.
    """
    service = await make_service(max_events=10)
    await registered(service, ISSUER)
    release = asyncio.Event()
    checking = 0

    async def slow_check(events: Sequence[SignedEvent]) -> list[bool]:
        nonlocal checking
        checking += 1
        await release.wait()
        return [True] * len(events)

    monkeypatch.setattr(service.signatures, "check", slow_check)
    first = asyncio.create_task(service.submit([ISSUER.issue(f"a{i}").encoded
                                                for i in range(6)]))
    second = asyncio.create_task(service.submit([ISSUER.issue(f"b{i}").encoded
                                                 for i in range(6)]))
    await poll(lambda: checking == 2, what="both submissions in the signature check")
    release.set()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(outcomes[0], list) and all(isinstance(r, Pending) for r in outcomes[0])
    assert isinstance(outcomes[1], MempoolFull), outcomes[1]
    assert len(service.mempool) == 6
    assert service.metrics.registry.get_sample_value("vcledger_events_accepted_total") == 7


# -- waiting -----------------------------------------------------------------------------


async def test_wait_for_times_out_and_knows_nothing_of_strangers(
        make_service: ServiceFactory) -> None:
    service = await make_service()
    await registered(service, ISSUER)
    event = ISSUER.issue("slow")
    assert await service.wait_for(event.hash, timeout=0.05) is None  # never submitted
    await submit_one(service, event)
    started = time.monotonic()
    assert await service.wait_for(event.hash, timeout=0.05) is None  # pending, no block
    assert time.monotonic() - started < 5
    assert event.hash in service.mempool


async def test_events_dropped_at_block_building_settle_their_waiters(
        make_service: ServiceFactory) -> None:
    service = await make_service()
    await registered(service, ISSUER)
    await submit_one(service, ISSUER.issue("revoked twice"))
    await seal(service)
    first = ISSUER.sign(CredentialRevoke(ISSUER.did, digest("revoked twice"),
                                         RevocationReason.FRAUD), int(time.time()))
    second = ISSUER.sign(CredentialRevoke(ISSUER.did, digest("revoked twice"),
                                          RevocationReason.SUPERSEDED), int(time.time()) - 1)
    # Each passes admission on its own (nothing is revoked yet) ...
    assert await service.submit([first.encoded, second.encoded]) == [
        Pending(first.hash), Pending(second.hash)]
    waiters = [asyncio.create_task(service.wait_for(e.hash, timeout=10))
               for e in (first, second)]
    await asyncio.sleep(0)  # let both waiters register
    # ... but only one fits in a block.
    head = await seal(service)
    won, lost = await asyncio.gather(*waiters)
    assert won == Committed(first.hash, head.tree_size - 2, head.height)
    assert isinstance(lost, Rejected) and lost.event_hash == second.hash
    assert lost.error.code == "already_revoked"
    assert "revoked at log index" in lost.error.diagnostics()
    assert len(service.mempool) == 0
    assert rejected_count(service, "already_revoked") == 1
    # Asking later gets the same answer.
    later = await service.wait_for(second.hash, timeout=1)
    assert isinstance(later, Rejected) and later.error.code == "already_revoked"


# -- the single-validator producer ----------------------------------------------------------


async def test_producer_seals_cosigns_and_keeps_checkpoints_fresh(
        make_service: ServiceFactory) -> None:
    service = await make_service(producer="single",
                                 consensus={**FAST_CONSENSUS, "empty_block_interval_ms": 100})
    await poll(lambda: service.ledger.head.height >= 1, what="block 1")
    registration = ISSUER.register(GOVERNANCE)
    assert isinstance(await submit_one(service, registration), Pending)
    event = ISSUER.issue("by the producer")
    outcome = await service.wait_for(registration.hash, timeout=10)
    assert isinstance(outcome, Committed)
    await submit_one(service, event)
    outcome = await service.wait_for(event.hash, timeout=10)
    assert isinstance(outcome, Committed)
    # Empty blocks follow on their own.
    height = service.ledger.head.height
    await poll(lambda: service.ledger.head.height >= height + 2, what="empty blocks")
    empty = service.ledger.header(height + 1)
    assert empty.event_count == 0
    # Every block's checkpoint is cosigned by the validator, per trust.json's policy.
    trust = service.genesis.trust()
    for head_height in (1, outcome.height, height + 1):
        size = service.ledger.header(head_height).tree_size
        note = await poll(partial(service.checkpoints.note, size), what="cosignature")
        verified = verify_checkpoint(note, trust.origin, trust.verifiers(), trust.threshold)
        assert verified.checkpoint.tree_size == size
        assert verified.checkpoint.root == service.ledger.log.root_at(size)


async def test_producer_seals_a_full_block_at_once(make_service: ServiceFactory) -> None:
    # A block interval of a minute: only reaching max_block_events can seal.
    service = await make_service(producer="single", consensus={
        "max_block_events": 3, "block_interval_ms": 60_000, "empty_block_interval_ms": 3_600_000})
    await poll(lambda: service.ledger.head.height >= 1, what="block 1")
    await submit_one(service, ISSUER.register(GOVERNANCE))
    assert service.ledger.head.height == 1
    events = [ISSUER.issue(i) for i in range(3)]
    # Not registered yet, so these are refused; the registration alone waits.
    assert all(isinstance(r, Rejected) for r in await service.submit([e.encoded for e in events]))
    others = [OTHER.register(GOVERNANCE), fixed_issuer_register("third")]
    await service.submit([e.encoded for e in others])
    outcome = await service.wait_for(others[-1].hash, timeout=10)
    assert isinstance(outcome, Committed) and outcome.height == 2
    assert service.ledger.header(2).event_count == 3


def fixed_issuer_register(label: str) -> SignedEvent:
    return TestIssuer(fixed_key(label)).register(GOVERNANCE)


# -- shutting down -----------------------------------------------------------------------


async def test_close_during_a_commit_finishes_the_commit(
        make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """What SIGTERM does: close() while a block's synced write is in flight."""
    service = await make_service(producer="single", consensus=FAST_CONSENSUS)
    await poll(lambda: service.ledger.head.height >= 1, what="block 1")
    writing, release = threading.Event(), threading.Event()
    original = StoreBatch.commit

    def gated_commit(batch: StoreBatch) -> None:
        writing.set()
        assert release.wait(10), "the test never released the write"
        original(batch)

    monkeypatch.setattr(StoreBatch, "commit", gated_commit)
    event = ISSUER.register(GOVERNANCE)
    await submit_one(service, event)
    await poll(writing.is_set, what="the block write to start")
    closing = asyncio.create_task(service.close())
    await asyncio.sleep(0)  # close() runs up to its first await: the producer is cancelled
    assert not closing.done()
    release.set()
    await asyncio.wait_for(closing, 10)
    assert service.store.closed
    monkeypatch.setattr(StoreBatch, "commit", original)

    store = Store.open(service.config.data_dir, create=False)
    try:
        ledger = Ledger(store, service.genesis)
        assert ledger.head.height == 2
        position = ledger.event_position(event.hash)
        assert position is not None and ledger.leaf(position.index) == event.encoded
    finally:
        store.close()


async def test_stopping_production_answers_every_wait_at_once(
        make_service: ServiceFactory) -> None:
    """Shutdown stops the producer first; no ?wait=commit may then hold the server open."""
    service = await make_service()
    await registered(service, ISSUER)
    event = ISSUER.issue("never sealed")
    await submit_one(service, event)
    waiter = asyncio.create_task(service.wait_for(event.hash, timeout=60))
    await asyncio.sleep(0)  # the waiter registers
    started = time.monotonic()
    await service.stop_producer()
    assert await asyncio.wait_for(waiter, 5) is None
    # Later waits do not wait either; the event is still pending, not lost or rejected.
    assert await service.wait_for(event.hash, timeout=60) is None
    assert time.monotonic() - started < 5
    assert event.hash in service.mempool
