"""Collecting validators' cosignatures on a node's checkpoints (node/cosignatures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.checkpoint import verify_checkpoint
from client.keys import KeyPair
from client.note import cosign
from client.trust import load_trust
from node.cosignatures import Checkpoints
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
