"""Client state file vectors (``vcledger-state/v1``, docs/protocol.md §10.3).

The file name of each origin (a slug, then the first 16 hex digits of SHA-256 of the
origin, computed here with hashlib and a restated slug rule) and one state document
holding the checkpoint of the pathway-bundle vectors' ledger.  Checked by
tests/client/test_state.py.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from vectorgen import pathway_bundle

ORIGINS = ["vcledger.example/bundles", "localhost:8080/dev net", "../../etc/passwd", "///",
           "é" * 70, "a" * 100]


def _name(origin: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", origin).strip("._-")[:64] or "network"
    return f"{slug}.{hashlib.sha256(origin.encode()).hexdigest()[:16]}.json"


def generate() -> dict[str, object]:
    built = pathway_bundle.generate()["pathway_bundle_valid.json"]
    assert isinstance(built, dict)
    case: dict[str, Any] = built["cases"][0]
    note = case["bundle"]["event_proof"].partition("\n\n")[2]
    return {"state.json": {
        "description": "Client state files (docs/protocol.md §10.3): 'file_names' maps a "
                       "network origin to its file's name in the state directory; 'document' "
                       "is a state file for 'trust' (the text is json.dumps(indent=2) plus a "
                       "newline, members in this order).",
        "file_names": [{"origin": o, "file_name": _name(o)} for o in ORIGINS],
        "trust": built["trust"],
        "document": {"format": "vcledger-state/v1", "origin": built["trust"]["origin"],
                     "node": "http://127.0.0.1:8080", "checkpoint": note},
    }}
