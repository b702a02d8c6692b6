"""The C2SP tlog-proof@v1 text format (client/tlogproof.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from client import checkpoint, note, tlogproof
from client.errors import InvalidEncoding, UsageError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "tlogproof_vectors.json").read_text(encoding="utf-8")
)

# The c2sp.org/tlog-proof example up to and including the checkpoint body;
# its signature lines are elided ("[...]") in the specification, so the test
# signs the same body with a key of its own.
SPEC_HEADER = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=
"""
SPEC_CHECKPOINT_BODY = (
    "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
)
LOG_SEED = bytes([5] * 32)


def _spec_parts() -> tuple[bytes, int, list[bytes]]:
    lines = SPEC_HEADER.splitlines()
    extra = base64.b64decode(lines[1].removeprefix("extra "))
    index = int(lines[2].removeprefix("index "))
    return extra, index, [base64.b64decode(line) for line in lines[3:]]


def test_specification_example() -> None:
    extra, index, proof = _spec_parts()
    signed = note.sign(SPEC_CHECKPOINT_BODY, "example.com/fancylog", LOG_SEED)
    text = tlogproof.format_tlog_proof(index, proof, signed, extra)
    assert text == SPEC_HEADER + "\n" + signed
    parsed = tlogproof.parse_tlog_proof(text)
    assert parsed == tlogproof.TlogProof(index, tuple(proof), signed, extra)  # type: ignore[arg-type]
    assert parsed.checkpoint() == checkpoint.parse_checkpoint(SPEC_CHECKPOINT_BODY)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: f"index-{c['index']}")
def test_valid_vectors(case: dict[str, Any]) -> None:
    proof = [bytes.fromhex(h) for h in case["proof"]]
    extra = None if case["extra"] is None else bytes.fromhex(case["extra"])
    # Independent spelling of the format, from tlog-proof "Format".
    expected = "c2sp.org/tlog-proof@v1\n"
    if extra is not None:
        expected += "extra " + base64.b64encode(extra).decode() + "\n"
    expected += f"index {case['index']}\n"
    expected += "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    expected += "\n" + case["checkpoint_note"]
    assert case["text"] == expected
    formatted = tlogproof.format_tlog_proof(case["index"], proof, case["checkpoint_note"], extra)
    assert formatted == expected
    parsed = tlogproof.parse_tlog_proof(case["text"])
    assert (parsed.index, list(parsed.proof), parsed.checkpoint_note, parsed.extra) == (
        case["index"], proof, case["checkpoint_note"], extra
    )


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_vectors(case: dict[str, str]) -> None:
    with pytest.raises(InvalidEncoding):
        tlogproof.parse_tlog_proof(case["text"])


BIG_TREE = note.sign(
    checkpoint.format_checkpoint("net.example", 2**64 - 1, bytes(32)), "log", LOG_SEED
)


def test_sixty_four_hashes_is_the_cap() -> None:
    proof = [bytes([n]) * 32 for n in range(64)]
    text = tlogproof.format_tlog_proof(2**64 - 2, proof, BIG_TREE)
    assert tlogproof.parse_tlog_proof(text).proof == tuple(proof)
    with pytest.raises(UsageError):
        tlogproof.format_tlog_proof(0, [*proof, proof[0]], BIG_TREE)
    one_more = text.replace("\n\n", "\n" + base64.b64encode(proof[0]).decode() + "\n\n", 1)
    with pytest.raises(InvalidEncoding, match="at most 64"):
        tlogproof.parse_tlog_proof(one_more)


def test_format_preconditions() -> None:
    small = note.sign(checkpoint.format_checkpoint("net.example", 4, bytes(32)), "log", LOG_SEED)
    good = [bytes(32)]
    for index, proof, extra in [
        (4, good, None),  # outside a tree of size 4
        (-1, good, None),
        (True, good, None),
        (0, [bytes(31)], None),
        (0, good, b""),
        (0, good, bytes(tlogproof.MAX_EXTRA_SIZE + 1)),
    ]:
        with pytest.raises(UsageError):
            tlogproof.format_tlog_proof(index, proof, small, extra)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        tlogproof.format_tlog_proof(0, good, checkpoint.format_checkpoint("n", 4, bytes(32)))
    largest_extra = bytes(tlogproof.MAX_EXTRA_SIZE)
    text = tlogproof.format_tlog_proof(3, good, small, largest_extra)
    assert tlogproof.parse_tlog_proof(text).extra == largest_extra


def test_make_is_format_then_parse() -> None:
    """make_tlog_proof (build_bundle's one parse) gives what format and parse give, and
    refuses what format refuses, with the same message."""
    small = note.sign(checkpoint.format_checkpoint("net.example", 4, bytes(32)), "log", LOG_SEED)
    good = [bytes([7]) * 32, bytes(32)]
    for index, proof, extra in [(0, good, None), (3, [], b"x"), (2, good[:1], bytes(40))]:
        made = tlogproof.make_tlog_proof(index, proof, small, extra)
        assert made == tlogproof.parse_tlog_proof(
            tlogproof.format_tlog_proof(index, proof, small, extra))
        assert made.proof == tuple(proof) and made.index == index and made.extra == extra
    for index, proof, extra in [(4, good, None), (True, good, None), (0, [bytes(31)], None),
                                (0, good, b"")]:
        with pytest.raises(UsageError) as formatted:
            tlogproof.format_tlog_proof(index, proof, small, extra)  # type: ignore[arg-type]
        with pytest.raises(UsageError) as made_error:
            tlogproof.make_tlog_proof(index, proof, small, extra)  # type: ignore[arg-type]
        assert str(made_error.value) == str(formatted.value)


def test_checkpoint_note_is_kept_verbatim() -> None:
    cosigned = note.add_cosignature(BIG_TREE, "witness.example", bytes([6] * 32), 12345)
    text = tlogproof.format_tlog_proof(7, [bytes(32)] * 3, cosigned)
    assert text.endswith("\n\n" + cosigned)
    assert tlogproof.parse_tlog_proof(text).checkpoint_note == cosigned


def test_size_cap_is_checked_first() -> None:
    with pytest.raises(InvalidEncoding, match="longer than"):
        tlogproof.parse_tlog_proof("x" * (tlogproof.MAX_TLOG_PROOF_SIZE + 1))
