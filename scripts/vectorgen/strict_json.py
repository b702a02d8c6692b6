"""Strict JSON limit vectors: the nesting cap and the refusals (docs/protocol.md §13.1).

Depths are counted here with a plain character loop written from the §13.1 rule, not
with client.strictjson.  Checked by tests/protocol/test_strict_json_vectors.py.
"""

from __future__ import annotations

MAX_DEPTH = 128


def _problem(text: str) -> str | None:
    depth, in_string, escaped = 0, False, False
    for position, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return (f"nests more than {MAX_DEPTH} arrays and objects deep "
                        f"(at character {position})")
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


NESTING = [
    ("128 arrays", "[" * 128 + "]" * 128),
    ("129 arrays", "[" * 129 + "]" * 129),
    ("129 objects", '{"a":' * 129 + "1" + "}" * 129),
    ("brackets inside a string", '["' + "[" * 200 + '"]'),
    ("an escaped quote does not end the string", '["\\"' + "[" * 200 + '"]'),
    ("an escaped backslash does", '["\\\\"' + "[" * 129 + "]" * 129 + "]"),
    ("closers never go below zero", "]" * 5 + "[" * 129),
    ("an unterminated string runs to the end", '["' + "[" * 200),
    ("code points, not bytes", '["\u00e9\u00e9",' + "[" * 128 + "]" * 128 + "]"),
]

REFUSED = [
    ("a byte order mark", b"\xef\xbb\xbf{}"),
    ("invalid UTF-8", b'{"a": "\xff"}'),
    ("a duplicate member name", b'{"a": 1, "a": 1}'),
    ("NaN", b"[NaN]"),
    ("Infinity", b"[-Infinity]"),
]


def generate() -> dict[str, object]:
    return {"strict_json.json": {
        "description": "JSON limits of every document the protocol reads (docs/protocol.md "
                       "§13.1). 'nesting': a text and its nesting problem (null: within the "
                       f"cap of {MAX_DEPTH}), counted on the text before parsing. 'refused': "
                       "bytes (hex) that strict parsing refuses.",
        "max_depth": MAX_DEPTH,
        "nesting": [{"name": n, "text": t, "problem": _problem(t)} for n, t in NESTING],
        "refused": [{"name": n, "data": d.hex()} for n, d in REFUSED],
    }}
