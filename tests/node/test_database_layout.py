"""The documented database layout is the one node/store.py writes.

Every write method of :class:`node.store.Store` is called once; the raw keys
LevelDB then holds give the families (first byte) and the key lengths, which
must match protocol.md §15.1 (the byte layout), operations.md §7 (the
operator's map) and the table in node/store.py's docstring.  A family added,
dropped or reshaped in one place and not the others fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import plyvel

import node.store
from client.hashes import Hash
from node.store import Store

ROOT = Path(__file__).resolve().parents[2]
HASH = Hash(bytes(range(32)))


def table_rows(text: str, heading: str) -> dict[str, str]:
    """The first markdown table after ``heading``: the prefix letter to the key column."""
    section = text[text.index(heading):]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        match = re.match(r"\| `([A-Z])`[^|]*\| ([^|]*)\|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
        elif rows and not line.startswith("|"):
            break
    return rows


def written_keys(tmp_path: Path) -> dict[str, set[int]]:
    """Prefix -> the lengths of the keys after it, for one write through each method."""
    store = Store.open(tmp_path / "db", create=True)
    try:
        batch = store.batch()
        batch.put_meta(b"log_size", bytes(8))
        batch.put_tile(8, 3, HASH)
        batch.put_entry(5, b"leaf")
        batch.put_event_position(HASH, 5, 2)
        batch.put_block(2, b"record")
        batch.put_nodes({HASH: b"node"})
        batch.put_status({HASH: b"record"})
        batch.commit()
        store.put_cosignatures(6, "— node0 AAAA\n".encode())
        store.put_wal(b"consensus", b"snapshot")
        store.put_evidence(b"evidence key", b"evidence")
    finally:
        store.close()
    db = plyvel.DB(str(tmp_path / "db"))
    try:
        families: dict[str, set[int]] = {}
        for key in db.iterator(include_value=False):
            families.setdefault(chr(key[0]), set()).add(len(key) - 1)
    finally:
        db.close()
    return families


def fixed_key_length(description: str) -> int | None:
    """The key length a protocol.md key column states, or None for a variable-length key."""
    if "BE64" not in description and "32 bytes" not in description:
        return None
    return (8 * description.count("BE64") + 32 * description.count("32 bytes")
            + description.count("1 byte"))


def test_documented_families_are_the_written_ones(tmp_path: Path) -> None:
    written = written_keys(tmp_path)
    protocol = table_rows((ROOT / "docs" / "protocol.md").read_text(), "### 15.1 Key families")
    operations = table_rows((ROOT / "docs" / "operations.md").read_text(), "## 7. Storage")
    docstring = set(re.findall(r"^``([A-Z])``", node.store.__doc__ or "", re.MULTILINE))
    assert set(written) == set(protocol) == set(operations) == docstring, (
        sorted(written), sorted(protocol), sorted(operations), sorted(docstring))
    for prefix, description in protocol.items():
        length = fixed_key_length(description)
        if length is not None:
            assert written[prefix] == {length}, (prefix, description, written[prefix])


def test_the_key_lengths_are_read_from_the_table() -> None:
    # The reading of protocol.md's key column, on its own shapes.
    assert fixed_key_length("level (1 byte, 0..63) ‖ tile index (BE64)") == 9
    assert fixed_key_length("leaf hash (32 bytes)") == 32
    assert fixed_key_length("ASCII name") is None
