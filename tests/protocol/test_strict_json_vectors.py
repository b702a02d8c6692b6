"""tests/vectors/strict_json.json against client/strictjson.py (docs/protocol.md §13.1).

The vectors' nesting problems were counted without client.strictjson
(scripts/vectorgen/strict_json.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.strictjson import MAX_JSON_DEPTH, JsonError, loads, nesting_problem

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "strict_json.json").read_text())


def test_the_cap_is_the_documented_one() -> None:
    assert VECTORS["max_depth"] == MAX_JSON_DEPTH


@pytest.mark.parametrize("case", VECTORS["nesting"], ids=lambda c: c["name"])
def test_nesting_is_counted_on_the_text(case: dict) -> None:
    assert nesting_problem(case["text"]) == case["problem"]
    if case["problem"] is not None:
        with pytest.raises(JsonError, match=r"\(at character \d+\)"):
            loads(case["text"], what="document", max_size=1 << 20)


@pytest.mark.parametrize("case", VECTORS["refused"], ids=lambda c: c["name"])
def test_strict_parsing_refuses(case: dict) -> None:
    with pytest.raises(JsonError):
        loads(bytes.fromhex(case["data"]), what="document", max_size=1 << 20)
