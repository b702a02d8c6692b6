"""tests/vectors/consensus_snapshot.json against node/consensus_snapshot.py
(docs/protocol.md §14.7).

Valid vectors restore, report their height, round and step, and re-encode to
the same bytes; their layout is also read with plain msgpack, apart from the
code under test.  Invalid vectors are refused with the named error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from client.errors import InvalidEncoding, UsageError
from node.consensus import ConsensusMachine

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "consensus_snapshot.json").read_text())
ERRORS: dict[str, type[Exception]] = {"InvalidEncoding": InvalidEncoding,
                                      "UsageError": UsageError}


def own_id(vector: dict[str, Any]) -> bytes | None:
    return None if vector["own_id"] is None else bytes.fromhex(vector["own_id"])


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_valid_snapshot_vectors(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["encoded"])
    machine = ConsensusMachine.restore(data, own_id=own_id(vector))
    assert (machine.height, machine.round, int(machine.step)) == (
        vector["height"], vector["round"], vector["step"])
    assert machine.snapshot_bytes() == data
    fields = msgpack.unpackb(data)
    assert len(fields) == 10 and fields[0] == 1
    assert fields[1] == own_id(vector)
    assert [v.hex() for v in fields[2]] == VECTORS["validators"]
    assert fields[3:6] == [vector["height"], vector["round"], vector["step"]]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_snapshot_vectors(vector: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[vector["error"]]):
        ConsensusMachine.restore(bytes.fromhex(vector["encoded"]), own_id=own_id(vector))


def test_the_vectors_cover_both_errors_and_a_follower() -> None:
    assert {v["error"] for v in VECTORS["invalid"]} == set(ERRORS)
    assert any(v["own_id"] is None for v in VECTORS["valid"])
