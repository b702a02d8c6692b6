"""C2SP tlog checkpoints (c2sp.org/tlog-checkpoint) and their k-of-n cosignature check.

A checkpoint body is exactly three lines::

    <origin>
    <tree size, ASCII decimal, no leading zeros>
    <base64 of the 32-byte RFC 9162 root hash>

vcledger checkpoints never carry extension lines (tlog-checkpoint marks them
NOT RECOMMENDED because monitors cannot audit them), so :func:`parse_checkpoint`
rejects any: there is exactly one byte form for each (origin, size, root).

Validators sign checkpoints with cosignature/v1 (c2sp.org/tlog-cosignature,
signature type 0x04).  :func:`verify_checkpoint` applies the network's trust
policy: at least ``threshold`` valid cosignatures by distinct trusted keys.

A verified checkpoint has a *time*: the moment by which ``threshold``
distinct trusted validators had cosigned it, i.e. the threshold-th newest
counted cosignature timestamp.  A v1 cosignature states that, as of its
timestamp, this was the largest tree its signer had seen; so the time is
what the trust policy itself vouches for.  Fewer than ``threshold`` faulty
validators can neither make a checkpoint look fresher (a lone "now" among
old cosignatures does not move it) nor older than the honest ones say.
Cosignatures dated more than :data:`MAX_FUTURE_DRIFT` seconds after the
verifier's clock are not counted at all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from client import encoding, note
from client.errors import InvalidEncoding, SignatureError, UsageError, VerificationError
from client.hashes import HASH_SIZE, Hash, as_hash
from client.note import MAX_FUTURE_DRIFT, Verifier

__all__ = [
    "MAX_CHECKPOINT_BODY_SIZE",
    "MAX_FUTURE_DRIFT",
    "MAX_ORIGIN_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "Cosigner",
    "VerifiedCheckpoint",
    "checkpoint_time",
    "format_checkpoint",
    "parse_checkpoint",
    "verify_checkpoint",
]

MAX_ORIGIN_SIZE = 255
"""Longest origin in UTF-8 bytes (the 1-byte length of tlog-cosignature's ML-DSA form)."""

MAX_TREE_SIZE = 2**64 - 1

MAX_CHECKPOINT_BODY_SIZE = MAX_ORIGIN_SIZE + 21 + 45
"""Origin line, 20-digit size line, 44-character root line, with their newlines."""

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _origin_problem(origin: object) -> str | None:
    if not isinstance(origin, str):
        return f"origin must be a string, got {type(origin).__name__}"
    if not origin:
        return "origin is empty"
    try:
        size = len(origin.encode("utf-8"))
    except UnicodeEncodeError:
        return "origin is not valid UTF-8"
    if size > MAX_ORIGIN_SIZE:
        return f"origin is {size} bytes; at most {MAX_ORIGIN_SIZE} are allowed"
    if _CONTROL.search(origin):
        return "origin contains a control character"
    return None


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size and RFC 9162 root hash."""

    origin: str
    tree_size: int
    root: Hash

    def body(self) -> str:
        """The checkpoint note body (three lines)."""
        return format_checkpoint(self.origin, self.tree_size, self.root)


def format_checkpoint(origin: str, tree_size: int, root: bytes) -> str:
    """The checkpoint body: origin, tree size and base64 root, each line ending in ``\\n``.

    Preconditions: ``origin`` is 1..255 bytes of UTF-8 without control
    characters; ``0 <= tree_size < 2^64``; ``root`` is 32 bytes.
    """
    problem = _origin_problem(origin)
    if problem:
        raise UsageError(problem)
    if isinstance(tree_size, bool) or not isinstance(tree_size, int):
        raise UsageError(f"tree size must be an int, got {type(tree_size).__name__}")
    if not 0 <= tree_size <= MAX_TREE_SIZE:
        raise UsageError(f"tree size {tree_size} is outside 0..2^64-1")
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        raise UsageError(f"root must be {HASH_SIZE} bytes")
    return f"{origin}\n{tree_size}\n{encoding.encode_base64(root)}\n"


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint body in the one form :func:`format_checkpoint` writes.

    Rejects, with :class:`InvalidEncoding`: anything but three newline-ended
    lines (so extension lines too), an empty or over-long origin or one with
    control characters, a tree size with a sign, leading zeros or over 2^64-1,
    and a root that is not the canonical base64 of 32 bytes.

    Results are cached by text (parsing is pure and a :class:`Checkpoint` is
    immutable), as :func:`note.parse_note` caches the note around it: a bundle
    carries its checkpoint in two proofs, and bundles checked together share
    one.  Failures are not cached.
    """
    if not isinstance(body, str):
        raise InvalidEncoding(f"checkpoint must be text, got {type(body).__name__}")
    if len(body) > MAX_CHECKPOINT_BODY_SIZE:
        raise InvalidEncoding(f"checkpoint is longer than {MAX_CHECKPOINT_BODY_SIZE} characters")
    return _parse_checkpoint(body)


@functools.lru_cache(maxsize=256)
def _parse_checkpoint(body: str) -> Checkpoint:
    if not body.endswith("\n"):
        raise InvalidEncoding("checkpoint does not end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidEncoding(f"checkpoint has {len(lines)} lines; it needs origin, size and root")
    if len(lines) > 3:
        raise InvalidEncoding(
            "checkpoint has extension lines after the root; vcledger checkpoints carry none"
        )
    origin, size_text, root_text = lines
    problem = _origin_problem(origin)
    if problem:
        raise InvalidEncoding(f"checkpoint {problem}")
    if not _DECIMAL.fullmatch(size_text):
        raise InvalidEncoding(
            f"checkpoint tree size {size_text[:40]!r} is not a decimal without leading zeros"
        )
    tree_size = int(size_text)
    if tree_size > MAX_TREE_SIZE:
        raise InvalidEncoding(f"checkpoint tree size {tree_size} exceeds 2^64-1")
    root = encoding.decode_base64(root_text, "checkpoint root hash")
    checkpoint = Checkpoint(origin, tree_size, as_hash(root, "checkpoint root hash"))
    # Re-encode and compare: the one byte form, whatever the checks above missed.
    if checkpoint.body() != body:
        raise InvalidEncoding("checkpoint is not in canonical form")
    return checkpoint


@dataclass(frozen=True)
class Cosigner:
    """A trusted validator key whose cosignature on the checkpoint verified."""

    name: str
    key_id: bytes
    public_key: bytes
    timestamp: int


def checkpoint_time(timestamps: Iterable[int], threshold: int) -> int:
    """The threshold-th newest of ``timestamps``: when ``threshold`` signers had all signed.

    Precondition: at least ``threshold >= 1`` timestamps, one per distinct
    signer (:func:`verify_checkpoint` guarantees both).
    """
    ordered = sorted(timestamps, reverse=True)
    assert 1 <= threshold <= len(ordered), (threshold, len(ordered))
    return ordered[threshold - 1]


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint that met the trust policy, with the cosignatures that counted."""

    checkpoint: Checkpoint
    cosigners: tuple[Cosigner, ...]
    time: int
    """POSIX seconds by which ``threshold`` distinct trusted validators had cosigned this
    tree (the threshold-th newest counted cosignature): how fresh the checkpoint is."""


def verify_checkpoint(
    note_text: str,
    origin: str,
    verifiers: Iterable[Verifier | str],
    threshold: int,
    *,
    now: int | None = None,
) -> VerifiedCheckpoint:
    """Open a cosigned checkpoint under a trust policy.

    Trusted: ``origin`` (the network name), ``verifiers`` (the validators'
    cosignature/v1 verifier keys, type 0x04) and ``threshold``.  Untrusted:
    ``note_text``.  Steps:

    1. parse the note and its checkpoint body (no cryptography yet);
    2. the checkpoint's origin must equal ``origin``;
    3. verify every signature by a trusted key (signed-note rules: any bad one
       rejects the note; unknown keys are ignored; see :func:`note.open_note`,
       which also explains ``now``);
    4. count distinct trusted public keys with a valid cosignature; fewer than
       ``threshold`` rejects the checkpoint;
    5. the checkpoint's :attr:`VerifiedCheckpoint.time` is the threshold-th
       newest of the counted cosignature timestamps (:func:`checkpoint_time`).

    With ``now`` (POSIX seconds from the caller's clock), a cosignature dated
    more than :data:`MAX_FUTURE_DRIFT` seconds after ``now`` counts neither
    toward the threshold nor the time; without it, every timestamp is taken
    as it is (callers that judge freshness must pass ``now``).

    A key listed twice under different names still counts once, so the
    policy cannot be met by one validator signing under two names.
    """
    known = note.verifier_map(verifiers)
    distinct_keys = {verifier.public_key for verifier in known.values()}
    for verifier in known.values():
        if verifier.sig_type != note.SIG_COSIGNATURE_V1:
            raise UsageError(
                f"trusted key {verifier.name}+{verifier.key_id.hex()} has signature type "
                f"0x{verifier.sig_type:02x}; validators cosign with cosignature/v1 (0x04)"
            )
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise UsageError(f"threshold must be a positive integer, got {threshold!r}")
    if threshold > len(distinct_keys):
        raise UsageError(
            f"threshold {threshold} exceeds the {len(distinct_keys)} distinct trusted keys"
        )
    parsed = note.parse_note(note_text)
    checkpoint = parse_checkpoint(parsed.body)
    if checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint is for origin {checkpoint.origin!r}, not the trusted origin {origin!r}"
        )
    opened = note.open_parsed_note(parsed, known, now=now)
    cosigners: dict[bytes, Cosigner] = {}
    for signature in opened.signatures:
        assert signature.sig_type == note.SIG_COSIGNATURE_V1 and signature.timestamp is not None
        cosigners.setdefault(
            signature.public_key,
            Cosigner(signature.name, signature.key_id, signature.public_key, signature.timestamp),
        )
    if len(cosigners) < threshold:
        future = (
            f" ({opened.ignored_future} more dated over {MAX_FUTURE_DRIFT} s in the future "
            "were not counted; is this computer's clock right?)"
            if opened.ignored_future else ""
        )
        raise SignatureError(
            f"checkpoint has valid cosignatures by {len(cosigners)} trusted validator(s); "
            f"the trust policy requires {threshold}{future}"
        )
    counted = tuple(cosigners.values())
    return VerifiedCheckpoint(
        checkpoint, counted, checkpoint_time((c.timestamp for c in counted), threshold)
    )
