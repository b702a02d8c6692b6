"""The ledger: one node's committed chain, and the only writer of blocks.

Ties together the rules (:mod:`node.rules`), the persistent log
(:mod:`node.tlog`) and the status map (:mod:`node.statemap`) over one store.
A block is first *prepared* — events executed, status map and log staged,
header built — without changing anything; block production (a single
validator, or consensus) decides, and then :meth:`Ledger.commit` writes the
whole block in one synced LevelDB batch.  A crash at any instant therefore
leaves the database at a block boundary, and :meth:`Ledger.open` refuses a
database whose head, log and status map disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from client import encoding
from client.block import BlockHeader, decode_header
from client.checkpoint import format_checkpoint
from client.encoding import expect_array, expect_bytes, expect_hash, expect_uint
from client.errors import InvalidEncoding, UsageError
from client.events import SignedEvent
from client.hashes import Hash
from client.merkle import EMPTY_ROOT
from client.smt import EMPTY as EMPTY_STATUS_ROOT
from client.smt import SmtProof
from client.status import Position
from node.config import Genesis
from node.errors import NotFound, RuleViolation, StoreCorrupted
from node.rules import LedgerContext, admit_event, execute_events
from node.statemap import StatusMap
from node.store import Store, StoreBatch
from node.tlog import PersistentLog, StagedAppend

MAX_CERTIFICATE_SIZE = 64 * 1024

HEAD_READ_CACHE = 100_000
"""Committed reads (status records, absent events) remembered per table before it is emptied."""


class BlockMismatch(RuleViolation):
    """Someone else's block does not re-execute to what it claims."""

    def __init__(self, message: str) -> None:
        super().__init__("block_mismatch", message)


@dataclass(frozen=True, slots=True)
class Head:
    """The newest committed block, or the empty chain (height 0)."""

    height: int
    tree_size: int
    log_root: Hash
    status_root: Hash
    header: BlockHeader | None

    def encode(self) -> bytes:
        header_hash = b"" if self.header is None else self.header.hash
        return encoding.pack([1, self.height, self.tree_size, self.log_root, self.status_root,
                              header_hash])


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """What the ``B`` family keeps per height: where the header is, and how it was decided."""

    header_index: int
    certificate: bytes | None

    def encode(self) -> bytes:
        return encoding.pack([1, self.header_index, self.certificate])

    @classmethod
    def decode(cls, data: bytes) -> BlockRecord:
        fields = expect_array(encoding.unpack(data, max_size=MAX_CERTIFICATE_SIZE + 64,
                                              what="block record"), "block record", 3)
        if fields[0] != 1:
            raise InvalidEncoding("block record: unknown version")
        certificate = fields[2]
        return cls(expect_uint(fields[1], "header index"),
                   None if certificate is None else expect_bytes(certificate, "certificate"))


@dataclass
class PreparedBlock:
    """A block computed on top of a given head, not yet written."""

    parent: Head
    header: BlockHeader
    events: list[SignedEvent]
    rejected: list[tuple[SignedEvent, RuleViolation]]
    batch: StoreBatch
    staged_log: StagedAppend
    status_root: Hash
    status_keys: frozenset[Hash]
    """The status keys the block writes (what :meth:`Ledger.adopt` must forget it read)."""

    @property
    def block_id(self) -> Hash:
        """The log root right after the block: what consensus votes on and checkpoints sign."""
        return self.staged_log.new_root

    @property
    def tree_size(self) -> int:
        return self.staged_log.new_size


@dataclass(frozen=True, slots=True)
class StatusProof:
    """A status record (or its absence) proven against the status root of one block."""

    header: BlockHeader
    value: bytes | None
    proof: SmtProof


class _HeadReads:
    """Committed reads as of the adopted head, so an event's rule checks read LevelDB once.

    Each submitted event is judged at admission and again when its block is
    built, and the service asks twice whether it is already in the log: six
    reads of the same few keys, all answered by the same committed state.
    Only a block changes that state, and :meth:`forget` drops exactly what a
    block changes (its status keys and its leaves' hashes) once it is adopted,
    so a cached answer is always the head's.  Bounded: a full table is emptied.
    """

    __slots__ = ("absent_events", "records")

    def __init__(self) -> None:
        self.records: dict[Hash, bytes | None] = {}
        # Leaf hashes the store did not hold (events are only ever added, by blocks).
        self.absent_events: set[Hash] = set()

    def remember_record(self, status_key: Hash, value: bytes | None) -> None:
        if len(self.records) >= HEAD_READ_CACHE:
            self.records.clear()
        self.records[status_key] = value

    def remember_absent(self, leaf_hash: Hash) -> None:
        if len(self.absent_events) >= HEAD_READ_CACHE:
            self.absent_events.clear()
        self.absent_events.add(leaf_hash)

    def forget(self, block: PreparedBlock) -> None:
        records = self.records
        for status_key in block.status_keys:
            records.pop(status_key, None)
        absent = self.absent_events
        for event in block.events:
            absent.discard(event.hash)
        absent.discard(block.header.hash)


class Ledger:
    """The committed chain of one node.  Not thread-safe: one task owns it."""

    def __init__(self, store: Store, genesis: Genesis) -> None:
        self.store = store
        self.genesis = genesis
        self.context = LedgerContext(
            origin=genesis.origin,
            governance_keys=genesis.governance_keys,
            max_clock_skew_ms=genesis.consensus.max_clock_skew_ms,
        )
        self._check_identity()
        self.log = PersistentLog(store)
        self.head = self._load_head()
        self.status = StatusMap(store, self.head.status_root)
        self._reads = _HeadReads()

    @classmethod
    def open(cls, store: Store, genesis: Genesis) -> Ledger:
        return cls(store, genesis)

    # -- opening and self-checks ------------------------------------------------------------

    def _check_identity(self) -> None:
        stored_genesis = self.store.get_meta(b"genesis")
        if stored_genesis is None:
            if self.store.get_meta(b"head") is not None:
                raise StoreCorrupted("the database has blocks but no genesis record")
            batch = self.store.batch()
            batch.put_meta(b"genesis", self.genesis.hash)
            batch.commit()
        elif stored_genesis != self.genesis.hash:
            raise StoreCorrupted(
                "this data directory belongs to a different network (its genesis hash "
                f"{stored_genesis.hex()} is not {self.genesis.hash.hex()}); point data_dir "
                "elsewhere or use the genesis file it was created with"
            )

    def _load_head(self) -> Head:
        raw = self.store.get_meta(b"head")
        if raw is None:
            if self.log.size != 0:
                raise StoreCorrupted("the log has entries but the database records no block")
            return Head(0, 0, EMPTY_ROOT, EMPTY_STATUS_ROOT, None)
        try:
            fields = expect_array(encoding.unpack(raw, max_size=256, what="head record"),
                                  "head record", 6)
            height = expect_uint(fields[1], "head height")
            tree_size = expect_uint(fields[2], "head tree size")
            log_root = expect_hash(fields[3], "head log root")
            status_root = expect_hash(fields[4], "head status root")
            header_hash = expect_hash(fields[5], "head header hash")
            header = decode_header(self._leaf(tree_size - 1))
        except (InvalidEncoding, UsageError) as exc:
            raise StoreCorrupted(f"the head record is unreadable: {exc.diagnostics()}") from exc
        problems = []
        if self.log.size != tree_size:
            problems.append(f"log holds {self.log.size} leaves, head says {tree_size}")
        elif self.log.root() != log_root:
            problems.append("the log root recomputed from stored tiles differs from the head's")
        if header.hash != header_hash or header.height != height:
            problems.append("the newest header leaf is not the head's header")
        if header.status_root != status_root:
            problems.append("the newest header's status root differs from the head's")
        if status_root != EMPTY_STATUS_ROOT and self.store.get_node(status_root) is None:
            problems.append("the status map's root node is missing")
        if problems:
            raise StoreCorrupted("refusing to serve an inconsistent database: " +
                                 "; ".join(problems))
        return Head(height, tree_size, log_root, status_root, header)

    def _leaf(self, index: int) -> bytes:
        leaf = self.store.get_entry(index) if index >= 0 else None
        if leaf is None:
            raise StoreCorrupted(f"log entry {index} is missing")
        return leaf

    # -- the rules' view of committed state (node.rules.StateReader) -------------------------

    def get_record(self, status_key: Hash) -> bytes | None:
        records = self._reads.records
        if status_key in records:
            return records[status_key]
        value = self.status.get(status_key)
        self._reads.remember_record(status_key, value)
        return value

    def has_event(self, event_hash: Hash) -> bool:
        if event_hash in self._reads.absent_events:
            return False
        if self.store.get_event_position(event_hash) is None:
            self._reads.remember_absent(event_hash)
            return False
        return True

    # -- writing -------------------------------------------------------------------------

    def admit(self, event: SignedEvent, now_ms: int, *, signature_checked: bool = False) -> None:
        """Raise :class:`RuleViolation` if ``event`` cannot go into the next block."""
        admit_event(self.context, self, event, next_index=self.head.tree_size,
                    next_height=self.head.height + 1, now_ms=now_ms,
                    signature_checked=signature_checked)

    def prepare_block(
        self,
        events: Sequence[SignedEvent],
        *,
        time_ms: int,
        proposer: bytes,
        drop_invalid: bool,
        signatures_checked: frozenset[Hash] | set[Hash] = frozenset(),
    ) -> PreparedBlock:
        """Execute ``events`` as the next block and stage every write, changing nothing.

        With ``drop_invalid`` events that fail the rules are left out (a proposer
        building from its mempool); without, the first failure raises
        :class:`RuleViolation` (judging someone else's block).
        """
        head = self.head
        if head.header is not None and time_ms <= head.header.time_ms:
            raise RuleViolation("bad_block_time",
                                f"block time {time_ms} is not after its parent's "
                                f"{head.header.time_ms}")
        height = head.height + 1
        first_index = head.tree_size
        executed = execute_events(self.context, self, events, first_index=first_index,
                                  height=height, block_time_ms=time_ms, drop_invalid=drop_invalid,
                                  signatures_checked=signatures_checked)
        batch = self.store.batch()
        status_root = self.status.stage(executed.updates, batch)
        header = BlockHeader(
            height=height,
            previous=self.genesis.hash if head.header is None else head.header.hash,
            time_ms=time_ms,
            proposer=proposer,
            first_index=first_index,
            event_count=len(executed.accepted),
            status_root=status_root,
            validator_set_hash=self.genesis.validator_set_hash,
        )
        leaves = [e.encoded for e in executed.accepted]
        leaves.append(header.encoded)
        staged = self.log.stage_append(leaves, batch)
        for offset, event in enumerate(executed.accepted):
            batch.put_event_position(event.hash, first_index + offset, height)
        batch.put_event_position(header.hash, header.index, height)
        return PreparedBlock(head, header, executed.accepted, executed.rejected, batch, staged,
                             status_root, frozenset(executed.updates))

    def next_block_time_ms(self, now_ms: int) -> int:
        """The time a block built now carries: the clock, but always after its parent's."""
        header = self.head.header
        return now_ms if header is None else max(now_ms, header.time_ms + 1)

    def is_block_body(self, untrusted_header: bytes, untrusted_events: Sequence[bytes],
                      claimed_block_id: Hash) -> bool:
        """Whether these leaves, appended to the log, give the root ``claimed_block_id``.

        Stages nothing: a cheap first check, so no rule judges a block from a body
        that is not that block.
        """
        return self.log.root_after([*untrusted_events, untrusted_header]) == claimed_block_id

    def recheck_block(self, untrusted_header: bytes, events: Sequence[SignedEvent],
                      claimed_block_id: Hash) -> PreparedBlock:
        """Re-execute someone else's block and require the header and root it claims.

        Precondition: every event's signature has been checked.  Raises
        :class:`RuleViolation` when an event breaks a rule or the block time is
        not after its parent's, and :class:`BlockMismatch` when this node
        computes another header or root.
        """
        header = decode_header(untrusted_header)
        block = self.prepare_block(events, time_ms=header.time_ms, proposer=header.proposer,
                                   drop_invalid=False, signatures_checked={e.hash for e in events})
        if block.header.encoded != untrusted_header or block.block_id != claimed_block_id:
            raise BlockMismatch(f"block {header.height} does not re-execute to the header and "
                                "root it claims")
        return block

    def commit(self, block: PreparedBlock, certificate: bytes | None = None) -> Head:
        """Write ``block`` durably (one synced batch) and make it the head."""
        head = self.seal(block, certificate)
        block.batch.commit()
        self.adopt(block, head)
        return head

    def seal(self, block: PreparedBlock, certificate: bytes | None = None) -> Head:
        """Add the block record and the new head to the block's batch; write nothing yet.

        Split from :meth:`adopt` so a caller can run the synced write
        (``block.batch.commit()``) off the event loop; readers keep seeing the
        old head until :meth:`adopt`.
        """
        if block.parent != self.head:
            raise UsageError("the prepared block's parent is no longer the head")
        if certificate is not None and len(certificate) > MAX_CERTIFICATE_SIZE:
            raise UsageError("commit certificate is too large")
        head = Head(block.header.height, block.tree_size, block.block_id, block.status_root,
                    block.header)
        block.batch.put_block(block.header.height,
                              BlockRecord(block.header.index, certificate).encode())
        block.batch.put_meta(b"head", head.encode())
        return head

    def adopt(self, block: PreparedBlock, head: Head) -> None:
        """Make a durably written block the head."""
        assert block.parent == self.head, "a second writer changed the ledger"
        self.log.applied(block.staged_log)
        self.status.applied(block.status_root)
        self._reads.forget(block)
        self.head = head

    # -- reading -------------------------------------------------------------------------

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self.head.tree_size:
            raise NotFound(f"log index {index} is outside the log (size {self.head.tree_size})")
        return self._leaf(index)

    def event_position(self, event_hash: Hash) -> Position | None:
        """Where a committed event (or header) sits, as of the adopted head.

        A block's batch is durable a moment before :meth:`adopt` makes it the
        head; until then its positions are hidden, so no reader is told about
        an index that :meth:`leaf` and the proofs do not serve yet.
        """
        if event_hash in self._reads.absent_events:
            return None
        found = self.store.get_event_position(event_hash)
        if found is None:
            self._reads.remember_absent(event_hash)
            return None
        if found[0] >= self.head.tree_size:
            return None
        return Position(*found)

    def block_record(self, height: int) -> BlockRecord:
        if not 1 <= height <= self.head.height:
            raise NotFound(f"block {height} does not exist (height is {self.head.height})")
        raw = self.store.get_block(height)
        if raw is None:
            raise StoreCorrupted(f"block record {height} is missing")
        try:
            return BlockRecord.decode(raw)
        except InvalidEncoding as exc:
            raise StoreCorrupted(f"block record {height} is unreadable") from exc

    def header(self, height: int) -> BlockHeader:
        record = self.block_record(height)
        return self._header_at_index(record.header_index)

    def _header_at_index(self, index: int) -> BlockHeader:
        try:
            return decode_header(self._leaf(index))
        except InvalidEncoding as exc:
            raise StoreCorrupted(f"log entry {index} should be a block header: {exc}") from exc

    def header_for_tree_size(self, tree_size: int) -> BlockHeader:
        """The header whose checkpoint has ``tree_size`` leaves (a block boundary)."""
        if not 1 <= tree_size <= self.head.tree_size:
            raise UsageError(f"tree size {tree_size} is outside 1..{self.head.tree_size}")
        leaf = self._leaf(tree_size - 1)
        try:
            return decode_header(leaf)
        except InvalidEncoding as exc:
            raise UsageError(f"tree size {tree_size} is not a block boundary; use the size of a "
                             "checkpoint") from exc

    def event_hashes(self, header: BlockHeader) -> list[Hash]:
        return [self.log.node_hash(0, i)
                for i in range(header.first_index, header.first_index + header.event_count)]

    def inclusion_proof(self, index: int, tree_size: int) -> list[Hash]:
        self._check_size(tree_size)
        return self.log.inclusion_proof(index, tree_size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[Hash]:
        self._check_size(new_size)
        return self.log.consistency_proof(old_size, new_size)

    def _check_size(self, tree_size: int) -> None:
        if not 1 <= tree_size <= self.head.tree_size:
            raise UsageError(f"tree_size {tree_size} is outside 1..{self.head.tree_size}")

    def status_proof(self, status_key: Hash, tree_size: int | None = None) -> StatusProof:
        header = (self.head.header if tree_size is None
                  else self.header_for_tree_size(tree_size))
        if header is None:
            raise NotFound("the ledger has no blocks yet")
        value, proof = self.status.prove(status_key, header.status_root)
        return StatusProof(header, value, proof)

    def checkpoint_body(self, tree_size: int | None = None) -> str:
        """The C2SP checkpoint body of the head (or of an earlier block boundary)."""
        if tree_size is None:
            return format_checkpoint(self.genesis.origin, self.head.tree_size, self.head.log_root)
        self.header_for_tree_size(tree_size)
        return format_checkpoint(self.genesis.origin, tree_size, self.log.root_at(tree_size))


