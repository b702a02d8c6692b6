"""C2SP checkpoints and the k-of-n cosignature policy (client/checkpoint.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client import checkpoint, errors, keys, note
from client.errors import InvalidEncoding, SignatureError, UsageError, VerificationError
from client.hashes import as_hash
from tests.client.test_note import CT_CHECKPOINT, CT_LOG_VKEY, WITNESS_VKEYS

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "checkpoint_vectors.json").read_text(encoding="utf-8")
)

# The tlog-checkpoint specification's example body.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

# A real CT log checkpoint cosigned by four public witnesses, with their keys (test_note.py).
CT_ORIGIN = "arche2025h1.staging.ct.transparency.dev"


def test_specification_example_body() -> None:
    parsed = checkpoint.parse_checkpoint(SPEC_BODY)
    assert (parsed.origin, parsed.tree_size) == ("example.com/behind-the-sofa", 20852163)
    assert parsed.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert parsed.body() == SPEC_BODY
    assert checkpoint.format_checkpoint(parsed.origin, parsed.tree_size, parsed.root) == SPEC_BODY


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: f"{c['origin']}-{c['tree_size']}")
def test_valid_vectors(case: dict[str, Any]) -> None:
    root = bytes.fromhex(case["root"])
    # Independent spelling of the format, from tlog-checkpoint "Note text".
    root_b64 = base64.b64encode(root).decode()
    assert case["body"] == f"{case['origin']}\n{case['tree_size']}\n{root_b64}\n"
    assert checkpoint.format_checkpoint(case["origin"], case["tree_size"], root) == case["body"]
    parsed = checkpoint.parse_checkpoint(case["body"])
    assert parsed == checkpoint.Checkpoint(case["origin"], case["tree_size"], as_hash(root))


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_vectors(case: dict[str, str]) -> None:
    with pytest.raises(InvalidEncoding):
        checkpoint.parse_checkpoint(case["body"])


def test_extension_lines_are_refused_with_a_reason() -> None:
    with pytest.raises(InvalidEncoding, match="extension lines"):
        checkpoint.parse_checkpoint(SPEC_BODY + "extension\n")


@given(
    origin=st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60
    ),
    tree_size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
)
def test_format_parse_round_trip(origin: str, tree_size: int, root: bytes) -> None:
    body = checkpoint.format_checkpoint(origin, tree_size, root)
    expected = checkpoint.Checkpoint(origin, tree_size, as_hash(root))
    assert checkpoint.parse_checkpoint(body) == expected


@pytest.mark.parametrize(
    ("origin", "tree_size", "root"),
    [("", 1, bytes(32)), ("a\nb", 1, bytes(32)), ("o" * 256, 1, bytes(32)), ("a", -1, bytes(32)),
     ("a", 2**64, bytes(32)), ("a", True, bytes(32)), ("a", 1, bytes(31)), ("a", 1, "00" * 32)],
)
def test_format_preconditions(origin: str, tree_size: int, root: bytes) -> None:
    with pytest.raises(UsageError):
        checkpoint.format_checkpoint(origin, tree_size, root)


# --- the trust policy ------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["policy"], ids=lambda c: c["name"])
def test_policy_vectors(case: dict[str, Any]) -> None:
    def run() -> checkpoint.VerifiedCheckpoint:
        return checkpoint.verify_checkpoint(
            case["note"], case["origin"], case["verifier_keys"], case["threshold"], now=case["now"]
        )

    if case["outcome"] == "valid":
        verified = run()
        validators = [note.parse_verifier_key(v) for v in VECTORS["validator_keys"]]
        assert [c.public_key for c in verified.cosigners] == [
            validators[i].public_key for i in case["cosigners"]
        ]
        assert verified.checkpoint.origin == case["origin"]
        stamps = sorted((c.timestamp for c in verified.cosigners), reverse=True)
        assert verified.time == stamps[case["threshold"] - 1]
    else:
        expected = getattr(errors, case["outcome"])
        with pytest.raises(expected) as caught:
            run()
        assert type(caught.value) is expected, caught.value


def test_real_witness_cosigned_checkpoint_meets_a_four_of_four_policy() -> None:
    verified = checkpoint.verify_checkpoint(CT_CHECKPOINT, CT_ORIGIN, WITNESS_VKEYS, 4)
    assert verified.checkpoint.tree_size == 1432088532
    assert len(verified.cosigners) == 4
    assert verified.time == min(c.timestamp for c in verified.cosigners)  # 4 of 4
    with pytest.raises(VerificationError, match="origin"):
        checkpoint.verify_checkpoint(CT_CHECKPOINT, "example.com/other", WITNESS_VKEYS, 1)


SEEDS = [bytes([n + 1] * 32) for n in range(4)]
NAMES = [f"v{n}.example" for n in range(4)]
VKEYS = [
    note.verifier_key(name, keys.public_key(seed), sig_type=4)
    for name, seed in zip(NAMES, SEEDS, strict=True)
]
BODY = checkpoint.format_checkpoint("net.example", 3, bytes(32))


def _cosigned(*indices: int, at: int = 1000, body: str = BODY) -> str:
    return body + "\n" + "".join(note.cosign(body, NAMES[i], SEEDS[i], at) for i in indices)


def test_k_minus_one_of_k_fails_for_every_k() -> None:
    for k in range(1, 5):
        checkpoint.verify_checkpoint(_cosigned(*range(k)), "net.example", VKEYS, k)
        if k > 1:
            with pytest.raises(SignatureError, match=f"requires {k}"):
                checkpoint.verify_checkpoint(_cosigned(*range(k - 1)), "net.example", VKEYS, k)


def test_time_is_the_threshold_th_newest_cosignature() -> None:
    text = (
        BODY + "\n"
        + note.cosign(BODY, NAMES[0], SEEDS[0], 50)
        + note.cosign(BODY, NAMES[1], SEEDS[1], 70)
        + note.cosign(BODY, NAMES[2], SEEDS[2], 60)
    )
    assert [checkpoint.verify_checkpoint(text, "net.example", VKEYS, k).time
            for k in (1, 2, 3)] == [70, 60, 50]
    verified = checkpoint.verify_checkpoint(text, "net.example", VKEYS, 2)
    assert [c.timestamp for c in verified.cosigners] == [50, 70, 60]


def test_policy_preconditions() -> None:
    text = _cosigned(0, 1, 2)
    for threshold in (0, -1, True, 5):
        with pytest.raises(UsageError):
            checkpoint.verify_checkpoint(text, "net.example", VKEYS, threshold)
    ed25519_vkey = note.verifier_key(NAMES[0], keys.public_key(SEEDS[0]))
    with pytest.raises(UsageError, match="0x01"):
        checkpoint.verify_checkpoint(text, "net.example", [ed25519_vkey, *VKEYS[1:]], 2)
    with pytest.raises(UsageError):  # the same key twice is one key: 2 of 1 is impossible
        checkpoint.verify_checkpoint(text, "net.example", [VKEYS[0], VKEYS[0]], 2)
    # A log's own Ed25519 signature is not a validator cosignature.
    with pytest.raises(UsageError):
        checkpoint.verify_checkpoint(CT_CHECKPOINT, CT_ORIGIN, [CT_LOG_VKEY], 1)


def test_cheap_checks_come_before_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_crypto(*args: object) -> None:
        raise AssertionError("signature checked before the structure")

    monkeypatch.setattr(keys, "verify_signature", no_crypto)
    with pytest.raises(VerificationError, match="origin"):
        checkpoint.verify_checkpoint(_cosigned(0, 1, 2), "other.example", VKEYS, 3)
    with pytest.raises(InvalidEncoding, match="extension"):
        checkpoint.verify_checkpoint(
            _cosigned(0, 1, 2, body=BODY + "ext\n"), "net.example", VKEYS, 3
        )
