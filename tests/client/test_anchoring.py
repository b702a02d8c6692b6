"""client.anchoring: the ``vcledger anchor`` pipeline, without a node.

The command end to end (signing, the node, exit codes) is in test_cli.py and
test_client_e2e.py; here are the pieces, including the process-pool path that a
test of the command would only reach with thousands of credentials.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from client import anchoring, credentials
from client.batch import build_batch
from client.bundle import parse_receipt
from client.files import InputFileError
from client.hashes import Hash
from client.keys import KeyPair

ISSUER = KeyPair.from_seed(b"\x01" * 32)


def _credential_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for n in range(count):
        path = folder / f"c{n:03}.json"
        path.write_text(json.dumps({"id": f"urn:test:{n}", "issuer": "did:example:i"}))
        paths.append(path)
    return paths


def test_sources_are_files_as_given_and_folders_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    _credential_files(folder, 3)
    (folder / "notes.txt").write_text("not a credential")
    single = tmp_path / "one.jsonl"
    single.write_text("{}\n")
    found = anchoring.collect_sources([str(single), str(folder)])
    assert found == [single, folder / "c000.json", folder / "c001.json", folder / "c002.json"]
    with pytest.raises(InputFileError, match="does not exist"):
        anchoring.collect_sources([str(tmp_path / "absent")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"holds no \.json or \.jsonl files"):
        anchoring.collect_sources([str(tmp_path / "empty")])


def test_digests_label_files_and_lines(tmp_path: Path) -> None:
    files = _credential_files(tmp_path / "batch", 2)
    lines = tmp_path / "more.jsonl"
    lines.write_text('{"id": "x", "issuer": "did:example:j"}\n\n{"id": "y"}\n')
    order, digests, named, keys = anchoring.digest_all([*files, lines], workers=1,
                                                       show_progress=False)
    assert [s.label for s in order] == [str(files[0]), str(files[1]), f"{lines}:1", f"{lines}:3"]
    assert digests[2] == credentials.digest(b'{"id": "x", "issuer": "did:example:j"}')
    assert [issuer for _, issuer in named] == ["did:example:i", "did:example:i",
                                               "did:example:j", None]
    assert keys == [(s.label, ()) for s in order]


def test_the_process_pool_digests_as_the_serial_path_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _credential_files(tmp_path / "batch", 7)
    serial = anchoring.digest_all(files, workers=1, show_progress=False)
    monkeypatch.setattr(anchoring, "PARALLEL_DIGEST_THRESHOLD", 2)
    monkeypatch.setattr(anchoring, "DIGEST_CHUNK", 3)
    assert anchoring.digest_all(files, workers=2, show_progress=False) == serial


def test_undigestable_credentials_are_all_named(tmp_path: Path) -> None:
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"id": \n[1]\n{"id": "ok"}\n')
    with pytest.raises(InputFileError, match=r"2 credential\(s\) cannot be digested") as caught:
        anchoring.digest_all([lines], workers=1, show_progress=False)
    assert f"{lines}:1:" in str(caught.value) and f"{lines}:2:" in str(caught.value)


def test_a_credential_twice_is_refused_naming_both_places() -> None:
    order = [anchoring.Source("a.json", None), anchoring.Source("b.jsonl", 4)]
    anchoring.check_duplicates(order, [b"1" * 32, b"2" * 32])
    with pytest.raises(InputFileError, match=r"b.jsonl:4 is the same credential as a.json"):
        anchoring.check_duplicates(order, [b"1" * 32, b"1" * 32])


def test_default_batch_id_is_the_utc_date_and_the_root() -> None:
    root = Hash(bytes(range(32)))
    when = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    assert anchoring.default_batch_id(root, when) == "20261231-000102030405"


def test_receipts_and_their_index(tmp_path: Path) -> None:
    files = _credential_files(tmp_path / "batch", 3)
    order, digests, _, _ = anchoring.digest_all(files, workers=1, show_progress=False)
    tree = build_batch(digests)
    outdir = tmp_path / "receipts"
    outdir.mkdir()
    anchoring.write_receipts(outdir, order, digests, tree, origin="test.example/net",
                             issuer=ISSUER.did, batch_id="b1",
                             anchor_hash=Hash(b"\x07" * 32), show_progress=False)
    index = [json.loads(line) for line in (outdir / "index.jsonl").read_text().splitlines()]
    assert [entry["source"] for entry in index] == [str(f) for f in files]
    for entry, digest in zip(index, digests, strict=True):
        assert entry["digest"] == digest.hex() and entry["line"] is None
        receipt = parse_receipt((outdir / entry["receipt"]).read_bytes())
        assert receipt.issuer == ISSUER.did and receipt.batch_id == "b1"
        assert receipt.credential_digest == digest and receipt.batch_root == tree.root
        assert receipt.index == entry["index"]
