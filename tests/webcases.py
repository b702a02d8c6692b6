"""Verification cases the browser verifier must decide exactly as client.verify does.

Each case is what ``window.vcledger.verify`` takes (the bundle, trust and credential file
texts and the options) together with Python's verdict for the same input:
``verify_bundle(...).as_json()``.  Sources: every case of tests/vectors/bundle_valid.json
and bundle_invalid.json with its own ``verify`` options, and a generated set: every
single-byte change of the binary pieces of a direct and a batch bundle, other clocks
(stale, no clock, expired, checked ``at``), other age bounds and pinned issuers.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import base58

from client import vc
from client.credentials import CredentialError, canonical_json, parse_credential
from client.credentials import digest as credential_digest
from client.errors import LedgerError
from client.events import BatchAnchor, IssuerRegister, IssuerRotate
from client.hashes import Hash, sha256
from client.keys import KeyPair
from client.trust import parse_trust
from client.verdict import TRUST_POLICY
from client.verify import verify_bundle
from tests.protocol_fixtures import bundle_vectorgen

VECTORS = Path(__file__).resolve().parent / "vectors"
VALID = json.loads((VECTORS / "bundle_valid.json").read_text())
INVALID = json.loads((VECTORS / "bundle_invalid.json").read_text())
TRUST_TEXT = json.dumps(VALID["trust"], indent=2) + "\n"
TRUST = parse_trust(TRUST_TEXT)

Case = dict[str, Any]


def _text(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=2) + "\n"


def expected(case: Case) -> dict[str, object]:
    """Python's verdict for ``case``, as ``vcledger verify --json`` prints it."""
    options = case["options"]
    credential = case["credential"]
    encoding = "latin-1" if options.get("credentialLatin1") else "utf-8"
    verdict = verify_bundle(
        case["bundle"].encode(), TRUST,
        credential_json=None if credential is None else credential.encode(encoding),
        digest_only=bool(options.get("digestOnly")),
        now=options.get("now"),
        max_age=options.get("maxAge", TRUST_POLICY),
        at=options.get("at"),
        expected_issuer=options.get("expectedIssuer"),
    )
    return verdict.as_json()


def _case(name: str, bundle: dict[str, Any] | str, credential: str | None,
          **options: Any) -> Case:
    return {"name": name, "bundle": bundle if isinstance(bundle, str) else _text(bundle),
            "trust": TRUST_TEXT, "credential": credential,
            "options": {k: v for k, v in options.items() if v is not None or k == "maxAge"}}


def _options(verify: dict[str, Any], credential: str | None) -> dict[str, Any]:
    return {"now": verify["now"], "at": verify.get("at"),
            "expectedIssuer": verify.get("expected_issuer"),
            "digestOnly": True if credential is None else None}


def vector_cases() -> list[Case]:
    """Every bundle vector with the options it names."""
    cases = []
    for case in VALID["cases"]:
        credential = None if case["verify"]["digest_only"] else case["credential_json"]
        cases.append(_case(f"valid/{case['name']}", case["bundle"], credential,
                           **_options(case["verify"], credential)))
    for case in INVALID["cases"]:
        credential = case["credential_json"]
        cases.append(_case(f"invalid/{case['name']}", case["bundle"], credential,
                           **_options(case["verify"], credential)))
    return cases


def _valid(name: str) -> dict[str, Any]:
    return next(case for case in VALID["cases"] if case["name"] == name)


def clock_cases() -> list[Case]:
    """Each valid vector under other clocks, age bounds and pinned issuers."""
    cases = []
    for vector in VALID["cases"]:
        credential = None if vector["verify"]["digest_only"] else vector["credential_json"]
        now = vector["verify"]["now"]
        only = True if credential is None else None
        name = vector["name"]
        cases += [
            _case(f"clock/{name}/no-clock", vector["bundle"], credential, digestOnly=only),
            _case(f"clock/{name}/stale", vector["bundle"], credential, now=now + 8 * 86400,
                  digestOnly=only),
            _case(f"clock/{name}/unbounded", vector["bundle"], credential, now=now,
                  maxAge=None, digestOnly=only),
            _case(f"clock/{name}/max-age-90s", vector["bundle"], credential, now=now,
                  maxAge=90, digestOnly=only),
            _case(f"clock/{name}/future", vector["bundle"], credential, now=now - 5 * 86400,
                  digestOnly=only),
            _case(f"clock/{name}/years-later", vector["bundle"], credential,
                  now=now + 3 * 365 * 86400, maxAge=None, digestOnly=only),
            _case(f"clock/{name}/at-1999", vector["bundle"], credential, now=now,
                  at=915148800, digestOnly=only),
            _case(f"clock/{name}/issuer-mismatch", vector["bundle"], credential, now=now,
                  expectedIssuer="https://nobody.example", digestOnly=only),
            _case(f"clock/{name}/issuer-did", vector["bundle"], credential, now=now,
                  expectedIssuer=vector["bundle"]["issuer"], digestOnly=only),
        ]
    return cases


# -- single-byte tampering ---------------------------------------------------------------------


def _flips(data: bytes) -> Iterator[tuple[int, bytes]]:
    for position in range(len(data)):
        for mask in (0x01, 0x80) if position < 4 else (0x01,):
            changed = bytearray(data)
            changed[position] ^= mask
            yield position * 256 + mask, bytes(changed)


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _pieces(bundle: dict[str, Any]) -> Iterator[tuple[str, Callable[[dict[str, Any]], Any],
                                                      bytes, Callable[[bytes], Any]]]:
    """(name, getter's parent, bytes, encoder) for every binary piece of a bundle."""
    def b64(path: tuple[Any, ...]) -> tuple[str, Any, bytes, Callable[[bytes], Any]]:
        holder = bundle
        for step in path:
            holder = holder[step]
        return (".".join(map(str, path)), path, _b64(holder),
                lambda data: base64.b64encode(data).decode())

    def hexed(path: tuple[Any, ...]) -> tuple[str, Any, bytes, Callable[[bytes], Any]]:
        holder = bundle
        for step in path:
            holder = holder[step]
        return ".".join(map(str, path)), path, bytes.fromhex(holder), bytes.hex

    yield b64(("event",))
    yield b64(("header",))
    for which in ("issuer", "credential", "batch"):
        entry = bundle["status"][which]
        if entry is None:
            continue
        if entry["value"] is not None:
            yield b64(("status", which, "value"))
        yield hexed(("status", which, "proof"))
    for number, header in enumerate(bundle["block_headers"]):
        yield b64(("block_headers", number, "header"))
        for step in range(len(header["audit_path"])):
            yield hexed(("block_headers", number, "audit_path", step))
    if bundle["receipt"] is not None:
        for step in range(len(bundle["receipt"]["audit_path"])):
            yield hexed(("receipt", "audit_path", step))
        yield hexed(("receipt", "batch_root",))
    yield from _tlog_pieces(bundle, "event_proof")


def _tlog_pieces(bundle: dict[str, Any], member: str) -> Iterator[Any]:
    """Audit path hashes and cosignatures (key ID, timestamp, signature) of a tlog proof."""
    lines = bundle[member].split("\n")
    for number, text in enumerate(lines):
        if number == 0 or text.startswith(("index ", "c2sp")) or not text:
            continue
        prefix, line = "", text
        if text.startswith("\u2014 "):
            prefix, _, line = text.rpartition(" ")
            prefix += " "
        elif number > 1 and not lines[number - 1]:
            continue  # the checkpoint body's first line
        try:
            raw = base64.b64decode(line, validate=True)
        except ValueError:
            continue
        if len(raw) < 32:
            continue
        yield (f"{member}.line{number}", (member, number, prefix), raw,
               lambda data: base64.b64encode(data).decode())


def _set(bundle: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    if len(path) == 3 and isinstance(path[1], int) and path[0].endswith("_proof"):
        member, number, prefix = path
        lines = bundle[member].split("\n")
        lines[number] = prefix + value
        text = "\n".join(lines)
        bundle[member] = text
        if member == "event_proof":
            # The same cosigned checkpoint is in both proofs; change it in both.
            head, _, _ = bundle["header_proof"].partition("\n\n")
            _, _, note = text.partition("\n\n")
            bundle["header_proof"] = head + "\n\n" + note
        return
    holder = bundle
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value


def tamper_cases(names: tuple[str, ...] = ("direct_valid", "batch_valid")) -> list[Case]:
    """Every single-byte change (bit 0; bits 0 and 7 of the first four bytes) of every binary
    piece of the named valid bundles: leaves, records, status proofs, audit paths, receipt
    and cosignatures."""
    cases = []
    for name in names:
        vector = _valid(name)
        original = vector["bundle"]
        credential = vector["credential_json"]
        for piece, path, raw, encode in _pieces(original):
            for flip, data in _flips(raw):
                bundle = copy.deepcopy(original)
                _set(bundle, path, encode(data))
                cases.append(_case(f"tamper/{name}/{piece}/{flip // 256}^{flip % 256:#x}",
                                   bundle, credential, now=vector["verify"]["now"]))
    return cases




# -- the documents themselves: credential files and bundle JSON ----------------------------------

_NUMBERS = ["0", "-0", "1.0", "1E3", "1e-7", "0.1", "3.14", "1e21", "1e23", "5e-324", "1e-400",
            "9007199254740993", "12345678901234567890", "12345678901234567000",
            "12345678901234567890.0", "0.10000000000000001", "1.5e308", "2e308", "-1e400",
            "123456789012345678901234567890", "1" * 4301, "4.35", "100E-2", "-0.0"]

_CREDENTIAL_TEXTS = [
    '{"a": 1, "a": 2}', "[1, 2]", "", "   ", '{"a": NaN}', '{"a": -Infinity}', '{"a" 1}',
    '{"a": 1,}', '{"a": [1, 2', '{"a": "x\x01"}', '{"a": "\\ud800"}', '{"\\udc00": 1}',
    '{"a": "\\x"}', '{"a": "\\u12"}', '{"a": tru}', '{"a": 01}', '{"a": 1.}', '{"a": .5}',
    '{"a": -}', '{"a": 1e}', '{} x', '\ufeff{}', '{"é": "\\u00e9", "z": "\\ud83d\\ude00"}',
    '{"b": 1, "a": {"d": [true, false, null], "c": "\\u000f\\u001f\\"\\\\/\\b\\f\\n\\r\\t"}}',
    "[" * 40 + "]" * 40, '{"issuer": "did:key:x", "validUntil": 5}',
]


def credential_cases() -> list[Case]:
    """Credential files the holder controls: strict JSON, I-JSON numbers, RFC 8785.  Each
    fails at step 7 naming the problem, or reaches the digest comparison, whose message
    carries the RFC 8785 digest the verifier computed."""
    vector = _valid("direct_valid")
    now = vector["verify"]["now"]
    texts = [*_CREDENTIAL_TEXTS,
             *(f'{{"n": {number}, "m": [{number}], "{number}": 1}}' for number in _NUMBERS)]
    cases = [_case(f"credential/{n}", vector["bundle"], text, now=now)
             for n, text in enumerate(texts)]
    raw = [b"\xff{}", b'{"a": "\xc3"}', b'{"a": "\xed\xa0\x80"}', b"\xef\xbb\xbf{}"]
    cases += [_case(f"credential/bytes{n}", vector["bundle"], data.decode("latin-1"), now=now,
                    credentialLatin1=True) for n, data in enumerate(raw)]
    return cases


def _mutations(bundle: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Shape changes of a bundle document: each member removed, retyped or stretched."""
    def changed(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        copied = copy.deepcopy(bundle)
        edit(copied)
        return copied

    for member in bundle:
        yield f"drop-{member}", changed(lambda b, m=member: b.pop(m))
        for label, value in (("null", None), ("int", 7), ("float", 1.0), ("true", True),
                             ("text", "x"), ("list", []), ("object", {})):
            yield f"{member}-{label}", changed(lambda b, m=member, v=value: b.update({m: v}))
    yield "extra", changed(lambda b: b.update({"zz": 1}))
    yield "origin-long", changed(lambda b: b.update({"origin": "o" * 256}))
    yield "issuer-not-did", changed(lambda b: b.update({"issuer": "did:web:uni.example"}))
    yield "issuer-fragment", changed(lambda b: b.update({"issuer": b["issuer"] + "#x"}))
    yield "issuer-bad-b58", changed(lambda b: b.update({"issuer": b["issuer"][:-1] + "0"}))
    yield "issuer-short", changed(lambda b: b.update({"issuer": b["issuer"][:-3]}))
    yield "event-bad-b64", changed(lambda b: b.update({"event": b["event"][:-2] + "!="}))
    yield "event-noncanonical", changed(lambda b: b.update({"event": "AB=="}))
    yield "header-index-negative", changed(
        lambda b: b["block_headers"][0].update({"index": -1}))
    yield "header-index-huge", changed(
        lambda b: b["block_headers"][0].update({"index": 2**63}))
    yield "status-null-issuer", changed(lambda b: b["status"]["issuer"].update({"value": None}))
    yield "status-proof-upper", changed(lambda b: b["status"]["issuer"].update(
        {"proof": b["status"]["issuer"]["proof"].upper()}))
    yield "status-proof-odd", changed(lambda b: b["status"]["issuer"].update(
        {"proof": b["status"]["issuer"]["proof"][:-1]}))
    yield "status-proof-spaces", changed(lambda b: b["status"]["issuer"].update(
        {"proof": " ".join(b["status"]["issuer"]["proof"][i:i + 2]
                           for i in range(0, len(b["status"]["issuer"]["proof"]), 2))}))
    origin = "vcledger.example/bundles\n"
    for n, (old, new) in enumerate([("\n\n", "\n"), ("index ", "index 0"), ("index ", "idx "),
                                    ("c2sp.org", "C2SP.org"), ("\u2014 ", "- "),
                                    ("\u2014 ", "\u2014  "), ("\n", "\r\n"),
                                    (origin + "3", origin + "03")]):
        yield f"event-proof-{n}", changed(
            lambda b, o=old, w=new: b.update({"event_proof": b["event_proof"].replace(o, w, 1)}))
    yield "event-proof-extra", changed(lambda b: b.update(
        {"event_proof": b["event_proof"].replace("\nindex", "\nextra AA==\nindex", 1)}))
    yield "header-proof-index", changed(lambda b: b.update(
        {"header_proof": b["header_proof"].replace("index 33", "index 32", 1)}))


def bundle_shape_cases() -> list[Case]:
    """Every member of a direct and a batch bundle removed, retyped or malformed, plus
    truncations of the document text."""
    cases = []
    for name in ("direct_valid", "batch_valid"):
        vector = _valid(name)
        for label, bundle in _mutations(vector["bundle"]):
            cases.append(_case(f"shape/{name}/{label}", bundle, vector["credential_json"],
                               now=vector["verify"]["now"]))
        text = _text(vector["bundle"])
        for cut in range(0, len(text), max(1, len(text) // 40)):
            cases.append(_case(f"shape/{name}/cut{cut}", text[:cut], vector["credential_json"],
                               now=vector["verify"]["now"]))
    return cases


# -- credential files with embedded proofs, anchored on a ledger of their own -------------------
#
# A proof is only looked at (step 11) in a file whose digest the ledger recorded, so each
# file below goes into a batch of the hand-built ledger of scripts/vectorgen/bundle.py
# (same origin and validators: the vectors' trust file verifies it).  UNI registers with
# ISSUER and later rotates to ISSUER_NEXT; EVIL (OTHER_ISSUER) is another registered issuer.
# Batch "signed-a" is anchored before the rotation (ISSUER's key in force), "signed-b" after
# it (ISSUER_NEXT's), and "w3c" by the key of the W3C vc-di-eddsa example.

V2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"
CREATED = "2026-05-29T20:00:00Z"
DROP = object()
"""A member value meaning: leave the member out."""


def _edited(value: dict[str, Any], changes: dict[str, Any] | None) -> dict[str, Any]:
    edited = {**value, **(changes or {})}
    return {name: member for name, member in edited.items() if member is not DROP}


def _constant(value: Any, _document: dict[str, Any]) -> Any:
    return value


def _method(key: KeyPair) -> str:
    return f"{key.did}#{key.did[len('did:key:'):]}"


def sign(document: dict[str, Any], key: KeyPair, changes: dict[str, Any] | None = None
         ) -> dict[str, Any]:
    """An ``eddsa-jcs-2022`` proof by ``key`` over ``document`` without its proof member
    (EDDSA §3.3.1): the usual options, ``changes`` replacing or (DROP) removing members,
    signed as they stand, with the proof's ``@context`` in place of the document's."""
    options = _edited({"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022",
                       "created": CREATED, "verificationMethod": _method(key),
                       "proofPurpose": "assertionMethod",
                       **({"@context": copy.deepcopy(document["@context"])}
                          if "@context" in document else {})}, changes)
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    if "@context" in options:
        unsecured["@context"] = options["@context"]

    def canonical(value: dict[str, Any]) -> bytes:
        return canonical_json(parse_credential(json.dumps(value).encode()))

    try:
        hash_data = sha256(canonical(options)) + sha256(canonical(unsecured))
    except CredentialError:
        hash_data = b"options no verifier can canonicalise"
    return {**options, "proofValue": "z" + base58.b58encode(key.sign(hash_data)).decode()}


def _flipped(proof: dict[str, Any], position: int = 10) -> dict[str, Any]:
    """One bit of the signature flipped, re-encoded canonically."""
    raw = bytearray(base58.b58decode(proof["proofValue"][1:]))
    raw[position] ^= 0x01
    return {**proof, "proofValue": "z" + base58.b58encode(bytes(raw)).decode()}


def _high_s(proof: dict[str, Any]) -> dict[str, Any]:
    """The signature with S + L in place of S: the same point equation, refused by RFC 8032."""
    raw = base58.b58decode(proof["proofValue"][1:])
    s = int.from_bytes(raw[32:], "little") + ED25519_L
    assert s < 2**256
    return {**proof, "proofValue": "z" + base58.b58encode(raw[:32] + s.to_bytes(32, "little"))
            .decode()}


def proof_now() -> int:
    """The clock of :func:`embedded_proof_cases`: an hour after the checkpoint of
    :class:`ProofLedger` (four blocks; its time is the third newest cosignature)."""
    vg = bundle_vectorgen()
    delays = sorted(vg.COSIGNATURE_DELAYS, reverse=True)
    return int(vg._block_time_ms(4) // 1000 + delays[vg.THRESHOLD - 1] + 3600)


def _date_time(seconds: int, tail: str = "Z") -> str:
    """``seconds`` as an XML Schema dateTime, ``tail`` (a fraction and/or zone) written as the
    zone says: ``+01:00`` shows the local time an hour ahead of UTC."""
    zone = tail[-6:] if len(tail) >= 6 and tail[-6] in "+-" and tail[-3] == ":" else ""
    offset = 0 if not zone else (1 if zone[0] == "+" else -1) * (
        int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    local = dt.datetime.fromtimestamp(seconds + offset, dt.UTC)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + tail


ED25519_L = 2**252 + 27742317777372353535851937790883648493
STRANGER = KeyPair.from_seed(sha256(b"webcases stranger key"))
"""A key no issuer ever registered."""


def _document(number: int, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    return _edited({
        "@context": [V2, EXAMPLES],
        "id": f"urn:uuid:00000000-0000-4000-9000-{number:012d}",
        "type": ["VerifiableCredential", "ExampleDegreeCredential"],
        "issuer": "https://uni.example/issuers/1",
        "validFrom": "2026-05-01T00:00:00Z",
        "credentialSubject": {"id": f"did:example:signed{number}",
                              "degree": {"type": "ExampleBachelorDegree",
                                         "name": f"Bachelor of Arts {number}"}},
    }, changes)


Variant = tuple[str, str, str]
"""(name, credential file text, batch: 'signed-a', 'signed-b' or 'w3c')."""


def proof_variants() -> list[Variant]:
    """Credential files whose proof member is every kind of thing step 11 meets."""
    from tests.protocol_fixtures import ISSUER, ISSUER_NEXT, OTHER_ISSUER

    out: list[Variant] = []

    def add(name: str, proof: Callable[[dict[str, Any]], Any], *, batch: str = "signed-a",
            document: dict[str, Any] | None = None,
            after: dict[str, Any] | None = None) -> None:
        """``proof`` makes the proof member from the unsigned document; ``after`` changes the
        document once it is signed (what a holder could do)."""
        unsigned = _document(len(out), document)
        secured = {**_edited(unsigned, after), "proof": proof(unsigned)}
        out.append((name, json.dumps(secured, indent=2, ensure_ascii=False) + "\n", batch))

    def signed(changes: dict[str, Any] | None = None, key: KeyPair = ISSUER
               ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda d: sign(d, key, changes)

    def edited(changes: dict[str, Any], key: KeyPair = ISSUER
               ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """Signed, then members changed: the checks before the signature see them."""
        return lambda d: _edited(sign(d, key), changes)

    others: list[dict[str, Any]] = [
        {"cryptosuite": "eddsa-rdfc-2022"}, {"type": "Ed25519Signature2020", "cryptosuite": DROP},
        {"type": DROP}, {"type": 7, "cryptosuite": DROP}]

    # Verified.
    add("valid", signed())
    add("valid-in-a-list", lambda d: [sign(d, ISSUER)])
    add("valid-set", lambda d: [sign(d, ISSUER),
                                sign(d, ISSUER, {"created": "2026-05-29T21:00:00Z"})])
    add("valid-next-key-after-rotation", signed(key=ISSUER_NEXT), batch="signed-b")
    add("valid-optional-members", signed({"id": "urn:uuid:proof-1", "nonce": "été ☃ 😀",
                                          "domain": "example.org", "challenge": "c",
                                          "expires": "2036-01-01T00:00:00Z"}))
    add("valid-number-members", signed({"nonce": 1.5, "count": 12345678901234567000,
                                        "tiny": 1e-7, "exp": 1e21, "negativeZero": -0.0}))
    add("valid-no-proof-context", signed({"@context": DROP}))
    add("valid-proof-context-null", signed({"@context": None}))
    add("valid-context-string", signed(), document={"@context": V2})
    add("valid-context-appended", signed(),
        after={"@context": [V2, EXAMPLES, "https://x.example/v1"]})
    add("valid-no-context", signed(), document={"@context": DROP})
    add("valid-context-objects", signed({"@context": [V2, {"b": 1.0, "a": "x"}]}),
        document={"@context": [V2, {"a": "x", "b": 1}]})
    for n, created in enumerate(["2026-05-29T20:00:00", "2026-05-29T24:00:00Z",
                                 "2026-05-29T20:00:00.123456789+14:00", "2026-05-29T20:00:00-00:00",
                                 "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", DROP]):
        add(f"valid-created-{n}", signed({"created": created}))
    # expires against the clock of embedded_proof_cases: after it, at it, just before it.
    now = proof_now()
    for n, expires in enumerate(["2030-01-01T00:00:00Z", "2026-05-01T00:00:00Z",
                                 _date_time(now), _date_time(now, ".000Z"),
                                 _date_time(now, ".5Z"), _date_time(now - 1, ".999Z"),
                                 _date_time(now + 3600, "+01:00"),
                                 _date_time(now - 3600, ".01-01:00"),
                                 _date_time(now + 1, "-00:00")]):
        add(f"expires-{n}", signed({"expires": expires}))
    # Not checked: other proof types.
    other_kinds: list[dict[str, Any]] = [*others, {"type": ["DataIntegrityProof"]},
                                 {"type": {"a": [1, 2.5, None, True]}}, {"type": None},
                                 {"type": True}, {"type": 1.5}, {"type": "T" * 150},
                                 {"type": "Ünïcødé ☃ 😀\u2028\u0001\u007f\"\\"}, {"type": ""},
                                 {"cryptosuite": DROP}, {"cryptosuite": 2022},
                                 {"cryptosuite": ["eddsa-jcs-2022"]},
                                 {"cryptosuite": "ü" * 120}, {"cryptosuite": "EDDSA-JCS-2022"}]
    for n, changes in enumerate(other_kinds):
        add(f"other-{n}", signed(changes))
    add("other-empty-object", lambda d: {})
    add("mixed-set", lambda d: [sign(d, ISSUER), sign(d, ISSUER, others[0])])
    add("mixed-set-other-first", lambda d: [sign(d, ISSUER, others[1]), sign(d, ISSUER)])
    add("all-other-set", lambda d: [sign(d, ISSUER, c) for c in others])
    add("sixteen", lambda d: [*(sign(d, ISSUER, others[i % 4]) for i in range(15)),
                              sign(d, ISSUER)])
    add("seventeen", lambda d: [sign(d, ISSUER, others[i % 4]) for i in range(17)])
    # Well formed, not the issuer's signature.
    add("signature-flipped", lambda d: _flipped(sign(d, ISSUER)))
    add("signature-flipped-first-byte", lambda d: _flipped(sign(d, ISSUER), 0))
    add("signature-high-s", lambda d: _high_s(sign(d, ISSUER)))
    add("signature-zero", edited({"proofValue": "z" + "1" * 64}))
    add("document-changed", signed(), after={"validFrom": "2026-05-02T00:00:00Z"})
    add("proof-changed", edited({"created": "2026-05-29T20:00:01Z"}))
    add("proof-member-added", edited({"nonce": "added"}))
    add("by-other-issuer", signed(key=OTHER_ISSUER))
    add("by-stranger", signed(key=STRANGER))
    add("by-rotated-out-key", signed(), batch="signed-b")
    add("by-next-key-too-early", signed(key=ISSUER_NEXT))
    add("set-second-bad", lambda d: [sign(d, ISSUER), _flipped(sign(d, ISSUER))])
    add("set-second-by-other", lambda d: [sign(d, ISSUER), sign(d, OTHER_ISSUER)])
    add("set-other-then-bad", lambda d: [sign(d, ISSUER, others[0]), _flipped(sign(d, ISSUER))])
    add("set-stranger-first", lambda d: [sign(d, STRANGER), sign(d, ISSUER)])
    # The proof member itself.
    members: list[Any] = ["a string", None, 7, True, 2.5, [], ["x"], [[]], [{}, None]]
    for n, member in enumerate(members):
        add(f"proof-member-{n}", functools.partial(_constant, member))
    add("proof-set-valid-then-number", lambda d: [sign(d, ISSUER), 7])
    add("proof-set-nested", lambda d: [[sign(d, ISSUER)]])
    # Members in the wrong form.
    for member in ("verificationMethod", "proofPurpose", "proofValue"):
        for n, value in enumerate([DROP, 7, None, [], {}, True, 1.5, ["x"]]):
            add(f"{member}-{n}", edited({member: value}))
    add("all-three-missing", edited({"verificationMethod": DROP, "proofPurpose": DROP,
                                     "proofValue": DROP}))
    add("previous-proof", signed({"previousProof": "urn:uuid:proof-0"}))
    add("previous-proof-and-no-value", edited({"previousProof": "urn:uuid:proof-0",
                                               "proofValue": DROP}))
    add("previous-proof-null", signed({"previousProof": None}))
    for n, purpose in enumerate(["authentication", "keyAgreement", "", "p" * 150,
                                 "Ünïcødé 😀 \"quoted\"\n", "AssertionMethod"]):
        add(f"purpose-{n}", signed({"proofPurpose": purpose}))
    bad_created: list[Any] = ["yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                                 "2026-05-29T24:00:01Z", "2026-05-29T23:59:60Z",
                                 "2026-05-29T20:00:00+15:00", "2026-05-29T20:00:00+14:30",
                                 "0000-01-01T00:00:00Z", "2026-05-29t20:00:00z",
                                 "2026-05-29T20:00:00Z and then a long tail of text to shorten",
                                 "2026-05-29 20:00:00Z", "é" * 50, 5, None, [], {"a": 1}, 1.5]
    for n, value in enumerate(bad_created):
        add(f"created-{n}", signed({"created": value}))
    bad_expires: list[Any] = ["soon", 5, "2026-02-29T00:00:00Z", None]
    for n, value in enumerate(bad_expires):
        add(f"expires-bad-{n}", signed({"expires": value}))
    add("expired-and-bad-method", signed({"expires": "2026-05-01T00:00:00Z",
                                          "verificationMethod": "did:web:uni.example#k"}))
    other_fragment = OTHER_ISSUER.did[len("did:key:"):]
    for n, method in enumerate([
            "did:web:uni.example#key-1", ISSUER.did, ISSUER.did + "#",
            ISSUER.did + "#" + other_fragment, ISSUER.did + "#" + ISSUER.did,
            "did:key:" + "z" * 130 + "#z", "did:key:z" + "6" * 119 + "#z",
            "did:key:z6Mk0OIl#z6Mk0OIl", "did:key:f00#f00", "did:key:#", "did:key:z#z",
            "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169#x",
            "did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F#x",
            "did:key:" + "😀" * 30 + "#x", "did:key:z" + "😀" * 60 + "#x",
            "did:key:z6Mk#z6Mk", ISSUER.did + "#" + ISSUER.did[8:] + "#again",
            ISSUER.did.upper() + "#x", ISSUER.did + "?q#" + ISSUER.did[8:],
            "did:key:z" + "1" * 40 + "#z", " " + _method(ISSUER), "m" * 129]):
        add(f"method-{n}", edited({"verificationMethod": method}))
    add("method-by-other-issuer-signed-by-issuer", edited(
        {"verificationMethod": _method(OTHER_ISSUER)}))
    for n, value in enumerate(["uAAAA", "", "z", "z0OIl+/", "z😀", "z" + "2" * 89,
                               "z" + "z" * 88, "Z2222", " z2222", "z1" * 10]):
        add(f"value-{n}", edited({"proofValue": value}))
    add("value-63-bytes", lambda d: {**sign(d, ISSUER), "proofValue": "z" + base58.b58encode(
        base58.b58decode(sign(d, ISSUER)["proofValue"][1:])[:63]).decode()})
    add("value-65-bytes", lambda d: {**sign(d, ISSUER), "proofValue": "z1" + sign(
        d, ISSUER)["proofValue"][1:]})
    # @context: the proof's must start the document's.
    add("context-reordered", signed({"@context": [EXAMPLES, V2]}))
    add("context-longer", signed({"@context": [V2, EXAMPLES, "https://x.example/v1"]}))
    add("context-other-string", signed({"@context": EXAMPLES}))
    add("context-document-has-none", signed({"@context": [V2]}), document={"@context": DROP})
    add("context-document-null", signed({"@context": [V2]}), document={"@context": None})
    add("context-long", signed({"@context": [V2, "https://x.example/" + "c" * 250]}),
        document={"@context": [V2, "https://y.example/" + "ü" * 250]})
    add("context-object-differs", signed({"@context": [V2, {"a": "x", "b": 2}]}),
        document={"@context": [V2, {"a": "x", "b": 1}]})
    # Where step 11 stops first.
    add("no-issuer-and-bad-proof", lambda d: _flipped(sign(d, ISSUER)),
        document={"issuer": DROP})
    add("bad-date-and-bad-proof", lambda d: _flipped(sign(d, ISSUER)),
        document={"validUntil": "tomorrow"})
    add("evil-named-and-valid-proof", signed(), document={"issuer": "https://evil.example"})
    add("expired-and-valid", signed(), document={"validUntil": "2026-05-20T00:00:00Z"})
    add("expired-and-other-type", signed(others[0]),
        document={"validUntil": "2026-05-20T00:00:00Z"})
    add("not-yet-valid-and-valid", signed(), document={"validFrom": "2027-01-01T00:00:00Z"})
    # The W3C specification's example, on a ledger where its key is an issuer's.
    out.append(("w3c-example", W3C_EXAMPLE["signedText"], "w3c"))
    out.append(("w3c-example-changed", W3C_EXAMPLE["signedText"].replace("Alumni", "Alumnx", 1),
                "w3c"))
    # Our own eddsa-jcs-2022 vectors (tests/vectors/eddsa_jcs_2022_cases.json).
    for kind in ("valid", "invalid"):
        for case in EDDSA_CASES[kind]:
            out.append((f"eddsa-{kind}-{case['name']}", case["credential"], "signed-a"))
    return out


EDDSA_CASES = json.loads((VECTORS / "eddsa_jcs_2022_cases.json").read_text(encoding="utf-8"))
W3C_EXAMPLE = json.loads((VECTORS / "eddsa_jcs_2022.json").read_text(encoding="utf-8"))
W3C_ISSUER = "https://vc.example/issuers/5678"


def _w3c_key() -> KeyPair:
    """The example's key pair: multibase Ed25519 private key (multicodec 0x8026) -> seed."""
    raw = base58.b58decode(W3C_EXAMPLE["keyPair"]["privateKeyMultibase"][1:])
    assert raw[:2] == b"\x80\x26"
    key = KeyPair.from_seed(raw[2:])
    assert key.did == "did:key:" + W3C_EXAMPLE["keyPair"]["publicKeyMultibase"]
    return key


class ProofLedger:
    """The ledger of the files of :func:`proof_variants`, and their bundles."""

    def __init__(self, variants: list[Variant]) -> None:
        from tests.protocol_fixtures import ISSUER, ISSUER_IDS, ISSUER_NEXT, OTHER_ISSUER

        vg = bundle_vectorgen()
        self.vg = vg
        chain = vg._Chain()
        w3c = _w3c_key()
        issuers = {"signed-a": ISSUER.did, "signed-b": ISSUER.did, "w3c": w3c.did}
        self.members: dict[str, list[bytes]] = {batch: [] for batch in issuers}
        for _, text, batch in variants:
            try:
                digest = credential_digest(text.encode())
            except LedgerError:
                continue  # the file cannot be digested: step 7 is all it reaches
            if digest not in self.members[batch]:
                self.members[batch].append(digest)
        self.issuers = issuers
        roots = {batch: Hash(vg._mth([vg._leaf_hash(d) for d in digests]))
                 for batch, digests in self.members.items()}

        def anchor(batch: str, key: KeyPair) -> tuple[Any, KeyPair]:
            return (BatchAnchor(issuers[batch], batch, roots[batch], len(self.members[batch])),
                    key)

        chain.block([
            (IssuerRegister(ISSUER.did, "Example University", ISSUER.public_key, ISSUER_IDS),
             vg.GOVERNANCE),
            (IssuerRegister(OTHER_ISSUER.did, "Evil Diplomas Ltd", OTHER_ISSUER.public_key,
                            ("https://evil.example",)), vg.GOVERNANCE),
            (IssuerRegister(w3c.did, "W3C Example Issuer", w3c.public_key, (W3C_ISSUER,)),
             vg.GOVERNANCE),
        ])
        first = chain.block([anchor("signed-a", ISSUER), anchor("w3c", w3c)])
        chain.block([(IssuerRotate(ISSUER.did, ISSUER_NEXT.public_key), ISSUER)])
        second = chain.block([anchor("signed-b", ISSUER_NEXT)])
        self.anchored = {"signed-a": (first[0], 2), "w3c": (first[1], 2),
                         "signed-b": (second[0], 4)}
        self.chain = chain
        self.note = chain.checkpoint_note()
        cosigned = sorted((chain.cosigned_at(i) for i in range(vg.VALIDATOR_COUNT)),
                          reverse=True)
        self.now = cosigned[vg.THRESHOLD - 1] + 3600
        assert self.now == proof_now()
        self._bundles: dict[tuple[str, bytes], str] = {}

    def bundle(self, batch: str, digest: bytes) -> str:
        if (batch, digest) not in self._bundles:
            self._bundles[batch, digest] = _text(self._bundle(batch, digest))
        return self._bundles[batch, digest]

    def _bundle(self, batch: str, digest: bytes) -> dict[str, Any]:
        vg, chain = self.vg, self.chain
        issuer = self.issuers[batch]
        index, height = self.anchored[batch]
        leaves = [vg._leaf_hash(d) for d in self.members[batch]]
        member = self.members[batch].index(digest)
        tree_size = len(chain.leaves)
        return {
            "format": "vcledger-bundle/v2", "origin": vg.ORIGIN, "issuer": issuer,
            "credential_digest": digest.hex(),
            "event": vg._b64(chain.leaves[index]),
            "event_proof": chain.tlog_proof(index, self.note),
            "header": vg._b64(chain.leaves[tree_size - 1]),
            "header_proof": chain.tlog_proof(tree_size - 1, self.note),
            "receipt": {
                "format": "vcledger-receipt/v1", "origin": vg.ORIGIN, "issuer": issuer,
                "batch_id": batch, "batch_root": vg._mth(leaves).hex(),
                "batch_size": len(leaves), "index": member, "credential_digest": digest.hex(),
                "audit_path": [h.hex() for h in vg._path(member, leaves)],
                "anchor_event_hash": vg._leaf_hash(chain.leaves[index]).hex(),
            },
            "status": {
                "issuer": chain.status_entry(vg._issuer_key(issuer)),
                "credential": chain.status_entry(vg._credential_key(issuer, digest)),
                "batch": chain.status_entry(vg._batch_key(issuer, batch)),
            },
            "block_headers": [chain.included_header(height)],
        }


@functools.cache
def proof_ledger() -> ProofLedger:
    return ProofLedger(proof_variants())


def embedded_proof_cases() -> list[Case]:
    """Every file of :func:`proof_variants` with its bundle: at the ledger's hour-later clock
    and with no clock (``expires`` unchecked); a few also with the bundle alone, a pinned
    issuer and years later."""
    ledger = proof_ledger()
    now = ledger.now
    cases = []
    for number, (name, text, batch) in enumerate(proof_variants()):
        digest: bytes
        try:
            digest = credential_digest(text.encode())
        except LedgerError:
            digest = hashlib.sha256(text.encode()).digest()  # any bundle: step 7 refuses
        bundle = ledger.bundle(batch if digest in ledger.members[batch] else "signed-a",
                               digest if digest in ledger.members[batch]
                               else ledger.members["signed-a"][0])
        cases += [_case(f"proof/{name}", bundle, text, now=now),
                  _case(f"proof/{name}/no-clock", bundle, text)]
        if number % 10 == 0:
            cases += [
                _case(f"proof/{name}/digest-only", bundle, None, now=now, digestOnly=True),
                _case(f"proof/{name}/pinned-evil", bundle, text, now=now,
                      expectedIssuer="https://evil.example"),
                _case(f"proof/{name}/years-later", bundle, text, now=now + 10 * 365 * 86400,
                      maxAge=None),
            ]
    return cases


def proof_check_cases() -> list[dict[str, Any]]:
    """For the proof checks alone (client.vc against the page's verifyEmbeddedProof): every
    file above, without and with a clock, with the purpose a credential needs and with any."""
    texts = [(name, text) for name, text, _ in proof_variants()]
    texts.append(("w3c-example-unsigned", json.dumps(W3C_EXAMPLE["unsigned"])))
    cases = []
    for name, text in texts:
        for now in (None, proof_ledger().now):
            for purpose in ("assertionMethod", None):
                cases.append({"name": f"{name}/{now}/{purpose}", "text": text, "now": now,
                              "purpose": purpose})
    return cases


def expected_proof_checks(case: dict[str, Any]) -> dict[str, Any]:
    """client.vc's answer for each proof of the file: the Ed25519 key (hex) it verifies
    under, or the error's class and message; or the refusal of the whole proof member."""
    try:
        document = parse_credential(case["text"].encode())
    except LedgerError as exc:
        return {"parse": exc.diagnostics()}
    try:
        proofs = vc.embedded_proofs(document)
    except LedgerError as exc:
        return {"document": [type(exc).__name__, exc.diagnostics()]}
    results: list[dict[str, Any]] = []
    for proof in proofs:
        try:
            key = vc.verify_embedded_proof(document, proof, now=case["now"],
                                           expected_proof_purpose=case["purpose"])
            results.append({"key": key.hex()})
        except LedgerError as exc:
            results.append({"error": type(exc).__name__, "message": exc.diagnostics()})
    return {"proofs": results}


def all_cases() -> list[Case]:
    return (vector_cases() + clock_cases() + tamper_cases() + credential_cases()
            + bundle_shape_cases() + embedded_proof_cases())
