"""Proof bundles and batch receipts: the two JSON documents a credential holder keeps.

A *receipt* (``vcledger-receipt/v1``) is what ``vcledger anchor`` writes for
each credential of a batch: where its digest sits in the batch tree that one
``batch.anchor`` event committed to, with the audit path (RFC 9162 §2.1.3.1,
leaf side first).

A *bundle* (``vcledger-bundle/v2``) is everything an offline verifier needs
(DESIGN.md, "Proof bundle"): the issuing log leaf (``credential.issue``, or
``batch.anchor`` plus the receipt), its inclusion proof, the block header leaf
that carries the status root with its inclusion proof, both as C2SP
``tlog-proof@v1`` texts embedding the same cosigned checkpoint note, and the
status-map proofs for the issuer, the credential and its batch.

This module only builds, formats and parses (strictly: one accepted form per
field, caps on every size, checked before anything is decoded).  It verifies
nothing: :mod:`client.verify` does, in numbered steps.  The byte-level format
is in docs/protocol.md ("Proof bundles").
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from pydantic import Field, ValidationError

from client import encoding, strictjson
from client.batch import MAX_BATCH_SIZE, Receipt
from client.block import MAX_LEAF_SIZE
from client.checkpoint import MAX_ORIGIN_SIZE
from client.errors import InvalidEncoding, LedgerError, UsageError
from client.events import BATCH_ID_PATTERN, BatchMembership
from client.hashes import Hash
from client.keys import MAX_DID_LENGTH, public_key_from_did
from client.smt import MAX_PROOF_SIZE as MAX_SMT_PROOF_SIZE
from client.smt import SmtProof
from client.status import (
    MAX_RECORD_SIZE,
    BatchRecord,
    CredentialRecord,
    IssuerRecord,
    StatusRecord,
)
from client.strictmodel import StrictModel, describe_validation_error
from client.tlogproof import (
    MAX_TLOG_PROOF_SIZE,
    TlogProof,
    format_tlog_proof,
    make_tlog_proof,
    parse_tlog_proof,
)

__all__ = [
    "BUNDLE_FORMAT",
    "MAX_BUNDLE_SIZE",
    "MAX_RECEIPT_SIZE",
    "RECEIPT_FORMAT",
    "Bundle",
    "BundleFormatError",
    "BundleStatus",
    "CredentialReceipt",
    "IncludedHeader",
    "ReceiptFormatError",
    "StatusEntry",
    "build_bundle",
    "bundle_json",
    "dated_heights",
    "format_batch_receipts",
    "format_bundle",
    "format_receipt",
    "parse_bundle",
    "parse_receipt",
    "receipt_json",
]

BUNDLE_FORMAT = "vcledger-bundle/v2"
RECEIPT_FORMAT = "vcledger-receipt/v1"

MAX_BLOCK_HEADERS = 2
"""A bundle carries the headers of the block that issued and, if any, the one that revoked."""

MAX_AUDIT_PATH = 64
"""An RFC 9162 audit path in a tree of fewer than 2^64 leaves."""

MAX_RECEIPT_PATH = 20
"""A batch holds at most 10^6 < 2^20 digests, so an audit path has at most 20 hashes."""

MAX_RECEIPT_SIZE = 8 * 1024
"""Largest receipt document in bytes: 20 hex hashes and a few short fields fit in 2 KiB."""

_MAX_NOTE_PROOF_TEXT = MAX_TLOG_PROOF_SIZE


def _base64_length(size: int) -> int:
    return (size + 2) // 3 * 4


MAX_BUNDLE_SIZE = 256 * 1024
"""Largest bundle document in bytes, checked before JSON parsing.

A bundle of a network with 100 validators (the trust file's limit) holds two
copies of a checkpoint note of about 12 KiB, three status proofs of at most
17.6 KiB of hex each and two leaves of at most 5.5 KiB of base64: far below.
"""

_HEX_HASH = r"^[0-9a-f]{64}$"

_CACHED_TEXT_SIZE = 16 * 1024
"""Parsed pieces of at most this many characters are cached (see :func:`_cached`)."""


class BundleFormatError(InvalidEncoding):
    """A bundle document is not in the one form ``vcledger-bundle/v2`` allows."""

    code = "bad_bundle"


class ReceiptFormatError(InvalidEncoding):
    """A receipt document is not in the one form ``vcledger-receipt/v1`` allows."""

    code = "bad_receipt"


# -- receipts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CredentialReceipt:
    """One credential's place in an anchored batch, as ``vcledger anchor`` writes it.

    Every field is a *claim* until a verifier compares it with a
    ``batch.anchor`` event it has verified on the ledger (:mod:`client.verify`
    step 7): ``batch_root``, ``batch_size`` and ``batch_id`` must equal the
    event's, ``anchor_event_hash`` its leaf hash, and the audit path must lead
    from ``credential_digest`` to the root.
    """

    origin: str
    issuer: str
    batch_id: str
    batch_root: Hash
    batch_size: int
    index: int
    credential_digest: Hash
    audit_path: tuple[Hash, ...]
    anchor_event_hash: Hash

    def batch_receipt(self) -> Receipt:
        """The :class:`client.batch.Receipt` to check with :func:`client.batch.verify_receipt`."""
        return Receipt(self.index, self.batch_size, self.audit_path, self.batch_root)

    def membership(self) -> BatchMembership:
        """What a ``credential.revoke`` of this credential carries to prove it was anchored."""
        return BatchMembership(self.batch_id, self.index, self.audit_path)


HexHash = Annotated[str, Field(min_length=64, max_length=64, pattern=_HEX_HASH)]


class _ReceiptModel(StrictModel):
    format: Literal["vcledger-receipt/v1"]
    origin: Annotated[str, Field(min_length=1, max_length=MAX_ORIGIN_SIZE)]
    issuer: Annotated[str, Field(min_length=1, max_length=MAX_DID_LENGTH)]
    batch_id: Annotated[str, Field(min_length=1, max_length=128)]
    batch_root: HexHash
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)]
    index: Annotated[int, Field(ge=0, lt=MAX_BATCH_SIZE)]
    credential_digest: HexHash
    audit_path: Annotated[list[HexHash], Field(max_length=MAX_RECEIPT_PATH)]
    anchor_event_hash: HexHash


def receipt_json(receipt: CredentialReceipt) -> dict[str, Any]:
    """The receipt as a JSON object, members in the documented order, hashes lowercase hex."""
    return {
        "format": RECEIPT_FORMAT,
        "origin": receipt.origin,
        "issuer": receipt.issuer,
        "batch_id": receipt.batch_id,
        "batch_root": receipt.batch_root.hex(),
        "batch_size": receipt.batch_size,
        "index": receipt.index,
        "credential_digest": receipt.credential_digest.hex(),
        "audit_path": [node.hex() for node in receipt.audit_path],
        "anchor_event_hash": receipt.anchor_event_hash.hex(),
    }


def format_receipt(receipt: CredentialReceipt) -> str:
    """The receipt file text: :func:`receipt_json` as indented JSON with a final newline."""
    return json.dumps(receipt_json(receipt), indent=2) + "\n"


def format_batch_receipts(
    *,
    origin: str,
    issuer: str,
    batch_id: str,
    anchor_event_hash: bytes,
    receipts: Iterable[Receipt],
    digests: Sequence[bytes],
) -> Iterator[tuple[Receipt, str]]:
    """Each receipt of one batch with its file text, exactly as :func:`format_receipt` writes it.

    For anchoring 100,000 credentials: the members every receipt of the
    batch shares are encoded once, and the rest by concatenation, about
    seven times faster than formatting each receipt on its own (the tests
    compare the two byte for byte).  ``digests[i]`` is the digest at batch
    index ``i``; every receipt must belong to the same batch.
    """
    prefix: str | None = None
    anchor = anchor_event_hash.hex()
    for receipt in receipts:
        if prefix is None:
            root, size = receipt.batch_root, receipt.batch_size
            prefix = (
                f'{{\n  "format": "{RECEIPT_FORMAT}",\n  "origin": {json.dumps(origin)},\n'
                f'  "issuer": {json.dumps(issuer)},\n  "batch_id": {json.dumps(batch_id)},\n'
                f'  "batch_root": "{root.hex()}",\n  "batch_size": {size},\n  "index": '
            )
        assert (receipt.batch_root, receipt.batch_size) == (root, size), "one batch at a time"
        path = receipt.audit_path
        path_text = ('[\n    "' + '",\n    "'.join([node.hex() for node in path]) + '"\n  ]'
                     if path else "[]")
        yield receipt, (
            f'{prefix}{receipt.index},\n  "credential_digest": "{digests[receipt.index].hex()}",'
            f'\n  "audit_path": {path_text},\n  "anchor_event_hash": "{anchor}"\n}}\n'
        )


def _hashes_from_hex(texts: list[str]) -> tuple[Hash, ...]:
    """Hashes from lowercase hex that strict validation has checked (64 digits each)."""
    return cast(tuple[Hash, ...], tuple(map(bytes.fromhex, texts)))


def _receipt_from_fields(fields: dict[str, Any], what: str) -> CredentialReceipt:
    """The receipt from a document that passed :class:`_ReceiptModel` (strict validation
    leaves every value as JSON gave it, so the document's own values are read)."""
    issuer, batch_id = fields["issuer"], fields["batch_id"]
    index, batch_size = fields["index"], fields["batch_size"]
    _check_did(issuer, f"{what}: issuer", ReceiptFormatError)
    if not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise ReceiptFormatError(f"{what}: batch_id {batch_id!r} is not a batch id")
    if index >= batch_size:
        raise ReceiptFormatError(
            f"{what}: index {index} is outside the batch of {batch_size}"
        )
    return CredentialReceipt(
        origin=fields["origin"],
        issuer=issuer,
        batch_id=batch_id,
        batch_root=Hash(bytes.fromhex(fields["batch_root"])),
        batch_size=batch_size,
        index=index,
        credential_digest=Hash(bytes.fromhex(fields["credential_digest"])),
        audit_path=_hashes_from_hex(fields["audit_path"]),
        anchor_event_hash=Hash(bytes.fromhex(fields["anchor_event_hash"])),
    )


def parse_receipt(untrusted: bytes | str, what: str = "receipt") -> CredentialReceipt:
    """Parse a receipt document strictly (size cap, strict JSON, exact members).

    Raises :class:`ReceiptFormatError` naming the bad member.  Checks the
    receipt's own consistency only (index below size, a well-formed did:key
    and batch id); whether it belongs to a real anchored batch is step 7 of
    :func:`client.verify.verify_bundle`.
    """
    try:
        document = strictjson.loads(untrusted, what=what, max_size=MAX_RECEIPT_SIZE)
        _ReceiptModel.model_validate(document)
    except ValidationError as exc:
        raise ReceiptFormatError(f"{what}: {describe_validation_error(exc)}") from exc
    except ReceiptFormatError:
        raise
    except LedgerError as exc:
        raise ReceiptFormatError(exc.diagnostics()) from exc
    return _receipt_from_fields(document, what)


# -- bundles ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One status-map proof: the record's canonical bytes (None: absent) and its SMT proof."""

    value: bytes | None
    proof: SmtProof


@dataclass(frozen=True, slots=True)
class BundleStatus:
    """The status proofs of a bundle, all under the status root of the bundle's header."""

    issuer: StatusEntry
    credential: StatusEntry
    batch: StatusEntry | None


@dataclass(frozen=True, slots=True)
class IncludedHeader:
    """A block header leaf with its claimed log index and RFC 9162 audit path.

    The path is under the bundle's checkpoint.  Verifiers use the header's
    ``time_ms`` (set by the block's proposer and accepted by 2f+1 validators)
    as the date the ledger recorded what the block holds.
    """

    leaf: bytes
    index: int
    audit_path: tuple[Hash, ...]


@dataclass(frozen=True, slots=True)
class Bundle:
    """A parsed, NOT verified, proof bundle (see :func:`client.verify.verify_bundle`)."""

    origin: str
    issuer: str
    credential_digest: Hash
    event: bytes
    """The issuing log leaf: a ``credential.issue`` or ``batch.anchor`` event."""
    event_proof: TlogProof
    header: bytes
    """The block header leaf at index ``tree_size - 1`` of the checkpoint."""
    header_proof: TlogProof
    receipt: CredentialReceipt | None
    status: BundleStatus
    block_headers: tuple[IncludedHeader, ...] = ()
    """The headers of the blocks holding the issuing event and the earliest revocation,
    in ascending index order, each once."""


_MAX_LEAF_BASE64 = _base64_length(MAX_LEAF_SIZE)
_MAX_RECORD_BASE64 = _base64_length(MAX_RECORD_SIZE)
_MAX_SMT_HEX = 2 * MAX_SMT_PROOF_SIZE

# Lengths only: encoding.decode_base64 checks the alphabet and the canonical form.
Base64Leaf = Annotated[str, Field(min_length=4, max_length=_MAX_LEAF_BASE64)]
Base64Record = Annotated[str, Field(min_length=4, max_length=_MAX_RECORD_BASE64)]
HexSmtProof = Annotated[str, Field(min_length=2, max_length=_MAX_SMT_HEX)]
TlogProofText = Annotated[str, Field(min_length=1, max_length=_MAX_NOTE_PROOF_TEXT)]


class _StatusEntryModel(StrictModel):
    value: Base64Record | None
    proof: HexSmtProof


class _StatusModel(StrictModel):
    issuer: _StatusEntryModel
    credential: _StatusEntryModel
    batch: _StatusEntryModel | None


class _IncludedHeaderModel(StrictModel):
    header: Base64Leaf
    index: Annotated[int, Field(ge=0, lt=2**63)]
    audit_path: Annotated[list[HexHash], Field(max_length=MAX_AUDIT_PATH)]


class _BundleModel(StrictModel):
    format: Literal["vcledger-bundle/v2"]
    origin: Annotated[str, Field(min_length=1, max_length=MAX_ORIGIN_SIZE)]
    issuer: Annotated[str, Field(min_length=1, max_length=MAX_DID_LENGTH)]
    credential_digest: HexHash
    event: Base64Leaf
    event_proof: TlogProofText
    header: Base64Leaf
    header_proof: TlogProofText
    receipt: _ReceiptModel | None
    status: _StatusModel
    block_headers: Annotated[list[_IncludedHeaderModel],
                             Field(min_length=1, max_length=MAX_BLOCK_HEADERS)]


# Bundles checked together usually share pieces: every bundle of one checkpoint has
# the same header proof, every bundle of one issuer the same did:key and issuer status
# proof, every member of a batch the same batch status proof.  Parsing is a pure
# function of the text and its results are immutable, so these pieces are parsed once
# and the parse is cached by exact text (small texts only, so the caches stay small
# whatever a caller feeds them).  Failures are never cached; nothing that is verified
# (a signature, a proof against a root) is ever cached.


@functools.lru_cache(maxsize=1024)
def _did_problem(did: str) -> str | None:
    try:
        public_key_from_did(did)
    except InvalidEncoding as exc:
        return exc.diagnostics()
    return None


@functools.lru_cache(maxsize=256)
def _cached_tlog_proof(text: str) -> TlogProof:
    return parse_tlog_proof(text)


@functools.lru_cache(maxsize=1024)
def _cached_smt_proof(text: str) -> SmtProof:
    return SmtProof.from_hex(text)


@functools.lru_cache(maxsize=1024)
def _cached_base64(text: str, what: str) -> bytes:
    return encoding.decode_base64(text, what)


def _base64(text: str, what: str) -> bytes:
    """:func:`encoding.decode_base64`, cached for small texts: the header leaf, the block
    headers and the issuer and batch records recur in every bundle of a checkpoint."""
    if len(text) <= _CACHED_TEXT_SIZE:
        return _cached_base64(text, what)
    return encoding.decode_base64(text, what)


def _parse_smt_proof(text: str) -> SmtProof:
    return _cached_smt_proof(text) if len(text) <= _CACHED_TEXT_SIZE else SmtProof.from_hex(text)


def _check_did(did: str, what: str, error: type[InvalidEncoding]) -> None:
    problem = _did_problem(did)
    if problem is not None:
        raise error(f"{what}: {problem}")


def _tlog_proof(text: str, what: str) -> TlogProof:
    proof = (_cached_tlog_proof(text) if len(text) <= _CACHED_TEXT_SIZE
             else parse_tlog_proof(text))
    if proof.extra is not None:
        # tlog-proof's extra data is never authenticated; a bundle carries none,
        # so that there is one form and nothing unverified rides along.
        raise BundleFormatError(f"{what} has an 'extra' line; bundles carry no extra data")
    return proof


def _status_entry(model: _StatusEntryModel, what: str, *, present: bool) -> StatusEntry:
    return _status_entry_of(model.value, model.proof, what, present=present)


def _status_entry_of(text: str | None, proof: str, what: str, *, present: bool
                     ) -> StatusEntry:
    if present and text is None:
        raise BundleFormatError(f"{what}: value is null; this proof must show a record")
    value = None if text is None else _base64(text, f"{what} value")
    return StatusEntry(value, _parse_smt_proof(proof))


def _status_entry_fields(fields: dict[str, Any], what: str, *, present: bool) -> StatusEntry:
    return _status_entry_of(fields["value"], fields["proof"], what, present=present)


# The fast path: a well-formed bundle's members checked in plain Python, so that pydantic
# (as costly as reading the JSON) only runs on a document that may be bad, where it names
# the bad member.  Each check below is the model's own constraint, no looser: whatever
# passes here passes the model, and whatever does not is judged by the model.

_FAST_PATH = True
"""False sends every bundle through the model (tests/client/test_bundle_fastpath.py compares
the two)."""

_HEX_HASH_TEXT = re.compile(r"[0-9a-f]{64}")
_RECEIPT_MEMBERS = frozenset(_ReceiptModel.model_fields)
_BUNDLE_MEMBERS = frozenset(_BundleModel.model_fields)
_STATUS_MEMBERS = frozenset(_StatusModel.model_fields)
_STATUS_ENTRY_MEMBERS = frozenset(_StatusEntryModel.model_fields)
_HEADER_MEMBERS = frozenset(_IncludedHeaderModel.model_fields)


def _text(value: object, low: int, high: int) -> bool:
    return (type(value) is str and low <= len(value) <= high
            and (value.isascii() or _encodes_as_utf8(value)))


def _encodes_as_utf8(text: str) -> bool:
    # JSON's \ud800 escapes give a str with a lone surrogate, which pydantic refuses
    # (string_unicode) because it cannot encode it as UTF-8; so must the fast path.
    # ASCII texts (every well-formed bundle's) never get here: str.isascii() is O(1).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hex_hash(value: object) -> bool:
    return type(value) is str and _HEX_HASH_TEXT.fullmatch(value) is not None


def _integer(value: object, low: int, below: int) -> bool:
    return type(value) is int and low <= value < below


def _hex_hashes(value: object, most: int) -> bool:
    if type(value) is not list or len(value) > most:
        return False
    try:
        # The pattern's own loop, in C: a path is a bundle's longest list.
        return all(map(_HEX_HASH_TEXT.fullmatch, value))
    except TypeError:  # a member that is not a string (JSON gives no bytes)
        return False


def _members(value: object, names: frozenset[str]) -> bool:
    return type(value) is dict and value.keys() == names


def _plainly_valid_receipt(value: object) -> bool:
    return (_members(value, _RECEIPT_MEMBERS)
            and value["format"] == RECEIPT_FORMAT  # type: ignore[index]
            and _text(value["origin"], 1, MAX_ORIGIN_SIZE)  # type: ignore[index]
            and _text(value["issuer"], 1, MAX_DID_LENGTH)  # type: ignore[index]
            and _text(value["batch_id"], 1, 128)  # type: ignore[index]
            and _hex_hash(value["batch_root"])  # type: ignore[index]
            and _integer(value["batch_size"], 1, MAX_BATCH_SIZE + 1)  # type: ignore[index]
            and _integer(value["index"], 0, MAX_BATCH_SIZE)  # type: ignore[index]
            and _hex_hash(value["credential_digest"])  # type: ignore[index]
            and _hex_hashes(value["audit_path"], MAX_RECEIPT_PATH)  # type: ignore[index]
            and _hex_hash(value["anchor_event_hash"]))  # type: ignore[index]


def _plainly_valid_status_entry(value: object) -> bool:
    return (_members(value, _STATUS_ENTRY_MEMBERS)
            and (value["value"] is None  # type: ignore[index]
                 or _text(value["value"], 4, _MAX_RECORD_BASE64))  # type: ignore[index]
            and _text(value["proof"], 2, _MAX_SMT_HEX))  # type: ignore[index]


def _plainly_valid_header(value: object) -> bool:
    return (_members(value, _HEADER_MEMBERS)
            and _text(value["header"], 4, _MAX_LEAF_BASE64)  # type: ignore[index]
            and _integer(value["index"], 0, 2**63)  # type: ignore[index]
            and _hex_hashes(value["audit_path"], MAX_AUDIT_PATH))  # type: ignore[index]


def _plainly_valid(document: object) -> bool:
    """True only if ``document`` passes :class:`_BundleModel` (see the fast path above)."""
    if not _members(document, _BUNDLE_MEMBERS):
        return False
    assert isinstance(document, dict)
    status, headers = document["status"], document["block_headers"]
    return (document["format"] == BUNDLE_FORMAT
            and _text(document["origin"], 1, MAX_ORIGIN_SIZE)
            and _text(document["issuer"], 1, MAX_DID_LENGTH)
            and _hex_hash(document["credential_digest"])
            and _text(document["event"], 4, _MAX_LEAF_BASE64)
            and _text(document["event_proof"], 1, _MAX_NOTE_PROOF_TEXT)
            and _text(document["header"], 4, _MAX_LEAF_BASE64)
            and _text(document["header_proof"], 1, _MAX_NOTE_PROOF_TEXT)
            and (document["receipt"] is None or _plainly_valid_receipt(document["receipt"]))
            and _members(status, _STATUS_MEMBERS)
            and _plainly_valid_status_entry(status["issuer"])
            and _plainly_valid_status_entry(status["credential"])
            and (status["batch"] is None or _plainly_valid_status_entry(status["batch"]))
            and type(headers) is list and 1 <= len(headers) <= MAX_BLOCK_HEADERS
            and all(map(_plainly_valid_header, headers)))


def parse_bundle(untrusted: bytes | str, what: str = "bundle") -> Bundle:
    """Parse a bundle document strictly; verifies nothing.

    Order (cheap first): the size cap, strict JSON (no duplicate members, no
    NaN), exact members with per-field length caps, then the canonical forms
    of each piece: base64 of the leaves and records, the tlog-proof texts
    (with the checkpoint note's syntax), lowercase hex of hashes and SMT
    proofs.  Raises :class:`BundleFormatError` (an :class:`InvalidEncoding`)
    naming the member.
    """
    try:
        document = strictjson.loads(untrusted, what=what, max_size=MAX_BUNDLE_SIZE)
        if not (_FAST_PATH and _plainly_valid(document)):
            _BundleModel.model_validate(document)
    except ValidationError as exc:
        raise BundleFormatError(f"{what}: {describe_validation_error(exc)}") from exc
    except BundleFormatError:
        raise
    except LedgerError as exc:
        raise BundleFormatError(exc.diagnostics()) from exc
    try:
        _check_did(document["issuer"], "issuer", BundleFormatError)
        status = document["status"]
        headers = tuple(IncludedHeader(_base64(h["header"], f"block_headers[{n}]"),
                                       h["index"],
                                       _hashes_from_hex(h["audit_path"]))
                        for n, h in enumerate(document["block_headers"]))
        if any(a.index >= b.index for a, b in itertools.pairwise(headers)):
            raise BundleFormatError("block_headers must be in ascending index order, each once")
        receipt = document["receipt"]
        return Bundle(
            origin=document["origin"],
            issuer=document["issuer"],
            credential_digest=Hash(bytes.fromhex(document["credential_digest"])),
            event=_base64(document["event"], "event"),
            event_proof=_tlog_proof(document["event_proof"], "event_proof"),
            header=_base64(document["header"], "header"),
            header_proof=_tlog_proof(document["header_proof"], "header_proof"),
            receipt=None if receipt is None else _receipt_from_fields(receipt, "receipt"),
            status=BundleStatus(
                issuer=_status_entry_fields(status["issuer"], "status.issuer", present=True),
                credential=_status_entry_fields(status["credential"], "status.credential",
                                                present=False),
                batch=(None if status["batch"] is None
                       else _status_entry_fields(status["batch"], "status.batch",
                                                 present=True)),
            ),
            block_headers=headers,
        )
    except BundleFormatError:
        raise
    except LedgerError as exc:
        raise BundleFormatError(f"{what}: {exc.diagnostics()}") from exc


def _status_json(entry: StatusEntry) -> dict[str, Any]:
    return {
        "value": None if entry.value is None else encoding.encode_base64(entry.value),
        "proof": entry.proof.to_hex(),
    }


def bundle_json(bundle: Bundle) -> dict[str, Any]:
    """The bundle as a JSON object, members in the documented order."""
    event_proof = bundle.event_proof
    header_proof = bundle.header_proof
    return {
        "format": BUNDLE_FORMAT,
        "origin": bundle.origin,
        "issuer": bundle.issuer,
        "credential_digest": bundle.credential_digest.hex(),
        "event": encoding.encode_base64(bundle.event),
        "event_proof": format_tlog_proof(event_proof.index, event_proof.proof,
                                         event_proof.checkpoint_note),
        "header": encoding.encode_base64(bundle.header),
        "header_proof": format_tlog_proof(header_proof.index, header_proof.proof,
                                          header_proof.checkpoint_note),
        "receipt": None if bundle.receipt is None else receipt_json(bundle.receipt),
        "status": {
            "issuer": _status_json(bundle.status.issuer),
            "credential": _status_json(bundle.status.credential),
            "batch": None if bundle.status.batch is None else _status_json(bundle.status.batch),
        },
        "block_headers": [{"header": encoding.encode_base64(h.leaf), "index": h.index,
                           "audit_path": [x.hex() for x in h.audit_path]}
                          for h in bundle.block_headers],
    }


def format_bundle(bundle: Bundle) -> str:
    """The bundle file text: :func:`bundle_json` as indented JSON with a final newline."""
    return json.dumps(bundle_json(bundle), indent=2) + "\n"


def dated_heights(issuer: StatusRecord | None, credential: StatusRecord | None,
                  batch: StatusRecord | None, *, event_index: int) -> set[int]:
    """The heights of the blocks whose headers a bundle carries: the issuing event's block
    and the block of the earliest revocation (the credential's, its batch's, or the
    issuer's compromise when it voids the event), as :mod:`client.verify` step 12 demands.

    Reads records that are not yet verified (a client assembling a bundle); the verifier
    derives the same heights from the proven ones.  :class:`UsageError` when the records
    give no issuing block.
    """
    issued: int | None = None
    revocations: list[tuple[int, int]] = []  # (index, height)
    if isinstance(batch, BatchRecord):
        issued = batch.anchored.height
    elif isinstance(credential, CredentialRecord) and credential.issued is not None:
        issued = credential.issued.height
    for record in (credential, batch):
        if isinstance(record, (CredentialRecord, BatchRecord)) and record.revoked is not None:
            revocations.append((record.revoked.position.index, record.revoked.position.height))
    voided_by = issuer.voided_by(event_index) if isinstance(issuer, IssuerRecord) else None
    if voided_by is not None:
        revocations.append((voided_by.position.index, voided_by.position.height))
    if issued is None:
        raise UsageError("no status record gives the height of the issuing block")
    return {issued} | ({min(revocations)[1]} if revocations else set())


def build_bundle(
    *,
    origin: str,
    issuer: str,
    credential_digest: bytes,
    event: bytes,
    event_index: int,
    event_audit_path: Sequence[bytes],
    checkpoint_note: str,
    header: bytes,
    header_audit_path: Sequence[bytes],
    receipt: CredentialReceipt | None,
    status: BundleStatus,
    block_headers: Sequence[IncludedHeader] = (),
) -> Bundle:
    """Assemble a bundle from pieces fetched from a node (or built in a test).

    Preconditions, each a :class:`UsageError`: a 32-byte digest, and proof
    texts that format (the indices lie inside the checkpoint's tree, paths of
    at most 64 hashes).  The header's index is fixed: ``tree_size - 1`` of the
    checkpoint.  Nothing is verified here; callers verify the result with
    :func:`client.verify.verify_bundle` before writing it anywhere.
    """
    if not isinstance(credential_digest, bytes) or len(credential_digest) != 32:
        raise UsageError("credential digest must be 32 bytes")
    # Each proof formatted and read back once; the note inside is parsed once (cached).
    event_proof = make_tlog_proof(event_index, event_audit_path, checkpoint_note)
    tree_size = event_proof.checkpoint().tree_size
    header_proof = make_tlog_proof(tree_size - 1, header_audit_path, checkpoint_note)
    ordered = tuple(sorted(block_headers, key=lambda h: h.index))
    if not ordered or len(ordered) > MAX_BLOCK_HEADERS or any(
            a.index == b.index for a, b in itertools.pairwise(ordered)):
        raise UsageError(f"a bundle carries 1 to {MAX_BLOCK_HEADERS} distinct block headers")
    return Bundle(origin, issuer, Hash(credential_digest), event, event_proof, header,
                  header_proof, receipt, status, ordered)
