"""Collecting validators' cosignatures on a node's checkpoints (node/cosignatures.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from client.checkpoint import verify_checkpoint
from client.keys import KeyPair
from client.note import cosign
from client.trust import load_trust
from node.cosignatures import FUTURE_DATED_SUMMARY_SECONDS, Checkpoints
from node.errors import PeerProtocolError
from node.ledger import Ledger
from node.store import Store
from tests.nodeutil import NetworkFiles, write_network

NOW = 1_790_000_000


@pytest.fixture
def network(tmp_path: Path) -> NetworkFiles:
    return write_network(tmp_path / "net", 4)


@pytest.fixture
def checkpoints(tmp_path: Path, network: NetworkFiles) -> Checkpoints:
    store = Store.open(tmp_path / "db", create=True)
    ledger = Ledger(store, network.genesis)
    ledger.commit(ledger.prepare_block([], time_ms=NOW * 1000, proposer=b"\x01" * 32,
                                       drop_invalid=False))
    return Checkpoints(store, ledger, network.genesis)


def line(checkpoints: Checkpoints, network: NetworkFiles, i: int, timestamp: int,
         key: KeyPair | None = None) -> str:
    name = network.genesis.validators[i].name
    return cosign(checkpoints.ledger.checkpoint_body(), name,
                  (key or network.validator_keys[i]).seed, timestamp)


def test_cosignatures_collect_once_per_validator(checkpoints: Checkpoints,
                                                 network: NetworkFiles) -> None:
    size = checkpoints.ledger.head.tree_size
    assert checkpoints.note() is None
    for i in range(3):
        assert checkpoints.add(size, line(checkpoints, network, i, NOW), now=NOW)
    assert not checkpoints.add(size, line(checkpoints, network, 0, NOW + 5), now=NOW)
    note = checkpoints.note()
    assert note is not None
    trust = load_trust(network.trust)
    verified = verify_checkpoint(note, trust.origin, trust.verifiers(), trust.threshold)
    assert len(verified.cosigners) == 3


def test_future_dated_cosignatures_are_not_kept(checkpoints: Checkpoints,
                                                network: NetworkFiles) -> None:
    size = checkpoints.ledger.head.tree_size
    assert not checkpoints.add(size, line(checkpoints, network, 1, NOW + 3600), now=NOW)
    assert checkpoints.signer_count(size) == 0


def test_cosignatures_by_others_are_refused(checkpoints: Checkpoints,
                                            network: NetworkFiles) -> None:
    size = checkpoints.ledger.head.tree_size
    impostor = line(checkpoints, network, 2, NOW, key=KeyPair.generate())
    with pytest.raises(PeerProtocolError):
        checkpoints.add(size, impostor, now=NOW)
    with pytest.raises(PeerProtocolError):
        checkpoints.add(size, "— nobody AAAA", now=NOW)
    assert checkpoints.signer_count(size) == 0


def _checkpoint_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "vcledger.checkpoints"]


def test_a_fast_validator_is_reported_once_then_summarised_then_recovered(
        checkpoints: Checkpoints, network: NetworkFiles,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vcledger.checkpoints")
    size = checkpoints.ledger.head.tree_size
    fast = network.genesis.validators[1].name
    block_seconds = 5
    blocks = FUTURE_DATED_SUMMARY_SECONDS // block_seconds  # one summary interval
    # Validator 1's clock runs ten minutes ahead: every block, its cosignature is dropped.
    for block in range(2 * blocks + 1):
        now = NOW + block * block_seconds
        assert not checkpoints.add(size, line(checkpoints, network, 1, now + 600), now=now)
    records = _checkpoint_records(caplog)
    assert [level for level, _ in records] == [logging.WARNING] * 3
    first, *summaries = (message for _, message in records)
    assert first.startswith(f"dropped a cosignature for tree size {size} dated in the future "
                            "(is that validator's clock right?)")
    assert f"validator {fast} dated it 600 s ahead" in first
    assert summaries == [f"validator {fast}: dropped {blocks} more cosignatures dated in the "
                         f"future in the last {FUTURE_DATED_SUMMARY_SECONDS // 60} min "
                         f"(newest for tree size {size}, 600 s ahead); its clock still runs "
                         "fast"] * 2
    assert checkpoints.future_dated.validators() == [fast]

    # Its clock is fixed: one line says so, and its cosignature is kept again.
    caplog.clear()
    now = NOW + (2 * blocks + 1) * block_seconds
    assert checkpoints.add(size, line(checkpoints, network, 1, now), now=now)
    (record,) = _checkpoint_records(caplog)
    assert record[0] == logging.INFO
    assert record[1] == (f"validator {fast}: cosignatures are dated right again (tree size "
                         f"{size}); {2 * blocks + 1} were dropped as dated in the future over "
                         f"the last {(2 * blocks + 1) * block_seconds // 60} min")
    assert checkpoints.future_dated.validators() == []
    assert checkpoints.signer_count(size) == 1


def test_each_fast_validator_gets_its_own_first_warning(
        checkpoints: Checkpoints, network: NetworkFiles,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vcledger.checkpoints")
    size = checkpoints.ledger.head.tree_size
    for block in range(3):
        now = NOW + block
        for i in (1, 2):
            checkpoints.add(size, line(checkpoints, network, i, now + 3600), now=now)
    # An honest validator's cosignature says nothing.
    assert checkpoints.add(size, line(checkpoints, network, 0, NOW), now=NOW)
    names = [network.genesis.validators[i].name for i in (1, 2)]
    assert [(level, next(n for n in names if f"validator {n} " in message))
            for level, message in _checkpoint_records(caplog)] == [
        (logging.WARNING, names[0]), (logging.WARNING, names[1])]
    assert checkpoints.future_dated.validators() == sorted(names)
