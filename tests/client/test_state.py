"""The remembered checkpoint (client/state.py): no rollback, no fork, a state file you can lose.

No node here: a fake serves consistency proofs over an in-memory log (built
with client.merkle), and checkpoints are cosigned by the test's validator
keys, so every case is exact.  ``VCLEDGER_STATE_DIR`` points at the test's
own directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import cast

import pytest

import client.files
import client.state
from client import keys, note
from client.checkpoint import format_checkpoint, verify_checkpoint
from client.errors import InvalidProof, LedgerError, VerificationError
from client.hashes import Hash
from client.http import NodeClient, NodeUnavailable
from client.merkle import consistency_proof, leaf_hash, root_hash
from client.monitor import monitor_once
from client.state import (
    STATE_DIR_ENV,
    STATE_FORMAT,
    CheckpointMemory,
    CheckpointRollback,
    ForkDetected,
    Remembered,
    StateFileError,
    check_and_remember,
    default_state_dir,
    format_state,
    load_remembered,
    remember,
    remembered_checkpoint,
    state_file,
)
from client.trust import Trust, TrustedValidator, parse_trust

ORIGIN = "state.example/net"
NOW = 1_800_000_000
SEEDS = [bytes([0x70 + n] * 32) for n in range(3)]
NAMES = [f"validator-{n}.state.example" for n in range(3)]
TRUST = Trust(origin=ORIGIN, threshold=2, validators=[
    TrustedValidator(name=name, verifier_key=note.verifier_key(
        name, keys.public_key(seed), sig_type=note.SIG_COSIGNATURE_V1))
    for name, seed in zip(NAMES, SEEDS, strict=True)])
LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(100)]
FORKED = LEAVES[:10] + [leaf_hash(f"other entry {i}".encode()) for i in range(10, 100)]


def cosigned(size: int, leaves: list[Hash] = LEAVES, *, at: int = NOW,
             origin: str = ORIGIN) -> str:
    body = format_checkpoint(origin, size, root_hash(leaves[:size]))
    return body + "\n" + "".join(note.cosign(body, NAMES[i], SEEDS[i], at - i)
                                 for i in range(2))


class FakeNode:
    """Serves consistency proofs over ``leaves``, as a node would (and checkpoints, for the
    monitor), and counts the proofs it was asked for."""

    def __init__(self, leaves: list[Hash] = LEAVES, *, url: str = "http://127.0.0.1:7700",
                 size: int = 0, fail: bool = False) -> None:
        self.url = url
        self.leaves = leaves
        self.size = size
        self.fail = fail
        self.proofs: list[tuple[int, int]] = []

    async def consistency_proof(self, old_size: int, tree_size: int) -> list[Hash]:
        self.proofs.append((old_size, tree_size))
        if self.fail:
            raise NodeUnavailable(f"cannot reach node {self.url}")
        return consistency_proof(self.leaves[:tree_size], old_size)

    async def checkpoint(self, *, min_cosignatures: int | None = None,
                         tree_size: int | None = None) -> str:
        return cosigned(self.size, self.leaves)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state"
    monkeypatch.setenv(STATE_DIR_ENV, str(directory))
    return directory


async def remembered_at(size: int, node: FakeNode | None = None) -> Path:
    await check_and_remember(node or FakeNode(), cosigned(size), TRUST, NOW)
    return state_file(ORIGIN)


# -- remembering and advancing -------------------------------------------------------------


async def test_the_first_checkpoint_is_remembered_in_the_state_directory(
        state_dir: Path) -> None:
    node = FakeNode()
    verified = await check_and_remember(node, cosigned(14), TRUST, NOW)
    assert verified.checkpoint.tree_size == 14 and verified.time == NOW - 1
    (path,) = state_dir.glob("*.json")
    assert path == state_file(ORIGIN) == state_file(ORIGIN, state_dir)
    document = json.loads(path.read_text())
    assert document == {"format": STATE_FORMAT, "origin": ORIGIN, "node": node.url,
                        "checkpoint": cosigned(14)}
    assert node.proofs == []  # nothing to be consistent with yet
    again = remembered_checkpoint(TRUST)
    assert again is not None and again.checkpoint == verified.checkpoint


async def test_a_newer_consistent_checkpoint_replaces_it(state_dir: Path) -> None:
    path = await remembered_at(14)
    node = FakeNode()
    await check_and_remember(node, cosigned(78, at=NOW + 5), TRUST, NOW + 5)
    assert node.proofs == [(14, 78)]
    assert json.loads(path.read_text())["checkpoint"] == cosigned(78, at=NOW + 5)
    # The same checkpoint again, or the same tree cosigned later: fine, no proof needed.
    before = path.read_bytes()
    await check_and_remember(node, cosigned(78, at=NOW + 60), TRUST, NOW + 60)
    assert node.proofs == [(14, 78)] and path.read_bytes() == before


async def test_an_older_tree_size_is_refused_and_the_state_kept(state_dir: Path) -> None:
    path = await remembered_at(78)
    before = path.read_bytes()
    node = FakeNode()
    with pytest.raises(CheckpointRollback) as caught:
        await check_and_remember(node, cosigned(14), TRUST, NOW)
    message = caught.value.diagnostics()
    assert message.startswith("this node serves tree size 14; already verified 78 — it may be "
                              "stale or hiding events")
    assert str(path) in message and caught.value.exit_code == 1
    assert path.read_bytes() == before and node.proofs == []


async def test_the_same_size_with_another_root_is_a_fork(state_dir: Path) -> None:
    path = await remembered_at(50)
    before = path.read_bytes()
    forged = cosigned(50, FORKED)
    with pytest.raises(ForkDetected) as caught:
        await check_and_remember(FakeNode(FORKED), forged, TRUST, NOW)
    fork = caught.value
    assert "two different roots for tree size 50" in fork.description
    assert fork.first.note == cosigned(50) and fork.second.note == forged
    assert fork.exit_code == 4 and isinstance(fork, VerificationError)
    # Both signed checkpoints are printed, each line of each note.
    text = fork.diagnostics()
    for line in cosigned(50).splitlines() + forged.splitlines():
        assert line in text
    assert fork.as_json()["second"]["checkpoint"] == forged
    assert path.read_bytes() == before


async def test_a_larger_tree_that_does_not_extend_the_remembered_one_is_a_fork(
        state_dir: Path) -> None:
    path = await remembered_at(50)
    before = path.read_bytes()
    node = FakeNode(FORKED)  # an honest proof for the other history: it cannot fit ours
    with pytest.raises(ForkDetected, match="tree size 50 is not a prefix of tree size 90"):
        await check_and_remember(node, cosigned(90, FORKED), TRUST, NOW)
    assert node.proofs == [(50, 90)] and path.read_bytes() == before

    class Liar(FakeNode):
        async def consistency_proof(self, old_size: int, tree_size: int) -> list[Hash]:
            return [Hash(bytes(32))] * 7  # any proof, of any shape

    with pytest.raises(ForkDetected):
        await check_and_remember(Liar(FORKED), cosigned(90, FORKED), TRUST, NOW)
    assert path.read_bytes() == before
    assert issubclass(InvalidProof, VerificationError)


async def test_nothing_is_remembered_when_the_proof_cannot_be_fetched(state_dir: Path) -> None:
    path = await remembered_at(14)
    before = path.read_bytes()
    with pytest.raises(NodeUnavailable):
        await check_and_remember(FakeNode(fail=True), cosigned(78), TRUST, NOW)
    assert path.read_bytes() == before


async def test_a_checkpoint_that_does_not_verify_is_refused_before_anything_else(
        state_dir: Path) -> None:
    body, _, lines = cosigned(78).partition("\n\n")
    one_signature = body + "\n\n" + lines.splitlines()[0] + "\n"
    with pytest.raises(VerificationError, match="does not verify under the trust file"):
        await check_and_remember(FakeNode(), one_signature, TRUST, NOW)
    with pytest.raises(VerificationError, match="origin"):
        await check_and_remember(FakeNode(), cosigned(78, origin="elsewhere/net"), TRUST, NOW)
    # Cosigned "in the future" by one validator: only one counts, 2 are needed.
    future = cosigned(78, at=NOW + 3600)
    with pytest.raises(VerificationError, match="future"):
        await check_and_remember(FakeNode(), future, TRUST, NOW)
    assert not state_dir.exists() or not list(state_dir.glob("*.json"))


# -- the state file ------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    ("{", "not JSON"),
    ("[]", "format"),
    (json.dumps({"format": STATE_FORMAT, "origin": ORIGIN, "node": "x"}), "checkpoint"),
    (json.dumps({"format": "vcledger-state/v9", "origin": ORIGIN, "node": "x",
                 "checkpoint": "x"}), "vcledger-state/v9"),
    (json.dumps({"format": STATE_FORMAT, "origin": ORIGIN, "node": "x", "checkpoint": "x",
                 "extra": 1}), "extra"),
    (json.dumps({"format": STATE_FORMAT, "origin": ORIGIN, "node": "x",
                 "checkpoint": "not a note"}), "does not verify under the trust file"),
    (json.dumps({"format": STATE_FORMAT, "origin": ORIGIN, "node": "x",
                 "checkpoint": cosigned(5).replace("\n\n", "\n\n— x AAAA\n", 1)}),
     "does not verify"),
])
async def test_a_corrupt_state_file_is_a_clear_error_and_is_not_overwritten(
        state_dir: Path, content: str, expected: str) -> None:
    path = state_file(ORIGIN)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(StateFileError, match=expected) as caught:
        remembered_checkpoint(TRUST)
    message = caught.value.diagnostics()
    assert str(path) in message and "move it away" in message
    assert caught.value.exit_code == 2
    with pytest.raises(StateFileError):
        await check_and_remember(FakeNode(), cosigned(78), TRUST, NOW)
    assert path.read_text() == content


def test_a_state_file_for_another_network_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": STATE_FORMAT, "origin": "elsewhere/net",
                                "node": "x", "checkpoint": cosigned(5)}))
    with pytest.raises(StateFileError, match="records network 'elsewhere/net'"):
        load_remembered(path, TRUST)


def test_an_unreadable_state_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()
    with pytest.raises(StateFileError, match=f"cannot read the checkpoint state {path}"):
        load_remembered(path, TRUST)
    assert load_remembered(tmp_path / "absent.json", TRUST) is None


def test_a_monitor_state_file_from_before_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps({"format": "vcledger-monitor/v1", "origin": ORIGIN,
                                "node": "http://n", "checkpoint": cosigned(33)}))
    remembered = load_remembered(path, TRUST)
    assert remembered is not None and remembered.tree_size == 33
    assert remembered.node == "http://n" and remembered.time == NOW - 1


def _remembered(size: int, leaves: list[Hash] = LEAVES) -> Remembered:
    text = cosigned(size, leaves)
    return Remembered("http://n", text, verify_checkpoint(text, ORIGIN, TRUST.verifiers(), 2))


def test_the_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "deep" / "state.json"
    assert remember(path, _remembered(14), TRUST)
    before = path.read_bytes()

    def crash(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(client.files.os, "replace", crash)
    with pytest.raises(StateFileError, match="No space left on device"):
        remember(path, _remembered(78), TRUST)
    # The old file whole, and no temporary file left behind.
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [".state.json.lock", "state.json"]
    monkeypatch.undo()
    assert remember(path, _remembered(78), TRUST)
    loaded = load_remembered(path, TRUST)
    assert loaded is not None and loaded.tree_size == 78


def test_remember_never_replaces_a_newer_checkpoint(tmp_path: Path) -> None:
    """Another run (a monitor, say) recorded a newer checkpoint meanwhile: it stays."""
    path = tmp_path / "state.json"
    assert remember(path, _remembered(78), TRUST)
    before = path.read_bytes()
    assert not remember(path, _remembered(14), TRUST)
    assert not remember(path, _remembered(78), TRUST)
    assert path.read_bytes() == before
    with pytest.raises(ForkDetected, match="two different roots for tree size 78"):
        remember(path, _remembered(78, FORKED), TRUST)
    assert path.read_bytes() == before


# -- one read per run (vcledger status) ----------------------------------------------------


@pytest.fixture
def state_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every time a state file's bytes are parsed and its checkpoint verified."""
    reads: list[Path] = []
    parse = client.state._parse_state

    def counting(path: Path, data: bytes, trust: Trust) -> Remembered:
        reads.append(path)
        return parse(path, data, trust)

    monkeypatch.setattr(client.state, "_parse_state", counting)
    return reads


async def test_a_run_reads_the_state_file_once_however_many_checkpoints_it_checks(
        tmp_path: Path, state_reads: list[Path]) -> None:
    path = tmp_path / "state.json"
    assert remember(path, _remembered(14), TRUST)
    state_reads.clear()
    node = FakeNode()
    with CheckpointMemory(path, TRUST) as memory:
        await memory.check_and_remember(node, cosigned(78), NOW)
        await memory.check_and_remember(node, cosigned(90), NOW)
        # Checked against what this run remembered last, not the file as first read.
        assert node.proofs == [(14, 78), (78, 90)]
        with pytest.raises(CheckpointRollback, match="already verified 90"):
            await memory.check(node, cosigned(50), NOW)
        with pytest.raises(ForkDetected):
            await memory.check_and_remember(FakeNode(FORKED), cosigned(95, FORKED), NOW)
    assert state_reads == [path]
    assert load_remembered(path, TRUST).tree_size == 90  # type: ignore[union-attr]


async def test_no_state_file_yet_is_read_once_too(tmp_path: Path,
                                                  state_reads: list[Path]) -> None:
    path = tmp_path / "new" / "state.json"
    with CheckpointMemory(path, TRUST) as memory:
        await memory.check_and_remember(FakeNode(), cosigned(14), NOW)
        await memory.check_and_remember(FakeNode(), cosigned(78), NOW)
    assert state_reads == []  # nothing to read; what it wrote it already knew
    assert load_remembered(path, TRUST).tree_size == 78  # type: ignore[union-attr]


async def test_a_run_never_undoes_what_another_run_recorded_meanwhile(
        tmp_path: Path, state_reads: list[Path]) -> None:
    path = tmp_path / "state.json"
    assert remember(path, _remembered(14), TRUST)
    with CheckpointMemory(path, TRUST) as memory:
        checked = await memory.check(FakeNode(), cosigned(78), NOW)
        assert remember(path, _remembered(95), TRUST)  # a monitor, between check and write
        state_reads.clear()
        assert not memory.remember(checked)
        assert state_reads == [path]  # the file changed under it: read again, under the lock
        assert load_remembered(path, TRUST).tree_size == 95  # type: ignore[union-attr]
        # And what it read again is what it checks the next checkpoint against.
        with pytest.raises(CheckpointRollback, match="already verified 95"):
            await memory.check(FakeNode(), cosigned(90), NOW)

    # Another run's checkpoint of the same size with another root is a fork, as with remember().
    path.unlink()
    with CheckpointMemory(path, TRUST) as memory:
        checked = await memory.check(FakeNode(), cosigned(78), NOW)
        assert remember(path, _remembered(78, FORKED), TRUST)
        forked = path.read_bytes()
        with pytest.raises(ForkDetected, match="two different roots for tree size 78"):
            memory.remember(checked)
    assert path.read_bytes() == forked


def test_the_state_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = Path.home()
    assert default_state_dir({}) == home / ".local" / "state" / "vcledger"
    assert default_state_dir({"XDG_STATE_HOME": "/x/state"}) == Path("/x/state/vcledger")
    # A relative XDG_STATE_HOME is ignored (XDG base directory specification).
    assert default_state_dir({"XDG_STATE_HOME": "state"}) == home / ".local/state/vcledger"
    assert default_state_dir({"XDG_STATE_HOME": "/x/state",
                              STATE_DIR_ENV: str(tmp_path)}) == tmp_path
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    assert state_file(ORIGIN).parent == tmp_path


@pytest.mark.parametrize("origin", [
    "vcledger.example/net", "../../etc/passwd", "/", ".", "..", "a b\\c:d", "é" * 255,
    "x" * 255, "-", "a\x7fb",
])
def test_state_file_names_stay_in_the_directory(origin: str, tmp_path: Path) -> None:
    path = state_file(origin, tmp_path)
    assert path.parent == tmp_path and path.name.endswith(".json")
    assert len(path.name) <= 100 and not path.name.startswith(".")
    assert os.sep not in path.name and path.name.isascii()


def test_origins_that_slug_alike_get_different_files(tmp_path: Path) -> None:
    names = {state_file(origin, tmp_path).name for origin in ("a/b", "a:b", "a b", "a_b")}
    assert len(names) == 4
    assert state_file("vcledger.example/net", tmp_path).name.startswith("vcledger.example_net.")


# -- one view shared by the monitor and status -----------------------------------------------


async def test_the_monitor_and_status_share_the_remembered_checkpoint(state_dir: Path) -> None:
    node = FakeNode(size=90)
    report = await monitor_once([cast(NodeClient, node)], TRUST, now=NOW)
    assert report.advanced and report.state is not None and report.state.tree_size == 90
    assert remembered_checkpoint(TRUST) is not None
    # A mirror pinned to an older checkpoint is now refused by status/refresh's check...
    with pytest.raises(CheckpointRollback, match="serves tree size 50; already verified 90"):
        await check_and_remember(FakeNode(), cosigned(50), TRUST, NOW)
    # ...and what status verified, the monitor continues from.
    await check_and_remember(FakeNode(), cosigned(95), TRUST, NOW)
    newer = FakeNode(size=99)
    report = await monitor_once([cast(NodeClient, newer)], TRUST, now=NOW)
    assert report.exit_code == 0 and report.nodes[0].tree_size == 99
    assert report.advanced and newer.proofs == [(95, 99)]
    loaded = remembered_checkpoint(TRUST)
    assert loaded is not None and loaded.checkpoint.tree_size == 99


async def test_the_monitor_reports_a_fork_against_the_shared_state(state_dir: Path) -> None:
    await remembered_at(50)
    report = await monitor_once([cast(NodeClient, FakeNode(FORKED, size=90))], TRUST, now=NOW)
    assert report.exit_code == 4 and not report.advanced
    (split,) = report.split_views
    assert split.first.note == cosigned(50) and "(recorded)" in split.first.node
    assert split.second.note == cosigned(90, FORKED)
    loaded = remembered_checkpoint(TRUST)
    assert loaded is not None and loaded.checkpoint.tree_size == 50


async def test_monitor_state_file_override(tmp_path: Path, state_dir: Path) -> None:
    path = tmp_path / "monitor.json"
    report = await monitor_once([cast(NodeClient, FakeNode(size=20))], TRUST, now=NOW,
                                state_path=path)
    assert report.advanced and json.loads(path.read_text())["format"] == STATE_FORMAT
    assert not state_dir.exists()


def test_errors_are_ledger_errors() -> None:
    for cls in (StateFileError, CheckpointRollback, ForkDetected):
        assert issubclass(cls, LedgerError)


# -- the vectors (tests/vectors/state.json, docs/protocol.md §10.3) ----------------------------

_STATE_VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "state.json").read_text())


@pytest.mark.parametrize("case", _STATE_VECTORS["file_names"], ids=lambda c: c["file_name"])
def test_state_file_name_vectors(case: dict[str, str], tmp_path: Path) -> None:
    assert state_file(case["origin"], tmp_path) == tmp_path / case["file_name"]


def test_state_document_vector(tmp_path: Path) -> None:
    trust = parse_trust(json.dumps(_STATE_VECTORS["trust"]))
    text = json.dumps(_STATE_VECTORS["document"], indent=2) + "\n"
    path = tmp_path / "state.json"
    path.write_text(text)
    remembered = load_remembered(path, trust)
    assert remembered is not None
    assert remembered.node == _STATE_VECTORS["document"]["node"]
    assert format_state(remembered) == text
