"""The HTTP client for a vcledger node: the only client module that opens connections.

:class:`NodeClient` wraps the node's public JSON API (node/api.py) with one
method per endpoint.  Everything a node returns is untrusted: responses are
size-capped and parsed strictly, and anything that matters is verified by
the caller (:func:`fetch_bundle` returns a bundle that
:func:`client.verify.verify_bundle` must still check).  The offline verifier
never imports this module.

Errors name the URL and say what to do: :class:`NodeUnavailable` (cannot
connect, timed out, server error), :class:`NodeRejected` (the node refused the
request, with its error code and message), :class:`NodeResponseError` (the
node answered something malformed or inconsistent).  All exit with code 1.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import aiohttp

from client import encoding, strictjson
from client.block import MAX_LEAF_SIZE
from client.bundle import (
    Bundle,
    BundleStatus,
    CredentialReceipt,
    IncludedHeader,
    StatusEntry,
    build_bundle,
    dated_heights,
)
from client.checkpoint import Checkpoint, parse_checkpoint
from client.errors import InvalidEncoding, LedgerError, UsageError
from client.hashes import Hash, hash_from_hex
from client.note import MAX_NOTE_SIZE, parse_note
from client.pathway import MAX_DEFINITION_SIZE, PathwayBundle, PathwayStatus, build_pathway_bundle
from client.smt import SmtProof
from client.status import BatchRecord, CredentialRecord, PathwayRecord, decode_record

__all__ = [
    "NodeClient",
    "NodeRejected",
    "NodeResponseError",
    "NodeUnavailable",
    "ProvenStatus",
    "ServedCheckpoint",
    "Submission",
    "fetch_bundle",
    "fetch_definition",
    "fetch_pathway_bundle",
    "normalize_node_url",
]

MAX_RESPONSE_SIZE = 8 * 1024 * 1024
"""Largest response body read from a node; every expected response is far smaller."""

DEFAULT_TIMEOUT = 60.0
EVENT_CONTENT_TYPE = "application/vnd.vcledger.event"
POLL_INTERVAL = 0.25


class ResponseTooLarge(ValueError):
    """A response body exceeded the reader's cap."""


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of ``response``; raises :class:`ResponseTooLarge` past ``limit`` bytes.

    (``response.content.read(n)`` returns only what has arrived so far, which
    truncates any body larger than one network read.)
    """
    if response.content_length is not None and response.content_length > limit:
        raise ResponseTooLarge(f"response of {response.content_length} bytes exceeds {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(f"response exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class NodeUnavailable(LedgerError):
    """The node could not be reached or could not serve the request (retry later)."""

    code = "node_unavailable"
    exit_code = 1


class NodeRejected(LedgerError):
    """The node refused the request; ``error_code`` is its machine-readable reason."""

    code = "node_rejected"
    exit_code = 1

    def __init__(self, message: str, *, status: int, error_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class NodeResponseError(LedgerError):
    """The node answered with something malformed or inconsistent."""

    code = "node_bad_response"
    exit_code = 1


def normalize_node_url(url: str) -> str:
    """``http(s)://host[:port]`` without a trailing slash, or :class:`UsageError`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"node URL {url!r} is not an http(s) URL such as http://127.0.0.1:7700")
    if parts.query or parts.fragment:
        raise UsageError(f"node URL {url!r} must not have a query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True, slots=True)
class ProvenStatus:
    """A status endpoint's answer: a record (or its absence) with its SMT proof, untrusted."""

    tree_size: int
    header: bytes
    value: bytes | None
    proof: SmtProof

    def entry(self) -> StatusEntry:
        return StatusEntry(self.value, self.proof)


@dataclass(frozen=True, slots=True)
class ServedCheckpoint:
    """A checkpoint note as a node served it, well-formed, with its checkpoint parsed once.

    Untrusted: nothing here is verified (see :func:`client.checkpoint.verify_checkpoint`).
    """

    note: str
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class Submission:
    """The outcome of submitting one event."""

    event_hash: Hash
    status: Literal["committed", "pending"]
    index: int | None = None
    height: int | None = None


def _field(document: Any, name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(document, dict) or name not in document:
        raise NodeResponseError(f"{what}: the response has no {name!r}")
    value = document[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise NodeResponseError(f"{what}: {name!r} has the wrong type")
    return value


class NodeClient:
    """A connection pool to one node.  Use as ``async with NodeClient(url) as node: ...``."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = normalize_node_url(url)
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> NodeClient:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=16),
            raise_for_status=False,
        )
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- transport ------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str | int] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, str, bytes]:
        """Send one request; return (status, content type, body) of a 2xx answer."""
        assert self._session is not None, "use NodeClient in an `async with` block"
        url = self.url + path
        try:
            async with self._session.request(method, url, params=params, data=data,
                                             headers=headers) as response:
                body = await read_capped(response, MAX_RESPONSE_SIZE)
                status = response.status
                content_type = response.content_type
        except ResponseTooLarge as exc:
            raise NodeResponseError(f"node {self.url}: {what}: response over "
                                    f"{MAX_RESPONSE_SIZE} bytes") from exc
        except TimeoutError as exc:
            raise NodeUnavailable(
                f"node {self.url} did not answer {what} within {self.timeout:g} s; "
                "retry later") from exc
        except aiohttp.ClientError as exc:
            raise NodeUnavailable(
                f"cannot reach node {self.url} ({_describe(exc)}); is it running? "
                "Check --node or VCLEDGER_NODE") from exc
        if status >= 400:
            self._raise_error(status, content_type, body, what)
        return status, content_type, body

    def _raise_error(self, status: int, content_type: str, body: bytes, what: str) -> None:
        code, message = "http_error", f"HTTP {status}"
        if content_type == "application/json":
            try:
                error = strictjson.loads(body, what="error response", max_size=MAX_RESPONSE_SIZE)
                code = str(error["error"]["code"])
                message = str(error["error"]["message"])
            except (LedgerError, KeyError, TypeError):
                pass
        if status >= 500:
            raise NodeUnavailable(f"node {self.url} could not serve {what}: {message} "
                                  f"({code}); retry later")
        raise NodeRejected(f"node {self.url} refused {what}: {message} ({code})",
                           status=status, error_code=code)

    async def _json(self, path: str, what: str, *,
                    params: Mapping[str, str | int] | None = None) -> Any:
        _, content_type, body = await self._request("GET", path, what, params=params)
        return self._decode_json(body, content_type, what)

    def _decode_json(self, body: bytes, content_type: str, what: str) -> Any:
        if content_type != "application/json":
            raise NodeResponseError(f"node {self.url}: {what}: expected JSON, got "
                                    f"{content_type or 'no content type'}")
        try:
            return strictjson.loads(body, what=f"{what} response", max_size=MAX_RESPONSE_SIZE)
        except LedgerError as exc:
            raise NodeResponseError(f"node {self.url}: {exc.diagnostics()}") from exc

    # -- endpoints ------------------------------------------------------------------------

    async def healthz(self) -> dict[str, Any]:
        document = await self._json("/healthz", "the health check")
        if not isinstance(document, dict):
            raise NodeResponseError(f"node {self.url}: /healthz is not a JSON object")
        return document

    async def origin(self) -> str:
        """The network name (checkpoint origin) the node serves, from ``/healthz``."""
        origin = _field(await self.healthz(), "origin", str, f"node {self.url} /healthz")
        assert isinstance(origin, str)
        return origin

    async def checkpoint(self, *, tree_size: int | None = None,
                         min_cosignatures: int | None = None) -> str:
        """A cosigned checkpoint note (untrusted text; open it with verify_checkpoint)."""
        served = await self.served_checkpoint(tree_size=tree_size,
                                              min_cosignatures=min_cosignatures)
        return served.note

    async def served_checkpoint(self, *, tree_size: int | None = None,
                                min_cosignatures: int | None = None) -> ServedCheckpoint:
        """:meth:`checkpoint` with the checkpoint it holds, parsed once (and NOT verified)."""
        params: dict[str, str | int] = {}
        if tree_size is not None:
            params["tree_size"] = tree_size
        if min_cosignatures is not None:
            params["min_cosignatures"] = min_cosignatures
        _, _, body = await self._request("GET", "/v1/checkpoint", "the checkpoint",
                                         params=params)
        if len(body) > MAX_NOTE_SIZE:
            raise NodeResponseError(f"node {self.url}: checkpoint note is too large")
        try:
            text = body.decode("utf-8")
            checkpoint = parse_checkpoint(parse_note(text).body)
        except (UnicodeDecodeError, InvalidEncoding) as exc:
            raise NodeResponseError(f"node {self.url} served a malformed checkpoint: "
                                    f"{exc}") from exc
        return ServedCheckpoint(text, checkpoint)

    async def entry(self, index: int) -> bytes:
        """The log leaf at ``index`` (an event or a block header), untrusted."""
        _, _, body = await self._request("GET", f"/v1/entries/{index}", f"log entry {index}")
        if not body or len(body) > MAX_LEAF_SIZE:
            raise NodeResponseError(f"node {self.url}: log entry {index} has {len(body)} bytes")
        return body

    async def tile(self, path: str) -> bytes:
        """A C2SP tlog-tiles resource (``tile/...``, docs/api.md), untrusted bytes;
        :class:`NodeRejected` with status 404 if the node does not serve it."""
        _, _, body = await self._request("GET", f"/{path}", path)
        return body

    async def header_index(self, height: int) -> int:
        """The log index of block ``height``'s header leaf (untrusted: callers prove it)."""
        what = f"block {height}"
        document = await self._json(f"/v1/blocks/{height}", what)
        tree_size = _field(document, "tree_size", int, f"node {self.url}: {what}")
        if isinstance(tree_size, bool) or tree_size < 1:
            raise NodeResponseError(f"node {self.url}: {what} has tree_size {tree_size}")
        return int(tree_size) - 1

    async def inclusion_proof(self, index: int, tree_size: int) -> list[Hash]:
        what = f"the inclusion proof of leaf {index} in tree size {tree_size}"
        document = await self._json("/v1/proof/inclusion", what,
                                    params={"index": index, "tree_size": tree_size})
        return self._hashes(_field(document, "proof", list, what), what)

    async def consistency_proof(self, old_size: int, tree_size: int) -> list[Hash]:
        what = f"the consistency proof from tree size {old_size} to {tree_size}"
        document = await self._json("/v1/proof/consistency", what,
                                    params={"old_size": old_size, "tree_size": tree_size})
        return self._hashes(_field(document, "proof", list, what), what)

    def _hashes(self, items: list[Any], what: str) -> list[Hash]:
        if len(items) > 64:
            raise NodeResponseError(f"node {self.url}: {what} has {len(items)} hashes")
        try:
            return [hash_from_hex(item, "proof hash") for item in items]
        except (InvalidEncoding, TypeError) as exc:
            raise NodeResponseError(f"node {self.url}: {what}: {exc}") from exc

    async def _status(self, path: str, what: str, tree_size: int | None) -> ProvenStatus:
        params = {} if tree_size is None else {"tree_size": tree_size}
        document = await self._json(path, what, params=params)
        where = f"node {self.url}: {what}"
        try:
            value_text = document.get("value") if isinstance(document, dict) else None
            return ProvenStatus(
                tree_size=_field(document, "tree_size", int, where),
                header=encoding.decode_base64(_field(document, "header", str, where), "header"),
                value=(None if value_text is None
                       else encoding.decode_base64(_field(document, "value", str, where), "value")),
                proof=SmtProof.from_hex(_field(document, "proof", str, where)),
            )
        except InvalidEncoding as exc:
            raise NodeResponseError(f"{where}: {exc.diagnostics()}") from exc

    async def credential_status(self, issuer: str, digest: bytes,
                                tree_size: int | None = None) -> ProvenStatus:
        return await self._status(f"/v1/status/{quote(issuer, safe=':')}/{digest.hex()}",
                                  f"the status of credential {digest.hex()}", tree_size)

    async def batch_status(self, issuer: str, batch_id: str,
                           tree_size: int | None = None) -> ProvenStatus:
        return await self._status(f"/v1/batches/{quote(issuer, safe=':')}/{quote(batch_id)}",
                                  f"the status of batch {batch_id!r}", tree_size)

    async def issuer_status(self, issuer: str, tree_size: int | None = None) -> ProvenStatus:
        return await self._status(f"/v1/issuers/{quote(issuer, safe=':')}",
                                  f"the record of issuer {issuer}", tree_size)

    async def pathway_status(self, owner: str, pathway_id: str,
                             tree_size: int | None = None) -> ProvenStatus:
        """The record of ``owner``'s pathway ``pathway_id`` (every version) and its proof."""
        return await self._status(
            f"/v1/pathways/{quote(owner, safe=':')}/{quote(pathway_id, safe='')}",
            f"the record of pathway {pathway_id}", tree_size)

    async def event(self, event_hash: bytes) -> dict[str, Any]:
        what = f"event {event_hash.hex()}"
        document = await self._json(f"/v1/events/{event_hash.hex()}", what)
        if not isinstance(document, dict):
            raise NodeResponseError(f"node {self.url}: {what}: not a JSON object")
        return document

    async def submit(self, event: bytes, *, event_hash: Hash, what: str,
                     wait_seconds: float = 60.0) -> Submission:
        """Submit one signed event and wait until it is committed (or ``wait_seconds`` pass).

        A rejection by the ledger rules raises :class:`NodeRejected` with the
        rule's code (``unknown_issuer``, ``wrong_key``, ...).  If the node
        does not commit in time the result's status is ``pending``.
        """
        deadline = time.monotonic() + wait_seconds
        _, content_type, body = await self._request(
            "POST", "/v1/events", f"the {what} event", params={"wait": "commit"}, data=event,
            headers={"Content-Type": EVENT_CONTENT_TYPE})
        document = self._decode_json(body, content_type, f"the {what} event")
        result = self._submission(document, event_hash, what)
        while result.status == "pending" and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL)
            result = self._submission(await self.event(event_hash), event_hash, what)
        return result

    def _submission(self, document: Any, event_hash: Hash, what: str) -> Submission:
        where = f"node {self.url}: {what} event"
        state = _field(document, "status", str, where)
        if state == "rejected":
            error = document.get("error") or {}
            raise NodeRejected(
                f"node {self.url} rejected the {what} event: {error.get('message', '?')} "
                f"({error.get('code', '?')})", status=422, error_code=str(error.get("code")))
        if _field(document, "event_hash", str, where) != event_hash.hex():
            raise NodeResponseError(f"{where}: the node reports another event hash")
        if state == "committed":
            return Submission(event_hash, "committed", _field(document, "index", int, where),
                              _field(document, "height", int, where))
        if state == "pending":
            return Submission(event_hash, "pending")
        raise NodeResponseError(f"{where}: unknown status {state!r}")


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        # asyncio puts "Connect call failed (...)" in strerror; errno says why.
        reason = (os.strerror(error.errno) if error.errno and error.errno > 0
                  else error.strerror or str(error))
        return f"connection failed: {reason.lower()}"
    return str(exc) or type(exc).__name__


async def fetch_bundle(
    node: NodeClient,
    *,
    issuer: str,
    credential_digest: Hash,
    receipt: CredentialReceipt | None,
    min_cosignatures: int,
) -> Bundle:
    """Fetch everything a bundle needs, all at the newest checkpoint that carries at least
    ``min_cosignatures`` cosignatures, and assemble it.

    Nothing is verified here beyond what assembling needs; the caller runs
    :func:`client.verify.verify_bundle` on the result.  Raises
    :class:`NodeRejected` (with a hint) when the issuer has no record of the
    credential as of that checkpoint.
    """
    origin = await node.origin()
    served = await node.served_checkpoint(min_cosignatures=min_cosignatures)
    checkpoint_note, tree_size = served.note, served.checkpoint.tree_size
    issuer_status, credential_status, batch_status = await asyncio.gather(
        node.issuer_status(issuer, tree_size),
        node.credential_status(issuer, credential_digest, tree_size),
        (node.batch_status(issuer, receipt.batch_id, tree_size) if receipt is not None
         else _none()),
    )
    statuses = [s for s in (issuer_status, credential_status, batch_status) if s is not None]
    if any(s.tree_size != tree_size or s.header != issuer_status.header for s in statuses):
        raise NodeResponseError(f"node {node.url} answered status proofs for another tree "
                                f"size than the checkpoint's {tree_size}")
    event_index = _issuing_index(node, credential_status, batch_status, issuer=issuer,
                                 digest=credential_digest, tree_size=tree_size)
    heights = _dated_heights(node, issuer_status, credential_status, batch_status, event_index)
    (event, event_path, header_path), block_headers = await asyncio.gather(
        asyncio.gather(
            node.entry(event_index),
            node.inclusion_proof(event_index, tree_size),
            node.inclusion_proof(tree_size - 1, tree_size),
        ),
        asyncio.gather(*(_included_header(node, height, tree_size)
                         for height in sorted(heights))),
    )
    return build_bundle(
        origin=origin,
        issuer=issuer,
        credential_digest=credential_digest,
        event=event,
        event_index=event_index,
        event_audit_path=event_path,
        checkpoint_note=checkpoint_note,
        header=issuer_status.header,
        header_audit_path=header_path,
        receipt=receipt,
        status=BundleStatus(issuer_status.entry(), credential_status.entry(),
                            None if batch_status is None else batch_status.entry()),
        block_headers=block_headers,
    )


async def _included_header(node: NodeClient, height: int, tree_size: int) -> IncludedHeader:
    index = await node.header_index(height)
    if index >= tree_size:
        raise NodeResponseError(f"node {node.url}: block {height} lies beyond the checkpoint's "
                                f"tree of {tree_size}")
    leaf, path = await asyncio.gather(node.entry(index), node.inclusion_proof(index, tree_size))
    return IncludedHeader(leaf, index, tuple(path))


def _dated_heights(node: NodeClient, issuer: ProvenStatus, credential: ProvenStatus,
                   batch: ProvenStatus | None, event_index: int) -> set[int]:
    records = [None if s is None or s.value is None else _decode(node, s.value)
               for s in (issuer, credential, batch)]
    try:
        return dated_heights(*records, event_index=event_index)  # type: ignore[arg-type]
    except UsageError as exc:
        raise NodeResponseError(f"node {node.url}: {exc.diagnostics()}") from exc


async def fetch_status_record(node: NodeClient, *, status: str, issuer: str,
                              credential_digest: Hash, batch_id: str | None,
                              min_cosignatures: int
                              ) -> tuple[str, bytes, list[Hash], StatusEntry]:
    """Everything :func:`client.bundle_checks.verify_status_record` needs to prove what the status
    map holds for an issuer (``status="issuer"``), a credential or a batch at the node's
    newest checkpoint: (checkpoint note, header leaf, its audit path, status entry)."""
    served = await node.served_checkpoint(min_cosignatures=min_cosignatures)
    checkpoint_note, tree_size = served.note, served.checkpoint.tree_size
    if status == "issuer":
        proven = await node.issuer_status(issuer, tree_size)
    elif status == "batch":
        assert batch_id is not None
        proven = await node.batch_status(issuer, batch_id, tree_size)
    else:
        proven = await node.credential_status(issuer, credential_digest, tree_size)
    if proven.tree_size != tree_size:
        raise NodeResponseError(f"node {node.url} answered a status proof for tree size "
                                f"{proven.tree_size}, not the checkpoint's {tree_size}")
    header_path = await node.inclusion_proof(tree_size - 1, tree_size)
    return checkpoint_note, proven.header, header_path, proven.entry()


async def _none() -> None:
    return None


def _issuing_index(node: NodeClient, credential: ProvenStatus, batch: ProvenStatus | None, *,
                   issuer: str, digest: Hash, tree_size: int) -> int:
    """The log index of the issuing event, read from the (still unverified) status record."""
    if batch is not None:
        if batch.value is None:
            raise NodeRejected(
                f"node {node.url}: issuer {issuer} has no anchored batch named in the receipt "
                f"as of checkpoint {tree_size} (is the receipt from this network, and was the "
                "batch committed?)", status=404, error_code="unknown_batch")
        record = _decode(node, batch.value)
        if not isinstance(record, BatchRecord):
            raise NodeResponseError(f"node {node.url}: the batch status is not a batch record")
        return record.anchored.index
    if credential.value is not None:
        record = _decode(node, credential.value)
        if isinstance(record, CredentialRecord) and record.issued is not None:
            return record.issued.index
    raise NodeRejected(
        f"node {node.url}: issuer {issuer} has not issued credential {digest.hex()} on its own "
        f"as of checkpoint {tree_size}; if it was anchored in a batch, pass its --receipt "
        "(if it was just issued, retry in a moment)", status=404, error_code="unknown_credential")


def _decode(node: NodeClient, value: bytes) -> object:
    try:
        return decode_record(value)
    except InvalidEncoding as exc:
        raise NodeResponseError(f"node {node.url}: unreadable status record: "
                                f"{exc.diagnostics()}") from exc


async def fetch_pathway_bundle(
    node: NodeClient,
    *,
    owner: str,
    pathway_id: str,
    definition: dict[str, Any],
    min_cosignatures: int,
) -> PathwayBundle:
    """Fetch the proofs of the CURRENT version of ``owner``'s pathway ``pathway_id`` at the
    newest checkpoint with at least ``min_cosignatures`` cosignatures, and assemble a
    pathway bundle around ``definition`` (the document; only its digest is on the ledger).

    Nothing is verified here; the caller runs
    :func:`client.pathway_verify.verify_pathway_bundle` on the result (which also
    compares the document with the ledger's digest).  Raises :class:`NodeRejected` when
    the owner or the pathway is unknown as of that checkpoint.
    """
    origin = await node.origin()
    served = await node.served_checkpoint(min_cosignatures=min_cosignatures)
    checkpoint_note, tree_size = served.note, served.checkpoint.tree_size
    owner_status, pathway_status = await asyncio.gather(
        node.issuer_status(owner, tree_size), node.pathway_status(owner, pathway_id, tree_size))
    if any(s.tree_size != tree_size or s.header != owner_status.header
           for s in (owner_status, pathway_status)):
        raise NodeResponseError(f"node {node.url} answered status proofs for another tree "
                                f"size than the checkpoint's {tree_size}")
    if owner_status.value is None:
        raise NodeRejected(f"node {node.url}: {owner} is not a registered issuer as of "
                           f"checkpoint {tree_size}", status=404, error_code="unknown_issuer")
    if pathway_status.value is None:
        raise NodeRejected(f"node {node.url}: {owner} defined no pathway {pathway_id} as of "
                           f"checkpoint {tree_size} (if it was just defined, retry in a moment)",
                           status=404, error_code="unknown_pathway")
    record = _decode(node, pathway_status.value)
    if not isinstance(record, PathwayRecord):
        raise NodeResponseError(f"node {node.url}: the pathway status is not a pathway record")
    index = record.current.position.index
    event, event_path, header_path = await asyncio.gather(
        node.entry(index), node.inclusion_proof(index, tree_size),
        node.inclusion_proof(tree_size - 1, tree_size))
    return build_pathway_bundle(
        origin=origin, owner=owner, pathway_id=pathway_id, definition=definition, event=event,
        event_index=index, event_audit_path=event_path, checkpoint_note=checkpoint_note,
        header=owner_status.header, header_audit_path=header_path,
        status=PathwayStatus(owner_status.entry(), pathway_status.entry()))


async def fetch_definition(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The definition document its owner publishes at ``url`` (the pathway id), untrusted:
    at most :data:`client.pathway.MAX_DEFINITION_SIZE` bytes; the caller parses it and the
    verifier compares its digest with the ledger's."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(url, headers={"Accept": "application/json"}) as response:
            status = response.status
            body = b"" if status != 200 else await read_capped(response, MAX_DEFINITION_SIZE)
    except ResponseTooLarge as exc:
        raise NodeResponseError(f"{url}: the definition is larger than {MAX_DEFINITION_SIZE} "
                                "bytes") from exc
    except TimeoutError as exc:
        raise NodeUnavailable(f"{url} did not answer within {timeout:g} s; pass the "
                              "definition file with --definition") from exc
    except aiohttp.ClientError as exc:
        raise NodeUnavailable(f"cannot fetch the definition from {url} "
                              f"({_describe(exc)}); pass the file with --definition") from exc
    if status != 200:
        raise NodeUnavailable(f"{url} answered HTTP {status}; pass the definition file with "
                              "--definition")
    return body
