"""Events, status records and block headers: encoding, signatures, strict decoding."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client import encoding
from client.block import BlockHeader, decode_header, decode_leaf, validator_set_hash
from client.errors import InvalidEncoding, SignatureError, VerificationError
from client.events import (
    MAX_EVENT_SIZE,
    MAX_TIMESTAMP,
    CredentialIssue,
    EventKind,
    IssuerRegister,
    RevocationReason,
    SignedEvent,
    _decode_credential_issue,
    decode_event,
    encode_event,
    event_from_fields,
    sign_event,
)
from client.merkle import leaf_hash
from client.status import (
    BatchRecord,
    Compromise,
    CredentialRecord,
    Identity,
    IssuerRecord,
    KeyPeriod,
    PathwayRecord,
    PathwayVersion,
    Position,
    Revocation,
    batch_status_key,
    credential_status_key,
    decode_record,
    issuer_status_key,
    pathway_status_key,
)
from tests.protocol_fixtures import (
    CREATED,
    GOVERNANCE,
    ISSUER,
    ORIGIN,
    OTHER_ISSUER,
    fixed_digest,
    sample_events,
    sample_payloads,
)

EVENTS = sample_events()


def test_every_kind_is_covered_by_the_samples() -> None:
    assert {e.kind for e in EVENTS} == set(EventKind)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind.value)
def test_round_trip_and_signature(event: SignedEvent) -> None:
    decoded = decode_event(event.encoded)
    assert decoded == event
    assert decoded.hash == leaf_hash(event.encoded)
    decoded.verify_signature(ORIGIN)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind.value)
def test_signature_is_bound_to_the_network(event: SignedEvent) -> None:
    with pytest.raises(SignatureError, match="wrong network"):
        event.verify_signature(ORIGIN + "-other")


def test_signature_by_another_key_is_rejected() -> None:
    event = EVENTS[0]
    forged = dataclasses.replace(event, signer=ISSUER.public_key)
    with pytest.raises(SignatureError):
        forged.verify_signature(ORIGIN)


def test_signature_cannot_move_to_another_kind_or_payload() -> None:
    issue = sign_event(CredentialIssue(ISSUER.did, fixed_digest("a")), origin=ORIGIN, key=ISSUER,
                       created=CREATED)
    moved = dataclasses.replace(issue, payload=CredentialIssue(ISSUER.did, fixed_digest("b")))
    with pytest.raises(SignatureError):
        moved.verify_signature(ORIGIN)
    fields = msgpack.unpackb(issue.encoded)
    fields[1] = "issuer.retire"
    fields[3] = [ISSUER.did]
    retire = decode_event(msgpack.packb(fields))
    with pytest.raises(SignatureError):
        retire.verify_signature(ORIGIN)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind.value)
def test_every_single_byte_change_is_caught(event: SignedEvent) -> None:
    """Changing any byte either breaks decoding or breaks the signature."""
    data = event.encoded
    for position in range(len(data)):
        for flip in (0x01, 0x80):
            mutated = bytearray(data)
            mutated[position] ^= flip
            with pytest.raises(VerificationError):
                decode_event(bytes(mutated)).verify_signature(ORIGIN)


def raw_event(**changes: object) -> bytes:
    fields = msgpack.unpackb(EVENTS[0].encoded)
    names = ["version", "kind", "created", "payload", "signer", "signature"]
    for name, value in changes.items():
        fields[names.index(name)] = value
    return msgpack.packb(fields, use_bin_type=True)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (raw_event(version=2), "unknown format version"),
        (raw_event(kind="credential.mint"), "unknown kind"),
        (raw_event(created=1.5), "float"),
        (raw_event(created=-1), "outside"),
        (raw_event(signer=b"\x01" * 31), "32 bytes"),
        (raw_event(signature=b"\x01" * 65), "64 bytes"),
        (raw_event(payload=["did:key:zBad", "x", b"\x00" * 32, []]), "did"),
        (raw_event(payload=[ISSUER.did, "", ISSUER.public_key, []]), "issuer name"),
        (raw_event(payload=[ISSUER.did, "a\nb", ISSUER.public_key, []]), "control"),
        (raw_event(payload=[ISSUER.did, "x", ISSUER.public_key]), "4 fields"),
        (raw_event(payload=[ISSUER.did, "x", ISSUER.public_key, ["https://b.example",
                                                                  "https://a.example"]]),
         "distinct and sorted"),
        (raw_event(payload=[ISSUER.did, "x", ISSUER.public_key, ["http://a.example"]]),
         "neither an https URL nor a DID"),
        (raw_event(payload=[ISSUER.did, "x", ISSUER.public_key, ["did:web:a b"]]),
         "neither an https URL nor a DID"),
        (raw_event(payload=[ISSUER.did, "x", ISSUER.public_key, ["did:web:a.example"] * 2]),
         "distinct and sorted"),
        (raw_event(payload=[ISSUER.did, "x", ISSUER.public_key,
                            [f"did:web:{i}.example" for i in range(9)]]), "at most 8"),
        (EVENTS[0].encoded + b"\x00", "trailing"),
        (EVENTS[0].encoded[:-1], "not valid msgpack"),
        (msgpack.packb({"version": 1}), "maps"),
        (b"\x01", "expected an array"),
        (b"\x96" + b"\xcc\x01" + EVENTS[0].encoded[2:], "canonical"),
        (b"\x91" * 20 + b"\x90", "deeper"),
        (b"\x00" * (MAX_EVENT_SIZE + 1), "limit"),
        (b"", "empty"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidEncoding, match=fragment):
        decode_event(data)


def test_revocation_reasons_parse_by_name_or_code() -> None:
    assert RevocationReason.parse("superseded") is RevocationReason.SUPERSEDED
    assert RevocationReason.parse("4") is RevocationReason.FRAUD
    assert RevocationReason.parse("Key-Compromise") is RevocationReason.KEY_COMPROMISE
    with pytest.raises(InvalidEncoding, match="issued_in_error"):
        RevocationReason.parse("because")


def test_oversized_names_cannot_be_signed() -> None:
    with pytest.raises(InvalidEncoding):
        decode_event(sign_event(IssuerRegister(ISSUER.did, "x" * 201, ISSUER.public_key),
                                origin=ORIGIN, key=GOVERNANCE, created=CREATED).encoded)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    with contextlib.suppress(InvalidEncoding):
        decode_leaf(data)


HEADER = BlockHeader(
    height=7, previous=leaf_hash(b"prev"), time_ms=1_780_000_000_123,
    proposer=GOVERNANCE.public_key, first_index=40, event_count=3,
    status_root=leaf_hash(b"status"), validator_set_hash=validator_set_hash([("v0", b"\x01" * 32)]),
)


def test_header_round_trip_and_leaf_dispatch() -> None:
    assert decode_header(HEADER.encoded) == HEADER
    assert HEADER.index == 43 and HEADER.tree_size == 44
    assert isinstance(decode_leaf(HEADER.encoded), BlockHeader)
    assert isinstance(decode_leaf(EVENTS[2].encoded), SignedEvent)
    with pytest.raises(InvalidEncoding, match="expected a block header"):
        decode_header(EVENTS[2].encoded)


def test_header_height_zero_is_invalid() -> None:
    fields = msgpack.unpackb(HEADER.encoded)
    fields[2] = 0
    with pytest.raises(InvalidEncoding, match="height"):
        decode_header(msgpack.packb(fields, use_bin_type=True))


UNI = (Identity(4, "Uni", ()),)
RECORDS = [
    IssuerRecord("did:key:z6Mk", UNI, (KeyPeriod(b"\x01" * 32, 5, 9),
                                      KeyPeriod(b"\x02" * 32, 9, None)), Position(4, 2), None),
    IssuerRecord("did:key:z6Mk", UNI, (KeyPeriod(b"\x01" * 32, 5, None),), Position(4, 2),
                 Position(30, 9)),
    IssuerRecord("did:key:z6Mk", (*UNI, Identity(12, "Uni of Science", ("did:web:uni.example",))),
                 (KeyPeriod(b"\x01" * 32, 5, 20), KeyPeriod(b"\x03" * 32, 20, None)),
                 Position(4, 2), Position(31, 10), (Compromise(Position(31, 10), 17, "stolen"),)),
    CredentialRecord(Position(11, 3), None, None),
    CredentialRecord(Position(11, 3), None, Revocation(Position(20, 5), RevocationReason.FRAUD)),
    CredentialRecord(Position(11, 3), None, Revocation(Position(20, 5), RevocationReason.FRAUD,
                                                       by_governance=True)),
    CredentialRecord(None, ("2026-spring", 3), Revocation(Position(21, 5),
                                                          RevocationReason.WITHDRAWN)),
    BatchRecord(leaf_hash(b"root"), 1000, Position(12, 3), None),
    BatchRecord(leaf_hash(b"root"), 1000, Position(12, 3),
                Revocation(Position(22, 6), RevocationReason.ISSUED_IN_ERROR)),
    PathwayRecord((PathwayVersion(1, leaf_hash(b"v1"), Position(13, 3)),), None),
    PathwayRecord((PathwayVersion(1, leaf_hash(b"v1"), Position(13, 3)),
                   PathwayVersion(2, leaf_hash(b"v2"), Position(25, 7))), Position(40, 11)),
]


def _pathway_fields(versions: list[list[object]], retired: object = None) -> bytes:
    return bytes(msgpack.packb([1, "pathway", versions, retired], use_bin_type=True))


@pytest.mark.parametrize(("data", "fragment"), [
    (_pathway_fields([]), "no version"),
    (_pathway_fields([[2, b"\x01" * 32, 5, 2]]), "versions run 1, 2"),
    (_pathway_fields([[1, b"\x01" * 32, 5, 2], [1, b"\x02" * 32, 9, 3]]), "versions run 1, 2"),
    (_pathway_fields([[1, b"\x01" * 32, 9, 3], [2, b"\x02" * 32, 5, 2]]), "log order"),
    (_pathway_fields([[v, bytes([v]) * 32, v, 1] for v in range(1, 18)]), "at most 16"),
    (_pathway_fields([[1, b"\x01" * 31, 5, 2]]), "definition digest"),
    (bytes(msgpack.packb([1, "pathway", [[1, b"\x01" * 32, 5, 2]]], use_bin_type=True)),
     "4 fields"),
])
def test_malformed_pathway_records_are_rejected(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidEncoding, match=fragment):
        decode_record(data)


@pytest.mark.parametrize("record", RECORDS)
def test_status_records_round_trip(record: object) -> None:
    encoded = record.encode()  # type: ignore[attr-defined]
    assert decode_record(encoded) == record
    assert encoding.unpack(encoded, max_size=4096, what="record")[0] == 1


def test_key_periods_say_which_key_signed_when() -> None:
    record = RECORDS[0]
    assert record.key_valid_at(b"\x01" * 32, 5) and record.key_valid_at(b"\x01" * 32, 8)
    assert not record.key_valid_at(b"\x01" * 32, 9) and not record.key_valid_at(b"\x01" * 32, 4)
    assert record.key_valid_at(b"\x02" * 32, 10**9)
    assert record.current_key == b"\x02" * 32


def test_status_keys_are_separate_namespaces() -> None:
    digest = fixed_digest("x")
    keys = {
        issuer_status_key(ISSUER.did),
        credential_status_key(ISSUER.did, digest),
        credential_status_key(GOVERNANCE.did, digest),
        batch_status_key(ISSUER.did, "x"),
        batch_status_key(GOVERNANCE.did, "x"),
        pathway_status_key(ISSUER.did, "x"),
        pathway_status_key(GOVERNANCE.did, "x"),
    }
    assert len(keys) == 7


def test_sample_payload_signers_match_the_rules() -> None:
    """The fixtures are used by rule tests; keep their intent visible here."""
    kinds = [p.kind for p, _ in sample_payloads()]
    assert kinds[0] is EventKind.ISSUER_REGISTER and kinds[-1] is EventKind.ISSUER_RETIRE


# -- the credential.issue fast path decides exactly as the general decoder ------------------

def _general_decode(data: bytes) -> SignedEvent:
    """The decoder every kind goes through (no fast path)."""
    return event_from_fields(encoding.unpack(data, max_size=MAX_EVENT_SIZE, what="event"), data)


def _outcome(decode: Callable[[bytes], SignedEvent], data: bytes) -> object:
    try:
        return decode(data)
    except InvalidEncoding as exc:
        return (type(exc), str(exc))


# Every width msgpack may use for the created time, at both ends, and one past the maximum.
_CREATED_EDGES = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000, 2**32 - 1, 2**32,
                  MAX_TIMESTAMP, MAX_TIMESTAMP + 1, 2**64 - 1]


def _packed_str(text: bytes) -> bytes:
    return (bytes([0xA0 | len(text)]) if len(text) < 32
            else b"\xd9" + bytes([len(text)]) if len(text) < 256
            else b"\xda" + len(text).to_bytes(2, "big")) + text


@st.composite
def issue_like_bytes(draw: st.DrawFn) -> bytes:
    """credential.issue events, canonical or not quite: every field at its edges, then
    perhaps one mutation (a byte changed, inserted, removed, the input cut short, a wider
    encoding of the created time, another issuer string)."""
    created = draw(st.sampled_from(_CREATED_EDGES) | st.integers(0, 2**64 - 1))
    did = draw(st.sampled_from([ISSUER.did, GOVERNANCE.did, OTHER_ISSUER.did]))
    signer = draw(st.binary(min_size=32, max_size=32))
    signature = draw(st.binary(min_size=64, max_size=64))
    digest = draw(st.binary(min_size=32, max_size=32))
    fields = [1, "credential.issue", created, [did, digest], signer, signature]
    data = bytearray(msgpack.packb(fields, use_bin_type=True))
    mutation = draw(st.sampled_from(["none", "flip", "insert", "delete", "truncate",
                                     "wide created", "issuer"]))
    if mutation == "flip":
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    elif mutation == "insert":
        data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
    elif mutation == "delete":
        del data[draw(st.integers(0, len(data) - 1))]
    elif mutation == "truncate":
        del data[draw(st.integers(0, len(data) - 1)):]
    elif mutation == "wide created" and created <= MAX_TIMESTAMP:
        marker, width = draw(st.sampled_from([(0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)]))
        if created < 2 ** (8 * width):
            head = msgpack.packb([1, "credential.issue", created])[:-len(
                msgpack.packb(created))]
            tail = data[len(msgpack.packb([1, "credential.issue", created])):]
            data = bytearray(head + bytes([marker]) + created.to_bytes(width, "big") + tail)
    elif mutation == "issuer":
        text = draw(st.binary(max_size=70) | st.text(max_size=70).map(
            lambda t: t.encode("utf-8", "surrogatepass")) | st.sampled_from(
            [did.encode()[:-1], did.encode() + b"x", did.upper().encode(), b"did:key:z" * 5]))
        # [1, kind, created] packs to as many bytes as the event's head (0x93 for 0x96).
        payload_at = len(msgpack.packb([1, "credential.issue", created]))
        assert data[payload_at] == 0x92
        old_issuer = _packed_str(did.encode())
        data = bytearray(data[:payload_at + 1] + _packed_str(text)
                         + data[payload_at + 1 + len(old_issuer):])
    return bytes(data)


@settings(max_examples=3000, deadline=None)
@given(issue_like_bytes() | st.binary(max_size=300))
def test_fast_issue_decoder_accepts_and_refuses_exactly_as_the_general_one(data: bytes) -> None:
    general = _outcome(_general_decode, data)
    assert _outcome(decode_event, data) == general
    assert _outcome(lambda d: decode_event(d, event_hash=leaf_hash(d)), data) == general
    fast = _decode_credential_issue(data, None)
    if isinstance(general, SignedEvent) and general.kind is EventKind.CREDENTIAL_ISSUE:
        assert fast == general  # every valid credential.issue takes the fast path
    else:
        assert fast is None


@pytest.mark.parametrize("created", _CREATED_EDGES)
def test_fast_issue_decoder_at_every_created_time_width(created: int) -> None:
    data = encode_event(CredentialIssue(ISSUER.did, fixed_digest("w")), created,
                        ISSUER.public_key, b"\x07" * 64)
    general = _outcome(_general_decode, data)
    assert _outcome(decode_event, data) == general
    assert isinstance(general, SignedEvent) == (created <= MAX_TIMESTAMP)
    assert (_decode_credential_issue(data, None) is not None) == (created <= MAX_TIMESTAMP)


def test_non_bytes_input_is_refused_as_by_the_general_decoder() -> None:
    data = bytearray(EVENTS[0].encoded)
    assert _outcome(decode_event, data) == _outcome(_general_decode, data)  # type: ignore[arg-type]
