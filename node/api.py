"""The public HTTP API (aiohttp).  Thin handlers over :class:`NodeService`.

Every error is JSON ``{"error": {"code", "message"}}`` with a 4xx status when
the request was at fault; one middleware maps the exception tree to statuses,
so no handler formats errors and no traceback ever reaches a client.  Hashes
and keys are lowercase hex; binary leaves and events are base64 in JSON.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from client import encoding
from client.block import BlockHeader
from client.encoding import decode_base64, encode_base64
from client.errors import LedgerError, UsageError
from client.events import BATCH_ID_PATTERN, MAX_EVENT_SIZE, check_pathway_id
from client.hashes import Hash, hash_from_hex
from client.keys import public_key_from_did
from client.status import (
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
    pathway_status_key,
    record_json,
)
from client.strictjson import loads as strict_json_loads
from client.strictmodel import StrictModel, describe_validation_error
from client.tiles import parse_tile_path
from client.trust import format_trust
from node import tiles
from node.connlimits import (
    GUARD_KEY,
    HTTP_ERROR_CODES,
    ConnectionGuard,
    Handler,
    connection_middleware,
    error_response,
)
from node.errors import MempoolFull, NodeBehind, NotFound
from node.httpmetrics import http_metrics_middleware
from node.records import EvidenceRecord
from node.service import Committed, NodeService, Pending, Rejected, SubmitResult
from node.web_verifier import cors_middleware, verify_page_response
from node.wire import RawBlock

log = logging.getLogger("vcledger.api")

EVENT_CONTENT_TYPE = "application/vnd.vcledger.event"
EVENTS_CONTENT_TYPE = "application/vnd.vcledger.events"
BLOCK_CONTENT_TYPE = "application/vnd.vcledger.block"
PEER_PATH = "/v1/peer"
MAX_BATCH_EVENTS = 10_000
EVENT_ITEM_CAP = 2 * MAX_EVENT_SIZE
"""Bytes (or base64 characters) one submitted event may take before it is parsed: room for
an oversized event to be refused by name, by the event decoder, rather than the request."""
MAX_JSON_CONTAINERS = 16
MAX_PROOF_SPAN = 2**63 - 1

SERVICE_KEY: web.AppKey[NodeService] = web.AppKey("service", NodeService)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    try:
        limit = service.config.api.request_timeout_s + service.config.api.max_wait_s
        # The peer WebSocket lasts as long as the peer does; its hello timeout and
        # heartbeat bound it, not the time limit of a request.
        async with asyncio.timeout(None if request.path == PEER_PATH else limit):
            return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_ERROR_CODES.get(exc.status, "http_error")
        message = exc.text if exc.text and not exc.text.startswith("<") else exc.reason
        if exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        elif exc.status == 413:
            message = (f"request body is larger than {service.config.api.max_body_bytes} bytes")
        response = error_response(exc.status, code, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except (MempoolFull, NodeBehind) as exc:
        return error_response(503, exc.code, exc.diagnostics(),
                              headers={"Retry-After": str(exc.retry_after)})
    except LedgerError as exc:
        status = exc.http_status if 400 <= exc.http_status < 600 else 400
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, exc.diagnostics())
            return error_response(status, exc.code, "the node cannot serve this request: "
                                  + exc.diagnostics())
        return error_response(status, exc.code, exc.diagnostics())
    except TimeoutError:
        return error_response(503, "timeout", "the request took too long; retry later")
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; the node log has details")


# -- helpers ---------------------------------------------------------------------------


def _int_param(request: web.Request, name: str, *, minimum: int = 0,
               maximum: int = MAX_PROOF_SPAN, required: bool = True) -> int | None:
    text = request.query.get(name)
    if text is None:
        if required:
            raise UsageError(f"query parameter {name} is required")
        return None
    # isascii: str.isdigit() also accepts digits like '\u00b2' and '\u0661'.
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise UsageError(f"query parameter {name} must be a non-negative integer, got {text!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise UsageError(f"query parameter {name} must be in {minimum}..{maximum}")
    return value


def _path_int(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise UsageError(f"{name} must be a non-negative integer, got {text!r}")
    return int(text)


class EventBody(StrictModel):
    event: Annotated[str, Field(min_length=1, max_length=EVENT_ITEM_CAP)]


class EventsBody(StrictModel):
    events: Annotated[list[Annotated[str, Field(min_length=1, max_length=EVENT_ITEM_CAP)]],
                      Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


def _parse_json_body(raw: bytes, model: type[BaseModel], limit: int) -> BaseModel:
    # An event body is one object with at most one array of base64 strings.  Counting
    # brackets first is cheap; 4 MB of "[]," made json build a million lists (a second
    # of the event loop) before the model could refuse them.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_CONTAINERS:
        raise UsageError("request body: more arrays and objects than an event body has")
    document = strict_json_loads(raw, what="request body", max_size=limit)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise UsageError(f"request body: {describe_validation_error(exc)}") from exc


async def _read_body(request: web.Request, service: NodeService) -> bytes:
    """The whole request body, or a 4xx: never a 500 for what a client sent or did.

    A body slower than ``request_timeout_s`` is 408 (so a slow sender cannot hold
    a request open for the whole request limit); a broken transfer or content
    encoding (bad chunking, a gzip body that does not inflate) is 400; a client
    that closed the connection mid-body gets a 400 it will never read, rather
    than an "unexpected error" in the log.
    """
    limit = service.config.api.request_timeout_s
    try:
        async with asyncio.timeout(limit):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"the request body did not arrive within {limit:g} s") from None
    except web.RequestPayloadError as exc:
        cause = exc.__cause__ or exc
        reason = " ".join(str(getattr(cause, "message", None) or cause).split())[:200]
        raise UsageError(f"the request body cannot be decoded: {reason}") from exc
    except ConnectionError as exc:
        raise UsageError("the client closed the connection before the whole body arrived"
                         ) from exc


def _content_type(request: web.Request) -> str:
    # The media type alone, parsed here: aiohttp's parser (the email package's)
    # raises IndexError on parameters such as "a;h*", a 500 for a bad header.
    return request.headers.get("Content-Type", "").partition(";")[0].strip().lower()


def _result_json(result: SubmitResult) -> dict[str, Any]:
    if isinstance(result, Committed):
        return {"event_hash": result.event_hash.hex(), "status": "committed",
                "index": result.index, "height": result.height}
    if isinstance(result, Pending):
        return {"event_hash": result.event_hash.hex(), "status": "pending"}
    return {"event_hash": None if result.event_hash is None else result.event_hash.hex(),
            "status": "rejected",
            "error": {"code": result.error.code, "message": result.error.diagnostics()}}


def _wait_requested(request: web.Request) -> bool:
    wait = request.query.get("wait")
    if wait is None:
        return False
    if wait != "commit":
        raise UsageError("the only supported value of wait is 'commit'")
    return True


def _wait_timeout(request: web.Request, service: NodeService) -> float:
    timeout = request.query.get("timeout")
    limit = service.config.api.max_wait_s
    if timeout is None:
        return limit
    try:
        value = float(timeout)
    except ValueError as exc:
        raise UsageError("timeout must be a number of seconds") from exc
    if not 0 < value <= limit:
        raise UsageError(f"timeout must be in (0, {limit}] seconds")
    return value


async def _settle(service: NodeService, results: list[SubmitResult], timeout: float
                  ) -> list[SubmitResult]:
    """Each pending result replaced by its outcome, if it comes within ``timeout``."""
    pending = [(i, r.event_hash) for i, r in enumerate(results) if isinstance(r, Pending)]
    if not pending:
        return results
    outcomes = await service.wait_for_all([event_hash for _, event_hash in pending], timeout)
    settled = list(results)
    for (i, _), outcome in zip(pending, outcomes, strict=True):
        if outcome is not None:
            settled[i] = outcome
    return settled


# -- handlers --------------------------------------------------------------------------


async def submit_event(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    wait = _wait_requested(request)
    timeout = _wait_timeout(request, service)
    content_type = _content_type(request)
    raw = await _read_body(request, service)
    if content_type == EVENT_CONTENT_TYPE:
        event_bytes = raw
    elif content_type == "application/json":
        body = _parse_json_body(raw, EventBody, service.config.api.max_body_bytes)
        assert isinstance(body, EventBody)
        event_bytes = decode_base64(body.event, "event")
    else:
        raise web.HTTPUnsupportedMediaType(
            text=f"send the event as {EVENT_CONTENT_TYPE} or as JSON {{\"event\": base64}}")
    (result,) = await service.submit([event_bytes])
    if isinstance(result, Rejected):
        raise result.error
    if wait:
        (result,) = await _settle(service, [result], timeout)
        if isinstance(result, Rejected):
            raise result.error
    body_json = _result_json(result)
    if isinstance(result, Pending) and wait:
        body_json["message"] = (f"not committed within {timeout:g} s; poll "
                                f"/v1/events/{result.event_hash.hex()}")
    return web.json_response(body_json, status=202 if isinstance(result, Pending) else 200)


async def submit_events(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    wait = _wait_requested(request)
    timeout = _wait_timeout(request, service)
    content_type = _content_type(request)
    raw = await _read_body(request, service)
    if content_type == EVENTS_CONTENT_TYPE:
        items = encoding.expect_array(
            encoding.unpack(raw, max_size=service.config.api.max_body_bytes, what="event batch"),
            "event batch", max_len=MAX_BATCH_EVENTS)
        events = [encoding.expect_bytes(item, "event", max_size=EVENT_ITEM_CAP) for item in items]
    elif content_type == "application/json":
        body = _parse_json_body(raw, EventsBody, service.config.api.max_body_bytes)
        assert isinstance(body, EventsBody)
        events = [decode_base64(text, f"events[{i}]") for i, text in enumerate(body.events)]
    else:
        raise web.HTTPUnsupportedMediaType(
            text=f"send events as {EVENTS_CONTENT_TYPE} (a msgpack array of event byte strings) "
                 "or as JSON {\"events\": [base64, ...]}")
    if not events:
        raise UsageError("the batch holds no events")
    results = await service.submit(events)
    if wait:
        results = await _settle(service, results, timeout)
    return web.json_response({"results": [_result_json(r) for r in results]})


async def get_checkpoint(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    tree_size = _int_param(request, "tree_size", minimum=1, required=False)
    wanted = _int_param(request, "min_cosignatures", minimum=1, maximum=1000, required=False)
    if wanted is not None and tree_size is not None:
        raise UsageError("give tree_size or min_cosignatures, not both")
    if wanted is not None:
        note = service.checkpoints.newest_with(wanted)
    else:
        note = service.checkpoints.note(tree_size)
    if note is None:
        raise NotFound("no checkpoint with enough cosignatures yet; retry in a moment")
    return web.Response(text=note, content_type="text/plain", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def get_tlog_checkpoint(request: web.Request) -> web.Response:
    """GET /checkpoint (C2SP tlog-tiles): the newest checkpoint a quorum cosigned."""
    service = request.app[SERVICE_KEY]
    note = service.checkpoints.newest_with(service.genesis.quorum)
    if note is None:
        raise NotFound("no checkpoint has a quorum of cosignatures yet; retry in a moment")
    return web.Response(text=note, content_type="text/plain", charset="utf-8",
                        headers={"Cache-Control": tiles.CHECKPOINT_CACHE_CONTROL})


async def get_tile(request: web.Request) -> web.Response:
    """GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>] (C2SP tlog-tiles)."""
    # The raw path: a percent-encoded spelling of a tile path is not that path.
    tile = parse_tile_path(request.rel_url.raw_path.removeprefix("/"))
    body = tiles.read_tile(request.app[SERVICE_KEY].ledger.log, tile)
    response = web.Response(body=body, content_type="application/octet-stream",
                            headers={"Cache-Control": tiles.IMMUTABLE_CACHE_CONTROL})
    if tile.level is None:
        response.enable_compression()  # tlog-tiles: entry bundles SHOULD be compressed
    return response


async def get_entry(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    index = _path_int(request, "index")
    return web.Response(body=service.ledger.leaf(index), content_type="application/octet-stream")


async def get_event(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    event_hash = hash_from_hex(request.match_info["event_hash"], "event hash")
    position = service.ledger.event_position(event_hash)
    if position is not None:
        leaf = service.ledger.leaf(position.index)
        return web.json_response({"event_hash": event_hash.hex(), "status": "committed",
                                  "index": position.index, "height": position.height,
                                  "event": encode_base64(leaf)})
    if event_hash in service.mempool:
        return web.json_response({"event_hash": event_hash.hex(), "status": "pending"})
    outcome = await service.wait_for(event_hash, 0.001)
    if isinstance(outcome, Rejected):
        return web.json_response(_result_json(outcome))
    return error_response(404, "not_found", f"no event {event_hash.hex()} on this node")


def _header_json(header: BlockHeader) -> dict[str, Any]:
    return {
        "height": header.height, "previous": header.previous.hex(), "time_ms": header.time_ms,
        "proposer": header.proposer.hex(), "first_index": header.first_index,
        "event_count": header.event_count, "status_root": header.status_root.hex(),
        "validator_set_hash": header.validator_set_hash.hex(), "index": header.index,
        "hash": header.hash.hex(), "encoded": encode_base64(header.encoded),
    }


async def get_block(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    ledger = service.ledger
    if request.match_info["height"] == "latest":
        height = ledger.head.height
        if height == 0:
            return error_response(404, "not_found", "no block has been committed yet")
    else:
        height = _path_int(request, "height")
    header = ledger.header(height)
    record = ledger.block_record(height)
    return web.json_response({
        "height": height,
        "tree_size": header.tree_size,
        "header": _header_json(header),
        "event_hashes": [h.hex() for h in ledger.event_hashes(header)],
        "certificate": None if record.certificate is None else encode_base64(record.certificate),
    })


async def get_inclusion_proof(request: web.Request) -> web.Response:
    ledger = request.app[SERVICE_KEY].ledger
    tree_size = _int_param(request, "tree_size", minimum=1)
    index = _int_param(request, "index")
    assert tree_size is not None and index is not None
    if index >= tree_size:
        raise UsageError(f"index {index} is not below tree_size {tree_size}")
    proof = ledger.inclusion_proof(index, tree_size)
    return web.json_response({"index": index, "tree_size": tree_size,
                              "leaf_hash": ledger.log.node_hash(0, index).hex(),
                              "proof": [h.hex() for h in proof]})


async def get_consistency_proof(request: web.Request) -> web.Response:
    ledger = request.app[SERVICE_KEY].ledger
    tree_size = _int_param(request, "tree_size", minimum=1)
    old_size = _int_param(request, "old_size")
    assert tree_size is not None and old_size is not None
    if old_size > tree_size:
        raise UsageError(f"old_size {old_size} is larger than tree_size {tree_size}")
    proof = ledger.consistency_proof(old_size, tree_size)
    return web.json_response({"old_size": old_size, "tree_size": tree_size,
                              "proof": [h.hex() for h in proof]})


def _status_response(request: web.Request, status_key: Hash) -> web.Response:
    ledger = request.app[SERVICE_KEY].ledger
    tree_size = _int_param(request, "tree_size", minimum=1, required=False)
    proven = ledger.status_proof(status_key, tree_size)
    record = None if proven.value is None else record_json(decode_record(proven.value))
    return web.json_response({
        "status_key": status_key.hex(),
        "tree_size": proven.header.tree_size,
        "header": encode_base64(proven.header.encoded),
        "status_root": proven.header.status_root.hex(),
        "record": record,
        "value": None if proven.value is None else encode_base64(proven.value),
        "proof": proven.proof.encode().hex(),
    })


def _issuer_param(request: web.Request) -> str:
    issuer = request.match_info["issuer"]
    public_key_from_did(issuer)
    return issuer


async def get_credential_status(request: web.Request) -> web.Response:
    issuer = _issuer_param(request)
    digest = hash_from_hex(request.match_info["digest"], "credential digest")
    return _status_response(request, credential_status_key(issuer, digest))


async def get_batch_status(request: web.Request) -> web.Response:
    issuer = _issuer_param(request)
    batch_id = request.match_info["batch_id"]
    if not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise UsageError(f"{batch_id!r} is not a batch id")
    return _status_response(request, batch_status_key(issuer, batch_id))


async def get_issuer(request: web.Request) -> web.Response:
    return _status_response(request, issuer_status_key(_issuer_param(request)))


async def get_pathway_status(request: web.Request) -> web.Response:
    """A pathway's record (every version, the last current) with its status-map proof; the
    pathway id is one percent-encoded path segment (``https%3A%2F%2F…``)."""
    owner = _issuer_param(request)
    pathway_id = check_pathway_id(request.match_info["pathway_id"])
    return _status_response(request, pathway_status_key(owner, pathway_id))


async def get_raw_block(request: web.Request) -> web.Response:
    """A committed block for catch-up: header leaf, event leaves and commit certificate."""
    ledger = request.app[SERVICE_KEY].ledger
    height = _path_int(request, "height")
    header = ledger.header(height)
    record = ledger.block_record(height)
    events = tuple(ledger.leaf(i) for i in range(header.first_index, header.index))
    raw = RawBlock(header.encoded, events, record.certificate)
    return web.Response(body=raw.encode(), content_type=BLOCK_CONTENT_TYPE)


async def get_evidence(request: web.Request) -> web.Response:
    """Pairs of conflicting messages signed by one validator, as recorded by this node."""
    store = request.app[SERVICE_KEY].store
    limit = _int_param(request, "limit", minimum=1, maximum=1000, required=False) or 100
    items = []
    for _, value in store.iter_evidence(None, limit):
        record = EvidenceRecord.decode(value)
        items.append({"kind": record.kind, "height": record.height, "round": record.round,
                      "validator": record.signer.hex(), "first": encode_base64(record.first),
                      "second": encode_base64(record.second)})
    return web.json_response({"evidence": items})


async def peer_socket(request: web.Request) -> web.StreamResponse:
    peers = request.app[SERVICE_KEY].peers
    if peers is None:
        raise NotFound("this node does not take peer connections (single-validator network)")
    return await peers.accept(request)


async def healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    head = service.ledger.head
    return web.json_response({
        "status": "ok", "origin": service.genesis.origin, "role": service.config.role,
        "validator": service.validator_name, "height": head.height, "tree_size": head.tree_size,
        "log_root": head.log_root.hex(), "mempool": len(service.mempool),
        "peers": None if service.peers is None else len(service.peers.connections),
    })


async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    return web.Response(body=service.metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def verify_page_handler(request: web.Request) -> web.Response:
    """GET /verify: the browser verifier with this network's trust file filled in."""
    return verify_page_response(format_trust(request.app[SERVICE_KEY].genesis.trust()))


def build_app(service: NodeService) -> web.Application:
    app = web.Application(client_max_size=service.config.api.max_body_bytes,
                          middlewares=[connection_middleware, cors_middleware({PEER_PATH}),
                                       error_middleware])
    app.middlewares.insert(0, http_metrics_middleware(service.metrics))  # outermost: final status
    app[SERVICE_KEY] = service
    app[GUARD_KEY] = ConnectionGuard(service.config.api, unbounded_paths={PEER_PATH})
    app.router.add_post("/v1/events", submit_event)
    app.router.add_post("/v1/events/batch", submit_events)
    app.router.add_get("/v1/checkpoint", get_checkpoint)
    app.router.add_get("/v1/entries/{index}", get_entry)
    app.router.add_get("/v1/events/{event_hash}", get_event)
    app.router.add_get("/v1/blocks/{height}", get_block)
    app.router.add_get("/v1/blocks/{height}/raw", get_raw_block)
    app.router.add_get("/v1/evidence", get_evidence)
    app.router.add_get(PEER_PATH, peer_socket)
    app.router.add_get("/v1/proof/inclusion", get_inclusion_proof)
    app.router.add_get("/v1/proof/consistency", get_consistency_proof)
    app.router.add_get("/v1/status/{issuer}/{digest}", get_credential_status)
    app.router.add_get("/v1/batches/{issuer}/{batch_id}", get_batch_status)
    app.router.add_get("/v1/issuers/{issuer}", get_issuer)
    app.router.add_get("/v1/pathways/{issuer}/{pathway_id}", get_pathway_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/verify", verify_page_handler)
    app.router.add_get("/checkpoint", get_tlog_checkpoint)
    app.router.add_get("/tile/{path:.+}", get_tile)
    return app
