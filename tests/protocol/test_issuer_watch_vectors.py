"""tests/vectors/issuer_watch.json against client/issuer_watch.py (docs/protocol.md §10.4).

The vectors' peaks and file names were computed with hashlib alone
(scripts/vectorgen/issuer_watch.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.issuer_watch import format_watch_state, load_watch_state, watch_state_file
from client.merkle import CompactRange, leaf_hash
from client.state import StateFileError

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "issuer_watch.json").read_text())
ORIGIN, ISSUER = VECTORS["origin"], VECTORS["issuer"]


@pytest.mark.parametrize("case", VECTORS["file_names"], ids=lambda c: c["issuer"])
def test_watch_file_name(case: dict, tmp_path: Path) -> None:
    name = watch_state_file(tmp_path / case["state_file"], case["issuer"])
    assert name == tmp_path / case["file_name"]


@pytest.mark.parametrize("case", VECTORS["documents"], ids=lambda c: str(len(c["leaves"])))
def test_watch_document_loads_and_reformats(case: dict, tmp_path: Path) -> None:
    path = tmp_path / "watch.json"
    path.write_text(case["text"])
    watch = load_watch_state(path, ORIGIN, ISSUER)
    grown = CompactRange()
    for leaf in case["leaves"]:
        grown.append(leaf_hash(bytes.fromhex(leaf)))
    assert (watch.tree_size, watch.compact.peaks) == (grown.size, grown.peaks)
    assert sorted(h.hex() for h in watch.reported) == json.loads(case["text"])["reported"]
    assert format_watch_state(watch) == case["text"]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["why"])
def test_bad_watch_documents_are_refused(case: dict, tmp_path: Path) -> None:
    path = tmp_path / "watch.json"
    path.write_text(case["text"])
    with pytest.raises(StateFileError):
        load_watch_state(path, ORIGIN, ISSUER)
