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
    verdict = verify_bundle(
        case["bundle"].encode(), TRUST,
        credential_json=None if credential is None else credential.encode(),
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


def all_cases() -> list[Case]:
    return vector_cases() + clock_cases() + tamper_cases()
