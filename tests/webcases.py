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
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from client.trust import parse_trust
from client.verify import TRUST_POLICY, verify_bundle

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


def all_cases() -> list[Case]:
    return (vector_cases() + clock_cases() + tamper_cases() + credential_cases()
            + bundle_shape_cases())
