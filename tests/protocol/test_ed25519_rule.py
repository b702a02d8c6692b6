"""One Ed25519 verification rule (docs/protocol.md §3.1.1) in every verifying path.

Two kinds of input:

- the edge-case vectors of tests/vectors/ed25519_edge_cases.json (ed25519-speccheck's
  published cases plus our own), each a raw ``(public key, signature, message)`` triple
  with the rule's answer; and
- *constructions*: for any message, a key and signature with one edge property whose
  equation nevertheless holds (built here with a naive edwards25519 reference), so
  that only the rule's own checks can refuse them.  OpenSSL accepts several of them.

Paths that verify a raw triple get the vectors and constructions as they are:
``client.keys.verify_signature``, the signature workers' ``_verify_chunk``
(node/signatures.py) and the browser's ``ed25519Verify`` (client/web/verifier.js).
Paths that verify a whole signed object fix the message themselves (an event's signing
bytes, a vote's, a note's body, a cosignature's message), so they get the
constructions, made for that object's message with the object's signer replaced:
``SignedEvent.verify_signature``, ``SignatureChecker.check`` (inline and worker-pool
paths), ``node.wire.decode_vote`` and ``client.note`` Ed25519 and cosignature/v1 lines.
Every path must give the answer ``client.keys.verify_signature`` gives and the vector
or construction states.  Not fed here: ``client.vc`` eddsa-jcs-2022 proofs (they reach
the same ``verify_signature``; tests/client/test_vc.py covers them) and
``node.wire.decode_proposal`` (the same call as ``decode_vote``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client import encoding, keys, note
from client.errors import LedgerError, SignatureError
from client.events import SignedEvent, decode_event, encode_event, sign_event, signing_bytes
from node import wire
from node.consensus_types import Vote, VoteKind
from node.signatures import POOL_THRESHOLD, SignatureChecker, _verify_chunk
from tests.protocol_fixtures import CREATED, ISSUER, ORIGIN, sample_payloads

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "ed25519_edge_cases.json").read_text("utf-8"))
CASES: list[dict[str, Any]] = VECTORS["cases"]

REFUSAL_TEXT = {
    "public key small order": "public key .* is a point of small order",
    "public key not canonical": "public key .* is not canonically encoded",
    "S not below L": "S is not below the group order",
    "R not canonical": "R is not canonically encoded",
    "R small order": "R is a point of small order",
    "equation": "does not verify under key",
}


# --- a naive edwards25519 reference (RFC 8032 §5.1), slow and obviously written -----------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]
IDENTITY: Point = (0, 1, 1, 0)


def add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a, b = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    c, d = 2 * t1 * t2 * D % P, 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p: Point) -> Point:
    return (-p[0] % P, p[1], p[2], -p[3] % P)


def mul(scalar: int, p: Point) -> Point:
    q = IDENTITY
    while scalar:
        if scalar & 1:
            q = add(q, p)
        p, scalar = add(p, p), scalar >> 1
    return q


def same(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def decode(encoded: bytes) -> tuple[Point, bool] | None:
    """The point and whether its encoding is canonical; y is reduced mod p, as a lax
    decoder does.  None if no point has this y."""
    n = int.from_bytes(encoded, "little")
    sign, y_written = n >> 255, n & ((1 << 255) - 1)
    y = y_written % P
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    canonical = y_written < P and not (x == 0 and sign)
    if x & 1 != sign:
        x = -x % P
    return (x, y, 1, x * y % P), canonical


def encode(p: Point) -> bytes:
    z_inverse = pow(p[2], P - 2, P)
    x, y = p[0] * z_inverse % P, p[1] * z_inverse % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def small_order(p: Point) -> bool:
    return same(mul(8, p), IDENTITY)


B = decode((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))[0]  # type: ignore[index]


def challenge(r: bytes, public_key: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + public_key + message).digest(), "little") % L


def reference_rule(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """docs/protocol.md §3.1.1, written from the text: S < L; A and R canonical, on the
    curve and not of small order; encode([S]B - [k]A) == R."""
    a, r = decode(public_key), decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if s >= L or a is None or r is None or not a[1] or not r[1]:
        return False
    if small_order(a[0]) or small_order(r[0]):
        return False
    k = challenge(signature[:32], public_key, message)
    return encode(add(mul(s, B), neg(mul(k, a[0])))) == signature[:32]


# --- constructions ------------------------------------------------------------------------

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = keys.public_key(SEED)
SCALAR = (int.from_bytes(hashlib.sha512(SEED).digest()[:32], "little")
          & ((1 << 254) - 8)) | (1 << 254)
ORDER_8 = decode(bytes.fromhex(
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))[0]  # type: ignore[index]
MIXED_PUBLIC = encode(add(mul(SCALAR, B), ORDER_8))
"""[a]B plus a point of order 8: a key of mixed order, which the rule accepts."""
IDENTITY_BYTES = (1).to_bytes(32, "little")
IDENTITY_LONG = (P + 1).to_bytes(32, "little")
"""The identity with y written as p + 1: not canonical."""


def _mixed(message: bytes, want_torsion: bool) -> tuple[bytes, bytes]:
    # R = [r]B; the cofactorless equation leaves [k]T over, so it holds iff 8 divides k.
    for counter in range(1000):
        nonce = int.from_bytes(hashlib.sha512(counter.to_bytes(4, "big") + message).digest(),
                               "little") % L
        r = encode(mul(nonce, B))
        k = challenge(r, MIXED_PUBLIC, message)
        if (k % 8 != 0) == want_torsion:
            return MIXED_PUBLIC, r + ((nonce + k * SCALAR) % L).to_bytes(32, "little")
    raise AssertionError("no nonce found")


def _known_log_r(r: bytes, message: bytes) -> bytes:
    # R of discrete log 0 (the identity) under the TEST 1 key: S = k*a makes SB - kA = 0.
    return r + (challenge(r, PUBLIC, message) * SCALAR % L).to_bytes(32, "little")


CONSTRUCTIONS: dict[str, tuple[Callable[[bytes], tuple[bytes, bytes]], str | None]] = {
    "valid": (lambda m: (PUBLIC, keys.sign(SEED, m)), None),
    "mixed-order key": (lambda m: _mixed(m, want_torsion=False), None),
    "only the cofactored equation holds": (lambda m: _mixed(m, want_torsion=True), "equation"),
    "S + L": (lambda m: (PUBLIC, keys.sign(SEED, m)[:32] + (
        int.from_bytes(keys.sign(SEED, m)[32:], "little") + L).to_bytes(32, "little")),
        "S not below L"),
    "R the identity": (lambda m: (PUBLIC, _known_log_r(IDENTITY_BYTES, m)), "R small order"),
    "R the identity, y = p + 1": (lambda m: (PUBLIC, _known_log_r(IDENTITY_LONG, m)),
                                  "R not canonical"),
    "A and R the identity, S = 0": (lambda m: (IDENTITY_BYTES, IDENTITY_BYTES + bytes(32)),
                                    "public key small order"),
    "A the identity, y = p + 1": (lambda m: (IDENTITY_LONG, IDENTITY_BYTES + bytes(32)),
                                  "public key not canonical"),
}
"""name -> (message -> (public key, signature), the first check that refuses or None)."""


def keys_answer(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        keys.verify_signature(public_key, signature, message)
    except SignatureError:
        return False
    return True


# --- the vectors and constructions themselves ---------------------------------------------


def test_vectors_name_their_source_and_cover_every_speccheck_case() -> None:
    source = VECTORS["source"]
    assert source["repository"] == "https://github.com/novifinancial/ed25519-speccheck"
    assert len(source["commit"]) == 40
    assert [c["id"] for c in CASES[:12]] == [f"speccheck-{i}" for i in range(12)]
    assert [c["id"] for c in CASES if c["valid"]] == ["speccheck-3", "rfc8032-test1"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_written_rule_gives_each_vector_its_answer(case: dict[str, Any]) -> None:
    triple = (bytes.fromhex(case["public_key"]), bytes.fromhex(case["signature"]),
              bytes.fromhex(case["message"]))
    assert reference_rule(*triple) is case["valid"]


@pytest.mark.parametrize("name", CONSTRUCTIONS)
def test_constructions_satisfy_an_equation_and_break_only_their_one_rule(name: str) -> None:
    make, refused_by = CONSTRUCTIONS[name]
    message = b"any message"
    public_key, signature = make(message)
    a, r = decode(public_key), decode(signature[:32])
    assert a is not None and r is not None
    k = challenge(signature[:32], public_key, message)
    s = int.from_bytes(signature[32:], "little")
    leftover = add(add(mul(s, B), neg(mul(k, a[0]))), neg(r[0]))  # [S]B - [k]A - R
    assert small_order(leftover)  # the cofactored equation holds for every construction
    assert same(leftover, IDENTITY) is (refused_by != "equation")
    assert reference_rule(public_key, signature, message) is (refused_by is None)


# --- raw-triple paths -----------------------------------------------------------------------


def _raw_inputs() -> Iterator[tuple[str, bytes, bytes, bytes, bool, str | None]]:
    for case in CASES:
        yield (case["id"], bytes.fromhex(case["public_key"]), bytes.fromhex(case["signature"]),
               bytes.fromhex(case["message"]), case["valid"], case["refused_by"])
    message = b"vcledger edge case"
    for name, (make, refused_by) in CONSTRUCTIONS.items():
        public_key, signature = make(message)
        yield name, public_key, signature, message, refused_by is None, refused_by


RAW = list(_raw_inputs())


@pytest.mark.parametrize("raw", RAW, ids=[r[0] for r in RAW])
def test_verify_signature_answers_and_says_why(
        raw: tuple[str, bytes, bytes, bytes, bool, str | None]) -> None:
    _, public_key, signature, message, valid, refused_by = raw
    if valid:
        keys.verify_signature(public_key, signature, message)
    else:
        with pytest.raises(SignatureError, match=REFUSAL_TEXT[str(refused_by)]):
            keys.verify_signature(public_key, signature, message)


def test_signature_workers_answer_alike() -> None:
    triples = [(public_key, signature, message) for _, public_key, signature, message, _, _ in RAW]
    assert _verify_chunk(triples) == [valid for *_, valid, _ in RAW]


def test_libsodium_alone_refuses_what_the_rule_refuses() -> None:
    """The rule's byte checks duplicate libsodium's on this build: they only matter for a
    libsodium that differs (docs/protocol.md §3.1.1).  Measured, not assumed."""
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import BadSignatureError

    for _, public_key, signature, message, valid, _ in RAW:
        try:
            crypto_sign_open(signature + message, public_key)
        except BadSignatureError:
            assert not valid
        else:
            assert valid


# --- whole signed objects -----------------------------------------------------------------


def _events() -> list[tuple[SignedEvent, bool]]:
    """One event per construction, signer and signature replaced, each for its own signing
    bytes; the payloads differ so their hashes do."""
    out = []
    for (payload, _), (name, (make, refused_by)) in zip(
            sample_payloads(), CONSTRUCTIONS.items(), strict=False):
        created = CREATED + len(out)
        unsigned = sign_event(payload, origin=ORIGIN, key=ISSUER, created=created)
        public_key, _ = make(b"")
        _, signature = make(signing_bytes(ORIGIN, payload, created, public_key))
        event = decode_event(encode_event(payload, created, public_key, signature))
        assert dataclasses.replace(unsigned, signer=public_key, signature=signature,
                                   encoded=event.encoded, hash=event.hash) == event, name
        out.append((event, refused_by is None))
    assert len(out) == len(CONSTRUCTIONS), "protocol_fixtures has too few sample payloads"
    return out


def test_event_signatures_follow_the_rule() -> None:
    for event, valid in _events():
        message = signing_bytes(ORIGIN, event.payload, event.created, event.signer)
        assert keys_answer(event.signer, event.signature, message) is valid
        try:
            event.verify_signature(ORIGIN)
        except SignatureError:
            assert not valid
        else:
            assert valid


@pytest.mark.parametrize("workers", [1, 2], ids=["inline", "pool"])
def test_the_nodes_signature_checker_follows_the_rule(workers: int) -> None:
    events = _events()
    # Enough honest events to cross the pool threshold, so workers=2 takes the pool path.
    padding = [(sign_event(payload, origin=ORIGIN, key=key, created=CREATED + 1000 + i), True)
               for i, (payload, key) in enumerate(sample_payloads() * POOL_THRESHOLD)]
    batch = events + padding[:max(0, POOL_THRESHOLD - len(events))] if workers > 1 else events
    checker = SignatureChecker(ORIGIN, workers=workers)
    try:
        verdicts = asyncio.run(asyncio.wait_for(checker.check([e for e, _ in batch]), 120))
    finally:
        checker.close()
    assert verdicts == [valid for _, valid in batch]


def test_votes_follow_the_rule() -> None:
    for name, (make, refused_by) in CONSTRUCTIONS.items():
        vote = Vote(VoteKind.PREVOTE, 7, 0, bytes(range(32)), make(b"")[0])
        public_key, signature = make(wire.vote_sign_bytes(ORIGIN, vote.kind, vote.height,
                                                          vote.round, vote.block_id))
        signed = encoding.pack([wire.WIRE_VERSION, int(vote.kind), vote.height, vote.round,
                                vote.block_id, public_key, signature])
        try:
            wire.decode_vote(signed, ORIGIN, [public_key])
        except SignatureError:
            assert refused_by is not None, name
        else:
            assert refused_by is None, name


BODY = "vcledger.example/test\n5\nq6ytqK2UJ9Zq+0tmtk3/J+aBSHgrtBpb6j1o/K1Ct/0=\n"


def _open(text: str, verifier: str) -> bool:
    try:
        note.open_note(text, [verifier])
    except SignatureError:
        return False
    return True


@pytest.mark.parametrize("cosignature", [False, True], ids=["ed25519", "cosignature-v1"])
def test_note_signatures_follow_the_rule(cosignature: bool) -> None:
    timestamp = 1_780_000_000
    for name, (make, refused_by) in CONSTRUCTIONS.items():
        public_key = make(b"")[0]
        if cosignature:
            message = note.cosignature_message(BODY, timestamp)
            sig_type = note.SIG_COSIGNATURE_V1
        else:
            message, sig_type = BODY.encode("utf-8"), note.SIG_ED25519
        public_key, signature = make(message)
        if cosignature:
            signature = timestamp.to_bytes(8, "big") + signature
        line = note.NoteSignature("witness", note.key_id("witness", sig_type, public_key),
                                  signature)
        try:
            verifier = note.verifier_key("witness", public_key, sig_type=sig_type)
        except LedgerError as exc:
            pytest.fail(f"{name}: a verifier key for a refused point is itself refused: {exc}")
        assert _open(note.format_note(BODY, [line]), verifier) is (refused_by is None), name


# --- the browser ----------------------------------------------------------------------------

CHROMIUM = os.environ.get("VCLEDGER_CHROMIUM") or shutil.which("chromium")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


def test_the_browser_verifier_answers_alike(tmp_path: Path) -> None:
    if CHROMIUM is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    inputs = [{"name": name, "publicKey": public_key.hex(), "signature": signature.hex(),
               "message": message.hex()} for name, public_key, signature, message, _, _ in RAW]
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update"])
        try:
            page = context.new_page()
            page.goto((ROOT / "client" / "web" / "index.html").as_uri())
            got = page.evaluate("""async (inputs) => {
                const bytes = (text) => Uint8Array.from(text.match(/../g) || [],
                                                        (b) => parseInt(b, 16));
                const verify = window.vcledger.internals.ed25519Verify;
                const out = [];
                for (const c of inputs) {
                    out.push(await verify(bytes(c.publicKey), bytes(c.signature),
                                          bytes(c.message)));
                }
                return out;
            }""", inputs)
        finally:
            context.close()
    assert dict(zip([r[0] for r in RAW], got, strict=True)) == {r[0]: r[4] for r in RAW}
