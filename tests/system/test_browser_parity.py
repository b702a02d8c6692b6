"""One verification rule in every verifier: Python and the browser on the same crafted files.

Issue 14: "a bundle can verify in one tool and not another" must not happen.  Each case
below is a credential file or a bundle file built from the vectors (tests/vectors/
bundle_valid.json) and changed in one way a JSON reader might take differently: nesting
around and far beyond the documented limit (docs/protocol.md §13.1, ``MAX_JSON_DEPTH``),
integers beyond 2^53 (JavaScript numbers lose them, Python ints do not), duplicate
members, lone surrogates, escaped and raw non-ASCII, ``-0``, ``1e400``, ``1.0`` for ``1``,
byte order marks, trailing data, NUL, long strings, whitespace, non-canonical base64.
Python's verdict (``verify_bundle(...).as_json()``, what ``vcledger verify --json``
prints, and the exit code it maps to) must equal ``window.vcledger.verify``'s in headless
Chromium, message for message; no case documents a difference.  Then the claims a
pathway verdict reads from a credential (its best Open Badges result), compared as JSON
texts read back exactly.

Needs Chromium and playwright like tests/system/test_browser.py, whose fixtures this
module uses: skipped without them, failed under ``CI=true``.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

from client.strictjson import MAX_JSON_DEPTH
from client.verdict import EXIT_CODES
from tests import webcases
from tests.system import test_browser, test_browser_pathway

browser = test_browser.browser
page = test_browser.page
"""tests/system/test_browser.py's fixtures: a Chromium for this module, a fresh page per test."""

Case = dict[str, Any]

DIRECT = webcases._valid("direct_valid")
BATCH = webcases._valid("batch_valid")
NOW = DIRECT["verify"]["now"]
CREDENTIAL: dict[str, Any] = json.loads(DIRECT["credential_json"])
BUNDLE: dict[str, Any] = DIRECT["bundle"]

DEPTHS = (2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 200, 500, 899, 900,
          950, 990, 1000, 1100, 5000, 50_000)
"""Around the documented limit, and where Python's recursion limit and V8's stack used to
decide instead (somewhere near 1000 and near 10 000 levels)."""

BIG_INTEGERS = ("9007199254740992", "9007199254740993", "-9007199254740993",
                "18446744073709551616", "12345678901234567890", "12345678901234567000",
                "1" + "0" * 400, "9" * 4300, "9" * 4301)
"""2^53 (a double holds it), 2^53 + 1 (none does), 2^64, a national ID, the canonical text of
its double, and numbers long enough for Python's int-digit limit."""


def _nest(depth: int, inner: str = "1", *, kind: str = "[") -> str:
    close = "]" if kind == "[" else "}"
    opener = "[" if kind == "[" else '{"a": '
    return opener * depth + inner + close * depth


def _credential_with(**members: Any) -> dict[str, Any]:
    document = copy.deepcopy(CREDENTIAL)
    document.update(members)
    return document


def _credential_text(member_json: str, name: str = "extra") -> str:
    """The valid credential with one more member, written as raw JSON text."""
    document = _credential_with(**{name: "@MEMBER@"})
    return json.dumps(document, indent=2).replace('"@MEMBER@"', member_json)


def _results(value_json: str) -> str:
    """The valid credential with an Open Badges 3.0 result whose value is ``value_json``."""
    document = copy.deepcopy(CREDENTIAL)
    document["credentialSubject"]["result"] = [{"resultDescription": "urn:x", "value": "@V@"}]
    return json.dumps(document, indent=2).replace('"@V@"', value_json)


def credential_texts() -> list[tuple[str, str]]:
    """(name, credential file text): what a holder could hand any verifier."""
    indented = json.dumps(CREDENTIAL, indent=2)
    texts: list[tuple[str, str]] = [("original", DIRECT["credential_json"])]
    for depth in DEPTHS:
        texts += [
            (f"depth-array-{depth}", _credential_text(_nest(depth))),
            (f"depth-object-{depth}", _credential_text(_nest(depth, kind="{"))),
            (f"depth-array-{depth}-then-syntax-error", _credential_text(_nest(depth, "1,"))),
            (f"depth-array-{depth}-duplicate-inside",
             _credential_text(_nest(depth, '{"x": 1, "x": 2}'))),
            (f"depth-array-{depth}-unclosed", _credential_text("[" * depth)),
            (f"depth-top-level-{depth}", _nest(depth, "{}")),
            (f"depth-in-string-{depth}", _credential_text(json.dumps("[" * depth))),
        ]
    texts += [
        ("depth-error-before-deep", _credential_text('[1,, ' + _nest(2000))),
        ("depth-duplicate-before-deep",
         '{"a": 1, "a": 2, "deep": ' + _nest(2000) + "}"),
        ("depth-mismatched-closers", _credential_text("[" * 100 + "}" * 100)),
        ("depth-closers-first", _credential_text("]" * 300 + "[" * 100)),
        ("depth-escaped-quote", _credential_text(json.dumps('\\"' + "[" * 300))),
    ]
    for number in BIG_INTEGERS:
        texts += [
            (f"big-int-{number[:24]}-{len(number)}", _credential_text(number)),
            (f"big-int-result-{number[:24]}-{len(number)}", _results(number)),
            (f"big-int-result-string-{number[:24]}-{len(number)}", _results(f'"{number}"')),
        ]
    for number in ("-0", "-0.0", "0.0", "1.0", "1", "1e400", "-1e400", "1e-400", "1E3",
                   "100E-1", "4.35", "0.1", "0.10000000000000001", "5e-324", "1e21"):
        texts += [(f"number-{number}", _credential_text(number)),
                  (f"number-result-{number}", _results(number))]
    for name, body in (
            ("duplicate-top", indented[:-2] + ',\n  "id": "urn:uuid:other"\n}'),
            ("duplicate-nested", _credential_text('{"k": 1, "k": 1}')),
            ("duplicate-escaped", _credential_text('{"k": 1, "\\u006b": 1}')),
            ("lone-high-surrogate", _credential_text('"\\ud800"')),
            ("lone-low-surrogate", _credential_text('"\\udc00x"')),
            ("lone-surrogate-key", _credential_text('{"\\ud800": 1}')),
            ("surrogate-pair", _credential_text('"\\ud83d\\ude00"')),
            ("surrogate-pair-reversed", _credential_text('"\\ude00\\ud83d"')),
            ("nul-escaped", _credential_text('"a\\u0000b"')),
            ("nul-raw", _credential_text('"a\x00b"')),
            ("nul-outside", indented + "\x00"),
            ("control-raw", _credential_text('"a\x1fb"')),
            ("del-raw", _credential_text('"a\x7fb"')),
            ("line-separator", _credential_text('"a\u2028b"')),
            ("trailing-garbage", indented + " x"),
            ("trailing-second-document", indented + "{}"),
            ("trailing-whitespace", indented + " \t\r\n"),
            ("leading-whitespace", "\n\t " + indented),
            ("form-feed", "\f" + indented),
            ("vertical-tab", indented + "\v"),
            ("nbsp", "\u00a0" + indented),
            ("bom-text", "\ufeff" + indented),
            ("crlf", indented.replace("\n", "\r\n")),
            ("tabs", indented.replace("  ", "\t")),
            ("compact", json.dumps(CREDENTIAL, separators=(",", ":"))),
            ("escaped-ascii", DIRECT["credential_json"].replace("Bachelor", "\\u0042achelor")),
            ("escaped-slash", DIRECT["credential_json"].replace("https://", "https:\\/\\/")),
            ("long-string", _credential_text(json.dumps("x" * 3_000_000))),
            ("long-key", _credential_text("1", name="k" * 100_000)),
            ("too-large", _credential_text(json.dumps("x" * (4 * 1024 * 1024)))),
            ("empty", ""),
            ("not-object", "[]"),
            ("single-quotes", "{'a': 1}"),
            ("comment", "// c\n" + indented),
            ("hex-number", _credential_text("0x10")),
            ("plus-number", _credential_text("+1")),
            ("leading-zero", _credential_text("01")),
            ("true-upper", _credential_text("True")),
    ):
        texts.append((name, body))
    unicode = _credential_with(name="École € 😀 \u2028")
    texts += [("non-ascii-raw", json.dumps(unicode, ensure_ascii=False)),
              ("non-ascii-escaped", json.dumps(unicode, ensure_ascii=True))]
    return texts


def credential_cases() -> list[Case]:
    cases = [webcases._case(f"credential/{name}", BUNDLE, text, now=NOW)
             for name, text in credential_texts()]
    for n, raw in enumerate([b"\xef\xbb\xbf" + DIRECT["credential_json"].encode(),
                             DIRECT["credential_json"].encode() + b"\xff",
                             b'{"a": "\xed\xa0\x80"}', b'{"a": "\xc0\xaf"}',
                             b'{"a": "\xf4\x90\x80\x80"}']):
        cases.append(webcases._case(f"credential/bytes-{n}", BUNDLE, raw.decode("latin-1"),
                                    now=NOW, credentialLatin1=True))
    return cases


def _bundle_text(edit: Callable[[dict[str, Any]], None] | None = None, **dumps: Any) -> str:
    document = copy.deepcopy(BUNDLE)
    if edit is not None:
        edit(document)
    return json.dumps(document, **{"indent": 2, **dumps}) + "\n"


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _noncanonical_base64(value: str) -> str:
    """The same bytes with nonzero padding bits: the last character before '=' plus one."""
    stem = value.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(stem[-1]) + 1]
    changed = stem[:-1] + last + value[len(stem):]
    assert base64.b64decode(changed) == base64.b64decode(value)
    return changed


def bundle_texts() -> list[tuple[str, str]]:
    """(name, bundle file text): the direct bundle, respelled or broken one way each."""
    text = _bundle_text()
    event = BUNDLE["event"]
    texts: list[tuple[str, str]] = [
        ("original", text),
        ("compact", _bundle_text(separators=(",", ":"))),
        ("non-ascii-raw", _bundle_text(ensure_ascii=False)),
        ("crlf", text.replace("\n", "\r\n")),
        ("tabs", text.replace("  ", "\t")),
        ("bom-text", "\ufeff" + text),
        ("trailing-garbage", text + "x"),
        ("trailing-nul", text + "\x00"),
        ("trailing-document", text + "{}"),
        ("duplicate-member", _replace(text, '"format":', '"origin": "x",\n  "format":')),
        ("duplicate-same-value", _replace(
            text, '"format":', f'"origin": {json.dumps(BUNDLE["origin"])},\n  "format":')),
        ("escaped-ascii-issuer", _replace(text, '"did:key:z', '"did:key:\\u007a')),
        ("escaped-ascii-origin", _replace(text, '"vcledger.example', '"\\u0076cledger.example')),
        ("escaped-member-name", _replace(text, '"format":', '"\\u0066ormat":')),
        ("lone-surrogate-origin", _replace(text, '"vcledger.example', '"\\ud800vcledger.example')),
        ("lone-surrogate-member-name", _replace(text, '"format":', '"\\udc00": 1,\n  "format":')),
        ("lone-surrogate-nested-name", _replace(text, '"value":', '"\\ud800x": 1, "value":')),
        ("lone-surrogate-event-proof", _replace(text, '"c2sp.org/tlog-proof@v1',
                                                '"c2sp.org/tlog-proof@v1\\ud800')),
        ("lone-surrogate-digest", _replace(text, f'"{BUNDLE["credential_digest"]}"',
                                           f'"{BUNDLE["credential_digest"][:-1]}\\ud800"')),
        ("lone-surrogate-status-proof", _replace(
            text, f'"{BUNDLE["status"]["issuer"]["proof"]}"',
            f'"\\udfff{BUNDLE["status"]["issuer"]["proof"][1:]}"')),
        ("nul-in-origin", _replace(text, '"vcledger.example', '"\\u0000vcledger.example')),
        ("raw-control-in-string", _replace(text, '"vcledger.example', '"\x01vcledger.example')),
        ("event-noncanonical-b64", _replace(text, json.dumps(event),
                                            json.dumps(_noncanonical_base64(event)))),
        ("event-b64-no-padding", _replace(text, json.dumps(event), json.dumps(event.rstrip("=")))),
        ("event-b64-newline", _replace(text, json.dumps(event),
                                       json.dumps(event[:40] + "\n" + event[40:]))),
        ("event-b64-space", _replace(text, json.dumps(event),
                                     json.dumps(event[:40] + " " + event[40:]))),
        ("event-b64-urlsafe", _replace(text, json.dumps(event),
                                       json.dumps(event.replace("+", "-").replace("/", "_")))),
        ("header-noncanonical-b64", _replace(text, json.dumps(BUNDLE["header"]),
                                             json.dumps(_noncanonical_base64(BUNDLE["header"])))),
        ("event-proof-noncanonical-root", _replace(
            text, BUNDLE["event_proof"].split("\n")[2],
            _noncanonical_base64(BUNDLE["event_proof"].split("\n")[2]))),
        ("deep-extra-member", _replace(text, '"format":', f'"zz": {_nest(2000)},\n  "format":')),
        ("deep-extra-shallow", _replace(text, '"format":', f'"zz": {_nest(3)},\n  "format":')),
    ]
    for depth in DEPTHS:
        texts.append((f"deep-status-{depth}", _replace(
            text, '"status": {', '"status": ' + "[" * depth + "{").replace(
                '\n  "block_headers"', "]" * depth + ',\n  "block_headers"', 1)))
        texts.append((f"deep-top-{depth}", "[" * depth + text + "]" * depth))
    header = BUNDLE["block_headers"][0]
    number_edits = {"index-float": "1.0", "index-negative-zero": "-0", "index-1e400": "1e400",
                    "index-2^53+1": "9007199254740993", "index-2^64": "18446744073709551616",
                    "index-exponent": "1E1", "index-huge": "9" * 5000}
    for name, number in number_edits.items():
        texts.append((f"header-{name}", _replace(
            text, f'"index": {header["index"]}', f'"index": {number}')))
    return texts


def bundle_cases() -> list[Case]:
    cases = [webcases._case(f"bundle/{name}", text, DIRECT["credential_json"], now=NOW)
             for name, text in bundle_texts()]
    receipt = BATCH["bundle"]["receipt"]
    batch = json.dumps(BATCH["bundle"], indent=2) + "\n"
    for name, new in (("float", "0.0"), ("negative-zero", "-0"), ("big", "9007199254740993")):
        cases.append(webcases._case(
            f"bundle/receipt-index-{name}",
            _replace(batch, f'"index": {receipt["index"]}', f'"index": {new}'),
            BATCH["credential_json"], now=NOW))
    return cases


def all_cases() -> list[Case]:
    cases = credential_cases() + bundle_cases()
    assert len({case["name"] for case in cases}) == len(cases), "case names are unique"
    return cases


def python_verdict(case: Case) -> dict[str, Any]:
    """What ``vcledger verify --json`` prints for the case, with the exit code it returns."""
    verdict = webcases.expected(case)
    return {"verdict": json.loads(json.dumps(verdict)), "exit": EXIT_CODES[verdict["status"]]}


BROWSER_VERDICTS = """async (cases) => {
    const out = [];
    for (const c of cases) {
        const credential = c.options.credentialLatin1
            ? Uint8Array.from(c.credential, (ch) => ch.charCodeAt(0)) : c.credential;
        const verdict = await window.vcledger.verify(c.bundle, c.trust, credential, c.options);
        out.push({verdict: JSON.parse(JSON.stringify(verdict)),
                  exit: window.vcledger.EXIT_CODES[verdict.status]});
    }
    return out;
}"""
"""Each case through the page's verify, as JSON text would carry it, with its exit code."""


def test_browser_and_python_give_the_same_verdict_on_every_crafted_file(page: Any) -> None:
    cases = all_cases()
    page.goto(test_browser._file_url(test_browser.WEB / "index.html"))
    differences = []
    for start in range(0, len(cases), 40):
        chunk = cases[start:start + 40]
        for case, got in zip(chunk, page.evaluate(BROWSER_VERDICTS, chunk), strict=True):
            want = python_verdict(case)
            if got != want:
                differences.append((case["name"], want, got))
    assert not differences, "\n".join(
        f"{name}:\n  python:  {json.dumps(want)[:600]}\n  browser: {json.dumps(got)[:600]}"
        for name, want, got in differences[:8]) + f"\n({len(differences)} differ)"


# -- pathways: the claims read from each credential ------------------------------------------

lab = test_browser_pathway.lab
"""tests/system/test_browser_pathway.py's ledger: Open Badges credentials and pathways."""

RESULTS = (*BIG_INTEGERS, "-0", "70.0", "1e400", "0.10000000000000001", '"9007199254740993"',
           '"12345678901234567890.5"', '"1' + '0' * 400 + '"', '"12345678901234567000"',
           _nest(MAX_JSON_DEPTH + 1))
"""Result values a holder could write into an Open Badges credential they present."""


def pathway_cases(lab: Any) -> list[Case]:
    """The complete v1 pathway, its SQL badge's result changed by the holder: the bundle no
    longer matches (step 7), and the result the verdict shows must still be the same."""
    bundle, credential = lab.pairs["sql"]
    document = json.loads(credential)
    document["credentialSubject"]["result"] = [{"type": ["Result"], "value": "@V@"}]
    template = json.dumps(document, indent=2)
    others = [lab.pairs[name] for name in ("statistics", "visualisation")]
    cases = []
    for value in RESULTS:
        case = test_browser_pathway._case(lab, f"pathway/result-{value[:30]}-{len(value)}", "v1")
        case["pairs"] = [(bundle, template.replace('"@V@"', value)), *others]
        cases.append(case)
    return cases


PATHWAY_VERDICT_TEXTS = f"""async (packed) => (await ({test_browser_pathway.VERIFY_PATHWAYS})(
    packed)).map((verdict) => JSON.stringify(verdict))"""
"""Each verdict as the JSON text the page writes: numbers as ECMAScript prints doubles."""


def test_pathway_verdicts_show_the_same_claims(page: Any, lab: Any) -> None:
    """Compared as JSON texts read back exactly (Python ints), not as values that crossed
    into Python as doubles: a verdict that prints 9007199254740993 where the page prints
    9007199254740992 is a different verdict to whoever reads it."""
    cases = pathway_cases(lab)
    page.goto(test_browser._file_url(test_browser.WEB / "index.html"))
    texts = page.evaluate(PATHWAY_VERDICT_TEXTS,
                          list(test_browser_pathway._packed(cases, lab.trust_text)))
    differences = []
    for case, text in zip(cases, texts, strict=True):
        want = json.loads(json.dumps(lab.expected(case)))
        got = json.loads(text)
        if got != want:
            differences.append((case["name"], want["credentials"], got["credentials"]))
        assert want["status"] == "incomplete", case["name"]
    assert not differences, test_browser_pathway._report(differences)
