"""node/records.py against its vectors: the bytes nodes already have on disk, and
decoders that refuse any other shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from client import encoding
from client.errors import InvalidEncoding
from node.records import BlockBody, EvidenceRecord

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "node_records.json"
MAX_BODY = 1 << 20


def load() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())  # type: ignore[no-any-return]


def test_block_body_vector() -> None:
    vector = load()["block_body"]
    body = BlockBody(bytes.fromhex(vector["header"]),
                     tuple(bytes.fromhex(e) for e in vector["events"]))
    encoded = bytes.fromhex(vector["encoded"])
    assert body.encode() == encoded
    # The form network.py wrote before this module existed: stored bodies stay readable.
    assert encoding.pack([body.header, list(body.events)]) == encoded
    assert BlockBody.decode(encoded, max_size=MAX_BODY) == body


def test_evidence_vector() -> None:
    vector = load()["evidence"]
    record = EvidenceRecord(vector["kind"], vector["height"], vector["round"],
                            bytes.fromhex(vector["signer"]), bytes.fromhex(vector["first"]),
                            bytes.fromhex(vector["second"]))
    encoded = bytes.fromhex(vector["encoded"])
    assert record.encode() == encoded
    assert record.key() == bytes.fromhex(vector["key"])
    assert encoding.pack([1, record.kind, record.height, record.round, record.signer,
                          record.first, record.second]) == encoded
    assert encoding.pack([record.height, record.round, record.kind, record.signer]) \
        == record.key()
    assert EvidenceRecord.decode(encoded) == record


@pytest.mark.parametrize("fields", [
    [b"header"],                              # too few fields
    [b"header", [b"e"], b"extra"],            # too many
    ["header", [b"e"]],                       # header not bytes
    [b"header", b"events"],                   # events not an array
    [b"header", [b"e", 7]],                   # an event not bytes
])
def test_block_body_decoder_refuses_other_shapes(fields: list[Any]) -> None:
    with pytest.raises(InvalidEncoding):
        BlockBody.decode(encoding.pack(fields), max_size=MAX_BODY)


def _evidence_fields() -> list[Any]:
    return [1, "vote-2", 3, 0, b"\x01" * 32, b"first", b"second"]


@pytest.mark.parametrize("index,value", [
    (0, 2),               # unknown version
    (1, "vote-3"),        # unknown kind
    (1, 5),               # kind not a string
    (2, b"3"),            # height not an integer
    (4, b"\x01" * 31),    # signer not a key
    (6, "second"),        # message not bytes
])
def test_evidence_decoder_refuses_other_shapes(index: int, value: Any) -> None:
    fields = _evidence_fields()
    assert EvidenceRecord.decode(encoding.pack(fields)).kind == "vote-2"
    fields[index] = value
    with pytest.raises(InvalidEncoding):
        EvidenceRecord.decode(encoding.pack(fields))


def test_evidence_decoder_refuses_a_short_record() -> None:
    with pytest.raises(InvalidEncoding):
        EvidenceRecord.decode(encoding.pack(_evidence_fields()[:6]))
