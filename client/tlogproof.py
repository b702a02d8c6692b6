"""The C2SP transparency-log proof text format (c2sp.org/tlog-proof@v1).

An offline inclusion proof: the entry's index, its RFC 9162 audit path, and
the (cosigned) checkpoint the path leads to::

    c2sp.org/tlog-proof@v1
    extra <base64 of opaque extra data>        (only if there is extra data)
    index <zero-based index, decimal>
    <base64 of audit path hash 1>               (zero or more lines,
    ...                                          leaf's sibling first)
    <blank line>
    <checkpoint note, verbatim>

This module only formats and parses.  It checks the checkpoint note's syntax
and that the index lies inside the checkpoint's tree, but verifies neither
the signatures (:func:`client.checkpoint.verify_checkpoint`) nor the audit
path (the Merkle module); ``extra`` is never authenticated (tlog-proof
"Format") and callers must not trust it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from client import encoding, note
from client.checkpoint import Checkpoint, parse_checkpoint
from client.errors import InvalidEncoding, UsageError
from client.hashes import HASH_SIZE, Hash, as_hash

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 64
"""An RFC 9162 audit path in a tree of fewer than 2^64 leaves has at most 64 hashes."""

MAX_EXTRA_SIZE = 16 * 1024
"""Largest extra data, in bytes."""

MAX_HEADER_SIZE = (
    len(HEADER) + 1 + 6 + (MAX_EXTRA_SIZE + 2) // 3 * 4 + 1 + 6 + 20 + 1 + MAX_PROOF_HASHES * 45
)
MAX_TLOG_PROOF_SIZE = MAX_HEADER_SIZE + 1 + note.MAX_NOTE_SIZE

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class TlogProof:
    """An index, its audit path, the checkpoint note, and optional opaque extra data."""

    index: int
    proof: tuple[Hash, ...]
    checkpoint_note: str
    extra: bytes | None = None

    def checkpoint(self) -> Checkpoint:
        """The checkpoint in :attr:`checkpoint_note`, parsed but NOT verified."""
        return parse_checkpoint(note.parse_note(self.checkpoint_note).body)


def format_tlog_proof(
    index: int, proof: Sequence[bytes], checkpoint_note: str, extra: bytes | None = None
) -> str:
    """Format a tlog-proof@v1 text.

    Preconditions: ``0 <= index < tree size`` of the checkpoint; ``proof`` has
    at most 64 hashes of 32 bytes; ``checkpoint_note`` is a signed checkpoint
    note; ``extra`` is None or 1..16 KiB (empty extra data has no line of its
    own, so it is given as None).
    """
    text = _unchecked_text(index, proof, checkpoint_note, extra)
    _parse_formatted(text)
    return text


def make_tlog_proof(
    index: int, proof: Sequence[bytes], checkpoint_note: str, extra: bytes | None = None
) -> TlogProof:
    """The proof :func:`format_tlog_proof` would write, as :func:`parse_tlog_proof` reads it
    back: same preconditions, same :class:`UsageError`, one parse."""
    return _parse_formatted(_unchecked_text(index, proof, checkpoint_note, extra))


def _unchecked_text(
    index: int, proof: Sequence[bytes], checkpoint_note: str, extra: bytes | None
) -> str:
    """The text, with the preconditions a parse cannot see checked; the rest is left to
    :func:`_parse_formatted`."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise UsageError(f"index must be an int, got {type(index).__name__}")
    if len(proof) > MAX_PROOF_HASHES:
        raise UsageError(f"an audit path has at most {MAX_PROOF_HASHES} hashes, got {len(proof)}")
    for position, node in enumerate(proof):
        if not isinstance(node, bytes) or len(node) != HASH_SIZE:
            raise UsageError(f"audit path hash {position} is not {HASH_SIZE} bytes")
    if extra is not None and not (isinstance(extra, bytes) and 1 <= len(extra) <= MAX_EXTRA_SIZE):
        raise UsageError(f"extra must be None or 1..{MAX_EXTRA_SIZE} bytes")
    lines = [HEADER]
    if extra is not None:
        lines.append(f"extra {encoding.encode_base64(extra)}")
    lines.append(f"index {index}")
    lines.extend(encoding.encode_base64(node) for node in proof)
    return "\n".join(lines) + "\n\n" + checkpoint_note


def _parse_formatted(text: str) -> TlogProof:
    # What we write must read back: the index in the tree, a well-formed note.
    try:
        return parse_tlog_proof(text)
    except InvalidEncoding as exc:
        raise UsageError(f"cannot format tlog proof: {exc}") from None


def parse_tlog_proof(text: str) -> TlogProof:
    """Parse a tlog-proof@v1 text in its one canonical form.

    Rejects, with :class:`InvalidEncoding`: a missing or different first line;
    an ``extra`` line that is empty, non-canonical base64 or over the cap; an
    index with leading zeros or outside the checkpoint's tree; audit path
    lines that are not canonical base64 of 32 bytes, or more than 64 of them;
    a missing blank line; and a checkpoint that is not a well-formed note with
    a vcledger checkpoint body.
    """
    if not isinstance(text, str):
        raise InvalidEncoding(f"tlog proof must be text, got {type(text).__name__}")
    if len(text) > MAX_TLOG_PROOF_SIZE:
        raise InvalidEncoding(f"tlog proof is longer than {MAX_TLOG_PROOF_SIZE} characters")
    # The header has no empty line, so the first blank line ends it.
    split = text.find("\n\n", 0, MAX_HEADER_SIZE + 2)
    if split < 0:
        raise InvalidEncoding("tlog proof has no blank line before the checkpoint")
    lines = text[:split].split("\n")
    checkpoint_note = text[split + 2 :]
    if lines[0] != HEADER:
        raise InvalidEncoding(f"tlog proof does not start with the line {HEADER!r}")
    position = 1
    extra: bytes | None = None
    if position < len(lines) and lines[position].startswith("extra "):
        extra = encoding.decode_base64(lines[position][len("extra ") :], "tlog proof extra data")
        if not extra:
            raise InvalidEncoding("tlog proof has an empty extra line; omit the line instead")
        if len(extra) > MAX_EXTRA_SIZE:
            raise InvalidEncoding(f"tlog proof extra data is over {MAX_EXTRA_SIZE} bytes")
        position += 1
    if position >= len(lines) or not lines[position].startswith("index "):
        raise InvalidEncoding("tlog proof has no 'index' line")
    index_text = lines[position][len("index ") :]
    if not _DECIMAL.fullmatch(index_text):
        raise InvalidEncoding(
            f"tlog proof index {index_text[:40]!r} is not a decimal without leading zeros"
        )
    index = int(index_text)
    hash_lines = lines[position + 1 :]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise InvalidEncoding(
            f"tlog proof has {len(hash_lines)} audit path hashes; at most {MAX_PROOF_HASHES}"
        )
    proof = tuple(
        as_hash(
            encoding.decode_base64(line, f"tlog proof audit path hash {n}"),
            f"tlog proof audit path hash {n}",
        )
        for n, line in enumerate(hash_lines)
    )
    checkpoint = parse_checkpoint(note.parse_note(checkpoint_note).body)
    if index >= checkpoint.tree_size:
        raise InvalidEncoding(
            f"tlog proof index {index} is outside the checkpoint's tree of size "
            f"{checkpoint.tree_size}"
        )
    return TlogProof(index, proof, checkpoint_note, extra)
