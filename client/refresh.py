"""Bring a proof bundle up to a node's newest checkpoint: ``vcledger refresh``.

A bundle proves a credential's status *as of its checkpoint*.  Verifiers
bound that checkpoint's age (the trust file's ``max_age_seconds``), so a
holder refreshes before presenting it.  Refreshing must never move a bundle
to a history other than the one it proves, nor backwards:

1. the old bundle verifies under the trust file (every proof, whatever its
   age: that is what a refresh is for);
2. the node's newest checkpoint with at least ``threshold`` cosignatures
   verifies, and is checked against the newest checkpoint this machine has
   verified for the network (:mod:`client.state`): an older tree is refused
   (:class:`client.state.CheckpointRollback`), a fork too
   (:class:`client.state.ForkDetected`);
3. it is not older than the bundle's checkpoint, and an RFC 9162 consistency
   proof from the bundle's checkpoint to it verifies: the new checkpoint's log
   extends the one the bundle was proven in;
4. the checkpoint is remembered; then the node's proofs for the same
   credential are fetched (same issuer, digest and receipt), at the node's
   newest checkpoint, which goes through step 2 again if the node advanced
   meanwhile (consistency composes, so it extends the bundle's too);
5. the new bundle is for the same issuing event (the same leaf at the same
   index), and it verifies.

A credential revoked since the old bundle gives a new bundle whose verdict is
``revoked``: that is a successful refresh (the holder's bundle now tells the
truth), not an error.  Failures raise :class:`LedgerError` subclasses whose
messages say what to do; nothing is written here, so a refused refresh leaves
the caller's file as it was.
"""

from __future__ import annotations

from pathlib import Path

from client.bundle import Bundle
from client.checkpoint import Checkpoint, parse_checkpoint
from client.errors import VerificationError
from client.http import NodeClient, NodeResponseError, fetch_bundle
from client.note import parse_note
from client.state import (
    CheckpointMemory,
    CheckpointRollback,
    Evidence,
    ForkDetected,
    prove_consistent,
    state_file,
)
from client.trust import Trust
from client.verdict import Verdict
from client.verify import verify_bundle

__all__ = ["BundleNotRefreshable", "refresh_bundle"]


class BundleNotRefreshable(VerificationError):
    """The bundle to refresh does not verify itself: there is nothing trustworthy to extend."""

    code = "bundle_not_refreshable"


def _checkpoint_of(bundle: Bundle) -> Checkpoint:
    # Precondition: the bundle verified (step 1), so its note parses and is cosigned.
    return parse_checkpoint(parse_note(bundle.event_proof.checkpoint_note).body)


def _verify(bundle: Bundle, trust: Trust, now: int) -> Verdict:
    # Integrity only, whatever the checkpoint's age: freshness is what refresh restores,
    # and the caller judges the new bundle's age under its own policy.  The credential
    # file is the caller's to check (vcledger refresh --credential).
    return verify_bundle(bundle, trust, digest_only=True, now=now, max_age=None)


async def refresh_bundle(
    node: NodeClient,
    old: Bundle,
    trust: Trust,
    *,
    now: int,
    state_dir: Path | None = None,
) -> Bundle:
    """The bundle ``old`` brought up to ``node``'s newest checkpoint (see the module docstring).

    Trusted: ``trust``, the clock ``now`` (POSIX seconds) and the state in
    ``state_dir`` (default :func:`client.state.default_state_dir`).
    Untrusted: ``old`` and everything ``node`` answers.  Returns a bundle
    that verified as ``valid``, ``revoked`` or another non-``invalid``
    verdict; raises :class:`BundleNotRefreshable` (``old`` does not
    verify), :class:`client.state.CheckpointRollback` (the node is older than the
    bundle or than a checkpoint verified before), :class:`client.state.ForkDetected`
    (inconsistent histories, with both checkpoints), :class:`NodeResponseError`
    (the node's new proofs do not hold up), or the node client's errors.
    """
    # 1. The old bundle: every proof, under the trust file.
    verdict = _verify(old, trust, now)
    if verdict.status == "invalid":
        raise BundleNotRefreshable(
            f"the bundle to refresh does not verify, so there is nothing to bring up to date "
            f"({verdict.message}); fetch a new one with `vcledger bundle`")
    old_checkpoint = _checkpoint_of(old)
    old_note = old.event_proof.checkpoint_note

    # The state file is read and verified once for the whole run (CheckpointMemory).
    with CheckpointMemory(state_file(trust.origin, state_dir), trust) as memory:
        # 2. The node's newest checkpoint, against what this machine verified before.
        note_text = await node.checkpoint(min_cosignatures=trust.threshold)
        new = await memory.check(node, note_text, now)

        # 3. Not older than the bundle's, and an extension of it.
        if new.tree_size < old_checkpoint.tree_size:
            raise CheckpointRollback(
                f"this node serves tree size {new.tree_size}; the bundle is already at tree size "
                f"{old_checkpoint.tree_size} — it may be stale or hiding events (node {node.url}); "
                "the bundle was left as it was; try another node")
        problem = await prove_consistent(old_checkpoint, new.checkpoint, node)
        if problem is not None:
            raise ForkDetected(
                f"the checkpoint node {node.url} serves is not consistent with the bundle's: "
                f"{problem}", Evidence("the bundle", old_note), new.evidence())

        # 4. Remember it, then fetch the proofs for the same credential.
        memory.remember(new)
        fresh = await fetch_bundle(node, issuer=old.issuer, credential_digest=old.credential_digest,
                                   receipt=old.receipt, min_cosignatures=trust.threshold)
        fresh_note = fresh.event_proof.checkpoint_note
        if fresh_note != note_text:
            # The node sealed a block in between (or answers inconsistently): the same checks.
            await memory.check_and_remember(node, fresh_note, now)

    # 5. The same issuing event, and proofs that verify.
    if fresh.event != old.event or fresh.event_proof.index != old.event_proof.index:
        raise NodeResponseError(
            f"node {node.url} answered with another issuing event for credential "
            f"{old.credential_digest.hex()} (index {fresh.event_proof.index}, the bundle's is "
            f"{old.event_proof.index}); the bundle was left as it was")
    verdict = _verify(fresh, trust, now)
    if verdict.status == "invalid":
        raise NodeResponseError(
            f"node {node.url} served proofs that do not verify ({verdict.message}); the bundle "
            "was left as it was; try another node")
    return fresh
