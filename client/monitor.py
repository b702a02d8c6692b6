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
check is remembered (:mod:`client.state`: by default the network's file in
the user's state directory, shared with ``vcledger status`` and ``refresh``;
or a ``--state`` file), so the next round, or the next run, continues from it.

Network access goes through :class:`client.http.NodeClient`; the checks
themselves are :mod:`client.checkpoint` and :mod:`client.state` (with
:mod:`client.merkle`).

:func:`watch_issuer` (``vcledger monitor --issuer DID``) is the other kind of
monitor: it reads every new log entry from one node (256 per request through
the C2SP tlog-tiles entry bundles, or one per request from a node without
them) and reports the events under one issuer's DID that the issuer's records
do not account for; its pure part, and the reasons, are in
:mod:`client.issuer_watch`.  :func:`watch_issuer_on_any` gives it several
nodes to try in order, so an issuer's alerting does not go dark while one
node is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import islice
from pathlib import Path
from typing import Any

from client.checkpoint import verify_checkpoint
from client.errors import InvalidEncoding, LedgerError, VerificationError
from client.http import NodeClient, NodeRejected, NodeResponseError, NodeUnavailable
from client.issuer_watch import (
    EntriesDoNotMatch,
    Finding,
    IssuerRecords,
    LogScan,
    NoNodeReadable,
    ReadVia,
    SkippedNode,
    WatchReport,
    WatchState,
    classify,
    load_watch_state,
    save_watch_state,
    watch_state_file,
)
from client.merkle import verify_inclusion
from client.state import (
    CheckpointMemory,
    CheckpointRollback,
    Evidence,
    Remembered,
    chosen_state_file,
    prove_consistent,
)
from client.tiles import entry_bundles, format_tile_path, parse_entry_bundle
from client.trust import Trust

__all__ = [
    "NodeReport",
    "RoundReport",
    "SplitView",
    "monitor_once",
    "monitor_round",
    "watch_issuer",
    "watch_issuer_on_any",
]

ENTRY_FETCH_WINDOW = 16
"""Log entries requested at once from a node without the tile API: enough to hide the
round trips, few enough not to crowd the node's other clients."""

BUNDLE_FETCH_WINDOW = 4
"""Entry bundles (256 leaves each) requested at once: the same few requests in flight as
:data:`ENTRY_FETCH_WINDOW`, each worth a tile, at most 4 MiB of leaves held at a time."""


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
    state: Remembered | None = None
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
                   ) -> Remembered | NodeReport:
    """The checkpoint ``client`` serves, opened under the trust file, or why not."""
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
    return Remembered(client.url, note, verified)


async def monitor_round(
    clients: Sequence[NodeClient],
    trust: Trust,
    previous: Remembered | None,
    *,
    now: int | None = None,
) -> RoundReport:
    """One round of checks over ``clients``; see the module docstring.  Never raises for
    what nodes send: problems become node reports or split views."""
    report = RoundReport(state=previous)
    by_url = {client.url: client for client in clients}
    results = await asyncio.gather(*(_observe(c, trust, now) for c in clients))
    # Identity, not equality: the recorded state and a node's answer may be equal values.
    observed = [r for r in results if isinstance(r, Remembered)]
    failed = {r.node: r for r in results if isinstance(r, NodeReport)}
    troubled: set[str] = set()

    def is_recorded(item: Remembered) -> bool:
        return previous is not None and item is previous

    def evidence(item: Remembered) -> Evidence:
        return item.evidence("recorded") if is_recorded(item) else item.evidence()

    async def compare(a: Remembered, b: Remembered, what: str) -> None:
        small, large = sorted((a, b), key=lambda item: item.tree_size)
        prover = None if is_recorded(large) else by_url.get(large.node)
        if prover is None and small.tree_size != large.tree_size:
            # The recorded state is the larger tree: any node holding it can prove it.
            prover = next((by_url[o.node] for o in observed
                           if o.tree_size >= large.tree_size), None)
            if prover is None:
                return  # a node behind the recorded state; nobody this round can prove it
        try:
            problem = await prove_consistent(small.checkpoint, large.checkpoint, prover)
        except LedgerError as exc:
            # Not evidence of anything: the prover could not be asked.
            assert prover is not None
            failed.setdefault(prover.url, NodeReport(
                prover.url, "unreachable", f"could not prove consistency ({what}): "
                f"{exc.diagnostics()}"))
            return
        if problem is not None:
            report.split_views.append(SplitView(f"{what}: {problem}", evidence(a), evidence(b)))
            for item in (a, b):
                if not is_recorded(item):
                    troubled.add(item.node)

    if previous is not None:
        await asyncio.gather(*(compare(previous, o, f"recorded state vs {o.node}")
                               for o in observed))
    pairs = [(a, b) for i, a in enumerate(observed) for b in observed[i + 1:]]
    await asyncio.gather(*(compare(a, b, f"{a.node} vs {b.node}") for a, b in pairs))

    for result in results:
        if isinstance(result, Remembered):
            node = result.node
            if node in failed:
                report.nodes.append(failed[node])
                continue
            status = "invalid" if node in troubled else "ok"
            report.nodes.append(NodeReport(
                node, status, "consistent" if status == "ok" else "part of a split view",
                result.tree_size, result.root.hex(), result.time))
        else:
            report.nodes.append(result)
    if not report.split_views:
        good = [o for o in observed if o.node not in troubled and o.node not in failed]
        newest = max(good, key=lambda o: o.tree_size, default=None)
        if newest is not None and (previous is None or newest.tree_size > previous.tree_size):
            report.state = newest
            report.advanced = True
    return report


async def monitor_once(
    clients: Sequence[NodeClient],
    trust: Trust,
    *,
    now: int | None = None,
    state_path: Path | None = None,
    state_dir: Path | None = None,
) -> RoundReport:
    """One round from the remembered checkpoint, remembering the newer one if it advanced.

    The state is ``state_path`` (``vcledger monitor --state FILE``) or, by
    default, the network's file in the state directory (:mod:`client.state`),
    which ``vcledger status`` and ``refresh`` read and advance too.  Raises
    :class:`StateFileError` for a state file it cannot use.
    """
    with CheckpointMemory(chosen_state_file(trust, state_dir, state_path), trust) as memory:
        report = await monitor_round(clients, trust, memory.current, now=now)
        if report.advanced and report.state is not None:
            memory.remember(report.state)
    return report


async def watch_issuer(
    node: NodeClient,
    trust: Trust,
    issuer: str,
    records: IssuerRecords,
    *,
    now: int | None = None,
    state_path: Path | None = None,
    state_dir: Path | None = None,
    rescan: bool = False,
) -> WatchReport:
    """Read the log up to ``node``'s newest checkpoint and report the events under
    ``issuer`` that ``records`` do not account for (see :mod:`client.issuer_watch`).

    Trusted: ``trust``, ``records``, the clock ``now`` and the state files.
    Untrusted: everything ``node`` answers.  Steps:

    1. the node's newest checkpoint with enough cosignatures is verified and
       proven consistent with the one remembered for the network
       (:func:`client.state.check_against_remembered`: a rollback raises
       :class:`CheckpointRollback`, an inconsistent one :class:`ForkDetected`);
    2. every leaf from where the watch stopped (index 0 with ``rescan``) up to
       the checkpoint is read (entry bundles, else single entries), and the
       leaves must extend the watch's compact range to the checkpoint's root
       (else :class:`EntriesDoNotMatch`; a bundle that does not even parse is
       :class:`NodeResponseError`);
    3. each unaccounted event under the DID gets an inclusion proof from the
       node, verified against the checkpoint, to carry as evidence;
    4. only then are the checkpoint and the watch (how far it read, what it
       reported) recorded, so a failed run is simply repeated by the next one.
    """
    with CheckpointMemory(chosen_state_file(trust, state_dir, state_path), trust) as memory:
        # 1. A verified checkpoint, consistent with everything this machine saw before.
        note = await node.checkpoint(min_cosignatures=trust.threshold)
        new = await memory.check(node, note, now)
        watch_path = watch_state_file(memory.path, issuer)
        watch = load_watch_state(watch_path, trust.origin, issuer)
        start = WatchState(trust.origin, issuer, reported=watch.reported) if rescan else watch
        if start.tree_size > new.tree_size:
            raise CheckpointRollback(
                f"node {node.url} serves tree size {new.tree_size}, but the watch of {issuer} "
                f"already read {start.tree_size} entries ({watch_path}); it may be stale or hiding "
                "events; try another node")

        # 2. Every new leaf, proven all at once by the root of the extended range.
        scan = LogScan(issuer, start.compact)
        read_via = await _read_leaves(node, scan, new.tree_size)
        scan.verify(new.checkpoint, node.url)

        # 3. Evidence a third party can check with the trust file alone.
        findings: list[Finding] = []
        for sighting in classify(scan.sightings, records, start.reported, rescan=rescan):
            proof = await node.inclusion_proof(sighting.index, new.tree_size)
            try:
                verify_inclusion(sighting.event.hash, sighting.index, new.tree_size, proof,
                                 new.root)
            except VerificationError as exc:
                raise EntriesDoNotMatch(
                    f"node {node.url} served a bad inclusion proof for log entry "
                    f"{sighting.index} ({exc.diagnostics()}); nothing was recorded; try another "
                    "node") from exc
            findings.append(Finding(sighting.index, sighting.event, tuple(proof),
                                    sighting.event.hash in start.reported))

        # 4. Record, checkpoint first: the watch never gets ahead of a remembered checkpoint.
        memory.remember(new)
    reported = start.reported | {f.event.hash for f in findings}
    save_watch_state(watch_path, WatchState(trust.origin, issuer, scan.compact, reported))
    accounted = sum(1 for s in scan.sightings if s.event.hash in records)
    return WatchReport(issuer, node.url, note, start.tree_size, new.tree_size,
                       len(scan.sightings), accounted, records, findings, read_via)


NODE_TROUBLES: tuple[type[LedgerError], ...] = (
    NodeUnavailable, NodeRejected, NodeResponseError, EntriesDoNotMatch, CheckpointRollback)
"""What makes :func:`watch_issuer_on_any` move on to the next node: the node is down,
answers 5xx, refuses, serves something malformed, entries that do not match its own
checkpoint, or an older checkpoint than one already verified.  Each says nothing against
the log, and nothing was recorded.  Never among them: a checkpoint that does not verify or
is inconsistent with the remembered one (:class:`ForkDetected`), which is evidence."""


async def watch_issuer_on_any(
    urls: Sequence[str],
    trust: Trust,
    issuer: str,
    records: IssuerRecords,
    *,
    timeout: float = 30.0,
    now: int | None = None,
    state_path: Path | None = None,
    state_dir: Path | None = None,
    rescan: bool = False,
) -> WatchReport:
    """:func:`watch_issuer` on the first of ``urls`` that can be read, trying them in order.

    A node that cannot be read (:data:`NODE_TROUBLES`) is noted in the report's
    ``skipped`` and the next is tried, from the same remembered state: a
    failed run records nothing.  Every checkpoint any node serves is verified
    and checked against the remembered one exactly as with one node, so a
    fork raises :class:`ForkDetected` at once, whatever the other nodes would
    say.  Raises :class:`NoNodeReadable` (exit 1) when no node could be read;
    with a single URL, that node's own error instead.
    """
    assert urls, "at least one node URL"
    skipped: list[SkippedNode] = []
    for url in urls:
        node = NodeClient(url, timeout=timeout)
        try:
            async with node:
                report = await watch_issuer(node, trust, issuer, records, now=now,
                                            state_path=state_path, state_dir=state_dir,
                                            rescan=rescan)
        except NODE_TROUBLES as exc:
            if len(urls) == 1:
                raise
            skipped.append(SkippedNode(node.url, exc.code, exc.diagnostics()))
            continue
        report.skipped = tuple(skipped)
        return report
    raise NoNodeReadable(tuple(skipped))


async def _read_leaves(node: NodeClient, scan: LogScan, tree_size: int) -> ReadVia | None:
    """Add leaves ``scan.next_index .. tree_size - 1`` to ``scan``, untrusted; how they
    were read (None if there was nothing to read).

    Entry bundles first; the first 404 on one means the node has no tile API
    (or not this bundle, which a node holding ``tree_size`` leaves should
    have): the rest is read entry by entry.  Either way the leaves prove
    nothing until :meth:`LogScan.verify` has checked them.
    """
    if scan.next_index >= tree_size:
        return None
    pending = entry_bundles(scan.next_index, tree_size)
    window = 1  # one bundle alone first: a node without the tile API says 404 once
    while batch := list(islice(pending, window)):
        try:
            bodies = await asyncio.gather(*(node.tile(format_tile_path(b)) for b in batch))
        except NodeRejected as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise
            await _read_entries(node, scan, tree_size)
            return ReadVia.ENTRIES
        for bundle, body in zip(batch, bodies, strict=True):
            try:
                leaves = parse_entry_bundle(body, bundle)
            except InvalidEncoding as exc:
                raise NodeResponseError(f"node {node.url} served a malformed entry bundle: "
                                        f"{exc.diagnostics()}; try another node") from exc
            # The first bundle may begin before where the last run stopped.
            for offset in range(scan.next_index - bundle.first, bundle.width):
                scan.add(bundle.first + offset, leaves[offset])
        window = BUNDLE_FETCH_WINDOW
    return ReadVia.TILES


async def _read_entries(node: NodeClient, scan: LogScan, tree_size: int) -> None:
    """Add leaves ``scan.next_index .. tree_size - 1`` to ``scan``, one request each."""
    for window in range(scan.next_index, tree_size, ENTRY_FETCH_WINDOW):
        indexes = range(window, min(window + ENTRY_FETCH_WINDOW, tree_size))
        leaves = await asyncio.gather(*(node.entry(i) for i in indexes))
        for index, leaf in zip(indexes, leaves, strict=True):
            scan.add(index, leaf)
