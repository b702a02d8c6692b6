"""Issuer batch tree plus every receipt: client.batch against merkletools and raw hashlib.

(a) client.batch.build_batch over n digests and all n receipts, against
    merkletools doing the same job: MerkleTools(hash_type="sha256"),
    add_leaf(hex digests, do_hash=False), make_tree(), get_proof(i) for every
    i.  merkletools' tree is not RFC 9162 (no 0x00/0x01 domain separation, no
    leaf hashing), so the comparison is of the work done, not of the outputs;
    we do n more SHA-256 calls than it does.  Target: at least 3x faster.
(b) The same build against the floor: hashlib computing the same number of
    SHA-256 hashes (n leaf + n - 1 node hashes) over ready-made inputs in a
    tight loop.  Informational: how close the pure-Python tree gets to the
    cost of its hashing alone.
"""

from __future__ import annotations

import hashlib
import importlib
import warnings
from collections.abc import Callable
from typing import Any

from benchmarks import Row, best_of, best_of_interleaved
from client.batch import build_batch

NAME = "batch_tree"

FULL_SIZE = 100_000
QUICK_SIZE = 2_000
TARGET_VS_MERKLETOOLS = 3.0


def _digests(count: int) -> list[bytes]:
    return [hashlib.sha256(b"benchmark credential %d" % i).digest() for i in range(count)]


def _load_merkletools() -> Any | None:
    """The merkletools module, or None when it is not installed.

    Its import warns that pysha3 is missing; its SHA-256 path never uses
    pysha3, so the warning is noise here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module("merkletools")
        except ImportError:
            return None


def run(quick: bool) -> list[Row]:
    size = QUICK_SIZE if quick else FULL_SIZE
    repeats = 3 if quick else 5
    digests = _digests(size)

    def ours() -> None:
        tree = build_batch(digests)
        for _receipt in tree.receipts():
            pass

    rows = [_against_merkletools(size, digests, ours, repeats)]

    # Inputs of the real sizes: 33-byte leaf inputs, 65-byte node inputs.
    leaf_inputs = [b"\x00" + d for d in digests]
    node_inputs = [b"\x01" + d + d for d in digests[: size - 1]]
    sha256 = hashlib.sha256

    def raw_hashlib() -> None:
        for data in leaf_inputs:
            sha256(data).digest()
        for data in node_inputs:
            sha256(data).digest()

    build_only, hashing_only = best_of_interleaved(
        repeats, lambda: build_batch(digests), raw_hashlib)
    rows.append(Row(
        benchmark=f"batch tree build, {size} digests ({2 * size - 1} SHA-256)",
        ours=build_only,
        baseline_name="raw hashlib, same hash count",
        baseline=hashing_only,
    ))
    return rows


def _against_merkletools(size: int, digests: list[bytes], ours: Callable[[], None],
                         repeats: int) -> Row:
    benchmark = f"batch tree + all receipts, {size} digests"
    module = _load_merkletools()
    if module is None:
        return Row(benchmark, best_of(repeats, ours), "merkletools", None,
                   TARGET_VS_MERKLETOOLS, note="not installed")
    hex_digests = [d.hex() for d in digests]

    def theirs() -> None:
        tools = module.MerkleTools(hash_type="sha256")
        tools.add_leaf(hex_digests, do_hash=False)
        tools.make_tree()
        for index in range(size):
            tools.get_proof(index)

    ours_seconds, theirs_seconds = best_of_interleaved(repeats, ours, theirs)
    return Row(benchmark, ours_seconds, "merkletools", theirs_seconds, TARGET_VS_MERKLETOOLS)
