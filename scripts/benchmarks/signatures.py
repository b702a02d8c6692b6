"""The machine's Ed25519 verify limit, which every signature-bound target is stated against.

libsodium (PyNaCl's ``crypto_sign_open``) verifies about twice as fast as
OpenSSL (``cryptography``'s ``Ed25519PublicKey.verify``) here, so it is the
real limit: a figure at 0.5x the libsodium rate spends as long on everything
else as on its signatures.  This module measures both libraries on 1 and on 2
processes, interleaved (libsodium, OpenSSL, libsodium, ...) so that load from
other processes on the shared machine falls on both alike, over 200-byte
messages signed by 8 keys.  Its rows are informational: they show the limit
measured in this run and how OpenSSL compares.

It is also the one home of the libsodium baseline the signature-bound
benchmarks (node_ingest, verify_bundles, network) time alongside themselves,
in the same run: :func:`verify_with_libsodium` (one process) and
:class:`LibsodiumPool` (``n`` processes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.signing import SigningKey

from benchmarks import LIMIT_1, LIMIT_2, Row, best_of

NAME = "signatures"

MESSAGE_SIZE = 200
FULL_SIGNATURES = 20_000
QUICK_SIGNATURES = 2_000

Triple = tuple[bytes, bytes, bytes]
"""(public key, signature, message), all raw bytes."""


def signed_triples(count: int, message_size: int = MESSAGE_SIZE) -> list[Triple]:
    """``count`` distinct valid (public key, signature, message) triples by 8 fixed keys."""
    keys = [SigningKey(hashlib.sha256(b"bench signature key %d" % i).digest()) for i in range(8)]
    triples = []
    for i in range(count):
        key = keys[i % len(keys)]
        message = (b"message %d " % i).ljust(message_size, b"x")
        triples.append((bytes(key.verify_key), key.sign(message).signature, message))
    return triples


def verify_with_libsodium(triples: Sequence[Triple]) -> int:
    """Verify every triple with libsodium; the count verified (any bad one raises)."""
    for public_key, signature, message in triples:
        crypto_sign_open(signature + message, public_key)
    return len(triples)


def verify_with_openssl(triples: Sequence[Triple]) -> int:
    """Verify every triple with ``cryptography`` (OpenSSL); the count verified."""
    for public_key, signature, message in triples:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    return len(triples)


class LibsodiumPool:
    """``processes`` worker processes verifying triples in chunks, started before any clock.

    Chunks of a quarter of each worker's share keep both workers busy to the
    end without a round trip per signature.
    """

    def __init__(self, processes: int,
                 verify: Callable[[Sequence[Triple]], int] = verify_with_libsodium) -> None:
        self.processes = processes
        self.verify = verify
        self._pool = ProcessPoolExecutor(processes)
        warm = signed_triples(processes * 4)
        self.verify_all(warm)  # start the workers and import nacl in them, untimed

    def verify_all(self, triples: Sequence[Triple]) -> None:
        step = max(1, len(triples) // (self.processes * 4))
        chunks = [triples[i:i + step] for i in range(0, len(triples), step)]
        assert sum(self._pool.map(self.verify, chunks)) == len(triples)

    def __enter__(self) -> LibsodiumPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._pool.shutdown()


def _processes(n: int) -> str:
    return f"{n} process" if n == 1 else f"{n} processes"


def run(quick: bool) -> list[Row]:
    count = QUICK_SIGNATURES if quick else FULL_SIGNATURES
    repeats = 2 if quick else 5
    triples = signed_triples(count)
    timings: dict[tuple[str, int], list[float]] = {}
    with LibsodiumPool(2) as sodium_pool, LibsodiumPool(2, verify_with_openssl) as ssl_pool:
        contenders: dict[tuple[str, int], Callable[[], object]] = {
            ("libsodium", 1): lambda: verify_with_libsodium(triples),
            ("OpenSSL", 1): lambda: verify_with_openssl(triples),
            ("libsodium", 2): lambda: sodium_pool.verify_all(triples),
            ("OpenSSL", 2): lambda: ssl_pool.verify_all(triples),
        }
        for _ in range(repeats):  # interleaved: a burst of load hits every contender
            for contender, function in contenders.items():
                timings.setdefault(contender, []).append(best_of(1, function))
    rows = []
    for processes in (1, 2):
        sodium, openssl = timings["libsodium", processes], timings["OpenSSL", processes]
        # The slowest run beside the best shows how noisy the shared machine was.
        rows.append(Row(
            benchmark=(f"Ed25519 verify, {MESSAGE_SIZE}-byte messages, libsodium, "
                       f"{_processes(processes)} (slowest of {repeats} runs: "
                       f"{count / max(sodium):,.0f}/s)"),
            ours=min(sodium), baseline_name=f"OpenSSL, {_processes(processes)}",
            baseline=min(openssl), count=count, unit="signatures",
            goal=LIMIT_1 if processes == 1 else LIMIT_2))
    return rows
