"""Issuer identity monitoring: events under one DID that the issuer's records do not explain.

A stolen issuer key is used like the real one: its events verify, the
ledger accepts them, and nobody notices until a forged diploma turns up.
Transparency only helps if the identity's owner reads the log (Sigstore's
threat model: owners "tail the log seeking signatures issued from their
identity that they are not aware of"; CT monitors do the same for
certificates).  ``vcledger monitor --issuer DID`` does that; this module is
its pure part, with no network access (the driver is
:func:`client.monitor.watch_issuer`):

* **the issuer's records** (:func:`load_records`): what ``vcledger`` wrote
  when the issuer acted — the ``--json`` output of ``issue``, ``anchor``,
  ``revoke``, ``issuer rotate`` … (each names its ``event_hash``), the batch
  receipts ``anchor --receipts DIR`` writes (each names its
  ``anchor_event_hash``), or plain lists of event hashes;
* **the scan** (:class:`LogScan`): every log leaf from where the last run
  stopped up to a verified checkpoint, in order, read 256 at a time as C2SP
  tlog-tiles entry bundles (:mod:`client.tiles`; docs/api.md "The log as
  tiles") or, from a node without the tile API, one ``/v1/entries/{index}``
  at a time.  Each leaf's hash extends a
  compact range (:class:`client.merkle.CompactRange`) kept in the watch state,
  and the range's root must equal the checkpoint's: that proves, at once, that
  every leaf read is the log's own leaf at that index, whatever the node
  claims.  Leaves that are events under the DID are kept as sightings;
* **the findings** (:func:`classify`): sightings whose event hash no record
  holds — an issuance, anchor, rotation, revocation, identifier change
  (``issuer.update``), compromise, registration or retirement the issuer
  did not make or did not write down;
* **the watch state** (:func:`load_watch_state`, :func:`save_watch_state`):
  how far the log was read (tree size and compact range), and the events
  already reported, so a cron run reads only new leaves and never alerts
  twice for the same event unless asked (``--rescan``).

Exit codes (``vcledger monitor --issuer``): 0 nothing unexpected,
:data:`EXIT_UNEXPECTED` unexpected events, 1 could not check (no node given
could be read: down, 5xx, served entries that do not match its checkpoint, a
rollback; :class:`NoNodeReadable` lists why for each), 4 a fork (an
inconsistent checkpoint from any node: an alarm of its own, with both notes
as evidence).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from client import strictjson
from client.block import BlockHeader, decode_leaf
from client.bundle import MAX_RECEIPT_SIZE, parse_receipt
from client.checkpoint import Checkpoint
from client.errors import InvalidEncoding, LedgerError, UsageError
from client.events import SignedEvent
from client.files import write_text_atomically
from client.hashes import Hash, hash_from_hex
from client.keys import did_key
from client.merkle import CompactRange, leaf_hash
from client.state import StateFileError
from client.strictmodel import describe_validation_error

__all__ = [
    "EXIT_UNEXPECTED",
    "WATCH_FORMAT",
    "EntriesDoNotMatch",
    "Finding",
    "IssuerRecords",
    "LogScan",
    "NoNodeReadable",
    "ReadVia",
    "RecordsError",
    "Sighting",
    "SkippedNode",
    "WatchReport",
    "WatchState",
    "classify",
    "load_records",
    "load_watch_state",
    "save_watch_state",
    "watch_state_file",
]

EXIT_UNEXPECTED = 8
"""``vcledger monitor --issuer`` found events under the DID that no record accounts for."""

WATCH_FORMAT = "vcledger-issuer-watch/v1"
MAX_WATCH_STATE_SIZE = 16 * 1024 * 1024
MAX_RECORD_FILE_SIZE = 16 * 1024 * 1024
"""A record file (JSON output, JSON lines or a hash list); a million hashes fit in 65 MiB,
so larger lists are split over several files in the --expect directory."""


class RecordsError(UsageError):
    """An ``--expect`` path cannot be read as the issuer's records."""

    code = "bad_records"


class EntriesDoNotMatch(LedgerError):
    """The leaves a node served do not hash to the checkpoint it served: a broken or lying
    node.  Not evidence against the log (the checkpoint itself is fine): ask another node."""

    code = "entries_do_not_match"
    exit_code = 1


@dataclass(frozen=True, slots=True)
class SkippedNode:
    """A node that could not be read, and why (its error's code and diagnostics)."""

    node: str
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"node": self.node, "code": self.code, "message": self.message}


class NoNodeReadable(LedgerError):
    """None of the nodes given could be read: the issuer's events could not be checked."""

    code = "no_node_readable"
    exit_code = 1

    def __init__(self, skipped: Sequence[SkippedNode]) -> None:
        self.skipped = tuple(skipped)
        super().__init__(f"could not check: none of the {len(self.skipped)} nodes could be "
                         "read; nothing was recorded")

    def diagnostics(self) -> str:
        return "; ".join([str(self), *(s.message for s in self.skipped)])

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self),
                "nodes": [s.as_json() for s in self.skipped]}


# -- the issuer's records ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuerRecords:
    """The event hashes the issuer's own records account for."""

    event_hashes: frozenset[Hash]
    files_read: int
    files_skipped: tuple[str, ...] = ()
    """JSON files under an --expect directory that are not records (a credential, say)."""

    def __contains__(self, event_hash: object) -> bool:
        return event_hash in self.event_hashes


_RECEIPT_NAME_LENGTH = 64 + len(".json")


def _read_capped(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise RecordsError(f"cannot read record file {path}: {exc.strerror}") from exc
    if len(data) > limit:
        raise RecordsError(f"record file {path} is larger than {limit} bytes; split it")
    return data


def _hash_of_record(document: object) -> Hash | None:
    """The event a record names: ``event_hash`` (CLI ``--json`` output) or
    ``anchor_event_hash`` (a batch receipt); None for any other JSON document."""
    if not isinstance(document, dict):
        return None
    for member in ("event_hash", "anchor_event_hash"):
        value = document.get(member)
        if isinstance(value, str):
            try:
                return hash_from_hex(value, member)
            except InvalidEncoding:
                return None
    return None


def _record_file_hash(path: Path, data: bytes) -> Hash | None:
    """:func:`_hash_of_record` of a whole JSON file; raises :class:`InvalidEncoding`."""
    return _hash_of_record(strictjson.loads(data, what=str(path), max_size=MAX_RECORD_FILE_SIZE))


def _hashes_from_list(path: Path, text: str) -> list[Hash]:
    """One event hash per line; blank lines and ``#`` comments are ignored, anything
    else is an error naming the line (a typo must not silently drop a record)."""
    hashes: list[Hash] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        token = line.split()[0]
        try:
            hashes.append(hash_from_hex(token, "event hash"))
        except InvalidEncoding as exc:
            raise RecordsError(f"{path} line {number}: {exc.diagnostics()}; a list holds one "
                               "event hash (64 hex digits) per line") from exc
    return hashes


def _hashes_from_json_lines(path: Path, text: str, *, strict: bool) -> list[Hash]:
    hashes: list[Hash] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = _hash_of_record(strictjson.loads(line, what=f"{path} line {number}",
                                                    max_size=MAX_RECEIPT_SIZE))
        except InvalidEncoding as exc:
            raise RecordsError(exc.diagnostics()) from exc
        if value is None:
            if strict:
                raise RecordsError(f"{path} line {number} names no event_hash")
            continue
        hashes.append(value)
    return hashes


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordsError(f"record file {path} is not UTF-8 text") from exc


def _batch_anchor_hash(directory: Path) -> Hash | None:
    """The anchor event of the batch whose receipts fill ``directory`` (it holds
    index.jsonl), from the first receipt listed: every receipt names the same event,
    and a batch may hold a million of them."""
    index_path = directory / "index.jsonl"
    try:
        with index_path.open("rb") as handle:
            first_line = handle.readline(MAX_RECEIPT_SIZE)
    except OSError as exc:
        raise RecordsError(f"cannot read {index_path}: {exc.strerror}") from exc
    first = _text(index_path, first_line).strip()
    if not first:
        return None
    try:
        entry = strictjson.loads(first, what=f"{index_path} line 1", max_size=MAX_RECEIPT_SIZE)
        name = entry.get("receipt") if isinstance(entry, dict) else None
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            raise RecordsError(f"{directory / 'index.jsonl'} line 1 names no receipt file")
        receipt = parse_receipt(_read_capped(directory / name, MAX_RECEIPT_SIZE),
                                f"receipt {directory / name}")
    except InvalidEncoding as exc:
        raise RecordsError(exc.diagnostics()) from exc
    return receipt.anchor_event_hash


def _walk(root: Path) -> tuple[list[Hash], int, list[str]]:
    hashes: list[Hash] = []
    read = 0
    skipped: list[str] = []
    for directory, subdirs, files in os.walk(root, onerror=_raise_walk_error):
        subdirs.sort()
        here = Path(directory)
        batch = "index.jsonl" in files
        if batch:
            anchor = _batch_anchor_hash(here)
            if anchor is not None:
                hashes.append(anchor)
            read += 1
        for name in sorted(files):
            path = here / name
            if batch and (name == "index.jsonl" or (len(name) == _RECEIPT_NAME_LENGTH
                          and name.endswith(".json"))):
                continue  # the batch's receipts: its anchor is already counted
            if name.endswith(".json"):
                data = _read_capped(path, MAX_RECORD_FILE_SIZE)
                try:
                    value = _record_file_hash(path, data)
                except InvalidEncoding:
                    value = None
                if value is None:
                    skipped.append(str(path))
                    continue
                hashes.append(value)
            elif name.endswith(".jsonl"):
                hashes.extend(_hashes_from_json_lines(
                    path, _text(path, _read_capped(path, MAX_RECORD_FILE_SIZE)), strict=False))
            elif name.endswith(".txt"):
                hashes.extend(_hashes_from_list(
                    path, _text(path, _read_capped(path, MAX_RECORD_FILE_SIZE))))
            else:
                continue
            read += 1
    return hashes, read, skipped


def _raise_walk_error(exc: OSError) -> None:
    raise RecordsError(f"cannot read records directory {exc.filename}: {exc.strerror}")


def load_records(paths: Sequence[Path]) -> IssuerRecords:
    """The event hashes the files at ``paths`` account for.

    A directory is searched recursively: ``*.json`` files that name an
    ``event_hash`` (``vcledger --json`` output) or ``anchor_event_hash`` (a
    receipt) count, other JSON files (credentials kept alongside) are listed
    as skipped; a folder with ``index.jsonl`` is one batch (its first receipt
    names the anchor); ``*.jsonl`` holds one such JSON record per line;
    ``*.txt`` is a hash list.  A file named directly must be a record: a
    ``.json`` record, a ``.jsonl`` of records, or otherwise a list of event
    hashes, one per line (``#`` starts a comment).
    """
    hashes: list[Hash] = []
    read = 0
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            found, count, ignored = _walk(path)
            hashes.extend(found)
            read += count
            skipped.extend(ignored)
            continue
        if not path.exists():
            raise RecordsError(f"--expect {path} does not exist")
        data = _read_capped(path, MAX_RECORD_FILE_SIZE)
        if path.suffix == ".json":
            try:
                value = _record_file_hash(path, data)
            except InvalidEncoding as exc:
                raise RecordsError(exc.diagnostics()) from exc
            if value is None:
                raise RecordsError(f"{path} is neither vcledger --json output with an "
                                   "event_hash nor a batch receipt")
            hashes.append(value)
        elif path.suffix == ".jsonl":
            hashes.extend(_hashes_from_json_lines(path, _text(path, data), strict=True))
        else:
            hashes.extend(_hashes_from_list(path, _text(path, data)))
        read += 1
    return IssuerRecords(frozenset(hashes), read, tuple(skipped))


# -- the watch state -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchState:
    """How far the log was read for ``issuer``, and which events were already reported."""

    origin: str
    issuer: str
    compact: CompactRange = field(default_factory=CompactRange)
    reported: frozenset[Hash] = frozenset()

    @property
    def tree_size(self) -> int:
        return self.compact.size


class _WatchModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    format: str
    origin: str
    issuer: str
    tree_size: Annotated[int, Field(ge=0, le=2**64 - 1)]
    peaks: list[Annotated[str, Field(min_length=64, max_length=64)]]
    reported: list[Annotated[str, Field(min_length=64, max_length=64)]]


def watch_state_file(checkpoint_state: Path, issuer: str) -> Path:
    """Where the watch of ``issuer`` is kept: beside the network's checkpoint state file,
    named by a hash of the DID (DIDs are long and hold ``:``)."""
    digest = hashlib.sha256(issuer.encode("utf-8")).hexdigest()[:16]
    return checkpoint_state.with_name(f"{checkpoint_state.stem}.issuer-{digest}.json")


_AFRESH = ("move it away to read the log again from the start (every event under the "
           "issuer is then checked, and reported again if unaccounted for)")


def load_watch_state(path: Path, origin: str, issuer: str) -> WatchState:
    """The watch recorded in ``path``; a fresh one (from log index 0) if there is no file.

    A tampered compact range cannot hide anything: it would not hash to the
    next checkpoint's root and the run fails (:class:`EntriesDoNotMatch`).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return WatchState(origin, issuer)
    except OSError as exc:
        raise StateFileError(f"cannot read the issuer watch state {path}: {exc.strerror}") from exc
    try:
        if len(data) > MAX_WATCH_STATE_SIZE:
            raise StateFileError(f"issuer watch state {path} is too large")
        model = _WatchModel.model_validate(strictjson.loads(
            data, what=f"issuer watch state {path}", max_size=MAX_WATCH_STATE_SIZE))
        if model.format != WATCH_FORMAT:
            raise StateFileError(f"issuer watch state {path}: format {model.format!r} is not "
                                 f"{WATCH_FORMAT!r}; {_AFRESH}")
        if model.origin != origin or model.issuer != issuer:
            raise StateFileError(f"issuer watch state {path} is for {model.issuer} on "
                                 f"{model.origin!r}, not {issuer} on {origin!r}; {_AFRESH}")
        compact = CompactRange.from_peaks(
            model.tree_size, [hash_from_hex(p, "peak hash") for p in model.peaks])
        reported = frozenset(hash_from_hex(h, "reported event hash") for h in model.reported)
    except StateFileError:
        raise
    except ValidationError as exc:
        raise StateFileError(f"issuer watch state {path}: {describe_validation_error(exc)}; "
                             f"{_AFRESH}") from exc
    except LedgerError as exc:
        raise StateFileError(f"issuer watch state {path}: {exc.diagnostics()}; "
                             f"{_AFRESH}") from exc
    return WatchState(origin, issuer, compact, reported)


def format_watch_state(state: WatchState) -> str:
    document = {"format": WATCH_FORMAT, "origin": state.origin, "issuer": state.issuer,
                "tree_size": state.tree_size, "peaks": [p.hex() for p in state.compact.peaks],
                "reported": sorted(h.hex() for h in state.reported)}
    return json.dumps(document, indent=2) + "\n"


def save_watch_state(path: Path, state: WatchState) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_text_atomically(path, format_watch_state(state))
    except OSError as exc:
        raise StateFileError(f"cannot write the issuer watch state {path}: "
                             f"{exc.strerror}") from exc


# -- the scan ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sighting:
    """An event under the watched DID, at ``index`` of the log."""

    index: int
    event: SignedEvent


class LogScan:
    """Log leaves read in order from ``compact.size`` on, checked against a checkpoint.

    Untrusted: every leaf passed to :meth:`add`.  Nothing read counts until
    :meth:`verify` has shown that the leaves extend the compact range to the
    verified checkpoint's root.
    """

    def __init__(self, issuer: str, compact: CompactRange) -> None:
        self.issuer = issuer
        self._compact = CompactRange.from_peaks(compact.size, compact.peaks)
        self.sightings: list[Sighting] = []
        self.undecodable: list[tuple[int, str]] = []

    @property
    def next_index(self) -> int:
        return self._compact.size

    @property
    def compact(self) -> CompactRange:
        return CompactRange.from_peaks(self._compact.size, self._compact.peaks)

    def add(self, index: int, untrusted_leaf: bytes) -> None:
        """The leaf at ``index`` (precondition: ``index == next_index``)."""
        assert index == self._compact.size, (index, self._compact.size)
        self._compact.append(leaf_hash(untrusted_leaf))
        try:
            leaf = decode_leaf(untrusted_leaf)
        except InvalidEncoding as exc:
            self.undecodable.append((index, exc.diagnostics()))
            return
        if not isinstance(leaf, BlockHeader) and leaf.issuer == self.issuer:
            self.sightings.append(Sighting(index, leaf))

    def verify(self, checkpoint: Checkpoint, node: str) -> None:
        """Every leaf read is the log's: the range now hashes to ``checkpoint``'s root.

        Precondition: ``checkpoint`` was verified under the trust file.
        """
        if self._compact.size != checkpoint.tree_size:
            raise EntriesDoNotMatch(f"read {self._compact.size} leaves, the checkpoint has "
                                    f"{checkpoint.tree_size}")
        if self._compact.root() != checkpoint.root:
            raise EntriesDoNotMatch(
                f"the log entries node {node} served do not hash to the root of its "
                f"checkpoint (tree size {checkpoint.tree_size}): the node is broken or lying; "
                "nothing was recorded; try another node")
        if self.undecodable:
            index, message = self.undecodable[0]
            raise EntriesDoNotMatch(
                f"log entry {index} is in the log but this vcledger cannot decode it "
                f"({message}); upgrade vcledger; nothing was recorded")


# -- findings ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A payload field as JSON: bytes as hex, enums by name, nested records as objects."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.IntEnum):
        return value.name.lower()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


@dataclass(frozen=True, slots=True)
class Finding:
    """An event under the DID that no record accounts for, proven in the log."""

    index: int
    event: SignedEvent
    audit_path: tuple[Hash, ...]
    """RFC 9162 inclusion proof of the event at ``index`` in the report's checkpoint."""
    previously_reported: bool = False

    @property
    def signed_by_issuer_key(self) -> bool:
        return did_key(self.event.signer) == self.event.issuer

    def details(self) -> dict[str, Any]:
        payload = self.event.payload
        return {f.name: _plain(getattr(payload, f.name)) for f in dataclasses.fields(payload)
                if f.name != "issuer"}

    def as_json(self) -> dict[str, Any]:
        return {"event_hash": self.event.hash.hex(), "kind": self.event.kind.value,
                "index": self.index, "created": self.event.created,
                "signer": self.event.signer.hex(),
                "signed_by_issuer_did_key": self.signed_by_issuer_key,
                "details": self.details(),
                "inclusion_proof": [h.hex() for h in self.audit_path],
                "previously_reported": self.previously_reported}

    def line(self) -> str:
        details = ", ".join(f"{k} {v}" for k, v in self.details().items())
        again = " (reported before)" if self.previously_reported else ""
        signer = ("the issuer's did:key" if self.signed_by_issuer_key
                  else f"key {self.event.signer.hex()}")
        return (f"UNEXPECTED {self.event.kind.value} event {self.event.hash.hex()} at log "
                f"index {self.index}, signed by {signer}{': ' + details if details else ''}"
                f"{again}")


def classify(sightings: Iterable[Sighting], records: IssuerRecords,
             reported: frozenset[Hash], *, rescan: bool) -> list[Sighting]:
    """The sightings to report: not in the records, and (unless ``rescan``) not
    reported by an earlier run."""
    return [s for s in sightings
            if s.event.hash not in records and (rescan or s.event.hash not in reported)]


class ReadVia(enum.StrEnum):
    """How a run read the log's leaves."""

    TILES = "tiles"
    """C2SP tlog-tiles entry bundles, 256 leaves a request."""
    ENTRIES = "entries"
    """``/v1/entries/{index}``, one leaf a request: the node has no tile API."""


@dataclass
class WatchReport:
    issuer: str
    node: str
    checkpoint_note: str
    from_size: int
    tree_size: int
    events_seen: int
    accounted: int
    records: IssuerRecords
    findings: list[Finding]
    read_via: ReadVia | None = None
    """None when there was nothing new to read."""
    skipped: tuple[SkippedNode, ...] = ()
    """Nodes tried before ``node`` that could not be read."""

    @property
    def exit_code(self) -> int:
        return EXIT_UNEXPECTED if self.findings else 0

    def as_json(self) -> dict[str, Any]:
        return {"result": "unexpected_events" if self.findings else "ok",
                "issuer": self.issuer, "node": self.node,
                "nodes_skipped": [s.as_json() for s in self.skipped],
                "read": {"from_index": self.from_size, "tree_size": self.tree_size,
                         "via": None if self.read_via is None else self.read_via.value},
                "events_under_issuer": self.events_seen, "accounted_for": self.accounted,
                "records": {"event_hashes": len(self.records.event_hashes),
                            "files_read": self.records.files_read,
                            "files_skipped": list(self.records.files_skipped)},
                "unexpected": [f.as_json() for f in self.findings],
                "checkpoint": self.checkpoint_note}

    def lines(self) -> list[str]:
        via = ("" if self.read_via is not ReadVia.ENTRIES
               else " one entry per request (the node serves no tile/entries bundles)")
        lines = [f"issuer {self.issuer}: read log indexes {self.from_size}.."
                 f"{self.tree_size - 1} from {self.node}{via}" if self.tree_size > self.from_size
                 else f"issuer {self.issuer}: no new log entries at {self.node} (tree size "
                      f"{self.tree_size})",
                 f"  {self.events_seen} event(s) under the issuer, {self.accounted} accounted "
                 f"for by the records ({len(self.records.event_hashes)} event hashes)"]
        lines.extend(f"  could not read {s.node}, so read {self.node}: {s.message}"
                     for s in self.skipped)
        lines.extend(f"  skipped {path}: not a record (no event_hash or anchor_event_hash)"
                     for path in self.records.files_skipped)
        lines.extend(f"  {f.line()}" for f in self.findings)
        if self.findings:
            lines.append(f"  {len(self.findings)} unexpected: if you did not make them, your "
                         "key may be stolen; ask governance for `vcledger issuer compromised`")
            lines.append(f"  each is proven in this checkpoint (tree size {self.tree_size}):")
            lines.extend(f"    {line}" for line in self.checkpoint_note.splitlines())
        else:
            lines.append("  nothing unexpected")
        return lines
