"""C2SP signed notes and cosignature/v1 (client/note.py).

Interoperability is checked against notes and keys published by others:
golang.org/x/mod/sumdb/note's documentation and tests, the C2SP signed-note
test key, transparency-dev/formats' verifier keys, and a real CT log
checkpoint cosigned by four public witnesses.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from client import errors, keys, note
from client.errors import InvalidEncoding, SignatureError, UsageError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "note_vectors.json").read_text(encoding="utf-8")
)

# golang.org/x/mod/sumdb/note: package documentation and note_test.go.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
    "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01o"
    "OTGwnWLox33WWd1RvMc+QQ=\n"
)
# PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>; the base64 itself contains a "+".
PETER_SEED = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]

# C2SP signed-note test key and a note it signed.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2O"
    "NncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# transparency-dev/formats note/note_cosigv1_test.go: a type 0x01 key whose
# base64 contains '+', and a public witness's type 0x04 key.
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

# A checkpoint of the arche2025h1 staging CT log with its own signatures (an
# RFC 6962 type 0x05 one we do not know and an Ed25519 one) and four witness
# cosignatures, as published with the public witness keys below.
CT_CHECKPOINT = """arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
"""  # noqa: E501
CT_LOG_VKEY = (
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
)
WITNESS_VKEYS = [
    "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
    "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
    "witness1.smartit.nu/witness1+a48c820f+BPSFWg9G6KPiO7QPryYO5Xq4oYJJ+kAvLKLSimDhoxMO",
    REMORA_VKEY,
]
CT_WITNESS_TIME = 0x6A122120  # the bytes after each witness key ID in the lines above


# --- interoperability ----------------------------------------------------------------


def test_go_sumdb_note_signing_is_byte_identical() -> None:
    assert note.verifier_key("PeterNeumann", keys.public_key(PETER_SEED)) == PETER_VKEY
    assert note.sign(GO_TEXT, "PeterNeumann", PETER_SEED) == GO_TEXT + "\n" + PETER_SIG


def test_go_sumdb_note_enoch_key_is_the_zero_seed() -> None:
    # Go's doc shows EnochRoot re-signing Peter's note; its key is seed 0^32,
    # so adding our signature must reproduce Go's doubly-signed message.
    assert note.verifier_key("EnochRoot", keys.public_key(bytes(32))) == ENOCH_VKEY
    doubly = note.add_signature(GO_TEXT + "\n" + PETER_SIG, "EnochRoot", bytes(32))
    assert doubly == GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG


def test_go_sumdb_note_open() -> None:
    text = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    opened = note.open_note(text, [PETER_VKEY])
    assert opened.body == GO_TEXT
    assert [(s.name, s.key_id.hex()) for s in opened.signatures] == [("PeterNeumann", "c74f20a3")]
    assert opened.ignored_unknown == 1
    both = note.open_note(text, [PETER_VKEY, ENOCH_VKEY])
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(SignatureError):
        note.open_note(text, [])
    # Go's "Invalid signature" case: ABCD spliced into the base64.
    with pytest.raises(SignatureError, match="PeterNeumann"):
        note.open_note(GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], [PETER_VKEY])
    # Go's duplicated verified and unverified signatures.
    spliced = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    opened = note.open_note(
        GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + spliced, [PETER_VKEY]
    )
    assert len(opened.signatures) == 1 and opened.ignored_unknown == 2


@pytest.mark.parametrize(
    "text",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
        "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_go_sumdb_note_malformed_messages(text: str) -> None:
    with pytest.raises(InvalidEncoding):
        note.open_note(text, [PETER_VKEY])


def test_go_verifier_key_manglings_are_rejected() -> None:
    note.parse_verifier_key(PETER_VKEY)
    for start in range(len(PETER_VKEY) + 1):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(InvalidEncoding):
                    note.parse_verifier_key(PETER_VKEY[start:end])
    for position in range(len(PETER_VKEY)):
        bumped = chr(ord(PETER_VKEY[position]) + 1)
        mangled = PETER_VKEY[:position] + bumped + PETER_VKEY[position + 1 :]
        with pytest.raises(InvalidEncoding):
            note.parse_verifier_key(mangled)
    # Go's cases with an adjusted key ID: a 33-byte key, an unknown algorithm.
    # (Go's 33-byte case is also non-canonical base64, rejected for that first.)
    with pytest.raises(InvalidEncoding):
        note.parse_verifier_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    material = b"\x01" + bytes(33)
    key_id = hashlib.sha256(b"PeterNeumann\n" + material).digest()[:4].hex()
    long_key = f"PeterNeumann+{key_id}+{base64.b64encode(material).decode()}"
    with pytest.raises(InvalidEncoding, match="33 bytes"):
        note.parse_verifier_key(long_key)
    with pytest.raises(InvalidEncoding, match="not supported"):
        note.parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_c2sp_signed_note_test_key() -> None:
    verifier = note.parse_verifier_key(C2SP_VKEY)
    assert verifier.public_key.hex() == (
        "e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4"
    )
    assert (verifier.name, verifier.sig_type, verifier.key_id.hex()) == (
        "example.com/foo", 1, "530d903a"
    )
    assert note.verify(C2SP_NOTE, [C2SP_VKEY]) == "This is an example message.\n"
    assert note.verify(C2SP_NOTE, [verifier]) == "This is an example message.\n"


def test_transparency_dev_verifier_keys() -> None:
    plus = note.parse_verifier_key(PLUS_VKEY)
    assert (plus.name, plus.sig_type, plus.vkey) == ("TEST", note.SIG_ED25519, PLUS_VKEY)
    remora = note.parse_verifier_key(REMORA_VKEY)
    assert (remora.name, remora.sig_type, remora.key_id.hex()) == (
        "remora.n621.de", note.SIG_COSIGNATURE_V1, "da77ade7"
    )
    assert note.verifier_key(remora.name, remora.public_key, sig_type=4) == REMORA_VKEY
    for bad in [
        "bananas.sigstore.dev+12344556",
        "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!",
        "rekor.sigstore.dev+12345678+AwEB",
        "remora.n621.de+DA77ADE7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",  # upper-case ID
        "remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    ]:
        with pytest.raises(InvalidEncoding):
            note.parse_verifier_key(bad)


def test_real_witness_cosigned_checkpoint() -> None:
    opened = note.open_note(CT_CHECKPOINT, [CT_LOG_VKEY, *WITNESS_VKEYS])
    assert opened.body.startswith("arche2025h1.staging.ct.transparency.dev\n1432088532\n")
    assert opened.ignored_unknown == 1  # the log's RFC 6962 (type 0x05) signature
    assert [(s.sig_type, s.timestamp) for s in opened.signatures] == [
        (1, None), *[(4, CT_WITNESS_TIME)] * 4
    ]
    for witness in WITNESS_VKEYS:
        assert note.open_note(CT_CHECKPOINT, [witness]).signatures[0].timestamp == CT_WITNESS_TIME
        tampered = CT_CHECKPOINT.replace("\n1432088532\n", "\n1432088533\n")
        with pytest.raises(SignatureError):
            note.open_note(tampered, [witness])


def test_tlog_cosignature_specification_example_layout() -> None:
    # tlog-cosignature's example line and signed message: the 8 bytes after
    # the key ID are the big-endian time that the message spells in decimal.
    line = (
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
        "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    parsed = note.parse_note(body + "\n" + line)
    (signature,) = parsed.signatures
    assert len(signature.signature) == 72
    timestamp = int.from_bytes(signature.signature[:8], "big")
    assert timestamp == 1679315147
    assert note.cosignature_message(body, timestamp) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert signature.line == line


# --- vectors ---------------------------------------------------------------------------


def _reference_check(text: str, vkeys: list[str]) -> None:
    """Verify every trusted signature with hashlib and cryptography only."""
    body, _, block = text.rpartition("\n\n")
    body += "\n"
    trusted = {}
    for vkey in vkeys:
        name, key_id, material = vkey.split("+", 2)
        raw = base64.b64decode(material)
        assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_id
        trusted[(name, key_id)] = raw
    for line in block.splitlines():
        name, b64 = line.removeprefix("— ").split(" ")
        raw = base64.b64decode(b64)
        material = trusted.get((name, raw[:4].hex()))
        if material is None:
            continue
        public = Ed25519PublicKey.from_public_bytes(material[1:])
        if material[0] == 1:
            public.verify(raw[4:], body.encode())
        else:
            ts = int.from_bytes(raw[4:12], "big")
            public.verify(raw[12:], f"cosignature/v1\ntime {ts}\n".encode() + body.encode())


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid_vectors(case: dict[str, Any]) -> None:
    _reference_check(case["note"], case["verifier_keys"])
    opened = note.open_note(case["note"], case["verifier_keys"])
    assert opened.body == case["body"]
    assert [[s.name, s.timestamp] for s in opened.signatures] == case["signers"]
    assert opened.ignored_unknown == case["ignored_unknown"]
    parsed = note.parse_note(case["note"])
    assert note.format_note(parsed.body, parsed.signatures) == case["note"]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_vectors(case: dict[str, Any]) -> None:
    expected = getattr(errors, case["error"])
    with pytest.raises(expected) as caught:
        note.open_note(case["note"], case["verifier_keys"])
    assert type(caught.value) is expected, caught.value


def test_invalid_signature_vectors_fail_the_reference_too() -> None:
    # The bad-signature vectors must be bad for an independent verifier, not
    # only for the code under test.
    for case in VECTORS["invalid"]:
        if case["name"] in {"known_key_bit_flip", "known_key_bad_next_to_good",
                            "signed_other_body", "cosignature_leading_zero_timestamp",
                            "cosignature_time_mismatch"}:
            with pytest.raises(InvalidSignature):
                _reference_check(case["note"], case["verifier_keys"])


# --- signing and round trips --------------------------------------------------------------

SEED_A, SEED_B = bytes([1] * 32), bytes([2] * 32)
BODY = "vcledger.example/testnet\n42\n" + base64.b64encode(bytes(32)).decode() + "\n"


def _vkey(name: str, seed: bytes, sig_type: int = note.SIG_ED25519) -> str:
    return note.verifier_key(name, keys.public_key(seed), sig_type=sig_type)


@pytest.mark.parametrize(
    "body",
    [BODY, "\n", "a\n\nb\n", "é ü ✓ 𝄞\n", "ends with blank\n\n", "— looks like a sig x\n",
     "tab-free\x7fDEL is allowed\n"],
)
def test_sign_open_round_trip(body: str) -> None:
    text = note.sign(body, "a.example", SEED_A)
    assert note.verify(text, [_vkey("a.example", SEED_A)]) == body
    cosigned = note.add_cosignature(text, "b.example", SEED_B, 1_700_000_000)
    opened = note.open_note(
        cosigned, [_vkey("a.example", SEED_A), _vkey("b.example", SEED_B, 4)]
    )
    assert opened.body == body
    assert [s.timestamp for s in opened.signatures] == [None, 1_700_000_000]


def test_cosign_returns_one_line() -> None:
    line = note.cosign(BODY, "b.example", SEED_B, 5)
    assert line.startswith("— b.example ") and line.endswith("\n") and line.count("\n") == 1
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == note.key_id("b.example", 4, keys.public_key(SEED_B))
    assert raw[4:12] == (5).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 5\n" + BODY.encode()
    keys.verify_signature(keys.public_key(SEED_B), raw[12:], message)


def test_adding_a_signature_replaces_the_same_keys_old_one() -> None:
    first = BODY + "\n" + note.cosign(BODY, "b.example", SEED_B, 10)
    with_a = note.add_signature(first, "a.example", SEED_A)
    renewed = note.add_cosignature(with_a, "b.example", SEED_B, 20)
    lines = note.parse_note(renewed).signatures
    assert [(s.name, int.from_bytes(s.signature[:8], "big")) for s in lines[1:]] == [
        ("b.example", 20)
    ]
    assert lines[0].name == "a.example" and len(lines) == 2


def test_key_id_matches_an_independent_computation() -> None:
    public = keys.public_key(SEED_A)
    for sig_type in (1, 4):
        expected = hashlib.sha256(b"a.example\n" + bytes([sig_type]) + public).digest()[:4]
        assert note.key_id("a.example", sig_type, public) == expected
        vkey = note.verifier_key("a.example", public, sig_type=sig_type)
        assert vkey == "a.example+" + expected.hex() + "+" + base64.b64encode(
            bytes([sig_type]) + public
        ).decode()
        parsed = note.parse_verifier_key(vkey)
        assert parsed == note.Verifier("a.example", expected, sig_type, public)


@pytest.mark.parametrize(
    "name", ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\x85b", "x" * 256]
)
def test_invalid_names_cannot_sign_or_appear_in_notes(name: str) -> None:
    with pytest.raises(UsageError):
        note.sign(BODY, name, SEED_A)
    with pytest.raises(UsageError):
        note.verifier_key(name, keys.public_key(SEED_A))
    raw = bytes(4) + bytes(64)
    line = "— " + name + " " + base64.b64encode(raw).decode() + "\n"
    with pytest.raises(InvalidEncoding):
        note.parse_note(BODY + "\n" + line)


def test_unicode_names_without_spaces_are_fine() -> None:
    text = note.sign(BODY, "réseau.example/ü", SEED_A)
    assert note.verify(text, [_vkey("réseau.example/ü", SEED_A)]) == BODY


@pytest.mark.parametrize("bad", ["no newline", "a\r\nb\n", "a\x00\n", "a\x1b[0m\n", "\ud800\n"])
def test_bad_bodies_cannot_be_signed(bad: str) -> None:
    with pytest.raises(UsageError):
        note.sign(bad, "a.example", SEED_A)


@pytest.mark.parametrize("code", [c for c in range(0x20) if c != 0x0A])
def test_every_control_character_is_rejected(code: int) -> None:
    text = note.sign(BODY, "a.example", SEED_A)
    with pytest.raises(InvalidEncoding, match="control character"):
        note.open_note(text.replace("42", "4" + chr(code) + "2"), [_vkey("a.example", SEED_A)])


def test_lone_surrogate_is_rejected() -> None:
    with pytest.raises(InvalidEncoding, match="UTF-8"):
        note.parse_note("\ud800\n\n— a x\n")


@pytest.mark.parametrize("timestamp", [-1, 2**63, 2**64, True])
def test_cosign_rejects_impossible_timestamps(timestamp: int) -> None:
    with pytest.raises(UsageError):
        note.cosign(BODY, "b.example", SEED_B, timestamp)


def test_every_bit_flip_of_a_cosignature_is_rejected() -> None:
    vkey = _vkey("b.example", SEED_B, 4)
    line = note.cosign(BODY, "b.example", SEED_B, 1_700_000_000)
    raw = base64.b64decode(line.split(" ")[2])
    for bit in range(len(raw) * 8):
        bad = bytearray(raw)
        bad[bit // 8] ^= 1 << (bit % 8)
        text = BODY + "\n— b.example " + base64.b64encode(bytes(bad)).decode() + "\n"
        with pytest.raises(SignatureError):
            note.open_note(text, [vkey])


def test_signature_caps_are_checked_before_any_cryptography(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = note.sign(BODY, "a.example", SEED_A)[len(BODY) + 1 :]
    vkey = _vkey("a.example", SEED_A)
    assert len(note.open_note(BODY + "\n" + line * 100, [vkey]).signatures) == 1

    def no_crypto(*args: object) -> None:
        raise AssertionError("signature checked before the caps")

    monkeypatch.setattr(keys, "verify_signature", no_crypto)
    with pytest.raises(InvalidEncoding, match="at most 100"):
        note.open_note(BODY + "\n" + line * 101, [vkey])
    huge = "x" * note.MAX_NOTE_SIZE + "\n"
    with pytest.raises(InvalidEncoding, match="larger than"):
        note.open_note(huge + "\n" + line, [vkey])
    multibyte = "é" * (note.MAX_NOTE_SIZE // 2) + "\n"  # few characters, too many bytes
    with pytest.raises(InvalidEncoding, match="limit"):
        note.open_note(multibyte + "\n" + line, [vkey])


def test_future_cosignatures_are_not_counted_when_a_clock_is_given() -> None:
    now = 1_800_000_000
    vkeys = [_vkey("a.example", SEED_A, 4), _vkey("b.example", SEED_B, 4)]
    text = (
        BODY + "\n"
        + note.cosign(BODY, "a.example", SEED_A, now + note.MAX_FUTURE_DRIFT)
        + note.cosign(BODY, "b.example", SEED_B, now + note.MAX_FUTURE_DRIFT + 1)
    )
    assert len(note.open_note(text, vkeys).signatures) == 2  # no clock, no judgement
    opened = note.open_note(text, vkeys, now=now)
    assert [s.name for s in opened.signatures] == ["a.example"]
    assert opened.ignored_future == 1
    with pytest.raises(SignatureError, match="future"):
        note.open_note(text, vkeys[1:], now=now)


def test_verifier_lists() -> None:
    public = keys.public_key(SEED_A)
    verifier = note.Verifier.of("a.example", public)
    text = note.sign(BODY, "a.example", SEED_A)
    assert note.verify(text, [verifier, verifier.vkey]) == BODY  # repeats are harmless
    impostor = note.Verifier("a.example", verifier.key_id, 1, keys.public_key(SEED_B))
    with pytest.raises(UsageError, match="share"):
        note.open_note(text, [verifier, impostor])
    with pytest.raises(UsageError, match="list"):
        note.open_note(text, verifier.vkey)


def test_format_note_preconditions() -> None:
    parsed = note.parse_note(note.sign(BODY, "a.example", SEED_A))
    with pytest.raises(UsageError):
        note.format_note(BODY, [])
    with pytest.raises(UsageError):
        note.format_note("no newline", parsed.signatures)
    with pytest.raises(UsageError):
        note.format_note(BODY, parsed.signatures * 101)


def test_signature_lines_parse_alone_as_they_do_inside_a_note() -> None:
    """A node stores cosignature lines apart from the checkpoint body they sign."""
    two = PETER_SIG + ENOCH_SIG
    assert note.parse_signature_lines(two) == note.parse_note(GO_TEXT + "\n" + two).signatures
    assert "".join(s.line for s in note.parse_signature_lines(two)) == two


@pytest.mark.parametrize("bad", [
    "",
    PETER_SIG.rstrip("\n"),
    PETER_SIG + "\n",
    PETER_SIG.replace("\u2014", "-"),
    PETER_SIG.replace("\n", "\r\n"),
    PETER_SIG * (note.MAX_SIGNATURES + 1),
])
def test_malformed_signature_lines_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidEncoding):
        note.parse_signature_lines(bad)
