"""A log monitor: are all nodes, at all times, showing the same append-only log?

Each round, for every node: fetch its newest checkpoint with enough
cosignatures, open it under the trust file (``verify_checkpoint``), and prove
it consistent (RFC 9162 §2.1.4) with

* the last checkpoint this monitor recorded (its state file), fetching the
  consistency proof from the node that serves the larger tree, and
* every other node's checkpoint of this round (equal sizes must have equal
  roots; different sizes need a consistency proof).

Two checkpoints that are both validly cosigned but cannot be proven
consistent are a *split view*: the network signed two different histories.
The report carries both signed checkpoint notes as evidence, which anyone can
check with the trust file alone.  The newest checkpoint that passed every
check is written to the state file atomically (temporary file, fsync,
rename), so the next round, or the next run, continues from it.

Network access goes through :class:`client.http.NodeClient`; the checks
themselves are :mod:`client.checkpoint` and :mod:`client.merkle`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from client import strictjson
from client.checkpoint import Checkpoint, verify_checkpoint
from client.errors import LedgerError, UsageError, VerificationError
from client.files import write_text_atomically
from client.http import NodeClient
from client.merkle import verify_consistency
from client.trust import Trust, describe_validation_error

__all__ = [
    "STATE_FORMAT",
    "MonitorState",
    "NodeReport",
    "RoundReport",
    "SplitView",
    "load_state",
    "monitor_round",
    "save_state",
]

STATE_FORMAT = "vcledger-monitor/v1"
MAX_STATE_SIZE = 1024 * 1024


class MonitorStateError(UsageError):
    """The monitor's state file is unreadable or belongs to another network."""

    code = "bad_monitor_state"


@dataclass(frozen=True, slots=True)
class Observed:
    """A checkpoint that opened under the trust file, and where it came from."""

    node: str
    note: str
    checkpoint: Checkpoint
    time: int


@dataclass(frozen=True, slots=True)
class MonitorState:
    """The newest checkpoint the monitor verified and proved consistent."""

    origin: str
    node: str
    note: str
    tree_size: int
    root: bytes
    time: int

    @classmethod
    def of(cls, observed: Observed) -> MonitorState:
        checkpoint = observed.checkpoint
        return cls(checkpoint.origin, observed.node, observed.note, checkpoint.tree_size,
                   checkpoint.root, observed.time)


class _StateModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    format: str
    origin: str
    node: str
    checkpoint: str = Field(max_length=MAX_STATE_SIZE)


def load_state(path: Path, trust: Trust) -> MonitorState | None:
    """The state recorded in ``path``, re-verified under ``trust``; None if there is none yet.

    The recorded checkpoint is opened again (not taken on faith): a state
    file edited by someone else cannot make the monitor accept a fork.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MonitorStateError(f"cannot read monitor state {path}: {exc.strerror}") from exc
    try:
        model = _StateModel.model_validate(
            strictjson.loads(data, what=f"monitor state {path}", max_size=MAX_STATE_SIZE))
    except ValidationError as exc:
        raise MonitorStateError(f"{path}: {describe_validation_error(exc)}") from exc
    except LedgerError as exc:
        raise MonitorStateError(exc.diagnostics()) from exc
    if model.format != STATE_FORMAT:
        raise MonitorStateError(f"{path}: format {model.format!r} is not {STATE_FORMAT!r}")
    if model.origin != trust.origin:
        raise MonitorStateError(f"{path} records network {model.origin!r}, but the trust file "
                                f"is for {trust.origin!r}; use another --state file")
    try:
        verified = verify_checkpoint(model.checkpoint, trust.origin, trust.verifiers(),
                                     trust.threshold)
    except LedgerError as exc:
        raise MonitorStateError(f"{path}: the recorded checkpoint does not verify under the "
                                f"trust file: {exc.diagnostics()}") from exc
    return MonitorState.of(Observed(model.node, model.checkpoint, verified.checkpoint,
                                    verified.newest_timestamp))


def save_state(path: Path, state: MonitorState) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file, fsync, then rename."""
    document = {"format": STATE_FORMAT, "origin": state.origin, "node": state.node,
                "checkpoint": state.note}
    try:
        write_text_atomically(path, json.dumps(document, indent=2) + "\n")
    except OSError as exc:
        raise MonitorStateError(f"cannot write monitor state {path}: {exc.strerror}") from exc


@dataclass(frozen=True, slots=True)
class Evidence:
    node: str
    note: str

    def as_json(self) -> dict[str, str]:
        return {"node": self.node, "checkpoint": self.note}


@dataclass(frozen=True, slots=True)
class SplitView:
    """Two validly cosigned checkpoints that no consistency proof can reconcile."""

    description: str
    first: Evidence
    second: Evidence

    def as_json(self) -> dict[str, Any]:
        return {"description": self.description, "first": self.first.as_json(),
                "second": self.second.as_json()}


@dataclass(frozen=True, slots=True)
class NodeReport:
    node: str
    status: str
    """``ok``, ``unreachable`` (could not be asked), or ``invalid`` (bad checkpoint)."""
    message: str
    tree_size: int | None = None
    root: str | None = None
    time: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"node": self.node, "status": self.status, "message": self.message,
                "tree_size": self.tree_size, "root": self.root, "time": self.time}


@dataclass
class RoundReport:
    nodes: list[NodeReport] = field(default_factory=list)
    split_views: list[SplitView] = field(default_factory=list)
    state: MonitorState | None = None
    advanced: bool = False

    @property
    def exit_code(self) -> int:
        """4: split view or a bad checkpoint; 1: a node could not be checked; 0: all good."""
        if self.split_views or any(n.status == "invalid" for n in self.nodes):
            return 4
        if any(n.status != "ok" for n in self.nodes):
            return 1
        return 0

    def as_json(self) -> dict[str, Any]:
        state = self.state
        return {
            "result": {0: "consistent", 1: "incomplete", 4: "split_view_or_invalid"}[
                self.exit_code],
            "nodes": [n.as_json() for n in self.nodes],
            "split_views": [s.as_json() for s in self.split_views],
            "state": None if state is None else {"node": state.node, "tree_size":
                                                 state.tree_size, "root": state.root.hex(),
                                                 "time": state.time},
            "state_advanced": self.advanced,
        }


async def _observe(client: NodeClient, trust: Trust, now: int | None
                   ) -> Observed | NodeReport:
    try:
        note = await client.checkpoint(min_cosignatures=trust.threshold)
    except LedgerError as exc:
        return NodeReport(client.url, "unreachable", exc.diagnostics())
    try:
        verified = verify_checkpoint(note, trust.origin, trust.verifiers(), trust.threshold,
                                     now=now)
    except LedgerError as exc:
        return NodeReport(client.url, "invalid",
                          f"served a checkpoint that does not verify: {exc.diagnostics()}")
    return Observed(client.url, note, verified.checkpoint, verified.newest_timestamp)


async def _prove(smaller: Observed | MonitorState, larger: Observed | MonitorState,
                 prover: NodeClient | None) -> str | None:
    """None if ``smaller`` is a prefix of ``larger``, else why not (a split view).

    Raises :class:`LedgerError` when the proof could not be fetched at all
    (not evidence of anything).
    """
    old_size, old_root = _size_root(smaller)
    new_size, new_root = _size_root(larger)
    if old_size == new_size:
        return None if old_root == new_root else (
            f"two different roots for tree size {old_size}")
    if prover is None:
        raise UsageError("no node to ask for a consistency proof")
    proof = await prover.consistency_proof(old_size, new_size)
    try:
        verify_consistency(old_size, new_size, old_root, new_root, proof)
    except VerificationError as exc:
        return (f"tree size {old_size} is not a prefix of tree size {new_size}: "
                f"{exc.diagnostics()}")
    return None


def _size_root(item: Observed | MonitorState) -> tuple[int, bytes]:
    if isinstance(item, Observed):
        return item.checkpoint.tree_size, item.checkpoint.root
    return item.tree_size, item.root


def _evidence(item: Observed | MonitorState, label: str) -> Evidence:
    node = item.node if isinstance(item, Observed) else f"{item.node} ({label})"
    return Evidence(node, item.note)


async def monitor_round(
    clients: Sequence[NodeClient],
    trust: Trust,
    previous: MonitorState | None,
    *,
    now: int | None = None,
) -> RoundReport:
    """One round of checks over ``clients``; see the module docstring.  Never raises for
    what nodes send: problems become node reports or split views."""
    report = RoundReport(state=previous)
    by_url = {client.url: client for client in clients}
    results = await asyncio.gather(*(_observe(c, trust, now) for c in clients))
    observed = [r for r in results if isinstance(r, Observed)]
    failed = {r.node: r for r in results if isinstance(r, NodeReport)}
    troubled: set[str] = set()

    async def compare(a: Observed | MonitorState, b: Observed | MonitorState,
                      what: str) -> None:
        small, large = sorted((a, b), key=lambda item: _size_root(item)[0])
        prover = by_url.get(large.node) if isinstance(large, Observed) else None
        if prover is None and _size_root(small)[0] != _size_root(large)[0]:
            # The recorded state is the larger tree: any node holding it can prove it.
            prover = next((by_url[o.node] for o in observed
                           if o.checkpoint.tree_size >= _size_root(large)[0]), None)
            if prover is None:
                return  # a node behind the recorded state; nobody this round can prove it
        try:
            problem = await _prove(small, large, prover)
        except LedgerError as exc:
            # Not evidence of anything: the prover could not be asked.
            assert prover is not None
            failed.setdefault(prover.url, NodeReport(
                prover.url, "unreachable", f"could not prove consistency ({what}): "
                f"{exc.diagnostics()}"))
            return
        if problem is not None:
            report.split_views.append(SplitView(f"{what}: {problem}",
                                                _evidence(a, "recorded"),
                                                _evidence(b, "recorded")))
            for item in (a, b):
                if isinstance(item, Observed):
                    troubled.add(item.node)

    if previous is not None:
        await asyncio.gather(*(compare(previous, o, f"recorded state vs {o.node}")
                               for o in observed))
    pairs = [(a, b) for i, a in enumerate(observed) for b in observed[i + 1:]]
    await asyncio.gather(*(compare(a, b, f"{a.node} vs {b.node}") for a, b in pairs))

    for result in results:
        if isinstance(result, Observed):
            node = result.node
            if node in failed:
                report.nodes.append(failed[node])
                continue
            status = "invalid" if node in troubled else "ok"
            report.nodes.append(NodeReport(
                node, status, "consistent" if status == "ok" else "part of a split view",
                result.checkpoint.tree_size, result.checkpoint.root.hex(), result.time))
        else:
            report.nodes.append(result)
    if not report.split_views:
        good = [o for o in observed if o.node not in troubled and o.node not in failed]
        newest = max(good, key=lambda o: o.checkpoint.tree_size, default=None)
        if newest is not None and (previous is None
                                   or newest.checkpoint.tree_size > previous.tree_size):
            report.state = MonitorState.of(newest)
            report.advanced = True
    return report
