"""Hostile input against every decoder of the client library, and the CLI over the same files.

Property, for every edge: whatever the bytes or text, the decoder returns a value or
raises the one documented :mod:`client.errors` class with a message a user can act on
(``diagnostics()`` not empty); never another exception type, never a hang.  Where a
decoder accepts a mutated input, a second property says the mutation changed nothing
that a signature or a proof vouches for (no malleability).

Inputs come from hypothesis: random bytes and text, mutations of valid protocol
objects (bit flips, truncation, insertion, deletion, duplication, splicing), and
hostile JSON built from valid documents (members replaced by random JSON values,
duplicate member names, NaN and Infinity, huge integers, deep nesting, bad UTF-8,
byte order marks, lone surrogates).  The example counts are small and derandomised
in CI and large and random with ``--long``; every test records how many inputs it
tried (``record_figure``), which docs/reliability.md reports.

The CLI part runs ``client.cli.main`` in process with hostile bundle, trust,
credential, receipt and key files: every outcome is a documented exit code with a
one-line ``vcledger: error:`` message or a verdict, never "internal error".
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from client import credentials, encoding, note, strictjson
from client.block import decode_header, decode_leaf
from client.bundle import (
    BundleFormatError,
    ReceiptFormatError,
    parse_bundle,
    parse_receipt,
)
from client.checkpoint import parse_checkpoint, verify_checkpoint
from client.cli import main as cli_main
from client.errors import InvalidEncoding, KeyFileError, LedgerError, VerificationError
from client.events import decode_event
from client.hashes import hash_from_hex
from client.keys import KeyPair, public_key_from_did, read_key_file, write_key_file
from client.smt import SmtProof
from client.state import StateFileError, load_remembered
from client.status import decode_record
from client.strictjson import JsonError
from client.tlogproof import parse_tlog_proof
from client.trust import TrustFileError, load_trust, parse_trust
from client.verify import STEPS, verify_bundle
from tests.protocol_fixtures import ORIGIN, sample_events

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
VALID = json.loads((VECTORS / "bundle_valid.json").read_text())
NOTES = json.loads((VECTORS / "note_vectors.json").read_text())
TLOG = json.loads((VECTORS / "tlogproof_vectors.json").read_text())
HEADER = json.loads((VECTORS / "block_header.json").read_text())
SMT = json.loads((VECTORS / "smt_valid.json").read_text())
RECORDS = json.loads((VECTORS / "status_records.json").read_text())
TRUST = parse_trust(json.dumps(VALID["trust"]))
CASES = {case["name"]: case for case in VALID["cases"]}

EVENTS = [event.encoded for event in sample_events()]
HEADER_LEAF = bytes.fromhex(HEADER["encoded"])
CHECKPOINT_NOTE: str = VALID["checkpoint_note"]


# -- settings and bookkeeping ---------------------------------------------------------------


def fuzz_settings(long_mode: bool, bounded: int = 150, long: int = 5000) -> settings:
    """CI: a fixed, derandomised sample; --long: many more, freshly random each run."""
    return settings(max_examples=long if long_mode else bounded, deadline=None, database=None,
                    derandomize=not long_mode, suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])


class Tally:
    """Counts the inputs tried and the outcomes per edge, for record_figure."""

    def __init__(self) -> None:
        self.tried: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        """Keyed ``edge|outcome``."""

    def record(self, record_figure: Callable[..., None]) -> None:
        for edge, count in sorted(self.tried.items()):
            outcomes = {k.split("|", 1)[1]: v for k, v in self.outcomes.items()
                        if k.split("|", 1)[0] == edge}
            record_figure("inputs_tried", count, edge=edge, outcomes=outcomes)


REJECTED: Any = object()
"""What :func:`expect_only` returns when the input was refused (None is a valid value)."""


def expect_only(tally: Tally, edge: str, error: type[LedgerError],
                function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args)``; the only exception allowed is ``error``, with a usable message.

    Any other exception propagates, so hypothesis reports the input that caused it.
    Returns the value, or :data:`REJECTED`.
    """
    tally.tried[edge] += 1
    try:
        value = function(*args, **kwargs)
    except error as exc:
        message = exc.diagnostics()
        assert isinstance(message, str) and message.strip(), (edge, exc)
        tally.outcomes[f"{edge}|{type(exc).__name__}"] += 1
        return REJECTED
    tally.outcomes[f"{edge}|accepted"] += 1
    return value


# -- strategies -----------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, base: bytes, max_mutations: int = 4) -> bytes:
    """``base`` after 1..max_mutations random edits: the fuzzer's classic moves."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        move = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate",
                                     "duplicate", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if move == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif move == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xC0, 0xC1, 0xFF, 0x0A, 0x20]))
        elif move == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif move == "delete" and data:
            del data[at:at + draw(st.integers(1, 16))]
        elif move == "truncate":
            del data[at:]
        elif move == "duplicate" and data:
            end = min(len(data), at + draw(st.integers(1, 32)))
            data[at:at] = data[at:end]
        elif move == "splice":
            data[at:at] = draw(st.sampled_from(EVENTS))[:draw(st.integers(1, 64))]
    return bytes(data)


def mutated_text(base: str, max_mutations: int = 4) -> st.SearchStrategy[str]:
    """Text mutations through the UTF-8 bytes; broken sequences come out as lone
    surrogates (surrogateescape), which no decoder may choke on."""
    return mutated(base.encode(), max_mutations).map(
        lambda raw: raw.decode("utf-8", "surrogateescape"))


PACKABLE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.binary(max_size=40) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=6), max_leaves=20)

HOSTILE_MSGPACK = [
    b"\x91" * 200 + b"\xc0",                   # arrays nested 200 deep
    b"\xdd\xff\xff\xff\xff",                   # an array of 4 G items, then nothing
    b"\xdb\xff\xff\xff\xff" + b"a" * 10,       # a 4 GiB string header
    b"\xc6\x7f\xff\xff\xff",                   # a 2 GiB byte string header
    b"\x81\x01\x02",                           # a map
    b"\xcb" + b"\x7f\xf8" + b"\x00" * 6,       # a float (NaN)
    b"\xd4\x01\x00",                           # an extension type
    b"\xa1\xff",                               # a string that is not UTF-8
    b"\xa2\xed\xa0",                           # a UTF-8 surrogate
    b"\xcc\x01",                               # 1 in two bytes: not the shortest form
    b"\xd3\x80" + b"\x00" * 7,                 # int64 minimum
    b"\xcf" + b"\xff" * 8,                     # uint64 maximum
    b"\xc1",                                   # the one byte msgpack never uses
    b"\x90\x90",                               # trailing bytes
    b"",
]


def msgpack_inputs(bases: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=512),
        PACKABLE.map(lambda value: msgpack.packb(value, use_bin_type=True)),
        st.sampled_from(bases).flatmap(mutated),
        st.sampled_from(HOSTILE_MSGPACK),
    )


JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.text(max_size=30)
                | st.floats(allow_nan=False, allow_infinity=False))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)

JSON_INJECTIONS = [
    "NaN", "Infinity", "-Infinity", "1e999", "-0", "1" * 4400, "-" + "9" * 5000,
    "[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, '"\\ud800"', '"\\u0000"',
    '"' + "x" * 70_000 + '"', "[" + ",".join(["0"] * 20_000) + "]", "true", "null", '""',
]


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


_DELETE = object()


@st.composite
def hostile_json(draw: st.DrawFn, base: Any) -> bytes:
    """A hostile variant of the JSON document ``base``, as bytes."""
    text = json.dumps(base, indent=draw(st.sampled_from([None, 2])))
    move = draw(st.sampled_from(["replace", "delete", "add", "inject", "duplicate", "bytes",
                                 "encoding"]))
    if move in ("replace", "delete"):
        paths = list(_paths(base))
        path = draw(st.sampled_from(paths[1:] or paths))
        value = _DELETE if move == "delete" and path else draw(JSON_VALUES)
        return json.dumps(_replace(base, path, value)).encode()
    if move == "add" and isinstance(base, dict):
        extra = {**base, draw(st.text(max_size=12)): draw(JSON_VALUES)}
        return json.dumps(extra).encode()
    if move == "inject":
        # Put a hostile token where a value starts: after a colon, comma or bracket.
        spots = [i + 1 for i, c in enumerate(text) if c in ":,["] or [0]
        at = draw(st.sampled_from(spots))
        token = draw(st.sampled_from(JSON_INJECTIONS))
        end = at + draw(st.integers(0, 80))
        return (text[:at] + token + text[end:]).encode("utf-8", "surrogatepass")
    if move == "duplicate" and isinstance(base, dict) and base:
        key = draw(st.sampled_from(sorted(base)))
        value = json.dumps(draw(JSON_VALUES | st.just(base[key])))
        return ("{" + json.dumps(key) + ": " + value + ", " + text[1:]).encode()
    if move == "encoding":
        raw = text.encode()
        choice = draw(st.sampled_from(["bom", "utf16", "latin1", "nul", "badbyte"]))
        if choice == "bom":
            return b"\xef\xbb\xbf" + raw
        if choice == "utf16":
            return text.encode("utf-16")
        if choice == "latin1":
            return text.replace('"', '"\xe9', 1).encode("latin-1", "replace")
        if choice == "nul":
            return raw[:len(raw) // 2] + b"\x00" + raw[len(raw) // 2:]
        return raw[:len(raw) // 3] + b"\xc3\x28" + raw[len(raw) // 3:]
    return draw(mutated(text.encode()))


def json_inputs(base: Any) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), hostile_json(base))


# -- the canonical decoder and the binary formats --------------------------------------------


def test_canonical_decoder(long_mode: bool, record_figure: Callable[..., None]) -> None:
    tally = Tally()

    @fuzz_settings(long_mode, bounded=300, long=20_000)
    @given(msgpack_inputs([*EVENTS, HEADER_LEAF]))
    def check(data: bytes) -> None:
        value = expect_only(tally, "encoding.unpack", InvalidEncoding, encoding.unpack, data,
                            max_size=4096, what="fuzz")
        if value is not REJECTED:
            # Accepted: then it was the one canonical encoding of what it decoded to.
            assert encoding.pack(value) == data

    check()
    tally.record(record_figure)
    assert tally.outcomes["encoding.unpack|InvalidEncoding"] > 0


def test_many_tiny_arrays_are_refused_before_they_are_built() -> None:
    """Regression: 4 MiB of empty arrays decoded to four million lists (300 MB, and 3 to
    10 s of garbage collection in the node's event loop) before any check looked at them."""
    count = 4 * 1024 * 1024 - 5
    hostile = b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count
    started = time.monotonic()
    with pytest.raises(InvalidEncoding, match="more arrays than"):
        encoding.unpack(hostile, max_size=8 << 20, what="batch")
    assert time.monotonic() - started < 5.0  # (0.1 s alone; it was 3 s before the fix)
    # Dense but legitimate structures still decode: an 8 MB block of 2000 events.
    block = encoding.pack([1, b"h" * 300, [b"e" * 4096] * 2000, None])
    assert len(encoding.unpack(block, max_size=9 << 20, what="block")[2]) == 2000
    nested = encoding.pack([[[b"x" * 13] * 4] * 2000])  # one array per 16 bytes or fewer
    assert len(nested) > encoding.ARRAYS_COUNTED_ABOVE
    assert len(encoding.unpack(nested, max_size=1 << 20, what="nested")[0]) == 2000


def test_event_and_leaf_decoders(long_mode: bool, record_figure: Callable[..., None]) -> None:
    tally = Tally()
    originals = set(EVENTS)

    @fuzz_settings(long_mode, bounded=300, long=20_000)
    @given(msgpack_inputs([*EVENTS, HEADER_LEAF]))
    def check(data: bytes) -> None:
        event = expect_only(tally, "events.decode_event", InvalidEncoding, decode_event, data)
        expect_only(tally, "block.decode_leaf", InvalidEncoding, decode_leaf, data)
        expect_only(tally, "block.decode_header", InvalidEncoding, decode_header, data)
        if event is not REJECTED:
            verified = expect_only(tally, "SignedEvent.verify_signature", VerificationError,
                                   event.verify_signature, ORIGIN)
            if verified is not REJECTED:
                # A signature covers every byte: only the original events verify.
                assert data in originals, data.hex()

    check()
    tally.record(record_figure)


def test_status_records_and_smt_proofs(long_mode: bool,
                                       record_figure: Callable[..., None]) -> None:
    tally = Tally()
    records = [bytes.fromhex(case["encoded"]) for case in RECORDS["records"]]
    proofs = [bytes.fromhex(proof["proof"]) for tree in SMT["maps"] for proof in tree["proofs"]]

    @fuzz_settings(long_mode)
    @given(msgpack_inputs(records + proofs), st.text(max_size=80))
    def check(data: bytes, text: str) -> None:
        expect_only(tally, "status.decode_record", InvalidEncoding, decode_record, data)
        expect_only(tally, "SmtProof.decode", InvalidEncoding, SmtProof.decode, data)
        expect_only(tally, "SmtProof.from_hex", InvalidEncoding, SmtProof.from_hex, data.hex())
        expect_only(tally, "SmtProof.from_hex", InvalidEncoding, SmtProof.from_hex, text)

    check()
    tally.record(record_figure)


# -- signed notes, checkpoints, tlog proofs ------------------------------------------------------


def note_inputs() -> st.SearchStrategy[str]:
    notes = [case["note"] for case in NOTES["valid"]] + [CHECKPOINT_NOTE]
    return st.one_of(
        st.text(max_size=300),
        st.sampled_from(notes).flatmap(mutated_text),
        # Structure-aware: valid bodies with random signature lines, and the reverse.
        st.tuples(st.sampled_from(notes), st.text(max_size=120)).map(
            lambda pair: pair[0].partition("\n\n")[0] + "\n\n\u2014 " + pair[1] + "\n"),
    )


def test_signed_note_parser(long_mode: bool, record_figure: Callable[..., None]) -> None:
    tally = Tally()
    bodies = {case["note"].rpartition("\n\n")[0] + "\n" for case in NOTES["valid"]}
    bodies.add(CHECKPOINT_NOTE.rpartition("\n\n")[0] + "\n")
    keys = [*NOTES["verifier_keys"].values(),
            *(v["verifier_key"] for v in VALID["trust"]["validators"])]

    @fuzz_settings(long_mode, bounded=300, long=20_000)
    @given(note_inputs(), st.text(max_size=200))
    def check(text: str, key_text: str) -> None:
        expect_only(tally, "note.parse_note", InvalidEncoding, note.parse_note, text)
        opened = expect_only(tally, "note.open_note", VerificationError, note.open_note, text,
                             keys)
        if opened is not REJECTED:
            # A signature binds the body: no mutation can change it and still verify.
            assert opened.body in bodies, text
        expect_only(tally, "note.parse_verifier_key", InvalidEncoding,
                    note.parse_verifier_key, key_text)

    check()
    tally.record(record_figure)


def test_checkpoint_and_tlog_proof_parsers(long_mode: bool,
                                          record_figure: Callable[..., None]) -> None:
    tally = Tally()
    texts = [case["text"] for case in TLOG["valid"]] + [
        CASES["direct_valid"]["bundle"]["event_proof"]]
    original = verify_checkpoint(CHECKPOINT_NOTE, TRUST.origin, TRUST.verifiers(),
                                 TRUST.threshold).checkpoint
    body = CHECKPOINT_NOTE.partition("\n\n")[0] + "\n"

    @fuzz_settings(long_mode, bounded=300, long=20_000)
    @given(st.one_of(st.text(max_size=200), st.sampled_from(texts).flatmap(mutated_text)),
           st.one_of(st.text(max_size=100), mutated_text(body)),
           st.one_of(note_inputs(), mutated_text(CHECKPOINT_NOTE)))
    def check(proof_text: str, body_text: str, note_text: str) -> None:
        expect_only(tally, "tlogproof.parse_tlog_proof", InvalidEncoding, parse_tlog_proof,
                    proof_text)
        expect_only(tally, "checkpoint.parse_checkpoint", InvalidEncoding, parse_checkpoint,
                    body_text)
        verified = expect_only(tally, "checkpoint.verify_checkpoint", VerificationError,
                               verify_checkpoint, note_text, TRUST.origin, TRUST.verifiers(),
                               TRUST.threshold)
        if verified is not REJECTED:
            assert verified.checkpoint == original

    check()
    tally.record(record_figure)


# -- bundles, receipts, trust files, credentials -----------------------------------------------


def test_bundle_parser_and_verifier(long_mode: bool, record_figure: Callable[..., None]) -> None:
    tally = Tally()
    names = sorted(CASES)
    expected = {name: verify_bundle(json.dumps(CASES[name]["bundle"]), TRUST, digest_only=True)
                for name in names}

    @fuzz_settings(long_mode, bounded=200, long=10_000)
    @given(st.sampled_from(names).flatmap(
        lambda name: st.tuples(st.just(name), json_inputs(CASES[name]["bundle"]))))
    def check(case: tuple[str, bytes]) -> None:
        name, data = case
        expect_only(tally, "bundle.parse_bundle", BundleFormatError, parse_bundle, data)
        tally.tried["verify.verify_bundle"] += 1
        # Never raises: a verdict for anything.
        verdict = verify_bundle(data, TRUST, digest_only=True)
        tally.outcomes[f"verify.verify_bundle|{verdict.status}"] += 1
        assert verdict.message.strip()
        if verdict.status != "invalid":
            # Whatever still verifies says exactly what the original said.
            want = expected[name]
            assert (verdict.status, verdict.issuer, verdict.credential_digest,
                    verdict.event_index, verdict.revocation) == (
                want.status, want.issuer, want.credential_digest, want.event_index,
                want.revocation), data[:300]
        else:
            assert verdict.step is not None and 1 <= verdict.step <= len(STEPS)

    check()
    tally.record(record_figure)


def test_receipt_parser(long_mode: bool, record_figure: Callable[..., None]) -> None:
    tally = Tally()
    receipt = CASES["batch_valid"]["receipt"]

    @fuzz_settings(long_mode)
    @given(json_inputs(receipt))
    def check(data: bytes) -> None:
        expect_only(tally, "bundle.parse_receipt", ReceiptFormatError, parse_receipt, data)

    check()
    tally.record(record_figure)


def test_trust_file_loader(long_mode: bool, record_figure: Callable[..., None],
                           tmp_path: Path) -> None:
    tally = Tally()
    path = tmp_path / "trust.json"

    @fuzz_settings(long_mode)
    @given(json_inputs(VALID["trust"]))
    def check(data: bytes) -> None:
        expect_only(tally, "trust.parse_trust", TrustFileError, parse_trust, data)
        path.write_bytes(data)
        expect_only(tally, "trust.load_trust", TrustFileError, load_trust, path)

    check()
    for unusable in (tmp_path / "missing.json", tmp_path):
        expect_only(tally, "trust.load_trust", TrustFileError, load_trust, unusable)
    tally.record(record_figure)


def test_credential_parsing(long_mode: bool, record_figure: Callable[..., None]) -> None:
    tally = Tally()
    credential = json.loads(CASES["direct_valid"]["credential_json"])

    @fuzz_settings(long_mode, bounded=300, long=20_000)
    @given(json_inputs(credential))
    def check(data: bytes) -> None:
        expect_only(tally, "credentials.digest", credentials.CredentialError,
                    credentials.digest, data)
        expect_only(tally, "strictjson.loads", JsonError, strictjson.loads, data,
                    what="fuzz", max_size=1 << 20)

    check()
    tally.record(record_figure)


# -- identifiers, hex, key files, monitor state ------------------------------------------------


def test_identifiers_and_hex(long_mode: bool, record_figure: Callable[..., None]) -> None:
    tally = Tally()
    did = KeyPair.from_seed(b"\x01" * 32).did
    digest_hex = "ab" * 32

    @fuzz_settings(long_mode, bounded=300, long=20_000)
    @given(st.one_of(st.text(max_size=80), mutated_text(did)),
           st.one_of(st.text(max_size=70), mutated_text(digest_hex),
                     st.text("0123456789abcdef \t\n\x0b\x0c\r", min_size=64, max_size=64)))
    def check(did_text: str, hex_text: str) -> None:
        expect_only(tally, "keys.public_key_from_did", InvalidEncoding, public_key_from_did,
                    did_text)
        value = expect_only(tally, "hashes.hash_from_hex", InvalidEncoding, hash_from_hex,
                            hex_text)
        if value is not REJECTED:
            assert len(value) == 32 and value.hex() == hex_text

    check()
    tally.record(record_figure)


def test_hash_from_hex_refuses_whitespace() -> None:
    """Regression: bytes.fromhex skips whitespace, so 64 characters with spaces gave a
    'hash' of fewer than 32 bytes (the API then answered a status proof for it)."""
    for text in ("00 " * 20 + "0000", "\t" + "ab" * 31 + "a", "ab" * 31 + "\n\n"):
        assert len(text) == 64
        with pytest.raises(InvalidEncoding):
            hash_from_hex(text)


def test_huge_json_integers_are_json_errors() -> None:
    """Regression: Python refuses to convert integers of more than 4300 digits with a
    ValueError that escaped strictjson (a 500 from the API, an internal error in the CLI)."""
    for document in (b"[" + b"1" * 4301 + b"]", b'{"a": -' + b"9" * 10_000 + b"}"):
        with pytest.raises(JsonError, match="too long"):
            strictjson.loads(document, what="document", max_size=1 << 20)
    with pytest.raises(credentials.CredentialError):
        credentials.digest(b'{"n": ' + b"7" * 5000 + b"}")


def test_lone_surrogates_in_member_names_are_credential_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression (found by test_credential_parsing under --long): rfc8785 sorts member
    names by their UTF-16 form and raised UnicodeEncodeError for a name with a lone
    surrogate; the CLI answered "internal error"."""
    for document in (b'{"\\ud800": 1}', b'{"a": {"\\udfff": [1]}}'):
        with pytest.raises(credentials.CredentialError, match="lone surrogate"):
            credentials.digest(document)
    path = tmp_path / "credential.json"
    path.write_bytes(b'{"\\ud800": 1}')
    code, _, err = _cli(capsys, "issue", str(path), "--key", str(tmp_path / "none.key"),
                        "--node", "http://127.0.0.1:1")
    assert code == 1 and "lone surrogate" in err and "internal error" not in err, err


def test_key_file_loader(long_mode: bool, record_figure: Callable[..., None],
                         tmp_path: Path) -> None:
    tally = Tally()
    good = tmp_path / "good.key"
    write_key_file(good, b"\x07" * 32)
    pem = good.read_bytes()
    path = tmp_path / "fuzz.key"

    @fuzz_settings(long_mode, bounded=100, long=3000)
    @given(st.one_of(st.binary(max_size=300), mutated(pem)),
           st.sampled_from([0o600, 0o400, 0o640, 0o644, 0o604, 0o000]))
    def check(data: bytes, mode: int) -> None:
        path.unlink(missing_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
        key = expect_only(tally, "keys.read_key_file", KeyFileError, read_key_file, path)
        if key is not REJECTED:
            assert mode & 0o077 == 0  # (root reads mode 0o000 files too)

    check()
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    for unusable in (tmp_path / "absent.key", tmp_path, fifo):
        expect_only(tally, "keys.read_key_file", KeyFileError, read_key_file, unusable)
    tally.record(record_figure)


def test_a_key_file_openssl_cannot_load_is_a_key_file_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression (found by test_key_file_loader under --long): PKCS#8 naming X448 with a
    32-byte key made cryptography raise InternalError, not ValueError; the CLI printed
    "internal error" and the node would have died with a traceback."""
    path = tmp_path / "x448.key"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n"
                     b"MC4CAQAwBQYDK2VvBCIEIABBBBBBBBBBFFFFFFFFFFF11111111111wwwwwwwwww\n"
                     b"-----END PRIVATE KEY-----\n")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="OpenSSL cannot load"):
        read_key_file(path)
    credential = tmp_path / "c.json"
    credential.write_text("{}")
    code, out, err = _cli(capsys, "issue", str(credential), "--key", str(path), "--node",
                          "http://127.0.0.1:1")
    assert code == 1 and out == "" and err.startswith("vcledger: error: key file "), err


def test_monitor_state_loader(long_mode: bool, record_figure: Callable[..., None],
                              tmp_path: Path) -> None:
    tally = Tally()
    path = tmp_path / "state.json"
    state = {"format": "vcledger-monitor/v1", "origin": TRUST.origin, "node": "n",
             "checkpoint": CHECKPOINT_NOTE}

    @fuzz_settings(long_mode, bounded=100, long=3000)
    @given(json_inputs(state))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        expect_only(tally, "state.load_remembered", StateFileError, load_remembered, path,
                    TRUST)

    check()
    tally.record(record_figure)


# -- the CLI over hostile files ------------------------------------------------------------------


CLI_EXIT_CODES = {0, 1, 2, 3, 4}


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_clean_failure(code: int, out: str, err: str, allowed: set[int]) -> None:
    assert code in allowed, (code, out, err)
    assert "internal error" not in err and "Traceback" not in err + out, err
    if code in (1, 2):
        assert err.startswith("vcledger: error: ") and len(err.splitlines()) == 1, err


def test_cli_with_hostile_files(long_mode: bool, record_figure: Callable[..., None],
                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally()
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(VALID["trust"]))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(CASES["batch_valid"]["bundle"]))
    credential = tmp_path / "credential.json"
    credential.write_text(CASES["batch_valid"]["credential_json"])
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(CASES["batch_valid"]["receipt"]))
    key = tmp_path / "issuer.key"
    write_key_file(key, b"\x03" * 32)
    hostile = tmp_path / "hostile"
    closed = "http://127.0.0.1:1"

    def write(data: bytes) -> str:
        hostile.write_bytes(data)
        os.chmod(hostile, 0o600)
        return str(hostile)

    @fuzz_settings(long_mode, bounded=40, long=1500)
    @given(st.sampled_from(["bundle", "trust", "credential", "receipt", "key"]).flatmap(
        lambda kind: st.tuples(st.just(kind), {
            "bundle": json_inputs(CASES["batch_valid"]["bundle"]),
            "trust": json_inputs(VALID["trust"]),
            "credential": json_inputs(json.loads(CASES["batch_valid"]["credential_json"])),
            "receipt": json_inputs(CASES["batch_valid"]["receipt"]),
            "key": st.one_of(st.binary(max_size=200), mutated(key.read_bytes())),
        }[kind])))
    def check(case: tuple[str, bytes]) -> None:
        kind, data = case
        path = write(data)
        tally.tried[f"cli:{kind}"] += 1
        if kind == "bundle":
            code, out, err = _cli(capsys, "verify", path, "--trust", str(trust),
                                  "--digest-only", "--max-age", "none")
            _assert_clean_failure(code, out, err, {0, 3, 4})
            if code == 4:
                assert out.startswith("invalid: step "), out
        elif kind == "trust":
            code, out, err = _cli(capsys, "verify", str(bundle), "--trust", path,
                                  "--digest-only", "--max-age", "none")
            _assert_clean_failure(code, out, err, {0, 2, 4, 5})
        elif kind == "credential":
            code, out, err = _cli(capsys, "verify", str(bundle), "--trust", str(trust),
                                  "--credential", path, "--max-age", "none")
            _assert_clean_failure(code, out, err, {0, 1, 4, 6})
        elif kind == "receipt":
            code, out, err = _cli(capsys, "revoke", str(credential), "--receipt", path,
                                  "--reason", "fraud", "--key", str(key), "--node", closed)
            _assert_clean_failure(code, out, err, {1, 2})
        else:
            code, out, err = _cli(capsys, "issue", str(credential), "--key", path,
                                  "--node", closed)
            _assert_clean_failure(code, out, err, {1})
        tally.outcomes[f"cli:{kind}|exit {code}"] += 1

    check()
    tally.record(record_figure)


def test_cli_messages_cannot_steer_the_terminal(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: a member name of a hostile trust file or bundle reached the terminal
    raw, so a carriage return and an escape sequence could paint "valid" over the
    verdict (found by test_cli_with_hostile_files with --long)."""
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(VALID["trust"]))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(CASES["direct_valid"]["bundle"]))
    paint = "\r\x1b[2K\x1b[32mvalid: issued by you\u202e"
    hostile_trust = tmp_path / "hostile-trust.json"
    hostile_trust.write_text(json.dumps({**VALID["trust"], paint: 1}))
    hostile_bundle = tmp_path / "hostile-bundle.json"
    hostile_bundle.write_text(json.dumps({**CASES["direct_valid"]["bundle"], paint: 1}))
    for argv, expected in ((["verify", str(bundle), "--trust", str(hostile_trust),
                             "--digest-only"], 2),
                           (["verify", str(hostile_bundle), "--trust", str(trust),
                             "--digest-only"], 4)):
        code, out, err = _cli(capsys, *argv)
        assert code == expected, (out, err)
        shown = out + err
        assert "\\x0d\\x1b[2K" in shown and "\\u202e" in shown, shown
        assert not any(ord(c) < 0x20 and c != "\n" for c in shown), repr(shown)
        assert len(shown.splitlines()) == 1, repr(shown)


def test_cli_subprocess_with_hostile_files(tmp_path: Path) -> None:
    """A few of the same inputs through a real process: one line on stderr, no traceback."""
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(VALID["trust"]))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(CASES["direct_valid"]["bundle"]))
    huge = tmp_path / "huge.json"
    huge.write_bytes(b'{"origin": ' + b"1" * 5000 + b"}")
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    badkey = tmp_path / "bad.key"
    badkey.write_bytes(b"-----BEGIN PRIVATE KEY-----\n\xff\xfe\n-----END PRIVATE KEY-----\n")
    os.chmod(badkey, 0o600)
    loose = tmp_path / "loose.key"
    write_key_file(loose, b"\x05" * 32)
    os.chmod(loose, 0o644)
    runs = [
        (["verify", str(bundle), "--trust", str(huge), "--digest-only"], 2,
         "vcledger: error: "),
        (["verify", str(huge), "--trust", str(trust), "--digest-only"], 4,
         "invalid: step 1 (format): "),
        (["verify", str(deep), "--trust", str(trust), "--digest-only"], 4,
         "invalid: step 1 (format): "),
        (["verify", str(bundle), "--trust", str(deep), "--digest-only"], 2,
         "vcledger: error: "),
        (["issue", str(huge), "--key", str(loose), "--node", "http://127.0.0.1:1"], 1,
         "vcledger: error: "),
        (["issue", str(bundle), "--key", str(badkey), "--node", "http://127.0.0.1:1"], 1,
         "vcledger: error: "),
    ]
    for argv, expected, start in runs:
        result = subprocess.run([sys.executable, "-m", "client.cli", *argv], capture_output=True,
                                text=True, timeout=60, check=False, cwd=ROOT)
        assert result.returncode == expected, (argv, result.stdout, result.stderr)
        shown = result.stdout if expected == 4 else result.stderr
        assert shown.startswith(start), (argv, shown)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert stat.S_IMODE(loose.stat().st_mode) == 0o644
