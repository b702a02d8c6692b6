"""Anchoring a batch end to end: credential files in, receipts out, against a real node.

``vcledger anchor DIR --key K --node URL --receipts OUT`` runs as a
subprocess (process start included) against a one-validator node started
for the benchmark: it digests every file (RFC 8785 + SHA-256, in a process
pool), builds the batch tree, signs and submits one ``batch.anchor``, waits
for its commit, and writes one receipt per credential plus index.jsonl.

Rows:
(a) end to end against digesting alone: reading and digesting the same files
    with ``client.credentials.digest`` in one process, the part that any
    anchoring tool must do.  Informational (a ratio near or above 1 means the
    rest - tree, event, commit, receipts - is hidden by the parallel digest).
(b) end to end against the issue's budget: 100,000 credentials "well under a
    minute", so 60 s (scaled down for --quick); passes if faster.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from benchmarks import Row
from client.credentials import digest
from client.events import IssuerRegister, sign_event
from client.keys import KeyPair, read_key_file, write_key_file

NAME = "anchor"
FULL_SIZE = 100_000
QUICK_SIZE = 2_000
BUDGET_SECONDS = 60.0
ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def _node(directory: Path) -> Iterator[str]:
    """A one-validator node (``vcledger-node init`` + ``run``) for the benchmark's duration."""
    port = _free_port()
    subprocess.run([sys.executable, "-m", "node.cli", "init", "--dir", str(directory),
                    "--listen", f"127.0.0.1:{port}"], check=True, capture_output=True,
                   timeout=60, cwd=ROOT)
    genesis = directory / "genesis.toml"
    genesis.write_text(re.sub(r"block_interval_ms = \d+", "block_interval_ms = 20",
                              genesis.read_text(), count=1))
    url = f"http://127.0.0.1:{port}"
    with (directory / "node.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "node.cli", "run", "--config",
                                    str(directory / "node.toml")], stdout=log,
                                   stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if json.load(response)["tree_size"] >= 1:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the node did not start:\n"
                                   + (directory / "node.log").read_text())
            time.sleep(0.05)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _register(url: str, governance: KeyPair, issuer: KeyPair) -> None:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
        origin = json.load(response)["origin"]
    event = sign_event(IssuerRegister(issuer.did, "Benchmark University", issuer.public_key),
                       origin=origin, key=governance, created=int(time.time()))
    request = urllib.request.Request(url + "/v1/events?wait=commit", data=event.encoded,
                                     headers={"Content-Type": "application/vnd.vcledger.event"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.load(response)["status"] == "committed"


def _write_credentials(folder: Path, issuer: str, count: int) -> None:
    folder.mkdir()
    for number in range(count):
        (folder / f"graduate-{number:06d}.json").write_text(json.dumps({
            "@context": ["https://www.w3.org/ns/credentials/v2",
                         "https://www.w3.org/ns/credentials/examples/v2"],
            "id": f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
            "type": ["VerifiableCredential", "ExampleDegreeCredential"],
            "issuer": issuer,
            "validFrom": "2026-06-15T09:00:00Z",
            "credentialSubject": {"id": f"did:example:graduate-{number}",
                                  "degree": {"type": "ExampleBachelorDegree",
                                             "name": "Bachelor of Science"}},
        }, indent=2))


def _digest_only(folder: Path) -> float:
    started = time.perf_counter()
    for path in sorted(folder.iterdir()):
        digest(path.read_bytes())
    return time.perf_counter() - started


def _anchor(folder: Path, key: Path, url: str, receipts: Path, batch_id: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "client.cli", "anchor", str(folder), "--key", str(key),
         "--node", url, "--receipts", str(receipts), "--batch-id", batch_id, "--json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"vcledger anchor failed: {result.stderr}")
    count = sum(1 for _ in receipts.glob("*.json"))
    assert count == json.loads(result.stdout)["batch_size"], "a receipt is missing"
    return elapsed


def run(quick: bool) -> list[Row]:
    size = QUICK_SIZE if quick else FULL_SIZE
    repeats = 2
    budget = max(5.0, BUDGET_SECONDS * size / FULL_SIZE)
    with tempfile.TemporaryDirectory(prefix="vcledger-anchor-") as temporary:
        work = Path(temporary)
        with _node(work / "node") as url:
            issuer = KeyPair.from_seed(hashlib.sha256(b"anchor benchmark issuer").digest())
            key = work / "issuer.key"
            write_key_file(key, issuer.seed)
            _register(url, read_key_file(work / "node" / "governance.key"), issuer)
            folder = work / "credentials"
            _write_credentials(folder, issuer.did, size)
            end_to_end = digest_only = float("inf")
            for attempt in range(repeats):
                receipts = work / f"receipts-{attempt}"
                end_to_end = min(end_to_end, _anchor(folder, key, url, receipts,
                                                     f"bench-{attempt}"))
                shutil.rmtree(receipts)
                digest_only = min(digest_only, _digest_only(folder))
    return [
        Row(f"anchor {size} credential files end to end (vcledger anchor)", end_to_end,
            "digesting alone, one process", digest_only),
        Row(f"anchor {size} credential files end to end, against the budget", end_to_end,
            f"budget {budget:g} s", budget, target=1.0),
    ]
