"""The newest checkpoint this machine has verified, per network: no going back, no forks.

A node, or a mirror in front of it, can answer every request honestly except
one: ``GET /v1/checkpoint`` with an older checkpoint, validly cosigned back
then.  Everything proven against it is true *as of then*: a revocation made
since is hidden.  The signatures cannot show this; only memory can.  So, like
Go's sumdb client, vcledger remembers, per network origin, the newest
checkpoint it verified, and for every new one

* refuses a smaller tree size (:class:`CheckpointRollback`: "this node serves tree
  size 14; already verified 78 — it may be stale or hiding events");
* for the same size, requires the same root;
* for a larger size, fetches an RFC 9162 §2.1.4 consistency proof from the
  node that serves it and verifies it (:mod:`client.merkle`);

and refuses an inconsistent one as a fork (:class:`ForkDetected`, carrying
both signed checkpoints as evidence anyone can check with the trust file).
Then it remembers the newer checkpoint.

Where: one file per origin in ``$VCLEDGER_STATE_DIR``, else
``$XDG_STATE_HOME/vcledger``, else ``~/.local/state/vcledger`` (the XDG base
directory for state that should survive restarts but is not worth backing
up).  ``vcledger status``, ``refresh`` and ``monitor`` share it, so they share
one view of each network.  The file holds the cosigned checkpoint note
itself, not just a size and root: it is verified again under the trust file
on every read, so an edited state file cannot make vcledger accept a fork or
an unsigned history, only forget (which is what deleting it does anyway).
Writes are atomic (temporary file, fsync, rename) and made under a lock, and
never replace a newer checkpoint with an older one, so concurrent runs do not
undo each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Protocol

from pydantic import Field, ValidationError

from client import strictjson
from client.checkpoint import Checkpoint, VerifiedCheckpoint, verify_checkpoint
from client.errors import LedgerError, UsageError, VerificationError
from client.files import write_text_atomically
from client.hashes import Hash
from client.merkle import verify_consistency
from client.strictmodel import StrictModel, describe_validation_error
from client.trust import Trust

__all__ = [
    "LEGACY_FORMATS",
    "STATE_DIR_ENV",
    "STATE_FORMAT",
    "CheckpointMemory",
    "CheckpointRollback",
    "ConsistencyProver",
    "Evidence",
    "ForkDetected",
    "Remembered",
    "StateFileError",
    "check_against_remembered",
    "check_and_remember",
    "chosen_state_file",
    "consistency_problem",
    "default_state_dir",
    "format_state",
    "load_remembered",
    "prove_consistent",
    "remember",
    "remembered_checkpoint",
    "state_file",
]

STATE_DIR_ENV = "VCLEDGER_STATE_DIR"
STATE_FORMAT = "vcledger-state/v1"
LEGACY_FORMATS = frozenset({"vcledger-monitor/v1"})
"""Formats still read: ``vcledger monitor --state`` files from before this module."""

MAX_STATE_SIZE = 1024 * 1024
MAX_NODE_LENGTH = 2048


class StateFileError(UsageError):
    """A state file cannot be used: unreadable, unwritable, malformed or not verifiable."""

    code = "bad_state_file"


class CheckpointRollback(LedgerError):
    """A node served an older checkpoint than one already verified: stale, or hiding events.

    Not evidence of misbehaviour on its own (a lagging replica looks the
    same), so it exits 1 like other node troubles: ask another node.
    """

    code = "checkpoint_rollback"
    exit_code = 1


@dataclass(frozen=True, slots=True)
class Evidence:
    """A validly cosigned checkpoint note and where it came from."""

    node: str
    note: str

    def as_json(self) -> dict[str, str]:
        return {"node": self.node, "checkpoint": self.note}


class ForkDetected(VerificationError):
    """Two validly cosigned checkpoints that no consistency proof reconciles.

    The network's validators signed two histories (or the trust file's keys
    are compromised).  ``first`` and ``second`` are the evidence: anyone can
    check both notes with the trust file alone.
    """

    code = "fork"

    def __init__(self, description: str, first: Evidence, second: Evidence) -> None:
        self.description = description
        self.first = first
        self.second = second
        super().__init__(description)

    def diagnostics(self) -> str:
        return "\n".join([
            f"fork: {self.description}.  Both checkpoints are validly cosigned under the "
            "trust file: the network signed two histories.  Keep both as evidence and "
            "tell the network's operators.",
            *self.evidence_lines(),
        ])

    def evidence_lines(self) -> list[str]:
        """Both checkpoint notes, each under a line naming where it came from."""
        lines: list[str] = []
        for label, evidence in (("first", self.first), ("second", self.second)):
            lines.append(f"{label} checkpoint, from {evidence.node}:")
            lines.extend(f"    {line}" for line in evidence.note.splitlines())
        return lines

    def as_json(self) -> dict[str, Any]:
        return {"description": self.description, "first": self.first.as_json(),
                "second": self.second.as_json()}


# -- where -------------------------------------------------------------------------------


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$VCLEDGER_STATE_DIR``, else ``$XDG_STATE_HOME/vcledger``, else ``~/.local/state/vcledger``.

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG base directory
    specification requires.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    xdg = env.get("XDG_STATE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "vcledger"
    try:
        home = Path.home()
    except RuntimeError as exc:
        raise StateFileError(f"cannot find a home directory for the checkpoint state; set "
                             f"{STATE_DIR_ENV} to a directory") from exc
    return home / ".local" / "state" / "vcledger"


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def state_file(origin: str, state_dir: Path | None = None) -> Path:
    """The state file of network ``origin``: a readable slug and a hash of the origin.

    The slug (``vcledger.example_net``) is for people listing the directory;
    the first 16 hex digits of SHA-256(origin) keep two origins that slug
    alike apart.  Neither can name a path outside the directory.
    """
    slug = _UNSAFE.sub("_", origin).strip("._-")[:64] or "network"
    digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:16]
    return (default_state_dir() if state_dir is None else state_dir) / f"{slug}.{digest}.json"


# -- the file ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Remembered:
    """A checkpoint verified under the trust file, its note, and the node it came from."""

    node: str
    note: str
    verified: VerifiedCheckpoint

    @property
    def checkpoint(self) -> Checkpoint:
        return self.verified.checkpoint

    @property
    def origin(self) -> str:
        return self.verified.checkpoint.origin

    @property
    def tree_size(self) -> int:
        return self.verified.checkpoint.tree_size

    @property
    def root(self) -> Hash:
        return self.verified.checkpoint.root

    @property
    def time(self) -> int:
        return self.verified.time

    def evidence(self, label: str | None = None) -> Evidence:
        return Evidence(self.node if label is None else f"{self.node} ({label})", self.note)


class _StateModel(StrictModel):
    format: str
    origin: str
    node: Annotated[str, Field(max_length=MAX_NODE_LENGTH)]
    checkpoint: Annotated[str, Field(max_length=MAX_STATE_SIZE)]


_FRESH_START = ("if you did not edit it, keep a copy (a changed state file may mean tampering); "
                "to start afresh, move it away")


def load_remembered(path: Path, trust: Trust) -> Remembered | None:
    """The checkpoint recorded in ``path``, verified again under ``trust``; None if no file.

    Raises :class:`StateFileError` naming the file and what to do when it
    cannot be read, is malformed, is for another network, or its checkpoint
    does not verify under the trust file.
    """
    with CheckpointMemory(path, trust) as memory:
        return memory.current


def _parse_state(path: Path, data: bytes, trust: Trust) -> Remembered:
    """The checkpoint recorded in the bytes read from ``path`` (see :func:`load_remembered`)."""
    try:
        document = strictjson.loads(data, what=f"checkpoint state {path}",
                                    max_size=MAX_STATE_SIZE)
        if not isinstance(document, dict):
            raise StateFileError(f"checkpoint state {path} is not a JSON object with format, "
                                 f"origin, node and checkpoint; {_FRESH_START}")
        model = _StateModel.model_validate(document)
    except StateFileError:
        raise
    except ValidationError as exc:
        raise StateFileError(f"checkpoint state {path}: {describe_validation_error(exc)}; "
                             f"{_FRESH_START}") from exc
    except LedgerError as exc:
        raise StateFileError(f"{exc.diagnostics()}; {_FRESH_START}") from exc
    if model.format != STATE_FORMAT and model.format not in LEGACY_FORMATS:
        raise StateFileError(f"checkpoint state {path}: format {model.format!r} is not "
                             f"{STATE_FORMAT!r}; {_FRESH_START}")
    if model.origin != trust.origin:
        raise StateFileError(f"checkpoint state {path} records network {model.origin!r}, but "
                             f"the trust file is for {trust.origin!r}; use another state file")
    try:
        verified = verify_checkpoint(model.checkpoint, trust.origin, trust.verifiers(),
                                     trust.threshold)
    except LedgerError as exc:
        raise StateFileError(f"checkpoint state {path}: the recorded checkpoint does not "
                             f"verify under the trust file ({exc.diagnostics()}); if the "
                             "network's validators changed, move the file away; otherwise "
                             f"{_FRESH_START}") from exc
    return Remembered(model.node, model.checkpoint, verified)


def format_state(remembered: Remembered) -> str:
    """The state file text for ``remembered``."""
    document = {"format": STATE_FORMAT, "origin": remembered.origin, "node": remembered.node,
                "checkpoint": remembered.note}
    return json.dumps(document, indent=2) + "\n"


if sys.platform == "win32":  # pragma: no cover - vcledger runs on POSIX systems

    @contextlib.contextmanager
    def _locked(path: Path) -> Iterator[None]:
        yield

else:
    import fcntl

    @contextlib.contextmanager
    def _locked(path: Path) -> Iterator[None]:
        """An exclusive advisory lock on ``path``'s lock file while the block runs."""
        lock = path.with_name(f".{path.name}.lock")
        with lock.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remember(path: Path, remembered: Remembered, trust: Trust) -> bool:
    """Record ``remembered`` in ``path`` unless the file already holds as large a tree.

    Precondition: ``remembered`` was verified under ``trust`` and proven
    consistent with what ``path`` held when the caller read it.  Under the
    file's lock the current content is read again, so a concurrent run that
    recorded a newer checkpoint meanwhile is not undone; the same size with
    another root is a :class:`ForkDetected`.  Returns whether it wrote.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(path):
            return _write_unless_newer(path, load_remembered(path, trust), remembered)
    except OSError as exc:
        raise _unwritable(path, exc) from exc


def _unwritable(path: Path, exc: OSError) -> StateFileError:
    return StateFileError(f"cannot write the checkpoint state {path}: {exc.strerror}; set "
                          f"{STATE_DIR_ENV} to a writable directory")


def _write_unless_newer(path: Path, current: Remembered | None, remembered: Remembered) -> bool:
    """Under ``path``'s lock, with ``current`` its content: record ``remembered`` unless
    ``current`` is as large a tree (the same size with another root is a fork)."""
    if current is not None and current.tree_size >= remembered.tree_size:
        if current.tree_size == remembered.tree_size and current.root != remembered.root:
            raise ForkDetected(
                f"two different roots for tree size {current.tree_size}",
                current.evidence("remembered"), remembered.evidence())
        return False
    write_text_atomically(path, format_state(remembered))
    return True


def remembered_checkpoint(trust: Trust, state_dir: Path | None = None) -> VerifiedCheckpoint | None:
    """The newest checkpoint verified for ``trust``'s network, verified again; None if none yet."""
    remembered = load_remembered(state_file(trust.origin, state_dir), trust)
    return None if remembered is None else remembered.verified


# -- consistency -------------------------------------------------------------------------


class ConsistencyProver(Protocol):
    """Where consistency proofs come from: :class:`client.http.NodeClient`, or a test's fake."""

    @property
    def url(self) -> str: ...

    async def consistency_proof(self, old_size: int, tree_size: int) -> list[Hash]: ...


def consistency_problem(older: Checkpoint, newer: Checkpoint,
                        proof: Sequence[bytes] | None) -> str | None:
    """None if ``older``'s tree is a prefix of ``newer``'s, else why not (a fork).

    Precondition: ``older.tree_size <= newer.tree_size``; ``proof`` is the
    untrusted RFC 9162 consistency proof between them (ignored, and may be
    None, for equal sizes, where the roots must simply be equal).
    """
    assert older.tree_size <= newer.tree_size, (older.tree_size, newer.tree_size)
    if older.tree_size == newer.tree_size:
        return None if older.root == newer.root else (
            f"two different roots for tree size {older.tree_size}")
    try:
        verify_consistency(older.tree_size, newer.tree_size, older.root, newer.root,
                           list(proof or ()))
    except VerificationError as exc:
        return (f"tree size {older.tree_size} is not a prefix of tree size "
                f"{newer.tree_size}: {exc.diagnostics()}")
    return None


async def prove_consistent(older: Checkpoint, newer: Checkpoint,
                           prover: ConsistencyProver | None) -> str | None:
    """:func:`consistency_problem`, fetching the proof from ``prover`` when sizes differ.

    Raises :class:`LedgerError` when the proof cannot be fetched at all (not
    evidence of anything), :class:`UsageError` if a proof is needed and there
    is no prover.
    """
    proof: list[Hash] | None = None
    if older.tree_size != newer.tree_size:
        if prover is None:
            raise UsageError("no node to ask for a consistency proof")
        proof = await prover.consistency_proof(older.tree_size, newer.tree_size)
    return consistency_problem(older, newer, proof)


def chosen_state_file(trust: Trust, state_dir: Path | None = None,
                      state_path: Path | None = None) -> Path:
    """``state_path`` if given (``--state FILE``), else :func:`state_file` of ``trust``'s origin."""
    return state_path if state_path is not None else state_file(trust.origin, state_dir)


async def check_against_remembered(
    node: ConsistencyProver,
    new_note_text: str,
    trust: Trust,
    now: int | None,
    *,
    state_dir: Path | None = None,
    state_path: Path | None = None,
) -> Remembered:
    """Steps 1-4 of :func:`check_and_remember`, writing nothing.

    For callers with checks of their own to make before the checkpoint is
    remembered (``refresh`` also proves it consistent with the bundle's);
    they then call :func:`remember`.
    """
    with CheckpointMemory(chosen_state_file(trust, state_dir, state_path), trust) as memory:
        return await memory.check(node, new_note_text, now)


def _verified_from(node: ConsistencyProver, new_note_text: str, trust: Trust,
                   now: int | None) -> Remembered:
    try:
        verified = verify_checkpoint(new_note_text, trust.origin, trust.verifiers(),
                                     trust.threshold, now=now)
    except VerificationError as exc:
        raise VerificationError(f"node {node.url} served a checkpoint that does not verify "
                                f"under the trust file: {exc.diagnostics()}") from exc
    return Remembered(node.url, new_note_text, verified)


async def _check_against(old: Remembered | None, path: Path, node: ConsistencyProver,
                         new: Remembered) -> None:
    """Steps 3-4 of :func:`check_and_remember`: ``new`` against ``old``, read from ``path``."""
    if old is not None:
        if new.tree_size < old.tree_size:
            raise CheckpointRollback(
                f"this node serves tree size {new.tree_size}; already verified "
                f"{old.tree_size} — it may be stale or hiding events (node {node.url}; the "
                f"newest verified checkpoint is kept in {path}); try another node")
        problem = await prove_consistent(old.checkpoint, new.checkpoint, node)
        if problem is not None:
            raise ForkDetected(f"the checkpoint node {node.url} serves is not consistent with "
                               f"the one verified before: {problem}",
                               old.evidence(f"remembered in {path}"), new.evidence())


async def check_and_remember(
    node: ConsistencyProver,
    new_note_text: str,
    trust: Trust,
    now: int | None,
    *,
    state_dir: Path | None = None,
    state_path: Path | None = None,
) -> VerifiedCheckpoint:
    """Verify a checkpoint ``node`` served and check it against the one remembered.

    Trusted: ``trust`` and the state file (verified again when read).
    Untrusted: ``new_note_text`` and whatever ``node`` answers.  Steps:

    1. open the note under the trust file (``now`` discards cosignatures
       from the future, see :func:`client.checkpoint.verify_checkpoint`);
    2. read the remembered checkpoint (``state_path``, or the origin's file
       in ``state_dir``, default :func:`default_state_dir`); none yet: go to 5;
    3. a smaller tree size is refused (:class:`CheckpointRollback`);
    4. the same size must have the same root; a larger one needs a
       consistency proof from ``node``; otherwise :class:`ForkDetected`;
    5. remember the new checkpoint if it is larger (:func:`remember`).

    Returns the verified new checkpoint.  Nothing is written unless every
    check passed; a proof that cannot be fetched raises the node's error.
    """
    new = await check_against_remembered(node, new_note_text, trust, now,
                                         state_dir=state_dir, state_path=state_path)
    remember(chosen_state_file(trust, state_dir, state_path), new, trust)
    return new.verified


class CheckpointMemory:
    """One run's view of a state file: read and verified once, then kept in memory.

    ``vcledger status`` may check several checkpoints in one run (a bundle's,
    or the two status proofs of a credential the node has no record of), and
    :func:`check_and_remember` reads and verifies the file twice for each:
    before the check and again under the lock.  This view reads it once, on
    the first check, and keeps what it read or wrote since.  The locking
    guarantee stays that of :func:`remember`: under the lock, if another run
    replaced the file meanwhile, it is read again and a newer checkpoint is
    never undone.  Every writer replaces the file by rename
    (:func:`client.files.write_text_atomically`), and the file this view read
    is held open so its inode cannot be reused: the path naming that same
    inode, size and modification time means nobody wrote since.

    Use it in a ``with`` block (it holds a file open); not for concurrent use
    within one process.
    """

    def __init__(self, path: Path, trust: Trust) -> None:
        self.path = path
        self.trust = trust
        self._loaded = False
        self._current: Remembered | None = None
        self._handle: BinaryIO | None = None
        self._seen: tuple[int, int, int, int] | None = None

    def __enter__(self) -> CheckpointMemory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @property
    def current(self) -> Remembered | None:
        """The remembered checkpoint, read from the file on first use."""
        if not self._loaded:
            self._read()
        return self._current

    def _read(self) -> None:
        self.close()
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self._current, self._seen, self._loaded = None, None, True
            return
        except OSError as exc:
            raise StateFileError(f"cannot read the checkpoint state {self.path}: "
                                 f"{exc.strerror}") from exc
        self._handle = handle
        try:
            data = handle.read(MAX_STATE_SIZE + 1)
            self._seen = _identity(os.fstat(handle.fileno()))
        except OSError as exc:
            self.close()
            raise StateFileError(f"cannot read the checkpoint state {self.path}: "
                                 f"{exc.strerror}") from exc
        self._current = _parse_state(self.path, data, self.trust)
        self._loaded = True

    def _unchanged_since_read(self) -> bool:
        """Whether the path still names the file this view read or wrote (under the lock)."""
        try:
            now_there = _identity(os.stat(self.path))
        except FileNotFoundError:
            return self._seen is None
        return now_there == self._seen

    async def check(self, node: ConsistencyProver, new_note_text: str,
                    now: int | None) -> Remembered:
        """:func:`check_against_remembered` against this view, writing nothing."""
        new = _verified_from(node, new_note_text, self.trust, now)
        await _check_against(self.current, self.path, node, new)
        return new

    def remember(self, remembered: Remembered) -> bool:
        """:func:`remember` into this view's file; the file is read again only if another
        run replaced it since this view last read or wrote it."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with _locked(self.path):
                if not self._loaded or not self._unchanged_since_read():
                    self._read()
                if not _write_unless_newer(self.path, self._current, remembered):
                    return False
                # Held open like a file read: the inode stays ours to compare with.
                self.close()
                self._handle = self.path.open("rb")
                self._seen = _identity(os.fstat(self._handle.fileno()))
                self._current = remembered
                return True
        except OSError as exc:
            raise _unwritable(self.path, exc) from exc

    async def check_and_remember(self, node: ConsistencyProver, new_note_text: str,
                                 now: int | None) -> VerifiedCheckpoint:
        """:func:`check_and_remember` through this view."""
        new = await self.check(node, new_note_text, now)
        self.remember(new)
        return new.verified


def _identity(status: os.stat_result) -> tuple[int, int, int, int]:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
