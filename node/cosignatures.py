"""Cosigned checkpoints: this validator's cosignature and those collected from others.

After a block commits, every validator cosigns the new checkpoint (C2SP
tlog-cosignature, cosignature/v1, key type 0x04) and gossips the signature
line.  A node stores, per checkpoint tree size, one verified line per
validator, and serves the checkpoint as a signed note carrying all of them.
Lines are verified against the genesis validator keys before they are kept:
a line from anyone else, or one that does not verify, is refused.
"""

from __future__ import annotations

import logging

from client.errors import LedgerError, SignatureError
from client.keys import KeyPair
from client.note import (
    SIG_COSIGNATURE_V1,
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


class Checkpoints:
    def __init__(self, store: Store, ledger: Ledger, genesis: Genesis) -> None:
        self.store = store
        self.ledger = ledger
        self.validators: list[Verifier] = [v.verifier for v in genesis.validators]
        self._known = verifier_map(self.validators)
        self._order = {v.public_key: i for i, v in enumerate(self.validators)}

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
                    log.warning("dropped a cosignature for tree size %d dated in the future "
                                "(is that validator's clock right?)", tree_size)
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
