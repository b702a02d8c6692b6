"""Cosigned checkpoints: this validator's cosignature and those collected from others.

After a block commits, every validator cosigns the new checkpoint (C2SP
tlog-cosignature, cosignature/v1, key type 0x04) and gossips the signature
line.  A node stores, per checkpoint tree size, one verified line per
validator, and serves the checkpoint as a signed note carrying all of them.
Lines are verified against the genesis validator keys before they are kept:
a line from anyone else, or one that does not verify, is refused.

A validator's line dated beyond the allowed drift after this node's clock is
dropped (verifiers would discard it).  A validator whose clock runs fast does
that on every block, so :class:`FutureDatedCosignatures` reports it per
validator: the first drop at WARNING, then at most one WARNING summary with
the count every :data:`FUTURE_DATED_SUMMARY_SECONDS`, and an INFO line when
that validator's cosignatures are dated right again (docs/operations.md §11.4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from client.errors import LedgerError, SignatureError
from client.keys import KeyPair
from client.note import (
    SIG_COSIGNATURE_V1,
    TIMESTAMP_SIZE,
    NoteSignature,
    Verifier,
    cosign,
    format_note,
    open_parsed_note,
    parse_note,
    parse_signature_lines,
    verifier_map,
)
from node.config import Genesis
from node.errors import PeerProtocolError
from node.ledger import Ledger
from node.store import Store

log = logging.getLogger("vcledger.checkpoints")

MAX_LINE_LENGTH = 512

FUTURE_DATED_SUMMARY_SECONDS = 10 * 60
"""Shortest time between two summaries of one validator's future-dated cosignatures: at one
block per 5 s, 144 lines a day instead of 17,280."""


@dataclass(slots=True)
class _Skewed:
    """One validator whose cosignatures arrive dated in the future."""

    since: int
    """This node's clock at the first drop."""
    last_report: int
    dropped_total: int = 1
    dropped_unreported: int = 0
    newest_tree_size: int = 0
    newest_ahead: int = 0


class FutureDatedCosignatures:
    """Logs future-dated cosignatures per validator without writing a line per block.

    Keyed by validator name (the lines' signatures are verified before they get
    here, so a name is a validator's), hence bounded by the validator set.  The
    clock is the ``now`` each call is given, this node's, in Unix seconds.
    """

    def __init__(self, summary_seconds: int = FUTURE_DATED_SUMMARY_SECONDS) -> None:
        self.summary_seconds = summary_seconds
        self._skewed: dict[str, _Skewed] = {}

    def dropped(self, validator: str, tree_size: int, timestamp: int, now: int) -> None:
        """A cosignature by ``validator`` for ``tree_size``, dated ``timestamp``, was dropped."""
        ahead = timestamp - now
        state = self._skewed.get(validator)
        if state is None:
            self._skewed[validator] = _Skewed(since=now, last_report=now,
                                              newest_tree_size=tree_size, newest_ahead=ahead)
            log.warning("dropped a cosignature for tree size %d dated in the future (is that "
                        "validator's clock right?): validator %s dated it %d s ahead of this "
                        "node's clock; further drops from it are summarised every %d min",
                        tree_size, validator, ahead, self.summary_seconds // 60)
            return
        state.dropped_total += 1
        state.dropped_unreported += 1
        state.newest_tree_size, state.newest_ahead = tree_size, ahead
        if now - state.last_report >= self.summary_seconds:
            log.warning("validator %s: dropped %d more cosignatures dated in the future in the "
                        "last %d min (newest for tree size %d, %d s ahead); its clock still "
                        "runs fast", validator, state.dropped_unreported,
                        (now - state.last_report) // 60, tree_size, ahead)
            state.last_report = now
            state.dropped_unreported = 0

    def in_time(self, validator: str, tree_size: int, now: int) -> None:
        """A cosignature by ``validator`` for ``tree_size`` was dated within the drift."""
        state = self._skewed.pop(validator, None)
        if state is not None:
            log.info("validator %s: cosignatures are dated right again (tree size %d); %d "
                     "were dropped as dated in the future over the last %d min", validator,
                     tree_size, state.dropped_total, (now - state.since) // 60)

    def validators(self) -> list[str]:
        """The validators whose newest cosignature was dropped as dated in the future."""
        return sorted(self._skewed)


class Checkpoints:
    def __init__(self, store: Store, ledger: Ledger, genesis: Genesis) -> None:
        self.store = store
        self.ledger = ledger
        self.validators: list[Verifier] = [v.verifier for v in genesis.validators]
        self._known = verifier_map(self.validators)
        self._order = {v.public_key: i for i, v in enumerate(self.validators)}
        self.future_dated = FutureDatedCosignatures()

    def lines(self, tree_size: int) -> list[NoteSignature]:
        raw = self.store.get_cosignatures(tree_size)
        if not raw:
            return []
        return list(parse_signature_lines(raw.decode("utf-8")))

    def note(self, tree_size: int | None = None) -> str | None:
        """The checkpoint at ``tree_size`` (default: the head) with every cosignature held,
        or None when no validator has cosigned it yet."""
        if tree_size is None:
            size = self.ledger.head.tree_size
        else:
            # UsageError (HTTP 400) for a size beyond the head or between blocks: such
            # a checkpoint never exists, so "not cosigned yet" would mislead.
            self.ledger.header_for_tree_size(tree_size)
            size = tree_size
        lines = self.lines(size)
        if not lines:
            return None
        return format_note(self.ledger.checkpoint_body(size), lines)

    def signer_count(self, tree_size: int) -> int:
        return len(self.lines(tree_size))

    def newest_with(self, min_cosignatures: int, *, search_blocks: int = 64) -> str | None:
        """The newest checkpoint among the last ``search_blocks`` blocks that carries at
        least ``min_cosignatures`` cosignatures (a fresh block may not have them all yet)."""
        head = self.ledger.head
        for height in range(head.height, max(0, head.height - search_blocks), -1):
            size = self.ledger.header(height).tree_size
            if self.signer_count(size) >= min_cosignatures:
                return self.note(size)
        return None

    def cosign_head(self, name: str, key: KeyPair, timestamp: int) -> str:
        """Cosign the head checkpoint as validator ``name``; returns the signature line."""
        body = self.ledger.checkpoint_body()
        line = cosign(body, name, key.seed, timestamp)
        self.add(self.ledger.head.tree_size, line)
        return line

    def add(self, tree_size: int, line: str, *, now: int | None = None) -> bool:
        """Verify and keep a cosignature line for the checkpoint of ``tree_size``.

        Returns False if that validator's cosignature is already held, or if it
        is dated more than the allowed skew after ``now`` (the node's clock):
        verifiers would discard it, so it is not served.  Raises
        :class:`PeerProtocolError` for a line that is malformed, not by a
        validator, or does not verify.
        """
        if len(line) > MAX_LINE_LENGTH:
            raise PeerProtocolError("cosignature line is too long")
        body = self.ledger.checkpoint_body(tree_size)
        try:
            parsed = parse_note(body + "\n" + line.rstrip("\n") + "\n")
            if len(parsed.signatures) != 1:
                raise PeerProtocolError("expected exactly one cosignature line")
            try:
                opened = open_parsed_note(parsed, self._known, now=now)
            except SignatureError:
                if now is not None and open_parsed_note(parsed, self._known).signatures:
                    line_signature = parsed.signatures[0]
                    self.future_dated.dropped(
                        line_signature.name, tree_size,
                        int.from_bytes(line_signature.signature[:TIMESTAMP_SIZE], "big"), now)
                    return False
                raise
        except SignatureError as exc:
            raise PeerProtocolError(
                f"cosignature for tree size {tree_size} is not a valid validator cosignature: "
                f"{exc.diagnostics()}") from exc
        except LedgerError as exc:
            raise PeerProtocolError(f"malformed cosignature line: {exc.diagnostics()}") from exc
        signature = opened.signatures[0]
        assert signature.sig_type == SIG_COSIGNATURE_V1
        if now is not None:
            self.future_dated.in_time(parsed.signatures[0].name, tree_size, now)
        held = self.lines(tree_size)
        held_keys = {self._public_key(s) for s in held}
        if signature.public_key in held_keys:
            return False
        held.append(parsed.signatures[0])
        held.sort(key=lambda s: self._order.get(self._public_key(s), len(self._order)))
        self.store.put_cosignatures(tree_size, "".join(s.line for s in held).encode("utf-8"))
        return True

    def _public_key(self, signature: NoteSignature) -> bytes:
        verifier = self._known.get((signature.name, signature.key_id))
        return b"" if verifier is None else verifier.public_key
