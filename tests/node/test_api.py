"""node/api.py through aiohttp's test server: every endpoint's answer, every error's shape.

Proofs the API serves are verified with the client's verifiers against the
cosigned checkpoint the API serves, under the network's trust policy, so a
wrong root, a stale proof or a wrong signature fails here.  Blocks are sealed
by the test (a producer that never seals on its own), so the chain is exact.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgpack
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from client.batch import build_batch
from client.block import decode_header
from client.checkpoint import VerifiedCheckpoint, verify_checkpoint
from client.events import (
    BatchAnchor,
    CredentialRevoke,
    PathwayDefine,
    PathwayRetire,
    RevocationReason,
    SignedEvent,
)
from client.hashes import Hash
from client.merkle import leaf_hash, verify_consistency, verify_inclusion
from client.smt import SmtProof, verify_membership, verify_non_membership
from client.status import (
    batch_status_key,
    credential_status_key,
    issuer_status_key,
    pathway_status_key,
)
from node.api import EVENT_CONTENT_TYPE, EVENTS_CONTENT_TYPE
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
STRANGER = TestIssuer(fixed_key("stranger"))
BATCH_DIGESTS = [digest(f"batch {i}") for i in range(5)]
BATCH = build_batch(BATCH_DIGESTS)
MAX_BODY = 64 * 1024
CREATED = 1_780_000_000  # the chain's events are the same in every run
BLOCK_2 = [ISSUER.issue("a", CREATED), ISSUER.issue("b", CREATED),
           ISSUER.sign(BatchAnchor(ISSUER.did, "2026-spring", BATCH.root, BATCH.size), CREATED)]


@dataclass
class Node:
    service: NodeService
    client: TestClient[Any, Any]

    async def seal(self) -> Head:
        head: Head = await seal_block(self.service)
        return head

    async def submit(self, *events: SignedEvent) -> None:
        await submit_pending(self.service, events)

    async def checkpoint(self, tree_size: int | None = None) -> VerifiedCheckpoint:
        query = "" if tree_size is None else f"?tree_size={tree_size}"
        response = await self.client.get("/v1/checkpoint" + query)
        assert response.status == 200, await response.text()
        assert response.content_type == "text/plain"
        trust = self.service.genesis.trust()
        return verify_checkpoint(await response.text(), trust.origin, trust.verifiers(),
                                 trust.threshold)


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(tmp_path: Path) -> AsyncIterator[NodeFactory]:
    made: list[Node] = []

    async def make(**settings: object) -> Node:
        settings = {"max_body_bytes": MAX_BODY, "max_wait_s": 5, **settings}
        net = write_network(tmp_path / f"net{len(made)}", governance=GOVERNANCE,
                            settings=settings)
        assembled = assemble_in_process(net)
        service = assembled.service
        await service.start(assembled.producer)
        client: TestClient[Any, Any] = TestClient(TestServer(assembled.app))
        await client.start_server()
        node = Node(service, client)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.client.close()
        await node.service.close()


def revocation(label: str | Hash, reason: RevocationReason = RevocationReason.FRAUD,
               created: int | None = None) -> SignedEvent:
    target = label if isinstance(label, bytes) else digest(label)
    return ISSUER.sign(CredentialRevoke(ISSUER.did, target, reason), created)


async def chain(node: Node) -> list[Head]:
    """Block 1 registers the issuer; 2 issues "a" and "b" and anchors a batch; 3 revokes "b"."""
    await node.submit(ISSUER.register(GOVERNANCE, CREATED))
    heads = [await node.seal()]
    await node.submit(*BLOCK_2)
    heads.append(await node.seal())
    await node.submit(revocation("b", created=CREATED))
    heads.append(await node.seal())
    return heads


async def json_of(response: ClientResponse, status: int) -> Any:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json", response.content_type
    return json.loads(text)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- submitting --------------------------------------------------------------------------


async def test_submit_raw_and_json(make_node: NodeFactory) -> None:
    node = await make_node()
    await chain(node)
    raw_event, json_event = ISSUER.issue("raw"), ISSUER.issue("json")
    response = await node.client.post("/v1/events", data=raw_event.encoded,
                                      headers={"Content-Type": EVENT_CONTENT_TYPE})
    assert await json_of(response, 202) == {"event_hash": raw_event.hash.hex(),
                                            "status": "pending"}
    response = await node.client.post("/v1/events", json={"event": b64(json_event.encoded)})
    assert await json_of(response, 202) == {"event_hash": json_event.hash.hex(),
                                            "status": "pending"}
    # Pending events can be looked up; so can a committed one, with its leaf.
    response = await node.client.get(f"/v1/events/{raw_event.hash.hex()}")
    assert await json_of(response, 200) == {"event_hash": raw_event.hash.hex(),
                                            "status": "pending"}
    head = await node.seal()
    response = await node.client.get(f"/v1/events/{raw_event.hash.hex()}")
    body = await json_of(response, 200)
    assert body == {"event_hash": raw_event.hash.hex(), "status": "committed",
                    "index": head.tree_size - 3, "height": head.height,
                    "event": b64(raw_event.encoded)}
    # Submitting a committed event again is harmless: it answers where the event is.
    response = await node.client.post("/v1/events", data=raw_event.encoded,
                                      headers={"Content-Type": EVENT_CONTENT_TYPE})
    assert await json_of(response, 200) == {"event_hash": raw_event.hash.hex(),
                                            "status": "committed",
                                            "index": body["index"], "height": body["height"]}


async def test_submit_and_wait_for_the_commit(make_node: NodeFactory) -> None:
    node = await make_node()
    await chain(node)
    event = ISSUER.issue("waited for")
    request = asyncio.create_task(node.client.post(
        "/v1/events?wait=commit", data=event.encoded,
        headers={"Content-Type": EVENT_CONTENT_TYPE}))
    deadline = time.monotonic() + 10
    while event.hash not in node.service.mempool:
        assert time.monotonic() < deadline and not request.done()
        await asyncio.sleep(0.005)
    head = await node.seal()
    body = await json_of(await request, 200)
    assert body == {"event_hash": event.hash.hex(), "status": "committed",
                    "index": head.tree_size - 2, "height": head.height}

    # No block in time: 202, with a hint where to look.
    late = ISSUER.issue("late")
    response = await node.client.post("/v1/events?wait=commit&timeout=0.05", data=late.encoded,
                                      headers={"Content-Type": EVENT_CONTENT_TYPE})
    body = await json_of(response, 202)
    assert body["status"] == "pending" and late.hash.hex() in body["message"]


async def test_submit_and_wait_sees_a_drop_at_block_building(make_node: NodeFactory) -> None:
    node = await make_node()
    await chain(node)
    await node.submit(ISSUER.issue("contested"))
    await node.seal()
    first = revocation("contested", RevocationReason.FRAUD)
    second = revocation("contested", RevocationReason.SUPERSEDED, created=int(time.time()) - 1)
    await node.submit(first)
    request = asyncio.create_task(node.client.post(
        "/v1/events?wait=commit", data=second.encoded,
        headers={"Content-Type": EVENT_CONTENT_TYPE}))
    deadline = time.monotonic() + 10
    while second.hash not in node.service.mempool:
        assert time.monotonic() < deadline and not request.done()
        await asyncio.sleep(0.005)
    await node.seal()
    body = await json_of(await request, 422)
    assert body["error"]["code"] == "already_revoked"
    # The event's fate stays readable.
    body = await json_of(await node.client.get(f"/v1/events/{second.hash.hex()}"), 200)
    assert body["status"] == "rejected" and body["error"]["code"] == "already_revoked"


async def test_submit_batches(make_node: NodeFactory) -> None:
    node = await make_node()
    await chain(node)
    events = [ISSUER.issue(f"batch item {i}") for i in range(3)]
    packed = msgpack.packb([e.encoded for e in events[:2]] + [b"\x01"], use_bin_type=True)
    response = await node.client.post("/v1/events/batch", data=packed,
                                      headers={"Content-Type": EVENTS_CONTENT_TYPE})
    body = await json_of(response, 200)
    assert body["results"][:2] == [{"event_hash": e.hash.hex(), "status": "pending"}
                                   for e in events[:2]]
    rejected = body["results"][2]
    assert rejected["status"] == "rejected" and rejected["event_hash"] is None
    assert rejected["error"]["code"] == "bad_encoding" and rejected["error"]["message"]

    response = await node.client.post("/v1/events/batch?wait=commit&timeout=0.05",
                                      json={"events": [b64(e.encoded) for e in events]})
    body = await json_of(response, 200)
    assert [r["status"] for r in body["results"]] == ["pending"] * 3
    head = await node.seal()
    response = await node.client.post("/v1/events/batch?wait=commit",
                                      json={"events": [b64(e.encoded) for e in events]})
    body = await json_of(response, 200)
    assert [(r["status"], r["height"]) for r in body["results"]] == [
        ("committed", head.height)] * 3


# -- reading -----------------------------------------------------------------------------


async def test_checkpoint_entries_and_proofs_verify(make_node: NodeFactory) -> None:
    node = await make_node()
    heads = await chain(node)
    newest = await node.checkpoint()
    assert newest.checkpoint.tree_size == heads[-1].tree_size
    assert newest.checkpoint.root == heads[-1].log_root
    response = await node.client.get("/v1/checkpoint?min_cosignatures=1")
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"

    checkpoints = [await node.checkpoint(h.tree_size) for h in heads]
    for verified in checkpoints:
        size, root = verified.checkpoint.tree_size, verified.checkpoint.root
        for index in range(size):
            response = await node.client.get(f"/v1/entries/{index}")
            assert response.status == 200
            assert response.content_type == "application/octet-stream"
            leaf = await response.read()
            body = await json_of(await node.client.get(
                f"/v1/proof/inclusion?index={index}&tree_size={size}"), 200)
            assert body["index"] == index and body["tree_size"] == size
            assert body["leaf_hash"] == leaf_hash(leaf).hex()
            verify_inclusion(leaf_hash(leaf), index, size,
                             [bytes.fromhex(h) for h in body["proof"]], root)
    for old in checkpoints:
        for new in checkpoints:
            old_size, new_size = old.checkpoint.tree_size, new.checkpoint.tree_size
            if old_size > new_size:
                continue
            body = await json_of(await node.client.get(
                f"/v1/proof/consistency?old_size={old_size}&tree_size={new_size}"), 200)
            assert (body["old_size"], body["tree_size"]) == (old_size, new_size)
            verify_consistency(old_size, new_size, old.checkpoint.root, new.checkpoint.root,
                               [bytes.fromhex(h) for h in body["proof"]])


async def test_blocks(make_node: NodeFactory) -> None:
    node = await make_node()
    heads = await chain(node)
    body = await json_of(await node.client.get("/v1/blocks/2"), 200)
    header = heads[1].header
    assert header is not None
    assert body["height"] == 2 and body["tree_size"] == header.tree_size
    assert body["certificate"] is None
    assert body["header"]["hash"] == header.hash.hex()
    assert body["header"]["previous"] == heads[0].header.hash.hex()  # type: ignore[union-attr]
    assert decode_header(base64.b64decode(body["header"]["encoded"])) == header
    assert body["event_hashes"] == [e.hash.hex() for e in BLOCK_2]
    latest = await json_of(await node.client.get("/v1/blocks/latest"), 200)
    assert latest["height"] == 3 and latest["header"]["status_root"] == \
        heads[-1].status_root.hex()


async def test_status_issuer_and_batch_proofs_verify(make_node: NodeFactory) -> None:
    node = await make_node()
    heads = await chain(node)
    newest = await node.checkpoint()

    async def proven(path: str, key: Hash, tree_size: int | None = None) -> dict[str, Any]:
        query = "" if tree_size is None else f"?tree_size={tree_size}"
        body: dict[str, Any] = await json_of(await node.client.get(path + query), 200)
        assert body["status_key"] == key.hex()
        header = decode_header(base64.b64decode(body["header"]))
        assert header.tree_size == body["tree_size"]
        assert body["status_root"] == header.status_root.hex()
        # The header is the checkpoint's last leaf, so it is proven by the checkpoint.
        verified = await node.checkpoint(header.tree_size)
        inclusion = await json_of(await node.client.get(
            f"/v1/proof/inclusion?index={header.index}&tree_size={header.tree_size}"), 200)
        verify_inclusion(header.hash, header.index, header.tree_size,
                         [bytes.fromhex(h) for h in inclusion["proof"]], verified.checkpoint.root)
        proof = SmtProof.decode(bytes.fromhex(body["proof"]))
        if body["value"] is None:
            assert body["record"] is None
            verify_non_membership(header.status_root, key, proof)
        else:
            verify_membership(header.status_root, key, base64.b64decode(body["value"]), proof)
        return body

    did = ISSUER.did
    revoked = await proven(f"/v1/status/{did}/{digest('b').hex()}",
                           credential_status_key(did, digest("b")))
    assert revoked["tree_size"] == newest.checkpoint.tree_size
    assert revoked["record"]["kind"] == "credential"
    assert revoked["record"]["revoked"]["reason"] == "fraud"
    # As of block 2 the same credential was not revoked yet.
    before = await proven(f"/v1/status/{did}/{digest('b').hex()}",
                          credential_status_key(did, digest("b")), heads[1].tree_size)
    assert before["record"]["revoked"] is None and before["record"]["issued"]["height"] == 2
    never = await proven(f"/v1/status/{did}/{digest('never').hex()}",
                         credential_status_key(did, digest("never")))
    assert never["record"] is None and never["value"] is None
    issuer = await proven(f"/v1/issuers/{did}", issuer_status_key(did))
    assert issuer["record"]["kind"] == "issuer" and issuer["record"]["issuer"] == did
    assert issuer["record"]["keys"][0]["public_key"] == ISSUER.key.public_key.hex()
    unknown = await proven(f"/v1/issuers/{STRANGER.did}", issuer_status_key(STRANGER.did))
    assert unknown["record"] is None
    batch = await proven(f"/v1/batches/{did}/2026-spring", batch_status_key(did, "2026-spring"))
    assert batch["record"]["kind"] == "batch" and batch["record"]["size"] == BATCH.size
    assert batch["record"]["root"] == BATCH.root.hex()


PATHWAY = "https://uni.example/pathways/data-analyst?track=professional"


async def test_pathway_status_shows_every_version_with_its_proof(make_node: NodeFactory) -> None:
    node = await make_node()
    heads = await chain(node)
    for version in (1, 2):
        await node.submit(ISSUER.sign(PathwayDefine(ISSUER.did, PATHWAY, version,
                                                    digest(f"definition {version}")), CREATED))
        heads.append(await node.seal())
    path = f"/v1/pathways/{ISSUER.did}/{quote(PATHWAY, safe='')}"
    key = pathway_status_key(ISSUER.did, PATHWAY)
    body = await json_of(await node.client.get(path), 200)
    assert body["status_key"] == key.hex() and body["tree_size"] == heads[-1].tree_size
    header = decode_header(base64.b64decode(body["header"]))
    verify_membership(header.status_root, key, base64.b64decode(body["value"]),
                      SmtProof.decode(bytes.fromhex(body["proof"])))
    record = body["record"]
    assert record["kind"] == "pathway" and record["current_version"] == 2
    assert [v["definition_digest"] for v in record["versions"]] == [
        digest("definition 1").hex(), digest("definition 2").hex()]
    assert record["retired"] is None
    # At the checkpoint of block 4, version 1 was the current one.
    then = await json_of(await node.client.get(f"{path}?tree_size={heads[-2].tree_size}"), 200)
    assert then["record"]["current_version"] == 1
    await node.submit(ISSUER.sign(PathwayRetire(ISSUER.did, PATHWAY), CREATED))
    await node.seal()
    retired = await json_of(await node.client.get(path), 200)
    assert retired["record"]["retired"]["height"] == 6
    never = await json_of(await node.client.get(
        f"/v1/pathways/{ISSUER.did}/{quote(PATHWAY + '-x', safe='')}"), 200)
    assert never["record"] is None and never["value"] is None
    verify_non_membership(decode_header(base64.b64decode(never["header"])).status_root,
                          pathway_status_key(ISSUER.did, PATHWAY + "-x"),
                          SmtProof.decode(bytes.fromhex(never["proof"])))
    bad = await json_of(await node.client.get(
        f"/v1/pathways/{ISSUER.did}/{quote('http://uni.example/p', safe='')}"), 400)
    assert bad["error"]["code"] == "bad_encoding" and "https URL" in bad["error"]["message"]


async def test_healthz_and_metrics(make_node: NodeFactory) -> None:
    node = await make_node()
    heads = await chain(node)
    await node.client.post("/v1/events", data=STRANGER.issue("x").encoded,
                           headers={"Content-Type": EVENT_CONTENT_TYPE})  # unknown issuer
    await node.submit(ISSUER.issue("pending"))
    health = await json_of(await node.client.get("/healthz"), 200)
    assert {k: v for k, v in health.items() if k != "peers"} == {
        "status": "ok", "origin": node.service.genesis.origin, "role": "validator",
        "validator": "node0", "height": 3, "tree_size": heads[-1].tree_size,
        "log_root": heads[-1].log_root.hex(), "mempool": 1}

    response = await node.client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}

    def value(family: str, sample: str, **labels: str) -> float:
        found = [s.value for s in families[family].samples
                 if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
        assert found, (family, sample, labels)
        return found[0]

    assert families["vcledger_events_accepted"].type == "counter"
    assert value("vcledger_events_accepted", "vcledger_events_accepted_total") == 6
    assert value("vcledger_events_rejected", "vcledger_events_rejected_total",
                 reason="unknown_issuer") == 1
    assert value("vcledger_block_height", "vcledger_block_height") == 3
    assert value("vcledger_mempool_events", "vcledger_mempool_events") == 1
    assert families["vcledger_commit_latency_seconds"].type == "histogram"
    assert value("vcledger_commit_latency_seconds", "vcledger_commit_latency_seconds_count") == 5
    assert value("vcledger_commit_latency_seconds", "vcledger_commit_latency_seconds_bucket",
                 le="+Inf") == 5


# -- errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    code: str | None = None
    body: bytes | None = None
    content_type: str | None = None


def error_cases(head: Head) -> list[Case]:
    size = head.tree_size
    mid_block = size - 1  # the size whose last leaf is an event: not a checkpoint
    did = ISSUER.did
    good_digest = digest("a").hex()
    event = ISSUER.issue("for errors").encoded
    json_type = "application/json"
    return [
        Case("GET", "/v2/nothing", 404, "not_found"),
        Case("GET", "/v1/proof/unknown", 404, "not_found"),
        Case("DELETE", "/v1/checkpoint", 405, "method_not_allowed"),
        Case("PUT", "/v1/events", 405, "method_not_allowed"),
        Case("POST", "/healthz", 405, "method_not_allowed"),
        Case("POST", "/v1/events", 415, "unsupported_media_type", event, "text/plain"),
        Case("POST", "/v1/events/batch", 415, "unsupported_media_type", event,
             EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events", 413, "payload_too_large", b"\x00" * (MAX_BODY + 1),
             EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events/batch", 413, "payload_too_large",
             b"{" + b" " * (MAX_BODY + 1) + b"}", json_type),
        Case("POST", "/v1/events", 400, "bad_json", b"{", json_type),
        Case("POST", "/v1/events", 400, "bad_json",
             b'{"event": "AAAA", "event": "AAAA"}', json_type),
        Case("POST", "/v1/events", 400, "bad_request", b'{"event": 5}', json_type),
        Case("POST", "/v1/events", 400, "bad_request", b'{"event": "AAAA", "x": 1}', json_type),
        Case("POST", "/v1/events", 400, "bad_encoding", b'{"event": "not base64!"}', json_type),
        Case("POST", "/v1/events", 400, "bad_encoding", b'{"event": "AB=="}', json_type),
        Case("POST", "/v1/events", 400, "bad_encoding", b"", EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events", 400, "bad_encoding", b"\xcc\x01", EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events", 400, "bad_encoding", event + b"\x00", EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events/batch", 400, "bad_encoding", b"\x91\x05",
             EVENTS_CONTENT_TYPE),
        Case("POST", "/v1/events/batch", 400, "bad_request", b"\x90", EVENTS_CONTENT_TYPE),
        Case("POST", "/v1/events/batch", 400, "bad_request", b'{"events": []}', json_type),
        Case("POST", "/v1/events", 422, "unknown_issuer", STRANGER.issue("x").encoded,
             EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events", 422, "already_revoked",
             revocation("b", created=CREATED + 1).encoded,
             EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events", 422, "bad_signature",
             event[:-1] + bytes([event[-1] ^ 1]), EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events?wait=soon", 400, "bad_request", event, EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events?wait=commit&timeout=abc", 400, "bad_request", event,
             EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events?wait=commit&timeout=0", 400, "bad_request", event,
             EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events?wait=commit&timeout=nan", 400, "bad_request", event,
             EVENT_CONTENT_TYPE),
        Case("POST", "/v1/events?wait=commit&timeout=9999", 400, "bad_request", event,
             EVENT_CONTENT_TYPE),
        Case("GET", "/v1/proof/inclusion?tree_size=2", 400, "bad_request"),
        Case("GET", "/v1/proof/inclusion?index=-1&tree_size=2", 400, "bad_request"),
        Case("GET", "/v1/proof/inclusion?index=x&tree_size=2", 400, "bad_request"),
        Case("GET", "/v1/proof/inclusion?index=%C2%B2&tree_size=2", 400, "bad_request"),
        Case("GET", "/v1/proof/inclusion?index=0&tree_size=%D9%A1", 400, "bad_request"),
        Case("GET", f"/v1/proof/inclusion?index=0&tree_size={'9' * 30}", 400, "bad_request"),
        Case("GET", "/v1/proof/inclusion?index=0&tree_size=0", 400, "bad_request"),
        Case("GET", "/v1/proof/inclusion?index=2&tree_size=2", 400, "bad_request"),
        Case("GET", f"/v1/proof/inclusion?index=0&tree_size={size + 1}", 400, "bad_request"),
        Case("GET", "/v1/proof/consistency?old_size=3&tree_size=2", 400, "bad_request"),
        Case("GET", f"/v1/proof/consistency?old_size=1&tree_size={size + 1}", 400,
             "bad_request"),
        Case("GET", "/v1/proof/consistency?old_size=1", 400, "bad_request"),
        Case("GET", f"/v1/checkpoint?tree_size={size + 1}", 400, "bad_request"),
        Case("GET", f"/v1/checkpoint?tree_size={mid_block}", 400, "bad_request"),
        Case("GET", "/v1/checkpoint?tree_size=0", 400, "bad_request"),
        Case("GET", "/v1/checkpoint?tree_size=2&min_cosignatures=1", 400, "bad_request"),
        Case("GET", "/v1/checkpoint?min_cosignatures=2", 404, "not_found"),
        Case("GET", f"/v1/entries/{size}", 404, "not_found"),
        Case("GET", "/v1/entries/x", 400, "bad_request"),
        Case("GET", "/v1/entries/%D9%A1", 400, "bad_request"),
        Case("GET", f"/v1/events/{'ab' * 32}", 404, "not_found"),
        Case("GET", f"/v1/events/{'AB' * 32}", 400, "bad_encoding"),
        Case("GET", "/v1/events/xyz", 400, "bad_encoding"),
        Case("GET", "/v1/blocks/4", 404, "not_found"),
        Case("GET", "/v1/blocks/0", 404, "not_found"),
        Case("GET", "/v1/blocks/first", 400, "bad_request"),
        Case("GET", f"/v1/status/{did}/{good_digest}?tree_size={size + 1}", 400, "bad_request"),
        Case("GET", f"/v1/status/{did}/{good_digest}?tree_size={mid_block}", 400,
             "bad_request"),
        Case("GET", f"/v1/status/{did}/{good_digest[:-2]}", 400, "bad_encoding"),
        Case("GET", f"/v1/status/did:web:example.org/{good_digest}", 400, "bad_encoding"),
        Case("GET", f"/v1/issuers/{did}?tree_size={mid_block}", 400, "bad_request"),
        Case("GET", "/v1/issuers/did:key:zzz", 400, "bad_encoding"),
        Case("GET", f"/v1/batches/{did}/-bad-", 400, "bad_request"),
    ]


async def test_every_error_is_json_with_the_right_status(make_node: NodeFactory) -> None:
    node = await make_node()
    heads = await chain(node)
    failures = []
    for case in error_cases(heads[-1]):
        headers = {} if case.content_type is None else {"Content-Type": case.content_type}
        response = await node.client.request(case.method, case.path, data=case.body,
                                             headers=headers)
        text = await response.text(errors="replace")
        problem = None
        if response.status != case.status:
            problem = f"status {response.status}"
        elif response.content_type != "application/json":
            problem = f"content type {response.content_type}"
        else:
            body = json.loads(text)
            error = body.get("error") if isinstance(body, dict) else None
            if set(body) != {"error"} or not isinstance(error, dict) or \
                    set(error) != {"code", "message"} or not error["message"]:
                problem = "body is not {'error': {'code', 'message'}}"
            elif case.code is not None and error["code"] != case.code:
                problem = f"code {error['code']}"
            elif case.status == 405 and "Allow" not in response.headers:
                problem = "405 without Allow"
        if problem:
            failures.append(f"{case}: {problem}: {text[:200]}")
    assert not failures, "\n".join(failures)
    # (The loop above already fails on any 5xx, since no case expects one.)


async def test_allow_header_names_the_methods(make_node: NodeFactory) -> None:
    node = await make_node()
    response = await node.client.delete("/v1/events")
    assert response.status == 405 and "POST" in response.headers["Allow"]
    response = await node.client.post("/v1/checkpoint")
    assert response.status == 405 and "GET" in response.headers["Allow"]


async def test_full_mempool_is_503_with_retry_after(make_node: NodeFactory) -> None:
    node = await make_node(max_events=3)
    await chain(node)
    second = ISSUER.issue("overflows")
    for i in range(3):
        response = await node.client.post("/v1/events", data=ISSUER.issue(i).encoded,
                                          headers={"Content-Type": EVENT_CONTENT_TYPE})
        assert response.status == 202
    response = await node.client.post("/v1/events", data=second.encoded,
                                      headers={"Content-Type": EVENT_CONTENT_TYPE})
    body = await json_of(response, 503)
    assert body["error"]["code"] == "mempool_full" and "retry" in body["error"]["message"]
    assert int(response.headers["Retry-After"]) >= 1
    response = await node.client.post("/v1/events/batch",
                                      json={"events": [b64(second.encoded)]})
    assert response.status == 503 and "Retry-After" in response.headers
    # Nothing accepted was dropped: after a block the refused event fits.
    await node.seal()
    response = await node.client.post("/v1/events", data=second.encoded,
                                      headers={"Content-Type": EVENT_CONTENT_TYPE})
    assert response.status == 202


async def test_before_the_first_block(make_node: NodeFactory) -> None:
    node = await make_node()
    for path, status in [("/v1/checkpoint", 404), ("/v1/blocks/latest", 404),
                         (f"/v1/issuers/{ISSUER.did}", 404), ("/v1/entries/0", 404),
                         ("/v1/proof/inclusion?index=0&tree_size=1", 400)]:
        body = await json_of(await node.client.get(path), status)
        assert set(body["error"]) == {"code", "message"}
    health = await json_of(await node.client.get("/healthz"), 200)
    assert health["height"] == 0 and health["tree_size"] == 0
